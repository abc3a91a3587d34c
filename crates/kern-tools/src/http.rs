//! The HTTP client the toolkits share: per-request timeouts, and every failure mapped to a
//! [`ToolError`] a model can act on.

use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::error::ToolError;

/// How much of an error response's body goes into [`ToolError::Http`].
const BODY_EXCERPT_CHARS: usize = 300;

/// The user agent of the toolkits whose API does not want a browser's.
pub(crate) const KERN_USER_AGENT: &str = concat!("kern-tools/", env!("CARGO_PKG_VERSION"));

/// A browser-like user agent: Yahoo Finance and DuckDuckGo turn away unknown clients.
pub(crate) const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// A lazily built `reqwest::Client` with a user agent and a per-request timeout.
///
/// Each toolkit owns one (connections are pooled per toolkit and bound to the Tokio runtime that
/// opened them, so a toolkit should be used within one runtime).
#[derive(Debug)]
pub(crate) struct HttpClient {
    client: OnceLock<Result<reqwest::Client, String>>,
    user_agent: String,
    timeout: Duration,
}

impl Clone for HttpClient {
    fn clone(&self) -> Self {
        // A clone gets its own pool: toolkits are cloned while being configured, not per call.
        HttpClient::new(self.user_agent.clone(), self.timeout)
    }
}

impl HttpClient {
    pub(crate) fn new(user_agent: impl Into<String>, timeout: Duration) -> Self {
        HttpClient {
            client: OnceLock::new(),
            user_agent: user_agent.into(),
            timeout,
        }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub(crate) fn set_user_agent(&mut self, user_agent: impl Into<String>) {
        self.user_agent = user_agent.into();
        self.client = OnceLock::new();
    }

    fn client(&self) -> Result<&reqwest::Client, ToolError> {
        self.client
            .get_or_init(|| {
                let mut headers = HeaderMap::new();
                if let Ok(value) = HeaderValue::from_str(&self.user_agent) {
                    headers.insert(USER_AGENT, value);
                }
                reqwest::Client::builder()
                    .default_headers(headers)
                    .connect_timeout(self.timeout)
                    .build()
                    .map_err(|e| format!("cannot create the HTTP client: {}", chain(&e)))
            })
            .as_ref()
            .map_err(|message| ToolError::Failed(message.clone()))
    }

    /// A GET request to `url`, with the timeout set.
    pub(crate) fn get(&self, url: &Url) -> Result<RequestBuilder, ToolError> {
        Ok(self.client()?.get(url.clone()).timeout(self.timeout))
    }

    /// A POST request to `url`, with the timeout set.
    pub(crate) fn post(&self, url: &Url) -> Result<RequestBuilder, ToolError> {
        Ok(self.client()?.post(url.clone()).timeout(self.timeout))
    }

    /// Sends `request` (to `url`) and decodes its JSON body. A non-success status becomes
    /// [`ToolError::Http`] whose body is the API's own error message when `api_message` finds
    /// one in a JSON error body, else the start of the body.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        url: &Url,
        api_message: fn(&Value) -> Option<String>,
    ) -> Result<T, ToolError> {
        let response = self.send_any_status(request, url).await?;
        let status = response.status();
        if status.is_success() {
            return self.json(response, url).await;
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .as_ref()
            .and_then(api_message)
            .filter(|message| !message.trim().is_empty());
        Err(ToolError::Http {
            url: display_url(url),
            status: Some(status.as_u16()),
            body: excerpt(message.as_deref().unwrap_or(&body)),
        })
    }

    /// Sends `request` (to `url`); a non-success status becomes [`ToolError::Http`] with the
    /// start of the body.
    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        url: &Url,
    ) -> Result<Response, ToolError> {
        let response = self.send_any_status(request, url).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(ToolError::Http {
            url: display_url(url),
            status: Some(status.as_u16()),
            body: excerpt(&body),
        })
    }

    /// Sends `request` (to `url`) and returns the response whatever its status.
    pub(crate) async fn send_any_status(
        &self,
        request: RequestBuilder,
        url: &Url,
    ) -> Result<Response, ToolError> {
        request
            .send()
            .await
            .map_err(|e| self.request_error(&e, url))
    }

    /// The body of a successful response, as text.
    pub(crate) async fn text(&self, response: Response, url: &Url) -> Result<String, ToolError> {
        response
            .text()
            .await
            .map_err(|e| self.request_error(&e, url))
    }

    /// The body of a successful response, as JSON.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        response: Response,
        url: &Url,
    ) -> Result<T, ToolError> {
        let status = response.status().as_u16();
        let body = self.text(response, url).await?;
        serde_json::from_str(&body).map_err(|e| ToolError::Http {
            url: display_url(url),
            status: Some(status),
            body: format!("unexpected response ({e}): {}", excerpt(&body)),
        })
    }

    /// GET `url` and decode its JSON body.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ToolError> {
        let response = self.send(self.get(url)?, url).await?;
        self.json(response, url).await
    }

    /// GET `url` and return its body as text.
    pub(crate) async fn get_text(&self, url: &Url) -> Result<String, ToolError> {
        let response = self.send(self.get(url)?, url).await?;
        self.text(response, url).await
    }

    fn request_error(&self, error: &reqwest::Error, url: &Url) -> ToolError {
        if error.is_timeout() {
            ToolError::Timeout {
                what: format!("request to {}", display_url(url)),
                after: self.timeout,
            }
        } else {
            ToolError::Http {
                url: display_url(url),
                status: error.status().map(|s| s.as_u16()),
                body: chain(error),
            }
        }
    }
}

/// `base` (an absolute URL, with or without a trailing `/`) followed by `segments`, each
/// percent-encoded as one path segment.
pub(crate) fn endpoint(base: &str, segments: &[&str]) -> Result<Url, ToolError> {
    let mut url = Url::parse(base)
        .map_err(|e| ToolError::failed(format!("invalid base URL `{base}`: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| ToolError::failed(format!("invalid base URL `{base}`")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The URL as shown in errors: without its query string (which may be long or carry tokens).
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The start of `body`, whitespace collapsed, at most [`BODY_EXCERPT_CHARS`] characters.
pub(crate) fn excerpt(body: &str) -> String {
    let collapsed = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

/// An error and its causes, `: `-separated, without the URL reqwest puts in its message.
fn chain(error: &reqwest::Error) -> String {
    let mut message = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = error.source();
    let head = if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "could not read the response"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    message.push_str(head);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        current = cause.source();
    }
    message
}
