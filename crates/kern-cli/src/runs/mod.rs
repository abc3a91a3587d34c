//! `kern runs`: list, inspect, follow, cancel and requeue runs, from any process that reaches
//! the database. These commands never execute runs.

mod get;
mod list;
mod watch;

use crate::term::Term;
use anyhow::{bail, Result};
use kern::engine::{CancelOutcome, Engine};
use kern::event::Event;
use kern::store::{RunId, RunRecord};
use std::io::Write;

/// `kern runs` subcommands.
#[derive(clap::Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first, a page at a time (top-level runs unless --children).
    List(list::ListArgs),
    /// Show one run: status, component, times, duration, attempts, input, steps, and its
    /// answer rendered (or its error); --json prints what the HTTP API answers for it.
    Get {
        /// The run's id.
        run_id: RunId,
        /// Print the run as `GET /{agents|teams|workflows}/{id}/runs/{run_id}` answers it
        /// (one line of JSON, its events included).
        #[arg(long)]
        json: bool,
    },
    /// Follow a run to its end: its steps, streamed content and outcome as they come (or
    /// its events as JSON lines); the exit status says how it ended.
    #[command(after_help = crate::exit::STATUS_HELP)]
    Watch(watch::WatchArgs),
    /// Cancel a run (pending: cancelled at once; running: its owner stops it).
    Cancel {
        /// The run's id.
        run_id: RunId,
    },
    /// Requeue a failed or cancelled run: it goes back to the queue and resumes from its
    /// checkpoints (completed steps do not run again) on any executor of its component.
    Requeue {
        /// The run's id.
        run_id: RunId,
    },
}

/// Runs a `kern runs` command; returns the exit status.
pub async fn run(engine: &Engine, command: RunsCommand, out: &mut impl Write) -> Result<u8> {
    let term = Term::stdout();
    match command {
        RunsCommand::List(args) => list::list(engine, &args, &term, out).await,
        RunsCommand::Get { run_id, json } => get::get(engine, run_id, json, &term, out).await,
        RunsCommand::Watch(args) => watch::watch(engine, &args, &term, out).await,
        RunsCommand::Cancel { run_id } => {
            match engine.cancel_run(run_id).await? {
                CancelOutcome::Cancelled => {
                    writeln!(out, "cancelled {run_id} (it had not started)")?
                }
                CancelOutcome::Requested => writeln!(
                    out,
                    "cancel requested for {run_id}; its executor is stopping it"
                )?,
                CancelOutcome::AlreadyFinished(s) => {
                    writeln!(out, "{run_id} had already finished: {s}")?
                }
            }
            Ok(crate::exit::OK)
        }
        RunsCommand::Requeue { run_id } => {
            let Some(before) = engine.get_run(run_id).await? else {
                bail!("run {run_id} not found");
            };
            let queued = engine.requeue(run_id).await?;
            writeln!(
                out,
                "requeued {run_id} ({}:{}, was {}); it is {} and resumes from its checkpoints",
                queued.kind, queued.component_id, before.status, queued.status
            )?;
            Ok(crate::exit::OK)
        }
    }
}

/// The display name of a run's component, as its first event names it (a client registers
/// no components, so the events are where the name is).
async fn component_name(engine: &Engine, run: &RunRecord) -> Result<Option<String>> {
    let first = engine.store().read_events(run.run_id, 0, 1).await?;
    Ok(first.first().and_then(|e| {
        let event = Event::from_json(&e.payload).ok()?;
        (event.workflow_name)
            .or(event.team_name)
            .or(event.agent_name)
    }))
}
