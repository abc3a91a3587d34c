//! A small, forgiving HTML tokenizer and text helpers: enough for DuckDuckGo's result page and
//! Hacker News' comment markup, without a browser-grade parser's compile cost.

use std::borrow::Cow;

/// One piece of an HTML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// `<name attr="value" …>` (or `<name … />`); the name is lower-cased.
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    /// `</name>`; the name is lower-cased.
    End { name: String },
    /// Text between tags, entities not yet decoded.
    Text(&'a str),
}

impl Token<'_> {
    /// The value of attribute `name` of a start tag (entities decoded).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        match self {
            Token::Start { attrs, .. } => attrs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str()),
            _ => None,
        }
    }

    /// Whether a start tag's `class` attribute lists `class`.
    pub(crate) fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|classes| classes.split_ascii_whitespace().any(|c| c == class))
    }
}

/// Splits HTML into tags and text. Comments, doctypes and the content of `<script>` and
/// `<style>` are skipped; malformed markup never fails, it becomes text.
pub(crate) struct Tokenizer<'a> {
    html: &'a str,
    pos: usize,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(html: &'a str) -> Self {
        Tokenizer { html, pos: 0 }
    }

    fn skip_raw_text(&mut self, name: &str) {
        let rest = &self.html[self.pos..];
        let closing = format!("</{name}");
        match find_ascii_case_insensitive(rest, &closing) {
            Some(offset) => self.pos += offset,
            None => self.pos = self.html.len(),
        }
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = &self.html[self.pos..];
            if rest.is_empty() {
                return None;
            }
            if !rest.starts_with('<') {
                let end = rest.find('<').unwrap_or(rest.len());
                self.pos += end;
                return Some(Token::Text(&rest[..end]));
            }
            if let Some(comment) = rest.strip_prefix("<!--") {
                self.pos += 4 + comment.find("-->").map_or(comment.len(), |i| i + 3);
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                self.pos += rest.find('>').map_or(rest.len(), |i| i + 1);
                continue;
            }
            let (is_end, after) = match rest.strip_prefix("</") {
                Some(after) => (true, after),
                None => (false, &rest[1..]),
            };
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
                .unwrap_or(after.len());
            if name_len == 0 {
                // A lone `<`: text.
                self.pos += 1;
                return Some(Token::Text(&rest[..1]));
            }
            let name = after[..name_len].to_ascii_lowercase();
            let header = rest.len() - after.len() + name_len;
            let (attrs, tag_len, self_closing) = parse_attributes(&rest[header..]);
            self.pos += header + tag_len;
            if is_end {
                return Some(Token::End { name });
            }
            if (name == "script" || name == "style") && !self_closing {
                self.skip_raw_text(&name);
            }
            return Some(Token::Start {
                name,
                attrs,
                self_closing,
            });
        }
    }
}

/// Parses attributes up to and including the tag's closing `>`. Returns the attributes (names
/// lower-cased, values entity-decoded), the bytes consumed and whether the tag ends with `/>`.
fn parse_attributes(input: &str) -> (Vec<(String, String)>, usize, bool) {
    let bytes = input.as_bytes();
    let mut attrs = Vec::new();
    let mut i = 0;
    let mut self_closing = false;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, i, self_closing);
        }
        match bytes[i] {
            b'>' => return (attrs, i + 1, self_closing),
            b'/' => {
                self_closing = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        self_closing = false;
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"=>/".contains(&bytes[i]) {
            i += 1;
        }
        if i == start {
            // A stray `=` or similar: skip it.
            i += 1;
            continue;
        }
        let name = input[start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let value_start = i + 1;
                let value_end = input[value_start..]
                    .bytes()
                    .position(|b| b == quote)
                    .map_or(input.len(), |p| value_start + p);
                i = (value_end + 1).min(input.len());
                &input[value_start..value_end]
            } else {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &input[value_start..i]
            };
            attrs.push((name, decode_entities(value).into_owned()));
        } else {
            attrs.push((name, String::new()));
        }
    }
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

/// Decodes HTML character references: numeric ones and the named ones found in practice.
/// Unknown references are kept as they are.
pub(crate) fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let decoded = match end {
            Some(end) if end > 1 => {
                let reference = &rest[1..end];
                let has_semicolon = rest[end..].starts_with(';');
                decode_reference(reference).map(|c| (c, end + usize::from(has_semicolon)))
            }
            _ => None,
        };
        match decoded {
            Some((decoded, consumed)) => {
                out.push_str(decoded.as_ref());
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_reference(reference: &str) -> Option<Cow<'static, str>> {
    if let Some(number) = reference.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        let c = char::from_u32(code).unwrap_or('\u{FFFD}');
        return Some(Cow::Owned(c.to_string()));
    }
    let named = match reference {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "laquo" => "«",
        "raquo" => "»",
        "middot" => "·",
        "bull" => "•",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "euro" => "€",
        "pound" => "£",
        "deg" => "°",
        "times" => "×",
        _ => return None,
    };
    Some(Cow::Borrowed(named))
}

/// Plain text of an HTML fragment (Hacker News comments and story texts): paragraphs and line
/// breaks become newlines, tags are dropped, entities decoded.
pub(crate) fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    for token in Tokenizer::new(html) {
        match token {
            Token::Text(text) => out.push_str(&decode_entities(text)),
            Token::Start { name, .. }
                if name == "p" && !out.is_empty() && !out.ends_with("\n\n") =>
            {
                out.push_str("\n\n");
            }
            Token::Start { name, .. } if name == "br" => out.push('\n'),
            Token::End { name } if (name == "p" || name == "pre") && !out.ends_with('\n') => {
                out.push('\n');
            }
            _ => {}
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_tags_attributes_and_text() {
        let tokens: Vec<_> = Tokenizer::new(
            r#"<!DOCTYPE html><!-- c --><A class="x y" href='/l?a=1&amp;b=2' data-x=3 hidden>Hi &amp; bye</a><br/><script>if (a<b) {}</script>end"#,
        )
        .collect();
        assert_eq!(tokens.len(), 7, "{tokens:?}");
        assert!(tokens[0].has_class("y"));
        assert_eq!(tokens[0].attr("href"), Some("/l?a=1&b=2"));
        assert_eq!(tokens[0].attr("data-x"), Some("3"));
        assert_eq!(tokens[0].attr("hidden"), Some(""));
        assert_eq!(tokens[1], Token::Text("Hi &amp; bye"));
        assert_eq!(tokens[2], Token::End { name: "a".into() });
        assert!(
            matches!(&tokens[3], Token::Start { name, self_closing: true, .. } if name == "br")
        );
        assert!(matches!(&tokens[4], Token::Start { name, .. } if name == "script"));
        assert_eq!(
            tokens[5],
            Token::End {
                name: "script".into()
            }
        );
        assert_eq!(tokens[6], Token::Text("end"));
    }

    #[test]
    fn malformed_markup_is_text() {
        let tokens: Vec<_> = Tokenizer::new("a < b <").collect();
        let text: String = tokens
            .iter()
            .map(|t| match t {
                Token::Text(t) => *t,
                _ => "",
            })
            .collect();
        assert_eq!(text, "a < b <");
        assert_eq!(Tokenizer::new("<a href=\"unterminated").count(), 1);
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(
            decode_entities(
                "It&#x27;s &lt;b&gt; &amp;&amp; &#8212; &quot;x&quot; &unknown; & AT&T"
            ),
            "It's <b> && — \"x\" &unknown; & AT&T"
        );
    }

    #[test]
    fn hacker_news_comment_to_text() {
        assert_eq!(
            to_text("First &gt; second.<p>See <a href=\"https:&#x2F;&#x2F;x.org\">https:&#x2F;&#x2F;x.org</a><p>Bye"),
            "First > second.\n\nSee https://x.org\n\nBye"
        );
    }
}
