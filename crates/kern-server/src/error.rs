//! The server's one error type and its HTTP mapping.
//!
//! Every error leaves the server as JSON: `{"detail": "…", "code": "…"}`. AgentOS clients read
//! `detail` (a human-readable message); `code` is Kern's stable, snake_case addition for
//! programs to branch on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kern_core::store::{ComponentKind, StoreError};
use kern_core::EngineError;

/// Why a request failed. Each variant has an HTTP status and a stable `code`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No component of this kind with this id is registered (404, `agent_not_found`,
    /// `team_not_found` or `workflow_not_found`).
    #[error("{} not found", capitalised(.kind.as_str()))]
    ComponentNotFound {
        /// The kind asked for.
        kind: ComponentKind,
        /// The id asked for.
        id: String,
    },
    /// No run with this id (for this component, in this session) exists (404, `run_not_found`).
    #[error("Run not found")]
    RunNotFound,
    /// No session with this id exists (404, `session_not_found`).
    #[error("Session not found")]
    SessionNotFound,
    /// No route matches the path (404, `not_found`).
    #[error("Not found")]
    RouteNotFound,
    /// The route exists but not for this method (405, `method_not_allowed`).
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// A required field is missing (422, `missing_field`).
    #[error("field required: {0}")]
    MissingField(&'static str),
    /// A field has a value of the wrong form (422, `invalid_field`).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field that must hold a JSON document does not (422, `invalid_json_field`).
    #[error("invalid {field}: expected {expected} (JSON): {reason}")]
    InvalidJsonField {
        /// The field.
        field: &'static str,
        /// What it must hold.
        expected: &'static str,
        /// The parse error.
        reason: String,
    },
    /// `last_event_index` (or `Last-Event-ID`) is not an index of the run's log (422,
    /// `invalid_last_event_index`).
    #[error("invalid last_event_index: {0}")]
    InvalidLastEventIndex(String),
    /// The request's body did not arrive whole within the server's body read timeout (408,
    /// `request_timeout`; the connection is closed).
    #[error("{0}")]
    RequestTimeout(String),
    /// A `session_id` (form or JSON field, query parameter or path segment) is longer than
    /// [`MAX_SESSION_ID_BYTES`](crate::MAX_SESSION_ID_BYTES) (422, `session_id_too_long`).
    #[error("session_id is too long: {len} bytes, at most {max} allowed")]
    SessionIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body could not be read as its content type says (422, `malformed_body`).
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    /// The body's content type is not one the route accepts (415, `unsupported_media_type`).
    #[error("unsupported media type {0:?}: send multipart/form-data, application/x-www-form-urlencoded or application/json")]
    UnsupportedMediaType(String),
    /// The body is larger than the configured limit (413, `payload_too_large`).
    #[error("request body larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Background runs need a durable database (400, `background_requires_database`).
    #[error("Background execution requires a database to be configured on the {0}")]
    NoDatabase(ComponentKind),
    /// The request is well-formed but not allowed in this state (400, `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// The session still has runs going (409, `session_has_active_runs`).
    #[error("the session has runs still going; cancel them or wait for them to finish")]
    SessionBusy,
    /// The `Idempotency-Key` was already used with a different request (409,
    /// `idempotency_conflict`).
    #[error("the Idempotency-Key was already used with a different request; use a new key")]
    IdempotencyConflict(String),
    /// The request conflicts with an existing resource (409, `conflict`).
    #[error("{0}")]
    Conflict(String),
    /// Only a paused run can be continued, and this one is not (409, `run_not_paused`): it
    /// was never paused, it ended, or another continue of the same pause came first.
    #[error("{0}")]
    NotPaused(String),
    /// Only a failed or cancelled top-level run can be requeued, and this one is not (409,
    /// `run_not_requeueable`).
    #[error("{0}")]
    NotRequeueable(String),
    /// The queue is full (429, `queue_full`): a background start found as many pending runs
    /// as the server's limit (`--max-pending`, `--max-pending-per-component`). The response
    /// carries `Retry-After` (seconds).
    #[error("{detail}")]
    QueueFull {
        /// What happened, for people.
        detail: String,
        /// When to try again, in whole seconds (at least 1).
        retry_after_secs: u64,
    },
    /// The route needs the operator: a JWT caller without the admin scope (403, `forbidden`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Credentials are missing or wrong (401, `unauthorized`).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The feature needs something this build or store does not have yet (501,
    /// `not_implemented`).
    #[error("{0}")]
    NotImplemented(String),
    /// The server is shutting down and takes no new runs (503, `shutting_down`).
    #[error("the server is shutting down and takes no new runs")]
    ShuttingDown,
    /// The database failed (503, `database_unavailable`).
    #[error("database unavailable: {0}")]
    Database(String),
    /// A bug: something that should not happen (500, `internal_error`).
    #[error("internal error: {0}")]
    Internal(String),
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            ComponentNotFound { .. } | RunNotFound | SessionNotFound | RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            MissingField(_)
            | InvalidField { .. }
            | InvalidJsonField { .. }
            | InvalidLastEventIndex(_)
            | SessionIdTooLong { .. }
            | MalformedBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            NoDatabase(_) | BadRequest(_) => StatusCode::BAD_REQUEST,
            SessionBusy
            | Conflict(_)
            | NotPaused(_)
            | NotRequeueable(_)
            | IdempotencyConflict(_) => StatusCode::CONFLICT,
            QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            Forbidden(_) => StatusCode::FORBIDDEN,
            Unauthorized(_) => StatusCode::UNAUTHORIZED,
            NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ShuttingDown | Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            ComponentNotFound { kind, .. } => match kind {
                ComponentKind::Agent => "agent_not_found",
                ComponentKind::Team => "team_not_found",
                ComponentKind::Workflow => "workflow_not_found",
            },
            RunNotFound => "run_not_found",
            SessionNotFound => "session_not_found",
            RouteNotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            MissingField(_) => "missing_field",
            InvalidField { .. } => "invalid_field",
            InvalidJsonField { .. } => "invalid_json_field",
            InvalidLastEventIndex(_) => "invalid_last_event_index",
            MalformedBody(_) => "malformed_body",
            RequestTimeout(_) => "request_timeout",
            SessionIdTooLong { .. } => "session_id_too_long",
            UnsupportedMediaType(_) => "unsupported_media_type",
            PayloadTooLarge { .. } => "payload_too_large",
            NoDatabase(_) => "background_requires_database",
            BadRequest(_) => "bad_request",
            SessionBusy => "session_has_active_runs",
            Conflict(_) => "conflict",
            NotPaused(_) => "run_not_paused",
            NotRequeueable(_) => "run_not_requeueable",
            QueueFull { .. } => "queue_full",
            Forbidden(_) => "forbidden",
            IdempotencyConflict(_) => "idempotency_conflict",
            Unauthorized(_) => "unauthorized",
            NotImplemented(_) => "not_implemented",
            ShuttingDown => "shutting_down",
            Database(_) => "database_unavailable",
            Internal(_) => "internal_error",
        }
    }

    /// The JSON body: `{"detail", "code"}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "detail": self.to_string(), "code": self.code() })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        let mut resp = (status, axum::Json(self.body())).into_response();
        match self {
            ApiError::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // The client is too slow, or the server is going away: do not keep the connection.
            // Nor after a body over the limit: the rest of it is never read, so the connection
            // cannot carry another request, and a client that did not hear so would send its
            // next request on a connection being closed (and fail).
            ApiError::RequestTimeout(_)
            | ApiError::ShuttingDown
            | ApiError::PayloadTooLarge { .. } => {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::QueueFull {
                retry_after_secs, ..
            } => {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
            }
            _ => {}
        }
        resp
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NoDatabase(kind) => ApiError::NoDatabase(kind),
            EngineError::RunNotFound(_) | EngineError::WrongComponent { .. } => {
                ApiError::RunNotFound
            }
            EngineError::UnknownComponent { kind, id } => ApiError::ComponentNotFound { kind, id },
            EngineError::DuplicateRun(id) => {
                ApiError::Conflict(format!("a run with id {id} already exists"))
            }
            EngineError::ShuttingDown => ApiError::ShuttingDown,
            e @ EngineError::NotPaused { .. } => ApiError::NotPaused(e.to_string()),
            e @ EngineError::NotRequeueable { .. } => ApiError::NotRequeueable(e.to_string()),
            EngineError::QueueFull {
                scope,
                pending,
                limit,
                retry_after,
            } => {
                // Whole seconds, rounded up: never earlier than the estimate.
                let secs = retry_after.as_millis().div_ceil(1000).max(1) as u64;
                ApiError::QueueFull {
                    detail: format!(
                        "Job queue is full: {pending} runs are pending for {scope} (limit {limit}); retry after {secs} s"
                    ),
                    retry_after_secs: secs,
                }
            }
            EngineError::IdempotencyConflict { key } => ApiError::IdempotencyConflict(key),
            EngineError::Store(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RunNotFound(_) => ApiError::RunNotFound,
            StoreError::SessionNotFound(_) => ApiError::SessionNotFound,
            StoreError::SessionBusy(_) => ApiError::SessionBusy,
            StoreError::IdempotencyConflict { key } => ApiError::IdempotencyConflict(key),
            StoreError::DuplicateRun(id) => {
                ApiError::Conflict(format!("a run with id {id} already exists"))
            }
            other => ApiError::Database(other.to_string()),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
