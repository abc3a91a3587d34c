//! JSON answers written from text: one run's document, and run listings. Shared by the
//! handler modules (see `routes/mod.rs`).

use crate::error::ApiResult;
use crate::{wire, AppState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kern_core::store::RunRecord;

/// A response with a JSON body already written as text.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// One run as its `GET` answers it (see [`wire::run_document`]).
pub(crate) async fn run_response(st: &AppState, run: &RunRecord) -> ApiResult<Response> {
    let body = wire::run_document(&st.engine, run).await?;
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
