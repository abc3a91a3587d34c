//! `/workflows/ws`: the AgentOS WebSocket protocol for workflows.
//!
//! JSON text frames both ways. On connect the server sends
//! `{"event":"connected","message","requires_auth"}`. Client actions:
//!
//! | action | reply |
//! |---|---|
//! | `authenticate` `{token}` | `authenticated` or `auth_error` |
//! | `ping` | `pong` |
//! | `start-workflow` `{workflow_id, message, session_id?, user_id?}` | `queued` `{run_id, session_id, status}`, then the run's events (background + stream: the run goes on if the socket drops) |
//! | `reconnect` `{run_id, workflow_id?, session_id?, last_event_index?}` | `catch_up` / `subscribed` / `replay` / `error` meta frames, then events |
//! | anything else | `error` |
//!
//! With a security key, every action but `authenticate` and before it answers
//! `auth_required`. Events are sent as stored (flat JSON, one per frame). One socket may follow
//! up to 32 runs at once.

use crate::error::ApiError;
use crate::form::{check_session_id, parse_index};
use crate::stream::{event_frames, resume_frames, Frame};
use crate::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use kern_core::engine::RunRequest;
use kern_core::store::{ComponentKind, RunId};
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many runs one socket may follow at once.
const MAX_RUNS_PER_SOCKET: usize = 32;
/// Frames buffered per socket for its run pumps before they wait for the client.
const PUMP_BUFFER: usize = 256;

/// The upgrade handler.
pub(crate) async fn handler(
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

fn event(name: &str, fields: Value) -> String {
    let mut v = json!({ "event": name });
    if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
        m.extend(f);
    }
    v.to_string()
}

fn error(message: impl Into<String>) -> String {
    event("error", json!({ "error": message.into() }))
}

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

    async fn handle(&mut self, text: &str) {
        let msg: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.reply(error("Invalid message: expected a JSON object")),
            Err(e) => return self.reply(error(format!("Invalid JSON: {e}"))),
        };
        let action = msg.get("action").and_then(Value::as_str).unwrap_or("");
        if action == "authenticate" {
            let token = msg.get("token").and_then(Value::as_str).unwrap_or("");
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
            return;
        }
        if !self.authenticated {
            return self.reply(event(
                "auth_required",
                json!({ "error": "Authentication required. Send authenticate action with valid bearer token." }),
            ));
        }
        match action {
            "ping" => self.reply(event("pong", json!({}))),
            "start-workflow" => self.start(&msg).await,
            "reconnect" => self.reconnect(&msg).await,
            other => self.reply(error(format!("Unknown action: {other}"))),
        }
    }

    async fn start(&mut self, msg: &Value) {
        let Some(workflow_id) = msg.get("workflow_id").and_then(Value::as_str) else {
            return self.reply(error("workflow_id is required"));
        };
        if self.at_capacity(None) {
            return;
        }
        let text = |k: &str| {
            msg.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && *s != "null")
                .map(str::to_owned)
        };
        let object = |k: &str| msg.get(k).filter(|v| v.is_object()).cloned();
        let req = RunRequest {
            input: msg.get("message").cloned().unwrap_or_else(|| json!("")),
            session_id: text("session_id"),
            user_id: self.caller.user_id.clone().or_else(|| text("user_id")),
            session_state: object("session_state"),
            metadata: object("metadata"),
            additional_data: msg.get("additional_data").cloned(),
            webhook_url: self.st.webhooks.default_url.clone(),
            ..Default::default()
        };
        if let Some(Err(e)) = req.session_id.as_deref().map(check_session_id) {
            return self.reply(api_error(&e));
        }
        if let Err(e) =
            crate::access::check_session_owner(&self.st, &self.caller, req.session_id.as_deref())
                .await
        {
            return self.reply(api_error(&e));
        }
        match self
            .st
            .engine
            .start_stream(ComponentKind::Workflow, workflow_id, req)
            .await
        {
            Ok((run, events)) => {
                self.reply(event(
                    "queued",
                    json!({
                        "run_id": run.run_id.to_string(),
                        "session_id": run.session_id,
                        "status": crate::wire_status(run.status),
                    }),
                ));
                self.attach(run.run_id, event_frames(events));
            }
            Err(e) => self.reply(api_error(&ApiError::from(e))),
        }
    }

    async fn reconnect(&mut self, msg: &Value) {
        let Some(run_id_text) = msg.get("run_id").and_then(Value::as_str) else {
            return self.reply(error("run_id is required for subscription"));
        };
        let last = match msg.get("last_event_index") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match parse_index(&n.to_string()) {
                Ok(i) => i,
                Err(e) => return self.reply(api_error(&e)),
            },
            Some(Value::String(s)) => match parse_index(s) {
                Ok(i) => i,
                Err(e) => return self.reply(api_error(&e)),
            },
            Some(other) => {
                return self.reply(api_error(&ApiError::InvalidLastEventIndex(format!(
                    "expected an integer, got {other}"
                ))))
            }
        };
        if let Some(Err(e)) = msg
            .get("session_id")
            .and_then(Value::as_str)
            .map(check_session_id)
        {
            return self.reply(api_error(&e));
        }
        let not_found = || error(format!("Run {run_id_text} not found in buffer or database"));
        let Ok(run_id) = RunId::parse_str(run_id_text.trim()) else {
            return self.reply(not_found());
        };
        let run = match self.st.engine.get_run(run_id).await {
            Ok(r) => r,
            Err(e) => return self.reply(api_error(&ApiError::from(e))),
        };
        let matches = |r: &kern_core::store::RunRecord| {
            let wf = msg.get("workflow_id").and_then(Value::as_str);
            let session = msg
                .get("session_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            wf.is_none_or(|w| r.kind == ComponentKind::Workflow && r.component_id == w)
                && session.is_none_or(|s| s == r.session_id)
                && self.caller.may_see(r.user_id.as_deref())
        };
        let Some(run) = run.filter(matches) else {
            return self.reply(not_found());
        };
        if self.at_capacity(Some(run_id)) {
            return;
        }
        match resume_frames(&self.st.engine, &run, last).await {
            Ok(frames) => self.attach(run_id, frames),
            Err(e) => self.reply(api_error(&e)),
        }
    }
}

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
