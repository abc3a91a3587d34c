//! [`ModelError`]: everything that can go wrong calling a model.

use std::time::Duration;

/// An error from a model call, a stream, or building a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The provider needs an API key and its environment variable is unset (or empty).
    /// Returned when building the model, before any request.
    #[error("missing API key for {provider}: set {env_var}")]
    MissingApiKey {
        /// The provider (`"openai"`, `"anthropic"`, …).
        provider: String,
        /// The environment variable(s) looked at.
        env_var: String,
    },

    /// A model spec names a provider this crate does not know.
    #[error("unknown model provider {0:?} (expected openai, openai-responses, anthropic, gemini, ollama or openai-compatible)")]
    UnknownProvider(String),

    /// A model spec is malformed (no model name, no base URL, …). Carries an explanation.
    #[error("unknown model: {0}")]
    UnknownModel(String),

    /// The request cannot be expressed in the provider's format (for example tool-call
    /// arguments that are not a JSON object, for a provider that needs one). Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The provider refused the credentials (HTTP 401 or 403). Never retried.
    #[error("unauthorized ({status}): {message}")]
    Unauthorized {
        /// The HTTP status (401 or 403).
        status: u16,
        /// The provider's error message, from its JSON error body.
        message: String,
    },

    /// The provider rate-limited us (HTTP 429) on every attempt.
    #[error("rate limited: {message}")]
    RateLimited {
        /// The provider's last `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// The provider's error message.
        message: String,
    },

    /// The provider failed (HTTP 5xx, or an overload error inside a stream) on every attempt.
    #[error("provider server error ({status}): {message}")]
    Server {
        /// The HTTP status (for an error reported inside a stream: 500, or 529 for overload).
        status: u16,
        /// The provider's error message.
        message: String,
    },

    /// The provider rejected the request (another 4xx: unknown model, invalid schema,
    /// context too long, …). Never retried.
    #[error("bad request ({status}): {message}")]
    BadRequest {
        /// The HTTP status.
        status: u16,
        /// The provider's error message.
        message: String,
    },

    /// The provider reported an error inside a stream that had already started (a `response.failed`
    /// or `error` event). Not retried: deltas may already have been handed out.
    #[error("provider error: {0}")]
    Provider(String),

    /// A timeout expired: connecting, waiting for the response, the idle gap between two
    /// stream chunks, or the overall request deadline. Carries which one.
    #[error("timeout: {0}")]
    Timeout(String),

    /// The connection could not be made or failed before a response arrived.
    #[error("connection error: {0}")]
    Connection(String),

    /// A stream chunk (or a non-streamed body) did not parse as the provider's format. The
    /// stream ends with this error; nothing panics.
    #[error("malformed stream: {0}")]
    MalformedStream(String),

    /// The connection closed (or broke) before the provider's terminal chunk: the response is
    /// incomplete.
    #[error("stream dropped before the terminal chunk")]
    StreamDropped,
}

impl ModelError {
    /// Whether sending the same request again may succeed: rate limits, server errors,
    /// timeouts, connection failures and dropped streams. Clients retry these themselves
    /// before a stream starts; a caller may retry a whole turn after a stream failed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited { .. }
                | ModelError::Server { .. }
                | ModelError::Timeout(_)
                | ModelError::Connection(_)
                | ModelError::StreamDropped
        )
    }
}
