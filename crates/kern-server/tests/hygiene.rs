//! Server hygiene, over raw TCP and HTTP on both databases: a client sending half a request
//! head, or a body shorter than its Content-Length, is disconnected within the configured
//! timeout (408 `request_timeout` for the body); a graceful shutdown completes at once while
//! such clients are connected; run listings leave events out unless asked and cut huge
//! strings (the run's own GET stays whole); `/resume` answers `GET` with `Last-Event-ID`
//! and `session_id`/`last_event_index` in the query; an over-long `session_id` is 422
//! `session_id_too_long` wherever it is accepted.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use kern_core::engine::Engine;
use kern_core::store::RunStatus;
use kern_server::AgentOs;
use kern_testkit::{assert_gapless_payloads, both_backends, Backend, TestDb};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with the given read timeouts, stopped by `stop`.
struct Raw {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    engine: Engine,
    _db: TestDb,
}

impl Raw {
    async fn start(backend: Backend, header: Duration, body: Duration) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let engine = Engine::builder(db.store.clone()).build();
        register(&engine);
        let os = AgentOs::builder(engine.clone())
            .shutdown_grace(Duration::from_millis(100))
            .header_read_timeout(header)
            .body_read_timeout(body)
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(os.serve_with_shutdown(listener, async move {
            let _ = rx.await;
        }));
        Some(Self {
            addr,
            stop: Some(tx),
            handle,
            engine,
            _db: db,
        })
    }

    /// Signals shutdown; returns how long the server took to stop.
    async fn shutdown(mut self) -> Duration {
        let began = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(TIMEOUT, self.handle)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
        drop(self.engine);
        began.elapsed()
    }
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn read_to_close(conn: &mut TcpStream) -> (String, Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(TIMEOUT, conn.read(&mut buf))
            .await
            .expect("the server closes the connection in time")
        {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&out).into_owned(), Instant::now()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Generous margin over a timeout under test (CI machines are slow and shared).
const MARGIN: Duration = Duration::from_secs(3);

async fn half_a_request_head_is_cut_off(backend: Backend) {
    let header = Duration::from_millis(300);
    let Some(s) = Raw::start(backend, header, Duration::from_secs(60)).await else {
        return;
    };
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let sent = Instant::now();
    conn.write_all(b"GET /health HT").await.unwrap();
    let (got, closed) = read_to_close(&mut conn).await;
    let took = closed - sent;
    assert!(
        took >= header - Duration::from_millis(50),
        "closed after {took:?}"
    );
    assert!(took < header + MARGIN, "closed after {took:?}");
    assert!(!got.contains("200 OK"), "{got}");
    // Headers without their blank line are cut off the same way.
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let sent = Instant::now();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, closed) = read_to_close(&mut conn).await;
    assert!(closed - sent < header + MARGIN);
    // A whole request is still served.
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (got, _) = read_to_close(&mut conn).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    s.shutdown().await;
}

async fn a_short_body_times_out_with_408(backend: Backend) {
    let body = Duration::from_millis(300);
    let Some(s) = Raw::start(backend, Duration::from_secs(60), body).await else {
        return;
    };
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let sent = Instant::now();
    conn.write_all(
        b"POST /workflows/echo/runs HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
          message=hi",
    )
    .await
    .unwrap();
    let (got, closed) = read_to_close(&mut conn).await;
    let took = closed - sent;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(
        got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    assert!(got.contains("\"code\":\"request_timeout\""), "{got}");
    assert!(took >= body - Duration::from_millis(50), "{took:?}");
    assert!(took < body + MARGIN, "{took:?}");
    s.shutdown().await;
}

async fn shutdown_closes_stalled_clients_at_once(backend: Backend) {
    // Timeouts far longer than the test: only the shutdown may close these connections.
    let long = Duration::from_secs(120);
    let Some(s) = Raw::start(backend, long, long).await else {
        return;
    };
    let mut half_head = TcpStream::connect(s.addr).await.unwrap();
    half_head.write_all(b"POST /workflows/ec").await.unwrap();
    let mut short_body = TcpStream::connect(s.addr).await.unwrap();
    short_body
        .write_all(
            b"POST /workflows/echo/runs HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              message=hi",
        )
        .await
        .unwrap();
    let idle = TcpStream::connect(s.addr).await.unwrap();
    // The body's request is in its handler (reading the body) once a request to the same
    // server completes after it: wait for that rather than for a time.
    let c = reqwest::Client::new();
    let health = c
        .get(format!("http://{}/health", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(idle);
    let took = s.shutdown().await;
    // Without closing them, shutdown waited 5 s for connections before giving up.
    assert!(took < MARGIN, "shutdown took {took:?}");
    let (_, _) = read_to_close(&mut half_head).await;
    let (got, _) = read_to_close(&mut short_body).await;
    assert!(
        got.is_empty() || got.starts_with("HTTP/1.1 503"),
        "short body's answer: {got}"
    );
}

async fn listings_leave_events_out_and_cut_huge_strings(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let big = "x".repeat(2 * 1024 * 1024);
    let resp = s
        .create(
            "echo",
            &[
                ("message", big.as_str()),
                ("stream", "false"),
                ("session_id", "big-session"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let whole: Value = resp.json().await.unwrap();
    let run_id = whole["run_id"].as_str().unwrap().to_owned();
    s.create(
        "echo",
        &[
            ("message", "small"),
            ("stream", "false"),
            ("session_id", "big-session"),
        ],
    )
    .await;
    for path in ["/workflows/echo/runs", "/sessions/big-session/runs"] {
        let body = s
            .client
            .get(s.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.len() < 100_000, "{path}: {} bytes", body.len());
        let list: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(list.len(), 2, "{path}");
        let listed = list
            .iter()
            .find(|r| r["run_id"] == run_id.as_str())
            .unwrap();
        assert!(listed.get("events").is_none(), "{path}: events listed");
        assert_eq!(listed["truncated"], true, "{path}");
        let input = listed["input"].as_str().unwrap();
        assert!(input.contains("truncated by kern: 2097152 bytes"), "{path}");
        assert!(listed["content"]
            .as_str()
            .unwrap()
            .contains("truncated by kern"));
        let small = list
            .iter()
            .find(|r| r["run_id"] != run_id.as_str())
            .unwrap();
        assert_eq!(small["input"], "small");
        assert!(small.get("truncated").is_none());
        // With events, still bounded, and every event still there.
        let with = s
            .client
            .get(s.url(&format!("{path}?include_events=true")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            with.len() < 200_000,
            "{path}: {} bytes with events",
            with.len()
        );
        let list: Vec<Value> = serde_json::from_str(&with).unwrap();
        let listed = list
            .iter()
            .find(|r| r["run_id"] == run_id.as_str())
            .unwrap();
        let events = listed["events"].as_array().unwrap();
        assert_eq!(events.len() as u64, listed["event_count"].as_u64().unwrap());
        assert_gapless_payloads(events, 0);
    }
    let bad = s
        .client
        .get(s.url("/workflows/echo/runs?include_events=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    // The run's own GET is whole.
    let own: Value = s.get_json(&format!("/workflows/echo/runs/{run_id}")).await;
    assert_eq!(own["input"].as_str().unwrap().len(), big.len());
    assert_eq!(own["content"].as_str().unwrap().len(), big.len());
    assert!(own.get("truncated").is_none());
    s.shutdown().await;
}

async fn resume_answers_get_with_last_event_id(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let resp = s
        .create(
            "count",
            &[
                ("message", "3 1"),
                ("stream", "false"),
                ("session_id", "S-get"),
            ],
        )
        .await;
    let run: Value = resp.json().await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let total = run["event_count"].as_u64().unwrap();
    let url = s.url(&format!("/workflows/count/runs/{run_id}/resume"));
    let indexes =
        |frames: &[SseFrame]| -> Vec<u64> { frames.iter().filter_map(|f| f.id).collect() };
    // EventSource's reconnect: GET with Last-Event-ID.
    let resp = s
        .client
        .get(&url)
        .header("accept", "text/event-stream")
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resp).rest().await;
    assert_eq!(frames[0].name(), "replay");
    assert_eq!(indexes(&frames), (3..total).collect::<Vec<_>>());
    // The query's index wins over the header; session_id in the query is honoured.
    let resp = s
        .client
        .get(format!("{url}?last_event_index=0&session_id=S-get"))
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resp).rest().await;
    assert_eq!(indexes(&frames), (1..total).collect::<Vec<_>>());
    let resp = s
        .client
        .get(format!("{url}?session_id=another"))
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resp).rest().await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].name(), "error");
    // POST still works, with the form's fields.
    let resp = s
        .client
        .post(&url)
        .form(&[("last_event_index", "1"), ("session_id", "S-get")])
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resp).rest().await;
    assert_eq!(indexes(&frames), (2..total).collect::<Vec<_>>());
    s.shutdown().await;
}

async fn overlong_session_ids_are_refused(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let long = "s".repeat(kern_server::MAX_SESSION_ID_BYTES + 1);
    let ok = "s".repeat(kern_server::MAX_SESSION_ID_BYTES);
    let check = |what: &'static str| {
        move |status: reqwest::StatusCode, body: Value| {
            assert_eq!(status, 422, "{what}: {body}");
            assert_eq!(body["code"], "session_id_too_long", "{what}: {body}");
            assert!(body["detail"].as_str().unwrap().contains("session_id"));
        }
    };
    async fn answer(r: reqwest::RequestBuilder) -> (reqwest::StatusCode, Value) {
        let resp = r.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
    let c = &s.client;
    let create = s.url("/workflows/echo/runs");
    let (st, b) = answer(c.post(&create).form(&[
        ("message", "m"),
        ("stream", "false"),
        ("session_id", long.as_str()),
    ]))
    .await;
    check("form")(st, b);
    let (st, b) = answer(
        c.post(&create)
            .json(&json!({"message": "m", "stream": false, "session_id": long})),
    )
    .await;
    check("json")(st, b);
    let (st, b) = answer(c.get(s.url(&format!("/workflows/echo/runs?session_id={long}")))).await;
    check("list query")(st, b);
    let (st, b) = answer(c.get(s.url(&format!("/sessions/{long}")))).await;
    check("session path")(st, b);
    let (st, b) = answer(c.get(s.url(&format!("/sessions/{long}/runs")))).await;
    check("session runs path")(st, b);
    let (st, b) = answer(c.get(s.url(&format!("/queue/jobs?session_id={long}")))).await;
    check("jobs query")(st, b);
    let run = s.start_background("echo", "r").await;
    s.wait_status(run, RunStatus::is_terminal).await;
    let (st, b) =
        answer(c.get(s.url(&format!("/workflows/echo/runs/{run}?session_id={long}")))).await;
    check("get query")(st, b);
    let (st, b) = answer(c.get(s.url(&format!(
        "/workflows/echo/runs/{run}/resume?session_id={long}"
    ))))
    .await;
    check("resume query")(st, b);
    // The longest allowed one works.
    let (st, b) = answer(c.post(&create).form(&[
        ("message", "m"),
        ("stream", "false"),
        ("session_id", ok.as_str()),
    ]))
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["session_id"], ok.as_str());
    // The WebSocket answers an error frame with the code.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/workflows/ws", s.addr))
        .await
        .unwrap();
    ws.next().await.unwrap().unwrap(); // connected
    let msg = json!({"action": "start-workflow", "workflow_id": "echo", "message": "m", "session_id": long});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        msg.to_string().into(),
    ))
    .await
    .unwrap();
    let reply: Value =
        serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(reply["event"], "error", "{reply}");
    assert_eq!(reply["code"], "session_id_too_long", "{reply}");
    s.shutdown().await;
}

both_backends!(
    half_a_request_head_is_cut_off,
    a_short_body_times_out_with_408,
    shutdown_closes_stalled_clients_at_once,
    listings_leave_events_out_and_cut_huge_strings,
    resume_answers_get_with_last_event_id,
    overlong_session_ids_are_refused,
);
