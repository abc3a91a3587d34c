//! Ollama's native chat API (`POST {host}/api/chat`, NDJSON streaming, no key).
//!
//! Each line is a JSON object with a `message` (`content`, `thinking`, whole `tool_calls`
//! whose `arguments` are JSON objects); the terminal line has `"done": true`, `done_reason`,
//! `prompt_eval_count` and `eval_count`. An `{"error": …}` line fails the stream. Tool results
//! are `tool` messages with `tool_name`. Call ids are generated (`call_0`, …) when Ollama
//! gives none.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::provider::{Protocol, Provider};
use super::{
    arguments_object, first_env, generated_call_id, non_empty, process_env, tool_names,
    tool_result_name, Env,
};
use crate::error::ModelError;
use crate::http::{parse_json, Decoder, Frame, Framing};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

/// Ollama's default address.
pub const OLLAMA_HOST: &str = "http://localhost:11434";

/// A model served by Ollama.
pub type Ollama = Provider<OllamaApi>;

/// Ollama's native chat protocol (see [`Ollama`]).
#[derive(Debug, Clone, Copy)]
pub struct OllamaApi;

impl Ollama {
    /// `model` (e.g. `llama3.1`, `qwen3:8b`) at [`OLLAMA_HOST`]. Sends no key unless one is
    /// set with [`Ollama::api_key`] (a bearer token, for an Ollama behind an authenticating
    /// proxy).
    pub fn new(model: impl Into<String>) -> Self {
        Provider::with_protocol(OllamaApi, model, OLLAMA_HOST, None)
    }

    /// `model` at `OLLAMA_HOST` when set (`host:port` or a URL), else [`OLLAMA_HOST`].
    pub fn from_env(model: impl Into<String>) -> Self {
        Self::from_env_with(model.into(), &process_env)
    }

    pub(crate) fn from_env_with(model: String, env: Env<'_>) -> Self {
        let model = Self::new(model);
        match first_env(env, &["OLLAMA_HOST"]) {
            Some(host) => model.host(host),
            None => model,
        }
    }

    /// Sets the server address: a URL (`http://gpu-box:11434`) or `host:port` (`http://` is
    /// assumed).
    pub fn host(self, host: impl Into<String>) -> Self {
        let host = host.into();
        if host.contains("://") {
            self.base_url(host)
        } else {
            self.base_url(format!("http://{host}"))
        }
    }
}

impl Protocol for OllamaApi {
    type Decoder = OllamaDecoder;
    const FRAMING: Framing = Framing::Ndjson;
    const NAME: &'static str = "ollama";

    fn path(&self, _model: &str) -> String {
        "api/chat".into()
    }

    fn body(&self, model: &str, req: &ChatRequest) -> Result<Value, ModelError> {
        let names = tool_names(&req.messages);
        let mut messages = Vec::new();
        for m in &req.messages {
            let mut msg = Map::new();
            msg.insert("role".into(), json!(m.role.as_str()));
            msg.insert(
                "content".into(),
                json!(m.content.clone().unwrap_or_default()),
            );
            if m.role == Role::Assistant && !m.tool_calls.is_empty() {
                let mut calls = Vec::new();
                for c in &m.tool_calls {
                    calls.push(json!({"function": {"name": c.name, "arguments": arguments_object(&c.arguments)?}}));
                }
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
            if m.role == Role::Tool {
                msg.insert("tool_name".into(), json!(tool_result_name(m, &names)));
            }
            messages.push(Value::Object(msg));
        }
        let mut body = json!({
            "model": model,
            "messages": messages,
            "stream": true,
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
            body["format"] = format.schema.clone();
        }
        let mut options = Map::new();
        if let Some(t) = req.temperature {
            options.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_tokens {
            options.insert("num_predict".into(), json!(n));
        }
        if !options.is_empty() {
            body["options"] = Value::Object(options);
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
struct Line {
    message: Option<WireMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    thinking: Option<String>,
    tool_calls: Option<Vec<WireCall>>,
}

#[derive(Deserialize)]
struct WireCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    arguments: Option<Value>,
}

/// Assembles an Ollama stream.
#[derive(Default)]
pub(crate) struct OllamaDecoder {
    text: String,
    reasoning: String,
    calls: Vec<ToolCall>,
}

impl Decoder for OllamaDecoder {
    fn feed(
        &mut self,
        frame: Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Option<ChatResponse>, ModelError> {
        let line: Line = parse_json(&frame.data)?;
        if let Some(error) = line.error {
            return Err(ModelError::Provider(error));
        }
        if let Some(message) = line.message {
            if let Some(t) = message.thinking.filter(|t| !t.is_empty()) {
                self.reasoning.push_str(&t);
                out.push(StreamEvent::ReasoningDelta(t));
            }
            if let Some(t) = message.content.filter(|t| !t.is_empty()) {
                self.text.push_str(&t);
                out.push(StreamEvent::TextDelta(t));
            }
            for call in message.tool_calls.unwrap_or_default() {
                let arguments = match call.function.arguments {
                    Some(Value::String(raw)) => raw,
                    Some(value) => value.to_string(),
                    None => "{}".to_string(),
                };
                self.calls.push(ToolCall {
                    id: call
                        .id
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| generated_call_id(self.calls.len())),
                    name: call.function.name,
                    arguments,
                });
            }
        }
        if !line.done {
            return Ok(None);
        }
        Ok(Some(ChatResponse {
            content: non_empty(std::mem::take(&mut self.text)),
            reasoning: non_empty(std::mem::take(&mut self.reasoning)),
            tool_calls: std::mem::take(&mut self.calls),
            usage: Usage {
                input_tokens: line.prompt_eval_count.unwrap_or(0),
                output_tokens: line.eval_count.unwrap_or(0),
                ..Usage::default()
            }
            .with_total(),
            finish_reason: line.done_reason,
        }))
    }
}
