//! `POST /{kind}/{id}/runs/{run_id}/continue`: a paused run goes on with a person's decisions.
//!
//! Form (multipart, urlencoded or JSON, as for creating a run): `tools` (a JSON list of the
//! paused tool executions with `confirmed`, `user_input_schema` values or `result`, as Agno's
//! `continue_agent_run` sends them), `requirements` (Agno's `RunRequirement`s wrapping those
//! executions, as its `continue_team_run` sends them), `step_requirements` (a workflow's), `session_id`, `user_id`,
//! `stream` (default false here, as Agno's clients send it) and `background` (default false).
//!
//! The decisions are recorded with a `RunContinued` event and the run is queued again: any
//! executor sharing the database (any replica) claims it and it goes on under the same
//! `run_id`, its log continuing gapless. The modes only say what the answer waits for:
//! - not background, not streaming: the run as it is when it next settles (completed, failed,
//!   cancelled, or paused again), like a foreground run's answer;
//! - background, not streaming: 202 `{run_id, session_id, status: "PENDING"}` at once;
//! - streaming: the run's events from `RunContinued` on, until it settles (a client leaving the
//!   stream does not stop the continuation: the decisions are already durable).
//!
//! A run that is not paused (never paused, ended, or already continued by another request) is
//! 409 `run_not_paused`; an unknown run (or another user's, with JWT) is 404.

use crate::access::{component, find_run};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::form::Fields;
use crate::respond::{accepted, run_response, sse_response};
use crate::stream::event_frames;
use crate::AppState;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{json, Value};

/// The handler of `POST /{kind}/{id}/runs/{run_id}/continue`.
pub(crate) async fn continue_run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((seg, id, run_id)): ApiPath<(String, String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let c = component(&st, &seg, &id)?;
    let fields = Fields::from_request(req, st.body_limit).await?;
    let session_id = fields.session_id()?;
    let stream = fields.bool("stream", false)?;
    let background = fields.bool("background", false)?;
    // Agno's clients send an agent's decisions as `tools` (tool executions) and a team's as
    // `requirements` (`RunRequirement`s wrapping them); the agent reads either shape.
    let mut calls = Vec::new();
    for field in ["tools", "requirements"] {
        match fields.json(field, false)? {
            None => {}
            Some(Value::Array(items)) => calls.extend(items),
            Some(_) => {
                return Err(ApiError::InvalidField {
                    field: field.into(),
                    reason: "a JSON list of the paused tool executions or requirements".into(),
                })
            }
        }
    }
    let mut decisions = Value::Array(calls);
    if let Some(steps) = fields.json("step_requirements", false)? {
        if !steps.is_array() {
            return Err(ApiError::InvalidField {
                field: "step_requirements".into(),
                reason: "a JSON list of the paused step requirements".into(),
            });
        }
        decisions = json!({ "tools": decisions, "step_requirements": steps });
    }
    let run = find_run(&st, &caller, c.kind(), &id, &run_id, session_id.as_deref())
        .await?
        .ok_or(ApiError::RunNotFound)?;
    let from = run.event_count;
    let queued = st.engine.continue_run(run.run_id, decisions).await?;
    match (background, stream) {
        (true, false) => Ok(accepted(&queued)),
        (_, true) => {
            // From the RunContinued event (at the paused log's length) to the next end.
            let events = st.engine.subscribe(run.run_id, from.checked_sub(1)).await?;
            Ok(sse_response(&st, event_frames(events)))
        }
        (false, false) => {
            let settled = st.engine.wait(run.run_id).await?;
            run_response(&st, &settled).await
        }
    }
}
