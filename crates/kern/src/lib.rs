//! # Kern
//!
//! A durable Rust runtime for AI agents, teams and multi-step workflows whose runs outlive the
//! request that started them.
//!
//! - Define [`Workflow`](workflow::Workflow)s of steps: async or blocking Rust functions,
//!   named groups, parallel branches, conditions, loops and routers.
//! - Run them in the foreground (blocking or streaming) or in the **background**: starting a
//!   run is one durable insert; the run survives its caller, crashes and restarts.
//! - Every event is stored with a gapless `event_index`, so a client that drops resumes from
//!   the last index it saw, on any process sharing the database.
//! - SQLite by default (nothing to install); PostgreSQL for several replicas.
//!
//! ```
//! use kern::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?; let path = dir.path().join("kern.db");
//! let engine = Engine::open(path.to_str().unwrap()).await?;
//! let workflow = Workflow::builder("hello")
//!     .step(Step::new("greet", |input| async move {
//!         Ok(StepOutput::text(format!("Hello, {}!", input.input_str())))
//!     }))
//!     .db(&engine)
//!     .build()?;
//! let run = workflow.run_background("Kern").await?;   // returns at once: pending
//! assert_eq!(run.status, RunStatus::Pending);
//! let done = engine.wait(run.run_id).await?;
//! assert_eq!(done.content().unwrap(), "Hello, Kern!");
//! # Ok(()) }
//! ```

pub use kern_core::{engine, event, transcript, workflow, EngineError, EngineResult};
pub use kern_store as store;

/// Agents and teams (see [`kern_agent`]).
pub mod agent {
    pub use kern_agent::*;
}
pub use kern_models as models;
pub use kern_tools as tools;

/// The names most programs need.
pub mod prelude {
    pub use kern_agent::{Agent, IntoMember, Team, TeamMode};
    pub use kern_core::engine::{
        CancelOutcome, Engine, EngineConfig, RunHandle, RunRequest, RunStream,
    };
    pub use kern_core::event::{Event, EventKind};
    pub use kern_core::transcript::Transcript;
    pub use kern_core::workflow::{
        Condition, Loop, Parallel, Router, Step, StepError, StepInput, StepOutput, Steps, Workflow,
        WorkflowStep,
    };
    pub use kern_core::{EngineError, EngineResult};
    pub use kern_models::IntoModel;
    pub use kern_store::{Location, RunId, RunRecord, RunStatus};
}
