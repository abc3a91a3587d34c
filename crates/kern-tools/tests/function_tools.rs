//! Tools from Rust functions: arguments, errors, panics, blocking threads, cancellation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kern_tools::{
    blocking_tool_fn, tool_fn, FunctionTool, NoArgs, Tool, ToolContext, ToolError, ToolOutput,
    ToolSet, Toolkit,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Deserialize, JsonSchema)]
struct WeatherArgs {
    /// The city, e.g. "Paris".
    city: String,
    /// How many days ahead (0 = today).
    #[serde(default)]
    days: u8,
}

fn weather() -> FunctionTool {
    tool_fn(
        "get_weather",
        "Get the weather for a city",
        |args: WeatherArgs, ctx: ToolContext| async move {
            Ok(format!(
                "{} in {} days: sunny (run {})",
                args.city, args.days, ctx.run_id
            ))
        },
    )
}

#[tokio::test]
async fn an_async_tool_is_called_with_typed_arguments() {
    let tool = weather();
    let out = tool
        .call(
            json!({"city": "Paris", "days": 2}),
            ToolContext::new("run-1", "session-1"),
        )
        .await
        .unwrap();
    assert_eq!(out.as_str(), "Paris in 2 days: sunny (run run-1)");

    let spec = tool.spec();
    assert_eq!(spec.name, "get_weather");
    assert_eq!(spec.description, "Get the weather for a city");
    assert_eq!(spec.parameters["type"], "object");
    assert_eq!(spec.parameters["required"], json!(["city"]));
    assert_eq!(
        spec.parameters["properties"]["city"]["description"],
        "The city, e.g. \"Paris\"."
    );
    assert_eq!(spec.parameters["properties"]["days"]["default"], 0);
    // Rust-specific formats (`uint8`) are removed, the range stays.
    assert!(spec.parameters["properties"]["days"]
        .get("format")
        .is_none());
    assert_eq!(spec.parameters["properties"]["days"]["maximum"], 255);
    assert!(spec.parameters.get("$schema").is_none());
    assert!(spec.parameters.get("title").is_none());
}

#[tokio::test]
async fn arguments_given_as_a_json_string_or_null_are_accepted() {
    let out = weather()
        .call(json!("{\"city\": \"Oslo\"}"), ToolContext::default())
        .await
        .unwrap();
    assert!(out.as_str().starts_with("Oslo in 0 days"));

    let no_args = tool_fn(
        "ping",
        "Answers pong",
        |_: NoArgs, _ctx: ToolContext| async move { Ok::<_, ToolError>("pong") },
    );
    assert_eq!(
        no_args.parameters(),
        json!({"type": "object", "properties": {}})
    );
    for args in [json!(null), json!({}), json!(""), json!({"unexpected": 1})] {
        let out = no_args.call(args, ToolContext::default()).await.unwrap();
        assert_eq!(out.as_str(), "pong");
    }
}

#[tokio::test]
async fn invalid_arguments_say_which_field_and_what_is_wrong() {
    let tool = weather();

    let err = tool
        .call(json!({"city": 3}), ToolContext::default())
        .await
        .unwrap_err();
    match &err {
        ToolError::InvalidArguments {
            tool,
            path,
            message,
            source,
        } => {
            assert_eq!(tool, "get_weather");
            assert_eq!(path.as_deref(), Some("city"));
            assert!(message.contains("invalid type: integer `3`, expected a string"));
            assert!(source.is_some());
        }
        other => panic!("expected InvalidArguments, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("invalid arguments for tool `get_weather` at `city`: invalid type"),
        "{text}"
    );
    assert!(text.contains("Call `get_weather` again"), "{text}");

    let err = tool
        .call(json!({"town": "Paris"}), ToolContext::default())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ToolError::InvalidArguments { path: None, .. }
    ));
    assert!(err.to_string().contains("missing field `city`"), "{err}");

    let err = tool
        .call(
            json!({"city": "Paris", "days": 300}),
            ToolContext::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidArguments { path: Some(p), .. } if p == "days"),
        "{err:?}"
    );

    let err = tool
        .call(json!([1, 2]), ToolContext::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err:?}");

    let err = tool
        .call(json!("{not json"), ToolContext::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[tokio::test]
async fn the_function_is_not_called_with_invalid_arguments() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let tool = tool_fn(
        "count",
        "Counts",
        move |_: WeatherArgs, _ctx: ToolContext| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ToolError>("") }
        },
    );
    let _ = tool.call(json!({}), ToolContext::default()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_panicking_tool_fails_instead_of_unwinding() {
    let in_future = tool_fn(
        "boom",
        "Panics while running",
        |_: NoArgs, _ctx: ToolContext| async move {
            tokio::task::yield_now().await;
            if true {
                panic!("boom at run time");
            }
            Ok::<_, ToolError>("never")
        },
    );
    let before_future = tool_fn(
        "boom2",
        "Panics before returning its future",
        |_: NoArgs, _ctx: ToolContext| -> std::future::Ready<Result<String, ToolError>> {
            panic!("boom {}", 2)
        },
    );

    let blocking = blocking_tool_fn(
        "boom3",
        "Panics on a blocking thread",
        |_: NoArgs, _ctx: ToolContext| -> Result<String, ToolError> { panic!("blocking boom") },
    );
    for (tool, message) in [
        (in_future, "tool panicked: boom at run time"),
        (before_future, "tool panicked: boom 2"),
        (blocking, "tool panicked: blocking boom"),
    ] {
        let err = tool
            .call(json!({}), ToolContext::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m == message),
            "{}: {err:?}",
            tool.name()
        );
    }
}

#[tokio::test]
async fn tool_errors_are_returned_as_they_are() {
    let tool = tool_fn(
        "fails",
        "Always fails",
        |_: NoArgs, _ctx: ToolContext| async move {
            Err::<String, _>(ToolError::failed("the database is down"))
        },
    );
    let err = tool
        .call(json!({}), ToolContext::default())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "tool failed: the database is down");
}

/// A blocking tool runs off the runtime's thread: on a current-thread runtime, other tasks
/// keep running while it blocks.
#[test]
fn a_blocking_tool_does_not_block_the_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let runtime_thread = std::thread::current().id();
        let tool = blocking_tool_fn(
            "slow_sum",
            "Adds numbers slowly",
            move |args: SumArgs, _ctx: ToolContext| {
                assert_ne!(
                    std::thread::current().id(),
                    runtime_thread,
                    "ran on the runtime's thread"
                );
                // Blocking threads still see the runtime (so they can use Handle::current()).
                assert!(tokio::runtime::Handle::try_current().is_ok());
                std::thread::sleep(Duration::from_millis(300));
                Ok(args.numbers.iter().sum::<i64>().to_string())
            },
        );
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let out = tool
            .call(json!({"numbers": [1, 2, 39]}), ToolContext::default())
            .await
            .unwrap();
        ticker.abort();
        assert_eq!(out.as_str(), "42");
        let ticks = ticks.load(Ordering::SeqCst);
        assert!(
            ticks >= 10,
            "the runtime was blocked: {ticks} ticks in 300 ms"
        );
    });
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SumArgs {
    numbers: Vec<i64>,
}

#[tokio::test]
async fn cancelling_the_context_stops_a_long_async_tool() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&finished);
    let tool = tool_fn(
        "long",
        "Takes a minute",
        move |_: NoArgs, _ctx: ToolContext| {
            let flag = Arc::clone(&flag);
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                flag.store(true, Ordering::SeqCst);
                Ok::<_, ToolError>("done")
            }
        },
    );
    let cancel = CancellationToken::new();
    let ctx = ToolContext::new("run", "session").with_cancel(cancel.clone());
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    let err = tool.call(json!({}), ctx).await.unwrap_err();
    canceller.await.unwrap();
    assert!(matches!(err, ToolError::Cancelled), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!finished.load(Ordering::SeqCst));
    assert_eq!(err.to_string(), "the tool call was cancelled");

    // Already cancelled: the tool does not run at all.
    let cancelled = ToolContext::default();
    cancelled.cancel.cancel();
    let err = tool.call(json!({}), cancelled).await.unwrap_err();
    assert!(matches!(err, ToolError::Cancelled));
}

#[tokio::test]
async fn a_cancelled_blocking_tool_returns_at_once_and_sees_the_flag() {
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&saw_cancel);
    let tool = blocking_tool_fn(
        "polls",
        "Works until cancelled",
        move |_: NoArgs, ctx: ToolContext| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if ctx.is_cancelled() {
                    flag.store(true, Ordering::SeqCst);
                    return Err(ToolError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok("finished")
        },
    );
    let cancel = CancellationToken::new();
    let ctx = ToolContext::default().with_cancel(cancel.clone());
    let call = tokio::spawn(async move { tool.call(json!({}), ctx).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    cancel.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert!(matches!(err, ToolError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(1));
    // The thread notices the flag soon after.
    kern_testkit::wait_until(
        Duration::from_secs(5),
        "the blocking function to see the flag",
        || async { saw_cancel.load(Ordering::SeqCst) },
    )
    .await;
}

#[tokio::test]
async fn a_time_limit_turns_a_slow_call_into_a_timeout() {
    let tool = tool_fn("slow", "Slow", |_: NoArgs, _ctx: ToolContext| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, ToolError>("late")
    })
    .with_timeout(Duration::from_millis(50));
    let err = tool
        .call(json!({}), ToolContext::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Timeout { after, .. } if *after == Duration::from_millis(50)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tool `slow` timed out after 50ms; try again later"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn tools_from_raw_json_and_tool_sets() {
    let echo = FunctionTool::from_json_fn(
        "echo",
        "Echoes its arguments",
        json!({
            "type": "object",
            "properties": {"value": {"$ref": "#/$defs/Value"}},
            "$defs": {"Value": {"type": "string"}},
            "$schema": "https://json-schema.org/draft/2020-12/schema"
        }),
        |args: serde_json::Value, _ctx: ToolContext| async move {
            Ok::<_, ToolError>(ToolOutput::from(args))
        },
    );
    assert_eq!(
        echo.parameters(),
        json!({"type": "object", "properties": {"value": {"type": "string"}}})
    );
    let out = echo
        .call(json!({"value": "hi"}), ToolContext::default())
        .await
        .unwrap();
    assert_eq!(out.as_str(), r#"{"value":"hi"}"#);

    let set = ToolSet::new("mine")
        .with(echo)
        .with(weather().with_name("weather").with_description("Weather"));
    assert_eq!(set.name(), "mine");
    let specs = set.specs();
    assert_eq!(
        specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["echo", "weather"]
    );
    assert_eq!(specs[1].description, "Weather");
    // Shared tools are tools too.
    let shared: Arc<dyn Tool> = set.get("weather").unwrap().clone();
    let out = shared
        .call(json!({"city": "Rome"}), ToolContext::default())
        .await
        .unwrap();
    assert!(out.as_str().starts_with("Rome"));
    assert!(set.get("missing").is_none());
    assert_eq!(set.tools().len(), 2);
}

#[test]
#[should_panic(expected = "must be a JSON object")]
fn arguments_that_are_not_an_object_are_refused_when_the_tool_is_made() {
    let _ = tool_fn(
        "bad",
        "Takes a bare string",
        |_: String, _ctx: ToolContext| async move { Ok::<_, ToolError>("") },
    );
}

#[test]
fn tool_outputs() {
    assert_eq!(ToolOutput::from("a").as_str(), "a");
    assert_eq!(ToolOutput::from(json!("text")).as_str(), "text");
    assert_eq!(ToolOutput::from(json!({"a": 1})).as_str(), r#"{"a":1}"#);
    assert_eq!(
        ToolOutput::json(&vec![1, 2]).unwrap().into_string(),
        "[1,2]"
    );
    assert_eq!(
        ToolOutput::json_pretty(&json!({"a": 1})).unwrap().as_str(),
        "{\n  \"a\": 1\n}"
    );
    assert_eq!(String::from(ToolOutput::text("x")), "x");
}
