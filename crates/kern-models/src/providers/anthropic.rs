//! Anthropic Messages (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version`).
//!
//! System messages become the top-level `system` prompt; tool calls are `tool_use` blocks of
//! the assistant, tool results `tool_result` blocks of a user turn (consecutive messages of
//! one role are merged into one turn, as the API requires alternation). The stream:
//! `message_start` (input usage), `content_block_start` (`text`, `tool_use` with id and name,
//! `thinking`), `content_block_delta` (`text_delta`, `input_json_delta`, `thinking_delta`),
//! `content_block_stop`, `message_delta` (stop reason, output usage), and the terminal
//! `message_stop`; an `error` event fails the stream.
//!
//! Anthropic has no JSON-schema response format in its stable API: a
//! [`crate::ResponseFormat`] is sent as an instruction appended to the system prompt.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Value};

use super::provider::{EnvVars, Protocol, Provider};
use super::{arguments_object, non_empty, process_env, Env};
use crate::error::ModelError;
use crate::http::{header_value, parse_json, Decoder, Frame, Framing};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

/// The default Anthropic base URL.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A model behind the Anthropic Messages API.
pub type Anthropic = Provider<AnthropicApi>;

/// Anthropic's Messages protocol (see [`Anthropic`]).
#[derive(Debug, Clone, Copy)]
pub struct AnthropicApi {
    /// The `max_tokens` sent when the request has none (the API requires one).
    default_max_tokens: u32,
}

impl Anthropic {
    /// `model` (e.g. `claude-sonnet-4-5`) with this API key.
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        let key = Some(api_key.into());
        Provider::with_protocol(AnthropicApi::default(), model, ANTHROPIC_BASE_URL, key)
    }

    /// `model`, the key from `ANTHROPIC_API_KEY` and the base URL from `ANTHROPIC_BASE_URL`
    /// when set. [`ModelError::MissingApiKey`] when the key is unset.
    pub fn from_env(model: impl Into<String>) -> Result<Self, ModelError> {
        Self::from_env_with(model.into(), &process_env)
    }

    pub(crate) fn from_env_with(model: String, env: Env<'_>) -> Result<Self, ModelError> {
        let vars = EnvVars {
            provider: "anthropic",
            api_key: &["ANTHROPIC_API_KEY"],
            base_url: "ANTHROPIC_BASE_URL",
        };
        let api = AnthropicApi::default();
        Provider::from_env_vars(api, model, ANTHROPIC_BASE_URL, &vars, env)
    }

    /// Sets the `max_tokens` sent when the request has none (the API requires one). Default
    /// 4096.
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.protocol.default_max_tokens = max_tokens;
        self
    }
}

impl Default for AnthropicApi {
    fn default() -> Self {
        Self {
            default_max_tokens: 4096,
        }
    }
}

impl Protocol for AnthropicApi {
    type Decoder = AnthropicDecoder;
    const FRAMING: Framing = Framing::Sse;
    const NAME: &'static str = "anthropic";

    fn path(&self, _model: &str) -> String {
        "v1/messages".into()
    }

    /// `x-api-key`, and the `anthropic-version` the protocol is written for.
    fn credentials(
        &self,
        api_key: Option<&str>,
        headers: &mut HeaderMap,
    ) -> Result<(), ModelError> {
        if let Some(key) = api_key {
            headers.insert("x-api-key", header_value(key)?);
        }
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        Ok(())
    }

    fn body(&self, model: &str, req: &ChatRequest) -> Result<Value, ModelError> {
        let mut system = Vec::new();
        // (role, content blocks), consecutive same-role turns merged.
        let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
        let mut push = |role: &'static str, blocks: Vec<Value>| {
            if blocks.is_empty() {
                return;
            }
            match turns.last_mut() {
                Some((r, existing)) if *r == role => existing.extend(blocks),
                _ => turns.push((role, blocks)),
            }
        };
        for m in &req.messages {
            let text = m.content.clone().filter(|t| !t.is_empty());
            match m.role {
                Role::System => system.extend(text),
                Role::User => push(
                    "user",
                    text.map(|t| json!({"type": "text", "text": t}))
                        .into_iter()
                        .collect(),
                ),
                Role::Assistant => {
                    let mut blocks: Vec<Value> = text
                        .map(|t| json!({"type": "text", "text": t}))
                        .into_iter()
                        .collect();
                    for c in &m.tool_calls {
                        blocks.push(json!({
                            "type": "tool_use",
                            "id": c.id,
                            "name": c.name,
                            "input": arguments_object(&c.arguments)?,
                        }));
                    }
                    push("assistant", blocks);
                }
                Role::Tool => push(
                    "user",
                    vec![json!({
                        "type": "tool_result",
                        "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                        "content": m.content.clone().unwrap_or_default(),
                    })],
                ),
            }
        }
        if let Some(format) = &req.response_format {
            system.push(format!(
                "Respond only with a JSON value (no prose, no code fences) matching this JSON schema named {:?}:\n{}",
                format.name, format.schema
            ));
        }
        let messages: Vec<Value> = turns
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        let mut body = json!({
            "model": model,
            "max_tokens": req.max_tokens.unwrap_or(self.default_max_tokens),
            "messages": messages,
            "stream": true,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    index: Option<u32>,
    message: Option<MessageStart>,
    content_block: Option<Block>,
    delta: Option<Delta>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct MessageStart {
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    name: Option<String>,
    text: Option<String>,
    input: Option<Value>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    partial_json: Option<String>,
    thinking: Option<String>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    /// `input` of the start block when it was not empty (not streamed as deltas).
    initial: Option<Value>,
}

/// Assembles a Messages stream.
#[derive(Default)]
pub(crate) struct AnthropicDecoder {
    text: String,
    reasoning: String,
    /// tool_use blocks by content-block index.
    calls: BTreeMap<u32, PartialCall>,
    input_tokens: u64,
    cached_tokens: u64,
    output_tokens: u64,
    stop_reason: Option<String>,
}

impl AnthropicDecoder {
    fn usage(&mut self, u: WireUsage) {
        let cached = u.cache_read_input_tokens.unwrap_or(0);
        let created = u.cache_creation_input_tokens.unwrap_or(0);
        if let Some(input) = u.input_tokens {
            self.input_tokens = input + cached + created;
            self.cached_tokens = cached;
        }
        if let Some(output) = u.output_tokens {
            self.output_tokens = output;
        }
    }

    fn text_delta(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.text.push_str(&text);
            out.push(StreamEvent::TextDelta(text));
        }
    }
}

impl Decoder for AnthropicDecoder {
    fn feed(
        &mut self,
        frame: Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Option<ChatResponse>, ModelError> {
        let event: Event = parse_json(&frame.data)?;
        match event.kind.as_str() {
            "message_start" => {
                if let Some(u) = event.message.and_then(|m| m.usage) {
                    self.usage(u);
                }
            }
            "content_block_start" => {
                let Some(block) = event.content_block else {
                    return Err(ModelError::MalformedStream(
                        "content_block_start without content_block".into(),
                    ));
                };
                match block.kind.as_str() {
                    "tool_use" => {
                        let initial = block
                            .input
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()));
                        self.calls.insert(
                            event.index.unwrap_or(self.calls.len() as u32),
                            PartialCall {
                                id: block.id.unwrap_or_default(),
                                name: block.name.unwrap_or_default(),
                                arguments: String::new(),
                                initial,
                            },
                        );
                    }
                    "text" => self.text_delta(block.text.unwrap_or_default(), out),
                    _ => {} // thinking (its text comes as deltas), redacted_thinking, server tools
                }
            }
            "content_block_delta" => {
                let Some(delta) = event.delta else {
                    return Err(ModelError::MalformedStream(
                        "content_block_delta without delta".into(),
                    ));
                };
                match delta.kind.as_deref() {
                    Some("text_delta") => self.text_delta(delta.text.unwrap_or_default(), out),
                    Some("input_json_delta") => {
                        let index = event.index.unwrap_or(0);
                        let Some(call) = self.calls.get_mut(&index) else {
                            return Err(ModelError::MalformedStream(format!(
                                "input_json_delta for block {index}, which is not a tool_use block"
                            )));
                        };
                        call.arguments
                            .push_str(&delta.partial_json.unwrap_or_default());
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = delta.thinking.filter(|t| !t.is_empty()) {
                            self.reasoning.push_str(&t);
                            out.push(StreamEvent::ReasoningDelta(t));
                        }
                    }
                    _ => {} // signature_delta, citations
                }
            }
            "message_delta" => {
                if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
                    self.stop_reason = Some(reason);
                }
                if let Some(u) = event.usage {
                    self.usage(u);
                }
            }
            "message_stop" => {
                let tool_calls = std::mem::take(&mut self.calls)
                    .into_values()
                    .map(|c| ToolCall {
                        id: c.id,
                        name: c.name,
                        arguments: if !c.arguments.is_empty() {
                            c.arguments
                        } else if let Some(initial) = c.initial {
                            initial.to_string()
                        } else {
                            "{}".to_string()
                        },
                    })
                    .collect();
                return Ok(Some(ChatResponse {
                    content: non_empty(std::mem::take(&mut self.text)),
                    reasoning: non_empty(std::mem::take(&mut self.reasoning)),
                    tool_calls,
                    usage: Usage {
                        input_tokens: self.input_tokens,
                        output_tokens: self.output_tokens,
                        total_tokens: 0,
                        cached_input_tokens: self.cached_tokens,
                        reasoning_tokens: 0,
                    }
                    .with_total(),
                    finish_reason: self.stop_reason.take(),
                }));
            }
            "error" => {
                let error = event.error.unwrap_or(WireError {
                    kind: None,
                    message: None,
                });
                let message = error.message.unwrap_or_else(|| "stream error".into());
                return Err(match error.kind.as_deref() {
                    Some("overloaded_error") => ModelError::Server {
                        status: 529,
                        message,
                    },
                    Some("api_error") => ModelError::Server {
                        status: 500,
                        message,
                    },
                    Some("rate_limit_error") => ModelError::RateLimited {
                        retry_after: None,
                        message,
                    },
                    _ => ModelError::Provider(message),
                });
            }
            _ => {} // ping, content_block_stop
        }
        Ok(None)
    }
}
