//! Run event streams for SSE and WebSocket clients: stored events passed through byte for
//! byte, the `/resume` meta frames, keep-alives, and the end of streams on shutdown.

use crate::error::{ApiError, ApiResult};
use crate::wire::wire_status;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use kern_core::engine::{Engine, EventStream};
use kern_core::store::{RunRecord, StoredEvent};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// One thing sent to a streaming client.
#[derive(Clone, Debug)]
pub(crate) enum Frame {
    /// A stored event of the run, sent as stored.
    Event(StoredEvent),
    /// A meta frame (`catch_up`, `subscribed`, `replay`, `error`, …): its `event` name and
    /// JSON object.
    Meta(&'static str, Value),
}

impl Frame {
    /// An `error` meta frame.
    pub(crate) fn error(message: impl Into<String>) -> Self {
        Frame::Meta(
            "error",
            json!({ "event": "error", "error": message.into() }),
        )
    }

    /// The frame as SSE: `id:` (events only), `event:`, `data:`, blank line.
    pub(crate) fn to_sse(&self) -> Bytes {
        match self {
            Frame::Event(e) => {
                let payload = crate::wire::compat_payload(&e.event_type, &e.payload);
                let mut b = BytesMut::with_capacity(payload.len() + e.event_type.len() + 40);
                b.put_slice(b"id: ");
                b.put_slice(e.event_index.to_string().as_bytes());
                b.put_slice(b"\nevent: ");
                b.put_slice(sse_safe(&e.event_type).as_bytes());
                b.put_slice(b"\ndata: ");
                b.put_slice(payload.as_bytes());
                b.put_slice(b"\n\n");
                b.freeze()
            }
            Frame::Meta(name, data) => Bytes::from(format!("event: {name}\ndata: {data}\n\n")),
        }
    }

    /// The frame as a WebSocket text message: the event's stored JSON, or the meta object.
    pub(crate) fn to_ws_text(&self) -> String {
        match self {
            Frame::Event(e) => crate::wire::compat_payload(&e.event_type, &e.payload).into_owned(),
            Frame::Meta(_, data) => data.to_string(),
        }
    }
}

/// An event type name fit for an SSE `event:` line (no line breaks).
fn sse_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\n', '\r']) {
        s.replace(['\n', '\r'], " ").into()
    } else {
        s.into()
    }
}

/// Frames of a run's events; a failing subscription ends with an `error` frame.
pub(crate) fn event_frames(events: EventStream) -> BoxStream<'static, Frame> {
    events
        .scan(false, |failed, item| {
            if *failed {
                return futures::future::ready(None);
            }
            let frame = match item {
                Ok(e) => Frame::Event(e),
                Err(e) => {
                    *failed = true;
                    Frame::error(format!("stream failed: {e}"))
                }
            };
            futures::future::ready(Some(frame))
        })
        .boxed()
}

/// The `/resume` stream of a run after `last_event_index`:
///
/// - finished run: `replay` meta, then the missed events;
/// - run still going: `catch_up` meta and the missed events (if any), `subscribed` meta, then
///   the live events until the run ends.
///
/// An index past the end of the log is [`ApiError::InvalidLastEventIndex`] (a client cannot
/// have seen an event that is not stored: events are durable before they are visible).
pub(crate) async fn resume_frames(
    engine: &Engine,
    run: &RunRecord,
    last_event_index: Option<u64>,
) -> ApiResult<BoxStream<'static, Frame>> {
    if let Some(i) = last_event_index {
        if i >= run.event_count {
            return Err(ApiError::InvalidLastEventIndex(format!(
                "{i} is past the end of the run's log ({} events)",
                run.event_count
            )));
        }
    }
    let from = last_event_index.map_or(0, |i| i + 1);
    let missed = run.event_count.saturating_sub(from);
    let run_id = run.run_id.to_string();
    let events = event_frames(engine.subscribe(run.run_id, last_event_index).await?);
    if run.status.is_terminal() {
        let status = wire_status(run.status);
        let meta = json!({
            "event": "replay",
            "run_id": run_id,
            "status": status,
            "total_events": missed,
            "total_buffered": run.event_count,
            "last_event_index_requested": last_event_index.map_or(-1, |i| i as i64),
            "message": format!(
                "Run {status}. Replaying {missed} missed events (of {} total).",
                run.event_count
            ),
        });
        return Ok(stream::iter([Frame::Meta("replay", meta)])
            .chain(events)
            .boxed());
    }
    let current = run.event_count;
    let subscribed = Frame::Meta(
        "subscribed",
        json!({
            "event": "subscribed",
            "run_id": run_id,
            "status": "running",
            "current_event_count": current,
            "message": "Subscribed to the run. Receiving live events.",
        }),
    );
    if missed == 0 {
        return Ok(stream::iter([subscribed]).chain(events).boxed());
    }
    let catch_up = Frame::Meta(
        "catch_up",
        json!({
            "event": "catch_up",
            "run_id": run_id,
            "status": "running",
            "missed_events": missed,
            "current_event_count": current,
            "message": format!("Catching up on {missed} missed events."),
        }),
    );
    // `subscribed` goes right after the last missed event (index current - 1).
    let mut pending = Some(subscribed);
    let body = events.flat_map(move |f| {
        let boundary = matches!(&f, Frame::Event(e) if e.event_index + 1 >= current);
        let mut out = vec![f];
        if boundary {
            out.extend(pending.take());
        }
        stream::iter(out)
    });
    Ok(stream::iter([catch_up]).chain(body).boxed())
}

/// An SSE response body: frames, `: keepalive` comments when idle, and an end when the server
/// shuts down. A foreground run's frames come from its `RunStream` (`RunStream::into_raw`), so
/// dropping the body before the run's end (the client went away) cancels that run.
pub(crate) struct SseBody {
    frames: BoxStream<'static, Frame>,
    keepalive: Pin<Box<Sleep>>,
    period: Duration,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
}

impl SseBody {
    /// A body over `frames`.
    pub(crate) fn new(
        frames: BoxStream<'static, Frame>,
        period: Duration,
        shutdown: &CancellationToken,
    ) -> Self {
        Self {
            frames,
            keepalive: Box::pin(tokio::time::sleep(period)),
            period,
            shutdown: Box::pin(shutdown.clone().cancelled_owned()),
            done: false,
        }
    }

    /// The streaming response (`text/event-stream`).
    pub(crate) fn into_response(self) -> Response {
        let mut resp = (StatusCode::OK, Body::from_stream(self)).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        resp
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.shutdown.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(None);
        }
        match self.frames.poll_next_unpin(cx) {
            Poll::Ready(Some(frame)) => {
                let period = self.period;
                self.keepalive.as_mut().reset(Instant::now() + period);
                Poll::Ready(Some(Ok(frame.to_sse())))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if self.keepalive.as_mut().poll(cx).is_ready() {
                    let period = self.period;
                    self.keepalive.as_mut().reset(Instant::now() + period);
                    // Register the timer's waker again for the next period.
                    let _ = self.keepalive.as_mut().poll(cx);
                    return Poll::Ready(Some(Ok(Bytes::from_static(b": keepalive\n\n"))));
                }
                Poll::Pending
            }
        }
    }
}
