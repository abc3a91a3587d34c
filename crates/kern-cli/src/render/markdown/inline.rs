//! Inline markdown: `**bold**`, `*italic*` / `_italic_`, `~~strike~~`, `` `code` ``, links,
//! images and autolinks parsed into styled segments, and those segments word-wrapped into
//! terminal lines (ANSI styles with colour, the markers removed without).

use crate::term::{char_width, visible_width, Sgr, Term};

pub(super) const BOLD: u8 = 1;
pub(super) const ITALIC: u8 = 2;
pub(super) const CODE: u8 = 4;
pub(super) const STRIKE: u8 = 8;
pub(super) const LINK: u8 = 16;
pub(super) const DIM: u8 = 32;
pub(super) const UNDERLINE: u8 = 64;

/// A piece of inline text and its markdown styles (bits above); `None` text is a hard break.
pub(super) type Seg = (Option<String>, u8);

/// Parses inline markdown into segments, markers removed.
pub(super) fn inline(text: &str, styles: u8) -> Vec<Seg> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Seg> = Vec::new();
    let mut plain = String::new();
    let flush = |plain: &mut String, out: &mut Vec<Seg>| {
        if !plain.is_empty() {
            out.push((Some(std::mem::take(plain)), styles));
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) {
            plain.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '`' {
            let n = run_len(&chars, i, '`');
            if let Some(end) = find_code_close(&chars, i + n, n) {
                flush(&mut plain, &mut out);
                let mut code: String = chars[i + n..end].iter().collect();
                if code.len() > 2 && code.starts_with(' ') && code.ends_with(' ') {
                    code = code[1..code.len() - 1].to_owned();
                }
                out.push((Some(code), styles | CODE));
                i = end + n;
                continue;
            }
            plain.extend(&chars[i..i + n]);
            i += n;
            continue;
        }
        if let Some((len, style)) = emphasis_at(&chars, i) {
            if let Some(end) = find_emphasis_close(&chars, i, len) {
                flush(&mut plain, &mut out);
                let inner: String = chars[i + len..end].iter().collect();
                out.extend(inline(&inner, styles | style));
                i = end + len;
                continue;
            }
        }
        if c == '!' && chars.get(i + 1) == Some(&'[') {
            if let Some((label, _url, end)) = link_at(&chars, i + 1) {
                flush(&mut plain, &mut out);
                let alt = if label.is_empty() { "image" } else { &label };
                out.push((Some(format!("[image: {alt}]")), styles | DIM));
                i = end;
                continue;
            }
        }
        if c == '[' {
            if let Some((label, url, end)) = link_at(&chars, i) {
                flush(&mut plain, &mut out);
                out.extend(inline(&label, styles | LINK));
                if !url.is_empty() && url != label {
                    out.push((Some(format!(" ({url})")), styles | DIM));
                }
                i = end;
                continue;
            }
        }
        if c == '<' {
            let rest: String = chars[i + 1..].iter().collect();
            if let Some(close) = rest.find('>') {
                let url = &rest[..close];
                let is_url = ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|p| url.starts_with(p));
                if is_url && !url.contains(char::is_whitespace) {
                    flush(&mut plain, &mut out);
                    out.push((Some(url.to_owned()), styles | LINK));
                    i += 2 + url.chars().count();
                    continue;
                }
            }
        }
        plain.push(c);
        i += 1;
    }
    flush(&mut plain, &mut out);
    out
}

fn run_len(chars: &[char], i: usize, c: char) -> usize {
    chars[i..].iter().take_while(|x| **x == c).count()
}

/// The index of a closing run of exactly `n` backticks at or after `from`.
fn find_code_close(chars: &[char], from: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let m = run_len(chars, j, '`');
            if m == n && j > from {
                return Some(j);
            }
            j += m;
        } else {
            j += 1;
        }
    }
    None
}

/// The emphasis opening at `i`, if any: (marker length, style).
fn emphasis_at(chars: &[char], i: usize) -> Option<(usize, u8)> {
    let c = chars[i];
    if !matches!(c, '*' | '_' | '~') {
        return None;
    }
    let run = run_len(chars, i, c);
    let (len, style) = match (c, run) {
        ('*', n) if n >= 3 => (3, BOLD | ITALIC),
        ('*' | '_', 2) => (2, BOLD),
        ('*' | '_', _) => (1, ITALIC),
        ('~', n) if n >= 2 => (2, STRIKE),
        _ => return None,
    };
    // An opening marker is followed by a non-space; `_` does not open inside a word.
    let next = chars.get(i + len)?;
    if next.is_whitespace() || (c == '_' && i > 0 && chars[i - 1].is_alphanumeric()) {
        return None;
    }
    Some((len, style))
}

/// The index of the marker closing the emphasis opened at `open` (`len` marker characters).
fn find_emphasis_close(chars: &[char], open: usize, len: usize) -> Option<usize> {
    let c = chars[open];
    let mut j = open + len + 1;
    while j + len <= chars.len() {
        let is_marker = chars[j..j + len].iter().all(|x| *x == c);
        let before = chars[j - 1];
        let after = chars.get(j + len);
        // A single `*` does not close on half of a `**`.
        let whole = len != 1 || (before != c && after != Some(&c));
        let word_ok = c != '_' || !after.is_some_and(|a| a.is_alphanumeric());
        if is_marker && !before.is_whitespace() && whole && word_ok {
            return Some(j);
        }
        j += 1;
    }
    None
}

/// A `[label](url)` starting at `i` (on the `[`): (label, url, index after it).
fn link_at(chars: &[char], i: usize) -> Option<(String, String, usize)> {
    let close = i + chars[i..].iter().position(|c| *c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = close + 1 + chars[close + 1..].iter().position(|c| *c == ')')?;
    let label: String = chars[i + 1..close].iter().collect();
    let target: String = chars[close + 2..end].iter().collect();
    // `(url "title")`: the title is not shown.
    let url = target.split_whitespace().next().unwrap_or("").to_owned();
    Some((label, url, end + 1))
}

/// The terminal styles of markdown styles.
fn sgr(styles: u8) -> Vec<Sgr> {
    let mut out = Vec::new();
    for (bit, s) in [
        (BOLD, Sgr::Bold),
        (ITALIC, Sgr::Italic),
        (STRIKE, Sgr::Strike),
        (DIM, Sgr::Dim),
        (UNDERLINE, Sgr::Underline),
    ] {
        if styles & bit != 0 {
            out.push(s);
        }
    }
    if styles & CODE != 0 {
        out.push(Sgr::Cyan);
    }
    if styles & LINK != 0 {
        out.extend([Sgr::Underline, Sgr::Blue]);
    }
    out
}

/// Joins segments, merging neighbours of one style into one styled run.
fn paint_segments(segments: &[(String, u8)], term: &Term) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut run_styles = None;
    for (text, styles) in segments {
        if run_styles != Some(*styles) && !run.is_empty() {
            out.push_str(&term.paint(&run, &sgr(run_styles.unwrap_or(0))));
            run.clear();
        }
        run.push_str(text);
        run_styles = Some(*styles);
    }
    if !run.is_empty() {
        out.push_str(&term.paint(&run, &sgr(run_styles.unwrap_or(0))));
    }
    out
}

/// Word-wraps segments to `width` columns (whitespace between words collapses); `first` and
/// `rest` (already styled) start the first and the following lines.
pub(super) fn wrap(
    segments: &[Seg],
    width: usize,
    term: &Term,
    first: &str,
    rest: &str,
) -> Vec<String> {
    // Words, each a list of styled pieces; `None` is a hard break.
    let mut words: Vec<Option<Vec<(String, u8)>>> = Vec::new();
    let mut current: Vec<(String, u8)> = Vec::new();
    for (text, styles) in segments {
        let Some(text) = text else {
            if !current.is_empty() {
                words.push(Some(std::mem::take(&mut current)));
            }
            words.push(None);
            continue;
        };
        let mut piece = String::new();
        for c in text.chars() {
            if c.is_whitespace() {
                if !piece.is_empty() {
                    current.push((std::mem::take(&mut piece), *styles));
                }
                if !current.is_empty() {
                    words.push(Some(std::mem::take(&mut current)));
                }
            } else {
                piece.push(c);
            }
        }
        if !piece.is_empty() {
            current.push((piece, *styles));
        }
    }
    if !current.is_empty() {
        words.push(Some(current));
    }

    let mut lines: Vec<String> = Vec::new();
    let mut line: Vec<Vec<(String, u8)>> = Vec::new();
    let mut used = 0;
    let available = |lines: &Vec<String>| {
        let prefix = if lines.is_empty() { first } else { rest };
        width.saturating_sub(visible_width(prefix)).max(1)
    };
    let emit = |lines: &mut Vec<String>, line: &mut Vec<Vec<(String, u8)>>| {
        let prefix = if lines.is_empty() { first } else { rest };
        let mut joined: Vec<(String, u8)> = Vec::new();
        for (n, word) in line.drain(..).enumerate() {
            if n > 0 {
                // The space between two words takes the styles they share (an underlined
                // heading stays underlined across it).
                let shared = joined.last().map_or(0, |l| l.1) & word[0].1;
                joined.push((" ".into(), shared));
            }
            joined.extend(word);
        }
        let text = format!("{prefix}{}", paint_segments(&joined, term));
        lines.push(text.trim_end().to_owned());
    };
    for word in words {
        let Some(mut word) = word else {
            emit(&mut lines, &mut line);
            used = 0;
            continue;
        };
        let mut size: usize = word.iter().map(|(t, _)| visible_width(t)).sum();
        if !line.is_empty() && used + 1 + size > available(&lines) {
            emit(&mut lines, &mut line);
            used = 0;
        }
        if line.is_empty() && size > available(&lines) {
            // A word longer than the line: cut it.
            let mut chunk: Vec<(String, u8)> = Vec::new();
            let mut chunk_size = 0;
            for (text, styles) in word {
                for c in text.chars() {
                    let w = char_width(c);
                    if chunk_size + w > available(&lines) && chunk_size > 0 {
                        line.push(std::mem::take(&mut chunk));
                        emit(&mut lines, &mut line);
                        chunk_size = 0;
                    }
                    match chunk.last_mut() {
                        Some(last) if last.1 == styles => last.0.push(c),
                        _ => chunk.push((c.to_string(), styles)),
                    }
                    chunk_size += w;
                }
            }
            word = chunk;
            size = chunk_size;
        }
        used += size + usize::from(!line.is_empty());
        line.push(word);
    }
    if !line.is_empty() || lines.is_empty() {
        emit(&mut lines, &mut line);
    }
    lines
}
