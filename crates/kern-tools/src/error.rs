//! Why a tool call did not produce an output.

use std::fmt;
use std::time::Duration;

/// Why a tool call did not produce an output.
///
/// The agent layer sends a failed call back to the model as the tool's result, so every
/// variant's `Display` is a message a model can act on: fix its arguments, try again later,
/// or give up on this tool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments do not match the tool's parameters schema: not valid JSON, a missing or
    /// unknown field, a wrong type, a value out of range.
    #[error(
        "invalid arguments for tool `{tool}`{}: {message}. Call `{tool}` again with arguments that match its parameters schema",
        At(path.as_deref())
    )]
    InvalidArguments {
        /// The tool's name.
        tool: String,
        /// Where in the arguments the problem is (`city`, `location.zip`, `days[2]`), when known.
        path: Option<String>,
        /// What is wrong, e.g. serde's ``invalid type: integer `3`, expected a string``.
        message: String,
        /// The deserialisation error, when the arguments failed to deserialise.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// The tool ran and failed; the message says why.
    #[error("tool failed: {0}")]
    Failed(String),

    /// The run was cancelled while the tool was running; the tool was stopped.
    #[error("the tool call was cancelled")]
    Cancelled,

    /// An HTTP request made by the tool failed: the server answered with an error status, or
    /// there was no usable answer at all (connection refused, invalid body).
    #[error("{}", HttpMessage { url, status: *status, body })]
    Http {
        /// The requested URL, without its query string.
        url: String,
        /// The response's status, or `None` when no response was received.
        status: Option<u16>,
        /// The start of the response body (at most a few hundred characters), or what went wrong
        /// when there was no response.
        body: String,
    },

    /// The tool, or a request it made, took longer than it is allowed to.
    #[error("{what} timed out after {}; try again later", Secs(*after))]
    Timeout {
        /// What timed out, e.g. `request to https://hacker-news.firebaseio.com/v0/topstories.json`.
        what: String,
        /// The time limit that was exceeded.
        after: Duration,
    },
}

impl ToolError {
    /// A [`ToolError::Failed`] with this message.
    pub fn failed(message: impl fmt::Display) -> Self {
        ToolError::Failed(message.to_string())
    }

    /// A [`ToolError::InvalidArguments`] for `tool` without a path or serde error, for checks a
    /// tool makes itself (a value out of range, say).
    pub fn invalid_arguments(tool: impl Into<String>, message: impl fmt::Display) -> Self {
        ToolError::InvalidArguments {
            tool: tool.into(),
            path: None,
            message: message.to_string(),
            source: None,
        }
    }

    /// A [`ToolError::InvalidArguments`] for `tool` about the field at `path`.
    pub fn invalid_argument_at(
        tool: impl Into<String>,
        path: impl Into<String>,
        message: impl fmt::Display,
    ) -> Self {
        ToolError::InvalidArguments {
            tool: tool.into(),
            path: Some(path.into()),
            message: message.to_string(),
            source: None,
        }
    }

    /// Whether trying the same call again later may succeed (timeouts, rate limits, server
    /// errors and failed connections), as opposed to errors that need other arguments.
    pub fn is_transient(&self) -> bool {
        match self {
            ToolError::Timeout { .. } => true,
            ToolError::Http { status: None, .. } => true,
            ToolError::Http {
                status: Some(status),
                ..
            } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

struct At<'a>(Option<&'a str>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) if !path.is_empty() && path != "." => write!(f, " at `{path}`"),
            _ => Ok(()),
        }
    }
}

struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_millis() == 0 && self.0.as_secs() > 0 {
            write!(f, "{}s", self.0.as_secs())
        } else if self.0 >= Duration::from_secs(1) {
            write!(f, "{:.1}s", self.0.as_secs_f64())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

struct HttpMessage<'a> {
    url: &'a str,
    status: Option<u16>,
    body: &'a str,
}

impl fmt::Display for HttpMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => {
                write!(
                    f,
                    "HTTP request to {} failed with status {status}",
                    self.url
                )?;
                if !self.body.is_empty() {
                    write!(f, ": {}", self.body)?;
                }
                match status {
                    429 => write!(f, " (rate limited; try again later)"),
                    404 => write!(f, " (not found; check the identifier)"),
                    s if s >= 500 => write!(f, " (server error; try again later)"),
                    _ => Ok(()),
                }
            }
            None => write!(f, "HTTP request to {} failed: {}", self.url, self.body),
        }
    }
}
