//! Google Gemini against a fake server speaking `streamGenerateContent?alt=sse`.

mod support;

use std::time::{Duration, Instant};

use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{
    ChatRequest, Gemini, Message, Model, ModelError, ResponseFormat, StreamEvent, ToolCall,
};
use serde_json::json;
use support::{drain, fast, gemini_chunks, weather_tool};

fn model(server: &ScriptedServer) -> Gemini {
    Gemini::new("gemini-test", "g-key")
        .base_url(format!("{}/v1beta", server.url()))
        .options(fast())
}

#[tokio::test]
async fn streams_text_and_parallel_function_calls_with_usage() {
    let chunks = gemini_chunks(
        &["Checking ", "both."],
        &[
            ("get_weather", json!({"city": "Paris"})),
            ("get_weather", json!({"city": "Rome"})),
        ],
    );
    let server =
        ScriptedServer::start([Reply::sse_data(chunks).delay(Duration::from_millis(2))]).await;
    let m = model(&server);
    assert_eq!((m.id(), m.provider()), ("gemini-test", "gemini"));
    let out = drain(
        Instant::now(),
        m.stream(ChatRequest::new([Message::user("hi")]))
            .await
            .unwrap(),
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.deltas(), ["Checking ", "both."]);
    let response = out.completed();
    assert_eq!(response.content.as_deref(), Some("Checking both."));
    assert_eq!(
        response.tool_calls,
        vec![
            ToolCall {
                id: "call_0".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            },
            ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Rome"}"#.into()
            },
        ]
    );
    assert_eq!(response.finish_reason.as_deref(), Some("STOP"));
    let u = response.usage;
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.total_tokens),
        (20, 15, 35)
    );
    assert_eq!((u.cached_input_tokens, u.reasoning_tokens), (3, 6));
}

#[tokio::test]
async fn thought_parts_are_reasoning_deltas() {
    let server = ScriptedServer::start([Reply::sse_data([
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "4"}]}, "finishReason": "STOP"}]}),
    ])])
    .await;
    let out = drain(
        Instant::now(),
        model(&server)
            .stream(ChatRequest::new([Message::user("2+2")]))
            .await
            .unwrap(),
    )
    .await;
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
                ToolCall {
                    id: "call_0".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
                ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Rome"}"#.into(),
                },
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
async fn a_body_ending_without_finish_reason_is_stream_dropped() {
    let mut chunks = gemini_chunks(&["a", "b"], &[]);
    chunks.pop(); // the final chunk with finishReason
    let server = ScriptedServer::start([Reply::sse_data(chunks)]).await;
    let out = drain(
        Instant::now(),
        model(&server)
            .stream(ChatRequest::new([Message::user("hi")]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.deltas(), ["a", "b"]);
    assert_eq!(out.error, Some(ModelError::StreamDropped));
}

#[tokio::test]
async fn a_broken_connection_is_stream_dropped() {
    let server =
        ScriptedServer::start([Reply::sse_data(gemini_chunks(&["a", "b"], &[])).abort_after(1)])
            .await;
    let out = drain(
        Instant::now(),
        model(&server)
            .stream(ChatRequest::new([Message::user("hi")]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.deltas(), ["a"]);
    assert_eq!(out.error, Some(ModelError::StreamDropped));
}

#[tokio::test]
async fn forbidden_carries_gemini_error_message() {
    let server = ScriptedServer::start([Reply::json(
        403,
        json!({"error": {"code": 403, "message": "API key not valid. Please pass a valid API key.", "status": "PERMISSION_DENIED"}}),
    )])
    .await;
    let err = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ModelError::Unauthorized {
            status: 403,
            message: "API key not valid. Please pass a valid API key.".into()
        }
    );
    assert_eq!(server.request_count(), 1);
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
    let response = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("ok"));
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_malformed_chunk_is_malformed_stream() {
    let server = ScriptedServer::start([Reply::sse_data(["{\"candidates\": [}"])]).await;
    let err = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::MalformedStream(_)), "{err:?}");
}
