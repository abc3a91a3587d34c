//! Human in the loop: an agent's run pauses when its model calls a tool that needs a person
//! (confirmation, input, external execution), holds no executor while paused, and goes on
//! under the same `run_id` when continued — from any engine sharing the database. A second
//! continue is refused; a paused run can be cancelled; a pause can expire. A team leader's own
//! tool pauses its team the same way.

use kern_agent::Agent;
use kern_core::engine::Engine;
use kern_core::EngineError;
use kern_models::testing::{FakeOpenAi, Reply, Scripted};
use kern_store::RunStatus;
use kern_testkit::{
    assert_gapless, both_backends, engine, engine_on, finished, names, stored, wait_for,
    wait_until, Backend, TestDb,
};
use kern_tools::{tool_fn, ToolContext, ToolError, UserInputField};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, schemars::JsonSchema)]
struct Email {
    /// Who to write to.
    to: String,
    /// What to say.
    body: String,
}

/// A model that calls `send_email` once, then answers with what the tool said.
async fn fake() -> FakeOpenAi {
    FakeOpenAi::with_handler(|req: &Value, _| {
        let messages = req["messages"].as_array().cloned().unwrap_or_default();
        match messages.iter().rev().find(|m| m["role"] == "tool") {
            None => Scripted::new()
                .tool_call(
                    "call_1",
                    "send_email",
                    r#"{"to":"model@x.com","body":"hi"}"#,
                )
                .into(),
            Some(tool) => Reply::from(Scripted::text(format!(
                "done: {}",
                tool["content"].as_str().unwrap_or("")
            ))),
        }
    })
    .await
}

fn send_email(sent: Arc<std::sync::Mutex<Vec<String>>>) -> kern_tools::FunctionTool {
    tool_fn(
        "send_email",
        "Send an email",
        move |e: Email, _: ToolContext| {
            let sent = sent.clone();
            async move {
                sent.lock().unwrap().push(e.to.clone());
                assert!(!e.body.is_empty());
                Ok::<_, ToolError>(format!("sent to {}", e.to))
            }
        },
    )
}

fn agent(engine: &Engine, model: &FakeOpenAi, tool: kern_tools::FunctionTool) -> Agent {
    Agent::builder("mailer")
        .model(model.model("gpt-fake"))
        .tool(tool)
        .db(engine)
        .build()
        .unwrap()
}

async fn confirmation_pauses_then_continues_elsewhere(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let model = fake().await;
    let sent = Arc::default();
    let first = engine(&db);
    let a = agent(
        &first,
        &model,
        send_email(Arc::clone(&sent)).requires_confirmation(),
    );
    let run = a.run_background("email them").await.unwrap();
    let paused = run.wait().await.unwrap();
    assert_eq!(paused.status, RunStatus::Paused, "{:?}", paused.error);
    let output = paused.output.clone().unwrap();
    assert_eq!(output["tools"][0]["tool_name"], "send_email");
    assert_eq!(output["tools"][0]["requires_confirmation"], true);
    assert_eq!(output["requirements"][0]["id"], "call_1");
    assert!(
        sent.lock().unwrap().is_empty(),
        "nothing runs before the person says so"
    );
    // A paused run holds no executor slot (its driver lets go right after the write).
    wait_until(Duration::from_secs(10), "the driver to let go", || {
        let first = first.clone();
        async move { first.local_run_count() == 0 }
    })
    .await;
    let log = stored(&first, run.run_id).await;
    assert_eq!(log.last().unwrap().event_type, "RunPaused");

    // Another engine (another process or replica) continues it and runs it.
    let second = engine_on(db.reopen().await);
    let _a2 = agent(
        &second,
        &model,
        send_email(Arc::clone(&sent)).requires_confirmation(),
    );
    first.shutdown(Duration::ZERO).await;
    let decisions =
        json!([{"tool_call_id": "call_1", "tool_name": "send_email", "confirmed": true}]);
    let queued = second
        .continue_run(run.run_id, decisions.clone())
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Pending);
    assert!(matches!(
        second.continue_run(run.run_id, decisions).await,
        Err(EngineError::NotPaused { .. })
    ));
    let done = finished(&second, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "done: sent to model@x.com");
    assert_eq!(*sent.lock().unwrap(), ["model@x.com"]);
    let log = stored(&second, run.run_id).await;
    assert_gapless(&log, 0);
    let names = names(&log);
    let paused_at = names.iter().position(|n| n == "RunPaused").unwrap();
    assert_eq!(names[paused_at + 1], "RunContinued");
    assert!(!names.contains(&"RunRestarted".to_owned()), "{names:?}");
    assert_eq!(names.last().unwrap(), "RunCompleted");
}

async fn rejection_answers_the_model_without_running(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let model = fake().await;
    let sent = Arc::default();
    let e = engine(&db);
    let a = agent(
        &e,
        &model,
        send_email(Arc::clone(&sent)).requires_confirmation(),
    );
    let run = a.run_background("email them").await.unwrap();
    assert_eq!(run.wait().await.unwrap().status, RunStatus::Paused);
    let decisions =
        json!([{"tool_call_id": "call_1", "confirmed": false, "confirmation_note": "not now"}]);
    e.continue_run(run.run_id, decisions).await.unwrap();
    let done = finished(&e, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.content().unwrap(), "done: not now");
    assert!(sent.lock().unwrap().is_empty());
}

async fn user_input_and_external_execution(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let model = fake().await;
    let sent = Arc::default();
    let e = engine(&db);
    let field = UserInputField {
        name: "to".into(),
        field_type: "str".into(),
        description: Some("The recipient".into()),
        value: None,
    };
    let a = agent(
        &e,
        &model,
        send_email(Arc::clone(&sent)).requires_user_input(vec![field]),
    );
    let run = a.run_background("email them").await.unwrap();
    let paused = run.wait().await.unwrap();
    assert_eq!(
        paused.output.as_ref().unwrap()["tools"][0]["user_input_schema"][0]["name"],
        "to"
    );
    // Agno's requirement shape works as the decision too.
    let decisions = json!([{
        "tool_execution": {"tool_call_id": "call_1", "tool_name": "send_email"},
        "user_input_schema": [{"name": "to", "field_type": "str", "value": "person@x.com"}]
    }]);
    e.continue_run(run.run_id, decisions).await.unwrap();
    assert_eq!(
        finished(&e, run.run_id).await.content().unwrap(),
        "done: sent to person@x.com"
    );
    assert_eq!(*sent.lock().unwrap(), ["person@x.com"]);

    // External execution: the caller runs it and sends the result.
    let ext = Agent::builder("external")
        .model(model.model("gpt-fake"))
        .tool(send_email(Arc::clone(&sent)).external_execution())
        .db(&e)
        .build()
        .unwrap();
    let run = ext.run_background("email them").await.unwrap();
    let paused = run.wait().await.unwrap();
    assert_eq!(
        paused.output.as_ref().unwrap()["tools"][0]["external_execution_required"],
        true
    );
    // Continuing without the result pauses it again.
    e.continue_run(run.run_id, json!([{"tool_call_id": "call_1"}]))
        .await
        .unwrap();
    assert_eq!(finished(&e, run.run_id).await.status, RunStatus::Paused);
    e.continue_run(
        run.run_id,
        json!([{"tool_call_id": "call_1", "result": "queued by the caller"}]),
    )
    .await
    .unwrap();
    assert_eq!(
        finished(&e, run.run_id).await.content().unwrap(),
        "done: queued by the caller"
    );
    assert_eq!(
        sent.lock().unwrap().len(),
        1,
        "the external call never ran here"
    );
}

async fn paused_runs_can_be_cancelled_and_expire(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let model = fake().await;
    let e = engine(&db);
    let a = agent(
        &e,
        &model,
        send_email(Arc::default()).requires_confirmation(),
    );
    let run = a.run_background("email them").await.unwrap();
    assert_eq!(run.wait().await.unwrap().status, RunStatus::Paused);
    assert_eq!(
        e.cancel_run(run.run_id).await.unwrap(),
        kern_core::engine::CancelOutcome::Cancelled
    );
    let cancelled = finished(&e, run.run_id).await;
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("cancelled while paused"));
    assert!(matches!(
        e.continue_run(run.run_id, json!([])).await,
        Err(EngineError::NotPaused {
            status: RunStatus::Cancelled,
            ..
        })
    ));

    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let expiring = Agent::builder("expiring")
        .model(model.model("gpt-fake"))
        .tool(
            tool_fn("send_email", "Send", move |_: Email, _: ToolContext| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, ToolError>("sent") }
            })
            .requires_confirmation(),
        )
        .pause_expires_after(Duration::from_millis(200))
        .db(&e)
        .build()
        .unwrap();
    let run = expiring.run_background("email them").await.unwrap();
    let paused = run.wait().await.unwrap();
    assert_eq!(paused.status, RunStatus::Paused);
    let expired = wait_for(Duration::from_secs(30), "the pause to expire", || async {
        let r = e.get_run(run.run_id).await.unwrap().unwrap();
        if r.status.is_terminal() {
            Ok(r)
        } else {
            Err(r.status)
        }
    })
    .await;
    assert_eq!(expired.status, RunStatus::Failed);
    assert!(expired
        .error
        .unwrap()
        .contains("not continued before its pause expired"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A team leader's own tool that needs confirmation pauses the team's run; continued with
/// Agno's team shape (`RunRequirement`s wrapping the call, as `continue_team_run` sends them),
/// the tool runs and the leader answers.
async fn a_team_leaders_tool_pauses_the_team(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let model = fake().await;
    let sent = Arc::default();
    let e = engine(&db);
    let writer = Agent::builder("writer")
        .model(model.model("gpt-fake"))
        .db(&e)
        .build()
        .unwrap();
    let team = kern_agent::Team::builder("desk")
        .model(model.model("gpt-fake"))
        .member(&writer)
        .tool(send_email(Arc::clone(&sent)).requires_confirmation())
        .db(&e)
        .build()
        .unwrap();
    let run = team.run_background("email them").await.unwrap();
    let paused = run.wait().await.unwrap();
    assert_eq!(paused.status, RunStatus::Paused, "{:?}", paused.error);
    let output = paused.output.clone().unwrap();
    assert_eq!(output["tools"][0]["tool_name"], "send_email");
    let requirement = output["requirements"][0].clone();
    assert_eq!(requirement["tool_execution"]["tool_call_id"], "call_1");
    assert!(sent.lock().unwrap().is_empty());
    assert_eq!(
        stored(&e, run.run_id).await.last().unwrap().event_type,
        "RunPaused"
    );

    let mut confirmed = requirement;
    confirmed["confirmation"] = json!(true);
    e.continue_run(run.run_id, json!([confirmed]))
        .await
        .unwrap();
    let done = finished(&e, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "done: sent to model@x.com");
    assert_eq!(*sent.lock().unwrap(), ["model@x.com"]);
    let log = stored(&e, run.run_id).await;
    assert_gapless(&log, 0);
    assert_eq!(names(&log).last().unwrap(), "TeamRunCompleted");

    // A tool named like the delegation tool is refused when the team is built.
    let clash = kern_agent::Team::builder("clash")
        .model(model.model("gpt-fake"))
        .member(&writer)
        .tool(tool_fn(
            "delegate_task_to_member",
            "mine",
            |_: Email, _: ToolContext| async { Ok::<_, ToolError>("x".to_owned()) },
        ))
        .build();
    assert!(matches!(clash, Err(EngineError::InvalidDefinition(m)) if m.contains("delegation")));
}

both_backends!(
    confirmation_pauses_then_continues_elsewhere,
    rejection_answers_the_model_without_running,
    user_input_and_external_execution,
    paused_runs_can_be_cancelled_and_expire,
    a_team_leaders_tool_pauses_the_team,
);
