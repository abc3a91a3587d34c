//! Creating a run: the one path from a request to [`Engine::start`](kern_core::engine::Engine)
//! and its siblings, shared by every entry point (`POST /{kind}/{id}/runs` as a form or JSON,
//! the WebSocket's `start-workflow`).
//!
//! [`CreateRun`] is an axum extractor: it finds the component, reads the body, decodes the
//! fields, applies the server's default webhook URL, derives the idempotency key and checks
//! that the caller may add runs to the session, in that order, and rejects with one
//! [`CreateRunRejection`] variant per failure. The WebSocket builds the same value with
//! [`CreateRun::decode`] from its message. Whatever the entry point, the engine sees the same
//! [`RunRequest`] for the same fields, and the same idempotency hash.

use crate::access::kind_of;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::form::{BodyError, FieldError, Fields};
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use kern_core::engine::RunRequest;
use kern_core::store::{ComponentKind, Idempotency};
use kern_core::EngineError;
use serde_json::{json, Value};

/// A run to create, decoded and checked: what every entry point hands the engine.
#[derive(Debug)]
pub(crate) struct CreateRun {
    /// The component's kind.
    pub(crate) kind: ComponentKind,
    /// The component's id.
    pub(crate) component_id: String,
    /// Whether the answer is the run's event stream.
    pub(crate) stream: bool,
    /// Whether the run is queued for an executor (true) or driven by this request (false).
    pub(crate) background: bool,
    /// What the engine is asked to start.
    pub(crate) request: RunRequest,
}

/// Which entry point a run is created from: they read the same fields, with two
/// differences kept from AgentOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `POST /{kind}/{id}/runs`: `message` is required; `stream` (default true) and
    /// `background` (default false) choose the mode.
    Http,
    /// The WebSocket's `start-workflow`: `message` defaults to `""` (as AgentOS reads it), and
    /// the run is always background and streamed (`stream`/`background` are ignored).
    WebSocket,
}

/// Why a run could not be created. Each variant is one failure; [`ApiError::from`] gives its
/// status and stable code (the WebSocket sends the same code in its `error` frame).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateRunRejection {
    /// The path names no kind of component (`agents`, `teams`, `workflows`), or could not be
    /// decoded (404 `not_found`).
    #[error("Not found")]
    NoRoute,
    /// No component of this kind with this id is registered (404 `agent_not_found`,
    /// `team_not_found` or `workflow_not_found`).
    #[error("{kind} {id:?} not found")]
    UnknownComponent {
        /// The kind asked for.
        kind: ComponentKind,
        /// The id asked for.
        id: String,
    },
    /// The body could not be read or decoded (415, 413, 422 `malformed_body`, 408, 503).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A field is missing or malformed (422 `missing_field`, `invalid_field`,
    /// `invalid_json_field` or `session_id_too_long`).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// `webhook_url` is not an absolute `http(s)://` URL of at most 2,048 bytes (422
    /// `invalid_field`).
    #[error("invalid webhook_url: expected an absolute http:// or https:// URL")]
    WebhookUrl,
    /// The idempotency key (the `Idempotency-Key` header, or the WebSocket's
    /// `idempotency_key`) is not 1 to 255 characters of visible ASCII (422 `invalid_field`).
    #[error("invalid Idempotency-Key: {0}")]
    IdempotencyKey(&'static str),
    /// The session belongs to another user (404 `session_not_found`: as if it did not exist).
    #[error("Session not found")]
    ForeignSession,
    /// The session's owner could not be read (503 `database_unavailable`).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<CreateRunRejection> for ApiError {
    fn from(r: CreateRunRejection) -> Self {
        match r {
            CreateRunRejection::NoRoute => ApiError::RouteNotFound,
            CreateRunRejection::UnknownComponent { kind, id } => {
                ApiError::ComponentNotFound { kind, id }
            }
            CreateRunRejection::Body(e) => e.into(),
            CreateRunRejection::Field(e) => e.into(),
            CreateRunRejection::WebhookUrl => ApiError::InvalidField {
                field: "webhook_url".into(),
                reason: "expected an absolute http:// or https:// URL".into(),
            },
            CreateRunRejection::IdempotencyKey(reason) => ApiError::InvalidField {
                field: "Idempotency-Key".into(),
                reason: reason.into(),
            },
            CreateRunRejection::ForeignSession => ApiError::SessionNotFound,
            CreateRunRejection::Engine(e) => e.into(),
        }
    }
}

impl IntoResponse for CreateRunRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl FromRequest<AppState> for CreateRun {
    type Rejection = CreateRunRejection;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ApiPath((seg, id)) = ApiPath::<(String, String)>::from_request_parts(&mut parts, st)
            .await
            .map_err(|_| CreateRunRejection::NoRoute)?;
        let kind = kind_of(&seg).map_err(|_| CreateRunRejection::NoRoute)?;
        // The component first: an unknown one is 404 whatever the body holds.
        registered(st, kind, &id)?;
        let caller = match Caller::from_request_parts(&mut parts, st).await {
            Ok(c) => c,
            Err(never) => match never {},
        };
        let key = parts.headers.get("idempotency-key").cloned();
        let fields = Fields::from_request(Request::from_parts(parts, body), st.body_limit).await?;
        let key = key.as_ref().map(|k| k.as_bytes());
        Self::decode(st, &caller, Entry::Http, kind, &id, &fields, key).await
    }
}

impl CreateRun {
    /// Decodes and checks a run of component `id` from `fields`, for `caller`, with the
    /// idempotency key the client gave (if any, as sent). Fails on the first of: an unknown
    /// component, a bad field (in this order: `message`, `stream`, `background`,
    /// `session_id`, `user_id` (read only when the caller is not a JWT user, whose id it is),
    /// `session_state`, `dependencies`, `metadata`, `additional_data`, `webhook_url`), a bad
    /// key, another user's session.
    pub(crate) async fn decode(
        st: &AppState,
        caller: &Caller,
        entry: Entry,
        kind: ComponentKind,
        id: &str,
        fields: &Fields,
        key: Option<&[u8]>,
    ) -> Result<Self, CreateRunRejection> {
        registered(st, kind, id)?;
        let input = match (entry, fields.message()) {
            (Entry::WebSocket, Err(FieldError::Missing(_))) => json!(""),
            (_, input) => input?,
        };
        let (stream, background) = match entry {
            Entry::Http => (
                fields.bool("stream", true)?,
                fields.bool("background", false)?,
            ),
            Entry::WebSocket => (true, true),
        };
        let session_id = fields.session_id()?;
        // A JWT user's runs are theirs, whatever the request says.
        let user_id = match &caller.user_id {
            Some(me) => Some(me.clone()),
            None => fields.opt_string("user_id")?,
        };
        let session_state = fields.json("session_state", true)?;
        let dependencies = fields.json("dependencies", true)?;
        let metadata = fields.json("metadata", true)?;
        let additional_data = fields.json("additional_data", false)?;
        let webhook_url = match fields.opt_string("webhook_url")? {
            None => st.webhooks.default_url.clone(),
            Some(u) => Some(check_webhook_url(&u)?),
        };
        let mut run = CreateRun {
            kind,
            component_id: id.to_owned(),
            stream,
            background,
            request: RunRequest {
                input,
                session_id,
                user_id,
                additional_data,
                session_state,
                metadata,
                dependencies,
                webhook_url,
                ..Default::default()
            },
        };
        if let Some(key) = key {
            run.request.idempotency = Some(run.idempotency(caller, key)?);
        }
        check_session_owner(st, caller, run.request.session_id.as_deref()).await?;
        Ok(run)
    }

    /// The idempotency key scoped to the caller (users never share keys), with a hash of the
    /// normalised request: the component, the mode and every decoded field, so the same
    /// request in another encoding (form or JSON, fields in another order, or a WebSocket
    /// message) is the same request.
    fn idempotency(&self, caller: &Caller, key: &[u8]) -> Result<Idempotency, CreateRunRejection> {
        // What a header value's `to_str` accepts: visible ASCII, spaces and tabs.
        let key = std::str::from_utf8(key)
            .ok()
            .filter(|k| k.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .ok_or(CreateRunRejection::IdempotencyKey("not visible ASCII"))?
            .trim();
        if key.is_empty() || key.len() > 255 {
            return Err(CreateRunRejection::IdempotencyKey(
                "expected 1 to 255 characters",
            ));
        }
        let r = &self.request;
        let mut normalised = json!({
            "kind": self.kind.as_str(),
            "component_id": self.component_id,
            "stream": self.stream,
            "background": self.background,
            "input": r.input,
            "session_id": r.session_id,
            "user_id": r.user_id,
            "session_state": r.session_state,
            "metadata": r.metadata,
            "additional_data": r.additional_data,
            "webhook_url": r.webhook_url,
        });
        // Only when given, so that the hash of a request without dependencies is the one it
        // had before they were a field of their own (a retry across an upgrade still matches).
        if let (Some(d), Value::Object(m)) = (&r.dependencies, &mut normalised) {
            m.insert("dependencies".into(), d.clone());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical(&normalised).as_bytes());
        let scope = caller.user_id.as_deref().unwrap_or("");
        Ok(Idempotency {
            key: format!("{scope}\u{1f}{key}"),
            request_hash: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        })
    }
}

/// Refuses a component that is not registered.
fn registered(st: &AppState, kind: ComponentKind, id: &str) -> Result<(), CreateRunRejection> {
    match st.engine.component(kind, id) {
        Ok(_) => Ok(()),
        Err(_) => Err(CreateRunRejection::UnknownComponent {
            kind,
            id: id.to_owned(),
        }),
    }
}

/// A user may add runs only to their own sessions (or new ones); the operator and open
/// servers to any.
async fn check_session_owner(
    st: &AppState,
    caller: &Caller,
    session_id: Option<&str>,
) -> Result<(), CreateRunRejection> {
    let (Some(_), Some(sid)) = (&caller.user_id, session_id) else {
        return Ok(());
    };
    match st.engine.get_session(sid).await? {
        Some(s) if !caller.may_see(s.user_id.as_deref()) => Err(CreateRunRejection::ForeignSession),
        _ => Ok(()),
    }
}

/// A webhook URL must be an absolute `http(s)://` URL.
fn check_webhook_url(u: &str) -> Result<String, CreateRunRejection> {
    let t = u.trim();
    let ok = (t.starts_with("http://") || t.starts_with("https://"))
        && t.len() <= 2048
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        && t.split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if ok {
        Ok(t.to_owned())
    } else {
        Err(CreateRunRejection::WebhookUrl)
    }
}

/// JSON with object keys sorted at every level (a stable text for hashing).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}
