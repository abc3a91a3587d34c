//! Google Gemini against a fake server speaking `streamGenerateContent?alt=sse`.
//! The checks every provider passes (streaming with usage, error statuses, dropped and
//! malformed streams) are rows of `providers.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{complete_hi, gemini as model, gemini_chunks, stream, weather_call, weather_tool};
use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{ChatRequest, Message, Model, ResponseFormat, StreamEvent};
use serde_json::json;

#[tokio::test]
async fn thought_parts_are_reasoning_deltas() {
    let server = ScriptedServer::start([Reply::sse_data([
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "4"}]}, "finishReason": "STOP"}]}),
    ])])
    .await;
    let out = stream(&model(&server), ChatRequest::new([Message::user("2+2")])).await;
    assert_eq!(out.events[0].1, StreamEvent::ReasoningDelta("hmm".into()));
    assert_eq!(out.completed().content.as_deref(), Some("4"));
    assert_eq!(out.completed().reasoning.as_deref(), Some("hmm"));
}

#[tokio::test]
async fn request_uses_contents_system_instruction_and_function_parts() {
    let server = ScriptedServer::start([Reply::sse_data(gemini_chunks(&["ok"], &[]))]).await;
    let request = ChatRequest::new([
        Message::system("Be brief."),
        Message::user("Weather in Paris and Rome?"),
        Message::assistant_tool_calls(
            None,
            vec![
                weather_call("call_0", r#"{"city":"Paris"}"#),
                weather_call("call_1", r#"{"city":"Rome"}"#),
            ],
        ),
        // The name is recovered from the call when the tool message has none.
        Message {
            name: None,
            ..Message::tool("call_0", "", r#"{"temp": 18}"#)
        },
        Message::tool("call_1", "get_weather", "24C"),
    ])
    .tools([weather_tool()])
    .response_format(ResponseFormat::json_schema(
        "out",
        json!({"type": "object"}),
    ))
    .temperature(0.0)
    .max_tokens(64);
    model(&server).complete(request).await.unwrap();

    let recorded = &server.requests()[0];
    assert_eq!(
        recorded.path,
        "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    );
    assert_eq!(recorded.header("x-goog-api-key"), Some("g-key"));
    let body = recorded.json();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "24C"}}}
            ]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "description": "Current weather of a city",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}])
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.0, "maxOutputTokens": 64, "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"}})
    );
}

#[tokio::test]
async fn rate_limited_then_success() {
    let server = ScriptedServer::start([
        Reply::json(429, json!({"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}))
            .header("retry-after", "1"),
        Reply::sse_data(gemini_chunks(&["ok"], &[])),
    ])
    .await;
    let start = Instant::now();
    let response = complete_hi(&model(&server)).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("ok"));
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.request_count(), 2);
}
