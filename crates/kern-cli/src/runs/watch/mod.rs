//! `kern runs watch`: a run's events, caught up and then followed live until the run ends
//! (or pauses), in one of three views:
//!
//! - the default, for a person (`human.rs`): steps with durations, streamed content, member
//!   runs, then the outcome panel;
//! - `--json`: every event as stored, one JSON line each (`RunRestarted`, `RunRequeued` and
//!   other voiding events included: a program reading the lines applies their `voided`
//!   ranges itself);
//! - `--content`: only the answer as it streams (`content.rs`).
//!
//! The exit status says how the run ended (`crate::exit`): 0 completed, 3 failed, 4
//! cancelled, 5 paused. A run still pending after `--waiting-notice` with nobody to run it is
//! said to be waiting (on stderr), and the watch goes on waiting.

mod content;
mod human;

use crate::exit;
use crate::render::run::outcome;
use crate::term::{Sgr, Term};
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use kern::engine::Engine;
use kern::event::Event;
use kern::store::{now_millis, RunId, RunRecord, RunStatus};
use std::io::Write;
use std::time::Duration;

/// `kern runs watch` arguments.
#[derive(clap::Args)]
pub struct WatchArgs {
    /// The run's id.
    run_id: RunId,
    /// Resume after this event index (show only later events).
    #[arg(long)]
    after: Option<u64>,
    /// Print every event as stored, one JSON line each, instead of the human view.
    #[arg(long, conflicts_with = "content")]
    json: bool,
    /// Print only the run's content as it streams (an agent's or team's answer, each workflow
    /// step's content). A restart that voids printed text says so and prints the answer again
    /// as it stands.
    #[arg(long)]
    content: bool,
    /// Say that a pending run is waiting to be picked up once it has waited this long (and
    /// that a running run's executor is gone once its lease is this much overdue).
    #[arg(long, value_parser = crate::parse_age, default_value = "5s", hide = true)]
    waiting_notice: Duration,
}

/// One of the three views.
enum View {
    Json,
    Content(content::ContentView),
    Human(human::HumanView),
}

/// Follows run `args.run_id` to its end; returns the exit status its outcome calls for.
pub async fn watch(
    engine: &Engine,
    args: &WatchArgs,
    term: &Term,
    out: &mut impl Write,
) -> Result<u8> {
    let run_id = args.run_id;
    let Some(run) = engine.get_run(run_id).await? else {
        bail!("run {run_id} not found");
    };
    let mut view = if args.json {
        View::Json
    } else if args.content {
        View::Content(content::ContentView::new(run_id, run.kind))
    } else {
        let header = format!("{}:{} · run {run_id}", run.kind, run.component_id);
        writeln!(out, "{}", term.paint(&header, &[Sgr::Dim]))?;
        View::Human(human::HumanView::new(run_id, *term))
    };
    let mut last = args.after;
    let mut waiting = Waiting::default();
    loop {
        let mut events = engine.subscribe(run_id, last).await?;
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + args.waiting_notice,
            args.waiting_notice,
        );
        let mut got_any = false;
        loop {
            tokio::select! {
                next = events.next() => {
                    let Some(stored) = next else { break };
                    let stored = stored?;
                    last = Some(stored.event_index);
                    got_any = true;
                    match &mut view {
                        View::Json => writeln!(out, "{}", stored.payload)?,
                        View::Content(v) => v.show(parse(run_id, &stored.payload, stored.event_index)?, out)?,
                        // An event this build cannot read (a newer server's) is left out
                        // of the person's view rather than ending it.
                        View::Human(v) => if let Ok(e) = Event::from_json(&stored.payload) {
                            v.show(&e, out)?;
                        },
                    }
                    out.flush()?;
                }
                _ = ticks.tick() => waiting.check(engine, run_id, args.waiting_notice).await?,
            }
        }
        let run = engine
            .get_run(run_id)
            .await?
            .with_context(|| format!("run {run_id} was deleted while watched"))?;
        if run.status.is_terminal() || run.status == RunStatus::Paused {
            return finish(view, &run, term, out);
        }
        // The stream ended and the run went on (continued or requeued in between): follow it
        // again from the last event seen, after a pause if the last stream brought nothing.
        if !got_any {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse(run_id: RunId, payload: &str, index: u64) -> Result<Event> {
    Event::from_json(payload).with_context(|| format!("event {index} of run {run_id}"))
}

/// Ends the view for the run's outcome and returns the exit status.
fn finish(view: View, run: &RunRecord, term: &Term, out: &mut impl Write) -> Result<u8> {
    match view {
        View::Human(mut v) => {
            v.end_line(out)?;
            writeln!(out)?;
            for line in outcome(run, v.name(), now_millis(), term) {
                writeln!(out, "{line}")?;
            }
        }
        View::Content(_) => {
            writeln!(out)?;
            say_outcome(run);
        }
        View::Json => say_outcome(run),
    }
    out.flush()?;
    Ok(match run.status {
        RunStatus::Completed => exit::OK,
        RunStatus::Failed => exit::RUN_FAILED,
        RunStatus::Cancelled => exit::RUN_CANCELLED,
        RunStatus::Paused => exit::RUN_PAUSED,
        // Not reached: the watch ends only at a terminal status or a pause.
        RunStatus::Pending | RunStatus::Running => exit::ERROR,
    })
}

/// For the views whose standard output carries only the run's events or content: a line on
/// stderr when the run did not complete.
fn say_outcome(run: &RunRecord) {
    let id = run.run_id;
    let line = match run.status {
        RunStatus::Completed => return,
        RunStatus::Failed => format!(
            "run {id} failed: {}",
            run.error.as_deref().unwrap_or("(no error message)")
        ),
        RunStatus::Cancelled => format!(
            "run {id} was cancelled{}",
            run.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        ),
        RunStatus::Paused => format!(
            "run {id} is paused: it waits for a person (`kern runs get {id}` says for what); continue it, then watch it again"
        ),
        RunStatus::Pending | RunStatus::Running => format!("run {id} is {}", run.status),
    };
    // Stderr may be closed too; the exit status still says it.
    let _ = writeln!(std::io::stderr(), "kern: {line}");
}

/// Says, once per spell, that the run waits for an executor.
#[derive(Default)]
struct Waiting {
    said: bool,
}

impl Waiting {
    async fn check(&mut self, engine: &Engine, run_id: RunId, after: Duration) -> Result<()> {
        let Some(run) = engine.get_run(run_id).await? else {
            return Ok(());
        };
        let overdue = run
            .lease_expires_at
            .map(|t| now_millis() - t)
            .filter(|late| *late > after.as_millis() as i64);
        let line = match (run.status, overdue) {
            (RunStatus::Pending, _) => format!(
                "run {run_id} is pending: no executor has picked it up yet. It runs once `kern serve` \
                 (or a program with an executor) that has {}:{} is up on this database; waiting…",
                run.kind, run.component_id
            ),
            (RunStatus::Running, Some(late)) => format!(
                "the executor running {run_id} ({}) stopped renewing its lease {} ago; waiting \
                 for another executor to take the run over…",
                run.lease_owner.as_deref().unwrap_or("unknown"),
                crate::render::duration_ms(late)
            ),
            _ => {
                self.said = false;
                return Ok(());
            }
        };
        if !self.said {
            self.said = true;
            let _ = writeln!(std::io::stderr(), "kern: {line}");
        }
        Ok(())
    }
}
