//! Ollama's native `/api/chat` against a fake server speaking its NDJSON stream.
//! The checks every provider passes (streaming with usage, error statuses, dropped and
//! malformed streams) are rows of `providers.rs`.

mod common;

use common::{hi, ollama as model, ollama_lines, stream, weather_call, weather_tool};
use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{ChatRequest, Message, Model, ModelError, Ollama, ResponseFormat};
use serde_json::json;

#[tokio::test]
async fn request_has_tool_calls_as_objects_and_tool_names() {
    let server = ScriptedServer::start([Reply::ndjson(ollama_lines(&["ok"], &[]))]).await;
    let request = ChatRequest::new([
        Message::system("Be brief."),
        Message::user("Weather?"),
        Message::assistant_tool_calls(None, vec![weather_call("call_0", r#"{"city":"Paris"}"#)]),
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
    let out = stream(&model(&server), hi()).await;
    assert_eq!(out.deltas(), ["a"]);
    assert_eq!(
        out.error,
        Some(ModelError::Provider(
            "an error was encountered while running the model".into()
        ))
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
