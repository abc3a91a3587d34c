//! Slow and stalled clients: header and body read timeouts, and connections that a graceful
//! shutdown closes at once.
//!
//! - **Headers**: [`serve_connections`] serves each connection with hyper's HTTP/1 server and
//!   its header read timeout (default 30 s): a client that has not sent a whole request head
//!   by then (half a request line, headers without the blank line, or nothing at all on an
//!   idle keep-alive connection) is disconnected.
//! - **Bodies**: [`timed`] (on the server's edge, `edge.rs`) gives each request with a body a deadline (default 60 s from
//!   its head): a body not received whole by then fails the read, and the handler answers
//!   408 `request_timeout` with `Connection: close`. A read also fails at once when the
//!   server starts shutting down (503 `shutting_down`, `Connection: close`).
//! - **Shutdown**: when the stop signal comes, connections with no request in progress (idle,
//!   or still sending a request's head) are closed at once; the others finish their response
//!   (a stream ends when the server ends its streams) and then close.
//!
//! Applications that mount [`AgentOs::router`](crate::AgentOs::router) in their own server
//! keep the body timeout (it is a layer of the router) but set their own header timeout.

use crate::access_log::GuardedBody;
use crate::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Why a request body stopped before its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyCut {
    /// The body was not received whole within the body read timeout.
    #[error("the request body was not received within {0:?}")]
    TimedOut(Duration),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl BodyCut {
    /// The cut behind a body read error, if it was one.
    pub(crate) fn of(e: &axum::Error) -> Option<&BodyCut> {
        // Bodies wrapped in bodies wrap their errors too: walk the chain.
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(cut) = s.downcast_ref::<BodyCut>() {
                return Some(cut);
            }
            source = s.source();
        }
        None
    }
}

/// `req` with its body under the read deadline, unless it has none.
pub(crate) fn timed(st: &AppState, req: Request) -> Request {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return req;
    }
    let limit = st.body_read_timeout;
    let closing = st.closing.clone();
    req.map(|body| Body::new(TimedBody::new(body, limit, closing)))
}

/// A request body that fails when its deadline passes or the server starts closing.
struct TimedBody {
    inner: Body,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    failed: bool,
}

impl TimedBody {
    fn new(inner: Body, limit: Duration, closing: CancellationToken) -> Self {
        Self {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + limit)),
            closing: Box::pin(closing.cancelled_owned()),
            failed: false,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let cut = if self.closing.as_mut().poll(cx).is_ready() {
            Some(BodyCut::ShuttingDown)
        } else if self.deadline.as_mut().poll(cx).is_ready() {
            Some(BodyCut::TimedOut(self.limit))
        } else {
            None
        };
        match cut {
            Some(cut) => {
                self.failed = true;
                Poll::Ready(Some(Err(axum::Error::new(cut))))
            }
            None => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Marks a connection busy while a request is in progress: from the head's arrival until
/// its response's body is dropped (sent, or abandoned).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections on `listener` and serves `app` on each (HTTP/1.1 with upgrades, the
/// header read timeout `header_read`) until `stop` is cancelled; then stops accepting,
/// closes connections with no request in progress, lets the others finish (gracefully:
/// keep-alive off) and returns when they are all closed. Dropping the returned future closes
/// every connection.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    app: Router,
    header_read: Duration,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
            // Reap finished connections as we go.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, _peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(stream, app.clone(), header_read, stop.clone()));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Serves one connection.
async fn connection(
    stream: tokio::net::TcpStream,
    app: Router,
    header_read: Duration,
    stop: CancellationToken,
) {
    let busy = Arc::new(AtomicUsize::new(0));
    let counter = busy.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let guard = Busy::new(&counter);
        let mut app = app.clone();
        async move {
            let resp = tower_service::Service::call(&mut app, req.map(Body::new)).await?;
            Ok::<_, std::convert::Infallible>(
                resp.map(|body| Body::new(GuardedBody::new(body, guard))),
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.cancelled() => {}
    }
    if busy.load(Ordering::Acquire) == 0 {
        // Idle, or a request's head still arriving: nothing to finish.
        return;
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error during shutdown");
    }
}
