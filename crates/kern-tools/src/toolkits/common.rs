//! What every toolkit shares: the settings each takes the same way ([`HttpSettings`] through
//! [`HttpToolkit`]), their `base_url` and `timeout` builder methods (written once by
//! `http_toolkit!`), [`api_tool`], a tool calling a method of the toolkit's API state, and the
//! argument checks they all make ([`non_empty`], [`one_to`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::error::ToolError;
use crate::function::tool_fn;
use crate::tool::{Tool, ToolContext, ToolOutput, Toolkit};

/// The settings every built-in toolkit takes the same way (what `kern`'s configuration file
/// gives), applied with [`HttpToolkit::http_settings`]. A setting left `None` keeps the
/// toolkit's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// Another API root instead of the toolkit's default (a proxy, a mirror, or a fake server
    /// in tests): what the toolkit's `base_url` builder method sets.
    pub base_url: Option<String>,
    /// The time limit of each HTTP request: what the toolkit's `timeout` builder method sets.
    pub timeout: Option<Duration>,
}

/// A toolkit calling an HTTP API (every built-in one), whose [`HttpSettings`] can be applied
/// without knowing which toolkit it is.
///
/// ```
/// use std::time::Duration;
/// use kern_tools::{HackerNewsTools, HttpSettings, HttpToolkit, Toolkit};
///
/// let settings = HttpSettings { timeout: Some(Duration::from_secs(5)), ..Default::default() };
/// let tools = HackerNewsTools::new().http_settings(settings).tools();
/// assert_eq!(tools.len(), 3);
/// ```
pub trait HttpToolkit: Toolkit + Sized {
    /// The toolkit with `settings` applied (as its `base_url` and `timeout` builder methods
    /// would); a setting left `None` keeps the toolkit's own.
    fn http_settings(self, settings: HttpSettings) -> Self;
}

/// The `base_url` and `timeout` builder methods of a toolkit and its [`HttpToolkit`]
/// implementation: `http_toolkit!(Kit, api.base_url, "doc of base_url")`, naming the field of
/// the toolkit's `api` holding its API root (a `String`); `api.http` is its `HttpClient`.
macro_rules! http_toolkit {
    ($kit:ty, api.$base_url:ident, $base_url_doc:literal) => {
        impl $kit {
            #[doc = $base_url_doc]
            pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
                self.api.$base_url = base_url.into();
                self
            }

            /// The time limit of each HTTP request.
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.api.http.set_timeout(timeout);
                self
            }
        }

        impl $crate::toolkits::HttpToolkit for $kit {
            fn http_settings(mut self, settings: $crate::toolkits::HttpSettings) -> Self {
                if let Some(base_url) = settings.base_url {
                    self = self.base_url(base_url);
                }
                if let Some(timeout) = settings.timeout {
                    self = self.timeout(timeout);
                }
                self
            }
        }
    };
}
pub(crate) use http_toolkit;

/// `value` trimmed, or an invalid-argument error of `tool` at `path` when it is blank.
pub(crate) fn non_empty<'a>(tool: &str, path: &str, value: &'a str) -> Result<&'a str, ToolError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ToolError::invalid_argument_at(
            tool,
            path,
            "must not be empty",
        ));
    }
    Ok(value)
}

/// `value`, or an invalid-argument error of `tool` at `path` when it is not between 1 and
/// `max`.
pub(crate) fn one_to(tool: &str, path: &str, value: u32, max: u32) -> Result<u32, ToolError> {
    if !(1..=max).contains(&value) {
        return Err(ToolError::invalid_argument_at(
            tool,
            path,
            format!("must be between 1 and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// A tool named `name` whose calls are `call(api, args)`, `api` being the state the tools of
/// one toolkit share (its settings and HTTP client).
pub(crate) fn api_tool<Api, A, F, Fut>(
    api: &Arc<Api>,
    name: &str,
    description: &str,
    call: F,
) -> Arc<dyn Tool>
where
    Api: Send + Sync + 'static,
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(Arc<Api>, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolError>> + Send + 'static,
{
    let api = Arc::clone(api);
    Arc::new(tool_fn(
        name,
        description,
        move |args: A, _ctx: ToolContext| call(Arc::clone(&api), args),
    ))
}
