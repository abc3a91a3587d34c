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

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    arguments_object, first_env, generated_call_id, non_empty, process_env, tool_names,
    tool_result_name, Env,
};
use crate::error::ModelError;
use crate::http::{
    header_value, join_url, parse_json, ClientOptions, Decoder, Frame, Framing, HttpClient,
};
use crate::model::{Model, ModelStream};
use crate::types::{ChatRequest, ChatResponse, Role, StreamEvent, ToolCall, Usage};

/// The default Gemini API base URL (with its version).
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// A model behind the Gemini API.
#[derive(Debug, Clone)]
pub struct Gemini {
    model: String,
    base_url: String,
    api_key: String,
    http: HttpClient,
}

impl Gemini {
    /// `model` (e.g. `gemini-2.5-flash`) with this API key.
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            base_url: GEMINI_BASE_URL.to_string(),
            api_key: api_key.into(),
            http: HttpClient::new(ClientOptions::default()),
        }
    }

    /// `model`, the key from `GOOGLE_API_KEY` or else `GEMINI_API_KEY`, the base URL from
    /// `GEMINI_BASE_URL` when set. [`ModelError::MissingApiKey`] when neither key is set.
    pub fn from_env(model: impl Into<String>) -> Result<Self, ModelError> {
        Self::from_env_with(model.into(), &process_env)
    }

    pub(crate) fn from_env_with(model: String, env: Env<'_>) -> Result<Self, ModelError> {
        let key = first_env(env, &["GOOGLE_API_KEY", "GEMINI_API_KEY"]).ok_or_else(|| {
            ModelError::MissingApiKey {
                provider: "gemini".into(),
                env_var: "GOOGLE_API_KEY or GEMINI_API_KEY".into(),
            }
        })?;
        let mut model = Self::new(model, key);
        if let Some(base) = first_env(env, &["GEMINI_BASE_URL"]) {
            model.base_url = base;
        }
        Ok(model)
    }

    /// Sets the base URL (the part before `/models/…`, version included).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets timeouts, retries and extra headers.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.http = HttpClient::new(options);
        self
    }

    fn body(&self, req: &ChatRequest) -> Result<Value, ModelError> {
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

#[async_trait]
impl Model for Gemini {
    fn id(&self) -> &str {
        &self.model
    }

    fn provider(&self) -> &str {
        "gemini"
    }

    async fn stream(&self, req: ChatRequest) -> Result<ModelStream, ModelError> {
        let body = self.body(&req)?;
        let mut headers = HeaderMap::new();
        headers.insert("x-goog-api-key", header_value(&self.api_key)?);
        let model = self.model.trim_start_matches("models/");
        let url = join_url(
            &self.base_url,
            &format!("models/{model}:streamGenerateContent?alt=sse"),
        );
        self.http
            .post_stream(&url, headers, &body, Framing::Sse, GeminiDecoder::default())
            .await
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
struct GeminiDecoder {
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
