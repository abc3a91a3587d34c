//! The run routes of a component: create (`POST /{kind}/{id}/runs`), get, list, cancel and
//! resume (`/{kind}/{id}/runs/{run_id}[/cancel|/resume]`).

use crate::access::{component, find_run, find_run_with_events, scoped_user};
use crate::auth::Caller;
use crate::create_run::CreateRun;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_status, query_flag, ApiPath, ApiQuery, ListRunsQuery};
use crate::form::{check_session_id, parse_index, Fields};
use crate::respond::{accepted, run_response, run_response_of, runs_response, sse_response};
use crate::stream::{event_frames, resume_frames, Frame};
use crate::wire::wire_status;
use crate::AppState;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use kern_core::engine::CancelOutcome;
use kern_core::store::RunFilter;
use serde::Deserialize;
use serde_json::{json, Value};

/// `/{kind}/{id}/runs` and the run routes below it (but `/continue`, in `continue_run`).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/{kind}/{id}/runs", get(list_runs).post(create_run))
        .route("/{kind}/{id}/runs/{run_id}", get(get_run))
        .route("/{kind}/{id}/runs/{run_id}/cancel", post(cancel_run))
        .route(
            "/{kind}/{id}/runs/{run_id}/resume",
            post(resume_run).get(resume_run),
        )
}

/// `POST /{kind}/{id}/runs`: the four modes (see the crate's README).
async fn create_run(State(st): State<AppState>, form: CreateRun) -> ApiResult<Response> {
    let engine = &st.engine;
    let (kind, id) = (form.kind, form.component_id.as_str());
    match (form.background, form.stream) {
        (true, false) => {
            let run = engine.start(kind, id, form.request).await?;
            Ok(accepted(&run))
        }
        (true, true) => {
            let (_run, events) = engine.start_stream(kind, id, form.request).await?;
            Ok(sse_response(&st, event_frames(events)))
        }
        (false, true) => {
            // The stored events, passed through as stored; dropped before the run's end
            // (with the body: the client went away), they cancel the run.
            let events = engine.run_stream(kind, id, form.request).await?.into_raw();
            Ok(sse_response(&st, event_frames(events)))
        }
        (false, false) => {
            let run = engine.run(kind, id, form.request).await?;
            run_response(&st, &run).await
        }
    }
}

#[derive(Deserialize, Default)]
struct GetRunQuery {
    session_id: Option<String>,
}

/// `GET /{kind}/{id}/runs/{run_id}[?session_id]`: the run document (404 for another
/// component's, session's or user's run).
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
    let (run, events) = find_run_with_events(&st, &caller, c.kind(), &id, &run_id, session)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    run_response_of(&st, &run, &events).await
}

/// `GET /{kind}/{id}/runs`: the component's runs, oldest first, capped as listings are.
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

/// `POST /{kind}/{id}/runs/{run_id}/cancel`: cancelled before it started, cancel requested,
/// or already finished (a no-op that says so).
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
    Ok(sse_response(&st, frames))
}
