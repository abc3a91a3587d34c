//! [`ExaTools`]: web search, page contents, similar pages and cited answers from
//! [Exa](https://exa.ai), like Agno's `ExaTools`.
//!
//! # How
//!
//! The tools call Exa's HTTP API (`https://api.exa.ai`) with the key in the `x-api-key`
//! header:
//!
//! - `search_exa`: `POST /search` `{"query", "numResults", "contents": {"text": …}}`;
//! - `get_contents`: `POST /contents` `{"urls", "text": …}`;
//! - `find_similar`: `POST /findSimilar` `{"url", "numResults", "contents": {"text": …}}`;
//! - `exa_answer`: `POST /answer` `{"query", "text": false}`.
//!
//! The key is the environment variable `EXA_API_KEY` ([`EXA_API_KEY_ENV`]) or
//! [`ExaTools::api_key`], read when a tool is called, never when the toolkit is built (which
//! cannot fail): a missing key makes the call fail with a [`ToolError::Failed`] naming
//! `EXA_API_KEY`. Exa's own errors (`{"error": "…", "tag": "…"}`: an invalid key, no credits,
//! a rate limit) come back as [`ToolError::Http`] carrying Exa's tag and message.
//!
//! Page text is asked for with `maxCharacters` set to the
//! [`text_length_limit`](ExaTools::text_length_limit) and cut to that many characters again
//! locally, so a model never gets more than it was promised.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use url::Url;

use crate::error::ToolError;
use crate::http::{endpoint, HttpClient, KERN_USER_AGENT};
use crate::secret::{Credential, Env};
use crate::tool::{Tool, ToolOutput, Toolkit};
use crate::toolkits::common::{api_tool, http_toolkit, non_empty, one_to};

/// Exa's API.
pub const EXA_API: &str = "https://api.exa.ai";
/// The environment variable holding the API key.
pub const EXA_API_KEY_ENV: &str = "EXA_API_KEY";

/// The most results a model may ask for at once (Exa allows more; 25 pages of text is already
/// more than a model reads well).
const MAX_RESULTS: u32 = 25;
/// The most URLs `get_contents` takes at once.
const MAX_URLS: usize = 10;

/// A kind of page Exa can restrict a search to (Agno's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Category {
    /// Company home pages and profiles.
    #[serde(rename = "company")]
    Company,
    /// Research papers.
    #[serde(rename = "research paper")]
    ResearchPaper,
    /// News articles.
    #[serde(rename = "news")]
    News,
    /// PDF documents.
    #[serde(rename = "pdf")]
    Pdf,
    /// GitHub repositories and pages.
    #[serde(rename = "github")]
    Github,
    /// Posts on X (Twitter).
    #[serde(rename = "tweet")]
    Tweet,
    /// Personal sites and blogs.
    #[serde(rename = "personal site")]
    PersonalSite,
    /// LinkedIn profiles.
    #[serde(rename = "linkedin profile")]
    LinkedinProfile,
    /// Financial reports.
    #[serde(rename = "financial report")]
    FinancialReport,
}

const CATEGORIES: [Category; 9] = [
    Category::Company,
    Category::ResearchPaper,
    Category::News,
    Category::Pdf,
    Category::Github,
    Category::Tweet,
    Category::PersonalSite,
    Category::LinkedinProfile,
    Category::FinancialReport,
];

impl Category {
    /// The name Exa's API uses, e.g. `research paper`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Company => "company",
            Category::ResearchPaper => "research paper",
            Category::News => "news",
            Category::Pdf => "pdf",
            Category::Github => "github",
            Category::Tweet => "tweet",
            Category::PersonalSite => "personal site",
            Category::LinkedinProfile => "linkedin profile",
            Category::FinancialReport => "financial report",
        }
    }
}

/// Exa tools, like Agno's `ExaTools`:
///
/// - `search_exa(query, num_results = 5, category = null)`: a JSON array of results
///   `{"title", "url", "author", "published_date", "text"}`;
/// - `get_contents(urls)`: the same for the given pages (a page Exa could not fetch is
///   `{"url", "error"}`);
/// - `find_similar(url, num_results = 5)`: pages similar to `url`, as results;
/// - `exa_answer(query)` (off by default, as it costs more): `{"answer", "citations":
///   [{"title", "url"}]}`.
///
/// Fields Exa does not know (a missing author or date) are left out; `text` is present only
/// with [`text`](Self::text) on (the default), at most
/// [`text_length_limit`](Self::text_length_limit) characters. The key is read from
/// `EXA_API_KEY` when a tool is called unless given to the builder; see the
/// [module docs](self).
///
/// ```
/// use kern_tools::{ExaTools, Toolkit};
///
/// // Never fails, even without EXA_API_KEY: a missing key is reported when a tool is called.
/// let tools = ExaTools::new().enable_answer(true).tools();
/// let names: Vec<_> = tools.iter().map(|t| t.name().to_owned()).collect();
/// assert_eq!(names, ["search_exa", "get_contents", "find_similar", "exa_answer"]);
/// ```
#[derive(Debug, Clone)]
pub struct ExaTools {
    api: Api,
    search: bool,
    get_contents: bool,
    find_similar: bool,
    answer: bool,
}

http_toolkit!(
    ExaTools,
    api.base_url,
    "Another API root instead of [`EXA_API`] (a proxy, or a fake server in tests), e.g. \
     `http://127.0.0.1:8080`."
);

impl Default for ExaTools {
    fn default() -> Self {
        Self::new()
    }
}

impl ExaTools {
    /// `search_exa`, `get_contents` and `find_similar` (not `exa_answer`), against
    /// [`EXA_API`], with a 30 s timeout per request (Agno's), page text cut to 1000
    /// characters, the key read from `EXA_API_KEY` at each call.
    pub fn new() -> Self {
        ExaTools {
            api: Api {
                base_url: EXA_API.to_owned(),
                http: HttpClient::new(KERN_USER_AGENT, Duration::from_secs(30)),
                api_key: Credential::new(EXA_API_KEY_ENV, "ExaTools::api_key"),
                env: Env::default(),
                text: true,
                text_length_limit: 1000,
                num_results: None,
                category: None,
                include_domains: Vec::new(),
                exclude_domains: Vec::new(),
            },
            search: true,
            get_contents: true,
            find_similar: true,
            answer: false,
        }
    }

    /// The API key, instead of `EXA_API_KEY` (a blank key is ignored).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api.api_key.set(api_key);
        self
    }

    /// Where `EXA_API_KEY` is looked up when no key was given to the builder (default: the
    /// process environment, read at each call), for tests or configuration that keeps secrets
    /// elsewhere.
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.api.env = Env::custom(lookup);
        self
    }

    /// Whether results include the pages' text (default: yes).
    pub fn text(mut self, text: bool) -> Self {
        self.api.text = text;
        self
    }

    /// The most characters of text per result (default: 1000; 0: no limit).
    pub fn text_length_limit(mut self, limit: usize) -> Self {
        self.api.text_length_limit = limit;
        self
    }

    /// Always ask for this many results (1 to 25), whatever the model asks for (Agno's
    /// `num_results`).
    pub fn num_results(mut self, num_results: u32) -> Self {
        self.api.num_results = Some(num_results.clamp(1, MAX_RESULTS));
        self
    }

    /// Always restrict searches to this category, whatever the model asks for.
    pub fn category(mut self, category: Category) -> Self {
        self.api.category = Some(category);
        self
    }

    /// Only results from these domains (e.g. `arxiv.org`), for searches and similar pages.
    pub fn include_domains<S: Into<String>>(
        mut self,
        domains: impl IntoIterator<Item = S>,
    ) -> Self {
        self.api.include_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// No results from these domains, for searches and similar pages.
    pub fn exclude_domains<S: Into<String>>(
        mut self,
        domains: impl IntoIterator<Item = S>,
    ) -> Self {
        self.api.exclude_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `search_exa` is offered (default: yes).
    pub fn enable_search(mut self, enable: bool) -> Self {
        self.search = enable;
        self
    }

    /// Whether `get_contents` is offered (default: yes).
    pub fn enable_get_contents(mut self, enable: bool) -> Self {
        self.get_contents = enable;
        self
    }

    /// Whether `find_similar` is offered (default: yes).
    pub fn enable_find_similar(mut self, enable: bool) -> Self {
        self.find_similar = enable;
        self
    }

    /// Whether `exa_answer` is offered (default: no).
    pub fn enable_answer(mut self, enable: bool) -> Self {
        self.answer = enable;
        self
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SearchArgs {
    /// The query to search for.
    query: String,
    /// The number of results to return, from 1 to 25. Defaults to 5.
    #[serde(default = "five")]
    #[schemars(range(min = 1, max = 25))]
    num_results: u32,
    /// Only results of this kind (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "category_schema")]
    category: Option<Category>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct ContentsArgs {
    /// The URLs of the pages to read (1 to 10), e.g. ["https://example.com/article"].
    #[schemars(length(min = 1, max = 10))]
    urls: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SimilarArgs {
    /// The URL of the page to find similar pages to.
    url: String,
    /// The number of similar pages to return, from 1 to 25. Defaults to 5.
    #[serde(default = "five")]
    #[schemars(range(min = 1, max = 25))]
    num_results: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct AnswerArgs {
    /// The question to answer.
    query: String,
}

/// A plain string enum (the derived schema, with a `oneOf` of documented constants and
/// `null`, is much longer for the same information).
fn category_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = CATEGORIES.iter().map(|c| c.as_str()).collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

fn five() -> u32 {
    5
}

/// One result as given to the model.
#[derive(Debug, Serialize)]
struct ExaResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    published_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// Why the page could not be read (`get_contents` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A citation of an answer as given to the model.
#[derive(Debug, Serialize)]
struct Citation {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    url: String,
}

#[derive(Debug, Deserialize)]
struct ResultsResponse {
    #[serde(default)]
    results: Vec<RawResult>,
    /// `/contents` only: how fetching each URL went.
    #[serde(default)]
    statuses: Vec<RawStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResult {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    published_date: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<RawStatusError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatusError {
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    http_status_code: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct AnswerResponse {
    #[serde(default)]
    answer: Value,
    #[serde(default)]
    citations: Vec<RawResult>,
}

/// The toolkit's settings, which its tools share (each call of `tools` copies them).
#[derive(Debug, Clone)]
struct Api {
    base_url: String,
    http: HttpClient,
    api_key: Credential,
    env: Env,
    text: bool,
    text_length_limit: usize,
    num_results: Option<u32>,
    category: Option<Category>,
    include_domains: Vec<String>,
    exclude_domains: Vec<String>,
}

impl Api {
    /// POSTs `body` to `{base_url}/{path}` with the key, for `tool`.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        tool: &str,
        path: &str,
        body: Value,
    ) -> Result<T, ToolError> {
        let key = self.api_key.resolve(&self.env, tool)?;
        let url = endpoint(&self.base_url, &[path])?;
        let request = self.http.post(&url)?.header("x-api-key", key).json(&body);
        self.http.send_json(request, &url, exa_message).await
    }

    /// What to ask for as text: `{"maxCharacters": limit}`, `true` without a limit, `false`
    /// when text is off.
    fn text_option(&self) -> Value {
        match (self.text, self.text_length_limit) {
            (false, _) => Value::Bool(false),
            (true, 0) => Value::Bool(true),
            (true, limit) => json!({ "maxCharacters": limit }),
        }
    }

    fn num_results(&self, tool: &str, asked: u32) -> Result<u32, ToolError> {
        let asked = one_to(tool, "num_results", asked, MAX_RESULTS)?;
        Ok(self.num_results.unwrap_or(asked))
    }

    fn add_domains(&self, body: &mut Map<String, Value>) {
        if !self.include_domains.is_empty() {
            body.insert("includeDomains".into(), json!(self.include_domains));
        }
        if !self.exclude_domains.is_empty() {
            body.insert("excludeDomains".into(), json!(self.exclude_domains));
        }
    }

    fn result(&self, raw: RawResult) -> Option<ExaResult> {
        let url = page_url(raw.url, raw.id)?;
        Some(ExaResult {
            title: non_blank(raw.title),
            url,
            author: non_blank(raw.author),
            published_date: non_blank(raw.published_date),
            text: if self.text {
                raw.text
                    .map(|text| truncate_chars(&text, self.text_length_limit).to_owned())
            } else {
                None
            },
            error: None,
        })
    }

    fn results(&self, raw: Vec<RawResult>, max: usize) -> Vec<ExaResult> {
        raw.into_iter()
            .filter_map(|raw| self.result(raw))
            .take(max)
            .collect()
    }

    async fn search(&self, args: SearchArgs) -> Result<ToolOutput, ToolError> {
        const TOOL: &str = "search_exa";
        let query = non_empty(TOOL, "query", &args.query)?;
        let num = self.num_results(TOOL, args.num_results)?;
        let mut body = Map::new();
        body.insert("query".into(), json!(query));
        body.insert("numResults".into(), json!(num));
        if let Some(category) = self.category.or(args.category) {
            body.insert("category".into(), json!(category.as_str()));
        }
        self.add_domains(&mut body);
        body.insert("contents".into(), json!({ "text": self.text_option() }));
        let response: ResultsResponse = self.post(TOOL, "search", Value::Object(body)).await?;
        ToolOutput::json(&self.results(response.results, num as usize))
    }

    async fn contents(&self, args: ContentsArgs) -> Result<ToolOutput, ToolError> {
        const TOOL: &str = "get_contents";
        if args.urls.is_empty() || args.urls.len() > MAX_URLS {
            return Err(ToolError::invalid_argument_at(
                TOOL,
                "urls",
                format!(
                    "must hold between 1 and {MAX_URLS} URLs, got {}",
                    args.urls.len()
                ),
            ));
        }
        let urls = args
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| check_url(TOOL, &format!("urls[{i}]"), url))
            .collect::<Result<Vec<_>, _>>()?;
        let body = json!({ "urls": urls, "text": self.text_option() });
        let response: ResultsResponse = self.post(TOOL, "contents", body).await?;
        let mut results = self.results(response.results, usize::MAX);
        for status in response.statuses {
            if status.status == "success" || results.iter().any(|r| r.url == status.id) {
                continue;
            }
            let error = match status.error {
                Some(RawStatusError {
                    tag,
                    http_status_code,
                }) => {
                    let tag = tag.unwrap_or_else(|| "FETCH_FAILED".to_owned());
                    match http_status_code {
                        Some(code) => format!("{tag}: the page could not be read (HTTP {code})"),
                        None => format!("{tag}: the page could not be read"),
                    }
                }
                None => "the page could not be read".to_owned(),
            };
            results.push(ExaResult {
                title: None,
                url: status.id,
                author: None,
                published_date: None,
                text: None,
                error: Some(error),
            });
        }
        ToolOutput::json(&results)
    }

    async fn similar(&self, args: SimilarArgs) -> Result<ToolOutput, ToolError> {
        const TOOL: &str = "find_similar";
        let url = check_url(TOOL, "url", &args.url)?;
        let num = self.num_results(TOOL, args.num_results)?;
        let mut body = Map::new();
        body.insert("url".into(), json!(url));
        body.insert("numResults".into(), json!(num));
        self.add_domains(&mut body);
        body.insert("contents".into(), json!({ "text": self.text_option() }));
        let response: ResultsResponse = self.post(TOOL, "findSimilar", Value::Object(body)).await?;
        ToolOutput::json(&self.results(response.results, num as usize))
    }

    async fn answer(&self, args: AnswerArgs) -> Result<ToolOutput, ToolError> {
        const TOOL: &str = "exa_answer";
        let query = non_empty(TOOL, "query", &args.query)?;
        let body = json!({ "query": query, "text": false });
        let response: AnswerResponse = self.post(TOOL, "answer", body).await?;
        let citations: Vec<Citation> = response
            .citations
            .into_iter()
            .filter_map(|raw| {
                let url = page_url(raw.url, raw.id)?;
                Some(Citation {
                    title: non_blank(raw.title),
                    url,
                })
            })
            .collect();
        ToolOutput::json(&json!({ "answer": response.answer, "citations": citations }))
    }
}

/// An absolute `http(s)` URL, as given (trimmed).
fn check_url(tool: &str, path: &str, url: &str) -> Result<String, ToolError> {
    let url = non_empty(tool, path, url)?;
    match Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(url.to_owned())
        }
        _ => Err(ToolError::invalid_argument_at(
            tool,
            path,
            format!("`{url}` is not an http(s) URL such as \"https://example.com/page\""),
        )),
    }
}

/// A result's URL: its `url`, else its `id` when that is a URL (Exa's ids usually are).
fn page_url(url: Option<String>, id: Option<String>) -> Option<String> {
    non_blank(url).or_else(|| {
        non_blank(id).filter(|id| id.starts_with("https://") || id.starts_with("http://"))
    })
}

fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The first `limit` characters of `text` (all of it when `limit` is 0).
fn truncate_chars(text: &str, limit: usize) -> &str {
    if limit == 0 {
        return text;
    }
    match text.char_indices().nth(limit) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// Exa's JSON errors: `{"requestId": "…", "error": "Invalid API key", "tag": "INVALID_API_KEY"}`.
fn exa_message(body: &Value) -> Option<String> {
    let message = match body.get("error")? {
        Value::String(message) => message.trim().to_owned(),
        Value::Object(error) => error.get("message")?.as_str()?.trim().to_owned(),
        _ => return None,
    };
    Some(match body.get("tag").and_then(Value::as_str) {
        Some(tag) if !tag.is_empty() => format!("{tag}: {message}"),
        _ => message,
    })
}

impl Toolkit for ExaTools {
    fn name(&self) -> &str {
        "exa"
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let api = Arc::new(self.api.clone());
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if self.search {
            tools.push(api_tool(
                &api,
                "search_exa",
                "Use this function to search Exa (a web search engine) for a query. Returns a \
                 JSON array of results: title, url, author, published_date, text (the start of \
                 the page).",
                |api, args: SearchArgs| async move { api.search(args).await },
            ));
        }
        if self.get_contents {
            tools.push(api_tool(
                &api,
                "get_contents",
                "Use this function to read web pages with Exa. Returns a JSON array with, for \
                 each URL: title, url, author, published_date, text; or url and error when the \
                 page could not be read.",
                |api, args: ContentsArgs| async move { api.contents(args).await },
            ));
        }
        if self.find_similar {
            tools.push(api_tool(
                &api,
                "find_similar",
                "Use this function to find web pages similar to a given URL with Exa. Returns a \
                 JSON array of results: title, url, author, published_date, text.",
                |api, args: SimilarArgs| async move { api.similar(args).await },
            ));
        }
        if self.answer {
            tools.push(api_tool(
                &api,
                "exa_answer",
                "Use this function to get an answer to a question, written from Exa search \
                 results. Returns JSON: {\"answer\", \"citations\": [{\"title\", \"url\"}]}.",
                |api, args: AnswerArgs| async move { api.answer(args).await },
            ));
        }
        tools
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo wörld", 4), "héll");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo", 50), "héllo");
        assert_eq!(truncate_chars("héllo", 0), "héllo");
        assert_eq!(truncate_chars("", 3), "");
    }

    #[test]
    fn exa_error_bodies() {
        assert_eq!(
            exa_message(
                &json!({"requestId": "r1", "error": "Invalid API key", "tag": "INVALID_API_KEY"})
            )
            .unwrap(),
            "INVALID_API_KEY: Invalid API key"
        );
        assert_eq!(
            exa_message(&json!({"error": "Not enough credits"})).unwrap(),
            "Not enough credits"
        );
        assert_eq!(
            exa_message(&json!({"error": {"message": "Bad request"}})).unwrap(),
            "Bad request"
        );
        assert_eq!(exa_message(&json!({"results": []})), None);
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert_eq!(
            check_url("t", "url", " https://example.com/a ").unwrap(),
            "https://example.com/a"
        );
        for bad in [
            "",
            "example.com",
            "ftp://example.com/x",
            "mailto:a@b.c",
            "/relative",
        ] {
            let err = check_url("t", "urls[3]", bad).unwrap_err();
            assert!(
                matches!(&err, ToolError::InvalidArguments { path: Some(p), .. } if p == "urls[3]"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let shown = format!("{:?}", ExaTools::new().api_key("exa-secret-789"));
        assert!(!shown.contains("exa-secret"), "{shown}");
    }
}
