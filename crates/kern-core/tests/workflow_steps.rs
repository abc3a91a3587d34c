//! Each step kind, retries, skip-on-failure, failures, panics, early stop and session state.

use kern_core::engine::{Engine, RunRequest};
use kern_core::store::RunStatus;
use kern_core::workflow::*;
use kern_testkit::{
    assert_gapless, both_backends, engine, finished, json, names, stored, Backend, CountingStore,
    TestDb,
};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn text(name: &str, content: &'static str) -> Step {
    Step::new(name, move |_| async move { Ok(StepOutput::text(content)) })
}

fn echo_previous(name: &str) -> Step {
    Step::new(name, |i| async move {
        Ok(StepOutput::text(format!("<{}>", i.previous_content_str())))
    })
}

/// A step's `metrics.duration` is its own work: a step's code waits until the earlier steps'
/// completions are durable, and that wait (here a second per write) is the run's, not the
/// step's.
async fn a_step_s_duration_leaves_out_the_wait_for_earlier_steps_writes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let counting = CountingStore::new(db.store.clone());
    let engine = Engine::builder(counting.clone()).build();
    let wf = Workflow::builder("d")
        .step(text("a", "A"))
        .step(text("b", "B"))
        .db(&engine)
        .build()
        .unwrap();
    let wait = Duration::from_secs(1);
    counting.delay_writes(wait);
    let run = wf.run("in").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    let output = run.output.as_ref().unwrap();
    let secs = |v: &serde_json::Value| v.as_f64().expect("a duration in seconds");
    assert!(
        secs(&output["metrics"]["duration"]) >= wait.as_secs_f64(),
        "{output}"
    );
    let b = secs(&output["step_results"][1]["metrics"]["duration"]);
    assert!(b < wait.as_secs_f64(), "step b took {b} s: {output}");
}

async fn steps_group_runs_in_order_and_reports_nested_results(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("g")
        .step(text("a", "A"))
        .step(Steps::new(
            "group",
            [echo_previous("b"), echo_previous("c")],
        ))
        .step(Step::new("d", |i| async move {
            Ok(StepOutput::json(json!({
                "b": i.get_step_content("b"),
                "group": i.get_step_content("group"),
                "prev": i.previous_step_content,
            })))
        }))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("in").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(
        run.content().unwrap(),
        &json!({"b": "<A>", "group": "<<A>>", "prev": "<<A>>"})
    );
    let results = &run.output.as_ref().unwrap()["step_results"];
    assert_eq!(results[1]["step_type"], "Steps");
    assert_eq!(results[1]["steps"][1]["step_name"], "c");
    let events = stored(&engine, run.run_id).await;
    assert_gapless(&events, 0);
    let n = names(&events);
    assert!(n.contains(&"StepsExecutionStarted".to_string()));
    let nested = events.iter().find(|e| json(e)["step_name"] == "c").unwrap();
    assert_eq!(json(nested)["step_index"], json!([1, 1]));
}

async fn parallel_branches_run_concurrently(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    // Each branch waits for the other: only concurrent execution finishes.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let branch = |name: &'static str| {
        let b = barrier.clone();
        Step::new(name, move |_| {
            let b = b.clone();
            async move {
                b.wait().await;
                Ok(StepOutput::text(name.to_uppercase()))
            }
        })
    };
    let wf = Workflow::builder("p")
        .step(Parallel::new("both", [branch("x"), branch("y")]))
        .step(Step::new("after", |i| async move {
            Ok(StepOutput::json(i.previous_step_content.clone().unwrap()))
        }))
        .db(&engine)
        .build()
        .unwrap();
    let run = tokio::time::timeout(Duration::from_secs(10), wf.run("go"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(run.content().unwrap(), &json!({"x": "X", "y": "Y"}));
    let n = names(&stored(&engine, run.run_id).await);
    assert_eq!(n.iter().filter(|e| *e == "StepCompleted").count(), 3);
    assert!(n.contains(&"ParallelExecutionCompleted".to_string()));
}

async fn condition_takes_the_branch_the_evaluator_chooses(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("c")
        .step(
            Condition::new(
                "is_long",
                |i| i.input_str().len() > 3,
                [text("long", "LONG")],
            )
            .otherwise([text("short", "SHORT")]),
        )
        .step(Condition::new("never", |_| false, [text("nope", "NOPE")]))
        .db(&engine)
        .build()
        .unwrap();
    let long = wf.run("abcdef").await.unwrap();
    assert_eq!(long.content().unwrap(), "LONG");
    let short = wf.run("ab").await.unwrap();
    assert_eq!(short.content().unwrap(), "SHORT");
    let events = stored(&engine, short.run_id).await;
    let started: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "ConditionExecutionStarted")
        .map(json)
        .collect();
    assert_eq!(started[0]["condition_result"], false);
    let completed = events
        .iter()
        .find(|e| e.event_type == "ConditionExecutionCompleted")
        .map(json)
        .unwrap();
    assert_eq!(completed["branch"], "else");
    assert!(
        !names(&events).contains(&"StepStarted".to_string())
            || events.iter().all(|e| json(e)["step_name"] != "nope")
    );
}

async fn loop_stops_at_its_end_condition_or_limit(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let count = Arc::new(AtomicU32::new(0));
    let c = count.clone();
    let wf = Workflow::builder("l")
        .step(
            Loop::new(
                "count",
                [Step::new("inc", move |_| {
                    let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { Ok(StepOutput::json(n)) }
                })],
            )
            .max_iterations(10)
            .end_condition(|outs| {
                outs.last()
                    .and_then(|o| o.content.as_ref())
                    .and_then(|c| c.as_u64())
                    == Some(3)
            }),
        )
        .step(Loop::new("capped", [text("t", "T")]).max_iterations(2))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let events = stored(&engine, run.run_id).await;
    let done: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "LoopExecutionCompleted")
        .map(json)
        .collect();
    assert_eq!(done[0]["total_iterations"], 3);
    assert_eq!(done[1]["total_iterations"], 2);
    assert_eq!(
        names(&events)
            .iter()
            .filter(|n| *n == "LoopIterationStarted")
            .count(),
        5
    );
}

async fn router_runs_the_selected_choices(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("r")
        .step(Router::new(
            "pick",
            |i| i.input_str().split(',').map(str::to_owned).collect(),
            [text("a", "A"), text("b", "B"), text("c", "C")],
        ))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("c,a").await.unwrap();
    assert_eq!(run.content().unwrap(), "A");
    let results = &run.output.as_ref().unwrap()["step_results"][0]["steps"];
    assert_eq!(results[0]["step_name"], "c");
    assert_eq!(results[1]["step_name"], "a");
    let bad = wf.run("zzz").await.unwrap();
    assert_eq!(bad.status, RunStatus::Failed);
    assert!(bad.error.unwrap().contains("not one of its choices"));
}

async fn retries_then_succeeds(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    let wf = Workflow::builder("retry")
        .step(
            Step::new("flaky", move |i| {
                t.fetch_add(1, Ordering::SeqCst);
                async move {
                    // Each try streams something before it fails or succeeds.
                    i.emit_output(format!("partial {}", i.attempt()));
                    if i.attempt() < 3 {
                        Err(StepError::msg(format!("try {} failed", i.attempt())))
                    } else {
                        Ok(StepOutput::text("third time lucky"))
                    }
                }
            })
            .max_retries(3)
            .retry_backoff(Duration::from_millis(1)),
        )
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(run.content().unwrap(), "third time lucky");
    // The failed tries' outputs are voided by a StepRetried each: a client joining the log
    // sees the last try's only.
    let log: Vec<serde_json::Value> = engine
        .store()
        .read_events(run.run_id, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    let retried: Vec<&serde_json::Value> =
        log.iter().filter(|e| e["event"] == "StepRetried").collect();
    assert_eq!(retried.len(), 2, "{log:?}");
    assert_eq!(retried[0]["attempt"], 1);
    assert_eq!(retried[0]["error"], "try 1 failed");
    assert_eq!(retried[0]["voided"].as_array().unwrap().len(), 1);
    let outputs: Vec<String> = kern_testkit::kept_events(&log)
        .iter()
        .filter(|e| e["event"] == "StepOutput")
        .map(|e| e["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(outputs, ["partial 3"]);
    kern_testkit::assert_joined_content(&log);
}

async fn failure_after_retries_fails_the_run_with_its_message(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let after = Arc::new(AtomicU32::new(0));
    let a = after.clone();
    let wf = Workflow::builder("fail")
        .step(
            Step::new("broken", |_| async {
                let n: i32 = "not a number".parse()?;
                Ok(StepOutput::json(n))
            })
            .max_retries(1)
            .retry_backoff(Duration::from_millis(1)),
        )
        .step(Step::new("never", move |_| {
            a.fetch_add(1, Ordering::SeqCst);
            async { Ok(StepOutput::empty()) }
        }))
        .db(&engine)
        .build()
        .unwrap();
    let started = wf.run_background("x").await.unwrap();
    let run = finished(&engine, started.run_id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert!(
        error.contains("step 'broken' failed after 2 attempts"),
        "{error}"
    );
    assert!(error.contains("invalid digit"), "{error}");
    assert_eq!(after.load(Ordering::SeqCst), 0);
    let events = stored(&engine, run.run_id).await;
    assert_gapless(&events, 0);
    assert_eq!(names(&events).last().unwrap(), "WorkflowError");
    assert!(json(events.last().unwrap())["error"]
        .as_str()
        .unwrap()
        .contains("invalid digit"));
    assert!(names(&events).contains(&"StepError".to_string()));
}

async fn skip_on_failure_records_and_goes_on(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("skip")
        .step(text("first", "ONE"))
        .step(Step::new("bad", |_| async { Err(StepError::msg("boom")) }).skip_on_failure(true))
        .step(echo_previous("last"))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.content().unwrap(), "<ONE>");
    let results = &run.output.as_ref().unwrap()["step_results"];
    assert_eq!(results[1]["success"], false);
    assert_eq!(results[1]["error"], "boom");
}

async fn panicking_steps_fail_the_run_not_the_runtime(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("panic")
        .step(Step::new("async_panic", |i| async move {
            if i.input_str() == "async" {
                panic!("async kaboom");
            }
            Ok(StepOutput::empty())
        }))
        .step(Step::blocking("sync_panic", |_| panic!("sync kaboom")))
        .db(&engine)
        .build()
        .unwrap();
    let a = wf.run("async").await.unwrap();
    assert_eq!(a.status, RunStatus::Failed);
    assert!(a.error.unwrap().contains("async kaboom"));
    let s = wf.run("sync").await.unwrap();
    assert_eq!(s.status, RunStatus::Failed);
    assert!(s.error.unwrap().contains("sync kaboom"));
    // The engine still works.
    let ok = Workflow::builder("fine")
        .step(text("t", "T"))
        .db(&engine)
        .build()
        .unwrap();
    assert_eq!(ok.run("x").await.unwrap().status, RunStatus::Completed);
}

async fn stop_ends_the_workflow_early_and_successfully(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("stop")
        .step(Steps::new(
            "g",
            [Step::new("halt", |_| async {
                Ok(StepOutput::text("enough").stop())
            })],
        ))
        .step(text("never", "NEVER"))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.content().unwrap(), "enough");
    assert_eq!(
        run.output.as_ref().unwrap()["step_results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn session_state_is_shared_and_kept_across_runs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("state")
        .step(Step::new("count", |i| async move {
            let n = i.session_state.update(|m| {
                let n = m.get("count").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
                m.insert("count".into(), json!(n));
                n
            });
            Ok(StepOutput::json(n))
        }))
        .step(Step::blocking("read", |i| {
            Ok(StepOutput::json(json!({
                "count": i.session_state.get("count"),
                "seed": i.session_state.get("seed"),
                "extra": i.additional_data.clone(),
            })))
        }))
        .db(&engine)
        .build()
        .unwrap();
    let first = wf
        .run(
            RunRequest::new("x")
                .session_id("sess")
                .session_state(json!({"seed": 7}))
                .additional_data(json!({"k": 1})),
        )
        .await
        .unwrap();
    assert_eq!(
        first.content().unwrap(),
        &json!({"count": 1, "seed": 7, "extra": {"k": 1}})
    );
    let second = wf
        .run(RunRequest::new("x").session_id("sess"))
        .await
        .unwrap();
    assert_eq!(
        second.content().unwrap(),
        &json!({"count": 2, "seed": 7, "extra": null})
    );
    // A background run starts from the state its claim found.
    let third = wf
        .run_background(RunRequest::new("x").session_id("sess"))
        .await
        .unwrap();
    let third = finished(&engine, third.run_id).await;
    assert_eq!(third.status, RunStatus::Completed);
    assert_eq!(
        third.output.unwrap()["content"],
        json!({"count": 3, "seed": 7, "extra": null})
    );
    let session = engine.store().get_session("sess").await.unwrap().unwrap();
    assert_eq!(session.session_state.unwrap()["count"], 3);
}

async fn timeout_fails_the_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("slow")
        .step(Step::new("sleep", |_| async {
            std::future::pending::<()>().await;
            Ok(StepOutput::empty())
        }))
        .timeout(Duration::from_millis(200))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().contains("timed out"));
}

/// A step's completion need not be written before the next step is set up, but it is durable
/// before any later user code runs (a step, an evaluator, a loop's end condition): work done
/// before that code is never redone after it, whenever the process dies. A completed run then
/// keeps no checkpoints.
async fn completed_steps_are_durable_before_later_code_runs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let store = engine.store().clone();
    let durable_keys = move |run_id| {
        let store = store.clone();
        async move {
            let keys: Vec<String> = store
                .load_checkpoints(run_id)
                .await
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with("step:"))
                .collect();
            keys
        }
    };
    let (seen_b, seen_c, seen_cond) = (durable_keys.clone(), durable_keys.clone(), durable_keys);
    let wf = Workflow::builder("durable")
        .step(text("a", "A"))
        .step(Step::new("b", move |i| {
            let seen = seen_b.clone();
            async move { Ok(StepOutput::json(json!(seen(i.run_id()).await))) }
        }))
        .step(Condition::new_async(
            "check",
            move |i: StepInput| {
                let seen = seen_cond.clone();
                async move { Ok(seen(i.run_id()).await.len() == 2) }
            },
            [Step::new("c", move |i| {
                let seen = seen_c.clone();
                async move { Ok(StepOutput::json(json!(seen(i.run_id()).await))) }
            })],
        ))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    let results = &run.output.as_ref().unwrap()["step_results"];
    assert_eq!(results[1]["content"], json!(["step:0"]), "a, before b ran");
    // The condition held (a and b durable before the evaluator ran); c saw the same.
    assert_eq!(
        results[2]["steps"][0]["content"],
        json!(["step:0", "step:1"])
    );
    let left = engine.store().load_checkpoints(run.run_id).await.unwrap();
    assert_eq!(left, vec![], "a completed run keeps no checkpoints");
}

both_backends!(
    completed_steps_are_durable_before_later_code_runs,
    a_step_s_duration_leaves_out_the_wait_for_earlier_steps_writes,
    steps_group_runs_in_order_and_reports_nested_results,
    parallel_branches_run_concurrently,
    condition_takes_the_branch_the_evaluator_chooses,
    loop_stops_at_its_end_condition_or_limit,
    router_runs_the_selected_choices,
    retries_then_succeeds,
    failure_after_retries_fails_the_run_with_its_message,
    skip_on_failure_records_and_goes_on,
    panicking_steps_fail_the_run_not_the_runtime,
    stop_ends_the_workflow_early_and_successfully,
    session_state_is_shared_and_kept_across_runs,
    timeout_fails_the_run,
);
