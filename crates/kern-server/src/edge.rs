//! The server's edge: what every request passes through outside the routes, as one
//! middleware. In order, outermost first:
//!
//! 1. CORS (`cors.rs`): a preflight is answered here and goes no further (it is neither
//!    logged nor counted); any other response gets the headers its `Origin` calls for, error
//!    responses included.
//! 2. The request log and the response counts (`access_log.rs`).
//! 3. The request body's read deadline (`timeouts.rs`).
//! 4. A handler's panic becomes a JSON 500 (`internal_error`) instead of a dropped connection.
//!
//! One middleware, not four: each `from_fn` layer costs a request a boxed clone of the service
//! inside it and a boxed future, and these four did nothing that needs a layer of its own.
//! Authentication is a layer of its own, inside this one, because the dashboard's public
//! routes are merged outside it.

use crate::access_log::Began;
use crate::cors::{Cors, CorsOrigins};
use crate::error::ApiError;
use crate::{timeouts, AppState};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// What the edge needs: the server's state and its CORS origins.
#[derive(Clone)]
pub(crate) struct Edge {
    pub st: AppState,
    pub cors: Arc<CorsOrigins>,
}

/// The edge middleware (see the module docs).
pub(crate) async fn middleware(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let cors = Cors::of(&edge.cors, &req);
    if let Some(preflight) = cors.preflight(&edge.cors, &req) {
        return preflight;
    }
    let began = Began::of(&req);
    let req = timeouts::timed(&edge.st, req);
    let resp = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => ApiError::Internal("the request handler panicked".into()).into_response(),
    };
    cors.decorate(&edge.cors, began.logged(&edge.st, resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentOs;
    use axum::body::Body;
    use axum::http::{header, Method, StatusCode};
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use axum::Router;
    use kern_core::engine::Engine;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ORIGIN: &str = "http://localhost:3000"; // one of Agno's default origins

    /// A route that panics, behind the edge of a server with the default CORS origins.
    async fn app(calls: Arc<AtomicUsize>) -> Router {
        let os = AgentOs::builder(Engine::ephemeral().await.unwrap()).build();
        let edge = Edge {
            st: os.shared.clone(),
            cors: os.cors.clone(),
        };
        Router::new()
            .route(
                "/boom",
                get(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    panic!("a handler bug");
                    #[allow(unreachable_code)]
                    StatusCode::OK
                }),
            )
            .layer(from_fn_with_state(edge, middleware))
    }

    async fn send(app: &mut Router, req: Request) -> (StatusCode, header::HeaderMap, String) {
        let resp = tower_service::Service::call(app, req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_panic_is_a_json_500_with_the_cors_headers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut app = app(calls.clone()).await;
        let req = Request::builder()
            .uri("/boom")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(&mut app, req).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "internal_error", "{body}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_preflight_is_answered_at_the_edge() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut app = app(calls.clone()).await;
        let req = Request::builder()
            .method(Method::OPTIONS)
            .uri("/boom")
            .header(header::ORIGIN, ORIGIN)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = send(&mut app, req).await;
        assert!(status.is_success(), "{status}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the route was not called");
    }
}
