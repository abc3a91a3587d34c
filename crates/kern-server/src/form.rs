//! Request bodies: multipart, urlencoded or JSON, read into one list of fields.
//!
//! AgentOS routes take form fields (FastAPI `Form(...)`), so clients send
//! `multipart/form-data` or `application/x-www-form-urlencoded`; Kern also accepts a JSON
//! object. Whatever the encoding, a handler sees [`Fields`] and reads typed values from it
//! with the AgentOS coercions: the strings `"true"`/`"false"` are booleans, `"null"` is absent,
//! and JSON-valued fields (`session_state`, `metadata`, …) may come as JSON text.
//!
//! Failures are typed: [`BodyError`] when the body cannot be read or decoded, [`FieldError`]
//! when a field is missing or malformed; both convert into the [`ApiError`] (status and code)
//! the server answers with.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde_json::{Map, Value};

/// Why a request's body could not be read as fields. Each variant is one failure; its
/// [`ApiError`] gives the status and code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The content type is not multipart, urlencoded or JSON, or there is a body without one
    /// (415 `unsupported_media_type`; holds the media type as sent).
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// The body is larger than the server's limit (413 `payload_too_large`).
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not what its content type says, or a JSON body is not an object (422
    /// `malformed_body`).
    #[error("malformed request body: {0}")]
    Malformed(String),
    /// The body did not arrive whole within the body read timeout (408 `request_timeout`).
    #[error("{0}")]
    TimedOut(String),
    /// The server started shutting down while the body was arriving (503 `shutting_down`).
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A multipart field is a file upload, which no route takes yet (422 `invalid_field`).
    #[error("invalid {field}: file uploads are not supported yet")]
    FileUpload {
        /// The field's name.
        field: String,
    },
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::UnsupportedMediaType(m) => ApiError::UnsupportedMediaType(m),
            BodyError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            BodyError::Malformed(m) => ApiError::MalformedBody(m),
            BodyError::TimedOut(m) => ApiError::RequestTimeout(m),
            BodyError::ShuttingDown => ApiError::ShuttingDown,
            BodyError::FileUpload { field } => ApiError::InvalidField {
                field,
                reason: "file uploads are not supported yet".into(),
            },
        }
    }
}

/// Why a field could not be read. Each variant is one failure; its [`ApiError`] gives the
/// status (422) and code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FieldError {
    /// A required field is absent, empty or `null` (`missing_field`).
    #[error("field required: {0}")]
    Missing(&'static str),
    /// A field holds a value of the wrong form (`invalid_field`).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON-valued field does not hold the JSON it must (`invalid_json_field`).
    #[error("invalid {field}: expected {expected} (JSON): {reason}")]
    InvalidJson {
        /// The field.
        field: &'static str,
        /// What it must hold.
        expected: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A `session_id` longer than [`MAX_SESSION_ID_BYTES`] (`session_id_too_long`).
    #[error("session_id is too long: {len} bytes, at most {max} allowed")]
    SessionIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An event index that is neither `-1` nor a non-negative integer
    /// (`invalid_last_event_index`).
    #[error("invalid last_event_index: {0}")]
    EventIndex(String),
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Missing(f) => ApiError::MissingField(f),
            FieldError::Invalid { field, reason } => ApiError::InvalidField { field, reason },
            FieldError::InvalidJson {
                field,
                expected,
                reason,
            } => ApiError::InvalidJsonField {
                field,
                expected,
                reason,
            },
            FieldError::SessionIdTooLong { len, max } => ApiError::SessionIdTooLong { len, max },
            FieldError::EventIndex(m) => ApiError::InvalidLastEventIndex(m),
        }
    }
}

/// The longest `session_id` the server accepts, in bytes, wherever it comes from (a form or
/// JSON field, a query parameter, a path segment, a WebSocket message).
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// Refuses a `session_id` longer than [`MAX_SESSION_ID_BYTES`].
pub(crate) fn check_session_id(id: &str) -> Result<(), FieldError> {
    if id.len() > MAX_SESSION_ID_BYTES {
        return Err(FieldError::SessionIdTooLong {
            len: id.len(),
            max: MAX_SESSION_ID_BYTES,
        });
    }
    Ok(())
}

/// One field's value as it arrived.
#[derive(Clone, Debug)]
pub(crate) enum FieldValue {
    /// A form field (always text).
    Text(String),
    /// A JSON body's member.
    Json(Value),
}

/// The fields of a request body (a later field of the same name wins). Deserialises from a
/// JSON object as a JSON body is read (the WebSocket's messages).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(from = "Map<String, Value>")]
pub(crate) struct Fields {
    fields: Vec<(String, FieldValue)>,
}

/// The media type of a request without parameters, lower case (`""` when absent).
fn media_type(headers: &HeaderMap) -> Result<String, BodyError> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(String::new()),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| BodyError::UnsupportedMediaType("(not text)".into()))?;
            Ok(s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase())
        }
    }
}

/// Reads a body whole, refusing more than `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match crate::timeouts::BodyCut::of(&e) {
            Some(crate::timeouts::BodyCut::ShuttingDown) => BodyError::ShuttingDown,
            Some(cut) => BodyError::TimedOut(cut.to_string()),
            None => BodyError::Malformed(e.to_string()),
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

impl Fields {
    /// Reads and decodes a request's body.
    pub(crate) async fn from_request(req: Request, limit: usize) -> Result<Self, BodyError> {
        let (parts, body) = req.into_parts();
        let media = media_type(&parts.headers)?;
        if let Some(len) = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit as u64 {
                return Err(BodyError::TooLarge { limit });
            }
        }
        let known = media.is_empty()
            || media == "application/json"
            || (media.starts_with("application/") && media.ends_with("+json"))
            || media == "application/x-www-form-urlencoded"
            || media == "multipart/form-data";
        if !known {
            return Err(BodyError::UnsupportedMediaType(media));
        }
        let bytes = read_body(body, limit).await?;
        if media.is_empty() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self::default());
            }
            return Err(BodyError::UnsupportedMediaType("(none)".into()));
        }
        if media == "application/x-www-form-urlencoded" {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| BodyError::Malformed(e.to_string()))?;
            return Ok(Self {
                fields: pairs
                    .into_iter()
                    .map(|(k, v)| (k, FieldValue::Text(v)))
                    .collect(),
            });
        }
        if media == "multipart/form-data" {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .ok_or_else(|| BodyError::Malformed("no content type".into()))?;
            let rebuilt = Request::builder()
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(bytes))
                .map_err(|e| BodyError::Malformed(e.to_string()))?;
            let mut multipart = Multipart::from_request(rebuilt, &())
                .await
                .map_err(|e| BodyError::Malformed(e.body_text()))?;
            let mut fields = Vec::new();
            loop {
                let field = match multipart.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => return Err(BodyError::Malformed(e.body_text())),
                };
                let name = field.name().unwrap_or("").to_owned();
                if field.file_name().is_some() {
                    return Err(BodyError::FileUpload { field: name });
                }
                let text = field
                    .text()
                    .await
                    .map_err(|e| BodyError::Malformed(e.body_text()))?;
                fields.push((name, FieldValue::Text(text)));
            }
            return Ok(Self { fields });
        }
        // JSON
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| BodyError::Malformed(format!("invalid JSON: {e}")))?;
        match value {
            Value::Object(map) => Ok(Self::from(map)),
            _ => Err(BodyError::Malformed(
                "a JSON body must be an object of fields".into(),
            )),
        }
    }

    fn get(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A text field; `""`, `"null"` and `"none"` (any case) and JSON `null` are absent.
    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<String>, FieldError> {
        match self.get(name) {
            None | Some(FieldValue::Json(Value::Null)) => Ok(None),
            Some(FieldValue::Text(s)) => {
                let t = s.trim();
                if t.is_empty() || t.eq_ignore_ascii_case("null") || t.eq_ignore_ascii_case("none")
                {
                    Ok(None)
                } else {
                    Ok(Some(s.clone()))
                }
            }
            Some(FieldValue::Json(Value::Number(n))) => Ok(Some(n.to_string())),
            Some(FieldValue::Json(_)) => Err(FieldError::Invalid {
                field: name.into(),
                reason: "expected a string".into(),
            }),
        }
    }

    /// The `session_id` field (absent like any text field), at most
    /// [`MAX_SESSION_ID_BYTES`] long.
    pub(crate) fn session_id(&self) -> Result<Option<String>, FieldError> {
        let id = self.opt_string("session_id")?;
        if let Some(id) = &id {
            check_session_id(id)?;
        }
        Ok(id)
    }

    /// A boolean field: `true/false`, `1/0`, `yes/no`, `on/off` (any case); absent, empty or
    /// `null` gives `default`.
    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, FieldError> {
        let bad = || FieldError::Invalid {
            field: name.into(),
            reason: "expected true or false".into(),
        };
        match self.get(name) {
            None | Some(FieldValue::Json(Value::Null)) => Ok(default),
            Some(FieldValue::Json(Value::Bool(b))) => Ok(*b),
            Some(FieldValue::Json(_)) => Err(bad()),
            Some(FieldValue::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "" | "null" | "none" => Ok(default),
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(bad()),
            },
        }
    }

    /// A field holding JSON (as JSON text in a form, or a JSON value in a JSON body). With
    /// `object`, only an object is accepted. Absent, empty or `null` is `None`.
    pub(crate) fn json(
        &self,
        name: &'static str,
        object: bool,
    ) -> Result<Option<Value>, FieldError> {
        let expected = if object { "an object" } else { "a JSON value" };
        let value = match self.get(name) {
            None | Some(FieldValue::Json(Value::Null)) => return Ok(None),
            Some(FieldValue::Json(v)) => v.clone(),
            Some(FieldValue::Text(s)) => {
                let t = s.trim();
                if t.is_empty() || t.eq_ignore_ascii_case("none") {
                    return Ok(None);
                }
                serde_json::from_str(t).map_err(|e| FieldError::InvalidJson {
                    field: name,
                    expected,
                    reason: e.to_string(),
                })?
            }
        };
        match value {
            Value::Null => Ok(None),
            Value::Object(_) => Ok(Some(value)),
            _ if object => Err(FieldError::InvalidJson {
                field: name,
                expected,
                reason: "not an object".into(),
            }),
            v => Ok(Some(v)),
        }
    }

    /// The run's input: `message`, required and non-empty. A JSON body may give any JSON value.
    pub(crate) fn message(&self) -> Result<Value, FieldError> {
        match self.get("message") {
            None | Some(FieldValue::Json(Value::Null)) => Err(FieldError::Missing("message")),
            Some(FieldValue::Text(s)) if s.trim().is_empty() => Err(FieldError::Missing("message")),
            Some(FieldValue::Text(s)) => Ok(Value::String(s.clone())),
            Some(FieldValue::Json(v)) => Ok(v.clone()),
        }
    }

    /// An event index field: a non-negative integer, or `-1`/absent/`null` for "none".
    pub(crate) fn event_index(&self, name: &str) -> Result<Option<Option<u64>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(FieldValue::Json(v)) => json_index(v).map(Some),
            Some(FieldValue::Text(s)) => {
                let t = s.trim();
                if t.is_empty() || t.eq_ignore_ascii_case("null") || t.eq_ignore_ascii_case("none")
                {
                    Ok(Some(None))
                } else {
                    parse_index(t).map(Some)
                }
            }
        }
    }
}

impl From<Map<String, Value>> for Fields {
    /// The fields of a JSON object, read as a JSON body is: string members are text (so
    /// `"true"` and JSON text coerce as in a form), other members JSON values.
    fn from(map: Map<String, Value>) -> Self {
        Self {
            fields: map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, FieldValue::Text(s)),
                    v => (k, FieldValue::Json(v)),
                })
                .collect(),
        }
    }
}

/// Parses an event index: `N >= 0`, or `-1` for "none seen".
pub(crate) fn parse_index(s: &str) -> Result<Option<u64>, FieldError> {
    match s.trim().parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n >= 0 => Ok(Some(n as u64)),
        Ok(n) => Err(FieldError::EventIndex(format!(
            "{n} is negative (use -1 or leave it out to start from the first event)"
        ))),
        Err(_) => Err(FieldError::EventIndex(format!("{s:?} is not an integer"))),
    }
}

/// An event index given as a JSON value: `null` (none seen), a number, or a string holding
/// one (as some clients send it); see [`parse_index`].
pub(crate) fn json_index(v: &Value) -> Result<Option<u64>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => parse_index(&n.to_string()),
        Value::String(s) => parse_index(s),
        v => Err(FieldError::EventIndex(format!(
            "expected an integer, got {v}"
        ))),
    }
}
