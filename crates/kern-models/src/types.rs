//! The provider-neutral request, message and response types.
//!
//! Everything here is `Serialize + Deserialize`: the engine checkpoints conversations
//! (`Vec<Message>`) and model responses between turns.

use serde::{Deserialize, Serialize};

/// One request to a chat model: the conversation so far, the tools the model may call and the
/// generation settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, oldest first. System messages may appear anywhere; providers with a
    /// separate system prompt (Anthropic, Gemini) collect them into it, in order.
    pub messages: Vec<Message>,
    /// Functions the model may call. Empty: no tools are sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Constrain the answer to JSON matching a schema (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Sampling temperature; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens; the provider's default when `None` (Anthropic, which
    /// requires one, gets the provider struct's default, 4096 unless changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

impl ChatRequest {
    /// A request with these messages and default settings.
    pub fn new(messages: impl IntoIterator<Item = Message>) -> Self {
        Self {
            messages: messages.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Sets the tools the model may call.
    pub fn tools(mut self, tools: impl IntoIterator<Item = ToolSpec>) -> Self {
        self.tools = tools.into_iter().collect();
        self
    }

    /// Sets a JSON-schema response format.
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Sets the sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the maximum number of generated tokens.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user's input.
    User,
    /// The model's output (text and/or tool calls).
    Assistant,
    /// The result of a tool call, answering the assistant's `ToolCall` with the same id.
    Tool,
}

impl Role {
    /// The lowercase name used by OpenAI-style APIs (`"system"`, `"user"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text, if any (an assistant message carrying only tool calls has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool calls made by the assistant in this message (in the order the model made them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the id of the `ToolCall` this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For `Role::Tool`: the tool's name (Gemini and Ollama need it; filled in from the
    /// matching call when missing). For other roles: an optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, content)
    }

    /// An assistant message with tool calls (and optional text).
    pub fn assistant_tool_calls(content: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content,
            tool_calls,
            tool_call_id: None,
            name: None,
        }
    }

    /// The result of the tool call `tool_call_id` of tool `name`.
    pub fn tool(
        tool_call_id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        Self {
            role: Role::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(tool_call_id.into()),
            name: Some(name.into()),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The function's name, as the model will use it.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON schema of its arguments (an `"type": "object"` schema).
    pub parameters: serde_json::Value,
}

impl ToolSpec {
    /// A tool with this name, description and JSON-schema parameters.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// A JSON-schema constraint on the model's answer (structured output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// The schema's name (OpenAI requires one: `[a-zA-Z0-9_-]`, at most 64 characters).
    pub name: String,
    /// The JSON schema the answer must match.
    pub schema: serde_json::Value,
    /// Ask for strict schema adherence where the provider supports it (OpenAI).
    #[serde(default)]
    pub strict: bool,
}

impl ResponseFormat {
    /// A strict JSON-schema format.
    pub fn json_schema(name: impl Into<String>, schema: serde_json::Value) -> Self {
        Self {
            name: name.into(),
            schema,
            strict: true,
        }
    }
}

/// A call of a tool by the model, fully assembled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id (generated as `call_<n>` for providers that have none: Gemini,
    /// Ollama). Tool results refer to it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as raw JSON text, as the model produced it (not validated: a model can
    /// produce invalid JSON, which the caller should report back to it).
    pub arguments: String,
}

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (including cached ones).
    pub input_tokens: u64,
    /// Generated tokens (including reasoning tokens).
    pub output_tokens: u64,
    /// `input_tokens + output_tokens`, or the provider's total when it reports one.
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's cache, when reported.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Reasoning ("thinking") tokens among `output_tokens`, when reported.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Adds another call's counts to these (for totals over a run).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
    }

    /// Fills `total_tokens` from input and output when the provider reported no total.
    pub(crate) fn with_total(mut self) -> Self {
        if self.total_tokens == 0 {
            self.total_tokens = self.input_tokens + self.output_tokens;
        }
        self
    }
}

/// The complete answer of one model call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The text, if the model produced any.
    pub content: Option<String>,
    /// Reasoning text, for providers that stream it (Anthropic thinking, Gemini thoughts,
    /// Ollama `thinking`, OpenAI-compatible `reasoning_content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tool calls, fully assembled, in the order the model made them (several when the model
    /// calls tools in parallel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Token counts (zeros when the provider reported none).
    pub usage: Usage,
    /// Why generation stopped, as the provider said it (`"stop"`, `"tool_calls"`,
    /// `"end_turn"`, `"STOP"`, `"length"`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

impl ChatResponse {
    /// The assistant message to append to the conversation for the next turn.
    pub fn to_message(&self) -> Message {
        Message::assistant_tool_calls(self.content.clone(), self.tool_calls.clone())
    }
}

/// One item of a model's response stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A piece of the answer's text, handed out as soon as it arrived.
    TextDelta(String),
    /// A piece of reasoning text (see [`ChatResponse::reasoning`]).
    ReasoningDelta(String),
    /// The complete response. Exactly one, always the last item of a successful stream.
    Completed(ChatResponse),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_and_responses_round_trip_through_json() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        };
        let messages = vec![
            Message::system("s"),
            Message::user("u"),
            Message::assistant_tool_calls(None, vec![call.clone()]),
            Message::tool("call_1", "get_weather", "18C"),
            Message::assistant("done"),
        ];
        let text = serde_json::to_string(&messages).unwrap();
        let back: Vec<Message> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, messages);
        // Compact: empty fields are left out.
        assert_eq!(
            serde_json::to_value(&messages[1]).unwrap(),
            json!({"role": "user", "content": "u"})
        );

        let response = ChatResponse {
            content: Some("hi".into()),
            reasoning: None,
            tool_calls: vec![call],
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                total_tokens: 5,
                ..Usage::default()
            },
            finish_reason: Some("stop".into()),
        };
        let back: ChatResponse =
            serde_json::from_str(&serde_json::to_string(&response).unwrap()).unwrap();
        assert_eq!(back, response);
        assert_eq!(response.to_message().tool_calls, response.tool_calls);

        let request = ChatRequest::new(messages).temperature(0.5).max_tokens(9);
        let back: ChatRequest =
            serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn usage_adds_up() {
        let mut total = Usage::default();
        let one = Usage {
            input_tokens: 1,
            output_tokens: 2,
            total_tokens: 3,
            cached_input_tokens: 1,
            reasoning_tokens: 1,
        };
        total.add(&one);
        total.add(&one);
        assert_eq!(total.total_tokens, 6);
        assert_eq!(total.cached_input_tokens, 2);
    }
}
