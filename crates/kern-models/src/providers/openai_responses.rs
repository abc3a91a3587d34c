//! The OpenAI Responses API (`POST {base}/responses`).
//!
//! The conversation is sent as `input` items (messages, `function_call` and
//! `function_call_output` items) with `store: false`, so every request is self-contained like
//! the other providers'. The stream's typed events are decoded: `response.output_text.delta`,
//! `response.reasoning_summary_text.delta`, `response.output_item.added` (a function call
//! starts), `response.function_call_arguments.delta` / `.done`, `response.output_item.done`,
//! and the terminal `response.completed` / `response.incomplete` (with usage), or
//! `response.failed` / `error`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::openai_chat::{OPENAI_BASE_URL, OPENAI_ENV};
use super::provider::{Protocol, Provider};
use super::{generated_call_id, non_empty, process_env, Env};
use crate::error::ModelError;
use crate::http::{parse_json, Decoder, Frame, Framing};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

/// A model behind the OpenAI Responses API.
pub type OpenAiResponses = Provider<OpenAiResponsesApi>;

/// OpenAI's Responses protocol (see [`OpenAiResponses`]).
#[derive(Debug, Clone, Copy)]
pub struct OpenAiResponsesApi;

impl OpenAiResponses {
    /// `model` at OpenAI with this API key.
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        let key = Some(api_key.into());
        Provider::with_protocol(OpenAiResponsesApi, model, OPENAI_BASE_URL, key)
    }

    /// `model` at OpenAI, the key from `OPENAI_API_KEY` and the base URL from
    /// `OPENAI_BASE_URL` when set. [`ModelError::MissingApiKey`] when the key is unset.
    pub fn from_env(model: impl Into<String>) -> Result<Self, ModelError> {
        Self::from_env_with(model.into(), &process_env)
    }

    pub(crate) fn from_env_with(model: String, env: Env<'_>) -> Result<Self, ModelError> {
        Provider::from_env_vars(OpenAiResponsesApi, model, OPENAI_BASE_URL, &OPENAI_ENV, env)
    }
}

impl Protocol for OpenAiResponsesApi {
    type Decoder = ResponsesDecoder;
    const FRAMING: Framing = Framing::Sse;
    const NAME: &'static str = "openai-responses";

    fn path(&self, _model: &str) -> String {
        "responses".into()
    }

    fn body(&self, model: &str, req: &ChatRequest) -> Result<Value, ModelError> {
        let mut input = Vec::new();
        for m in &req.messages {
            match m.role {
                Role::System | Role::User => input.push(json!({
                    "role": m.role.as_str(),
                    "content": m.content.clone().unwrap_or_default(),
                })),
                Role::Assistant => {
                    if let Some(text) = m.content.as_ref().filter(|t| !t.is_empty()) {
                        input.push(json!({"role": "assistant", "content": text}));
                    }
                    for c in &m.tool_calls {
                        input.push(json!({
                            "type": "function_call",
                            "call_id": c.id,
                            "name": c.name,
                            "arguments": c.arguments,
                        }));
                    }
                }
                Role::Tool => input.push(json!({
                    "type": "function_call_output",
                    "call_id": m.tool_call_id.clone().unwrap_or_default(),
                    "output": m.content.clone().unwrap_or_default(),
                })),
            }
        }
        let mut body = json!({
            "model": model,
            "input": input,
            "stream": true,
            "store": false,
        });
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                        // The Responses API defaults to strict schemas, which reject most
                        // hand-written ones (optional properties, no additionalProperties).
                        "strict": false,
                    })
                })
                .collect();
        }
        if let Some(format) = &req.response_format {
            body["text"] = json!({"format": {
                "type": "json_schema",
                "name": format.name,
                "schema": format.schema,
                "strict": format.strict,
            }});
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            body["max_output_tokens"] = json!(n);
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    delta: Option<String>,
    output_index: Option<u32>,
    item_id: Option<String>,
    arguments: Option<String>,
    item: Option<Item>,
    response: Option<Value>,
    message: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    input_tokens_details: Option<Value>,
    output_tokens_details: Option<Value>,
}

#[derive(Default)]
struct PartialCall {
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// Assembles a Responses API stream.
#[derive(Default)]
pub(crate) struct ResponsesDecoder {
    text: String,
    reasoning: String,
    /// By output index.
    calls: BTreeMap<u32, PartialCall>,
}

impl ResponsesDecoder {
    fn call_for(&mut self, output_index: Option<u32>, item_id: Option<&str>) -> &mut PartialCall {
        let index = output_index
            .or_else(|| {
                item_id.and_then(|id| {
                    self.calls
                        .iter()
                        .find(|(_, c)| c.item_id == id)
                        .map(|(i, _)| *i)
                })
            })
            .unwrap_or_else(|| self.calls.keys().next_back().map_or(0, |i| i + 1));
        self.calls.entry(index).or_default()
    }

    fn finish(&mut self, response: Value) -> Result<ChatResponse, ModelError> {
        let usage = match response.get("usage").filter(|u| !u.is_null()) {
            Some(u) => {
                let u: WireUsage = serde_json::from_value(u.clone())
                    .map_err(|e| ModelError::MalformedStream(format!("usage: {e}")))?;
                let detail = |v: &Option<Value>, key: &str| {
                    v.as_ref()
                        .and_then(|d| d.get(key))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                Usage {
                    input_tokens: u.input_tokens.unwrap_or(0),
                    output_tokens: u.output_tokens.unwrap_or(0),
                    total_tokens: u.total_tokens.unwrap_or(0),
                    cached_input_tokens: detail(&u.input_tokens_details, "cached_tokens"),
                    reasoning_tokens: detail(&u.output_tokens_details, "reasoning_tokens"),
                }
                .with_total()
            }
            None => Usage::default(),
        };
        // The final `output` is authoritative for function calls when present.
        if let Some(output) = response.get("output").and_then(Value::as_array) {
            let mut from_output = BTreeMap::new();
            for (i, item) in output.iter().enumerate() {
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    let field = |k: &str| {
                        item.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    from_output.insert(
                        i as u32,
                        PartialCall {
                            item_id: field("id"),
                            call_id: field("call_id"),
                            name: field("name"),
                            arguments: field("arguments"),
                        },
                    );
                }
                if self.text.is_empty()
                    && item.get("type").and_then(Value::as_str) == Some("message")
                {
                    for part in item
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(t) = part.get("text").and_then(Value::as_str) {
                            self.text.push_str(t);
                        }
                    }
                }
            }
            if !from_output.is_empty() {
                self.calls = from_output;
            }
        }
        let status = response
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string);
        let incomplete = response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        let tool_calls = std::mem::take(&mut self.calls)
            .into_values()
            .enumerate()
            .map(|(n, c)| ToolCall {
                id: if !c.call_id.is_empty() {
                    c.call_id
                } else if !c.item_id.is_empty() {
                    c.item_id
                } else {
                    generated_call_id(n)
                },
                name: c.name,
                arguments: c.arguments,
            })
            .collect();
        Ok(ChatResponse {
            content: non_empty(std::mem::take(&mut self.text)),
            reasoning: non_empty(std::mem::take(&mut self.reasoning)),
            tool_calls,
            usage,
            finish_reason: incomplete.or(status),
        })
    }
}

impl Decoder for ResponsesDecoder {
    fn feed(
        &mut self,
        frame: Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Option<ChatResponse>, ModelError> {
        let event: Event = parse_json(&frame.data)?;
        match event.kind.as_str() {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(delta) = event.delta.filter(|d| !d.is_empty()) {
                    self.text.push_str(&delta);
                    out.push(StreamEvent::TextDelta(delta));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(delta) = event.delta.filter(|d| !d.is_empty()) {
                    self.reasoning.push_str(&delta);
                    out.push(StreamEvent::ReasoningDelta(delta));
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                if let Some(item) = event.item.filter(|i| i.kind == "function_call") {
                    let call = self.call_for(event.output_index, item.id.as_deref());
                    if let Some(id) = item.id {
                        call.item_id = id;
                    }
                    if let Some(id) = item.call_id {
                        call.call_id = id;
                    }
                    if let Some(name) = item.name {
                        call.name = name;
                    }
                    if let Some(args) = item.arguments.filter(|a| !a.is_empty()) {
                        call.arguments = args;
                    }
                }
            }
            "response.function_call_arguments.delta" => {
                let delta = event.delta.unwrap_or_default();
                self.call_for(event.output_index, event.item_id.as_deref())
                    .arguments
                    .push_str(&delta);
            }
            "response.function_call_arguments.done" => {
                if let Some(args) = event.arguments {
                    self.call_for(event.output_index, event.item_id.as_deref())
                        .arguments = args;
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = event.response.unwrap_or(Value::Null);
                return self.finish(response).map(Some);
            }
            "response.failed" => {
                let message = event
                    .response
                    .as_ref()
                    .and_then(|r| r.pointer("/error/message"))
                    .and_then(Value::as_str)
                    .unwrap_or("response failed")
                    .to_string();
                return Err(ModelError::Provider(message));
            }
            "error" => {
                let message = event.message.unwrap_or_else(|| "stream error".into());
                return Err(match event.code.as_deref() {
                    Some("rate_limit_exceeded") => ModelError::RateLimited {
                        retry_after: None,
                        message,
                    },
                    Some("server_error") => ModelError::Server {
                        status: 500,
                        message,
                    },
                    _ => ModelError::Provider(message),
                });
            }
            _ => {} // created, in_progress, content_part.*, output_text.done, …
        }
        Ok(None)
    }
}
