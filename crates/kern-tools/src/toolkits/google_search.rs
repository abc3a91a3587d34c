//! [`GoogleSearchTools`]: web search with Google, like Agno's `GoogleSearchTools`, over the
//! Programmable Search (Custom Search) JSON API.
//!
//! # How
//!
//! Agno scrapes Google's result pages; Kern calls Google's official JSON API instead:
//! `GET https://www.googleapis.com/customsearch/v1?key=…&cx=…&q=…&num=…&hl=…`. It needs
//!
//! - an API key with the Custom Search API enabled (Google Cloud console): the environment
//!   variable `GOOGLE_API_KEY` ([`GOOGLE_API_KEY_ENV`]) or [`GoogleSearchTools::api_key`]
//!   (Kern's Gemini models read the same variable; one key can serve both if both APIs are
//!   enabled for it);
//! - the id of a Programmable Search Engine set to search the entire web
//!   (programmablesearchengine.google.com): `GOOGLE_CSE_ID` ([`GOOGLE_CSE_ID_ENV`]) or
//!   [`GoogleSearchTools::cse_id`].
//!
//! Both are read when the tool is called, never when the toolkit is built (which cannot
//! fail): a missing one makes the call fail with a [`ToolError::Failed`] naming the variable.
//! Google's own errors (an invalid key, a disabled API, an exhausted daily quota, which is
//! HTTP 429) come back as [`ToolError::Http`] carrying Google's message, e.g.
//! `INVALID_ARGUMENT: API key not valid. Please pass a valid API key.`. The API gives at most
//! 10 results per request.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ToolError;
use crate::http::{endpoint, HttpClient, KERN_USER_AGENT};
use crate::secret::{Credential, Env};
use crate::tool::{Tool, ToolOutput, Toolkit};
use crate::toolkits::common::{api_tool, http_toolkit, non_empty, one_to};

/// The root of Google's APIs; searches go to `{root}/customsearch/v1`.
pub const GOOGLE_SEARCH_API: &str = "https://www.googleapis.com";
/// The environment variable holding the API key.
pub const GOOGLE_API_KEY_ENV: &str = "GOOGLE_API_KEY";
/// The environment variable holding the Programmable Search Engine id (`cx`).
pub const GOOGLE_CSE_ID_ENV: &str = "GOOGLE_CSE_ID";

/// The most results the API gives for one request.
const MAX_RESULTS: u32 = 10;
const TOOL: &str = "google_search";

/// Google search, like Agno's `GoogleSearchTools`:
///
/// - `google_search(query, max_results = 5, language = "en")`: a JSON array of
///   `{"title", "url", "description"}` (Agno's shape).
///
/// Results come from the Programmable Search JSON API, which needs an API key and a search
/// engine id, read from `GOOGLE_API_KEY` and `GOOGLE_CSE_ID` when the tool is called unless
/// given to the builder; see the [module docs](self).
///
/// ```
/// use kern_tools::{GoogleSearchTools, Toolkit};
///
/// // Never fails, even without GOOGLE_API_KEY: a missing key is reported when the tool is called.
/// let tools = GoogleSearchTools::new().fixed_max_results(3).tools();
/// assert_eq!(tools[0].name(), "google_search");
/// assert_eq!(tools[0].parameters()["required"], serde_json::json!(["query"]));
/// ```
#[derive(Debug, Clone)]
pub struct GoogleSearchTools {
    api: Api,
    search: bool,
}

http_toolkit!(
    GoogleSearchTools,
    api.base_url,
    "Another API root instead of [`GOOGLE_SEARCH_API`] (a proxy, or a fake server in tests); \
     searches go to `{base_url}/customsearch/v1`."
);

impl Default for GoogleSearchTools {
    fn default() -> Self {
        Self::new()
    }
}

impl GoogleSearchTools {
    /// The tool, against [`GOOGLE_SEARCH_API`], with a 10 s timeout per request (Agno's), the
    /// key and engine id read from `GOOGLE_API_KEY` and `GOOGLE_CSE_ID` at each call.
    pub fn new() -> Self {
        GoogleSearchTools {
            api: Api {
                base_url: GOOGLE_SEARCH_API.to_owned(),
                http: HttpClient::new(KERN_USER_AGENT, Duration::from_secs(10)),
                api_key: Credential::new(GOOGLE_API_KEY_ENV, "GoogleSearchTools::api_key"),
                cse_id: Credential::new(GOOGLE_CSE_ID_ENV, "GoogleSearchTools::cse_id"),
                env: Env::default(),
                fixed_max_results: None,
                fixed_language: None,
            },
            search: true,
        }
    }

    /// The API key, instead of `GOOGLE_API_KEY` (a blank key is ignored).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api.api_key.set(api_key);
        self
    }

    /// The Programmable Search Engine id (`cx`), instead of `GOOGLE_CSE_ID` (a blank id is
    /// ignored).
    pub fn cse_id(mut self, cse_id: impl Into<String>) -> Self {
        self.api.cse_id.set(cse_id);
        self
    }

    /// Where `GOOGLE_API_KEY` and `GOOGLE_CSE_ID` are looked up when not given to the builder
    /// (default: the process environment, read at each call), for tests or configuration that
    /// keeps secrets elsewhere.
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.api.env = Env::custom(lookup);
        self
    }

    /// Always return at most this many results (1 to 10), whatever the model asks for.
    pub fn fixed_max_results(mut self, max: u32) -> Self {
        self.api.fixed_max_results = Some(max.clamp(1, MAX_RESULTS));
        self
    }

    /// Always use this language (e.g. `fr`), whatever the model asks for.
    pub fn fixed_language(mut self, language: impl Into<String>) -> Self {
        self.api.fixed_language = Some(language.into());
        self
    }

    /// Whether `google_search` is offered (default: yes).
    pub fn enable_google_search(mut self, enable: bool) -> Self {
        self.search = enable;
        self
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SearchArgs {
    /// The query to search for.
    query: String,
    /// The maximum number of results to return, from 1 to 10. Defaults to 5.
    #[serde(default = "five")]
    #[schemars(range(min = 1, max = 10))]
    max_results: u32,
    /// The language of the results, as a language code such as "en", "fr", "de" or "pt-BR".
    /// Defaults to "en".
    #[serde(default = "english")]
    language: String,
}

fn five() -> u32 {
    5
}

fn english() -> String {
    "en".to_owned()
}

/// One result, in Agno's shape.
#[derive(Debug, Serialize)]
struct SearchResult {
    title: String,
    url: String,
    description: String,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    /// Absent when nothing was found.
    #[serde(default)]
    items: Option<Vec<Item>>,
}

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    snippet: Option<String>,
}

/// The toolkit's settings, which its tools share (each call of `tools` copies them).
#[derive(Debug, Clone)]
struct Api {
    base_url: String,
    http: HttpClient,
    api_key: Credential,
    cse_id: Credential,
    env: Env,
    fixed_max_results: Option<u32>,
    fixed_language: Option<String>,
}

impl Api {
    async fn search(&self, args: SearchArgs) -> Result<ToolOutput, ToolError> {
        let query = non_empty(TOOL, "query", &args.query)?;
        one_to(TOOL, "max_results", args.max_results, MAX_RESULTS)?;
        let language = match &self.fixed_language {
            Some(language) => language.trim().to_owned(),
            None => check_language(&args.language)?,
        };
        let num = self.fixed_max_results.unwrap_or(args.max_results);
        let key = self.api_key.resolve(&self.env, TOOL)?;
        let cx = self.cse_id.resolve(&self.env, TOOL)?;

        let mut url = endpoint(&self.base_url, &["customsearch", "v1"])?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("key", &key)
                .append_pair("cx", &cx)
                .append_pair("q", query)
                .append_pair("num", &num.to_string());
            if !language.is_empty() {
                pairs.append_pair("hl", &language);
            }
        }
        let response: SearchResponse = self
            .http
            .send_json(self.http.get(&url)?, &url, google_message)
            .await?;
        let results: Vec<SearchResult> = response
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| {
                let url = item.link.filter(|link| !link.trim().is_empty())?;
                Some(SearchResult {
                    title: collapse(item.title.as_deref().unwrap_or_default()),
                    url,
                    description: collapse(item.snippet.as_deref().unwrap_or_default()),
                })
            })
            .take(num as usize)
            .collect();
        ToolOutput::json(&results)
    }
}

/// A language code: letters, digits, `-` and `_`, at most 16 characters.
fn check_language(language: &str) -> Result<String, ToolError> {
    let language = language.trim();
    let valid = !language.is_empty()
        && language.len() <= 16
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(language.to_owned())
    } else {
        Err(ToolError::invalid_argument_at(
            TOOL,
            "language",
            format!("must be a language code such as \"en\" or \"pt-BR\", got {language:?}"),
        ))
    }
}

/// Google's JSON errors: `{"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT"}}`.
fn google_message(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?.trim();
    Some(match error.get("status").and_then(Value::as_str) {
        Some(status) if !status.is_empty() => format!("{status}: {message}"),
        _ => message.to_owned(),
    })
}

/// Whitespace (Google's snippets hold line breaks) collapsed to single spaces.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Toolkit for GoogleSearchTools {
    fn name(&self) -> &str {
        "google_search"
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        if self.search {
            let api = Arc::new(self.api.clone());
            tools.push(api_tool(
                &api,
                TOOL,
                "Use this function to search Google for a query. Returns a JSON array of \
                 results: title, url, description.",
                |api, args: SearchArgs| async move { api.search(args).await },
            ));
        }
        tools
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn google_error_bodies() {
        let body = json!({"error": {"code": 403, "message": "Requests to this API are blocked.",
            "errors": [{"message": "Requests to this API are blocked.", "domain": "global", "reason": "forbidden"}],
            "status": "PERMISSION_DENIED"}});
        assert_eq!(
            google_message(&body).unwrap(),
            "PERMISSION_DENIED: Requests to this API are blocked."
        );
        assert_eq!(
            google_message(&json!({"error": {"message": "Bad"}})).unwrap(),
            "Bad"
        );
        assert_eq!(google_message(&json!({"items": []})), None);
        assert_eq!(google_message(&json!({"error": "text"})), None);
    }

    #[test]
    fn language_codes() {
        assert_eq!(check_language(" pt-BR ").unwrap(), "pt-BR");
        assert_eq!(check_language("zh_CN").unwrap(), "zh_CN");
        for bad in [
            "",
            "  ",
            "en&key=x",
            "english language",
            "a-very-long-language-code",
        ] {
            let err = check_language(bad).unwrap_err();
            assert!(
                matches!(&err, ToolError::InvalidArguments { path: Some(p), .. } if p == "language"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn debug_does_not_show_keys() {
        let tools = GoogleSearchTools::new()
            .api_key("secret-key-123")
            .cse_id("secret-cx-456");
        let shown = format!("{tools:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
