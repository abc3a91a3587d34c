//! The four execution modes, polling, and the no-database rules.

use kern_core::event::EventKind;

use futures::StreamExt;
use kern_core::engine::RunRequest;
use kern_core::store::RunStatus;
use kern_core::workflow::{Step, StepOutput, Workflow};
use kern_core::EngineError;
use kern_testkit::{
    assert_gapless, both_backends, engine, finished, json, names, stored, wait_for, Backend, TestDb,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A step that waits until `gate` is notified, then outputs `text`: it holds its run where a
/// test can look at it.
fn held(name: &str, gate: &Arc<Notify>, text: &'static str) -> Step {
    let gate = gate.clone();
    Step::new(name, move |_| {
        let gate = gate.clone();
        async move {
            gate.notified().await;
            Ok(StepOutput::text(text))
        }
    })
}

fn three_steps(id: &str) -> kern_core::workflow::WorkflowBuilder {
    Workflow::builder(id)
        .name("Three Steps")
        .step(Step::new("upper", |i| async move {
            Ok(StepOutput::text(i.input_str().to_uppercase()))
        }))
        .step(Step::blocking("exclaim", |i| {
            Ok(StepOutput::text(format!("{}!", i.previous_content_str())))
        }))
        .step(Step::new("wrap", |i| async move {
            Ok(StepOutput::json(
                serde_json::json!({ "result": i.previous_content_str() }),
            ))
        }))
}

async fn foreground_blocking_returns_the_finished_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = three_steps("wf").db(&engine).build().unwrap();
    let run = wf
        .run(RunRequest::new("hi").session_id("s1"))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.session_id, "s1");
    assert_eq!(run.content().unwrap()["result"], "HI!");
    let output = run.output.as_ref().unwrap();
    assert_eq!(output["content_type"], "json");
    assert_eq!(output["step_results"].as_array().unwrap().len(), 3);
    assert_eq!(output["step_results"][1]["step_name"], "exclaim");
    assert_eq!(output["step_results"][1]["content"], "HI!");
    let steps = &output["metrics"]["steps"];
    assert_eq!(steps["exclaim"]["executor_type"], "function");
    assert!(steps["wrap"]["metrics"]["duration"].as_f64().is_some());
    let events = stored(&engine, run.run_id).await;
    assert_gapless(&events, 0);
    assert_eq!(
        names(&events),
        [
            "WorkflowStarted",
            "StepStarted",
            "StepCompleted",
            "StepStarted",
            "StepCompleted",
            "StepStarted",
            "StepCompleted",
            "WorkflowCompleted"
        ]
    );
    let last = json(events.last().unwrap());
    assert_eq!(last["workflow_id"], "wf");
    assert_eq!(last["workflow_name"], "Three Steps");
    assert_eq!(last["session_id"], "s1");
    assert_eq!(last["content"]["result"], "HI!");
    assert_eq!(run.event_count, events.len() as u64);
}

async fn foreground_stream_yields_every_event(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = three_steps("wf").db(&engine).build().unwrap();
    let stream = wf.run_stream("abc").await.unwrap();
    let run_id = stream.run_id();
    let events: Vec<_> = stream.map(|e| e.unwrap()).collect().await;
    assert_eq!(events.len(), 8);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event_index, i as u64);
        assert_eq!(e.run_id, run_id);
    }
    assert!(events.last().unwrap().is_terminal());
    assert_eq!(
        engine.get_run(run_id).await.unwrap().unwrap().status,
        RunStatus::Completed
    );
}

async fn background_returns_pending_at_once_and_polls_to_completion(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let gate = Arc::new(Notify::new());
    let wf = Workflow::builder("gated")
        .step(held("wait", &gate, "released"))
        .db(&engine)
        .build()
        .unwrap();
    let started = wf.run_background("x").await.unwrap().into_record();
    assert_eq!(started.status, RunStatus::Pending);
    assert_eq!(started.component_id, "gated");
    assert!(!started.session_id.is_empty());
    assert!(!started.has_completed());
    // The run is stuck in its step until released: polling sees it running, not done.
    kern_testkit::wait_until(Duration::from_secs(10), "run to start", || {
        let wf = wf.clone();
        async move {
            wf.get_run(started.run_id).await.unwrap().unwrap().status == RunStatus::Running
        }
    })
    .await;
    gate.notify_one();
    let done = wait_for(Duration::from_secs(10), "the run to complete", || async {
        let r = wf
            .get_run(started.run_id)
            .await
            .unwrap()
            .expect("run exists");
        if r.has_completed() {
            Ok(r)
        } else {
            Err(r.status)
        }
    })
    .await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.content().unwrap(), "released");
    let listed = wf
        .list_runs(Some(&started.session_id), Some(RunStatus::Completed))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].run_id, started.run_id);
}

async fn background_stream_survives_its_subscriber(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let gate = Arc::new(Notify::new());
    let wf = Workflow::builder("bgs")
        .step(Step::new("first", |_| async { Ok(StepOutput::text("1")) }))
        .step(held("wait", &gate, "2"))
        .db(&engine)
        .build()
        .unwrap();
    let mut stream = wf.run_background_stream("x").await.unwrap();
    let record = stream.record().clone();
    assert_eq!(record.status, RunStatus::Pending);
    // Read until the second step has started (typed events), then walk away.
    loop {
        let e = stream.next().await.unwrap().unwrap();
        if matches!(&e.kind, EventKind::StepStarted { step_name, .. } if step_name == "wait") {
            break;
        }
    }
    drop(stream);
    gate.notify_one();
    let done = finished(&engine, record.run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.content().unwrap(), "2");
}

async fn dropping_a_foreground_stream_cancels_the_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("fg")
        .step(Step::new("forever", |_| async {
            std::future::pending::<()>().await;
            Ok(StepOutput::empty())
        }))
        .db(&engine)
        .build()
        .unwrap();
    let mut stream = wf.run_stream("x").await.unwrap();
    let run_id = stream.run_id();
    while let Some(e) = stream.next().await {
        if e.unwrap().kind.name() == "StepStarted" {
            break;
        }
    }
    drop(stream);
    let done = finished(&engine, run_id).await;
    assert_eq!(done.status, RunStatus::Cancelled);
    let events = stored(&engine, run_id).await;
    assert_gapless(&events, 0);
    assert_eq!(events.last().unwrap().event_type, "WorkflowCancelled");
}

both_backends!(
    foreground_blocking_returns_the_finished_run,
    foreground_stream_yields_every_event,
    background_returns_pending_at_once_and_polls_to_completion,
    background_stream_survives_its_subscriber,
    dropping_a_foreground_stream_cancels_the_run,
);

#[tokio::test]
async fn without_a_database_only_foreground_runs_work() {
    let wf = three_steps("nodb").build().unwrap();
    let run = wf.run("ok").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.content().unwrap()["result"], "OK!");
    assert!(wf.get_run(run.run_id).await.unwrap().is_some());
    assert!(matches!(
        wf.run_background("x").await,
        Err(EngineError::NoDatabase(_))
    ));
    assert!(matches!(
        wf.run_background_stream("x").await,
        Err(EngineError::NoDatabase(_))
    ));
    let err = wf.run_background("x").await.unwrap_err().to_string();
    assert!(err.contains("need a database"), "{err}");
}

#[tokio::test]
async fn invalid_definitions_are_refused() {
    assert!(matches!(
        Workflow::builder("empty").build(),
        Err(EngineError::InvalidDefinition(_))
    ));
    let step = || Step::new("a", |_| async { Ok(StepOutput::empty()) });
    let router = kern_core::workflow::Router::new("r", |_| vec![], [step(), step()]);
    assert!(matches!(
        Workflow::builder("dup").step(router).build(),
        Err(EngineError::InvalidDefinition(_))
    ));
}

async fn idempotency_keys_return_the_first_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let ran = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let r = ran.clone();
    let wf = Workflow::builder("once")
        .step(Step::new("count", move |_| {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok(StepOutput::text("done")) }
        }))
        .db(&engine)
        .build()
        .unwrap();
    let key = |hash: &str| kern_core::store::Idempotency {
        key: "k1".into(),
        request_hash: hash.into(),
    };
    let mut req = RunRequest::new("x");
    req.idempotency = Some(key("h"));
    let first = wf.run_background(req.clone()).await.unwrap();
    let again = wf.run_background(req.clone()).await.unwrap();
    assert_eq!(first.run_id, again.run_id);
    finished(&engine, first.run_id).await;
    // A foreground replay returns the finished run without running it again.
    let replay = wf.run(req).await.unwrap();
    assert_eq!(replay.run_id, first.run_id);
    assert_eq!(replay.status, RunStatus::Completed);
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
    let mut other = RunRequest::new("y");
    other.idempotency = Some(key("other"));
    assert!(matches!(
        wf.run_background(other).await,
        Err(EngineError::IdempotencyConflict { key }) if key == "k1"
    ));
}

async fn webhook_urls_reach_the_outbox_when_the_run_ends(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    // The run holds in its step until released, so that "before it ends" is a fact, not a
    // race with a run that finishes in a millisecond.
    let release = Arc::new(Notify::new());
    let wf = Workflow::builder("hooked")
        .step(held("hold", &release, "done"))
        .db(&engine)
        .build()
        .unwrap();
    let mut req = RunRequest::new("x");
    req.webhook_url = Some("http://127.0.0.1:9/hook".into());
    let run = wf.run_background(req).await.unwrap();
    assert!(engine
        .store()
        .list_webhooks(run.run_id)
        .await
        .unwrap()
        .is_empty());
    release.notify_one();
    finished(&engine, run.run_id).await;
    let hooks = engine.store().list_webhooks(run.run_id).await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url, "http://127.0.0.1:9/hook");
}

mod v2 {
    use super::*;
    both_backends!(
        idempotency_keys_return_the_first_run,
        webhook_urls_reach_the_outbox_when_the_run_ends,
    );
}
