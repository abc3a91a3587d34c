//! The HTTP routes, one module per concern: `system` (health, config, OpenAPI, components),
//! `runs` (a component's runs), `continue_run` (a paused run's decisions), `sessions`. The
//! operator's routes are in `queue.rs`, the dashboard's in `ui/`, the WebSocket in `ws.rs`.
//!
//! Layering, kept free of cycles: the handler modules here and the WebSocket (`ws.rs`) are
//! entry points; they never import each other. What they share lives below them, in modules
//! that import no entry point: `extract` (extractors, shared query parameters), `access`
//! (components, runs and sessions as a caller may reach them), `create_run` (the one path
//! that turns a request into a run), `respond` (run documents and listings), `form`, `wire`
//! and `stream`.

mod continue_run;
mod runs;
mod sessions;
mod system;

use crate::error::ApiError;
use crate::{queue, AppState};
use axum::routing::{get, post};
use axum::Router;

/// Every HTTP route of the server but the WebSocket's and the dashboard's (without the
/// authentication and panic layers; `AgentOs::router` merges and wraps them all).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::handler))
        .route("/queue/stats", get(queue::stats))
        .route("/queue/jobs", get(queue::list_jobs))
        .route("/queue/jobs/{run_id}", get(queue::get_job))
        .route("/queue/jobs/{run_id}/requeue", post(queue::requeue_job))
        .merge(system::routes())
        .merge(sessions::routes())
        .merge(runs::routes())
        .route(
            "/{kind}/{id}/runs/{run_id}/continue",
            post(continue_run::continue_run),
        )
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}
