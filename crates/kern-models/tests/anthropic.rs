//! Anthropic Messages against a fake server speaking its SSE wire format.
//! The checks every provider passes (streaming with usage, error statuses, dropped and
//! malformed streams) are rows of `providers.rs`.

mod common;

use common::{
    anthropic as model, anthropic_events, anthropic_reply, complete_hi, hi, stream, weather_call,
    weather_tool,
};
use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{ChatRequest, Message, Model, ModelError, ResponseFormat, ToolCall};
use serde_json::json;

#[tokio::test]
async fn a_tool_use_without_input_deltas_has_empty_object_arguments() {
    let events = vec![
        (
            "message_start".to_string(),
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        (
            "content_block_start".into(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "now", "input": {}}}),
        ),
        (
            "content_block_stop".into(),
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta".into(),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}),
        ),
        ("message_stop".into(), json!({"type": "message_stop"})),
    ];
    let server = ScriptedServer::start([anthropic_reply(events)]).await;
    let response = model(&server)
        .complete(ChatRequest::new([Message::user("time?")]))
        .await
        .unwrap();
    assert_eq!(response.tool_calls[0].arguments, "{}");
}

#[tokio::test]
async fn request_uses_top_level_system_tool_use_and_tool_result_blocks() {
    let server = ScriptedServer::start([anthropic_reply(anthropic_events(&["ok"], &[]))]).await;
    let request = ChatRequest::new([
        Message::system("Be brief."),
        Message::user("Weather in Paris and Rome?"),
        Message::assistant_tool_calls(
            Some("Checking.".into()),
            vec![
                weather_call("toolu_1", r#"{"city":"Paris"}"#),
                weather_call("toolu_2", r#"{"city":"Rome"}"#),
            ],
        ),
        Message::tool("toolu_1", "get_weather", "18C"),
        Message::tool("toolu_2", "get_weather", "24C"),
        Message::user("Thanks"),
    ])
    .tools([weather_tool()])
    .temperature(0.2);
    model(&server).complete(request).await.unwrap();

    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded.header("authorization"), None);
    let body = recorded.json();
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["temperature"], json!(0.2f32));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"},
                {"type": "text", "text": "Thanks"}
            ]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "get_weather", "description": "Current weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
    );
}

#[tokio::test]
async fn a_response_format_becomes_a_system_instruction() {
    let server = ScriptedServer::start([anthropic_reply(anthropic_events(&["{}"], &[]))]).await;
    let request = ChatRequest::new([Message::system("S."), Message::user("u")])
        .response_format(ResponseFormat::json_schema(
            "out",
            json!({"type": "object"}),
        ))
        .max_tokens(50);
    model(&server).complete(request).await.unwrap();
    let body = server.requests()[0].json();
    let system = body["system"].as_str().unwrap();
    assert!(system.starts_with("S.\n\n"), "{system}");
    assert!(system.contains(r#"{"type":"object"}"#), "{system}");
    assert_eq!(body["max_tokens"], 50);
}

#[tokio::test]
async fn invalid_tool_arguments_are_rejected_before_sending() {
    let server = ScriptedServer::start([]).await;
    let request = ChatRequest::new([Message::assistant_tool_calls(
        None,
        vec![ToolCall {
            id: "t".into(),
            name: "f".into(),
            arguments: "not json".into(),
        }],
    )]);
    let err = model(&server).complete(request).await.unwrap_err();
    assert!(matches!(err, ModelError::InvalidRequest(_)), "{err:?}");
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn overloaded_529_is_retried() {
    let server = ScriptedServer::start([
        Reply::json(529, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        anthropic_reply(anthropic_events(&["back"], &[])),
    ])
    .await;
    let response = complete_hi(&model(&server)).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("back"));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn an_error_event_mid_stream_fails_the_stream() {
    let mut events = anthropic_events(&["par", "tial"], &[]);
    events.truncate(4); // message_start, block start, ping, first delta
    events.push((
        "error".into(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let server = ScriptedServer::start([anthropic_reply(events)]).await;
    let out = stream(&model(&server), hi()).await;
    assert_eq!(out.deltas(), ["par"]);
    assert_eq!(
        out.error,
        Some(ModelError::Server {
            status: 529,
            message: "Overloaded".into()
        })
    );
}
