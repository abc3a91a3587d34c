//! `GET /metrics` read by a real Prometheus text-format parser (`prometheus-parse`), with the
//! figures checked against a known workload on both databases: N runs of `echo` and K of
//! `fail` give started and finished counters of exactly N and K, histogram counts to match,
//! in-flight back at 0 and the queue's figures from the store; open SSE and WebSocket
//! clients are counted while open; `/metrics` is open like `/health` unless protected.

mod common;

use common::*;
use futures::StreamExt;
use kern_server::AgentOs;
use kern_testkit::{both_backends, wait_for, Backend};
use prometheus_parse::{Sample, Scrape, Value as PromValue};
use std::collections::HashMap;

/// Scrapes `/metrics` (checking the content type) and parses it.
async fn scrape(s: &TestServer) -> Scrape {
    let resp = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).unwrap_or_else(|e| panic!("unparsable /metrics: {e}\n{text}"))
}

/// The samples of `name` whose labels include all of `labels`.
fn find<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The one value of a counter or gauge (0 when absent).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(scrape, name, labels);
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    match found.first().map(|s| &s.value) {
        None => 0.0,
        Some(PromValue::Counter(v)) | Some(PromValue::Gauge(v)) | Some(PromValue::Untyped(v)) => *v,
        Some(other) => panic!("{name} is not a counter or gauge: {other:?}"),
    }
}

/// A histogram's observation count.
fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> u64 {
    let found = find(scrape, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match &found[0].value {
        PromValue::Histogram(buckets) => {
            // Buckets are cumulative and end with +Inf, which equals the count.
            let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
            assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
            let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
            inf.count as u64
        }
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

/// Scrapes until `ok` holds (the counters are updated right after each status write).
async fn scrape_until(s: &TestServer, ok: impl Fn(&Scrape) -> bool) -> Scrape {
    wait_for(
        TIMEOUT,
        "/metrics to reach the expected figures",
        || async {
            let m = scrape(s).await;
            if ok(&m) {
                return Ok(m);
            }
            let samples: Vec<_> = m
                .samples
                .iter()
                .map(|s| (&s.metric, &s.labels, &s.value))
                .collect();
            Err(format!("{samples:?}"))
        },
    )
    .await
}

async fn counts_match_a_known_workload(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    const N: usize = 6;
    const K: usize = 2;
    let mut runs = Vec::new();
    for i in 0..N {
        runs.push(s.start_background("echo", &format!("hello {i}")).await);
    }
    for i in 0..K {
        runs.push(s.start_background("fail", &format!("boom {i}")).await);
    }
    for r in &runs {
        s.wait_status(*r, kern_core::store::RunStatus::is_terminal)
            .await;
    }
    let echo = [("kind", "workflow"), ("component", "echo")];
    let fail = [("kind", "workflow"), ("component", "fail")];
    let m = scrape_until(&s, |m| {
        value(
            m,
            "kern_runs_finished_total",
            &[("component", "echo"), ("status", "completed")],
        ) == N as f64
            && value(
                m,
                "kern_runs_finished_total",
                &[("component", "fail"), ("status", "failed")],
            ) == K as f64
            && value(m, "kern_runs_in_flight", &[]) == 0.0
            && value(m, "kern_queue_runs", &[("status", "completed")]) == N as f64
    })
    .await;
    assert_eq!(value(&m, "kern_runs_started_total", &echo), N as f64);
    assert_eq!(value(&m, "kern_runs_started_total", &fail), K as f64);
    for status in ["failed", "cancelled", "paused"] {
        let l = [echo[0], echo[1], ("status", status)];
        assert_eq!(value(&m, "kern_runs_finished_total", &l), 0.0, "{status}");
    }
    assert_eq!(
        value(
            &m,
            "kern_runs_finished_total",
            &[fail[1], ("status", "completed")]
        ),
        0.0
    );
    // Histograms: one start latency per run, one duration per finished execution.
    assert_eq!(
        histogram_count(&m, "kern_run_start_latency_seconds", &[]),
        (N + K) as u64
    );
    assert_eq!(
        histogram_count(&m, "kern_run_duration_seconds", &[("status", "completed")]),
        N as u64
    );
    assert_eq!(
        histogram_count(&m, "kern_run_duration_seconds", &[("status", "failed")]),
        K as u64
    );
    let writes = histogram_count(&m, "kern_event_write_batch_events", &[]);
    assert!(writes >= (N + K) as u64, "{writes} writes");
    assert_eq!(
        histogram_count(&m, "kern_event_write_duration_seconds", &[]),
        writes
    );
    assert_eq!(value(&m, "kern_runs_recovered_total", &[]), 0.0);
    assert_eq!(value(&m, "kern_runs_handed_back_total", &[]), 0.0);
    assert_eq!(value(&m, "kern_event_write_errors_total", &[]), 0.0);
    // The queue's figures come from the store.
    assert_eq!(value(&m, "kern_queue_stats_up", &[]), 1.0);
    assert_eq!(
        value(&m, "kern_queue_runs", &[("status", "failed")]),
        K as f64
    );
    assert_eq!(value(&m, "kern_queue_runs", &[("status", "pending")]), 0.0);
    assert_eq!(value(&m, "kern_queue_oldest_pending_age_seconds", &[]), 0.0);
    assert_eq!(
        value(
            &m,
            "kern_build_info",
            &[("backend", s.engine.store().backend())]
        ),
        1.0
    );
    // Requests are counted by status code (the 202s of the starts at least).
    assert!(value(&m, "kern_http_responses_total", &[("code", "202")]) >= (N + K) as f64);
    s.shutdown().await;
}

async fn open_streams_are_counted(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let m = scrape(&s).await;
    assert_eq!(value(&m, "kern_sse_clients", &[]), 0.0);
    assert_eq!(value(&m, "kern_websocket_clients", &[]), 0.0);

    // A foreground streaming run of the gated workflow: its SSE response stays open.
    let key = gate_key();
    let resp = s.create("gated", &[("message", key.as_str())]).await;
    let mut reader = SseReader::new(resp);
    let first = reader.next_raw().await.unwrap();
    assert_eq!(first.name(), "WorkflowStarted");
    scrape_until(&s, |m| value(m, "kern_sse_clients", &[]) == 1.0).await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/workflows/ws", s.addr))
        .await
        .unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("connected"));
    scrape_until(&s, |m| value(m, "kern_websocket_clients", &[]) == 1.0).await;

    // The run ends, so does its stream; the socket closes.
    gate(&key).add_permits(1);
    while reader.next_raw().await.is_some() {}
    drop(reader);
    ws.close(None).await.unwrap();
    drop(ws);
    // The run leaves the in-flight gauge just after its final write, which is also what
    // ends its stream: wait for all three.
    scrape_until(&s, |m| {
        value(m, "kern_sse_clients", &[]) == 0.0
            && value(m, "kern_websocket_clients", &[]) == 0.0
            && value(m, "kern_runs_in_flight", &[]) == 0.0
    })
    .await;
    s.shutdown().await;
}

/// With a security key `/metrics` stays open (scrapers carry no application key) unless
/// the server protects it.
async fn metrics_are_open_unless_protected(backend: Backend) {
    let Some(db) = kern_testkit::TestDb::new(backend).await else {
        return;
    };
    let engine = kern_core::engine::Engine::builder(db.store.clone()).build();
    register(&engine);
    let mut seen = HashMap::new();
    for protect in [false, true] {
        let os = AgentOs::builder(engine.clone())
            .security_key("k3y")
            .protect_metrics(protect)
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, os.router()).await.unwrap();
        });
        let c = reqwest::Client::new();
        let open = c
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .status();
        let with_key = c
            .get(format!("http://{addr}/metrics"))
            .bearer_auth("k3y")
            .send()
            .await
            .unwrap()
            .status();
        seen.insert(protect, (open.as_u16(), with_key.as_u16()));
        server.abort();
    }
    assert_eq!(seen[&false], (200, 200));
    assert_eq!(seen[&true], (401, 200));
    engine.shutdown(std::time::Duration::from_secs(1)).await;
}

both_backends!(
    counts_match_a_known_workload,
    open_streams_are_counted,
    metrics_are_open_unless_protected,
);
