//! `/workflows/ws`: the AgentOS WebSocket protocol for workflows.
//!
//! JSON text frames both ways. On connect the server sends
//! `{"event":"connected","message","requires_auth"}`. Client actions:
//!
//! | action | reply |
//! |---|---|
//! | `authenticate` `{token}` | `authenticated` or `auth_error` |
//! | `ping` | `pong` |
//! | `start-workflow` `{workflow_id, message?, idempotency_key?, session_id?, user_id?, session_state?, dependencies?, metadata?, additional_data?, webhook_url?}` | `queued` `{run_id, session_id, status}`, then the run's events (background + stream: the run goes on if the socket drops) |
//! | `reconnect` `{run_id, workflow_id?, session_id?, last_event_index?}` | `catch_up` / `subscribed` / `replay` / `error` meta frames, then events |
//! | anything else | `error` |
//!
//! `start-workflow` creates its run through the same path as `POST /workflows/{id}/runs`
//! (`create_run.rs`): the run fields are read as a JSON body is, `idempotency_key` does what
//! the `Idempotency-Key` header does (the same key and fields give the same run, whichever
//! entry point sent them), and an error frame carries the code the HTTP route would answer.
//! `message` defaults to `""` as in AgentOS. What each malformed message is answered with is
//! in `message.rs`.
//!
//! With a security key, every action but `authenticate` and before it answers
//! `auth_required`. Events are sent as stored (flat JSON, one per frame). One socket may follow
//! up to 32 runs at once.

mod message;

use crate::create_run::{CreateRun, Entry};
use crate::error::ApiError;
use crate::respond;
use crate::stream::{event_frames, resume_frames, Frame};
use crate::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use kern_core::store::{ComponentKind, RunId, RunRecord};
use message::{Action, ClientMessage, MessageError, Reconnect, StartWorkflow};
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many runs one socket may follow at once.
const MAX_RUNS_PER_SOCKET: usize = 32;
/// Frames buffered per socket for its run pumps before they wait for the client.
const PUMP_BUFFER: usize = 256;

/// `GET /workflows/ws` (behind the authentication layer, which lets it through: the socket
/// authenticates in its own protocol).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/workflows/ws", get(handler))
        .with_state(state)
}

/// The upgrade handler.
async fn handler(
    State(st): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(up) => up.on_upgrade(move |socket| connection(st, socket)),
        Err(e) => ApiError::BadRequest(format!(
            "this route speaks WebSocket only: {}",
            e.body_text()
        ))
        .into_response(),
    }
}

/// A frame `{"event": name, …fields}`.
fn event(name: &str, fields: Value) -> String {
    let mut v = json!({ "event": name });
    if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
        m.extend(f);
    }
    v.to_string()
}

/// An `error` frame.
fn error(message: impl Into<String>) -> String {
    event("error", json!({ "error": message.into() }))
}

/// An `error` frame with the code the HTTP routes would answer.
fn api_error(e: &ApiError) -> String {
    event("error", json!({ "error": e.to_string(), "code": e.code() }))
}

/// One socket's state.
struct Conn {
    st: AppState,
    authenticated: bool,
    /// Who authenticated (a JWT user sees only their own runs).
    caller: crate::auth::Caller,
    /// Replies to the client's actions (sent before any later pump frame).
    replies: mpsc::UnboundedSender<String>,
    /// Frames of followed runs.
    pump_tx: mpsc::Sender<String>,
    pumps: HashMap<RunId, JoinHandle<()>>,
}

impl Conn {
    fn reply(&self, text: String) {
        let _ = self.replies.send(text);
    }

    /// Follows a run on this socket (replacing an earlier pump of the same run).
    fn attach(&mut self, run_id: RunId, frames: BoxStream<'static, Frame>) {
        if let Some(old) = self.pumps.remove(&run_id) {
            old.abort();
        }
        let tx = self.pump_tx.clone();
        let task = tokio::spawn(async move {
            let mut frames = frames;
            while let Some(f) = frames.next().await {
                if tx.send(f.to_ws_text()).await.is_err() {
                    break;
                }
            }
        });
        self.pumps.insert(run_id, task);
    }

    /// Whether the socket already follows as many runs as it may (then says so); a run it
    /// already follows does not count against it.
    fn at_capacity(&mut self, run_id: Option<RunId>) -> bool {
        self.pumps.retain(|_, h| !h.is_finished());
        if run_id.is_some_and(|id| self.pumps.contains_key(&id)) {
            return false;
        }
        if self.pumps.len() >= MAX_RUNS_PER_SOCKET {
            self.reply(error(format!(
                "Too many runs in flight on this connection ({}); wait for some to finish or open another connection",
                self.pumps.len()
            )));
            return true;
        }
        false
    }

    /// Answers one text frame.
    async fn handle(&mut self, text: &str) {
        let parsed = message::parse(text);
        // Before authentication every action but `authenticate`, known or not, gets the same
        // answer; a frame that is no message at all is still told so.
        let readable = !matches!(
            parsed,
            Err(MessageError::NotJson(_) | MessageError::NotAnObject)
        );
        let authenticating = matches!(parsed, Ok(Action::Authenticate(_)));
        if !self.authenticated && readable && !authenticating {
            return self.reply(event(
                "auth_required",
                json!({ "error": "Authentication required. Send authenticate action with valid bearer token." }),
            ));
        }
        let msg = match parsed.and_then(Action::into_message) {
            Ok(m) => m,
            Err(MessageError::Field(e)) => return self.reply(api_error(&e.into())),
            Err(e) => return self.reply(error(e.to_string())),
        };
        match msg {
            ClientMessage::Authenticate { token } => self.authenticate(&token),
            ClientMessage::Ping => self.reply(event("pong", json!({}))),
            ClientMessage::StartWorkflow(start) => self.start(start).await,
            ClientMessage::Reconnect(r) => self.reconnect(r).await,
        }
    }

    /// `authenticate`: the token is the security key or a JWT.
    fn authenticate(&mut self, token: &str) {
        if token.is_empty() && self.st.auth.required() {
            return self.reply(event("auth_error", json!({ "error": "Token is required" })));
        }
        match self.st.auth.verify_token(token) {
            Ok(caller) => {
                self.authenticated = true;
                self.caller = caller;
                self.reply(event(
                    "authenticated",
                    json!({ "message": "Authentication successful. You can now send commands." }),
                ));
            }
            Err(_) => self.reply(event("auth_error", json!({ "error": "Invalid token" }))),
        }
    }

    /// `start-workflow`: the run is created as `POST /workflows/{id}/runs` creates a
    /// background, streamed one (see `create_run`), then followed on this socket.
    async fn start(&mut self, msg: StartWorkflow) {
        if self.at_capacity(None) {
            return;
        }
        let key = msg.idempotency_key.as_deref().map(str::as_bytes);
        let run = CreateRun::decode(
            &self.st,
            &self.caller,
            Entry::WebSocket,
            ComponentKind::Workflow,
            &msg.workflow_id,
            &msg.fields,
            key,
        )
        .await;
        let run = match run {
            Ok(r) => r,
            Err(e) => return self.reply(api_error(&e.into())),
        };
        let started = self
            .st
            .engine
            .start_stream(run.kind, &run.component_id, run.request)
            .await;
        match started {
            Ok((run, events)) => {
                self.reply(event("queued", respond::queued(&run)));
                self.attach(run.run_id, event_frames(events));
            }
            Err(e) => self.reply(api_error(&ApiError::from(e))),
        }
    }

    /// `reconnect`: the run's events after `last_event_index`, then its live tail.
    async fn reconnect(&mut self, msg: Reconnect) {
        let not_found = || {
            error(format!(
                "Run {} not found in buffer or database",
                msg.run_id
            ))
        };
        let Ok(run_id) = RunId::parse_str(msg.run_id.trim()) else {
            return self.reply(not_found());
        };
        let run = match self.st.engine.get_run(run_id).await {
            Ok(r) => r,
            Err(e) => return self.reply(api_error(&ApiError::from(e))),
        };
        let matches = |r: &RunRecord| {
            let wf = msg.workflow_id.as_deref();
            wf.is_none_or(|w| r.kind == ComponentKind::Workflow && r.component_id == w)
                && msg.session_id.as_deref().is_none_or(|s| s == r.session_id)
                && self.caller.may_see(r.user_id.as_deref())
        };
        let Some(run) = run.filter(matches) else {
            return self.reply(not_found());
        };
        if self.at_capacity(Some(run_id)) {
            return;
        }
        match resume_frames(&self.st.engine, &run, msg.last_event_index).await {
            Ok(frames) => self.attach(run_id, frames),
            Err(e) => self.reply(api_error(&e)),
        }
    }
}

/// One socket, from `connected` to close: replies to actions first, then followed runs'
/// frames; the server's stop closes it.
async fn connection(st: AppState, socket: WebSocket) {
    let _open = crate::metrics::ServerMetrics::ws_client(&st);
    let (mut sink, mut incoming) = socket.split();
    let (replies, mut reply_rx) = mpsc::unbounded_channel::<String>();
    let (pump_tx, mut pump_rx) = mpsc::channel::<String>(PUMP_BUFFER);
    let requires_auth = st.auth.required();
    let closed = st.streams_closed.clone();
    let mut conn = Conn {
        authenticated: !requires_auth,
        caller: crate::auth::Caller::anonymous(),
        st,
        replies,
        pump_tx,
        pumps: HashMap::new(),
    };
    conn.reply(event(
        "connected",
        json!({
            "message": if requires_auth {
                "Connected to AgentOS. Please authenticate to continue."
            } else {
                "Connected to AgentOS."
            },
            "requires_auth": requires_auth,
        }),
    ));
    loop {
        tokio::select! {
            biased;
            _ = closed.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
            Some(text) = reply_rx.recv() => {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            Some(text) = pump_rx.recv() => {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = incoming.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(t))) => conn.handle(t.as_str()).await,
                Some(Ok(Message::Binary(_))) => conn.reply(error("Binary frames are not supported: send JSON text")),
                Some(Ok(_)) => {} // ping/pong: answered by the library
            },
        }
    }
    for (_, pump) in conn.pumps.drain() {
        pump.abort();
    }
}
