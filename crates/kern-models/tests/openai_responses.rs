//! The OpenAI Responses API against a fake server speaking its typed SSE events.

mod support;

use std::time::{Duration, Instant};

use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{
    ChatRequest, Message, Model, ModelError, OpenAiResponses, ResponseFormat, ToolCall,
};
use serde_json::json;
use support::{drain, fast, responses_events, weather_tool};

fn model(server: &ScriptedServer) -> OpenAiResponses {
    OpenAiResponses::new("gpt-test", "sk-test")
        .base_url(format!("{}/v1", server.url()))
        .options(fast())
}

#[tokio::test]
async fn streams_text_and_parallel_function_calls_with_usage() {
    let events = responses_events(
        &["On ", "it."],
        &[
            ("call_a", "get_weather", r#"{"city":"Paris"}"#),
            ("call_b", "get_weather", r#"{"city":"Rome"}"#),
        ],
    );
    let server =
        ScriptedServer::start([Reply::sse_events(events).delay(Duration::from_millis(2))]).await;
    let m = model(&server);
    assert_eq!((m.id(), m.provider()), ("gpt-test", "openai-responses"));
    let out = drain(
        Instant::now(),
        m.stream(ChatRequest::new([Message::user("hi")]))
            .await
            .unwrap(),
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.deltas(), ["On ", "it."]);
    let response = out.completed();
    assert_eq!(response.content.as_deref(), Some("On it."));
    assert_eq!(
        response.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            },
            ToolCall {
                id: "call_b".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Rome"}"#.into()
            },
        ]
    );
    let u = response.usage;
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.total_tokens),
        (30, 12, 42)
    );
    assert_eq!((u.cached_input_tokens, u.reasoning_tokens), (8, 4));
    assert_eq!(response.finish_reason.as_deref(), Some("completed"));
}

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
    let response = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap();
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
        Message::assistant_tool_calls(
            None,
            vec![ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }],
        ),
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
    let err = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap_err();
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
    let response = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap();
    assert_eq!(response.finish_reason.as_deref(), Some("max_output_tokens"));
    assert_eq!(response.content.as_deref(), Some("trunc"));
}

#[tokio::test]
async fn unauthorized_carries_the_message() {
    let server = ScriptedServer::start([Reply::json(
        401,
        json!({"error": {"message": "Invalid key", "code": "invalid_api_key"}}),
    )])
    .await;
    let err = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ModelError::Unauthorized {
            status: 401,
            message: "Invalid key".into()
        }
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn dropped_before_response_completed_is_stream_dropped() {
    let events = responses_events(&["a", "b", "c"], &[]);
    let n = events.len();
    let server = ScriptedServer::start([Reply::sse_events(events).truncate(n - 1)]).await;
    let out = drain(
        Instant::now(),
        model(&server)
            .stream(ChatRequest::new([Message::user("hi")]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.deltas(), ["a", "b", "c"]);
    assert_eq!(out.error, Some(ModelError::StreamDropped));
}

#[tokio::test]
async fn a_malformed_event_is_malformed_stream() {
    let server = ScriptedServer::start([Reply::sse_events([(
        "response.output_text.delta",
        "{\"type\": 3}",
    )])])
    .await;
    let err = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::MalformedStream(_)), "{err:?}");
}
