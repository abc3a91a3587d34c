//! What the provider tests share: draining streams, quick client options, each provider built
//! against a fake server, and scripted responses in each provider's wire format (served by
//! `kern_models::testing::ScriptedServer`).

#![allow(dead_code)] // each test binary uses a part of it

use std::time::{Duration, Instant};

use futures::StreamExt;
use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{
    Anthropic, ChatRequest, ChatResponse, ClientOptions, Gemini, Message, Model, ModelError,
    ModelStream, Ollama, OpenAiResponses, RetryPolicy, StreamEvent, ToolCall,
};
use serde_json::{json, Value};

/// What a stream yielded: its events with their arrival time (since the call), and the
/// error that ended it, if any. Asserts that nothing follows an error or `Completed`.
pub struct Drained {
    pub events: Vec<(Duration, StreamEvent)>,
    pub error: Option<ModelError>,
}

impl Drained {
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                StreamEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn deltas(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                StreamEvent::TextDelta(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn completed(&self) -> &kern_models::ChatResponse {
        match self.events.last() {
            Some((_, StreamEvent::Completed(r))) => r,
            _ => panic!(
                "the stream did not end with Completed: {:?} / {:?}",
                self.events, self.error
            ),
        }
    }
}

pub async fn drain(start: Instant, mut stream: ModelStream) -> Drained {
    let mut events = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        assert!(error.is_none(), "an item after an error: {item:?}");
        assert!(
            !matches!(events.last(), Some((_, StreamEvent::Completed(_)))),
            "an item after Completed: {item:?}"
        );
        match item {
            Ok(event) => events.push((start.elapsed(), event)),
            Err(e) => error = Some(e),
        }
    }
    let completed = events
        .iter()
        .filter(|(_, e)| matches!(e, StreamEvent::Completed(_)))
        .count();
    assert!(completed <= 1, "{completed} Completed events");
    assert!(
        completed == 1 || error.is_some(),
        "a stream ended with neither Completed nor an error"
    );
    Drained { events, error }
}

/// Streams `request` from `model` (which must accept it) and drains the stream.
pub async fn stream(model: &(impl Model + ?Sized), request: ChatRequest) -> Drained {
    let start = Instant::now();
    drain(start, model.stream(request).await.unwrap()).await
}

/// The one-message request most tests send.
pub fn hi() -> ChatRequest {
    ChatRequest::new([Message::user("hi")])
}

/// `model.complete(hi())`.
pub async fn complete_hi(model: &(impl Model + ?Sized)) -> Result<ChatResponse, ModelError> {
    model.complete(hi()).await
}

/// A tool call of `get_weather` with the given id and (JSON text) arguments.
pub fn weather_call(id: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: arguments.into(),
    }
}

// ---- The providers, built against a fake server ----------------------------------------

pub fn anthropic(server: &ScriptedServer) -> Anthropic {
    Anthropic::new("claude-test", "sk-ant-test")
        .base_url(server.url())
        .options(fast())
}

pub fn gemini(server: &ScriptedServer) -> Gemini {
    Gemini::new("gemini-test", "g-key")
        .base_url(format!("{}/v1beta", server.url()))
        .options(fast())
}

pub fn ollama(server: &ScriptedServer) -> Ollama {
    Ollama::new("llama-test").host(server.url()).options(fast())
}

pub fn openai_responses(server: &ScriptedServer) -> OpenAiResponses {
    OpenAiResponses::new("gpt-test", "sk-test")
        .base_url(format!("{}/v1", server.url()))
        .options(fast())
}

/// Quick retries (10 ms backoff, 3 attempts) and a short idle timeout.
pub fn fast() -> ClientOptions {
    ClientOptions::default()
        .idle_timeout(Duration::from_secs(5))
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10)),
        )
}

pub fn weather_tool() -> kern_models::ToolSpec {
    kern_models::ToolSpec::new(
        "get_weather",
        "Current weather of a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

/// Splits a string into `n` pieces of about equal length.
pub fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

// ---- Anthropic Messages ---------------------------------------------------------------

pub fn anthropic_events(text: &[&str], tools: &[(&str, &str, &str)]) -> Vec<(String, Value)> {
    let mut events = vec![(
        "message_start".to_string(),
        json!({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0}
        }}),
    )];
    let mut index = 0;
    if !text.is_empty() {
        events.push((
            "content_block_start".into(),
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        ));
        events.push(("ping".into(), json!({"type": "ping"})));
        for t in text {
            events.push((
                "content_block_delta".into(),
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}),
            ));
        }
        events.push((
            "content_block_stop".into(),
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    for (id, name, args) in tools {
        events.push((
            "content_block_start".into(),
            json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ));
        for piece in pieces(args, 3) {
            events.push((
                "content_block_delta".into(),
                json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        events.push((
            "content_block_stop".into(),
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    let stop = if tools.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    events.push((
        "message_delta".into(),
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": 42}}),
    ));
    events.push(("message_stop".into(), json!({"type": "message_stop"})));
    events
}

pub fn anthropic_reply(events: Vec<(String, Value)>) -> Reply {
    Reply::sse_events(events)
}

// ---- OpenAI Responses -----------------------------------------------------------------

pub fn responses_events(text: &[&str], tools: &[(&str, &str, &str)]) -> Vec<(String, Value)> {
    let mut events = vec![(
        "response.created".to_string(),
        json!({"type": "response.created", "sequence_number": 0,
            "response": {"id": "resp_1", "status": "in_progress", "output": []}}),
    )];
    let mut output = Vec::new();
    let mut index = 0;
    if !text.is_empty() {
        events.push((
            "response.output_item.added".into(),
            json!({"type": "response.output_item.added", "output_index": index,
                "item": {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}),
        ));
        for t in text {
            events.push((
                "response.output_text.delta".into(),
                json!({"type": "response.output_text.delta", "item_id": "msg_1",
                    "output_index": index, "content_index": 0, "delta": t}),
            ));
        }
        let full: String = text.concat();
        events.push((
            "response.output_text.done".into(),
            json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": index,
                "content_index": 0, "text": full}),
        ));
        output.push(
            json!({"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": full, "annotations": []}]}),
        );
        index += 1;
    }
    for (call_id, name, args) in tools {
        let item_id = format!("fc_{index}");
        events.push((
            "response.output_item.added".into(),
            json!({"type": "response.output_item.added", "output_index": index,
                "item": {"id": item_id, "type": "function_call", "status": "in_progress",
                    "call_id": call_id, "name": name, "arguments": ""}}),
        ));
        for piece in pieces(args, 3) {
            events.push((
                "response.function_call_arguments.delta".into(),
                json!({"type": "response.function_call_arguments.delta", "item_id": item_id,
                    "output_index": index, "delta": piece}),
            ));
        }
        events.push((
            "response.function_call_arguments.done".into(),
            json!({"type": "response.function_call_arguments.done", "item_id": item_id,
                "output_index": index, "arguments": args}),
        ));
        let item = json!({"id": item_id, "type": "function_call", "status": "completed",
            "call_id": call_id, "name": name, "arguments": args});
        events.push((
            "response.output_item.done".into(),
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ));
        output.push(item);
        index += 1;
    }
    events.push((
        "response.completed".into(),
        json!({"type": "response.completed", "response": {
            "id": "resp_1", "status": "completed", "output": output,
            "usage": {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 8},
                "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 42}
        }}),
    ));
    events
}

// ---- Gemini ---------------------------------------------------------------------------

pub fn gemini_chunks(text: &[&str], calls: &[(&str, Value)]) -> Vec<Value> {
    let mut chunks: Vec<Value> = text
        .iter()
        .map(|t| {
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}, "index": 0}],
                "modelVersion": "gemini-test"})
        })
        .collect();
    let parts: Vec<Value> = calls
        .iter()
        .map(|(name, args)| json!({"functionCall": {"name": name, "args": args}}))
        .collect();
    let mut last = json!({"candidates": [{"content": {"role": "model", "parts": parts},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "totalTokenCount": 35,
            "thoughtsTokenCount": 6, "cachedContentTokenCount": 3},
        "modelVersion": "gemini-test"});
    if calls.is_empty() {
        last["candidates"][0]["content"]["parts"] = json!([{"text": ""}]);
    }
    chunks.push(last);
    chunks
}

// ---- Ollama ---------------------------------------------------------------------------

pub fn ollama_lines(text: &[&str], calls: &[(&str, Value)]) -> Vec<Value> {
    let mut lines: Vec<Value> = text
        .iter()
        .map(|t| {
            json!({"model": "llama-test", "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": t}, "done": false})
        })
        .collect();
    if !calls.is_empty() {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(name, args)| json!({"function": {"name": name, "arguments": args}}))
            .collect();
        lines.push(json!({"model": "llama-test", "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "", "tool_calls": tool_calls}, "done": false}));
    }
    lines.push(
        json!({"model": "llama-test", "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
        "total_duration": 1000, "prompt_eval_count": 17, "eval_count": 5}),
    );
    lines
}
