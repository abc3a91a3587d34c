//! Test support: a real server on 127.0.0.1:0 over a fresh store, an SSE client, helpers.
#![allow(dead_code)]

use futures::StreamExt;
use kern_core::engine::Engine;
use kern_core::store::{RunId, RunRecord, RunStatus};
use kern_core::workflow::{OnReject, Step, StepOutput, Workflow};
use kern_server::AgentOs;
use kern_testkit::{wait_for, Backend, TestDb};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Gates of the `gated` workflow, by the run's input text: the step emits `"waiting"` and
/// then waits for a permit.
fn gates() -> &'static Mutex<HashMap<String, Arc<Semaphore>>> {
    static GATES: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    GATES.get_or_init(Default::default)
}

/// The gate of runs whose input is `key` (created closed).
pub fn gate(key: &str) -> Arc<Semaphore> {
    gates()
        .lock()
        .unwrap()
        .entry(key.to_owned())
        .or_insert_with(|| Arc::new(Semaphore::new(0)))
        .clone()
}

/// A unique gate key.
pub fn gate_key() -> String {
    format!("gate-{}", uuid::Uuid::now_v7().simple())
}

/// Registers the demo workflows and the `gated` test workflow.
pub fn register(engine: &Engine) {
    kern_server::demo::register(engine).unwrap();
    Workflow::builder("gated")
        .name("Gated")
        .step(Step::new("wait", |input| async move {
            let key = input.input_str();
            input.emit_output("waiting");
            let g = gate(&key);
            let permit = g.acquire().await.expect("gate");
            permit.forget();
            Ok(StepOutput::text(format!("passed {key}")))
        }))
        .db(engine)
        .build()
        .unwrap();
}

/// Server options for tests.
#[derive(Clone, Default)]
pub struct Opts {
    pub security_key: Option<String>,
    pub jwt: Option<kern_server::JwtConfig>,
    pub webhook_secret: Option<String>,
    pub body_limit: Option<usize>,
    pub keep_alive: Option<Duration>,
    pub executor: Option<bool>,
    pub ephemeral: bool,
    pub cors: Option<kern_server::CorsOrigins>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub engine: Engine,
    pub os: AgentOs,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub db: Option<TestDb>,
}

impl TestServer {
    pub async fn start(backend: Backend, opts: Opts) -> Option<Self> {
        let (engine, db) = if opts.ephemeral {
            (Engine::ephemeral().await.unwrap(), None)
        } else {
            let db = TestDb::new(backend).await?;
            let engine = Engine::builder(db.store.clone())
                .executor(opts.executor.unwrap_or(true))
                .poll_interval(Duration::from_millis(50))
                .build();
            (engine, Some(db))
        };
        register(&engine);
        Some(Self::serve(engine, db, opts).await)
    }

    pub async fn serve(engine: Engine, db: Option<TestDb>, opts: Opts) -> Self {
        let mut b = AgentOs::builder(engine.clone()).shutdown_grace(Duration::from_millis(200));
        if let Some(k) = &opts.security_key {
            b = b.security_key(k.clone());
        }
        if let Some(w) = &opts.webhook_secret {
            b = b
                .webhook_secret(w)
                .unwrap()
                .webhook_retries(5, Duration::from_millis(100))
                .webhook_timing(Duration::from_millis(50), Duration::from_secs(5));
        }
        if let Some(j) = &opts.jwt {
            b = b.jwt(j.clone());
        }
        if let Some(l) = opts.body_limit {
            b = b.body_limit(l);
        }
        b = b.keep_alive(opts.keep_alive.unwrap_or(Duration::from_secs(15)));
        if let Some(c) = &opts.cors {
            b = b.cors_origins(c.clone());
        }
        let os = b.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(os.clone().serve_with_shutdown(listener, async move {
            let _ = rx.await;
        }));
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(k) = &opts.security_key {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {k}").parse().unwrap(),
            );
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        Self {
            addr,
            base: format!("http://{addr}"),
            engine,
            os,
            client,
            stop: Some(tx),
            handle: Some(handle),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Shuts the server down gracefully and waits for it.
    /// `GET path` answered with JSON (panics on a transport error or a body that is not JSON;
    /// callers that check the status read the response themselves).
    pub async fn get_json(&self, path: impl AsRef<str>) -> Value {
        self.client
            .get(self.url(path.as_ref()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(TIMEOUT, h)
                .await
                .expect("server stops in time")
                .unwrap()
                .unwrap();
        }
    }

    /// POSTs a create-run form.
    pub async fn create(&self, workflow: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/workflows/{workflow}/runs")))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Starts a background, non-streaming run and returns its id.
    pub async fn start_background(&self, workflow: &str, message: &str) -> RunId {
        let resp = self
            .create(
                workflow,
                &[
                    ("message", message),
                    ("stream", "false"),
                    ("background", "true"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 202);
        let v: Value = resp.json().await.unwrap();
        v["run_id"].as_str().unwrap().parse().unwrap()
    }

    /// Waits (up to [`TIMEOUT`]) until the run has a status satisfying `f`.
    pub async fn wait_status(&self, run_id: RunId, f: impl Fn(RunStatus) -> bool) -> RunRecord {
        wait_for(TIMEOUT, &format!("a status of run {run_id}"), || async {
            let r = self.engine.get_run(run_id).await.unwrap().unwrap();
            if f(r.status) {
                Ok(r)
            } else {
                Err(r.status)
            }
        })
        .await
    }

    /// Waits (up to [`TIMEOUT`]) until the run's log has at least `n` events.
    pub async fn wait_events(&self, run_id: RunId, n: u64) {
        wait_for(TIMEOUT, &format!("{n} events of run {run_id}"), || async {
            let r = self.engine.get_run(run_id).await.unwrap().unwrap();
            if r.event_count >= n {
                Ok(())
            } else {
                Err(format!("{} events", r.event_count))
            }
        })
        .await
    }
}

/// One SSE frame.
#[derive(Clone, Debug, Default)]
pub struct SseFrame {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
}

impl SseFrame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("bad data {:?}: {e}", self.data))
    }
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("")
    }
    pub fn is_meta(&self) -> bool {
        matches!(self.name(), "catch_up" | "subscribed" | "replay" | "error")
    }
}

/// Reads SSE frames from a response.
pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl SseReader {
    pub fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200, "SSE response status");
        let ct = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        Self {
            stream: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next frame (comments included), or `None` at the end of the stream.
    pub async fn next_raw(&mut self) -> Option<SseFrame> {
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut f = SseFrame::default();
                for line in block.trim_end_matches('\n').split('\n') {
                    if let Some(c) = line.strip_prefix(':') {
                        f.comment = Some(c.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        f.id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        f.event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        f.data.push_str(v);
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                return Some(f);
            }
            let chunk = tokio::time::timeout(TIMEOUT, self.stream.next())
                .await
                .expect("SSE frame in time")?;
            self.buf
                .push_str(std::str::from_utf8(&chunk.expect("SSE body")).unwrap());
        }
    }

    /// The next frame that is not a comment.
    pub async fn next(&mut self) -> Option<SseFrame> {
        loop {
            let f = self.next_raw().await?;
            if f.comment.is_none() {
                return Some(f);
            }
        }
    }

    /// Every remaining non-comment frame.
    pub async fn rest(&mut self) -> Vec<SseFrame> {
        let mut out = vec![];
        while let Some(f) = self.next().await {
            out.push(f);
        }
        out
    }
}

/// Checks that `frames` are a run's events with indices `from, from+1, …`, each frame's SSE
/// `id:` equal to its payload's `event_index` and its `event:` to the payload's `event`.
pub fn assert_gapless(frames: &[SseFrame], from: u64) {
    kern_testkit::assert_gapless_payloads(frames.iter().map(SseFrame::json), from);
    for f in frames {
        let v = f.json();
        assert_eq!(f.id, v["event_index"].as_u64(), "SSE id of {v}");
        assert_eq!(f.name(), v["event"].as_str().unwrap(), "SSE event of {v}");
    }
}

/// The stored payloads of a run, as strings, as the server serves them: byte for byte, except
/// that a `WorkflowCompleted` whose `metrics` has no `steps` gets an empty `steps` map (Agno's
/// client requires it; see `wire::compat_payload`).
pub async fn stored_payloads(engine: &Engine, run_id: RunId) -> Vec<String> {
    engine
        .store()
        .read_events(run_id, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let mut v: Value = serde_json::from_str(&e.payload).unwrap();
            match v.get_mut("metrics") {
                Some(Value::Object(m))
                    if e.event_type == "WorkflowCompleted" && !m.contains_key("steps") =>
                {
                    m.insert("steps".into(), serde_json::json!({}));
                    v.to_string()
                }
                _ => e.payload.to_string(),
            }
        })
        .collect()
}

/// A WebSocket client connection to the test server.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket route (`/workflows/ws`).
pub async fn ws_connect(s: &TestServer) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/workflows/ws", s.addr))
        .await
        .unwrap();
    ws
}

/// Sends one JSON message.
pub async fn ws_send(ws: &mut Ws, v: Value) {
    use futures::SinkExt;
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text message, parsed (other frames, such as pings, are skipped), within
/// [`TIMEOUT`].
pub async fn ws_recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Registers `review`: `draft`, then `publish`, which pauses the run for a confirmation
/// ("Publish it?"; a rejection cancels the run).
pub fn register_review(s: &TestServer) {
    Workflow::builder("review")
        .name("Review")
        .step(Step::new("draft", |input| async move {
            Ok(StepOutput::text(format!("draft of {}", input.input_str())))
        }))
        .step(
            Step::new("publish", |input| async move {
                Ok(StepOutput::text(format!(
                    "published {}",
                    input.previous_content_str()
                )))
            })
            .requires_confirmation(Some("Publish it?".into()), OnReject::Cancel),
        )
        .db(&s.engine)
        .build()
        .unwrap();
}
