//! What the terminal can show: whether to use colour, how wide it is, and text measured in
//! terminal columns (ANSI codes take none, wide characters two).
//!
//! Colour is used only when the output is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>): output redirected to a file or a pipe never carries ANSI codes.
//! The width is `COLUMNS` when set, else the terminal's, else 100 columns.

use std::io::IsTerminal;

/// An ANSI SGR attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sgr {
    /// Bold.
    Bold,
    /// Dim (faint).
    Dim,
    /// Italic.
    Italic,
    /// Underlined.
    Underline,
    /// Struck through.
    Strike,
    /// Red text.
    Red,
    /// Green text.
    Green,
    /// Yellow text.
    Yellow,
    /// Blue text.
    Blue,
    /// Cyan text.
    Cyan,
}

impl Sgr {
    fn code(self) -> &'static str {
        match self {
            Sgr::Bold => "1",
            Sgr::Dim => "2",
            Sgr::Italic => "3",
            Sgr::Underline => "4",
            Sgr::Strike => "9",
            Sgr::Red => "31",
            Sgr::Green => "32",
            Sgr::Yellow => "33",
            Sgr::Blue => "34",
            Sgr::Cyan => "36",
        }
    }
}

/// The default width when it cannot be known (output to a file or a pipe).
pub const DEFAULT_WIDTH: usize = 100;

/// How output is shown: with ANSI styles or not, and how many columns wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// Whether to write ANSI styles.
    pub color: bool,
    /// The number of columns.
    pub width: usize,
}

impl Term {
    /// The terminal on standard output (see the module docs).
    pub fn stdout() -> Self {
        let stdout = std::io::stdout();
        let tty = stdout.is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|c| *c > 0);
        let width = columns
            .or_else(|| tty.then(tty_columns).flatten())
            .unwrap_or(DEFAULT_WIDTH);
        Self {
            color: tty && !no_color,
            width: width.max(20),
        }
    }

    /// Plain text `width` columns wide (tests, and views that must not be styled).
    #[cfg(test)]
    pub fn plain(width: usize) -> Self {
        Self {
            color: false,
            width,
        }
    }

    /// `text` in `styles`, or as it is without colour.
    pub fn paint(&self, text: &str, styles: &[Sgr]) -> String {
        if !self.color || text.is_empty() || styles.is_empty() {
            return text.to_owned();
        }
        let codes: Vec<&str> = styles.iter().map(|s| s.code()).collect();
        format!("\x1b[{}m{text}{RESET}", codes.join(";"))
    }
}

/// Ends every style.
pub const RESET: &str = "\x1b[0m";

/// The columns of the terminal on standard output.
#[cfg(unix)]
fn tty_columns() -> Option<usize> {
    // TIOCGWINSZ on standard output (checked to be a terminal by the caller), through
    // rustix's safe wrapper: the workspace forbids unsafe code.
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn tty_columns() -> Option<usize> {
    None
}

/// The columns `c` takes: 0 for combining and zero-width characters, 2 for East Asian wide
/// characters and emoji, 1 otherwise. A small table of the common ranges (no Unicode tables
/// dependency): exact enough to align columns and draw boxes.
pub fn char_width(c: char) -> usize {
    let u = c as u32;
    let zero = matches!(u,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
        | 0x200B..=0x200F | 0x2060..=0x2064 | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0xFEFF)
        || c.is_control();
    if zero {
        return 0;
    }
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

/// Splits `s` into ANSI escape sequences (`Err`) and characters (`Ok`), in order.
fn tokens(s: &str) -> impl Iterator<Item = Result<char, &str>> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if let Some(after) = rest.strip_prefix("\x1b[") {
            let end = after
                .find(|c: char| c.is_ascii_alphabetic())
                .map_or(after.len(), |i| i + 1);
            let (code, tail) = rest.split_at(2 + end);
            rest = tail;
            return Some(Err(code));
        }
        let c = rest.chars().next()?;
        rest = &rest[c.len_utf8()..];
        Some(Ok(c))
    })
}

/// The columns `s` takes on a terminal (ANSI codes take none).
pub fn visible_width(s: &str) -> usize {
    tokens(s).filter_map(Result::ok).map(char_width).sum()
}

/// Cuts `line` into pieces at most `width` columns wide, keeping its ANSI styles open across
/// the cuts.
pub fn hard_split(line: &str, width: usize) -> Vec<String> {
    if visible_width(line) <= width {
        return vec![line.to_owned()];
    }
    let mut pieces = Vec::new();
    let (mut current, mut used, mut active) = (String::new(), 0, String::new());
    for token in tokens(line) {
        match token {
            Err(code) => {
                current.push_str(code);
                if code == RESET || code == "\x1b[m" {
                    active.clear();
                } else {
                    active.push_str(code);
                }
            }
            Ok(c) => {
                let w = char_width(c);
                if used + w > width && used > 0 {
                    if !active.is_empty() {
                        current.push_str(RESET);
                    }
                    pieces.push(std::mem::replace(&mut current, active.clone()));
                    used = 0;
                }
                current.push(c);
                used += w;
            }
        }
    }
    pieces.push(current);
    pieces
}

/// Plain `s` cut to at most `width` columns, ending with `…` when it was cut.
pub fn truncate(s: &str, width: usize) -> String {
    if visible_width(s) <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` followed by spaces up to `width` columns.
pub fn pad(s: &str, width: usize) -> String {
    let fill = width.saturating_sub(visible_width(s));
    format!("{s}{}", " ".repeat(fill))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_ignore_ansi_and_count_wide_characters_twice() {
        let t = Term {
            color: true,
            width: 80,
        };
        let red = t.paint("abc", &[Sgr::Red, Sgr::Bold]);
        assert_eq!(red, "\x1b[31;1mabc\x1b[0m");
        assert_eq!(visible_width(&red), 3);
        assert_eq!(visible_width("日本"), 4);
        assert_eq!(visible_width("e\u{301}"), 1);
        assert_eq!(Term::plain(80).paint("abc", &[Sgr::Red]), "abc");
    }

    #[test]
    fn hard_split_keeps_styles_open_across_cuts() {
        let t = Term {
            color: true,
            width: 80,
        };
        let line = t.paint("abcdef", &[Sgr::Red]);
        let pieces = hard_split(&line, 4);
        assert_eq!(pieces.len(), 2);
        assert_eq!(visible_width(&pieces[0]), 4);
        assert!(pieces[1].starts_with("\x1b[31m"), "{pieces:?}");
        assert_eq!(hard_split("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("short", 6), "short");
        assert_eq!(pad("ab", 4), "ab  ");
    }
}
