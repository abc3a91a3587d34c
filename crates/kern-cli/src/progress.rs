//! A progress line for long commands: `label [#######-------] 42% detail`, redrawn in place
//! on stderr, and only when stderr is a terminal (a log file or a pipe gets nothing: the
//! command's own result line says what was done). Cleared when done.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(80);
/// The bar's width in characters.
const BAR: usize = 24;

/// A progress line on stderr (a no-op when stderr is not a terminal).
pub struct Progress {
    label: String,
    shown: bool,
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    /// A progress line titled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            shown: false,
            enabled: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// Shows `fraction` (0 to 1) done, with `detail` after the percentage.
    pub fn set(&mut self, fraction: f64, detail: &str) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < REDRAW) && fraction < 1.0 {
            return;
        }
        self.last = Some(now);
        let line = line(&self.label, fraction, detail);
        // `\r` and "erase line": the line is redrawn where it stands.
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    /// Removes the line.
    pub fn finish(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error ends the command early: its message must not share the line.
        self.finish();
    }
}

/// The text of a progress line.
fn line(label: &str, fraction: f64, detail: &str) -> String {
    let fraction = fraction.clamp(0.0, 1.0);
    let filled = (fraction * BAR as f64).round() as usize;
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(BAR - filled));
    let percent = (fraction * 100.0).floor() as u32;
    format!("{label} [{bar}] {percent:>3}% {detail}")
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_a_bar_and_a_percentage() {
        assert_eq!(
            line("purging", 0.5, "12 deleted"),
            "purging [############------------]  50% 12 deleted"
        );
        assert_eq!(line("x", 2.0, ""), format!("x [{}] 100%", "#".repeat(24)));
    }
}
