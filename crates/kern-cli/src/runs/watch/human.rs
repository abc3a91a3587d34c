//! The default view of `kern runs watch`: what a person follows in a terminal.
//!
//! - a line per step as it starts and ends, with its duration (`▸ fetch` … `✓ fetch (1.20s)`),
//!   composite steps (parallel, loops, conditions, routers) and failures included;
//! - a workflow step's intermediate outputs, and an agent's or team's answer as it streams;
//!   when the streamed text switches to another run (a team's member, a workflow's agent
//!   step), a dim `── name ──` line names it;
//! - member and step-agent runs starting and ending, and tool calls, indented;
//! - after the run ends, the outcome panel (`render::run::outcome`).
//!
//! Voids are honoured (design invariant 10): when an event voids earlier ones (`RunRestarted`
//! after a crash or a graceful stop, a step's retry) and some of the text already printed is
//! among them, a line says so and the text is printed again as it now stands, so the text
//! after the last such line is the run's output, never a doubled one. `RunRequeued` (an
//! operator sent the ended run back to the queue) says so; the outcome is read from the run
//! when the watch ends, so it is always the run's latest.

use crate::render::duration;
use crate::term::{Sgr, Term};
use kern::event::{Event, EventKind};
use kern::store::RunId;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{self, Write};

/// The human view of one run's events.
pub struct HumanView {
    root: RunId,
    term: Term,
    /// The content shown so far: (event index, run, text), to show again after a void.
    printed: Vec<(u64, RunId, String)>,
    /// The run whose content was written last (`None` after any other line).
    content_run: Option<RunId>,
    /// Whether a run other than the root has shown content (then every run is labelled).
    labelled: bool,
    at_line_start: bool,
    /// The names of the runs seen (the root's and its children's, from their events).
    names: HashMap<RunId, String>,
}

impl HumanView {
    /// A view of run `root`'s events.
    pub fn new(root: RunId, term: Term) -> Self {
        Self {
            root,
            term,
            printed: Vec::new(),
            content_run: None,
            labelled: false,
            at_line_start: true,
            names: HashMap::new(),
        }
    }

    /// The root run's component name, once an event named it.
    pub fn name(&self) -> Option<&str> {
        self.names.get(&self.root).map(String::as_str)
    }

    fn write(&mut self, out: &mut impl Write, text: &str) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        out.write_all(text.as_bytes())?;
        self.at_line_start = text.ends_with('\n');
        Ok(())
    }

    /// Writes `text` on a line of its own.
    fn line(&mut self, out: &mut impl Write, text: &str) -> io::Result<()> {
        if !self.at_line_start {
            self.write(out, "\n")?;
        }
        self.write(out, &format!("{text}\n"))?;
        self.content_run = None;
        Ok(())
    }

    /// Ends the streamed text, if a line is open.
    pub fn end_line(&mut self, out: &mut impl Write) -> io::Result<()> {
        if !self.at_line_start {
            self.write(out, "\n")?;
        }
        Ok(())
    }

    fn name_of(&self, run: RunId) -> String {
        match self.names.get(&run) {
            Some(name) => name.clone(),
            None => format!("run {}", &run.to_string()[..8]),
        }
    }

    /// Shows one event.
    pub fn show(&mut self, e: &Event, out: &mut impl Write) -> io::Result<()> {
        let own = e.run_id == self.root;
        let stamped = (e.workflow_name.as_ref())
            .or(e.team_name.as_ref())
            .or(e.agent_name.as_ref());
        if let Some(name) = stamped {
            self.names.entry(e.run_id).or_insert_with(|| name.clone());
        }
        let t = self.term;
        // Lines of child runs (members, step agents) are indented under their parent's.
        let indent = if own { "" } else { "  " };
        match &e.kind {
            EventKind::RunRestarted { attempt, voided } if own => {
                let what = format!("the run restarted (attempt {attempt}) on a new executor");
                self.voids(out, voided, &what, Some("it goes on from its checkpoints"))?;
            }
            EventKind::RunRequeued {
                previous_status, ..
            } if own => {
                let text = format!(
                    "↻ requeued by an operator (it had {previous_status}); it goes on from its checkpoints"
                );
                self.line(out, &t.paint(&text, &[Sgr::Yellow]))?;
            }
            EventKind::RunContent { content, .. } | EventKind::TeamRunContent { content, .. } => {
                self.printed
                    .push((e.event_index, e.run_id, content.clone()));
                self.content(out, e.run_id, content)?;
            }
            EventKind::StepStarted {
                step_name,
                step_index,
                ..
            } => {
                let text = format!("{}▸ {step_name}", depth(step_index, indent));
                self.line(out, &t.paint(&text, &[Sgr::Bold]))?;
            }
            EventKind::StepCompleted {
                step_name,
                step_index,
                step_response,
                ..
            } => {
                let pad = depth(step_index, indent);
                let took = step_response
                    .metrics
                    .as_ref()
                    .and_then(|m| m.get("duration"))
                    .and_then(Value::as_f64)
                    .map(|s| format!(" ({})", duration(s)))
                    .unwrap_or_default();
                let text = match (&step_response.error, step_response.success) {
                    (None, true) => t.paint(&format!("{pad}✓ {step_name}{took}"), &[Sgr::Green]),
                    (error, _) => {
                        let why = error.as_deref().unwrap_or("failed");
                        let text = format!("{pad}✗ {step_name}{took}: {why} (skipped)");
                        t.paint(&text, &[Sgr::Red])
                    }
                };
                self.line(out, &text)?;
            }
            EventKind::StepError {
                step_name,
                step_index,
                error,
                attempts,
            } => {
                let tries = if *attempts > 1 {
                    format!(" (after {attempts} tries)")
                } else {
                    String::new()
                };
                let text = format!("{}✗ {step_name}: {error}{tries}", depth(step_index, indent));
                self.line(out, &t.paint(&text, &[Sgr::Red]))?;
            }
            EventKind::StepOutput {
                step_index,
                content,
                ..
            } => {
                let pad = format!("{}  ", depth(step_index, indent));
                for l in text_of(content).lines() {
                    self.line(out, &format!("{pad}{}", t.paint(l, &[Sgr::Dim])))?;
                }
            }
            EventKind::StepsExecutionStarted {
                step_name,
                step_index,
                ..
            } => self.started(out, step_index, indent, step_name, "steps")?,
            EventKind::ParallelExecutionStarted {
                step_name,
                step_index,
                parallel_step_count,
            } => {
                let what = format!("parallel, {parallel_step_count} branches");
                self.started(out, step_index, indent, step_name, &what)?;
            }
            EventKind::ConditionExecutionStarted {
                step_name,
                step_index,
                condition_result,
            } => {
                let what = format!("condition: {condition_result}");
                self.started(out, step_index, indent, step_name, &what)?;
            }
            EventKind::LoopExecutionStarted {
                step_name,
                step_index,
                max_iterations,
            } => {
                let what = format!("loop, at most {max_iterations} iterations");
                self.started(out, step_index, indent, step_name, &what)?;
            }
            EventKind::LoopIterationStarted {
                step_name,
                step_index,
                iteration,
                max_iterations,
            } => {
                let pad = depth(step_index, indent);
                let text = format!("{pad}↻ {step_name}: iteration {iteration}/{max_iterations}");
                self.line(out, &t.paint(&text, &[Sgr::Dim]))?;
            }
            EventKind::RouterExecutionStarted {
                step_name,
                step_index,
                selected_steps,
            } => {
                let what = format!("router → {}", selected_steps.join(", "));
                self.started(out, step_index, indent, step_name, &what)?;
            }
            EventKind::StepsExecutionCompleted {
                step_name,
                step_index,
                ..
            }
            | EventKind::ParallelExecutionCompleted {
                step_name,
                step_index,
                ..
            }
            | EventKind::ConditionExecutionCompleted {
                step_name,
                step_index,
                ..
            }
            | EventKind::LoopExecutionCompleted {
                step_name,
                step_index,
                ..
            }
            | EventKind::RouterExecutionCompleted {
                step_name,
                step_index,
                ..
            } => {
                let text = format!("{}✓ {step_name}", depth(step_index, indent));
                self.line(out, &t.paint(&text, &[Sgr::Green]))?;
            }
            EventKind::RunStarted { .. } | EventKind::TeamRunStarted { .. } if !own => {
                let text = format!("{indent}▸ {}", self.name_of(e.run_id));
                self.line(out, &t.paint(&text, &[Sgr::Bold]))?;
            }
            EventKind::RunCompleted { metrics, .. }
            | EventKind::TeamRunCompleted { metrics, .. }
                if !own =>
            {
                let took = metrics
                    .get("duration")
                    .and_then(Value::as_f64)
                    .map(|s| format!(" ({})", duration(s)))
                    .unwrap_or_default();
                let text = format!("{indent}✓ {}{took}", self.name_of(e.run_id));
                self.line(out, &t.paint(&text, &[Sgr::Green]))?;
            }
            EventKind::RunError { content } | EventKind::TeamRunError { content } if !own => {
                let text = format!("{indent}✗ {}: {content}", self.name_of(e.run_id));
                self.line(out, &t.paint(&text, &[Sgr::Red]))?;
            }
            EventKind::RunCancelled { .. } | EventKind::TeamRunCancelled { .. } if !own => {
                let text = format!("{indent}⊘ {} cancelled", self.name_of(e.run_id));
                self.line(out, &t.paint(&text, &[Sgr::Yellow]))?;
            }
            EventKind::ToolCallCompleted { tool, .. }
            | EventKind::TeamToolCallCompleted { tool, .. } => {
                let took = tool
                    .metrics
                    .as_ref()
                    .and_then(|m| m.get("duration"))
                    .and_then(Value::as_f64)
                    .map(|s| format!(" ({})", duration(s)))
                    .unwrap_or_default();
                let failed = tool.tool_call_error == Some(true);
                let mark = if failed { "✗" } else { "·" };
                let text = format!("{indent}  {mark} tool {}{took}", tool.tool_name);
                let style = if failed { Sgr::Red } else { Sgr::Dim };
                self.line(out, &t.paint(&text, &[style]))?;
            }
            EventKind::RunContinued { .. } if own => {
                self.line(out, &t.paint("▸ continued by a person", &[Sgr::Bold]))?;
            }
            EventKind::StepRetried {
                step_name,
                step_index,
                attempt,
                error,
                voided,
            } => {
                let pad = depth(step_index, indent);
                let text = format!("{pad}↻ {step_name}: try {attempt} failed: {error}");
                self.line(out, &t.paint(&text, &[Sgr::Yellow]))?;
                self.voids(out, voided, "the failed try's output is void", None)?;
            }
            kind if own && !kind.voided().is_empty() => {
                // An event this view has no words for that voids earlier ones: its name.
                self.voids(out, kind.voided(), kind.name(), Some("the run goes on"))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Starts a composite step's line: `▸ name (what)`.
    fn started(
        &mut self,
        out: &mut impl Write,
        step_index: &Value,
        indent: &str,
        name: &str,
        what: &str,
    ) -> io::Result<()> {
        let t = self.term;
        let text = format!(
            "{}{} {}",
            depth(step_index, indent),
            t.paint(&format!("▸ {name}"), &[Sgr::Bold]),
            t.paint(&format!("({what})"), &[Sgr::Dim])
        );
        self.line(out, &text)
    }

    /// Writes streamed content of `run`, naming the run when the text switches to it.
    fn content(&mut self, out: &mut impl Write, run: RunId, text: &str) -> io::Result<()> {
        if self.content_run != Some(run) {
            if run != self.root {
                self.labelled = true;
            }
            if self.labelled {
                let label = format!("── {} ──", self.name_of(run));
                self.line(out, &self.term.paint(&label, &[Sgr::Dim]))?;
            } else if !self.at_line_start {
                self.write(out, "\n")?;
            }
            self.content_run = Some(run);
        }
        self.write(out, text)
    }

    /// Applies an event's voids to the printed text: when some of it is void, says `what`
    /// happened and prints the text again as it now stands; else says `what` and `then`, if
    /// given.
    fn voids(
        &mut self,
        out: &mut impl Write,
        voided: &[[u64; 2]],
        what: &str,
        then: Option<&str>,
    ) -> io::Result<()> {
        let is_void = |i: u64| voided.iter().any(|[a, b]| (*a..=*b).contains(&i));
        let before = self.printed.len();
        self.printed.retain(|(i, _, _)| !is_void(*i));
        let t = self.term;
        if self.printed.len() == before {
            return match then {
                Some(then) => {
                    self.line(out, &t.paint(&format!("↻ {what}; {then}"), &[Sgr::Yellow]))
                }
                None => Ok(()),
            };
        }
        let text = format!("↻ {what}; its output so far, as it now stands:");
        self.line(out, &t.paint(&text, &[Sgr::Yellow]))?;
        self.labelled = false;
        for (_, run, text) in self.printed.clone() {
            self.content(out, run, &text)?;
        }
        Ok(())
    }
}

/// The indent of a step at `step_index` (a number at the top level, a list when nested).
fn depth(step_index: &Value, base: &str) -> String {
    let level = step_index
        .as_array()
        .map_or(0, |a| a.len().saturating_sub(1));
    format!("{base}{}", "  ".repeat(level))
}

/// A step output's text: strings as they are, other JSON compact.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
            agent_name: Some(if i == 99 { "Member" } else { "Main" }.into()),
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

    fn show(view: &mut HumanView, events: Vec<Event>) -> String {
        let mut out = Vec::new();
        for e in &events {
            view.show(e, &mut out).unwrap();
        }
        view.end_line(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_restart_that_voids_printed_text_prints_it_again_as_it_stands() {
        let id = kern::store::new_run_id();
        let mut view = HumanView::new(id, Term::plain(80));
        let restart = EventKind::RunRestarted {
            attempt: 2,
            voided: vec![[1, 1]],
        };
        let text = show(
            &mut view,
            vec![
                ev(id, 0, delta("one ")),
                ev(id, 1, delta("two ")),
                ev(id, 2, restart),
                ev(id, 3, delta("TWO")),
            ],
        );
        assert_eq!(
            text,
            "one two \n↻ the run restarted (attempt 2) on a new executor; its output so far, as it now stands:\none TWO\n"
        );
        assert_eq!(view.name(), Some("Main"));
    }

    #[test]
    fn a_step_retry_voids_its_failed_try_and_says_so() {
        let id = kern::store::new_run_id();
        let mut view = HumanView::new(id, Term::plain(80));
        let retried = EventKind::StepRetried {
            step_name: "write".into(),
            step_index: Value::from(0),
            attempt: 1,
            error: "timeout".into(),
            voided: vec![[1, 1]],
        };
        let text = show(
            &mut view,
            vec![
                ev(id, 0, delta("Draft ")),
                ev(id, 1, delta("one")),
                ev(id, 2, retried),
                ev(id, 3, delta("two")),
            ],
        );
        assert_eq!(
            text,
            "Draft one\n↻ write: try 1 failed: timeout\n↻ the failed try's output is void; its output so far, as it now stands:\nDraft two\n"
        );
    }

    #[test]
    fn member_content_is_labelled() {
        let id = kern::store::new_run_id();
        let member = kern::store::new_run_id();
        let mut view = HumanView::new(id, Term::plain(80));
        let text = show(
            &mut view,
            vec![
                ev(member, 99, delta("hi from member")),
                ev(id, 1, delta("summary")),
            ],
        );
        assert_eq!(text, "── Member ──\nhi from member\n── Main ──\nsummary\n");
    }
}
