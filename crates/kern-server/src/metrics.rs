//! `GET /metrics`: the engine's and the server's figures in the Prometheus text format
//! (version 0.0.4), written by hand (a few dozen lines; no client library needed).
//!
//! The engine keeps its own registry ([`kern_core::engine::EngineMetrics`]: runs, durations,
//! event writes); the server adds what only it sees (open SSE and WebSocket clients, requests
//! by status code) and the queue's depth, read from the store with one statement
//! ([`Store::queue_stats`](kern_core::store::Store::queue_stats)) at most once a second
//! whatever the scrape rate. The figures hold counts, durations and component ids, never a
//! run's input, output or events. Every metric is listed in `crates/kern-server/README.md`.

use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kern_core::engine::metrics::{HistogramSnapshot, FINISH_STATUSES};
use kern_core::store::{QueueStats, RunStatus};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a reading of the queue's figures is served before the store is asked again.
const QUEUE_STATS_TTL: Duration = Duration::from_secs(1);

/// The statuses `kern_queue_runs` reports, always all of them.
const QUEUE_STATUSES: [RunStatus; 6] = [
    RunStatus::Pending,
    RunStatus::Running,
    RunStatus::Paused,
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Cancelled,
];

/// The server's own figures.
pub(crate) struct ServerMetrics {
    sse_open: AtomicI64,
    ws_open: AtomicI64,
    /// Responses by status code (100..=599).
    responses: Box<[AtomicU64]>,
    /// The last reading of the queue and when it was taken; the lock also makes concurrent
    /// scrapes wait for one reading instead of each asking the store.
    queue: tokio::sync::Mutex<Option<(Instant, QueueStats)>>,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self {
            sse_open: AtomicI64::new(0),
            ws_open: AtomicI64::new(0),
            responses: (100..600).map(|_| AtomicU64::new(0)).collect(),
            queue: tokio::sync::Mutex::new(None),
        }
    }
}

/// Counts an open client until dropped.
pub(crate) struct OpenClient(&'static str, std::sync::Arc<crate::Shared>);

impl Drop for OpenClient {
    fn drop(&mut self) {
        let m = &self.1.metrics;
        let cell = if self.0 == "ws" {
            &m.ws_open
        } else {
            &m.sse_open
        };
        cell.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServerMetrics {
    /// A response was sent with this status.
    pub(crate) fn response(&self, status: StatusCode) {
        if let Some(cell) = (status.as_u16() as usize)
            .checked_sub(100)
            .and_then(|i| self.responses.get(i))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An SSE client is connected until the guard is dropped.
    pub(crate) fn sse_client(st: &AppState) -> OpenClient {
        st.metrics.sse_open.fetch_add(1, Ordering::Relaxed);
        OpenClient("sse", st.clone())
    }

    /// A WebSocket client is connected until the guard is dropped.
    pub(crate) fn ws_client(st: &AppState) -> OpenClient {
        st.metrics.ws_open.fetch_add(1, Ordering::Relaxed);
        OpenClient("ws", st.clone())
    }

    /// The queue's figures, at most [`QUEUE_STATS_TTL`] old; `None` when the store failed.
    async fn queue_stats(&self, st: &AppState) -> Option<QueueStats> {
        let mut cached = self.queue.lock().await;
        if let Some((at, stats)) = &*cached {
            if at.elapsed() < QUEUE_STATS_TTL {
                return Some(stats.clone());
            }
        }
        match st.engine.queue_stats().await {
            Ok(stats) => {
                *cached = Some((Instant::now(), stats.clone()));
                Some(stats)
            }
            Err(e) => {
                tracing::warn!(error = %e, "/metrics: reading the queue's figures failed");
                None
            }
        }
    }
}

/// `GET /metrics`.
pub(crate) async fn handler(State(st): State<AppState>) -> Response {
    let queue = st.metrics.queue_stats(&st).await;
    let body = render(&st, queue.as_ref());
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// A label value, escaped as the text format requires.
fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as the text format writes it.
fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{v}")
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One histogram's series; `labels` is empty or `key="value",…` (without braces).
fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, count) in &h.buckets {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {count}",
            num(*bound)
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let braces = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{{{s}}}")
        }
    };
    let _ = writeln!(out, "{name}_sum{} {}", braces(labels), num(h.sum));
    let _ = writeln!(out, "{name}_count{} {}", braces(labels), h.count);
}

/// The whole exposition.
pub(crate) fn render(st: &AppState, queue: Option<&QueueStats>) -> String {
    let engine = st.engine.metrics().snapshot();
    let mut out = String::with_capacity(8 * 1024);

    header(
        &mut out,
        "kern_build_info",
        "gauge",
        "Always 1: the Kern version and the database backend.",
    );
    let _ = writeln!(
        out,
        "kern_build_info{{version=\"{}\",backend=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        st.engine.backend()
    );

    header(
        &mut out,
        "kern_runs_started_total",
        "counter",
        "Run executions started by this replica (a resumed run counts again), by component.",
    );
    for c in &engine.components {
        let _ = writeln!(
            out,
            "kern_runs_started_total{{kind=\"{}\",component=\"{}\"}} {}",
            c.kind.as_str(),
            label(&c.component_id),
            c.started
        );
    }
    header(
        &mut out,
        "kern_runs_finished_total",
        "counter",
        "Run executions this replica ended with a durable status (completed, failed, cancelled, paused), by component and status.",
    );
    for c in &engine.components {
        for (status, n) in &c.finished {
            let _ = writeln!(
                out,
                "kern_runs_finished_total{{kind=\"{}\",component=\"{}\",status=\"{}\"}} {n}",
                c.kind.as_str(),
                label(&c.component_id),
                status.as_str()
            );
        }
    }
    for (name, help, value) in [
        (
            "kern_runs_recovered_total",
            "Run executions that resumed a run whose previous executor stopped without handing it back (claimed after its lease expired).",
            engine.recovered,
        ),
        (
            "kern_runs_handed_back_total",
            "Runs this replica handed back to the queue on a graceful stop.",
            engine.handed_back,
        ),
        (
            "kern_runs_lost_total",
            "Run executions stopped here without a status: another executor owns the run now, or its log could not be written.",
            engine.lost,
        ),
        (
            "kern_event_write_errors_total",
            "Writes of a run's event log that failed for good (fenced, or the store gave up).",
            engine.write_errors,
        ),
    ] {
        header(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    header(
        &mut out,
        "kern_runs_in_flight",
        "gauge",
        "Runs this replica is executing now (top-level and child runs).",
    );
    let _ = writeln!(out, "kern_runs_in_flight {}", engine.in_flight);

    header(
        &mut out,
        "kern_run_start_latency_seconds",
        "histogram",
        "Seconds from a top-level run's creation to the start of its first execution (time in the queue).",
    );
    histogram(
        &mut out,
        "kern_run_start_latency_seconds",
        "",
        &engine.start_latency,
    );
    header(
        &mut out,
        "kern_run_duration_seconds",
        "histogram",
        "Seconds of one run execution in this replica, from its start to its status write, by status.",
    );
    for status in FINISH_STATUSES {
        if let Some((_, h)) = engine.duration.iter().find(|(s, _)| *s == status) {
            let labels = format!("status=\"{}\"", status.as_str());
            histogram(&mut out, "kern_run_duration_seconds", &labels, h);
        }
    }
    header(
        &mut out,
        "kern_event_write_batch_events",
        "histogram",
        "Events per durable write of a run's log (0: a write of checkpoints only).",
    );
    histogram(
        &mut out,
        "kern_event_write_batch_events",
        "",
        &engine.write_batch,
    );
    header(
        &mut out,
        "kern_event_write_duration_seconds",
        "histogram",
        "Seconds per durable write of a run's log, from its submission to the store's writer to its commit (retries included).",
    );
    histogram(
        &mut out,
        "kern_event_write_duration_seconds",
        "",
        &engine.write_latency,
    );

    header(
        &mut out,
        "kern_queue_stats_up",
        "gauge",
        "1 when the queue's figures below could be read from the store, 0 when it failed.",
    );
    let _ = writeln!(out, "kern_queue_stats_up {}", u8::from(queue.is_some()));
    if let Some(q) = queue {
        header(
            &mut out,
            "kern_queue_runs",
            "gauge",
            "Top-level runs in the database by status, over every replica (pending: the queue's depth). Read at most once a second.",
        );
        for status in QUEUE_STATUSES {
            let _ = writeln!(
                out,
                "kern_queue_runs{{status=\"{}\"}} {}",
                status.as_str(),
                q.count(status)
            );
        }
        header(
            &mut out,
            "kern_queue_oldest_pending_age_seconds",
            "gauge",
            "Age of the oldest pending top-level run, on the database's clock (0 when none is pending).",
        );
        let age = q
            .oldest_pending_at
            .map_or(0.0, |at| (q.now - at).max(0) as f64 / 1000.0);
        let _ = writeln!(out, "kern_queue_oldest_pending_age_seconds {}", num(age));
    }

    let m = &st.metrics;
    header(
        &mut out,
        "kern_sse_clients",
        "gauge",
        "Open Server-Sent Events responses (run streams and /resume).",
    );
    let _ = writeln!(
        out,
        "kern_sse_clients {}",
        m.sse_open.load(Ordering::Relaxed).max(0)
    );
    header(
        &mut out,
        "kern_websocket_clients",
        "gauge",
        "Open WebSocket connections (/workflows/ws).",
    );
    let _ = writeln!(
        out,
        "kern_websocket_clients {}",
        m.ws_open.load(Ordering::Relaxed).max(0)
    );
    header(
        &mut out,
        "kern_http_responses_total",
        "counter",
        "HTTP responses sent, by status code.",
    );
    for (i, cell) in m.responses.iter().enumerate() {
        let n = cell.load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(out, "kern_http_responses_total{{code=\"{}\"}} {n}", i + 100);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }

    #[test]
    fn histograms_end_with_inf_sum_and_count() {
        let mut out = String::new();
        let h = HistogramSnapshot {
            buckets: vec![(0.5, 1), (1.0, 2)],
            count: 3,
            sum: 2.25,
        };
        histogram(&mut out, "x_seconds", "status=\"completed\"", &h);
        assert_eq!(
            out,
            "x_seconds_bucket{status=\"completed\",le=\"0.5\"} 1\n\
             x_seconds_bucket{status=\"completed\",le=\"1\"} 2\n\
             x_seconds_bucket{status=\"completed\",le=\"+Inf\"} 3\n\
             x_seconds_sum{status=\"completed\"} 2.25\n\
             x_seconds_count{status=\"completed\"} 3\n"
        );
    }
}
