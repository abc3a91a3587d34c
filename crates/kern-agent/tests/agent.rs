//! Agents against a fake OpenAI-compatible server speaking the real SSE wire format.

use futures::StreamExt;
use kern_agent::Agent;
use kern_core::engine::RunRequest;
use kern_models::testing::Reply;
use kern_models::testing::{FakeOpenAi, Scripted};
use kern_store::RunStatus;
use kern_testkit::{
    assert_gapless, both_backends, engine, finished, json, names, stored, Backend, TestDb,
};
use kern_tools::{tool_fn, ToolContext, ToolError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, schemars::JsonSchema)]
struct City {
    /// The city.
    city: String,
}

fn weather_tool(calls: Arc<AtomicU32>) -> impl kern_tools::Tool {
    tool_fn(
        "get_weather",
        "Current weather of a city",
        move |args: City, _ctx: ToolContext| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if args.city == "Atlantis" {
                    return Err(ToolError::failed("no such city"));
                }
                Ok::<_, ToolError>(format!("sunny in {}", args.city))
            }
        },
    )
}

async fn streams_tokens_and_records_metrics(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let fake = FakeOpenAi::start([Scripted::tokens(5, Duration::from_millis(2))
        .usage(12, 5)
        .into()])
    .await;
    let agent = Agent::builder("writer")
        .name("Writer")
        .instruction("Be brief.")
        .model(Arc::new(fake.model("gpt-fake")))
        .db(&engine)
        .build()
        .unwrap();
    let mut stream = agent.run_stream("Say hi").await.unwrap();
    let mut deltas = String::new();
    let mut kinds = Vec::new();
    while let Some(e) = stream.next().await {
        let e = e.unwrap();
        if let kern_core::event::EventKind::RunContent { content, .. } = &e.kind {
            deltas.push_str(content);
        }
        kinds.push(e.kind.name().to_string());
    }
    assert_eq!(deltas, "tok0 tok1 tok2 tok3 tok4");
    assert_eq!(kinds.first().unwrap(), "RunStarted");
    assert_eq!(kinds.iter().filter(|k| *k == "RunContent").count(), 5);
    assert_eq!(
        &kinds[kinds.len() - 3..],
        [
            "ModelRequestCompleted",
            "RunContentCompleted",
            "RunCompleted"
        ]
    );
    let runs = agent.list_runs(None, None).await.unwrap();
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.content().unwrap(), "tok0 tok1 tok2 tok3 tok4");
    let metrics = &run.output.as_ref().unwrap()["metrics"];
    assert_eq!(metrics["input_tokens"], 12);
    assert_eq!(metrics["output_tokens"], 5);
    assert!(metrics["time_to_first_token"].as_f64().unwrap() > 0.0);
    let events = stored(&engine, run.run_id).await;
    assert_gapless(&events, 0);
    let started = json(&events[0]);
    assert_eq!(started["model"], "gpt-fake");
    assert_eq!(started["agent_id"], "writer");
    // The request carried the instructions and the input.
    let req = &fake.requests()[0];
    assert_eq!(req["messages"][0]["role"], "system");
    assert!(req["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("Be brief."));
    assert_eq!(req["messages"][1]["content"], "Say hi");
}

async fn tool_rounds_feed_results_back(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let calls = Arc::new(AtomicU32::new(0));
    let fake = FakeOpenAi::start([
        Scripted::new()
            .tool_call("call_a", "get_weather", r#"{"city":"Paris"}"#)
            .tool_call("call_b", "get_weather", r#"{"city":"Atlantis"}"#)
            .into(),
        Scripted::text("Paris is sunny; Atlantis is unknown.").into(),
    ])
    .await;
    let agent = Agent::builder("weather")
        .model(Arc::new(fake.model("gpt-fake")))
        .tool(weather_tool(calls.clone()))
        .db(&engine)
        .build()
        .unwrap();
    let run = agent.run_background("weather?").await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(
        done.content().unwrap(),
        "Paris is sunny; Atlantis is unknown."
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["tools"][0]["function"]["name"], "get_weather");
    let messages = requests[1]["messages"].as_array().unwrap();
    let tool_msgs: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_msgs.len(), 2);
    assert_eq!(tool_msgs[0]["tool_call_id"], "call_a");
    assert_eq!(tool_msgs[0]["content"], "sunny in Paris");
    assert!(tool_msgs[1]["content"]
        .as_str()
        .unwrap()
        .contains("no such city"));
    let events = stored(&engine, run.run_id).await;
    assert_gapless(&events, 0);
    let n = names(&events);
    assert_eq!(n.iter().filter(|e| *e == "ToolCallStarted").count(), 2);
    assert_eq!(n.iter().filter(|e| *e == "ToolCallCompleted").count(), 2);
    assert_eq!(
        n.iter().filter(|e| *e == "ModelRequestCompleted").count(),
        2
    );
    let failed = events
        .iter()
        .filter(|e| e.event_type == "ToolCallCompleted")
        .map(json)
        .find(|e| e["tool"]["tool_args"]["city"] == "Atlantis")
        .unwrap();
    assert_eq!(failed["tool"]["tool_call_error"], true);
}

async fn tool_rounds_are_capped(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    // The model would call tools forever; after 2 rounds it is asked without tools.
    let fake = FakeOpenAi::with_handler(|req, _| {
        if req.get("tools").is_some() {
            Scripted::new()
                .tool_call("c", "get_weather", r#"{"city":"Oslo"}"#)
                .into()
        } else {
            Scripted::text("giving up on tools").into()
        }
    })
    .await;
    let agent = Agent::builder("loopy")
        .model(Arc::new(fake.model("gpt-fake")))
        .tool(weather_tool(Arc::new(AtomicU32::new(0))))
        .max_tool_rounds(2)
        .db(&engine)
        .build()
        .unwrap();
    let run = agent.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.content().unwrap(), "giving up on tools");
    assert_eq!(fake.requests().len(), 3);
}

async fn structured_output_is_validated(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let schema = json!({
        "type": "object",
        "properties": {"topic": {"type": "string"}, "posts": {"type": "integer"}},
        "required": ["topic", "posts"],
        "additionalProperties": false
    });
    let fake = FakeOpenAi::start([
        Scripted::text(r#"{"topic":"AI","posts":3}"#).into(),
        Scripted::text(r#"{"topic":"AI"}"#).into(),
    ])
    .await;
    let agent = Agent::builder("planner")
        .model(Arc::new(fake.model("gpt-fake")))
        .output_schema(schema)
        .db(&engine)
        .build()
        .unwrap();
    let good = agent.run("plan").await.unwrap();
    assert_eq!(good.status, RunStatus::Completed);
    assert_eq!(good.content().unwrap(), &json!({"topic": "AI", "posts": 3}));
    assert_eq!(good.output.as_ref().unwrap()["content_type"], "json");
    assert_eq!(fake.requests()[0]["response_format"]["type"], "json_schema");
    let bad = agent.run("plan").await.unwrap();
    assert_eq!(bad.status, RunStatus::Failed);
    assert!(bad
        .error
        .unwrap()
        .contains("missing required property \"posts\""));
}

async fn session_history_is_in_the_context(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let fake = FakeOpenAi::start([
        Scripted::text("first answer").into(),
        Scripted::text("second answer").into(),
    ])
    .await;
    let agent = Agent::builder("chat")
        .model(Arc::new(fake.model("gpt-fake")))
        .history_runs(3)
        .db(&engine)
        .build()
        .unwrap();
    agent
        .run(RunRequest::new("first question").session_id("s"))
        .await
        .unwrap();
    agent
        .run(RunRequest::new("second question").session_id("s"))
        .await
        .unwrap();
    let messages = fake.requests()[1]["messages"].clone();
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["first question", "first answer", "second question"]);
}

async fn provider_errors_fail_the_run_with_their_message(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let fake = FakeOpenAi::start([Reply::json(401, json!({"error": {"message": "Incorrect API key provided: sk-bad", "type": "invalid_request_error"}}))]).await;
    let agent = Agent::builder("denied")
        .model(Arc::new(fake.model("gpt-fake")))
        .db(&engine)
        .build()
        .unwrap();
    let run = agent.run_background("x").await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert!(
        done.error
            .as_deref()
            .unwrap()
            .contains("Incorrect API key provided"),
        "{:?}",
        done.error
    );
    assert_eq!(
        stored(&engine, run.run_id).await.last().unwrap().event_type,
        "RunError"
    );
}

async fn cancel_during_a_streaming_model_call(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let fake = FakeOpenAi::start([Scripted::tokens(1000, Duration::from_millis(20)).into()]).await;
    let agent = Agent::builder("slow")
        .model(Arc::new(fake.model("gpt-fake")))
        .db(&engine)
        .build()
        .unwrap();
    let mut events = agent.run_background_stream("x").await.unwrap();
    let run = events.record().clone();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(e.kind, kern_core::event::EventKind::RunContent { .. }) {
            break;
        }
    }
    let t = std::time::Instant::now();
    engine.cancel_run(run.run_id).await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(t.elapsed() < Duration::from_secs(5));
    let log = stored(&engine, run.run_id).await;
    assert_gapless(&log, 0);
    assert_eq!(log.last().unwrap().event_type, "RunCancelled");
    assert!(names(&log).iter().filter(|n| *n == "RunContent").count() < 1000);
}

both_backends!(
    streams_tokens_and_records_metrics,
    tool_rounds_feed_results_back,
    tool_rounds_are_capped,
    structured_output_is_validated,
    session_history_is_in_the_context,
    provider_errors_fail_the_run_with_their_message,
    cancel_during_a_streaming_model_call,
);

#[tokio::test]
async fn an_agent_needs_a_model() {
    assert!(matches!(
        Agent::builder("x").build(),
        Err(kern_core::EngineError::InvalidDefinition(_))
    ));
}
