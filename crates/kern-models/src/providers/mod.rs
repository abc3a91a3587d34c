//! The providers, one module per wire protocol, and what they share.

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai_chat;
pub mod openai_responses;
mod provider;

pub use provider::Provider;

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::error::ModelError;
use crate::types::{Message, Role};

/// Looks up an environment variable (injectable, for [`crate::model_from_spec_with`]).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The first of `vars` that is set and not empty.
pub(crate) fn first_env(env: Env<'_>, vars: &[&str]) -> Option<String> {
    vars.iter()
        .filter_map(|v| env(v))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// The process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Tool-call id → tool name, from the assistant messages of a conversation (for providers
/// whose tool results carry the tool's name rather than the call's id).
pub(crate) fn tool_names(messages: &[Message]) -> HashMap<&str, &str> {
    messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter())
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect()
}

/// The name of the tool a `Role::Tool` message answers: its `name`, or the name of the call
/// with its `tool_call_id`.
pub(crate) fn tool_result_name(message: &Message, names: &HashMap<&str, &str>) -> String {
    message
        .name
        .clone()
        .or_else(|| {
            message
                .tool_call_id
                .as_deref()
                .and_then(|id| names.get(id))
                .map(|n| n.to_string())
        })
        .unwrap_or_default()
}

/// Parses tool-call arguments (raw JSON text) into the JSON object some providers require.
/// Empty text is `{}`.
pub(crate) fn arguments_object(arguments: &str) -> Result<Value, ModelError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) | Err(_) => Err(ModelError::InvalidRequest(format!(
            "tool-call arguments must be a JSON object for this provider, got {arguments:?}"
        ))),
    }
}

/// An id for the `n`-th tool call of a response, for providers that give none.
pub(crate) fn generated_call_id(n: usize) -> String {
    format!("call_{n}")
}

/// `Some(text)` unless it is empty.
pub(crate) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
