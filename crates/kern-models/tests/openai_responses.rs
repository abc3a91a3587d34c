//! The OpenAI Responses API against a fake server speaking its typed SSE events.
//! The checks every provider passes (streaming with usage, error statuses, dropped and
//! malformed streams) are rows of `providers.rs`.

mod common;

use common::{
    complete_hi, openai_responses as model, responses_events, weather_call, weather_tool,
};
use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{ChatRequest, Message, Model, ModelError, ResponseFormat};
use serde_json::json;

#[tokio::test]
async fn function_calls_assemble_from_deltas_alone() {
    // A server that sends no final `output` in response.completed.
    let mut events = responses_events(&[], &[("call_x", "f", r#"{"a": [1, 2, 3]}"#)]);
    let last = events.len() - 1;
    events[last].1["response"]["output"] = json!([]);
    // Drop the `.done` events: only `added` + argument deltas remain.
    events.retain(|(name, _)| {
        name != "response.function_call_arguments.done" && name != "response.output_item.done"
    });
    let server = ScriptedServer::start([Reply::sse_events(events)]).await;
    let response = complete_hi(&model(&server)).await.unwrap();
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].id, "call_x");
    assert_eq!(response.tool_calls[0].arguments, r#"{"a": [1, 2, 3]}"#);
}

#[tokio::test]
async fn request_uses_input_items_function_tools_and_text_format() {
    let server = ScriptedServer::start([Reply::sse_events(responses_events(&["ok"], &[]))]).await;
    let request = ChatRequest::new([
        Message::system("Be brief."),
        Message::user("Weather?"),
        Message::assistant_tool_calls(None, vec![weather_call("call_1", r#"{"city":"Paris"}"#)]),
        Message::tool("call_1", "get_weather", "18C"),
    ])
    .tools([weather_tool()])
    .response_format(ResponseFormat::json_schema(
        "answer",
        json!({"type": "object"}),
    ))
    .max_tokens(99);
    model(&server).complete(request).await.unwrap();

    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/v1/responses");
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-test"));
    let body = recorded.json();
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["store"], false);
    assert_eq!(
        body["input"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "name": "get_weather", "description": "Current weather of a city", "strict": false,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
    );
    assert_eq!(
        body["text"],
        json!({"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true}})
    );
    assert_eq!(body["max_output_tokens"], 99);
}

#[tokio::test]
async fn response_failed_is_a_provider_error() {
    let server = ScriptedServer::start([Reply::sse_events([
        (
            "response.created",
            json!({"type": "response.created", "response": {"status": "in_progress"}}),
        ),
        (
            "response.failed",
            json!({"type": "response.failed", "response": {"status": "failed",
            "error": {"code": "server_error", "message": "The model failed"}}}),
        ),
    ])])
    .await;
    let err = complete_hi(&model(&server)).await.unwrap_err();
    assert_eq!(err, ModelError::Provider("The model failed".into()));
}

#[tokio::test]
async fn incomplete_responses_complete_with_the_reason() {
    let mut events = responses_events(&["trunc"], &[]);
    let last = events.len() - 1;
    events[last].0 = "response.incomplete".into();
    events[last].1["type"] = json!("response.incomplete");
    events[last].1["response"]["status"] = json!("incomplete");
    events[last].1["response"]["incomplete_details"] = json!({"reason": "max_output_tokens"});
    let server = ScriptedServer::start([Reply::sse_events(events)]).await;
    let response = complete_hi(&model(&server)).await.unwrap();
    assert_eq!(response.finish_reason.as_deref(), Some("max_output_tokens"));
    assert_eq!(response.content.as_deref(), Some("trunc"));
}
