//! The routes: components (`/agents`, `/teams`, `/workflows`: one set of handlers,
//! parametrised by kind), runs, sessions, and the system routes.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::form::{check_session_id, parse_index, Fields};
use crate::stream::{event_frames, resume_frames, Frame, SseBody};
use crate::wire::{self, kind_from_plural, wire_status};
use crate::{openapi, ws, AppState};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use kern_core::engine::{CancelOutcome, Component, RunRequest};
use kern_core::store::{
    ComponentKind, RunFilter, RunId, RunRecord, RunStatus, SessionFilter, SessionSort,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Every route of the server (without the authentication and panic layers).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(crate::metrics::handler))
        .route("/config", get(config))
        .route("/openapi.json", get(openapi_doc))
        .route("/workflows/ws", get(ws::handler))
        .route("/sessions", get(list_sessions))
        .route(
            "/sessions/{session_id}",
            get(get_session).delete(delete_session),
        )
        .route("/sessions/{session_id}/runs", get(session_runs))
        .route("/sessions/{session_id}/runs/{run_id}", get(session_run))
        .route("/sessions/{session_id}/rename", post(rename_session))
        .route("/queue/stats", get(crate::queue::stats))
        .route("/queue/jobs", get(crate::queue::list_jobs))
        .route("/queue/jobs/{run_id}", get(crate::queue::get_job))
        .route(
            "/queue/jobs/{run_id}/requeue",
            post(crate::queue::requeue_job),
        )
        .route("/{kind}", get(list_components))
        .route("/{kind}/{id}", get(get_component))
        .route("/{kind}/{id}/runs", get(list_runs).post(create_run))
        .route("/{kind}/{id}/runs/{run_id}", get(get_run))
        .route("/{kind}/{id}/runs/{run_id}/cancel", post(cancel_run))
        .route(
            "/{kind}/{id}/runs/{run_id}/resume",
            post(resume_run).get(resume_run),
        )
        .route(
            "/{kind}/{id}/runs/{run_id}/continue",
            post(crate::continue_run::continue_run),
        )
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Extractors whose rejections are JSON errors.

/// `Path` with a JSON 404 rejection.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| ApiPath(t))
            .map_err(|_| ApiError::RouteNotFound)
    }
}

/// `Query` with a JSON 422 rejection.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(t)| ApiQuery(t))
            .map_err(|e| ApiError::InvalidField {
                field: "query".into(),
                reason: e.body_text(),
            })
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// System routes.

async fn health(State(st): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "instantiated_at": wire::rfc3339(st.instantiated_at),
    }))
}

fn db_id(st: &AppState) -> &'static str {
    st.engine.store().backend()
}

fn summaries(st: &AppState, kind: ComponentKind) -> Vec<Value> {
    st.engine
        .components(kind)
        .iter()
        .map(|c| wire::component_summary(&**c, db_id(st)))
        .collect()
}

async fn config(State(st): State<AppState>) -> Json<Value> {
    let db = db_id(&st);
    let mut models: Vec<Value> = Vec::new();
    for kind in [ComponentKind::Agent, ComponentKind::Team] {
        for c in st.engine.components(kind) {
            if let Some(m) = c.info().get("model") {
                if !models.contains(m) {
                    models.push(m.clone());
                }
            }
        }
    }
    Json(json!({
        "os_id": st.os_id,
        "name": st.name,
        "description": st.description,
        "available_models": models,
        "os_database": db,
        "databases": [db],
        "agents": summaries(&st, ComponentKind::Agent),
        "teams": summaries(&st, ComponentKind::Team),
        "workflows": summaries(&st, ComponentKind::Workflow),
        "interfaces": [],
        "company": null,
        "queue": { "durable": st.engine.store().is_durable(), "queue_per_session": false },
        "auth_mode": st.auth.mode(),
        "kern": {
            "version": env!("CARGO_PKG_VERSION"),
            "backend": db,
            "durable": st.engine.store().is_durable(),
        },
    }))
}

async fn openapi_doc() -> Json<Value> {
    Json(openapi::document())
}

// ---------------------------------------------------------------------------------------------
// Components.

fn kind_of(seg: &str) -> ApiResult<ComponentKind> {
    kind_from_plural(seg).ok_or(ApiError::RouteNotFound)
}

pub(crate) fn component(st: &AppState, seg: &str, id: &str) -> ApiResult<Arc<dyn Component>> {
    let kind = kind_of(seg)?;
    st.engine
        .component(kind, id)
        .map_err(|_| ApiError::ComponentNotFound {
            kind,
            id: id.to_owned(),
        })
}

async fn list_components(
    State(st): State<AppState>,
    ApiPath(seg): ApiPath<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let kind = kind_of(&seg)?;
    Ok(Json(summaries(&st, kind)))
}

async fn get_component(
    State(st): State<AppState>,
    ApiPath((seg, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let c = component(&st, &seg, &id)?;
    Ok(Json(wire::component_detail(&*c, db_id(&st))))
}

/// The run-creation form, decoded.
pub(crate) struct CreateRun {
    pub(crate) stream: bool,
    pub(crate) background: bool,
    pub(crate) request: RunRequest,
}

pub(crate) fn create_run_form(fields: &Fields, caller: &Caller) -> ApiResult<CreateRun> {
    let input = fields.message()?;
    let stream = fields.bool("stream", true)?;
    let background = fields.bool("background", false)?;
    let session_id = fields.session_id()?;
    let user_id = caller
        .user_id
        .clone()
        .map(Some)
        .map_or_else(|| fields.opt_string("user_id"), Ok)?;
    let session_state = fields.json("session_state", true)?;
    let dependencies = fields.json("dependencies", true)?;
    let mut metadata = fields.json("metadata", true)?;
    let additional_data = fields.json("additional_data", false)?;
    let webhook_url = match fields.opt_string("webhook_url")? {
        None => None,
        Some(u) => Some(check_webhook_url(&u)?),
    };
    if let Some(deps) = dependencies {
        // The engine has no field for dependencies yet: they ride in the metadata.
        if let Value::Object(m) = metadata.get_or_insert_with(|| json!({})) {
            m.insert("dependencies".into(), deps);
        }
    }
    Ok(CreateRun {
        stream,
        background,
        request: RunRequest {
            input,
            session_id,
            user_id,
            additional_data,
            session_state,
            metadata,
            webhook_url,
            ..Default::default()
        },
    })
}

/// A webhook URL must be an absolute `http(s)://` URL.
pub(crate) fn check_webhook_url(u: &str) -> ApiResult<String> {
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
        Err(ApiError::InvalidField {
            field: "webhook_url".into(),
            reason: "expected an absolute http:// or https:// URL".into(),
        })
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

/// The `Idempotency-Key` header, scoped to the caller (users never share keys), with a hash
/// of the normalised request: the component and every decoded field, so the same request in
/// another encoding (form or JSON, fields in another order) is the same request.
fn idempotency(
    headers: &axum::http::HeaderMap,
    caller: &Caller,
    kind: ComponentKind,
    id: &str,
    form: &CreateRun,
) -> ApiResult<Option<kern_core::store::Idempotency>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |reason: &str| ApiError::InvalidField {
        field: "Idempotency-Key".into(),
        reason: reason.into(),
    };
    let key = v.to_str().map_err(|_| bad("not visible ASCII"))?.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(bad("expected 1 to 255 characters"));
    }
    let r = &form.request;
    let normalised = json!({
        "kind": kind.as_str(),
        "component_id": id,
        "stream": form.stream,
        "background": form.background,
        "input": r.input,
        "session_id": r.session_id,
        "user_id": r.user_id,
        "session_state": r.session_state,
        "metadata": r.metadata,
        "additional_data": r.additional_data,
        "webhook_url": r.webhook_url,
    });
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical(&normalised).as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let scope = caller.user_id.as_deref().unwrap_or("");
    Ok(Some(kern_core::store::Idempotency {
        key: format!("{scope}\u{1f}{key}"),
        request_hash: hash,
    }))
}

async fn create_run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((seg, id)): ApiPath<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let c = component(&st, &seg, &id)?;
    let kind = c.kind();
    let headers = req.headers().clone();
    let fields = Fields::from_request(req, st.body_limit).await?;
    let mut form = create_run_form(&fields, &caller)?;
    if form.request.webhook_url.is_none() {
        form.request.webhook_url = st.webhooks.default_url.clone();
    }
    form.request.idempotency = idempotency(&headers, &caller, kind, &id, &form)?;
    check_session_owner(&st, &caller, form.request.session_id.as_deref()).await?;
    let engine = &st.engine;
    match (form.background, form.stream) {
        (true, false) => {
            let run = engine.start(kind, &id, form.request).await?;
            Ok((
                StatusCode::ACCEPTED,
                // A replay (same Idempotency-Key and request) answers exactly as the first time.
                Json(json!({
                    "run_id": run.run_id.to_string(),
                    "session_id": run.session_id,
                    "status": wire_status(RunStatus::Pending),
                })),
            )
                .into_response())
        }
        (true, true) => {
            let (_run, events) = engine.start_stream(kind, &id, form.request).await?;
            Ok(SseBody::new(
                event_frames(events),
                st.keep_alive,
                &st.streams_closed,
                None,
            )
            .into_response())
        }
        (false, true) => {
            let run = engine.run_stream(kind, &id, form.request).await?;
            // The stream of stored events (passed through as stored); `run` is held by the
            // body and cancels the run when the body is dropped before the end.
            let events = engine.subscribe(run.run_id(), None).await?;
            Ok(SseBody::new(
                event_frames(events),
                st.keep_alive,
                &st.streams_closed,
                Some(run),
            )
            .into_response())
        }
        (false, false) => {
            let run = engine.run(kind, &id, form.request).await?;
            run_response(&st, &run).await
        }
    }
}

/// A user may add runs only to their own sessions (or new ones): another's session answers
/// 404, as if it did not exist.
pub(crate) async fn check_session_owner(
    st: &AppState,
    caller: &Caller,
    session_id: Option<&str>,
) -> ApiResult<()> {
    let (Some(_), Some(sid)) = (&caller.user_id, session_id) else {
        return Ok(());
    };
    match st.engine.store().get_session(sid).await? {
        Some(s) if !caller.may_see(s.user_id.as_deref()) => Err(ApiError::SessionNotFound),
        _ => Ok(()),
    }
}

/// The webhook deliveries of a run created with a webhook URL.
async fn deliveries(st: &AppState, run: &RunRecord) -> ApiResult<Option<Vec<Value>>> {
    Ok(wire::webhook_deliveries(&st.engine, run).await?)
}

pub(crate) async fn run_response(st: &AppState, run: &RunRecord) -> ApiResult<Response> {
    let body = wire::run_document(&st.engine, run).await?;
    Ok(json_response(StatusCode::OK, body))
}

/// A run listing: each run capped (see `listing`), with its events only when asked for.
async fn runs_response(
    st: &AppState,
    runs: &[RunRecord],
    include_events: bool,
) -> ApiResult<Response> {
    let mut body = String::from("[");
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let events = match include_events {
            true => Some(wire::read_all_events(&st.engine, run.run_id).await?),
            false => None,
        };
        let name = wire::component_name(&st.engine, run);
        let hooks = deliveries(st, run).await?;
        body.push_str(&crate::listing::listed_run_json(
            run,
            name.as_deref(),
            events.as_deref(),
            hooks,
        ));
    }
    body.push(']');
    Ok(json_response(StatusCode::OK, body))
}

/// A boolean query parameter (`true/false`, `1/0`, `yes/no`, `on/off`; absent or empty:
/// `default`).
fn query_flag(value: Option<&str>, name: &str, default: bool) -> ApiResult<bool> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(_) => Err(ApiError::InvalidField {
            field: name.into(),
            reason: "expected true or false".into(),
        }),
    }
}

fn parse_run_id(s: &str) -> ApiResult<RunId> {
    RunId::parse_str(s.trim()).map_err(|_| ApiError::RunNotFound)
}

/// The run, if it exists, belongs to this component (and session, when given) and the caller
/// may see it.
pub(crate) async fn find_run(
    st: &AppState,
    caller: &Caller,
    kind: ComponentKind,
    id: &str,
    run_id: &str,
    session_id: Option<&str>,
) -> ApiResult<Option<RunRecord>> {
    let Ok(run_id) = parse_run_id(run_id) else {
        return Ok(None);
    };
    let run = st.engine.get_run(run_id).await?;
    Ok(run.filter(|r| {
        r.kind == kind
            && r.component_id == id
            && session_id.is_none_or(|s| s == r.session_id)
            && caller.may_see(r.user_id.as_deref())
    }))
}

#[derive(Deserialize, Default)]
struct GetRunQuery {
    session_id: Option<String>,
}

async fn get_run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((seg, id, run_id)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<GetRunQuery>,
) -> ApiResult<Response> {
    let c = component(&st, &seg, &id)?;
    let session = q.session_id.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = session {
        check_session_id(s)?;
    }
    let run = find_run(&st, &caller, c.kind(), &id, &run_id, session)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    run_response(&st, &run).await
}

#[derive(Deserialize, Default)]
struct ListRunsQuery {
    session_id: Option<String>,
    status: Option<String>,
    user_id: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    /// Whether each listed run carries its events (default false).
    include_events: Option<String>,
}

/// The `user_id` filter of a listing: a user lists only their own (asking for another's gives
/// `None`: nothing); the operator lists what they ask for.
fn scoped_user(caller: &Caller, asked: Option<String>) -> Option<Option<String>> {
    let asked = asked.filter(|s| !s.is_empty());
    match (&caller.user_id, asked) {
        (None, asked) => Some(asked),
        (Some(me), Some(a)) if a != *me => None,
        (Some(me), _) => Some(Some(me.clone())),
    }
}

fn parse_status(s: Option<&str>) -> ApiResult<Option<RunStatus>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| ApiError::InvalidField {
            field: "status".into(),
            reason: format!(
                "unknown status {s:?} (PENDING, RUNNING, COMPLETED, ERROR, CANCELLED, PAUSED)"
            ),
        }),
    }
}

async fn list_runs(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((seg, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ListRunsQuery>,
) -> ApiResult<Response> {
    let c = component(&st, &seg, &id)?;
    let include_events = query_flag(q.include_events.as_deref(), "include_events", false)?;
    if let Some(s) = &q.session_id {
        check_session_id(s)?;
    }
    let Some(user_id) = scoped_user(&caller, q.user_id) else {
        return runs_response(&st, &[], include_events).await;
    };
    let filter = RunFilter {
        session_id: q.session_id.filter(|s| !s.is_empty()),
        status: parse_status(q.status.as_deref())?,
        kind: Some(c.kind()),
        component_id: Some(id),
        user_id,
        limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
        offset: q.offset,
        ..Default::default()
    };
    let runs = st.engine.list_runs(&filter).await?;
    runs_response(&st, &runs, include_events).await
}

async fn cancel_run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((seg, id, run_id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let c = component(&st, &seg, &id)?;
    let run = find_run(&st, &caller, c.kind(), &id, &run_id, None)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    let run_id = run.run_id.to_string();
    let body = match st.engine.cancel_run(run.run_id).await? {
        CancelOutcome::Cancelled => json!({
            "run_id": run_id,
            "cancelled": true,
            "status": "CANCELLED",
            "message": "Run cancelled before it started.",
        }),
        CancelOutcome::Requested => json!({
            "run_id": run_id,
            "cancelled": true,
            "status": "RUNNING",
            "cancel_requested": true,
            "message": "Cancel requested; the run is stopping.",
        }),
        CancelOutcome::AlreadyFinished(s) => json!({
            "run_id": run_id,
            "cancelled": false,
            "already_finished": true,
            "status": wire_status(s),
            "message": format!("Run already finished ({}); nothing to cancel.", wire_status(s)),
        }),
    };
    Ok(Json(body))
}

/// `/resume`'s query parameters (a `GET` from a browser's `EventSource` has no body).
#[derive(Deserialize, Default)]
struct ResumeQuery {
    session_id: Option<String>,
    last_event_index: Option<String>,
}

/// `POST` (AgentOS: form fields) or `GET` (a browser's `EventSource`, reconnecting by
/// itself with `Last-Event-ID`) `/resume`. The index comes from the body's
/// `last_event_index`, else the query's, else `Last-Event-ID`; `session_id` from the body,
/// else the query.
async fn resume_run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((seg, id, run_id)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<ResumeQuery>,
    req: Request,
) -> ApiResult<Response> {
    let c = component(&st, &seg, &id)?;
    let header_index = match req.headers().get("last-event-id") {
        None => None,
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::InvalidLastEventIndex("Last-Event-ID is not text".into()))?;
            Some(parse_index(s)?)
        }
    };
    let fields = Fields::from_request(req, st.body_limit).await?;
    let query_index = match q.last_event_index.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(parse_index(s)?),
    };
    let last = match fields.event_index("last_event_index")? {
        Some(v) => v,
        None => query_index.or(header_index).flatten(),
    };
    let session_id = match fields.session_id()? {
        Some(s) => Some(s),
        None => q.session_id.filter(|s| !s.trim().is_empty()),
    };
    if let Some(s) = &session_id {
        check_session_id(s)?;
    }
    let frames = match find_run(&st, &caller, c.kind(), &id, &run_id, session_id.as_deref()).await?
    {
        None => futures::stream::iter([Frame::error(format!(
            "Run {run_id} not found in buffer or database"
        ))])
        .boxed(),
        Some(run) => resume_frames(&st.engine, &run, last).await?,
    };
    Ok(SseBody::new(frames, st.keep_alive, &st.streams_closed, None).into_response())
}

// ---------------------------------------------------------------------------------------------
// Sessions.

#[derive(Deserialize, Default)]
struct ListSessionsQuery {
    #[serde(rename = "type")]
    session_type: Option<String>,
    component_id: Option<String>,
    user_id: Option<String>,
    session_name: Option<String>,
    page: Option<usize>,
    limit: Option<usize>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// How many sessions a name search scans, and how many runs a session's routes read.
const SESSION_SCAN_LIMIT: usize = 10_000;

async fn list_sessions(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListSessionsQuery>,
) -> ApiResult<Json<Value>> {
    let kind = match q
        .session_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(t) => Some(
            t.to_ascii_lowercase()
                .parse::<ComponentKind>()
                .map_err(|_| ApiError::InvalidField {
                    field: "type".into(),
                    reason: format!("unknown session type {t:?} (agent, team or workflow)"),
                })?,
        ),
    };
    let limit = q.limit.unwrap_or(20).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    let empty = || {
        Json(json!({
            "data": [],
            "meta": { "page": page, "limit": limit, "total_pages": 0, "total_count": 0 },
        }))
    };
    let Some(user_id) = scoped_user(&caller, q.user_id) else {
        return Ok(empty());
    };
    let descending = !matches!(q.sort_order.as_deref(), Some(o) if o.eq_ignore_ascii_case("asc"));
    let sort_by = match q.sort_by.as_deref() {
        Some("updated_at") => SessionSort::UpdatedAt,
        _ => SessionSort::CreatedAt,
    };
    let name = q
        .session_name
        .as_deref()
        .map(str::to_lowercase)
        .filter(|n| !n.is_empty());
    let mut filter = SessionFilter {
        kind,
        component_id: q.component_id.filter(|s| !s.is_empty()),
        user_id,
        limit: Some(limit),
        offset: Some((page - 1) * limit),
        sort_by,
        descending,
    };
    // The store pages by itself; a name search (a substring of the shown name) filters here.
    if name.is_some() {
        filter.limit = Some(SESSION_SCAN_LIMIT);
        filter.offset = None;
    }
    let (sessions, total) = st.engine.store().list_sessions(&filter).await?;
    let mut shown = Vec::new();
    for s in &sessions {
        let first = first_input(&st, &s.session_id, s.session_name.is_none()).await?;
        let cname = st
            .engine
            .component(s.kind, &s.component_id)
            .ok()
            .map(|c| c.name().to_owned());
        shown.push(wire::session_object(s, first.as_ref(), cname.as_deref()));
    }
    let (data, total) = match &name {
        None => (shown, total as usize),
        Some(n) => {
            let hits: Vec<Value> = shown
                .into_iter()
                .filter(|v| {
                    v["session_name"]
                        .as_str()
                        .is_some_and(|s| s.to_lowercase().contains(n.as_str()))
                })
                .collect();
            let total = hits.len();
            (
                hits.into_iter()
                    .skip((page - 1) * limit)
                    .take(limit)
                    .collect(),
                total,
            )
        }
    };
    Ok(Json(json!({
        "data": data,
        "meta": {
            "page": page,
            "limit": limit,
            "total_pages": total.div_ceil(limit),
            "total_count": total,
        }
    })))
}

/// The input of a session's first top-level run (a nameless session is shown by it).
async fn first_input(st: &AppState, session_id: &str, needed: bool) -> ApiResult<Option<Value>> {
    if !needed {
        return Ok(None);
    }
    let runs = st
        .engine
        .list_runs(&RunFilter {
            session_id: Some(session_id.to_owned()),
            limit: Some(5),
            ..Default::default()
        })
        .await?;
    Ok(runs
        .iter()
        .find(|r| r.parent_run_id.is_none())
        .and_then(|r| r.input.get("input").cloned()))
}

/// A session the caller may see (another user's is [`ApiError::SessionNotFound`]).
async fn visible_session(
    st: &AppState,
    caller: &Caller,
    session_id: &str,
) -> ApiResult<kern_core::store::SessionRecord> {
    check_session_id(session_id)?;
    st.engine
        .store()
        .get_session(session_id)
        .await?
        .filter(|s| caller.may_see(s.user_id.as_deref()))
        .ok_or(ApiError::SessionNotFound)
}

async fn session_and_runs(
    st: &AppState,
    caller: &Caller,
    session_id: &str,
) -> ApiResult<(kern_core::store::SessionRecord, Vec<RunRecord>)> {
    let session = visible_session(st, caller, session_id).await?;
    let runs = st
        .engine
        .list_runs(&RunFilter {
            session_id: Some(session_id.to_owned()),
            limit: Some(SESSION_SCAN_LIMIT),
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|r| caller.may_see(r.user_id.as_deref()))
        .collect();
    Ok((session, runs))
}

async fn get_session(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(session_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let (session, runs) = session_and_runs(&st, &caller, &session_id).await?;
    let first = runs
        .iter()
        .find(|r| r.parent_run_id.is_none())
        .and_then(|r| r.input.get("input"));
    let name = st
        .engine
        .component(session.kind, &session.component_id)
        .ok()
        .map(|c| c.name().to_owned());
    Ok(Json(wire::session_object(&session, first, name.as_deref())))
}

async fn session_runs(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(session_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListRunsQuery>,
) -> ApiResult<Response> {
    let (_session, runs) = session_and_runs(&st, &caller, &session_id).await?;
    let status = parse_status(q.status.as_deref())?;
    let top: Vec<RunRecord> = runs
        .into_iter()
        .filter(|r| r.parent_run_id.is_none())
        .collect();
    // A foreground run still in flight belongs to the stream of the client that started it:
    // it is listed once it ends, as AgentOS stores such runs only at their end. Browser
    // clients (Agno's Agent UI) re-read the session as soon as a stream names it, and would
    // otherwise render the listed run's `content: null` over the answer they are streaming.
    // Background and paused runs are listed as they are (they are polled this way). A session
    // with nothing listable yet is not found, as in AgentOS.
    let in_flight = |r: &RunRecord| {
        !r.background && matches!(r.status, RunStatus::Pending | RunStatus::Running)
    };
    if !top.is_empty() && top.iter().all(in_flight) {
        return Err(ApiError::SessionNotFound);
    }
    let runs: Vec<RunRecord> = top
        .into_iter()
        .filter(|r| !in_flight(r))
        .filter(|r| status.is_none_or(|s| r.status == s))
        .collect();
    let include_events = query_flag(q.include_events.as_deref(), "include_events", false)?;
    runs_response(&st, &runs, include_events).await
}

async fn session_run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((session_id, run_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    check_session_id(&session_id)?;
    let run_id = parse_run_id(&run_id)?;
    let run = st
        .engine
        .get_run(run_id)
        .await?
        .filter(|r| r.session_id == session_id && caller.may_see(r.user_id.as_deref()))
        .ok_or(ApiError::RunNotFound)?;
    run_response(&st, &run).await
}

async fn rename_session(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(session_id): ApiPath<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let fields = Fields::from_request(req, st.body_limit).await?;
    let Some(name) = fields.opt_string("session_name")? else {
        return Err(ApiError::MissingField("session_name"));
    };
    visible_session(&st, &caller, &session_id).await?;
    let session = st.engine.store().rename_session(&session_id, &name).await?;
    let cname = st
        .engine
        .component(session.kind, &session.component_id)
        .ok()
        .map(|c| c.name().to_owned());
    Ok(Json(wire::session_object(&session, None, cname.as_deref())))
}

async fn delete_session(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(session_id): ApiPath<String>,
) -> ApiResult<Response> {
    visible_session(&st, &caller, &session_id).await?;
    st.engine.store().delete_session(&session_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
