//! [`DuckDuckGoTools`]: web and news search with DuckDuckGo, like Agno's `DuckDuckGoTools`.
//!
//! # How
//!
//! DuckDuckGo has no search API. Like the public clients (`ddgs`, which Agno uses), the tools
//! read the pages DuckDuckGo serves to browsers:
//!
//! - web search: the JavaScript-free page `https://html.duckduckgo.com/html/?q=…`, whose
//!   results are parsed (title, link, snippet; ads skipped);
//! - news: a `vqd` token read from `https://duckduckgo.com/?q=…`, then
//!   `https://duckduckgo.com/news.js?q=…&vqd=…&o=json`.
//!
//! DuckDuckGo throttles automated use: when it answers with its "anomaly" (captcha) page the
//! tools fail with an HTTP 429-like error saying so, and the model can try again later. The
//! markup can change without notice; the parser is deliberately forgiving.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ToolError;
use crate::html::{decode_entities, Token, Tokenizer};
use crate::http::{display_url, HttpClient, BROWSER_USER_AGENT};
use crate::time::format_rfc3339_utc;
use crate::tool::{Tool, ToolOutput, Toolkit};
use crate::toolkits::common::{api_tool, http_toolkit, non_empty, one_to};

/// DuckDuckGo's JavaScript-free search page.
pub const DUCKDUCKGO_HTML_URL: &str = "https://html.duckduckgo.com/html/";
/// DuckDuckGo's main site (news search).
pub const DUCKDUCKGO_URL: &str = "https://duckduckgo.com";

const MAX_RESULTS: u32 = 50;

/// How recent results must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// The last day.
    Day,
    /// The last week.
    Week,
    /// The last month.
    Month,
    /// The last year.
    Year,
}

impl TimeLimit {
    fn as_str(self) -> &'static str {
        match self {
            TimeLimit::Day => "d",
            TimeLimit::Week => "w",
            TimeLimit::Month => "m",
            TimeLimit::Year => "y",
        }
    }
}

/// DuckDuckGo search tools, like Agno's `DuckDuckGoTools`:
///
/// - `duckduckgo_search(query, max_results = 5)`: a JSON array of `{"title", "href", "body"}`
///   (the shape of `ddgs`' text results, which Agno returns);
/// - `duckduckgo_news(query, max_results = 5)`: a JSON array of `{"date", "title", "body",
///   "url", "image", "source"}` (`ddgs`' news shape; `date` in RFC 3339).
///
/// (Agno's newest `DuckDuckGoTools` names these `web_search` and `search_news`; rename them with
/// [`FunctionTool::with_name`](crate::FunctionTool::with_name) on a [`ToolSet`](crate::ToolSet)
/// if you need those names.) See the [module docs](self) for how results are obtained.
#[derive(Debug, Clone)]
pub struct DuckDuckGoTools {
    api: Api,
    search: bool,
    news: bool,
}

http_toolkit!(
    DuckDuckGoTools,
    api.url,
    "Another URL for the main site, used by news search (a fake server in tests)."
);

impl Default for DuckDuckGoTools {
    fn default() -> Self {
        Self::new()
    }
}

impl DuckDuckGoTools {
    /// Both tools, against DuckDuckGo, with a 10 s timeout per request (Agno's).
    pub fn new() -> Self {
        DuckDuckGoTools {
            api: Api {
                html_url: DUCKDUCKGO_HTML_URL.to_owned(),
                url: DUCKDUCKGO_URL.to_owned(),
                http: HttpClient::new(BROWSER_USER_AGENT, Duration::from_secs(10)),
                modifier: None,
                fixed_max_results: None,
                region: None,
                time_limit: None,
            },
            search: true,
            news: true,
        }
    }

    /// Another URL for the HTML search page (a fake server in tests).
    pub fn html_url(mut self, html_url: impl Into<String>) -> Self {
        self.api.html_url = html_url.into();
        self
    }

    /// Text put before every web query, e.g. `site:docs.rs`.
    pub fn modifier(mut self, modifier: impl Into<String>) -> Self {
        self.api.modifier = Some(modifier.into());
        self
    }

    /// Always return at most this many results, whatever the model asks for.
    pub fn fixed_max_results(mut self, max: u32) -> Self {
        self.api.fixed_max_results = Some(max.clamp(1, MAX_RESULTS));
        self
    }

    /// The region of results, e.g. `us-en`, `uk-en`, `de-de`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.api.region = Some(region.into());
        self
    }

    /// Only results from the last day, week, month or year.
    pub fn time_limit(mut self, time_limit: TimeLimit) -> Self {
        self.api.time_limit = Some(time_limit);
        self
    }

    /// Whether `duckduckgo_search` is offered (default: yes).
    pub fn enable_search(mut self, enable: bool) -> Self {
        self.search = enable;
        self
    }

    /// Whether `duckduckgo_news` is offered (default: yes).
    pub fn enable_news(mut self, enable: bool) -> Self {
        self.news = enable;
        self
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SearchArgs {
    /// The query to search for.
    query: String,
    /// The maximum number of results to return, from 1 to 50. Defaults to 5.
    #[serde(default = "five")]
    #[schemars(range(min = 1, max = 50))]
    max_results: u32,
}

fn five() -> u32 {
    5
}

/// One web result, in `ddgs`' shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct SearchResult {
    title: String,
    href: String,
    body: String,
}

/// One news result, in `ddgs`' shape.
#[derive(Debug, Serialize)]
struct NewsResult {
    date: Option<String>,
    title: String,
    body: String,
    url: String,
    image: Option<String>,
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewsResponse {
    #[serde(default)]
    results: Vec<RawNews>,
}

#[derive(Debug, Deserialize)]
struct RawNews {
    date: Option<i64>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    excerpt: String,
    #[serde(default)]
    url: String,
    image: Option<String>,
    source: Option<String>,
}

/// The toolkit's settings, which its tools share (each call of `tools` copies them).
#[derive(Debug, Clone)]
struct Api {
    html_url: String,
    url: String,
    http: HttpClient,
    modifier: Option<String>,
    fixed_max_results: Option<u32>,
    region: Option<String>,
    time_limit: Option<TimeLimit>,
}

impl Api {
    fn check(&self, tool: &str, args: &SearchArgs) -> Result<(String, usize), ToolError> {
        let query = non_empty(tool, "query", &args.query)?;
        let asked = one_to(tool, "max_results", args.max_results, MAX_RESULTS)?;
        let max = self.fixed_max_results.unwrap_or(asked) as usize;
        Ok((query.to_owned(), max))
    }

    async fn search(&self, args: SearchArgs) -> Result<ToolOutput, ToolError> {
        let (query, max) = self.check("duckduckgo_search", &args)?;
        let query = match &self.modifier {
            Some(modifier) => format!("{modifier} {query}"),
            None => query,
        };
        let mut url = Url::parse(&self.html_url).map_err(|e| {
            ToolError::failed(format!("invalid search URL `{}`: {e}", self.html_url))
        })?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("q", &query);
            if let Some(region) = &self.region {
                pairs.append_pair("kl", region);
            }
            if let Some(limit) = self.time_limit {
                pairs.append_pair("df", limit.as_str());
            }
        }
        let response = self.http.send(self.http.get(&url)?, &url).await?;
        let status = response.status().as_u16();
        let page = self.http.text(response, &url).await?;
        let mut results = parse_results(&page);
        if results.is_empty() && (status == 202 || is_anomaly_page(&page)) {
            return Err(throttled(&url));
        }
        results.truncate(max);
        ToolOutput::json(&results)
    }

    async fn news(&self, args: SearchArgs) -> Result<ToolOutput, ToolError> {
        let (query, max) = self.check("duckduckgo_news", &args)?;
        let base = Url::parse(&self.url)
            .map_err(|e| ToolError::failed(format!("invalid URL `{}`: {e}", self.url)))?;
        let mut token_url = base.clone();
        token_url.query_pairs_mut().append_pair("q", &query);
        let page = self.http.get_text(&token_url).await?;
        let Some(vqd) = extract_vqd(&page) else {
            if is_anomaly_page(&page) {
                return Err(throttled(&token_url));
            }
            return Err(ToolError::failed(
                "DuckDuckGo did not issue a search token (vqd) for news search; try again \
                 later or use duckduckgo_search",
            ));
        };
        let mut url = base
            .join("news.js")
            .map_err(|e| ToolError::failed(format!("invalid URL `{}`: {e}", self.url)))?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("l", self.region.as_deref().unwrap_or("us-en"))
                .append_pair("o", "json")
                .append_pair("noamp", "1")
                .append_pair("q", &query)
                .append_pair("vqd", &vqd)
                .append_pair("p", "-1");
            if let Some(limit) = self.time_limit {
                pairs.append_pair("df", limit.as_str());
            }
        }
        let response: NewsResponse = self.http.get_json(&url).await?;
        let results: Vec<NewsResult> = response
            .results
            .into_iter()
            .filter(|news| !news.url.is_empty())
            .take(max)
            .map(|news| NewsResult {
                date: news.date.map(format_rfc3339_utc),
                title: clean_text(&news.title),
                body: clean_text(&news.excerpt),
                url: news.url,
                image: news.image.filter(|i| !i.is_empty()),
                source: news.source,
            })
            .collect();
        ToolOutput::json(&results)
    }
}

fn throttled(url: &Url) -> ToolError {
    ToolError::Http {
        url: display_url(url),
        status: Some(429),
        body: "DuckDuckGo is rate-limiting these requests (it answered with a captcha page)".into(),
    }
}

fn is_anomaly_page(page: &str) -> bool {
    page.contains("anomaly-modal") || page.contains("challenge-form")
}

/// The `vqd` token in a DuckDuckGo page: `vqd="4-…"`, `vqd='4-…'` or `vqd=4-…&`.
fn extract_vqd(page: &str) -> Option<String> {
    for (prefix, end) in [("vqd=\"", '"'), ("vqd='", '\''), ("vqd=", '&')] {
        if let Some(start) = page.find(prefix) {
            let rest = &page[start + prefix.len()..];
            let token: String = rest
                .chars()
                .take_while(|&c| c != end && (c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .collect();
            if !token.is_empty() {
                return Some(token);
            }
        }
    }
    None
}

/// Whitespace collapsed, entities decoded, tags (DuckDuckGo's `<b>` highlights) removed.
fn clean_text(text: &str) -> String {
    let mut plain = String::new();
    for token in Tokenizer::new(text) {
        if let Token::Text(text) = token {
            plain.push_str(&decode_entities(text));
        }
    }
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Default)]
struct Partial {
    ad: bool,
    title: String,
    href: Option<String>,
    body: String,
}

enum Capture {
    None,
    Title { tag: String, depth: usize },
    Snippet { tag: String, depth: usize },
}

/// The organic results of a `html.duckduckgo.com` page, in order.
fn parse_results(page: &str) -> Vec<SearchResult> {
    let mut results = Vec::new();
    let mut current: Option<Partial> = None;
    let mut capture = Capture::None;
    let finish = |partial: Option<Partial>, results: &mut Vec<SearchResult>| {
        let Some(partial) = partial else { return };
        if partial.ad {
            return;
        }
        let title = partial
            .title
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let Some(href) = partial.href.as_deref().and_then(resolve_href) else {
            return;
        };
        if title.is_empty() {
            return;
        }
        results.push(SearchResult {
            title,
            href,
            body: partial
                .body
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
    };
    for token in Tokenizer::new(page) {
        match &token {
            Token::Start {
                name, self_closing, ..
            } => {
                match &mut capture {
                    Capture::Title { tag, depth } | Capture::Snippet { tag, depth }
                        if tag == name && !self_closing =>
                    {
                        *depth += 1;
                    }
                    _ => {}
                }
                if name == "div" && token.has_class("result") {
                    finish(current.take(), &mut results);
                    capture = Capture::None;
                    current = Some(Partial {
                        ad: token.has_class("result--ad"),
                        ..Partial::default()
                    });
                } else if let Some(partial) = current.as_mut() {
                    if token.has_class("result__a") {
                        partial.href = token.attr("href").map(str::to_owned);
                        capture = Capture::Title {
                            tag: name.clone(),
                            depth: 1,
                        };
                    } else if token.has_class("result__snippet") {
                        if partial.href.is_none() {
                            partial.href = token.attr("href").map(str::to_owned);
                        }
                        capture = Capture::Snippet {
                            tag: name.clone(),
                            depth: 1,
                        };
                    } else if name == "br" {
                        match capture {
                            Capture::Title { .. } => partial.title.push(' '),
                            Capture::Snippet { .. } => partial.body.push(' '),
                            Capture::None => {}
                        }
                    }
                }
            }
            Token::Text(text) => {
                if let Some(partial) = current.as_mut() {
                    match capture {
                        Capture::Title { .. } => partial.title.push_str(&decode_entities(text)),
                        Capture::Snippet { .. } => partial.body.push_str(&decode_entities(text)),
                        Capture::None => {}
                    }
                }
            }
            Token::End { name } => match &mut capture {
                Capture::Title { tag, depth } | Capture::Snippet { tag, depth } if tag == name => {
                    *depth -= 1;
                    if *depth == 0 {
                        capture = Capture::None;
                    }
                }
                _ => {}
            },
        }
    }
    finish(current.take(), &mut results);
    results
}

/// The destination of a result link: DuckDuckGo's redirect (`//duckduckgo.com/l/?uddg=…`)
/// unwrapped; ad links (`/y.js`) and non-HTTP links dropped.
fn resolve_href(href: &str) -> Option<String> {
    let base = Url::parse("https://duckduckgo.com/").ok()?;
    let url = base.join(href.trim()).ok()?;
    let is_ddg = url
        .host_str()
        .is_some_and(|host| host == "duckduckgo.com" || host.ends_with(".duckduckgo.com"));
    if is_ddg {
        if url.path() == "/y.js" {
            return None;
        }
        if url.path().starts_with("/l/") {
            let target = url
                .query_pairs()
                .find(|(key, _)| key == "uddg")
                .map(|(_, value)| value.into_owned())?;
            return resolve_direct(&target);
        }
    }
    resolve_direct(url.as_str())
}

fn resolve_direct(href: &str) -> Option<String> {
    let url = Url::parse(href).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

impl Toolkit for DuckDuckGoTools {
    fn name(&self) -> &str {
        "duckduckgo"
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let api = Arc::new(self.api.clone());
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if self.search {
            tools.push(api_tool(
                &api,
                "duckduckgo_search",
                "Use this function to search DuckDuckGo for a query. Returns a JSON array of \
                 results with title, href (the link) and body (a snippet).",
                |api, args: SearchArgs| async move { api.search(args).await },
            ));
        }
        if self.news {
            tools.push(api_tool(
                &api,
                "duckduckgo_news",
                "Use this function to get the latest news from DuckDuckGo. Returns a JSON array \
                 of news with date, title, body, url, image and source.",
                |api, args: SearchArgs| async move { api.news(args).await },
            ));
        }
        tools
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html><body>
<div class="serp__results"><div id="links" class="results">
  <div class="result results_links results_links_deep result--ad ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a class="result__a" href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;ad_provider=b">Buy Rust</a></h2>
      <a class="result__snippet" href="https://duckduckgo.com/y.js?ad_domain=ads.example">Ad text</a>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title">
        <a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fwww.rust%2Dlang.org%2F&amp;rut=abc">Rust Programming   Language</a>
      </h2>
      <div class="result__extras"><div class="result__extras__url">
        <span class="result__icon"><a rel="nofollow" href="//duckduckgo.com/l/?uddg=x"><img class="result__icon__img" width="16" height="16" alt="" src="//external-content.duckduckgo.com/ip3/www.rust-lang.org.ico" name="i15" /></a></span>
        <a class="result__url" href="//duckduckgo.com/l/?uddg=x">www.rust-lang.org</a>
      </div></div>
      <a class="result__snippet" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fwww.rust%2Dlang.org%2F">A language empowering everyone to build <b>reliable</b> and efficient software &amp; more.</a>
      <div class="clear"></div>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result ">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a rel="nofollow" class="result__a" href="https://doc.rust-lang.org/book/">The Rust <b>Book</b></a></h2>
      <a class="result__snippet" href="https://doc.rust-lang.org/book/">by Steve Klabnik</a>
    </div>
  </div>
</div></div></body></html>"#;

    #[test]
    fn parses_organic_results_and_skips_ads() {
        let results = parse_results(PAGE);
        assert_eq!(
            results,
            [
                SearchResult {
                    title: "Rust Programming Language".into(),
                    href: "https://www.rust-lang.org/".into(),
                    body: "A language empowering everyone to build reliable and efficient software & more."
                        .into(),
                },
                SearchResult {
                    title: "The Rust Book".into(),
                    href: "https://doc.rust-lang.org/book/".into(),
                    body: "by Steve Klabnik".into(),
                },
            ]
        );
    }

    #[test]
    fn no_results_page() {
        let page = r#"<div class="result results_links_deep"><div class="no-results">No  results.</div></div>"#;
        assert!(parse_results(page).is_empty());
        assert!(parse_results("").is_empty());
    }

    #[test]
    fn extracts_vqd() {
        assert_eq!(
            extract_vqd(
                r#"<script>DDG.deep.initialize('/d.js?q=x&vqd=4-1234_ab&kl=wt-wt');</script>"#
            ),
            Some("4-1234_ab".into())
        );
        assert_eq!(extract_vqd(r#"vqd="4-99""#), Some("4-99".into()));
        assert_eq!(extract_vqd("nothing"), None);
    }
}
