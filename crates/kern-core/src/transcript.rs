//! [`Transcript`]: a run's events as a client shows them, restarts applied.
//!
//! A run's log is append-only: when a run resumes after a crash or a graceful stop, the work
//! that was in flight runs again and its first events stay in the log, followed by a
//! `RunRestarted` event that lists them as void (design invariant 10). A client that joins
//! streamed deltas must drop the voided ones, or it shows the interrupted part twice. A
//! `Transcript` does that: push every event of a stream (live or caught up, from index 0) in
//! order, and read the kept events or a run's joined content at any time.
//!
//! ```
//! use kern_core::event::{Event, EventKind};
//! use kern_core::transcript::Transcript;
//! # let run_id = kern_store::new_run_id();
//! # let ev = |i: u64, kind: EventKind| Event { kind, run_id, session_id: "s".into(), event_index: i,
//! #     created_at: 0, workflow_id: None, workflow_name: None, agent_id: None, agent_name: None,
//! #     team_id: None, team_name: None };
//! # let delta = |s: &str| EventKind::RunContent { content: s.into(), content_type: "str".into() };
//! let mut t = Transcript::new();
//! t.push(ev(0, delta("Hel")));
//! t.push(ev(1, delta("lo, wor")));
//! // The process stopped mid-answer; the resumed run asks the model again.
//! let voided = t.push(ev(2, EventKind::RunRestarted { attempt: 2, voided: vec![[0, 1]] }));
//! assert_eq!(voided, 2);
//! t.push(ev(3, delta("Hello, ")));
//! t.push(ev(4, delta("world")));
//! assert_eq!(t.content(run_id), "Hello, world");
//! ```

use crate::event::{Event, EventKind};
use kern_store::RunId;

/// The events of one run's log that still count, in index order.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    events: Vec<Event>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next event of the log (events come in index order, as every stream yields
    /// them). A `RunRestarted` or `RunRequeued` event removes the events it voids; returns
    /// how many it removed (0 for every other event), so that a live view knows when to
    /// redraw.
    pub fn push(&mut self, event: Event) -> usize {
        let removed = match event.kind.voided() {
            [] => 0,
            voided => {
                let before = self.events.len();
                self.events.retain(|e| {
                    !voided
                        .iter()
                        .any(|[a, b]| (*a..=*b).contains(&e.event_index))
                });
                before - self.events.len()
            }
        };
        self.events.push(event);
        removed
    }

    /// The events that count, in index order (restart events included).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The streamed content of run `run_id` joined: its `RunContent` (or `TeamRunContent`)
    /// deltas in order. `run_id` is the run whose log this is, or a child run whose events the
    /// log carries (a team's member, a workflow's agent step). For a run that completed, this
    /// equals its final content.
    pub fn content(&self, run_id: RunId) -> String {
        self.events
            .iter()
            .filter(|e| e.run_id == run_id)
            .filter_map(|e| e.kind.delta())
            .collect()
    }
}

impl EventKind {
    /// The events this one voids: the ranges of a `RunRestarted` (the interrupted work it
    /// redoes), a `StepRetried` (the failed try of a step) or a `RunRequeued` (the old terminal
    /// event), empty for every other event.
    pub fn voided(&self) -> &[[u64; 2]] {
        match self {
            Self::RunRestarted { voided, .. }
            | Self::StepRetried { voided, .. }
            | Self::RunRequeued { voided, .. } => voided,
            _ => &[],
        }
    }

    /// The text of a streamed content delta (`RunContent`, `TeamRunContent`).
    pub fn delta(&self) -> Option<&str> {
        match self {
            Self::RunContent { content, .. } | Self::TeamRunContent { content, .. } => {
                Some(content)
            }
            _ => None,
        }
    }
}
