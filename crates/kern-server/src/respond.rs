//! Answers written from text: one run's document, run listings, event streams. Shared by the
//! handler modules (see `routes/mod.rs`).

use crate::error::ApiResult;
use crate::stream::{Frame, SseBody};
use crate::{wire, AppState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::BoxStream;
use kern_core::store::{RunRecord, RunStatus, StoredEvent};
use serde_json::{json, Value};

/// A response with a JSON body already written as text.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `{run_id, session_id, status: "PENDING"}`: a run queued in the background, as the HTTP
/// routes (202) and the WebSocket (`queued`) announce it. Always `PENDING`, whatever the
/// run's status by now, so that a replay (the same idempotency key and request) answers
/// exactly as the first time.
pub(crate) fn queued(run: &RunRecord) -> Value {
    json!({
        "run_id": run.run_id.to_string(),
        "session_id": run.session_id,
        "status": wire::wire_status(RunStatus::Pending),
    })
}

/// `202 Accepted` with [`queued`]'s body.
pub(crate) fn accepted(run: &RunRecord) -> Response {
    (StatusCode::ACCEPTED, Json(queued(run))).into_response()
}

/// An event stream (SSE) over `frames`, with the server's keep-alive comments, ended when the
/// server stops streams. The frames are dropped with the body: a foreground run's
/// (`RunStream::into_raw`) cancel that run when the client goes away before its end.
pub(crate) fn sse_response(st: &AppState, frames: BoxStream<'static, Frame>) -> Response {
    SseBody::new(frames, st.keep_alive, &st.streams_closed).into_response()
}

/// One run as its `GET` answers it (see [`wire::run_document`]).
pub(crate) async fn run_response(st: &AppState, run: &RunRecord) -> ApiResult<Response> {
    let body = wire::run_document(&st.engine, run).await?;
    Ok(json_response(StatusCode::OK, body))
}

/// [`run_response`] for a run whose log the caller already read.
pub(crate) async fn run_response_of(
    st: &AppState,
    run: &RunRecord,
    events: &[StoredEvent],
) -> ApiResult<Response> {
    let body = wire::run_document_of(&st.engine, run, events).await?;
    Ok(json_response(StatusCode::OK, body))
}

/// A run listing: each run capped (see `listing`), with its events only when asked for.
pub(crate) async fn runs_response(
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
        let hooks = wire::webhook_deliveries(&st.engine, run).await?;
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
