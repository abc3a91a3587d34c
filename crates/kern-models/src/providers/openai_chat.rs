//! OpenAI Chat Completions (`POST {base}/chat/completions`), and any server that speaks it
//! ([`OpenAiCompatible`]: vLLM, LM Studio, llama.cpp server, Groq, OpenRouter, Ollama's `/v1`,
//! …).
//!
//! Streams with `stream_options.include_usage`; tool calls arrive as deltas keyed by `index`
//! (the first carries the id and name, the next ones pieces of the arguments) and are
//! assembled here, parallel calls included. The stream ends with `data: [DONE]`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::provider::{EnvVars, Protocol, Provider};
use super::{generated_call_id, non_empty, process_env, Env};
use crate::error::ModelError;
use crate::http::{parse_json, Decoder, Frame, Framing};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

/// The default OpenAI base URL.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Where OpenAI's settings are in the environment (the Responses API reads the same).
pub(crate) const OPENAI_ENV: EnvVars = EnvVars {
    provider: "openai",
    api_key: &["OPENAI_API_KEY"],
    base_url: "OPENAI_BASE_URL",
};

/// A model behind the OpenAI Chat Completions API.
pub type OpenAiChat = Provider<OpenAiChatApi>;

/// OpenAI's Chat Completions protocol (see [`OpenAiChat`]).
#[derive(Debug, Clone, Copy)]
pub struct OpenAiChatApi;

impl OpenAiChat {
    /// `model` at OpenAI with this API key (base URL [`OPENAI_BASE_URL`]).
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Provider::with_protocol(OpenAiChatApi, model, OPENAI_BASE_URL, Some(api_key.into()))
    }

    /// `model` at OpenAI, the key from `OPENAI_API_KEY` and the base URL from
    /// `OPENAI_BASE_URL` when set. [`ModelError::MissingApiKey`] when the key is unset.
    pub fn from_env(model: impl Into<String>) -> Result<Self, ModelError> {
        Self::from_env_with(model.into(), &process_env)
    }

    pub(crate) fn from_env_with(model: String, env: Env<'_>) -> Result<Self, ModelError> {
        Provider::from_env_vars(OpenAiChatApi, model, OPENAI_BASE_URL, &OPENAI_ENV, env)
    }
}

impl Protocol for OpenAiChatApi {
    type Decoder = ChatDecoder;
    const FRAMING: Framing = Framing::Sse;
    const NAME: &'static str = "openai";

    fn path(&self, _model: &str) -> String {
        "chat/completions".into()
    }

    fn body(&self, model: &str, req: &ChatRequest) -> Result<Value, ModelError> {
        Ok(chat_body(model, "max_completion_tokens", req))
    }
}

/// Any server speaking OpenAI Chat Completions at a base URL, with an optional API key.
///
/// ```no_run
/// use kern_models::{Model, OpenAiCompatible};
/// let model = OpenAiCompatible::new("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct")
///     .api_key("token-abc");
/// assert_eq!(model.provider(), "openai-compatible");
/// ```
pub type OpenAiCompatible = Provider<OpenAiCompatibleApi>;

/// OpenAI's Chat Completions protocol as other servers speak it (see [`OpenAiCompatible`]):
/// `max_tokens` rather than OpenAI's newer `max_completion_tokens`.
#[derive(Debug, Clone, Copy)]
pub struct OpenAiCompatibleApi;

impl OpenAiCompatible {
    /// `model` at the server whose Chat Completions endpoint is `{base_url}/chat/completions`.
    /// Sends no API key unless one is set with [`OpenAiCompatible::api_key`].
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Provider::with_protocol(OpenAiCompatibleApi, model, base_url, None)
    }
}

impl Protocol for OpenAiCompatibleApi {
    type Decoder = ChatDecoder;
    const FRAMING: Framing = Framing::Sse;
    const NAME: &'static str = "openai-compatible";

    fn path(&self, _model: &str) -> String {
        "chat/completions".into()
    }

    fn body(&self, model: &str, req: &ChatRequest) -> Result<Value, ModelError> {
        Ok(chat_body(model, "max_tokens", req))
    }
}

/// The request body for `req`: `max_tokens_field` is `max_completion_tokens` for OpenAI
/// itself, `max_tokens` for compatible servers.
fn chat_body(model: &str, max_tokens_field: &str, req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let mut msg = Map::new();
            msg.insert("role".into(), json!(m.role.as_str()));
            match m.role {
                Role::Tool => {
                    msg.insert(
                        "tool_call_id".into(),
                        json!(m.tool_call_id.clone().unwrap_or_default()),
                    );
                    msg.insert(
                        "content".into(),
                        json!(m.content.clone().unwrap_or_default()),
                    );
                }
                Role::Assistant => {
                    msg.insert("content".into(), json!(m.content));
                    if !m.tool_calls.is_empty() {
                        let calls: Vec<Value> = m
                            .tool_calls
                            .iter()
                            .map(|c| {
                                json!({
                                    "id": c.id,
                                    "type": "function",
                                    "function": {"name": c.name, "arguments": c.arguments},
                                })
                            })
                            .collect();
                        msg.insert("tool_calls".into(), Value::Array(calls));
                    }
                }
                Role::System | Role::User => {
                    msg.insert(
                        "content".into(),
                        json!(m.content.clone().unwrap_or_default()),
                    );
                }
            }
            if m.role != Role::Tool {
                if let Some(name) = &m.name {
                    msg.insert("name".into(), json!(name));
                }
            }
            Value::Object(msg)
        })
        .collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                })
            })
            .collect();
    }
    if let Some(format) = &req.response_format {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": format.name, "schema": format.schema, "strict": format.strict},
        });
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = req.max_tokens {
        body[max_tokens_field] = json!(n);
    }
    body
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
    /// vLLM, DeepSeek, llama.cpp
    reasoning_content: Option<String>,
    /// OpenRouter, Groq, Ollama
    reasoning: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Assembles a Chat Completions stream.
#[derive(Default)]
pub(crate) struct ChatDecoder {
    text: String,
    reasoning: String,
    calls: BTreeMap<u32, PartialCall>,
    usage: Usage,
    finish_reason: Option<String>,
}

impl Decoder for ChatDecoder {
    fn feed(
        &mut self,
        frame: Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Option<ChatResponse>, ModelError> {
        let data = frame.data.trim();
        if data == "[DONE]" {
            return Ok(Some(self.response()));
        }
        let chunk: Chunk = parse_json(data)?;
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            return Err(ModelError::Provider(message));
        }
        if let Some(u) = chunk.usage {
            self.usage = Usage {
                input_tokens: u.prompt_tokens.unwrap_or(0),
                output_tokens: u.completion_tokens.unwrap_or(0),
                total_tokens: u.total_tokens.unwrap_or(0),
                cached_input_tokens: u
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
                reasoning_tokens: u
                    .completion_tokens_details
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            }
            .with_total();
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta
                    .reasoning_content
                    .or(delta.reasoning)
                    .filter(|t| !t.is_empty())
                {
                    self.reasoning.push_str(&text);
                    out.push(StreamEvent::ReasoningDelta(text));
                }
                if let Some(text) = delta.content.or(delta.refusal).filter(|t| !t.is_empty()) {
                    self.text.push_str(&text);
                    out.push(StreamEvent::TextDelta(text));
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    let index = match call.index {
                        Some(i) => i,
                        // Servers that omit `index`: a delta with an id starts a new call.
                        None => {
                            let last = self.calls.keys().next_back().copied();
                            match (last, &call.id) {
                                (Some(i), None) => i,
                                (Some(i), Some(_)) => i + 1,
                                (None, _) => 0,
                            }
                        }
                    };
                    let entry = self.calls.entry(index).or_default();
                    if let Some(id) = call.id.filter(|id| !id.is_empty()) {
                        entry.id = id;
                    }
                    if let Some(f) = call.function {
                        if let Some(name) = f.name.filter(|n| !n.is_empty()) {
                            entry.name = name;
                        }
                        if let Some(args) = f.arguments {
                            entry.arguments.push_str(&args);
                        }
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        Ok(None)
    }
}

impl ChatDecoder {
    fn response(&mut self) -> ChatResponse {
        let tool_calls = std::mem::take(&mut self.calls)
            .into_values()
            .enumerate()
            .map(|(n, c)| ToolCall {
                id: if c.id.is_empty() {
                    generated_call_id(n)
                } else {
                    c.id
                },
                name: c.name,
                arguments: c.arguments,
            })
            .collect();
        ChatResponse {
            content: non_empty(std::mem::take(&mut self.text)),
            reasoning: non_empty(std::mem::take(&mut self.reasoning)),
            tool_calls,
            usage: self.usage,
            finish_reason: self.finish_reason.take(),
        }
    }
}
