//! The request log: one line per request at `info` (target `kern_server::access_log`):
//! method, path, status, latency (to the response's headers; a stream goes on after), and
//! the run id when the path names one. Never the query string, a body or a header (the
//! `Authorization` header stays out of the log). `/health` and `/metrics`, which probes and
//! scrapers call every few seconds, log at `debug`.
//!
//! The same step of the server's edge (`edge.rs`) counts responses by status for `/metrics` and keeps each open SSE
//! response counted (`kern_sse_clients`) until its body is dropped.

use crate::metrics::ServerMetrics;
use crate::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method};
use axum::response::Response;
use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A request on its way in, as its log line will name it.
pub(crate) struct Began {
    at: Instant,
    method: Method,
    path: String,
}

impl Began {
    /// Notes the request's method, path and arrival.
    pub(crate) fn of(req: &Request) -> Self {
        Self {
            at: Instant::now(),
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
        }
    }

    /// Logs the request with its response's status and latency, counts the response, and
    /// returns it (an SSE response counted as an open client until its body is dropped).
    pub(crate) fn logged(self, st: &AppState, resp: Response) -> Response {
        let Began { at, method, path } = self;
        let status = resp.status();
        st.metrics.response(status);
        // Milliseconds, to the microsecond.
        let latency_ms = (at.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let run_id = run_id_of(&path);
        let quiet = path == "/health" || path == "/metrics";
        if quiet {
            tracing::debug!(method = %method, path = %path, status = status.as_u16(), latency_ms, "request");
        } else {
            tracing::info!(method = %method, path = %path, status = status.as_u16(), latency_ms,
                run_id = run_id, "request");
        }
        let is_sse = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if is_sse {
            let guard = ServerMetrics::sse_client(st);
            resp.map(|body| Body::new(GuardedBody::new(body, guard)))
        } else {
            resp
        }
    }
}

/// The run id a path names: the segment after `runs/` or `jobs/`, when it is a UUID.
fn run_id_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/');
    while let Some(s) = segments.next() {
        if s == "runs" || s == "jobs" {
            if let Some(id) = segments.next() {
                if id.len() == 36 && uuid::Uuid::parse_str(id).is_ok() {
                    return Some(id);
                }
            }
        }
    }
    None
}

/// A response body that holds `G` until the body is dropped (sent to the end, or the client
/// went away); everything else is the inner body's.
pub(crate) struct GuardedBody<G> {
    inner: Body,
    _guard: G,
}

impl<G> GuardedBody<G> {
    pub(crate) fn new(inner: Body, guard: G) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<G: Unpin + Send + 'static> http_body::Body for GuardedBody<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_come_from_run_and_job_paths() {
        let id = "0197a3c2-7d4e-7c11-9a55-3f2e1d0c4b5a";
        assert_eq!(
            run_id_of(&format!("/workflows/echo/runs/{id}/resume")),
            Some(id)
        );
        assert_eq!(run_id_of(&format!("/queue/jobs/{id}/requeue")), Some(id));
        assert_eq!(run_id_of(&format!("/sessions/s/runs/{id}")), Some(id));
        assert_eq!(run_id_of("/workflows/echo/runs"), None);
        assert_eq!(run_id_of("/workflows/runs/runs"), None);
    }
}
