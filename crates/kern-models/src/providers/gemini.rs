//! Google Gemini (`POST {base}/models/{model}:streamGenerateContent?alt=sse`,
//! `x-goog-api-key`).
//!
//! System messages become `systemInstruction`; the assistant is the `model` role; tool calls
//! are `functionCall` parts and tool results `functionResponse` parts of a user turn. Each
//! SSE event is a `GenerateContentResponse` (text parts, `thought` parts, whole
//! `functionCall` parts, `finishReason`, `usageMetadata`). The stream has no terminal marker:
//! it is complete when the body ends after a candidate carried a `finishReason` (or the
//! prompt was blocked), dropped otherwise. Tools and response formats use the JSON-schema
//! fields (`parametersJsonSchema`, `responseJsonSchema`), which take standard JSON schema.
//! Gemini gives no call ids: they are generated (`call_0`, `call_1`, …) unless the response
//! carries some.

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::provider::{EnvVars, Protocol, Provider};
use super::{
    arguments_object, generated_call_id, non_empty, process_env, tool_names, tool_result_name, Env,
};
use crate::error::ModelError;
use crate::http::{header_value, parse_json, Decoder, Frame, Framing};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

/// The default Gemini API base URL (with its version).
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// A model behind the Gemini API.
pub type Gemini = Provider<GeminiApi>;

/// Gemini's `streamGenerateContent` protocol (see [`Gemini`]).
#[derive(Debug, Clone, Copy)]
pub struct GeminiApi;

impl Gemini {
    /// `model` (e.g. `gemini-2.5-flash`) with this API key.
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Provider::with_protocol(GeminiApi, model, GEMINI_BASE_URL, Some(api_key.into()))
    }

    /// `model`, the key from `GOOGLE_API_KEY` or else `GEMINI_API_KEY`, the base URL from
    /// `GEMINI_BASE_URL` when set. [`ModelError::MissingApiKey`] when neither key is set.
    pub fn from_env(model: impl Into<String>) -> Result<Self, ModelError> {
        Self::from_env_with(model.into(), &process_env)
    }

    pub(crate) fn from_env_with(model: String, env: Env<'_>) -> Result<Self, ModelError> {
        let vars = EnvVars {
            provider: "gemini",
            api_key: &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
            base_url: "GEMINI_BASE_URL",
        };
        Provider::from_env_vars(GeminiApi, model, GEMINI_BASE_URL, &vars, env)
    }
}

impl Protocol for GeminiApi {
    type Decoder = GeminiDecoder;
    const FRAMING: Framing = Framing::Sse;
    const NAME: &'static str = "gemini";

    fn path(&self, model: &str) -> String {
        let model = model.trim_start_matches("models/");
        format!("models/{model}:streamGenerateContent?alt=sse")
    }

    fn credentials(
        &self,
        api_key: Option<&str>,
        headers: &mut HeaderMap,
    ) -> Result<(), ModelError> {
        if let Some(key) = api_key {
            headers.insert("x-goog-api-key", header_value(key)?);
        }
        Ok(())
    }

    fn body(&self, _model: &str, req: &ChatRequest) -> Result<Value, ModelError> {
        let names = tool_names(&req.messages);
        let mut system = Vec::new();
        let mut contents: Vec<(&str, Vec<Value>)> = Vec::new();
        let mut push = |role: &'static str, parts: Vec<Value>| {
            if parts.is_empty() {
                return;
            }
            match contents.last_mut() {
                Some((r, existing)) if *r == role => existing.extend(parts),
                _ => contents.push((role, parts)),
            }
        };
        for m in &req.messages {
            let text = m.content.clone().filter(|t| !t.is_empty());
            match m.role {
                Role::System => system.extend(text.map(|t| json!({"text": t}))),
                Role::User => push(
                    "user",
                    text.map(|t| json!({"text": t})).into_iter().collect(),
                ),
                Role::Assistant => {
                    let mut parts: Vec<Value> =
                        text.map(|t| json!({"text": t})).into_iter().collect();
                    for c in &m.tool_calls {
                        parts.push(json!({"functionCall": {
                            "name": c.name,
                            "args": arguments_object(&c.arguments)?,
                        }}));
                    }
                    push("model", parts);
                }
                Role::Tool => {
                    let content = m.content.clone().unwrap_or_default();
                    let response = match serde_json::from_str::<Value>(&content) {
                        Ok(object @ Value::Object(_)) => object,
                        Ok(other) => json!({"result": other}),
                        Err(_) => json!({"result": content}),
                    };
                    push(
                        "user",
                        vec![json!({"functionResponse": {
                            "name": tool_result_name(m, &names),
                            "response": response,
                        }})],
                    );
                }
            }
        }
        let contents: Vec<Value> = contents
            .into_iter()
            .map(|(role, parts)| json!({"role": role, "parts": parts}))
            .collect();
        let mut body = json!({ "contents": contents });
        if !system.is_empty() {
            body["systemInstruction"] = json!({ "parts": system });
        }
        if !req.tools.is_empty() {
            let declarations: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}))
                .collect();
            body["tools"] = json!([{ "functionDeclarations": declarations }]);
        }
        let mut config = serde_json::Map::new();
        if let Some(t) = req.temperature {
            config.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_tokens {
            config.insert("maxOutputTokens".into(), json!(n));
        }
        if let Some(format) = &req.response_format {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), format.schema.clone());
        }
        if !config.is_empty() {
            body["generationConfig"] = Value::Object(config);
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<UsageMetadata>,
    prompt_feedback: Option<PromptFeedback>,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
    #[serde(default)]
    index: u32,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    total_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

/// Assembles a Gemini stream.
#[derive(Default)]
pub(crate) struct GeminiDecoder {
    text: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    usage: Usage,
    finish_reason: Option<String>,
}

impl Decoder for GeminiDecoder {
    fn feed(
        &mut self,
        frame: Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Option<ChatResponse>, ModelError> {
        let chunk: Chunk = parse_json(&frame.data)?;
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            return Err(ModelError::Provider(message));
        }
        if let Some(u) = chunk.usage_metadata {
            let thoughts = u.thoughts_token_count.unwrap_or(0);
            self.usage = Usage {
                input_tokens: u.prompt_token_count.unwrap_or(0),
                output_tokens: u.candidates_token_count.unwrap_or(0) + thoughts,
                total_tokens: u.total_token_count.unwrap_or(0),
                cached_input_tokens: u.cached_content_token_count.unwrap_or(0),
                reasoning_tokens: thoughts,
            }
            .with_total();
        }
        if let Some(reason) = chunk.prompt_feedback.and_then(|f| f.block_reason) {
            self.finish_reason = Some(reason);
        }
        for candidate in chunk.candidates.into_iter().filter(|c| c.index == 0) {
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(call) = part.function_call {
                    let id = call
                        .id
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| generated_call_id(self.calls.len()));
                    self.calls.push(ToolCall {
                        id,
                        name: call.name,
                        arguments: call.args.unwrap_or_else(|| json!({})).to_string(),
                    });
                } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    if part.thought {
                        self.reasoning.push_str(&text);
                        out.push(StreamEvent::ReasoningDelta(text));
                    } else {
                        self.text.push_str(&text);
                        out.push(StreamEvent::TextDelta(text));
                    }
                }
            }
            if let Some(reason) = candidate.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        Ok(None)
    }

    fn at_eof(&mut self) -> Result<ChatResponse, ModelError> {
        if self.finish_reason.is_none() {
            return Err(ModelError::StreamDropped);
        }
        Ok(ChatResponse {
            content: non_empty(std::mem::take(&mut self.text)),
            reasoning: non_empty(std::mem::take(&mut self.reasoning)),
            tool_calls: std::mem::take(&mut self.calls),
            usage: self.usage,
            finish_reason: self.finish_reason.take(),
        })
    }
}
