//! Panels of one run, from its record: the summary (`kern runs get`), its input, its steps'
//! results, and its outcome (the last panel of `get` and of `watch`): the answer rendered as
//! markdown, the error of a failed run, the reason of a cancelled one, or what a paused run
//! waits for and how to continue it.

use super::{
    content_lines, duration, duration_ms, key_value, kind_title, panel, panel_inner,
    run_duration_ms, status_label, utc, wrap_plain,
};
use crate::term::{Sgr, Term};
use kern::store::{ComponentKind, RunRecord, RunStatus};
use serde_json::Value;

/// `Workflow · Echo` (the component's name, or its id when the name is not known).
pub fn title(run: &RunRecord, name: Option<&str>, term: &Term) -> String {
    format!(
        "{} · {}",
        term.paint(kind_title(run.kind), &[Sgr::Bold]),
        name.unwrap_or(&run.component_id)
    )
}

/// The summary panel: status, ids, times, duration, attempts.
pub fn summary(run: &RunRecord, name: Option<&str>, now: i64, term: &Term) -> Vec<String> {
    let mut lines = vec![
        key_value("Status", &status_label(run.status, term), term),
        key_value("Run", &run.run_id.to_string(), term),
        key_value(
            "Component",
            &format!("{}:{}", run.kind, run.component_id),
            term,
        ),
        key_value("Session", &run.session_id, term),
    ];
    if let Some(user) = &run.user_id {
        lines.push(key_value("User", user, term));
    }
    if let Some(parent) = run.parent_run_id {
        lines.push(key_value("Parent", &parent.to_string(), term));
    }
    let when = |ms: i64| format!("{} ({})", utc(ms), super::age(now - ms));
    lines.push(key_value("Created", &when(run.created_at), term));
    if let Some(t) = run.started_at {
        lines.push(key_value("Started", &when(t), term));
    }
    if let Some(t) = run.finished_at {
        lines.push(key_value("Finished", &when(t), term));
    }
    if let Some(ms) = run_duration_ms(run, now) {
        let going = if run.finished_at.is_none() {
            " so far"
        } else {
            ""
        };
        lines.push(key_value(
            "Duration",
            &format!("{}{going}", duration_ms(ms)),
            term,
        ));
    }
    lines.push(key_value("Attempts", &attempts(run), term));
    lines.push(key_value("Events", &run.event_count.to_string(), term));
    let mode = if run.background {
        "background"
    } else {
        "foreground"
    };
    lines.push(key_value("Mode", mode, term));
    if run.cancel_requested && !run.status.is_terminal() {
        lines.push(key_value("Cancel", "requested", term));
    }
    panel(&title(run, name, term), &lines, term, &[Sgr::Cyan])
}

/// `1`, or `3 (1 recovery after a crash, 1 hand-back)`.
fn attempts(run: &RunRecord) -> String {
    let resumed = run.attempt.saturating_sub(1);
    let recoveries = resumed.saturating_sub(run.releases);
    let hand_backs = resumed - recoveries;
    let mut why = Vec::new();
    if recoveries > 0 {
        let s = if recoveries == 1 { "y" } else { "ies" };
        why.push(format!("{recoveries} recover{s} after a crash"));
    }
    if hand_backs > 0 {
        let s = if hand_backs == 1 { "" } else { "s" };
        why.push(format!("{hand_backs} hand-back{s} or pause{s}"));
    }
    if why.is_empty() {
        run.attempt.to_string()
    } else {
        format!("{} ({})", run.attempt, why.join(", "))
    }
}

/// The input panel (nothing for a run without input).
pub fn input(run: &RunRecord, term: &Term) -> Vec<String> {
    let lines = match run.input.get("input") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::String(s)) => wrap_plain(s, panel_inner(term)),
        Some(other) => content_lines(other, panel_inner(term), term),
    };
    panel(
        &term.paint("Input", &[Sgr::Bold]),
        &lines,
        term,
        &[Sgr::Dim],
    )
}

/// One panel per top-level step result of a workflow run, as `pprint_run_response` shows them.
pub fn steps(run: &RunRecord, term: &Term) -> Vec<String> {
    let results = run
        .output
        .as_ref()
        .and_then(|o| o.get("step_results"))
        .and_then(Value::as_array);
    let Some(results) = results.filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let inner = panel_inner(term);
    let mut out = Vec::new();
    for (n, step) in results.iter().enumerate() {
        let ok = step_ok(step);
        let mark = term.paint(
            if ok { "✓" } else { "✗" },
            &[if ok { Sgr::Green } else { Sgr::Red }, Sgr::Bold],
        );
        let name = step
            .get("step_name")
            .and_then(Value::as_str)
            .unwrap_or("step");
        let mut title = format!(
            "{mark} Step {}/{} · {}",
            n + 1,
            results.len(),
            term.paint(name, &[Sgr::Bold])
        );
        if let Some(kind) = step.get("step_type").and_then(Value::as_str) {
            title.push_str(&format!(
                " {}",
                term.paint(&format!("({kind})"), &[Sgr::Dim])
            ));
        }
        if let Some(secs) = seconds(step) {
            title.push_str(&format!(" · {}", duration(secs)));
        }
        let mut body = Vec::new();
        for child in step
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ok = step_ok(child);
            let mark = if ok { "✓" } else { "✗" };
            let mut line = format!(
                "{} {}",
                term.paint(mark, &[if ok { Sgr::Green } else { Sgr::Red }]),
                child
                    .get("step_name")
                    .and_then(Value::as_str)
                    .unwrap_or("step")
            );
            if let Some(secs) = seconds(child) {
                line.push_str(&term.paint(&format!(" · {}", duration(secs)), &[Sgr::Dim]));
            }
            body.push(line);
        }
        if !body.is_empty() {
            body.push(String::new());
        }
        body.extend(content_lines(
            step.get("content").unwrap_or(&Value::Null),
            inner,
            term,
        ));
        if let Some(e) = step.get("error").and_then(Value::as_str) {
            if !body.is_empty() {
                body.push(String::new());
            }
            let text = format!("Error: {e}");
            body.extend(
                wrap_plain(&text, inner)
                    .iter()
                    .map(|l| term.paint(l, &[Sgr::Red])),
            );
        }
        if body.is_empty() {
            body.push(term.paint("(no output)", &[Sgr::Dim]));
        }
        let border = if ok { Sgr::Green } else { Sgr::Red };
        out.extend(panel(&title, &body, term, &[border]));
    }
    out
}

fn step_ok(step: &Value) -> bool {
    step.get("success").and_then(Value::as_bool) != Some(false)
        && step.get("error").is_none_or(Value::is_null)
}

/// `metrics.duration` of a step result or an event, in seconds.
pub fn seconds(v: &Value) -> Option<f64> {
    v.get("metrics")?.get("duration")?.as_f64()
}

/// The outcome panel: `Workflow · Echo · ✓ completed · 0.02s` around the answer, or the
/// error, the cancel's reason, or what a paused run waits for.
pub fn outcome(run: &RunRecord, name: Option<&str>, now: i64, term: &Term) -> Vec<String> {
    let inner = panel_inner(term);
    let mut title = format!(
        "{} · {}",
        title(run, name, term),
        status_label(run.status, term)
    );
    if let Some(ms) = run_duration_ms(run, now).filter(|_| run.finished_at.is_some()) {
        title.push_str(&format!(" · {}", duration_ms(ms)));
    }
    let red = |text: &str| -> Vec<String> {
        wrap_plain(text, inner)
            .iter()
            .map(|l| term.paint(l, &[Sgr::Red]))
            .collect()
    };
    let (body, border) = match run.status {
        RunStatus::Completed => {
            let content = run.content().unwrap_or(&Value::Null);
            let mut body = content_lines(content, inner, term);
            if body.iter().all(|l| l.is_empty()) {
                body = vec![term.paint("(no content)", &[Sgr::Dim])];
            }
            (body, Sgr::Blue)
        }
        RunStatus::Failed => (
            red(run.error.as_deref().unwrap_or("(no error message)")),
            Sgr::Red,
        ),
        RunStatus::Cancelled => {
            let reason = run.error.as_deref().unwrap_or("cancelled");
            (wrap_plain(reason, inner), Sgr::Yellow)
        }
        RunStatus::Paused => (paused(run, inner), Sgr::Yellow),
        RunStatus::Pending | RunStatus::Running => {
            let text = match run.status {
                RunStatus::Pending => "waiting in the queue",
                _ => "running",
            };
            (vec![term.paint(text, &[Sgr::Dim])], Sgr::Cyan)
        }
    };
    panel(&title, &body, term, &[border])
}

/// What a paused run waits for, and how to continue it.
fn paused(run: &RunRecord, width: usize) -> Vec<String> {
    let output = run.output.as_ref();
    let list = |key: &str| {
        output
            .and_then(|o| o.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut lines = vec!["It waits for a person:".to_owned()];
    for step in list("step_requirements") {
        let name = step
            .get("step_name")
            .and_then(Value::as_str)
            .unwrap_or("a step");
        let (what, message) =
            if step.get("requires_user_input").and_then(Value::as_bool) == Some(true) {
                ("input for", step.get("user_input_message"))
            } else {
                ("a confirmation of", step.get("confirmation_message"))
            };
        let mut line = format!("• {what} step {name:?}");
        if let Some(m) = message.and_then(Value::as_str) {
            line.push_str(&format!(": {m}"));
        }
        lines.extend(wrap_plain(&line, width));
    }
    for tool in list("tools") {
        let name = tool
            .get("tool_name")
            .and_then(Value::as_str)
            .unwrap_or("a tool");
        let args = tool
            .get("tool_args")
            .map(Value::to_string)
            .unwrap_or_default();
        let flag = |k: &str| tool.get(k).and_then(Value::as_bool) == Some(true);
        let what = if flag("requires_user_input") {
            "input for"
        } else if flag("external_execution_required") {
            "the result of"
        } else {
            "a confirmation of"
        };
        lines.extend(wrap_plain(
            &format!("• {what} the call {name}({args})"),
            width,
        ));
    }
    if lines.len() == 1 {
        lines[0] = "It waits for a person.".into();
    }
    let kinds = match run.kind {
        ComponentKind::Agent => "agents",
        ComponentKind::Team => "teams",
        ComponentKind::Workflow => "workflows",
    };
    let how = format!(
        "Continue it with POST /{kinds}/{}/runs/{}/continue (Agno's continue_run), then watch it again.",
        run.component_id, run.run_id
    );
    lines.push(String::new());
    lines.extend(wrap_plain(&how, width));
    lines
}
