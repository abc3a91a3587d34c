//! Agents and teams on Kern's durable engine.
//!
//! An [`Agent`] answers one input per run with one or more model turns: a turn that asks for
//! tools runs them (concurrently) and feeds the results back, up to a configurable number of
//! rounds. A [`Team`] is agents (or teams) under a leader model, in one of three
//! [`TeamMode`]s. Both are engine [`Component`](kern_core::engine::Component)s: they run in
//! the four modes, are stored, cancelled, streamed and recovered exactly like workflows, and
//! plug into workflows as steps ([`Agent::step`], [`Team::step`]).
//!
//! What a run records, in order: `RunStarted`, then per model turn `ModelRequestStarted`, the
//! token deltas as `RunContent`, `ModelRequestCompleted` (tokens, time to first token), per
//! tool call `ToolCallStarted` / `ToolCallCompleted`, and at the end `RunContentCompleted` and
//! `RunCompleted` (content, metrics) — or `RunError` / `RunCancelled`. Teams emit the `Team…`
//! forms, and their members' events (with the members' run ids) appear in the team's stream.
//!
//! Crash recovery: the conversation is checkpointed after every model turn and tool round, and
//! each tool call's result as soon as it returns. A recovered run continues from there and does
//! not run completed tool calls (or member runs) again.
//!
//! ```no_run
//! use kern_agent::Agent;
//! use kern_core::engine::Engine;
//! use kern_tools::toolkits::HackerNewsTools;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::open("kern.db").await?;
//! let agent = Agent::builder("hn")
//!     .name("Hackernews Agent")
//!     .role("Extract key insights and content from Hackernews posts")
//!     .model(kern_models::model_from_spec("openai:gpt-4o-mini")?)
//!     .toolkit(&HackerNewsTools::new())
//!     .db(&engine)
//!     .build()?;
//! let run = agent.run_background("What is trending on Hacker News?").await?;
//! let done = engine.wait(run.run_id).await?;
//! println!("{:?}", done.content());
//! # Ok(()) }
//! ```

mod agent;
mod basics;
mod hitl;
mod output;
mod team;
mod toolbox;
mod turns;

pub use agent::{Agent, AgentBuilder, AgentDef};
pub use team::{IntoMember, Team, TeamBuilder, TeamDef, TeamMode};
