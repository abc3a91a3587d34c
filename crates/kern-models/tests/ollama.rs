//! Ollama's native `/api/chat` against a fake server speaking its NDJSON stream.

mod support;

use std::time::{Duration, Instant};

use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{ChatRequest, Message, Model, ModelError, Ollama, ResponseFormat, ToolCall};
use serde_json::json;
use support::{drain, fast, ollama_lines, weather_tool};

fn model(server: &ScriptedServer) -> Ollama {
    Ollama::new("llama-test").host(server.url()).options(fast())
}

#[tokio::test]
async fn streams_text_and_parallel_tool_calls_with_counts() {
    let lines = ollama_lines(
        &["Let ", "me see."],
        &[
            ("get_weather", json!({"city": "Paris"})),
            ("get_weather", json!({"city": "Rome"})),
        ],
    );
    let server =
        ScriptedServer::start([Reply::ndjson(lines).delay(Duration::from_millis(2))]).await;
    let m = model(&server);
    assert_eq!((m.id(), m.provider()), ("llama-test", "ollama"));
    let out = drain(
        Instant::now(),
        m.stream(ChatRequest::new([Message::user("hi")]))
            .await
            .unwrap(),
    )
    .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.deltas(), ["Let ", "me see."]);
    let response = out.completed();
    assert_eq!(response.content.as_deref(), Some("Let me see."));
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
    let u = response.usage;
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.total_tokens),
        (17, 5, 22)
    );
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn request_has_tool_calls_as_objects_and_tool_names() {
    let server = ScriptedServer::start([Reply::ndjson(ollama_lines(&["ok"], &[]))]).await;
    let request = ChatRequest::new([
        Message::system("Be brief."),
        Message::user("Weather?"),
        Message::assistant_tool_calls(
            None,
            vec![ToolCall {
                id: "call_0".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }],
        ),
        Message {
            name: None,
            ..Message::tool("call_0", "", "18C")
        },
    ])
    .tools([weather_tool()])
    .response_format(ResponseFormat::json_schema(
        "out",
        json!({"type": "object"}),
    ))
    .temperature(0.0)
    .max_tokens(10);
    model(&server).complete(request).await.unwrap();

    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/api/chat");
    assert_eq!(recorded.header("authorization"), None);
    let body = recorded.json();
    assert_eq!(body["model"], "llama-test");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "18C", "tool_name": "get_weather"}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
    );
    assert_eq!(body["format"], json!({"type": "object"}));
    assert_eq!(
        body["options"],
        json!({"temperature": 0.0, "num_predict": 10})
    );
}

#[tokio::test]
async fn an_error_line_fails_the_stream() {
    let server = ScriptedServer::start([Reply::ndjson([
        json!({"message": {"role": "assistant", "content": "a"}, "done": false}),
        json!({"error": "an error was encountered while running the model"}),
    ])])
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
    assert_eq!(
        out.error,
        Some(ModelError::Provider(
            "an error was encountered while running the model".into()
        ))
    );
}

#[tokio::test]
async fn an_unknown_model_is_a_bad_request_with_ollamas_message() {
    let server = ScriptedServer::start([Reply::json(
        404,
        json!({"error": "model \"llama-test\" not found, try pulling it first"}),
    )])
    .await;
    let err = model(&server)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ModelError::BadRequest {
            status: 404,
            message: "model \"llama-test\" not found, try pulling it first".into()
        }
    );
}

#[tokio::test]
async fn dropped_before_done_is_stream_dropped() {
    let server =
        ScriptedServer::start([Reply::ndjson(ollama_lines(&["a", "b", "c"], &[])).abort_after(2)])
            .await;
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
async fn a_malformed_line_is_malformed_stream() {
    let server = ScriptedServer::start([Reply::ndjson(ollama_lines(&["a"], &[]))
        .truncate(1)
        .chunk("{\"message\": oops}\n")])
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
    assert!(
        matches!(out.error, Some(ModelError::MalformedStream(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn a_host_without_scheme_gets_http() {
    // OLLAMA_HOST is often `host:port`.
    let server = ScriptedServer::start([Reply::ndjson(ollama_lines(&["ok"], &[]))]).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let response = Ollama::new("x")
        .host(host)
        .complete(ChatRequest::new([Message::user("hi")]))
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("ok"));
    assert_eq!(server.request_count(), 1);
}
