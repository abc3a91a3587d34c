//! Fake provider servers for tests and benchmarks (cargo feature `testing`).
//!
//! - [`ScriptedServer`]: an in-process HTTP server on `127.0.0.1` that answers each request
//!   with the next [`Reply`] of its script (status, headers, body chunks with delays, an
//!   optional aborted connection) and records every request. Any wire format can be scripted
//!   with it.
//! - [`FakeOpenAi`]: a fake OpenAI Chat Completions server on top of it, streaming
//!   [`Scripted`] responses (text in N chunks with a delay between them, tool calls whose
//!   arguments are split across chunks, usage) in the real SSE wire format.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kern_models::ModelError> {
//! use std::time::Duration;
//! use kern_models::testing::{FakeOpenAi, Scripted};
//! use kern_models::{ChatRequest, Message, Model};
//!
//! // First call: a tool call; second call: 20 tokens, 5 ms apart.
//! let fake = FakeOpenAi::start([
//!     Scripted::new().tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#).into(),
//!     Scripted::tokens(20, Duration::from_millis(5)).into(),
//! ])
//! .await;
//! let model = fake.model("gpt-fake");
//! let first = model.complete(ChatRequest::new([Message::user("weather?")])).await?;
//! assert_eq!(first.tool_calls[0].name, "get_weather");
//! assert_eq!(fake.requests()[0]["messages"][0]["content"], "weather?");
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::http::{ClientOptions, RetryPolicy};
use crate::providers::openai_chat::OpenAiCompatible;
use crate::types::Usage;

/// What the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One scripted HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    chunks: Vec<Bytes>,
    delay: Duration,
    abort: bool,
}

impl Reply {
    /// A response with this status, no headers and an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            chunks: Vec::new(),
            delay: Duration::ZERO,
            abort: false,
        }
    }

    /// A JSON response (e.g. a provider's error body).
    pub fn json(status: u16, body: Value) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .chunk(body.to_string())
    }

    /// A `text/event-stream` response with one chunk per SSE event; each item is the event's
    /// JSON data (`data: …` and the blank line are added).
    pub fn sse_data<I, S>(events: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: std::fmt::Display,
    {
        let mut reply = Self::status(200).header("content-type", "text/event-stream");
        for data in events {
            reply = reply.chunk(format!("data: {data}\n\n"));
        }
        reply
    }

    /// A `text/event-stream` response with named events: `event: {name}` and `data: {data}`.
    pub fn sse_events<I, N, S>(events: I) -> Self
    where
        I: IntoIterator<Item = (N, S)>,
        N: std::fmt::Display,
        S: std::fmt::Display,
    {
        let mut reply = Self::status(200).header("content-type", "text/event-stream");
        for (name, data) in events {
            reply = reply.chunk(format!("event: {name}\ndata: {data}\n\n"));
        }
        reply
    }

    /// An `application/x-ndjson` response, one chunk per line.
    pub fn ndjson<I, S>(lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: std::fmt::Display,
    {
        let mut reply = Self::status(200).header("content-type", "application/x-ndjson");
        for line in lines {
            reply = reply.chunk(format!("{line}\n"));
        }
        reply
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Appends a raw body chunk (sent as written, e.g. a malformed SSE event).
    pub fn chunk(mut self, chunk: impl Into<Bytes>) -> Self {
        self.chunks.push(chunk.into());
        self
    }

    /// Waits this long before sending each chunk.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Keeps only the first `n` chunks, then breaks the connection (no clean end of body).
    pub fn abort_after(mut self, n: usize) -> Self {
        self.chunks.truncate(n);
        self.abort = true;
        self
    }

    /// Keeps only the first `n` chunks and ends the body cleanly (the provider's terminal
    /// chunk is missing).
    pub fn truncate(mut self, n: usize) -> Self {
        self.chunks.truncate(n);
        self
    }

    fn into_response(self) -> Response {
        let delay = self.delay;
        let chunks = futures::stream::iter(self.chunks).then(move |chunk| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, std::io::Error>(chunk)
        });
        let body = if self.abort {
            // Give the server time to flush what was sent before breaking the connection.
            let pause = delay.max(Duration::from_millis(20));
            let broken = futures::stream::once(async move {
                tokio::time::sleep(pause).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "scripted abort",
                ))
            });
            Body::from_stream(chunks.chain(broken))
        } else {
            Body::from_stream(chunks)
        };
        let mut response = Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

type Handler = dyn Fn(&RecordedRequest, usize) -> Reply + Send + Sync;

enum Script {
    /// Replies in order; the last one repeats.
    Queue(VecDeque<Reply>),
    /// Computes the reply from the request and its 0-based number.
    Handler(Box<Handler>),
}

struct Inner {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    count: AtomicUsize,
    recording: AtomicBool,
}

/// An in-process HTTP server on `127.0.0.1:<free port>` answering from a script. Stops when
/// dropped.
pub struct ScriptedServer {
    url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    /// Starts a server answering the n-th request with the n-th reply (the last one repeats;
    /// with none, every answer is a 500).
    ///
    /// # Panics
    /// If it cannot bind a local port.
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self::serve(Script::Queue(replies.into_iter().collect())).await
    }

    /// Starts a server answering each request with `handler(request, n)`, `n` counting
    /// requests from 0.
    ///
    /// # Panics
    /// If it cannot bind a local port.
    pub async fn with_handler(
        handler: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::serve(Script::Handler(Box::new(handler))).await
    }

    async fn serve(script: Script) -> Self {
        let inner = Arc::new(Inner {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            recording: AtomicBool::new(true),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a local port for the fake server");
        let addr = listener.local_addr().expect("local address");
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            inner,
            task,
        }
    }

    /// The server's URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far (while recording), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The number of requests received so far (recorded or not).
    pub fn request_count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// Whether to keep received requests for [`ScriptedServer::requests`] (on by default).
    /// Turn it off for benchmarks, so that memory does not grow with the request count.
    pub fn set_recording(&self, on: bool) {
        self.inner.recording.store(on, Ordering::SeqCst);
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let n = inner.count.fetch_add(1, Ordering::SeqCst);
    if inner.recording.load(Ordering::SeqCst) {
        lock(&inner.requests).push(recorded.clone());
    }
    let reply = match &mut *lock(&inner.script) {
        Script::Queue(queue) if queue.len() > 1 => queue.pop_front(),
        Script::Queue(queue) => queue.front().cloned(),
        Script::Handler(handler) => Some(handler(&recorded, n)),
    };
    let reply = reply.unwrap_or_else(|| {
        Reply::json(
            500,
            json!({"error": {"message": "the fake server has no reply scripted"}}),
        )
    });
    Ok(reply.into_response())
}

/// A scripted Chat Completions response for [`FakeOpenAi`]: text in chunks and/or tool calls,
/// usage and a finish reason. Convert it into a [`Reply`] with `.into()`.
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    text: Vec<String>,
    tool_calls: Vec<(String, String, String)>,
    delay: Duration,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    argument_pieces: usize,
}

impl Scripted {
    /// An empty response (add text or tool calls).
    pub fn new() -> Self {
        Self {
            argument_pieces: 3,
            ..Self::default()
        }
    }

    /// The text in one chunk.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new().chunks([text.into()])
    }

    /// `n` text chunks (`"tok0"`, `" tok1"`, …), each sent `delay` after the previous one.
    pub fn tokens(n: usize, delay: Duration) -> Self {
        Self::new()
            .chunks((0..n).map(|i| {
                if i == 0 {
                    "tok0".to_string()
                } else {
                    format!(" tok{i}")
                }
            }))
            .delay(delay)
    }

    /// Appends text chunks, one SSE event each.
    pub fn chunks(mut self, chunks: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.text.extend(chunks.into_iter().map(Into::into));
        self
    }

    /// Adds a tool call (several make parallel calls); its arguments are streamed split
    /// into pieces (3 unless changed with [`Scripted::argument_pieces`]).
    pub fn tool_call(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        self.tool_calls
            .push((id.into(), name.into(), arguments.into()));
        self
    }

    /// In how many chunks each tool call's arguments are sent.
    pub fn argument_pieces(mut self, pieces: usize) -> Self {
        self.argument_pieces = pieces.max(1);
        self
    }

    /// Waits this long before each chunk.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The usage reported in the final chunk (default: input 10, output = number of chunks).
    pub fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some(Usage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
            ..Usage::default()
        });
        self
    }

    /// The finish reason (default `tool_calls` when there are tool calls, else `stop`).
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// The SSE events' JSON data, `[DONE]` included, in order.
    pub fn events(&self) -> Vec<String> {
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "fake-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            })
            .to_string()
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        for text in &self.text {
            events.push(chunk(json!({ "content": text }), Value::Null));
        }
        for (index, (id, name, arguments)) in self.tool_calls.iter().enumerate() {
            events.push(chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in split(arguments, self.argument_pieces) {
                events.push(chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
        }
        let finish = self.finish_reason.clone().unwrap_or_else(|| {
            if self.tool_calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .to_string()
        });
        events.push(chunk(json!({}), json!(finish)));
        let usage = self.usage.unwrap_or(Usage {
            input_tokens: 10,
            output_tokens: (self.text.len() + self.tool_calls.len()) as u64,
            total_tokens: 10 + (self.text.len() + self.tool_calls.len()) as u64,
            ..Usage::default()
        });
        events.push(
            json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "fake-model",
                "choices": [],
                "usage": {
                    "prompt_tokens": usage.input_tokens,
                    "completion_tokens": usage.output_tokens,
                    "total_tokens": usage.total_tokens,
                },
            })
            .to_string(),
        );
        events.push("[DONE]".to_string());
        events
    }
}

/// Splits `text` into `pieces` parts of about equal length (on character boundaries).
fn split(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

impl From<Scripted> for Reply {
    fn from(scripted: Scripted) -> Self {
        Reply::sse_data(scripted.events()).delay(scripted.delay)
    }
}

/// A fake OpenAI Chat Completions server (`POST /v1/chat/completions`, SSE), answering from a
/// script of [`Reply`]s (usually [`Scripted`] ones, or errors such as
/// `Reply::json(429, …).header("retry-after", "1")`).
pub struct FakeOpenAi {
    server: ScriptedServer,
}

impl FakeOpenAi {
    /// Starts a server answering the n-th request with the n-th reply (the last repeats).
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            server: ScriptedServer::start(replies).await,
        }
    }

    /// Starts a server answering each request with `handler(request_json, n)`: for replies
    /// that depend on the conversation (e.g. a tool call first, then text once the tool's
    /// result is in `messages`).
    pub async fn with_handler(
        handler: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self {
            server: ScriptedServer::with_handler(move |request, n| handler(&request.json(), n))
                .await,
        }
    }

    /// The base URL to give a client: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// A client for this server: an [`OpenAiCompatible`] model named `model`, API key
    /// `test-key`, with quick retries (10 ms initial backoff) and a 10 s idle timeout.
    pub fn model(&self, model: &str) -> OpenAiCompatible {
        OpenAiCompatible::new(self.base_url(), model)
            .api_key("test-key")
            .options(
                ClientOptions::default()
                    .idle_timeout(Duration::from_secs(10))
                    .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(10))),
            )
    }

    /// Whether to keep received requests (on by default; turn it off for benchmarks).
    pub fn set_recording(&self, on: bool) {
        self.server.set_recording(on);
    }

    /// The JSON bodies of the requests received so far (while recording).
    pub fn requests(&self) -> Vec<Value> {
        self.server
            .requests()
            .iter()
            .map(RecordedRequest::json)
            .collect()
    }

    /// The underlying server (paths, headers, raw bodies).
    pub fn server(&self) -> &ScriptedServer {
        &self.server
    }
}
