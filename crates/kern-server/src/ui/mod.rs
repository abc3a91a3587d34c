//! The embedded web dashboard, served under `/ui`.
//!
//! Three static files (`crates/kern-server/ui/`: `index.html`, `app.js`, `app.css`), compiled
//! into the binary with `include_str!`: no CDN, no build step, works offline. The page is a
//! client of the server's own routes, with the same credentials as any client:
//!
//! - runs, newest first, filtered and paged on the server by `GET /ui/api/runs` (below),
//!   polled every 2 s while the tab is visible;
//! - a run's page: `GET /{kind}/{id}/runs/{run_id}`, its events through `POST …/resume`
//!   (read with `fetch`, so that the `Authorization` header goes with it; from the last
//!   index the page rendered, kept in `sessionStorage`, after a reload), cancel, continue
//!   and requeue (`POST …/cancel`, `…/continue`, `/queue/jobs/{run_id}/requeue`);
//! - the components (`GET /agents`, `/teams`, `/workflows`) and a form that starts a run in
//!   any mode; the queue's figures (`GET /queue/stats`, operators only).
//!
//! Routes added here:
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /` | none | a browser (`Accept: text/html`) is sent to `/ui` (303); others get AgentOS's landing object |
//! | `GET /ui`, `/ui/`, `/ui/{*path}` | none | the page (any path that is not an asset: client-side routes) |
//! | `GET /ui/app.js`, `/ui/app.css` | none | the assets (`ETag`, `Cache-Control: no-cache`) |
//! | `GET /ui/api/runs` | as every route | `GET /queue/jobs`'s page, scoped to the caller (a JWT user lists only their own runs) |
//!
//! The page and its assets are public: they hold no data, and a browser must load them before
//! it can ask for a token. Every request the page makes for data carries the token the person
//! entered once (stored in `localStorage`, sent as `Authorization: Bearer`). The token never
//! goes into a URL (no query token for `EventSource`): URLs end up in access logs, browser
//! history and `Referer` headers, so the event stream is read with `fetch` instead.
//!
//! Does **not**: keep any state on the server, render anything on the server, or offer
//! anything a client of the API could not do.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::OnceLock;

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

/// The page's content security policy: nothing but this server's own scripts, styles and
/// API (the markdown renderer escapes HTML; this is the second line of defence).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes reachable without credentials: `/` and the page with its assets.
pub(crate) fn public_router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route("/ui/{*path}", get(asset))
        .with_state(state)
}

/// The routes behind authentication: the dashboard's run listing.
pub(crate) fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/ui/api/runs", get(list_runs))
        .with_state(state)
}

/// `GET /`: browsers go to the dashboard; JSON clients get AgentOS's landing answer (its
/// `/` is public too), with Kern's paths.
async fn landing(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return Redirect::to("/ui").into_response();
    }
    Json(json!({
        "name": st.name.as_deref().unwrap_or("AgentOS"),
        "health": "/health",
        "config": "/config",
        "openapi": "/openapi.json",
        "ui": "/ui",
    }))
    .into_response()
}

/// A strong `ETag` of an asset's bytes (computed once per asset).
fn etag(cell: &'static OnceLock<String>, body: &'static str) -> &'static str {
    cell.get_or_init(|| {
        let d = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        let hex: String = d.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("\"{hex}\"")
    })
}

fn serve(
    headers: &HeaderMap,
    body: &'static str,
    tag: &'static str,
    mime: &'static str,
) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::ETAG, HeaderValue::from_static(tag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

async fn page(headers: HeaderMap) -> Response {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(
        &headers,
        INDEX_HTML,
        etag(&TAG, INDEX_HTML),
        "text/html; charset=utf-8",
    )
}

/// `/ui/{*path}`: an asset by name; `api/…` paths that are not routes are 404 (JSON); any
/// other path is the page (the client routes it).
async fn asset(req: Request) -> Response {
    static JS: OnceLock<String> = OnceLock::new();
    static CSS: OnceLock<String> = OnceLock::new();
    let headers = req.headers();
    match req.uri().path().trim_start_matches("/ui/") {
        "app.js" => serve(
            headers,
            APP_JS,
            etag(&JS, APP_JS),
            "text/javascript; charset=utf-8",
        ),
        "app.css" => serve(
            headers,
            APP_CSS,
            etag(&CSS, APP_CSS),
            "text/css; charset=utf-8",
        ),
        p if p == "api" || p.starts_with("api/") => ApiError::RouteNotFound.into_response(),
        _ => page(headers.clone()).await,
    }
}

/// `GET /ui/api/runs`: the query and answer of `GET /queue/jobs` (top-level runs, newest
/// first, paged on the server, no events), for any authenticated caller: a JWT user lists
/// only their own runs (as on every other route), the operator everything.
async fn list_runs(
    State(st): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    let page = crate::queue::jobs_page(&st, req.uri().query(), caller.user_id.clone()).await?;
    Ok(Json(page))
}
