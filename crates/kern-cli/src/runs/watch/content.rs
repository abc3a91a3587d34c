//! The `--content` view of `kern runs watch`: only what the run answers, as plain text. An
//! agent's or team's answer as it streams, or each workflow step's content as the step
//! completes. When an event voids a part of the answer already printed (`RunRestarted` after
//! a crash or a graceful stop, a step's retry), it says so on a line of its own and prints the
//! answer again as it now stands, so the text after the last such line is always the run's
//! answer, never a doubled one.

use kern::event::{Event, EventKind};
use kern::store::{ComponentKind, RunId};
use kern::transcript::Transcript;
use std::io::Write;

/// The `--content` view of one run.
pub struct ContentView {
    run_id: RunId,
    kind: ComponentKind,
    transcript: Transcript,
}

impl ContentView {
    /// A view of run `run_id` (of a component of `kind`).
    pub fn new(run_id: RunId, kind: ComponentKind) -> Self {
        Self {
            run_id,
            kind,
            transcript: Transcript::new(),
        }
    }

    /// Shows one event.
    pub fn show(&mut self, event: Event, out: &mut impl Write) -> std::io::Result<()> {
        let own = event.run_id == self.run_id;
        match &event.kind {
            EventKind::RunRestarted { attempt, .. } if own => {
                let what = format!("the run restarted (attempt {attempt})");
                return self.redo(event, &what, out);
            }
            EventKind::RunRequeued {
                previous_status, ..
            } if own => {
                // Its old terminal event is void; what follows goes on from its checkpoints.
                self.transcript.push(event.clone());
                writeln!(
                    out,
                    "\n[the run was requeued (its status was {previous_status}); it goes on from its checkpoints]"
                )?;
                return Ok(());
            }
            EventKind::StepRetried {
                step_name, attempt, ..
            } if own => {
                let what = format!("step {step_name} failed (try {attempt}) and is tried again");
                return self.redo(event, &what, out);
            }
            kind if own && !kind.voided().is_empty() => {
                // Another event that voids earlier ones: as for a restart, named.
                let what = kind.name();
                return self.redo(event, what, out);
            }
            EventKind::StepCompleted {
                step_name,
                content: Some(content),
                ..
            } if own && self.kind == ComponentKind::Workflow => {
                let text = match content {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(out, "## {step_name}\n{text}\n")?;
            }
            kind if own => {
                if let Some(delta) = kind.delta() {
                    write!(out, "{delta}")?;
                }
            }
            _ => {}
        }
        self.transcript.push(event);
        Ok(())
    }
}

impl ContentView {
    /// Applies an event that voids earlier ones (`what` happened): when the answer printed so
    /// far changes, says so and prints it again as it now stands.
    fn redo(&mut self, event: Event, what: &str, out: &mut impl Write) -> std::io::Result<()> {
        let answer_before = self.transcript.content(self.run_id);
        self.transcript.push(event);
        let answer = self.transcript.content(self.run_id);
        if answer != answer_before {
            writeln!(
                out,
                "\n[{what}: the part of the answer it redoes is void; the answer so far:]"
            )?;
            write!(out, "{answer}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(run_id: RunId, i: u64, kind: EventKind) -> Event {
        Event {
            kind,
            run_id,
            session_id: "s".into(),
            event_index: i,
            created_at: 0,
            workflow_id: None,
            workflow_name: None,
            agent_id: None,
            agent_name: None,
            team_id: None,
            team_name: None,
        }
    }

    fn delta(s: &str) -> EventKind {
        EventKind::RunContent {
            content: s.into(),
            content_type: "str".into(),
        }
    }

    #[test]
    fn a_restart_that_voids_printed_text_says_so_and_reprints_the_answer() {
        let id = kern::store::new_run_id();
        let mut view = ContentView::new(id, ComponentKind::Agent);
        let mut out = Vec::new();
        for (i, kind) in [
            delta("one "),
            delta("two "),
            EventKind::RunRestarted {
                attempt: 2,
                voided: vec![[1, 1]],
            },
            delta("TWO "),
            delta("three"),
        ]
        .into_iter()
        .enumerate()
        {
            view.show(ev(id, i as u64, kind), &mut out).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let (_, after) = text.rsplit_once("the answer so far:]\n").unwrap();
        assert_eq!(after, "one TWO three");
        assert!(text.starts_with("one two "));
    }

    #[test]
    fn a_step_retry_that_voids_printed_text_reprints_the_answer() {
        let id = kern::store::new_run_id();
        let mut view = ContentView::new(id, ComponentKind::Agent);
        let mut out = Vec::new();
        let retried = EventKind::StepRetried {
            step_name: "write".into(),
            step_index: serde_json::Value::from(0),
            attempt: 1,
            error: "timeout".into(),
            voided: vec![[1, 1]],
        };
        for (i, kind) in [delta("a"), delta("b"), retried, delta("c")]
            .into_iter()
            .enumerate()
        {
            view.show(ev(id, i as u64, kind), &mut out).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "ab\n[step write failed (try 1) and is tried again: the part of the answer it redoes is void; the answer so far:]\nac"
        );
    }

    #[test]
    fn a_restart_that_voids_nothing_printed_is_silent() {
        let id = kern::store::new_run_id();
        let mut view = ContentView::new(id, ComponentKind::Agent);
        let mut out = Vec::new();
        view.show(ev(id, 0, delta("a")), &mut out).unwrap();
        let restart = EventKind::RunRestarted {
            attempt: 2,
            voided: vec![],
        };
        view.show(ev(id, 1, restart), &mut out).unwrap();
        view.show(ev(id, 2, delta("b")), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ab");
    }
}
