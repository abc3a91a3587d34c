//! The session routes: list (`GET /sessions`), get, its runs, one run, rename and delete
//! (`/sessions/{session_id}[/runs[/{run_id}]|/rename]`).

use crate::access::{parse_run_id, scoped_user, visible_session};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_status, query_flag, ApiPath, ApiQuery, ListRunsQuery};
use crate::form::{check_session_id, Fields};
use crate::respond::{run_response, runs_response};
use crate::{wire, AppState};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kern_core::store::SessionRecord;
use kern_core::store::{
    ComponentKind, RunFilter, RunRecord, RunStatus, SessionFilter, SessionSort,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// `/sessions` and everything below it.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list_sessions))
        .route(
            "/sessions/{session_id}",
            get(get_session).delete(delete_session),
        )
        .route("/sessions/{session_id}/runs", get(session_runs))
        .route("/sessions/{session_id}/runs/{run_id}", get(session_run))
        .route("/sessions/{session_id}/rename", post(rename_session))
}

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

/// `GET /sessions`: a page of sessions (filters, sort, paging; `session_name` searches a
/// substring of the shown name among the first [`SESSION_SCAN_LIMIT`]).
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
    let listed = st.engine.list_sessions(&filter).await?;
    // A nameless session is shown by its first input: read for the whole page at once.
    let nameless: Vec<String> = listed
        .sessions
        .iter()
        .filter(|s| s.session_name.is_none())
        .map(|s| s.session_id.clone())
        .collect();
    let firsts = st.engine.first_inputs(&nameless).await?;
    let shown: Vec<Value> = listed
        .sessions
        .iter()
        .map(|s| session_json(&st, s, firsts.get(&s.session_id)))
        .collect();
    let (data, total) = match &name {
        None => (shown, listed.total as usize),
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

/// A session as the routes show it: with its component's name when registered here, and
/// `first` (the input of its first top-level run) naming it when it has no name.
fn session_json(st: &AppState, s: &SessionRecord, first: Option<&Value>) -> Value {
    let name = st
        .engine
        .component(s.kind, &s.component_id)
        .ok()
        .map(|c| c.name().to_owned());
    wire::session_object(s, first, name.as_deref())
}

/// A session the caller may see, with its runs the caller may see (oldest first).
async fn session_and_runs(
    st: &AppState,
    caller: &Caller,
    session_id: &str,
) -> ApiResult<(SessionRecord, Vec<RunRecord>)> {
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

/// `GET /sessions/{session_id}`.
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
    Ok(Json(session_json(&st, &session, first)))
}

/// `GET /sessions/{session_id}/runs`: its top-level runs, oldest first.
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

/// `GET /sessions/{session_id}/runs/{run_id}`.
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

/// `POST /sessions/{session_id}/rename` `{session_name}`.
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
    let session = st.engine.rename_session(&session_id, &name).await?;
    Ok(Json(session_json(&st, &session, None)))
}

/// `DELETE /sessions/{session_id}`: 204, or 409 while one of its runs is going.
async fn delete_session(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(session_id): ApiPath<String>,
) -> ApiResult<Response> {
    visible_session(&st, &caller, &session_id).await?;
    st.engine.delete_session(&session_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
