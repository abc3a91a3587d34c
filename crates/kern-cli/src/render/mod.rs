//! How runs look to a person: panels, statuses, durations, ages, times and content. Shared by
//! `kern runs list`, `get` and `watch`; the look follows the Python package's
//! `pprint_run_response` (`python/kern/utils/pprint.py`).

pub mod markdown;
pub mod run;

use crate::term::{hard_split, visible_width, Sgr, Term};
use kern::store::{ComponentKind, RunRecord, RunStatus};
use serde_json::Value;

/// Panels are at most this wide, as in the Python package.
pub const MAX_PANEL_WIDTH: usize = 100;

/// A box `width` columns wide around `lines` (cut to fit), with `title` in its top edge.
pub fn panel(title: &str, lines: &[String], term: &Term, border: &[Sgr]) -> Vec<String> {
    let width = term.width.clamp(24, MAX_PANEL_WIDTH);
    let inner = width - 4;
    let paint = |s: &str| term.paint(s, border);
    let top = if title.is_empty() {
        paint(&format!("╭{}╮", "─".repeat(width - 2)))
    } else {
        let mut title = title.to_owned();
        if visible_width(&title) > width - 6 {
            title = format!("{}…", hard_split(&title, width - 7)[0]);
        }
        let fill = width - 5 - visible_width(&title);
        format!(
            "{} {title} {}",
            paint("╭─"),
            paint(&format!("{}╮", "─".repeat(fill)))
        )
    };
    let side = paint("│");
    let mut out = vec![top];
    let empty = [String::new()];
    let lines = if lines.is_empty() { &empty[..] } else { lines };
    for line in lines {
        for piece in hard_split(line, inner) {
            let fill = inner - visible_width(&piece).min(inner);
            out.push(format!("{side} {piece}{} {side}", " ".repeat(fill)));
        }
    }
    out.push(paint(&format!("╰{}╯", "─".repeat(width - 2))));
    out
}

/// The inner width of a panel on `term`.
pub fn panel_inner(term: &Term) -> usize {
    term.width.clamp(24, MAX_PANEL_WIDTH) - 4
}

/// Seconds as a person reads them: `0.42s`, `1m 05s`, `2h 03m`.
pub fn duration(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.2}s");
    }
    let total = secs.round() as u64;
    let (minutes, s) = (total / 60, total % 60);
    if minutes < 60 {
        return format!("{minutes}m {s:02}s");
    }
    format!("{}h {:02}m", minutes / 60, minutes % 60)
}

/// Milliseconds as [`duration`] shows them.
pub fn duration_ms(ms: i64) -> String {
    duration(ms.max(0) as f64 / 1000.0)
}

/// How long ago, coarsely: `12s ago`, `3m ago`, `5h ago`, `2d ago`.
pub fn age(ms_ago: i64) -> String {
    let s = ms_ago.max(0) / 1000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// Milliseconds since the epoch as `2025-06-10 12:00:00 UTC`.
pub fn utc(ms: i64) -> String {
    let t = kern::store::time::UtcTime::from_unix_millis(ms);
    format!("{} {} UTC", t.date(), t.time())
}

/// The symbol and colour of a status.
fn status_style(status: RunStatus) -> (&'static str, Sgr) {
    match status {
        RunStatus::Completed => ("✓", Sgr::Green),
        RunStatus::Failed => ("✗", Sgr::Red),
        RunStatus::Cancelled => ("⊘", Sgr::Yellow),
        RunStatus::Paused => ("⏸", Sgr::Yellow),
        RunStatus::Running | RunStatus::Pending => ("…", Sgr::Cyan),
    }
}

/// `✓ completed`, coloured.
pub fn status_label(status: RunStatus, term: &Term) -> String {
    let (symbol, colour) = status_style(status);
    term.paint(&format!("{symbol} {status}"), &[colour, Sgr::Bold])
}

/// A status word alone, coloured (list columns).
pub fn status_word(status: RunStatus, term: &Term) -> String {
    let (_, colour) = status_style(status);
    term.paint(status.as_str(), &[colour])
}

/// `Agent`, `Team` or `Workflow`.
pub fn kind_title(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Agent => "Agent",
        ComponentKind::Team => "Team",
        ComponentKind::Workflow => "Workflow",
    }
}

/// How long the run took (finished) or has been going (running), from its record, in ms.
pub fn run_duration_ms(run: &RunRecord, now_ms: i64) -> Option<i64> {
    let started = run.started_at?;
    match (run.finished_at, run.status) {
        (Some(finished), _) => Some(finished - started),
        (None, RunStatus::Running) => Some(now_ms - started),
        _ => None,
    }
}

/// The text of a run's input (`input.input`: strings as they are, other JSON compact).
pub fn input_text(run: &RunRecord) -> String {
    match run.input.get("input") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Wraps plain text to `width`, keeping line breaks, blank lines and indentation.
pub fn wrap_plain(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in text.replace('\t', "    ").lines() {
        if line.trim().is_empty() {
            out.push(String::new());
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        let indent = if indent.len() < width / 2 { indent } else { "" };
        let mut current = String::new();
        for word in line.split_whitespace() {
            let extra = if current.is_empty() { 0 } else { 1 };
            if !current.is_empty() && visible_width(&current) + extra + visible_width(word) > width
            {
                out.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                current.push_str(indent);
            } else {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.extend(hard_split(&current, width));
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// The lines showing a run's content: text rendered as markdown, other JSON pretty-printed.
pub fn content_lines(content: &Value, width: usize, term: &Term) -> Vec<String> {
    let term = Term { width, ..*term };
    match content {
        Value::Null => Vec::new(),
        Value::String(s) => markdown::render(s, &term),
        other => serde_json::to_string_pretty(other)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

/// `  key      value` lines of a summary panel.
pub fn key_value(key: &str, value: &str, term: &Term) -> String {
    format!("{} {value}", term.paint(&format!("{key:<9}"), &[Sgr::Dim]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_ages_and_times_read_well() {
        assert_eq!(duration(0.4213), "0.42s");
        assert_eq!(duration(65.2), "1m 05s");
        assert_eq!(duration(7380.0), "2h 03m");
        assert_eq!(age(12_500), "12s ago");
        assert_eq!(age(180_000), "3m ago");
        assert_eq!(age(3 * 86_400_000), "3d ago");
        assert_eq!(utc(1_749_556_800_000), "2025-06-10 12:00:00 UTC");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn a_panel_boxes_its_lines_to_the_width() {
        let term = Term::plain(24);
        let out = panel("T", &["abc".into()], &term, &[]);
        assert_eq!(
            out,
            [
                "╭─ T ──────────────────╮",
                "│ abc                  │",
                "╰──────────────────────╯"
            ]
        );
        let long = panel("", &["x".repeat(25)], &term, &[]);
        assert_eq!(long.len(), 4, "{long:?}");
    }

    #[test]
    fn plain_text_wraps_at_words() {
        assert_eq!(wrap_plain("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap_plain("a\n\nb", 5), ["a", "", "b"]);
    }
}
