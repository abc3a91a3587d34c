//! The client's messages, parsed: a JSON object whose `action` names what it asks.
//!
//! Parsing is two steps, so that an unauthenticated client learns nothing but
//! `auth_required` about what it sent: [`parse`] reads the text as a JSON object and its
//! `action` into a serde tagged enum ([`Action`], each action's other members kept as
//! [`Fields`]); then [`Action::into_message`] reads each action's fields with the coercions and
//! errors of the HTTP routes (a JSON body's), into a typed [`ClientMessage`].
//!
//! | what is wrong | error frame |
//! |---|---|
//! | not JSON | `{"error": "Invalid JSON: …"}` |
//! | JSON, not an object | `{"error": "Invalid message: expected a JSON object"}` |
//! | `action` absent, not a string, or not one of the actions | `{"error": "Unknown action: …"}` |
//! | `start-workflow` without `workflow_id` | `{"error": "workflow_id is required"}` |
//! | `reconnect` without `run_id` | `{"error": "run_id is required for subscription"}` |
//! | a field of the wrong form (`session_id` not text or too long, `last_event_index` not an index, …) | `{"error": "<detail>", "code": "<code>"}`, the code the HTTP routes answer the same field with |

use crate::form::{FieldError, Fields};
use serde::Deserialize;
use serde_json::Value;

/// A message's action and its other members, as serde reads them.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub(super) enum Action {
    /// `authenticate`.
    Authenticate(Fields),
    /// `ping` (other members ignored).
    Ping {},
    /// `start-workflow`.
    StartWorkflow(Fields),
    /// `reconnect`.
    Reconnect(Fields),
}

/// A client's message, read.
#[derive(Debug)]
pub(super) enum ClientMessage {
    /// `{"action": "authenticate", "token"}`: a missing or non-text token is empty.
    Authenticate {
        /// The security key or JWT.
        token: String,
    },
    /// `{"action": "ping"}`.
    Ping,
    /// `{"action": "start-workflow", "workflow_id", "idempotency_key"?, …run fields}`.
    StartWorkflow(StartWorkflow),
    /// `{"action": "reconnect", "run_id", "workflow_id"?, "session_id"?, "last_event_index"?}`.
    Reconnect(Reconnect),
}

/// `start-workflow`: a background, streamed run of a workflow.
#[derive(Debug)]
pub(super) struct StartWorkflow {
    /// The workflow.
    pub(super) workflow_id: String,
    /// The idempotency key (the HTTP route's `Idempotency-Key` header): the same key and run
    /// fields give the same run, from any entry point.
    pub(super) idempotency_key: Option<String>,
    /// Every member (the two above included, ignored by the run): the run's fields, read as
    /// `POST /workflows/{id}/runs` reads a JSON body (`message`, `session_id`, `user_id`,
    /// `session_state`, `dependencies`, `metadata`, `additional_data`, `webhook_url`).
    pub(super) fields: Fields,
}

/// `reconnect`: follow a run from an index.
#[derive(Debug)]
pub(super) struct Reconnect {
    /// The run, as sent (a malformed id is a run not found).
    pub(super) run_id: String,
    /// When given, the run must be this workflow's.
    pub(super) workflow_id: Option<String>,
    /// When given, the run must be in this session.
    pub(super) session_id: Option<String>,
    /// The last event the client has (`None`: from the first).
    pub(super) last_event_index: Option<u64>,
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum MessageError {
    /// Not JSON.
    #[error("Invalid JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not an object.
    #[error("Invalid message: expected a JSON object")]
    NotAnObject,
    /// No `action`, or not one of the actions (holds the action as text, `""` when absent or
    /// not a string).
    #[error("Unknown action: {0}")]
    UnknownAction(String),
    /// `start-workflow` without a `workflow_id`.
    #[error("workflow_id is required")]
    NoWorkflowId,
    /// `reconnect` without a `run_id`.
    #[error("run_id is required for subscription")]
    NoRunId,
    /// A field of the wrong form (sent with the code of its [`ApiError`](crate::ApiError)).
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// Reads a text frame into its action (see the module's table for the errors).
pub(super) fn parse(text: &str) -> Result<Action, MessageError> {
    let value: Value = serde_json::from_str(text).map_err(MessageError::NotJson)?;
    let Value::Object(map) = &value else {
        return Err(MessageError::NotAnObject);
    };
    let name = map.get("action").and_then(Value::as_str).unwrap_or("");
    // Every action takes any other members, so a failure here is the action's own.
    let unknown = MessageError::UnknownAction(name.to_owned());
    serde_json::from_value(value).map_err(|_| unknown)
}

impl Action {
    /// Reads the action's fields.
    pub(super) fn into_message(self) -> Result<ClientMessage, MessageError> {
        Ok(match self {
            Action::Authenticate(f) => ClientMessage::Authenticate {
                token: f.opt_string("token").ok().flatten().unwrap_or_default(),
            },
            Action::Ping {} => ClientMessage::Ping,
            Action::StartWorkflow(fields) => ClientMessage::StartWorkflow(StartWorkflow {
                workflow_id: fields
                    .opt_string("workflow_id")?
                    .ok_or(MessageError::NoWorkflowId)?,
                idempotency_key: fields.opt_string("idempotency_key")?,
                fields,
            }),
            Action::Reconnect(f) => ClientMessage::Reconnect(Reconnect {
                run_id: f.opt_string("run_id")?.ok_or(MessageError::NoRunId)?,
                workflow_id: f.opt_string("workflow_id")?,
                session_id: f.session_id()?,
                last_event_index: f.event_index("last_event_index")?.flatten(),
            }),
        })
    }
}
