//! The checks every provider passes in its own wire format, one table row per provider:
//! streaming text and parallel tool calls with usage, error statuses carrying the
//! provider's message, dropped and malformed streams. What only one provider does is in
//! that provider's file.

mod common;

use std::time::Duration;

use common::{
    anthropic, anthropic_events, anthropic_reply, complete_hi, gemini, gemini_chunks, hi, ollama,
    ollama_lines, openai_responses, responses_events, stream, weather_call,
};
use kern_models::testing::{Reply, ScriptedServer};
use kern_models::{Model, ModelError, ToolCall};
use serde_json::json;

/// Builds a provider's model against the fake server.
type Build = fn(&ScriptedServer) -> Box<dyn Model>;

/// Paris, then Rome, as `get_weather` calls with the provider's ids and argument text.
fn paris_and_rome(ids: [&str; 2], paris: &str, rome: &str) -> Vec<ToolCall> {
    vec![weather_call(ids[0], paris), weather_call(ids[1], rome)]
}

struct Streaming {
    build: Build,
    id: &'static str,
    provider: &'static str,
    reply: Reply,
    deltas: [&'static str; 2],
    tool_calls: Vec<ToolCall>,
    finish_reason: &'static str,
    /// input, output, total, cached input, reasoning tokens
    usage: (u64, u64, u64, u64, u64),
}

#[tokio::test]
async fn streams_text_then_parallel_tool_calls_with_usage() {
    const PARIS: &str = r#"{"city":"Paris"}"#;
    const ROME: &str = r#"{"city":"Rome"}"#;
    let slow = |reply: Reply| reply.delay(Duration::from_millis(2));
    let cases = [
        Streaming {
            build: |s| Box::new(anthropic(s)),
            id: "claude-test",
            provider: "anthropic",
            reply: slow(anthropic_reply(anthropic_events(
                &["Let me ", "check."],
                &[
                    ("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
                    ("toolu_2", "get_weather", r#"{"city": "Rome"}"#),
                ],
            ))),
            deltas: ["Let me ", "check."],
            tool_calls: paris_and_rome(
                ["toolu_1", "toolu_2"],
                r#"{"city": "Paris"}"#,
                r#"{"city": "Rome"}"#,
            ),
            finish_reason: "tool_use",
            // input 25 + 5 read from the cache; output from message_delta.
            usage: (30, 42, 72, 5, 0),
        },
        Streaming {
            build: |s| Box::new(gemini(s)),
            id: "gemini-test",
            provider: "gemini",
            reply: slow(Reply::sse_data(gemini_chunks(
                &["Checking ", "both."],
                &[
                    ("get_weather", json!({"city": "Paris"})),
                    ("get_weather", json!({"city": "Rome"})),
                ],
            ))),
            deltas: ["Checking ", "both."],
            tool_calls: paris_and_rome(["call_0", "call_1"], PARIS, ROME),
            finish_reason: "STOP",
            usage: (20, 15, 35, 3, 6),
        },
        Streaming {
            build: |s| Box::new(ollama(s)),
            id: "llama-test",
            provider: "ollama",
            reply: slow(Reply::ndjson(ollama_lines(
                &["Let ", "me see."],
                &[
                    ("get_weather", json!({"city": "Paris"})),
                    ("get_weather", json!({"city": "Rome"})),
                ],
            ))),
            deltas: ["Let ", "me see."],
            tool_calls: paris_and_rome(["call_0", "call_1"], PARIS, ROME),
            finish_reason: "stop",
            usage: (17, 5, 22, 0, 0),
        },
        Streaming {
            build: |s| Box::new(openai_responses(s)),
            id: "gpt-test",
            provider: "openai-responses",
            reply: slow(Reply::sse_events(responses_events(
                &["On ", "it."],
                &[
                    ("call_a", "get_weather", PARIS),
                    ("call_b", "get_weather", ROME),
                ],
            ))),
            deltas: ["On ", "it."],
            tool_calls: paris_and_rome(["call_a", "call_b"], PARIS, ROME),
            finish_reason: "completed",
            usage: (30, 12, 42, 8, 4),
        },
    ];
    for case in cases {
        let server = ScriptedServer::start([case.reply]).await;
        let m = (case.build)(&server);
        assert_eq!((m.id(), m.provider()), (case.id, case.provider));
        let out = stream(&*m, hi()).await;
        let p = case.provider;
        assert!(out.error.is_none(), "{p}: {:?}", out.error);
        assert_eq!(out.deltas(), case.deltas, "{p}");
        let response = out.completed();
        assert_eq!(
            response.content.as_deref(),
            Some(case.deltas.concat().as_str()),
            "{p}"
        );
        assert_eq!(response.tool_calls, case.tool_calls, "{p}");
        assert_eq!(
            response.finish_reason.as_deref(),
            Some(case.finish_reason),
            "{p}"
        );
        let u = response.usage;
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.total_tokens,
                u.cached_input_tokens,
                u.reasoning_tokens
            ),
            case.usage,
            "{p}"
        );
    }
}

#[tokio::test]
async fn a_client_error_status_carries_the_providers_message_and_is_not_retried() {
    let cases: [(&str, Build, Reply, ModelError); 4] = [
        (
            "anthropic",
            |s| Box::new(anthropic(s)),
            Reply::json(
                401,
                json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            ),
            ModelError::Unauthorized {
                status: 401,
                message: "invalid x-api-key".into(),
            },
        ),
        (
            "gemini",
            |s| Box::new(gemini(s)),
            Reply::json(
                403,
                json!({"error": {"code": 403, "message": "API key not valid. Please pass a valid API key.", "status": "PERMISSION_DENIED"}}),
            ),
            ModelError::Unauthorized {
                status: 403,
                message: "API key not valid. Please pass a valid API key.".into(),
            },
        ),
        (
            // An unknown model.
            "ollama",
            |s| Box::new(ollama(s)),
            Reply::json(
                404,
                json!({"error": "model \"llama-test\" not found, try pulling it first"}),
            ),
            ModelError::BadRequest {
                status: 404,
                message: "model \"llama-test\" not found, try pulling it first".into(),
            },
        ),
        (
            "openai-responses",
            |s| Box::new(openai_responses(s)),
            Reply::json(
                401,
                json!({"error": {"message": "Invalid key", "code": "invalid_api_key"}}),
            ),
            ModelError::Unauthorized {
                status: 401,
                message: "Invalid key".into(),
            },
        ),
    ];
    for (provider, build, reply, expected) in cases {
        let server = ScriptedServer::start([reply]).await;
        let err = complete_hi(&*build(&server)).await.unwrap_err();
        assert_eq!(err, expected, "{provider}");
        assert_eq!(server.request_count(), 1, "{provider}");
    }
}

#[tokio::test]
async fn a_stream_ending_before_its_last_event_is_stream_dropped() {
    // Gemini's cleanly ended body without the final chunk (the one with finishReason).
    let mut gemini_without_finish = gemini_chunks(&["a", "b"], &[]);
    gemini_without_finish.pop();
    let responses = responses_events(&["a", "b", "c"], &[]);
    let n = responses.len();
    let responses_without_completed = Reply::sse_events(responses).truncate(n - 1);
    let cases: [(&str, Build, Reply, &[&str]); 5] = [
        (
            "anthropic, dropped before message_stop",
            |s| Box::new(anthropic(s)),
            anthropic_reply(anthropic_events(&["a", "b", "c"], &[])).abort_after(5),
            &["a", "b"],
        ),
        (
            "gemini, ended without finishReason",
            |s| Box::new(gemini(s)),
            Reply::sse_data(gemini_without_finish),
            &["a", "b"],
        ),
        (
            "gemini, broken connection",
            |s| Box::new(gemini(s)),
            Reply::sse_data(gemini_chunks(&["a", "b"], &[])).abort_after(1),
            &["a"],
        ),
        (
            "ollama, dropped before done",
            |s| Box::new(ollama(s)),
            Reply::ndjson(ollama_lines(&["a", "b", "c"], &[])).abort_after(2),
            &["a", "b"],
        ),
        (
            "openai-responses, ended before response.completed",
            |s| Box::new(openai_responses(s)),
            responses_without_completed,
            &["a", "b", "c"],
        ),
    ];
    for (case, build, reply, deltas) in cases {
        let server = ScriptedServer::start([reply]).await;
        let out = stream(&*build(&server), hi()).await;
        assert_eq!(out.deltas(), deltas, "{case}");
        assert_eq!(out.error, Some(ModelError::StreamDropped), "{case}");
    }
}

#[tokio::test]
async fn a_malformed_event_is_malformed_stream() {
    let cases: [(&str, Build, Reply, &[&str]); 4] = [
        (
            "anthropic",
            |s| Box::new(anthropic(s)),
            Reply::sse_events([(
                "message_start",
                "{\"type\": \"message_start\", \"message\": {",
            )]),
            &[],
        ),
        (
            "gemini",
            |s| Box::new(gemini(s)),
            Reply::sse_data(["{\"candidates\": [}"]),
            &[],
        ),
        (
            "ollama",
            |s| Box::new(ollama(s)),
            Reply::ndjson(ollama_lines(&["a"], &[]))
                .truncate(1)
                .chunk("{\"message\": oops}\n"),
            &["a"],
        ),
        (
            "openai-responses",
            |s| Box::new(openai_responses(s)),
            Reply::sse_events([("response.output_text.delta", "{\"type\": 3}")]),
            &[],
        ),
    ];
    for (provider, build, reply, deltas) in cases {
        let server = ScriptedServer::start([reply]).await;
        let out = stream(&*build(&server), hi()).await;
        assert_eq!(out.deltas(), deltas, "{provider}");
        assert!(
            matches!(out.error, Some(ModelError::MalformedStream(_))),
            "{provider}: {:?}",
            out.error
        );
    }
}
