//! The operator's routes over the queue, as Agno's AgentOS serves them (its durable job
//! queue's surface): the runs table is Kern's queue, so a "job" is a top-level run.
//!
//! | route | answer |
//! |---|---|
//! | `GET /queue/stats` | `{"counts": {status: n}, "oldest_queued_age_seconds", "limits"}` |
//! | `GET /queue/jobs?status&page&limit&session_id&user_id&component_type&component_id&sort_order` | `{"data": [job…], "meta": {page, limit, total_pages, total_count}}`, newest first |
//! | `GET /queue/jobs/{run_id}` | one job, or 404 `run_not_found` |
//! | `POST /queue/jobs/{run_id}/requeue` | 200 the job, now `PENDING`; 409 `run_not_requeueable` |
//!
//! A job is a run shaped as the server's other run listings shape runs, without its events
//! (a listing never embeds logs), plus the fields Agno's `QueueJobSchema` requires (`id`,
//! `component_type`, `component_id`) and a few of its others (`attempt`, `locked_by`,
//! `completed_at`). `status` filters repeat (`status=failed&status=cancelled`, or
//! comma-separated) and take the wire names (`PENDING`, `RUNNING`, `PAUSED`, `COMPLETED`,
//! `ERROR`, `CANCELLED`), the lower-case ones (`failed`, …) and Agno's `queued`;
//! `status=failed` is the dead-letter list. Child runs (a team's members, a workflow's agent
//! and team steps) belong to their parent's job and are neither listed nor counted.
//!
//! With JWT auth, only the operator may call these routes: the security key, or a token whose
//! `scopes`/`scope` claim names `admin` (403 `forbidden` otherwise; see `auth.rs`). Without
//! auth they are open like every route.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::wire::{self, wire_status};
use crate::AppState;
use axum::extract::{Request, State};
use axum::Json;
use kern_core::store::{ComponentKind, RunFilter, RunId, RunRecord, RunStatus};
use serde_json::{json, Map, Value};

/// The statuses, in the order `/queue/stats` lists them.
const STATUSES: [RunStatus; 6] = [
    RunStatus::Pending,
    RunStatus::Running,
    RunStatus::Paused,
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Cancelled,
];

/// Refuses callers who are not the operator.
fn operator(caller: &Caller) -> ApiResult<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Job queue operations require an admin scope",
        ))
    }
}

/// `GET /queue/stats`: top-level runs by status (one grouped query) and the age of the oldest
/// pending run, on the store's clock.
pub(crate) async fn stats(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    operator(&caller)?;
    let stats = st.engine.queue_stats().await?;
    let counts: Map<String, Value> = STATUSES
        .iter()
        .map(|s| (s.as_str().to_owned(), json!(stats.count(*s))))
        .collect();
    let age = stats
        .oldest_pending_at
        .map(|created| (stats.now - created).max(0) / 1000);
    let config = st.engine.config();
    Ok(Json(json!({
        "counts": counts,
        "oldest_queued_age_seconds": age,
        "limits": {
            "max_pending": config.max_pending,
            "max_pending_per_component": config.max_pending_per_component,
            "max_concurrent_runs": config.max_concurrent_runs,
        },
    })))
}

/// One status filter value: a wire name, a lower-case name, or Agno's `queued`.
fn parse_status(s: &str) -> ApiResult<RunStatus> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("queued") {
        return Ok(RunStatus::Pending);
    }
    s.parse().map_err(|_| ApiError::InvalidField {
        field: "status".into(),
        reason: format!(
            "unknown status {s:?} (PENDING, RUNNING, PAUSED, COMPLETED, ERROR, CANCELLED; or failed, cancelled, …)"
        ),
    })
}

/// The query of `GET /queue/jobs`. `status` may repeat, so the query is read as pairs.
struct JobsQuery {
    statuses: Vec<RunStatus>,
    page: usize,
    limit: usize,
    session_id: Option<String>,
    user_id: Option<String>,
    kind: Option<ComponentKind>,
    component_id: Option<String>,
    newest_first: bool,
}

impl JobsQuery {
    fn parse(query: Option<&str>) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| ApiError::InvalidField {
                field: "query".into(),
                reason: e.to_string(),
            })?;
        let number = |field: &str, v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| ApiError::InvalidField {
                    field: field.into(),
                    reason: format!("expected a positive integer, got {v:?}"),
                })
        };
        let mut q = JobsQuery {
            statuses: Vec::new(),
            page: 1,
            limit: 20,
            session_id: None,
            user_id: None,
            kind: None,
            component_id: None,
            newest_first: true,
        };
        for (key, value) in &pairs {
            match key.as_str() {
                "status" => {
                    for s in value.split(',').filter(|s| !s.trim().is_empty()) {
                        q.statuses.push(parse_status(s)?);
                    }
                }
                "page" => q.page = number("page", value)?.max(1),
                "limit" => q.limit = number("limit", value)?.clamp(1, 1000),
                "session_id" => q.session_id = Some(value.clone()).filter(|s| !s.is_empty()),
                "user_id" => q.user_id = Some(value.clone()).filter(|s| !s.is_empty()),
                "component_type" if !value.trim().is_empty() => {
                    let t = value.trim().to_ascii_lowercase();
                    let t = t.strip_suffix('s').unwrap_or(&t);
                    q.kind = Some(t.parse().map_err(|_| ApiError::InvalidField {
                        field: "component_type".into(),
                        reason: format!(
                            "unknown component type {value:?} (agent, team or workflow)"
                        ),
                    })?);
                }
                "component_id" => q.component_id = Some(value.clone()).filter(|s| !s.is_empty()),
                "sort_order" => q.newest_first = !value.eq_ignore_ascii_case("asc"),
                _ => {}
            }
        }
        Ok(q)
    }
}

/// A run as a queue job: the run's fields as the run listings show them (no events), plus
/// the fields of Agno's `QueueJobSchema`.
fn job_json(st: &AppState, run: &RunRecord) -> Value {
    let name = wire::component_name(&st.engine, run);
    let mut m = wire::run_object(run, name.as_deref());
    m.insert("id".into(), json!(run.run_id.to_string()));
    m.insert("job_type".into(), json!("run"));
    m.insert("component_type".into(), json!(run.kind.as_str()));
    m.insert("component_id".into(), json!(run.component_id));
    m.insert("attempt".into(), json!(run.attempt));
    m.insert("locked_by".into(), json!(run.lease_owner));
    m.insert(
        "completed_at".into(),
        json!(run.finished_at.map(|ms| ms.div_euclid(1000))),
    );
    Value::Object(m)
}

/// `GET /queue/jobs`: a page of top-level runs, newest first, with the total.
pub(crate) async fn list_jobs(
    State(st): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    operator(&caller)?;
    Ok(Json(jobs_page(&st, req.uri().query(), None).await?))
}

/// A page of jobs for the query string of `GET /queue/jobs`. With `only_user` (the
/// dashboard's listing for a JWT user) only that user's runs are listed: asking for another
/// user's lists nothing, as on the other listings.
pub(crate) async fn jobs_page(
    st: &AppState,
    query: Option<&str>,
    only_user: Option<String>,
) -> ApiResult<Value> {
    let q = JobsQuery::parse(query)?;
    if let Some(s) = &q.session_id {
        crate::form::check_session_id(s)?;
    }
    let someone_else = matches!((&only_user, &q.user_id), (Some(me), Some(asked)) if me != asked);
    if someone_else {
        return Ok(json!({
            "data": [],
            "meta": { "page": q.page, "limit": q.limit, "total_pages": 0, "total_count": 0 },
        }));
    }
    let filter = RunFilter {
        statuses: q.statuses,
        session_id: q.session_id,
        user_id: only_user.or(q.user_id),
        kind: q.kind,
        component_id: q.component_id,
        top_level: true,
        newest_first: q.newest_first,
        limit: Some(q.limit),
        offset: Some((q.page - 1).saturating_mul(q.limit)),
        ..Default::default()
    };
    let runs = st.engine.list_runs(&filter).await?;
    let total = st.engine.count_runs(&filter).await?;
    // A listing: each job capped like the other run listings (`listing`).
    let data: Vec<Value> = runs
        .iter()
        .map(|r| {
            let mut job = job_json(st, r);
            if let Value::Object(m) = &mut job {
                crate::listing::cap_run(m);
            }
            job
        })
        .collect();
    Ok(json!({
        "data": data,
        "meta": {
            "page": q.page,
            "limit": q.limit,
            "total_pages": total.div_ceil(q.limit as u64),
            "total_count": total,
        },
    }))
}

/// A top-level run by the id in the path (anything else, malformed ids included, is 404).
async fn job(st: &AppState, run_id: &str) -> ApiResult<RunRecord> {
    let run_id = RunId::parse_str(run_id.trim()).map_err(|_| ApiError::RunNotFound)?;
    st.engine
        .get_run(run_id)
        .await?
        .filter(|r| r.parent_run_id.is_none())
        .ok_or(ApiError::RunNotFound)
}

/// `GET /queue/jobs/{run_id}`.
pub(crate) async fn get_job(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    operator(&caller)?;
    let run = job(&st, &run_id).await?;
    Ok(Json(job_json(&st, &run)))
}

/// `POST /queue/jobs/{run_id}/requeue`: a failed or cancelled run goes back to the queue and
/// resumes from its checkpoints (see `Engine::requeue`).
pub(crate) async fn requeue_job(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(run_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    operator(&caller)?;
    let run = job(&st, &run_id).await?;
    let queued = st.engine.requeue(run.run_id).await?;
    tracing::info!(
        run_id = %queued.run_id,
        was = wire_status(run.status),
        "run requeued by the operator"
    );
    Ok(Json(job_json(&st, &queued)))
}

/// The OpenAPI paths of these routes.
pub(crate) fn openapi_paths(paths: &mut Map<String, Value>) {
    let error = |d: &str| {
        json!({ "description": d, "content": { "application/json": { "schema":
            { "$ref": "#/components/schemas/Error" } } } })
    };
    let ok = |d: &str, schema: Value| json!({ "description": d, "content": { "application/json": { "schema": schema } } });
    let job = json!({ "$ref": "#/components/schemas/Run" });
    let run_id = json!({ "name": "run_id", "in": "path", "required": true,
        "description": "The run's id", "schema": { "type": "string" } });
    let query = |name: &str, d: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": d, "schema": schema });
    let op = |id: &str, summary: &str, params: Vec<Value>, mut responses: Value| {
        responses["401"] = error("Missing or wrong credentials");
        responses["403"] = error("A JWT caller without the admin scope");
        json!({ "tags": ["Queue"], "operationId": id, "summary": summary,
            "parameters": params, "responses": responses })
    };
    paths.insert(
        "/queue/stats".into(),
        json!({ "get": op("get_queue_stats", "Runs by status and the oldest pending run's age", vec![],
            json!({ "200": ok("Queue stats", json!({ "type": "object", "properties": {
                "counts": { "type": "object", "additionalProperties": { "type": "integer" } },
                "oldest_queued_age_seconds": { "type": "integer", "nullable": true },
                "limits": { "type": "object" } } })) })) }),
    );
    paths.insert(
        "/queue/jobs".into(),
        json!({ "get": op("list_queue_jobs", "Top-level runs, newest first; status=failed is the dead-letter list", vec![
            query("status", "Repeatable: PENDING, RUNNING, PAUSED, COMPLETED, ERROR, CANCELLED (or lower case)",
                json!({ "type": "array", "items": { "type": "string" } })),
            query("page", "Page (from 1)", json!({ "type": "integer" })),
            query("limit", "Per page (default 20, max 1000)", json!({ "type": "integer" })),
            query("session_id", "Only this session's runs", json!({ "type": "string" })),
            query("user_id", "Only this user's runs", json!({ "type": "string" })),
            query("component_type", "Only runs of this kind: agent, team or workflow", json!({ "type": "string" })),
            query("component_id", "Only runs of this component", json!({ "type": "string" })),
            query("sort_order", "desc (default, newest first) or asc", json!({ "type": "string" })),
        ], json!({
            "200": ok("A page of jobs", json!({ "type": "object", "properties": {
                "data": { "type": "array", "items": job.clone() },
                "meta": { "type": "object", "properties": {
                    "page": { "type": "integer" }, "limit": { "type": "integer" },
                    "total_pages": { "type": "integer" }, "total_count": { "type": "integer" } } } } })),
            "422": error("Unknown status or bad number"),
        })) }),
    );
    paths.insert(
        "/queue/jobs/{run_id}".into(),
        json!({ "get": op("get_queue_job", "One job (a top-level run, without its events)", vec![run_id.clone()],
            json!({ "200": ok("The job", job.clone()), "404": error("Unknown run") })) }),
    );
    paths.insert(
        "/queue/jobs/{run_id}/requeue".into(),
        json!({ "post": op("requeue_queue_job", "Requeue a failed or cancelled run: it resumes from its checkpoints", vec![run_id],
            json!({ "200": ok("The job, pending again", job),
                "404": error("Unknown run"),
                "409": error("Not failed or cancelled (run_not_requeueable)") })) }),
    );
}
