//! A small markdown renderer for the terminal: the look of `kern.utils.pprint.render_markdown`
//! (the Python package's), so that a run's answer reads the same from Python and from `kern`.
//!
//! Supported: ATX (`#`) and setext headings, paragraphs (reflowed to the width), bullet and
//! numbered lists (nested by indent, task boxes), `**bold**`, `*italic*` / `_italic_`,
//! `~~strike~~`, inline `code`, links and images, fenced code blocks (kept verbatim,
//! indented), block quotes, horizontal rules; tables are kept as written. With colour the
//! styles are ANSI codes; without, the markers are removed and headings are underlined with
//! `─`. Lines are at most `width` columns, except code and table lines.

mod inline;

use crate::term::{visible_width, Sgr, Term};
use inline::{inline, wrap, Seg, BOLD, UNDERLINE};

/// Renders markdown `text` for a terminal `term.width` columns wide, as lines.
pub fn render(text: &str, term: &Term) -> Vec<String> {
    let source = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', "    ");
    let lines: Vec<&str> = source.split('\n').collect();
    blocks(&lines, term.width.max(8), term)
}

fn fence(line: &str) -> Option<(usize, char, usize)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = rest.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((indent, c, n))
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let level = t.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    // A closing run of `#` is not part of the text.
    let text = rest.trim();
    let text = text.trim_end_matches('#');
    let text = if text.ends_with(char::is_whitespace) || text.is_empty() {
        text.trim_end()
    } else {
        rest.trim()
    };
    Some((level, text))
}

fn is_rule(line: &str) -> bool {
    let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let first = t.chars().next();
    matches!(first, Some('-' | '*' | '_'))
        && t.chars().count() >= 3
        && t.chars().all(|c| Some(c) == first)
        && line.len() - line.trim_start().len() <= 3
}

fn quote(line: &str) -> Option<&str> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let rest = t.strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// A list item: (indent, marker, text).
fn item(line: &str) -> Option<(usize, String, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let t = &line[indent..];
    let marker_len = if t.starts_with(['-', '*', '+', '•']) {
        t.chars().next().map(char::len_utf8)?
    } else {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if !(1..=9).contains(&digits) || !t[digits..].starts_with(['.', ')']) {
            return None;
        }
        digits + 1
    };
    let rest = &t[marker_len..];
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some((indent, t[..marker_len].to_owned(), rest.trim()))
}

fn is_table_start(lines: &[&str], i: usize) -> bool {
    let Some(next) = lines.get(i + 1) else {
        return false;
    };
    lines[i].contains('|')
        && next.contains('|')
        && next.contains('-')
        && next.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

fn starts_block(lines: &[&str], i: usize) -> bool {
    let l = lines[i];
    fence(l).is_some()
        || heading(l).is_some()
        || is_rule(l)
        || quote(l).is_some()
        || item(l).is_some()
        || is_table_start(lines, i)
}

fn setext(line: &str) -> Option<usize> {
    let t = line.trim();
    if line.len() - line.trim_start().len() > 3 || t.is_empty() {
        return None;
    }
    if t.chars().all(|c| c == '=') {
        Some(1)
    } else if t.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

/// The inline segments of a paragraph's lines; trailing double spaces or `\` break the line.
fn paragraph_segments(lines: &[&str]) -> Vec<Seg> {
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let hard = line.ends_with("  ") || line.trim_end_matches(' ').ends_with('\\');
        let mut text = line.trim();
        if hard && text.ends_with('\\') {
            text = &text[..text.len() - 1];
        }
        out.extend(inline(text, 0));
        if n + 1 < lines.len() {
            out.push(if hard {
                (None, 0)
            } else {
                (Some(" ".into()), 0)
            });
        }
    }
    out
}

fn blocks(lines: &[&str], width: usize, term: &Term) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let gap = |out: &mut Vec<String>| {
        if out.last().is_some_and(|l| !l.is_empty()) {
            out.push(String::new());
        }
    };
    let heading_lines = |out: &mut Vec<String>, level: usize, segments: Vec<Seg>| {
        gap(out);
        let extra = BOLD
            | if level == 1 && term.color {
                UNDERLINE
            } else {
                0
            };
        let styled: Vec<Seg> = segments.into_iter().map(|(t, s)| (t, s | extra)).collect();
        let wrapped = wrap(&styled, width, term, "", "");
        let widest = wrapped.iter().map(|l| visible_width(l)).max().unwrap_or(0);
        out.extend(wrapped);
        if !term.color {
            out.push("─".repeat(widest.min(width)));
        }
        gap(out);
    };
    let (mut i, n) = (0, lines.len());
    while i < n {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        if let Some((indent, c, len)) = fence(line) {
            let mut code = Vec::new();
            i += 1;
            while i < n {
                let closing = fence(lines[i]).is_some_and(|(_, cc, ll)| {
                    cc == c && ll >= len && lines[i].trim().chars().all(|x| x == c)
                });
                if closing {
                    break;
                }
                let text = lines[i];
                let strip = indent.min(text.len() - text.trim_start_matches(' ').len());
                code.push(text[strip..].trim_end().to_owned());
                i += 1;
            }
            i += 1; // the closing fence
            gap(&mut out);
            out.extend(code.iter().map(|c| {
                if c.is_empty() {
                    String::new()
                } else {
                    term.paint(&format!("    {c}"), &[Sgr::Dim])
                }
            }));
            gap(&mut out);
            continue;
        }
        if let Some((level, text)) = heading(line) {
            heading_lines(&mut out, level, inline(text, 0));
            i += 1;
            continue;
        }
        if is_rule(line) {
            gap(&mut out);
            out.push(term.paint(&"─".repeat(width), &[Sgr::Dim]));
            gap(&mut out);
            i += 1;
            continue;
        }
        if quote(line).is_some() {
            let mut quoted = Vec::new();
            while i < n && !lines[i].trim().is_empty() {
                quoted.push(quote(lines[i]).unwrap_or(lines[i]));
                i += 1;
            }
            gap(&mut out);
            let bar = format!("{} ", term.paint("│", &[Sgr::Dim]));
            for l in blocks(&quoted, width.saturating_sub(2).max(1), term) {
                out.push(format!("{bar}{l}").trim_end().to_owned());
            }
            gap(&mut out);
            continue;
        }
        if is_table_start(lines, i) {
            gap(&mut out);
            while i < n && !lines[i].trim().is_empty() && lines[i].contains('|') {
                out.push(lines[i].trim_end().to_owned());
                i += 1;
            }
            gap(&mut out);
            continue;
        }
        if item(line).is_some() {
            let mut items: Vec<(usize, String, Vec<&str>)> = Vec::new();
            while i < n {
                let current = lines[i];
                if let Some((indent, marker, text)) = item(current).filter(|_| !is_rule(current)) {
                    items.push((indent, marker, vec![text]));
                    i += 1;
                    continue;
                }
                if current.trim().is_empty() {
                    // A blank line ends the list unless an item or an indented line follows.
                    let mut j = i;
                    while j < n && lines[j].trim().is_empty() {
                        j += 1;
                    }
                    let goes_on = j < n
                        && (item(lines[j]).is_some() || lines[j].starts_with("  "))
                        && fence(lines[j]).is_none();
                    if goes_on {
                        i = j;
                        continue;
                    }
                    break;
                }
                if starts_block(lines, i) {
                    break;
                }
                if let Some(last) = items.last_mut() {
                    last.2.push(current); // a continuation line
                }
                i += 1;
            }
            gap(&mut out);
            out.extend(list(&items, width, term));
            gap(&mut out);
            continue;
        }
        let mut paragraph = vec![line];
        i += 1;
        while i < n && !lines[i].trim().is_empty() && !starts_block(lines, i) {
            if setext(lines[i]) == Some(1) {
                break;
            }
            paragraph.push(lines[i]);
            i += 1;
        }
        // A setext heading: the paragraph underlined with === or --- (no blank line between).
        if let Some(level) = lines.get(i).and_then(|l| setext(l)) {
            heading_lines(&mut out, level, paragraph_segments(&paragraph));
            i += 1;
            continue;
        }
        gap(&mut out);
        out.extend(wrap(&paragraph_segments(&paragraph), width, term, "", ""));
        gap(&mut out);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// Renders list items, nested by indent: bullets `•`, `◦`, `▪` by level, numbers kept.
fn list(items: &[(usize, String, Vec<&str>)], width: usize, term: &Term) -> Vec<String> {
    const BULLETS: [&str; 3] = ["•", "◦", "▪"];
    let mut out = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for (indent, marker, text) in items {
        while stack.last().is_some_and(|top| top > indent) {
            stack.pop();
        }
        if stack.last().is_none_or(|top| indent > top) {
            stack.push(*indent);
        }
        let level = stack.len() - 1;
        let mut content = text.iter().map(|t| t.trim()).collect::<Vec<_>>().join(" ");
        let mut symbol = if marker.starts_with(|c: char| c.is_ascii_digit()) {
            marker.clone()
        } else {
            BULLETS[level % BULLETS.len()].to_owned()
        };
        for (box_, mark) in [("[ ] ", "☐"), ("[x] ", "☑"), ("[X] ", "☑")] {
            if let Some(rest) = content.strip_prefix(box_) {
                symbol = mark.to_owned();
                content = rest.to_owned();
                break;
            }
        }
        let pad = "  ".repeat(level);
        let first = format!("{pad}{} ", term.paint(&symbol, &[Sgr::Cyan]));
        let rest = format!("{pad}{}", " ".repeat(visible_width(&symbol) + 1));
        out.extend(wrap(&inline(&content, 0), width, term, &first, &rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str, width: usize) -> String {
        render(text, &Term::plain(width)).join("\n")
    }

    #[test]
    fn headings_lists_code_and_emphasis_without_colour() {
        let md = "# Report\n\nSome **bold** and *italic* and `code` text, with a [link](https://x.y).\n\n- one\n- two\n  - nested\n1. first\n2. second\n\n```rust\nfn main() {}\n```\n\n> quoted\n\n---\n";
        let expected = "\
Report
──────

Some bold and italic and code text, with a
link (https://x.y).

• one
• two
  ◦ nested
1. first
2. second

    fn main() {}

│ quoted

";
        assert_eq!(plain(md, 46), format!("{expected}{}", "─".repeat(46)));
    }

    #[test]
    fn paragraphs_reflow_and_long_words_are_cut() {
        assert_eq!(plain("a b\nc", 80), "a b c");
        assert_eq!(plain("abcdefghijklmnopqrst", 8), "abcdefgh\nijklmnop\nqrst");
        assert_eq!(plain("line one  \nline two", 80), "line one\nline two");
        assert_eq!(plain("Title\n=====\ntext", 80), "Title\n─────\n\ntext");
        assert_eq!(plain("- [x] done\n- [ ] todo", 80), "☑ done\n☐ todo");
        assert_eq!(
            plain("snake_case_name and 2*3*4", 80),
            "snake_case_name and 234"
        );
    }

    #[test]
    fn colour_styles_bold_and_code() {
        let term = Term {
            color: true,
            width: 80,
        };
        let out = render("**b** `c`", &term).join("\n");
        assert_eq!(out, "\x1b[1mb\x1b[0m \x1b[36mc\x1b[0m");
    }
}
