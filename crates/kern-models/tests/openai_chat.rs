//! OpenAI Chat Completions against the in-process fake server, and the shared HTTP behaviour
//! (retries, Retry-After, timeouts, malformed and dropped streams) that every provider uses.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{drain, fast, stream, weather_call, weather_tool};
use kern_models::testing::{FakeOpenAi, Reply, Scripted, ScriptedServer};
use kern_models::{
    ChatRequest, ClientOptions, Message, Model, ModelError, OpenAiChat, OpenAiCompatible,
    ResponseFormat, RetryPolicy, StreamEvent, ToolCall,
};
use serde_json::json;

fn hello() -> ChatRequest {
    ChatRequest::new([Message::user("hello")])
}

#[tokio::test]
async fn streams_text_deltas_as_they_arrive_then_one_completed_with_usage() {
    let fake = FakeOpenAi::start([Scripted::new()
        .chunks(["Hel", "lo", " wor", "ld"])
        .delay(Duration::from_millis(40))
        .usage(12, 4)
        .into()])
    .await;
    let model = fake.model("gpt-fake");
    assert_eq!(
        (model.id(), model.provider()),
        ("gpt-fake", "openai-compatible")
    );
    let start = Instant::now();
    let out = drain(start, model.stream(hello()).await.unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.deltas(), ["Hel", "lo", " wor", "ld"]);
    let response = out.completed();
    assert_eq!(response.content.as_deref(), Some("Hello world"));
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        (
            response.usage.input_tokens,
            response.usage.output_tokens,
            response.usage.total_tokens
        ),
        (12, 4, 16)
    );
    // Not buffered: the first delta arrived well before the last chunk was even sent
    // (8 chunks 40 ms apart).
    let first = out.events[0].0;
    let last = out.events.last().unwrap().0;
    assert!(
        last - first >= Duration::from_millis(150),
        "first delta at {first:?}, completed at {last:?}"
    );
}

#[tokio::test]
async fn assembles_parallel_tool_calls_split_across_chunks() {
    let fake = FakeOpenAi::start([Scripted::new()
        .tool_call(
            "call_a",
            "get_weather",
            r#"{"city": "Paris", "unit": "celsius"}"#,
        )
        .tool_call("call_b", "get_time", r#"{"tz": "Europe/Paris"}"#)
        .argument_pieces(4)
        .into()])
    .await;
    let response = fake.model("gpt-fake").complete(hello()).await.unwrap();
    assert_eq!(
        response.tool_calls,
        vec![
            weather_call("call_a", r#"{"city": "Paris", "unit": "celsius"}"#),
            ToolCall {
                id: "call_b".into(),
                name: "get_time".into(),
                arguments: r#"{"tz": "Europe/Paris"}"#.into()
            },
        ]
    );
    assert_eq!(response.content, None);
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn interleaved_tool_call_deltas_are_assembled_by_index() {
    let chunk = |delta: serde_json::Value| json!({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
    let events = [
        chunk(json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": ""}},
            {"index": 1, "id": "c1", "type": "function", "function": {"name": "b", "arguments": "{\"y\""}}
        ]})),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\""}}]})),
        chunk(json!({"tool_calls": [{"index": 1, "function": {"arguments": ":2}"}}]})),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]})),
        json!({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 0}}}),
    ];
    let mut data: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    data.push("[DONE]".into());
    let fake = FakeOpenAi::start([Reply::sse_data(data)]).await;
    let response = fake.model("m").complete(hello()).await.unwrap();
    let calls: Vec<_> = response
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(calls, [("c0", "a", "{\"x\":1}"), ("c1", "b", "{\"y\":2}")]);
    assert_eq!(response.usage.cached_input_tokens, 1);
}

#[tokio::test]
async fn request_body_carries_messages_tools_and_format_in_openai_format() {
    let fake = FakeOpenAi::start([Scripted::text("ok").into()]).await;
    let model = OpenAiChat::new("gpt-4o-mini", "sk-test")
        .base_url(fake.base_url())
        .options(fast());
    let request = ChatRequest::new([
        Message::system("You are terse."),
        Message::user("Weather in Paris and Rome?"),
        Message::assistant_tool_calls(
            None,
            vec![
                weather_call("call_1", r#"{"city":"Paris"}"#),
                weather_call("call_2", r#"{"city":"Rome"}"#),
            ],
        ),
        Message::tool("call_1", "get_weather", "18C"),
        Message::tool("call_2", "get_weather", "24C"),
    ])
    .tools([weather_tool()])
    .response_format(ResponseFormat::json_schema(
        "answer",
        json!({"type": "object", "properties": {"text": {"type": "string"}}}),
    ))
    .temperature(0.5)
    .max_tokens(100);
    model.complete(request).await.unwrap();

    let recorded = &fake.server().requests()[0];
    assert_eq!(recorded.method, "POST");
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded.header("content-type"), Some("application/json"));
    let body = recorded.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "24C"}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}])
    );
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"text": {"type": "string"}}}}})
    );
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_completion_tokens"], 100);
}

#[tokio::test]
async fn openai_compatible_sends_no_key_unless_given_and_uses_max_tokens() {
    let fake = FakeOpenAi::start([Scripted::text("ok").into()]).await;
    let model = OpenAiCompatible::new(format!("{}/", fake.base_url()), "local").options(fast());
    model.complete(hello().max_tokens(7)).await.unwrap();
    let recorded = &fake.server().requests()[0];
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.header("authorization"), None);
    assert_eq!(recorded.json()["max_tokens"], 7);
}

#[tokio::test]
async fn unauthorized_carries_the_provider_message_and_is_not_retried() {
    let fake = FakeOpenAi::start([Reply::json(
        401,
        json!({"error": {"message": "Incorrect API key provided: sk-bad.", "type": "invalid_request_error", "code": "invalid_api_key"}}),
    )])
    .await;
    let err = fake.model("m").stream(hello()).await.err().unwrap();
    assert_eq!(
        err,
        ModelError::Unauthorized {
            status: 401,
            message: "Incorrect API key provided: sk-bad.".into()
        }
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.server().request_count(), 1);
}

#[tokio::test]
async fn forbidden_is_unauthorized_too() {
    let fake = FakeOpenAi::start([Reply::json(
        403,
        json!({"error": {"message": "region not supported"}}),
    )])
    .await;
    let err = fake.model("m").complete(hello()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::Unauthorized { status: 403, ref message } if message == "region not supported")
    );
    assert_eq!(fake.server().request_count(), 1);
}

#[tokio::test]
async fn rate_limited_then_success_waits_for_retry_after() {
    let fake = FakeOpenAi::start([
        Reply::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )
        .header("retry-after", "1"),
        Scripted::text("after the wait").into(),
    ])
    .await;
    let start = Instant::now();
    let response = fake.model("m").complete(hello()).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(response.content.as_deref(), Some("after the wait"));
    assert!(
        elapsed >= Duration::from_secs(1),
        "retried after {elapsed:?}"
    );
    assert_eq!(fake.server().request_count(), 2);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let at = SystemTime::now() + Duration::from_secs(2);
    let fake = FakeOpenAi::start([
        Reply::json(503, json!({"error": {"message": "busy"}}))
            .header("retry-after", httpdate::fmt_http_date(at)),
        Scripted::text("ok").into(),
    ])
    .await;
    let start = Instant::now();
    fake.model("m").complete(hello()).await.unwrap();
    // The date has a one-second resolution: the wait is between 1 and 2 seconds.
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(fake.server().request_count(), 2);
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let fake = FakeOpenAi::start([
        Reply::json(
            500,
            json!({"error": {"message": "The server had an error"}}),
        ),
        Scripted::text("recovered").into(),
    ])
    .await;
    let response = fake.model("m").complete(hello()).await.unwrap();
    assert_eq!(response.content.as_deref(), Some("recovered"));
    assert_eq!(fake.server().request_count(), 2);
}

#[tokio::test]
async fn server_error_forever_is_a_server_error_after_max_attempts() {
    let fake = FakeOpenAi::start([Reply::json(
        502,
        json!({"error": {"message": "bad gateway"}}),
    )])
    .await;
    let model = OpenAiCompatible::new(fake.base_url(), "m").options(
        ClientOptions::default().retry(
            RetryPolicy::default()
                .max_attempts(4)
                .initial_backoff(Duration::from_millis(5)),
        ),
    );
    let err = model.complete(hello()).await.unwrap_err();
    assert_eq!(
        err,
        ModelError::Server {
            status: 502,
            message: "bad gateway".into()
        }
    );
    assert!(err.is_retryable());
    assert_eq!(fake.server().request_count(), 4);
}

#[tokio::test]
async fn rate_limited_forever_reports_the_last_retry_after() {
    let fake =
        FakeOpenAi::start(
            [Reply::json(429, json!({"error": {"message": "slow down"}}))
                .header("retry-after-ms", "20")],
        )
        .await;
    let err = fake.model("m").complete(hello()).await.unwrap_err();
    assert_eq!(
        err,
        ModelError::RateLimited {
            retry_after: Some(Duration::from_millis(20)),
            message: "slow down".into()
        }
    );
    assert_eq!(fake.server().request_count(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_at_once() {
    let fake = FakeOpenAi::start([
        Reply::json(429, json!({"error": {"message": "quota"}})).header("retry-after", "3600")
    ])
    .await;
    let start = Instant::now();
    let err = fake.model("m").complete(hello()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3600))
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.server().request_count(), 1);
}

#[tokio::test]
async fn other_client_errors_are_bad_requests_and_not_retried() {
    let fake = FakeOpenAi::start([Reply::json(
        404,
        json!({"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}),
    )])
    .await;
    let err = fake.model("gpt-9").complete(hello()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::BadRequest { status: 404, ref message } if message.contains("gpt-9"))
    );
    assert_eq!(fake.server().request_count(), 1);
}

#[tokio::test]
async fn a_malformed_chunk_ends_the_stream_with_an_error() {
    let good = Scripted::text("fine").events();
    let fake = FakeOpenAi::start([Reply::sse_data([good[0].clone(), good[1].clone()])
        .chunk("data: {\"choices\": [{\"delta\": \n\n")
        .chunk(format!("data: {}\n\n", good[2]))])
    .await;
    let out = stream(&fake.model("m"), hello()).await;
    assert_eq!(out.deltas(), ["fine"]);
    assert!(
        matches!(out.error, Some(ModelError::MalformedStream(_))),
        "{:?}",
        out.error
    );
    assert_eq!(fake.server().request_count(), 1);
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_is_stream_dropped_and_not_retried() {
    let fake = FakeOpenAi::start([
        Reply::from(Scripted::new().chunks(["a", "b", "c", "d"])).abort_after(3)
    ])
    .await;
    let out = stream(&fake.model("m"), hello()).await;
    assert_eq!(out.deltas(), ["a", "b"]);
    assert_eq!(out.error, Some(ModelError::StreamDropped));
    assert_eq!(
        fake.server().request_count(),
        1,
        "a started stream is never retried"
    );
}

#[tokio::test]
async fn a_body_ending_before_done_is_stream_dropped() {
    // Everything but `data: [DONE]`, cleanly ended.
    let events = Scripted::text("almost").events();
    let fake = FakeOpenAi::start([Reply::sse_data(&events[..events.len() - 1])]).await;
    let err = fake.model("m").complete(hello()).await.unwrap_err();
    assert_eq!(err, ModelError::StreamDropped);
}

#[tokio::test]
async fn an_idle_gap_longer_than_the_idle_timeout_is_a_timeout() {
    let fake = FakeOpenAi::start([Scripted::new()
        .chunks(["slow"])
        .delay(Duration::from_millis(500))
        .into()])
    .await;
    let model = OpenAiCompatible::new(fake.base_url(), "m")
        .options(ClientOptions::default().idle_timeout(Duration::from_millis(100)));
    let out = drain(Instant::now(), model.stream(hello()).await.unwrap()).await;
    assert!(
        matches!(out.error, Some(ModelError::Timeout(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn the_request_deadline_bounds_the_whole_call() {
    let fake = FakeOpenAi::start([Scripted::tokens(20, Duration::from_millis(50)).into()]).await;
    let model = OpenAiCompatible::new(fake.base_url(), "m")
        .options(ClientOptions::default().request_timeout(Duration::from_millis(300)));
    let start = Instant::now();
    let out = drain(start, model.stream(hello()).await.unwrap()).await;
    assert!(
        matches!(out.error, Some(ModelError::Timeout(ref w)) if w.contains("deadline")),
        "{:?}",
        out.error
    );
    assert!(!out.deltas().is_empty());
    assert!(start.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn connection_refused_is_a_connection_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let model = OpenAiCompatible::new(format!("http://{addr}/v1"), "m").options(fast());
    let err = model.complete(hello()).await.unwrap_err();
    assert!(matches!(err, ModelError::Connection(_)), "{err:?}");
}

#[tokio::test]
async fn a_stream_error_event_is_a_provider_error() {
    let fake = FakeOpenAi::start([Reply::sse_data([
        json!({"error": {"message": "context too long"}}),
    ])])
    .await;
    let err = fake.model("m").complete(hello()).await.unwrap_err();
    assert_eq!(err, ModelError::Provider("context too long".into()));
}

#[tokio::test]
async fn reasoning_deltas_of_compatible_servers_are_surfaced() {
    let fake = FakeOpenAi::start([Reply::sse_data([
        json!({"choices": [{"index": 0, "delta": {"reasoning_content": "thinking…"}}]}).to_string(),
        json!({"choices": [{"index": 0, "delta": {"content": "42"}, "finish_reason": "stop"}]})
            .to_string(),
        "[DONE]".to_string(),
    ])])
    .await;
    let out = stream(&fake.model("m"), hello()).await;
    assert_eq!(
        out.events[0].1,
        StreamEvent::ReasoningDelta("thinking…".into())
    );
    let response = out.completed();
    assert_eq!(response.reasoning.as_deref(), Some("thinking…"));
    assert_eq!(response.content.as_deref(), Some("42"));
}

#[tokio::test]
async fn the_fake_server_can_answer_from_the_conversation() {
    // An agent loop: the first turn calls a tool, the next one answers from its result.
    let fake = FakeOpenAi::with_handler(|request, _n| {
        let messages = request["messages"].as_array().cloned().unwrap_or_default();
        match messages.iter().find(|m| m["role"] == "tool") {
            Some(result) => {
                Scripted::text(format!("It is {}.", result["content"].as_str().unwrap())).into()
            }
            None => Scripted::new()
                .tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#)
                .into(),
        }
    })
    .await;
    let model = fake.model("m");
    let mut messages = vec![Message::user("Weather in Paris?")];
    let first = model
        .complete(ChatRequest::new(messages.clone()).tools([weather_tool()]))
        .await
        .unwrap();
    messages.push(first.to_message());
    let call = &first.tool_calls[0];
    messages.push(Message::tool(&call.id, &call.name, "18C"));
    let second = model.complete(ChatRequest::new(messages)).await.unwrap();
    assert_eq!(second.content.as_deref(), Some("It is 18C."));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_scripted_server_with_no_reply_answers_500() {
    let server = ScriptedServer::start([]).await;
    let model = OpenAiCompatible::new(format!("{}/v1", server.url()), "m")
        .options(ClientOptions::default().retry(RetryPolicy::none()));
    let err = model.complete(hello()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::Server { status: 500, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_fake_server_serves_concurrent_streams_without_recording() {
    let fake = FakeOpenAi::start([Scripted::tokens(10, Duration::from_millis(1)).into()]).await;
    fake.set_recording(false);
    let model = std::sync::Arc::new(fake.model("m"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let model = model.clone();
            tokio::spawn(async move { model.complete(hello()).await })
        })
        .collect();
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(
            response.content.as_deref(),
            Some("tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9")
        );
        assert_eq!(response.usage.output_tokens, 10);
    }
    assert_eq!(fake.server().request_count(), 20);
    assert!(fake.requests().is_empty());
}
