//! The HTTP layer shared by every provider: one `reqwest` client per model, retries with
//! backoff before the stream starts, timeouts, and the SSE / NDJSON framing of response
//! bodies into frames that a provider's decoder turns into [`StreamEvent`]s.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::error::ModelError;
use crate::model::ModelStream;
use crate::types::{ChatResponse, StreamEvent};

/// Retries of a request that failed before its stream started: HTTP 408, 429 and 5xx, and
/// connection failures. 401/403 and other 4xx are never retried; nothing is retried once a
/// response chunk was handed out.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry). Default 3.
    pub max_attempts: u32,
    /// The first backoff; doubled on each retry, with jitter (a random 50–100 % of it).
    /// Default 500 ms.
    pub initial_backoff: Duration,
    /// Backoff ceiling. Default 30 s.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured: a provider asking for a longer wait fails the call
    /// at once with [`ModelError::RateLimited`] (or `Server`) carrying it. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        Self::default().max_attempts(1)
    }

    /// Sets the number of attempts (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the backoff ceiling.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets the longest `Retry-After` honoured.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.max_backoff);
        exp.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

/// Connection, timeout and retry settings of a model client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Establishing the TCP (and TLS) connection. Default 10 s.
    pub connect_timeout: Duration,
    /// The longest silence from the provider: waiting for the response headers, and between
    /// two chunks of the stream. Default 120 s (reasoning models can think quietly).
    pub idle_timeout: Duration,
    /// A deadline for the whole call, retries and the complete stream included. Default none.
    pub request_timeout: Option<Duration>,
    /// Retries before the stream starts.
    pub retry: RetryPolicy,
    /// Extra headers sent with every request (e.g. an organisation or project header).
    pub extra_headers: Vec<(String, String)>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: None,
            retry: RetryPolicy::default(),
            extra_headers: Vec::new(),
        }
    }
}

impl ClientOptions {
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the idle timeout (response headers, and the gap between two chunks).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets a deadline for the whole call.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Adds a header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }
}

/// One `reqwest` client (a connection pool) and the options it was built with.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: Result<reqwest::Client, String>,
    options: ClientOptions,
}

impl HttpClient {
    pub(crate) fn new(options: ClientOptions) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"));
        Self { client, options }
    }

    /// POSTs `body` (JSON) to `url` with retries and returns the decoded response stream.
    pub(crate) async fn post_stream<D: Decoder>(
        &self,
        url: &str,
        mut headers: HeaderMap,
        body: &serde_json::Value,
        framing: Framing,
        decoder: D,
    ) -> Result<ModelStream, ModelError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ModelError::Connection(e.clone()))?;
        let body = Bytes::from(
            serde_json::to_vec(body).map_err(|e| ModelError::InvalidRequest(e.to_string()))?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.options.extra_headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| ModelError::InvalidRequest(format!("header {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| ModelError::InvalidRequest(format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let options = &self.options;
        let deadline = options.request_timeout.map(|t| Instant::now() + t);
        let retry = &options.retry;
        let mut attempt = 1;
        loop {
            let send = client
                .post(url)
                .headers(headers.clone())
                .body(body.clone())
                .send();
            let (error, retry_after) =
                match within(deadline, options.idle_timeout, "response", send).await? {
                    Ok(response) if response.status().is_success() => {
                        return Ok(drive(
                            response,
                            framing,
                            decoder,
                            options.idle_timeout,
                            deadline,
                        ));
                    }
                    Ok(response) => error_from_response(response, deadline, options).await?,
                    Err(e) => (request_error(e), None),
                };
            let retryable = matches!(
                error,
                ModelError::RateLimited { .. }
                    | ModelError::Server { .. }
                    | ModelError::Connection(_)
            ) || matches!(error, ModelError::BadRequest { status: 408, .. });
            if !retryable || attempt >= retry.max_attempts {
                return Err(error);
            }
            let wait = retry_after.unwrap_or_else(|| retry.backoff(attempt));
            if wait > retry.max_retry_after {
                return Err(error);
            }
            if let Some(deadline) = deadline {
                if Instant::now() + wait >= deadline {
                    return Err(error);
                }
            }
            tracing::debug!(url, attempt, ?wait, %error, "model request failed, retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// Awaits `fut` within the idle timeout and the overall deadline.
async fn within<F: std::future::Future>(
    deadline: Option<Instant>,
    idle: Duration,
    what: &str,
    fut: F,
) -> Result<F::Output, ModelError> {
    let idle_at = Instant::now() + idle;
    let (at, which) = match deadline {
        Some(d) if d < idle_at => (d, "request deadline"),
        _ => (idle_at, "idle"),
    };
    tokio::time::timeout_at(at, fut)
        .await
        .map_err(|_| ModelError::Timeout(format!("{which} timeout waiting for the {what}")))
}

fn request_error(e: reqwest::Error) -> ModelError {
    if e.is_timeout() {
        ModelError::Timeout(format!("connect: {e}"))
    } else {
        ModelError::Connection(error_chain(&e))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps a non-success response to an error, reading the provider's message from its body;
/// also returns the response's `Retry-After`.
async fn error_from_response(
    response: reqwest::Response,
    deadline: Option<Instant>,
    options: &ClientOptions,
) -> Result<(ModelError, Option<Duration>), ModelError> {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = match within(
        deadline,
        options.idle_timeout,
        "error body",
        response.bytes(),
    )
    .await?
    {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(error body unreadable: {e})"),
    };
    let message = error_message(&body, status);
    let code = status.as_u16();
    let error = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ModelError::Unauthorized {
            status: code,
            message,
        },
        StatusCode::TOO_MANY_REQUESTS => ModelError::RateLimited {
            retry_after,
            message,
        },
        s if s.is_server_error() => ModelError::Server {
            status: code,
            message,
        },
        _ => ModelError::BadRequest {
            status: code,
            message,
        },
    };
    Ok((error, retry_after))
}

/// The provider's error message from a JSON error body: `error.message` (OpenAI, Anthropic,
/// Gemini), `error` as a string (Ollama), `message`, or else the body itself (shortened).
pub(crate) fn error_message(body: &str, status: StatusCode) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let found = json
            .pointer("/error/message")
            .or_else(|| json.get("error").filter(|e| e.is_string()))
            .or_else(|| json.get("message"))
            .or_else(|| json.pointer("/0/error/message"))
            .and_then(|m| m.as_str());
        if let Some(message) = found {
            return message.to_string();
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return status.to_string();
    }
    let mut text: String = body.chars().take(2000).collect();
    if text.len() < body.len() {
        text.push('…');
    }
    text
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, SystemTime::now())
}

/// Parses a `Retry-After` value: delay seconds (integer or decimal) or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How a streamed body is cut into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Server-sent events: `event:` / `data:` lines, events separated by a blank line.
    Sse,
    /// One JSON document per line (Ollama).
    Ndjson,
}

/// One frame of a streamed body: an SSE event, or one NDJSON line (`event` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The SSE `event:` field, if any.
    pub event: Option<String>,
    /// The SSE data (lines joined with `\n`), or the NDJSON line.
    pub data: String,
}

/// A provider's stream decoder: turns frames into deltas and, at its terminal frame, the
/// complete response.
pub(crate) trait Decoder: Send + 'static {
    /// Decodes one frame, pushing deltas to `out`. Returns the complete response when this
    /// was the terminal frame.
    fn feed(
        &mut self,
        frame: Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Option<ChatResponse>, ModelError>;

    /// Called when the body ended before a terminal frame. Providers without a terminal
    /// marker (Gemini) complete here; the others report [`ModelError::StreamDropped`].
    fn at_eof(&mut self) -> Result<ChatResponse, ModelError> {
        Err(ModelError::StreamDropped)
    }
}

/// Longest line accepted in a streamed body.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Incremental splitter of a body into frames.
struct Framer {
    framing: Framing,
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl Framer {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            buf: Vec::new(),
            event: None,
            data: None,
        }
    }

    /// Appends a chunk and returns the frames it completed.
    fn push(&mut self, chunk: &[u8], frames: &mut Vec<Frame>) -> Result<(), ModelError> {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = std::str::from_utf8(line)
                .map_err(|e| ModelError::MalformedStream(format!("invalid UTF-8: {e}")))?
                .to_string();
            start = end + 1;
            self.line(line, frames);
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(ModelError::MalformedStream(format!(
                "a line longer than {MAX_LINE} bytes"
            )));
        }
        Ok(())
    }

    fn line(&mut self, line: String, frames: &mut Vec<Frame>) {
        match self.framing {
            Framing::Ndjson => {
                if !line.trim().is_empty() {
                    frames.push(Frame {
                        event: None,
                        data: line,
                    });
                }
            }
            Framing::Sse => {
                if line.is_empty() {
                    if let Some(data) = self.data.take() {
                        frames.push(Frame {
                            event: self.event.take(),
                            data,
                        });
                    }
                    self.event = None;
                    return;
                }
                if line.starts_with(':') {
                    return; // comment / keep-alive
                }
                let (field, value) = match line.split_once(':') {
                    Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                    None => (line.as_str(), ""),
                };
                match field {
                    "data" => match &mut self.data {
                        Some(data) => {
                            data.push('\n');
                            data.push_str(value);
                        }
                        None => self.data = Some(value.to_string()),
                    },
                    "event" => self.event = Some(value.to_string()),
                    _ => {} // id, retry, unknown fields
                }
            }
        }
    }
}

/// The state of one response stream.
struct Driver<D> {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    framer: Framer,
    decoder: D,
    pending: VecDeque<Result<StreamEvent, ModelError>>,
    done: bool,
    idle: Duration,
    deadline: Option<Instant>,
}

/// Turns a successful response into the stream of events: each chunk is framed and decoded
/// as soon as it arrives, and its deltas are handed out at once.
fn drive<D: Decoder>(
    response: reqwest::Response,
    framing: Framing,
    decoder: D,
    idle: Duration,
    deadline: Option<Instant>,
) -> ModelStream {
    let driver = Driver {
        body: response.bytes_stream().boxed(),
        framer: Framer::new(framing),
        decoder,
        pending: VecDeque::new(),
        done: false,
        idle,
        deadline,
    };
    futures::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(item) = d.pending.pop_front() {
                if item.is_err() {
                    d.pending.clear();
                    d.done = true;
                }
                return Some((item, d));
            }
            if d.done {
                return None;
            }
            d.step().await;
        }
    })
    .boxed()
}

impl<D: Decoder> Driver<D> {
    /// Reads one chunk and queues what it produced (or the error that ends the stream).
    async fn step(&mut self) {
        let next = match within(self.deadline, self.idle, "next chunk", self.body.next()).await {
            Ok(next) => next,
            Err(timeout) => return self.fail(timeout),
        };
        match next {
            None => {
                self.done = true;
                match self.decoder.at_eof() {
                    Ok(response) => self.pending.push_back(Ok(StreamEvent::Completed(response))),
                    Err(e) => self.pending.push_back(Err(e)),
                }
            }
            Some(Err(e)) if e.is_timeout() => {
                self.fail(ModelError::Timeout(format!("reading the stream: {e}")))
            }
            Some(Err(e)) => {
                tracing::debug!(error = %error_chain(&e), "model stream broke");
                self.fail(ModelError::StreamDropped)
            }
            Some(Ok(chunk)) => {
                let mut frames = Vec::new();
                let framed = self.framer.push(&chunk, &mut frames);
                let mut out = Vec::new();
                for frame in frames {
                    let result = self.decoder.feed(frame, &mut out);
                    self.pending.extend(out.drain(..).map(Ok));
                    match result {
                        Ok(None) => {}
                        Ok(Some(response)) => {
                            self.pending.push_back(Ok(StreamEvent::Completed(response)));
                            self.done = true;
                            return;
                        }
                        Err(e) => return self.fail(e),
                    }
                }
                if let Err(e) = framed {
                    self.fail(e);
                }
            }
        }
    }

    fn fail(&mut self, error: ModelError) {
        self.pending.push_back(Err(error));
        self.done = true;
    }
}

/// Parses one frame's JSON, mapping a parse failure to [`ModelError::MalformedStream`].
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, ModelError> {
    serde_json::from_str(data).map_err(|e| {
        let mut shown: String = data.chars().take(200).collect();
        if shown.len() < data.len() {
            shown.push('…');
        }
        ModelError::MalformedStream(format!("{e} in chunk {shown:?}"))
    })
}

/// Joins a base URL and a path with exactly one slash.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A header value from a secret, rejecting characters HTTP forbids.
pub(crate) fn header_value(value: &str) -> Result<HeaderValue, ModelError> {
    let mut value = HeaderValue::try_from(value)
        .map_err(|_| ModelError::InvalidRequest("API key contains invalid characters".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framing: Framing, chunks: &[&str]) -> Vec<Frame> {
        let mut framer = Framer::new(framing);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk.as_bytes(), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn sse_frames_split_anywhere() {
        let text = "event: a\ndata: {\"x\":1}\n\n: keep-alive\n\ndata: l1\r\ndata: l2\r\n\r\ndata: [DONE]\n\n";
        let whole = frames(Framing::Sse, &[text]);
        let bytewise: Vec<String> = text.chars().map(|c| c.to_string()).collect();
        let split = frames(
            Framing::Sse,
            &bytewise.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(whole, split);
        assert_eq!(
            whole,
            vec![
                Frame {
                    event: Some("a".into()),
                    data: "{\"x\":1}".into()
                },
                Frame {
                    event: None,
                    data: "l1\nl2".into()
                },
                Frame {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }

    #[test]
    fn sse_incomplete_event_at_eof_is_not_emitted() {
        assert!(frames(Framing::Sse, &["data: {\"partial\""]).is_empty());
    }

    #[test]
    fn ndjson_lines() {
        let out = frames(Framing::Ndjson, &["{\"a\":1}\n{\"b\"", ":2}\n\n", "{\"c\""]);
        let data: Vec<_> = out.into_iter().map(|f| f.data).collect();
        assert_eq!(data, vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let mut framer = Framer::new(Framing::Sse);
        let err = framer
            .push(b"data: \xff\xfe\n\n", &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, ModelError::MalformedStream(_)));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn error_messages_from_each_provider_shape() {
        let s = StatusCode::UNAUTHORIZED;
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key","type":"x"}}"#, s),
            "bad key"
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                s
            ),
            "invalid x-api-key"
        );
        assert_eq!(
            error_message(r#"{"error":"model not found"}"#, s),
            "model not found"
        );
        assert_eq!(
            error_message(r#"[{"error":{"code":400,"message":"gemini says no"}}]"#, s),
            "gemini says no"
        );
        assert_eq!(error_message("plain text", s), "plain text");
        assert_eq!(error_message("", s), "401 Unauthorized");
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(300));
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(150) && third <= Duration::from_millis(300));
            assert!(policy.backoff(40) <= Duration::from_millis(300));
        }
    }
}
