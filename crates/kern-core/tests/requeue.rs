//! Requeue: a failed or cancelled run goes back to the queue and resumes from its
//! checkpoints under the same `run_id` (the one deliberate exception to "a terminal status
//! never changes"); streams go past its old terminal event; only failed and cancelled
//! top-level runs are requeued. Both databases.

use futures::StreamExt;
use kern_core::engine::Engine;
use kern_core::event::{Event, EventKind};
use kern_core::store::RunStatus;
use kern_core::transcript::Transcript;
use kern_core::workflow::*;
use kern_core::EngineError;
use kern_testkit::{
    assert_gapless, both_backends, children, collect, engine, engine_on, finished, json, names,
    stored, Backend, TestDb,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How many times each step ran.
#[derive(Default)]
struct Counters {
    prepare: AtomicU32,
    call: AtomicU32,
    report: AtomicU32,
}

/// `prepare`, `call` (fails on its first execution; on later ones it waits for a permit of
/// `gate`, then succeeds), `report`.
fn flaky(engine: &Engine, id: &str, counters: Arc<Counters>, gate: Arc<Semaphore>) -> Workflow {
    let (c1, c2, c3) = (counters.clone(), counters.clone(), counters);
    Workflow::builder(id)
        .step(Step::new("prepare", move |_| {
            c1.prepare.fetch_add(1, Ordering::SeqCst);
            async move { Ok(StepOutput::text("prepared")) }
        }))
        .step(Step::new("call", move |input| {
            let n = c2.call.fetch_add(1, Ordering::SeqCst) + 1;
            let gate = gate.clone();
            async move {
                if n == 1 {
                    return Err(StepError::msg("the service is down"));
                }
                input.emit_output("calling again");
                gate.acquire().await.unwrap().forget();
                Ok(StepOutput::text(format!("called after {} tries", n)))
            }
        }))
        .step(Step::new("report", move |input| {
            c3.report.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(StepOutput::text(format!(
                    "report: {}",
                    input.previous_content_str()
                )))
            }
        }))
        .db(engine)
        .build()
        .unwrap()
}

fn counts(c: &Counters) -> (u32, u32, u32) {
    (
        c.prepare.load(Ordering::SeqCst),
        c.call.load(Ordering::SeqCst),
        c.report.load(Ordering::SeqCst),
    )
}

async fn a_failed_run_requeued_resumes_from_its_checkpoints(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let counters = Arc::new(Counters::default());
    let gate = Arc::new(Semaphore::new(0));
    let wf = flaky(&engine, "flaky", counters.clone(), gate.clone());
    let run = wf.run_background("go").await.unwrap().into_record();
    let failed = finished(&engine, run.run_id).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(counts(&counters), (1, 1, 0));
    let error_at = failed.event_count - 1;
    // A subscription before the requeue ends at the terminal event: it was the end then.
    let before = collect(engine.subscribe(run.run_id, None).await.unwrap()).await;
    assert_eq!(before.len() as u64, failed.event_count);

    let queued = engine.requeue(run.run_id).await.unwrap();
    assert_eq!(queued.status, RunStatus::Pending);
    assert_eq!(queued.event_count, failed.event_count + 1);
    assert!(queued.error.is_none() && queued.finished_at.is_none());
    // A second requeue is refused: the run is no longer failed (pending, or already claimed
    // again by the executor, whose wake-up can beat this call, especially on PostgreSQL).
    assert!(matches!(
        engine.requeue(run.run_id).await,
        Err(EngineError::NotRequeueable {
            status: RunStatus::Pending | RunStatus::Running,
            child: false,
            ..
        })
    ));
    // Subscribed from 0 while the requeued run goes on (it waits in its second `call`).
    kern_testkit::wait_until(Duration::from_secs(20), "the second call", || {
        let c = counters.clone();
        async move { c.call.load(Ordering::SeqCst) == 2 }
    })
    .await;
    let live = engine.subscribe(run.run_id, None).await.unwrap();
    let live = tokio::spawn(collect(live));
    gate.add_permits(1);
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "report: called after 2 tries");
    // `prepare` completed before the failure: it did not run again.
    assert_eq!(counts(&counters), (1, 2, 1));
    assert_eq!(done.attempt, 2);

    // The stream went past the old terminal event and ended at the new one, every index
    // once; so does one subscribed after the end.
    let log = stored(&engine, run.run_id).await;
    let streamed = live.await.unwrap();
    let after = collect(engine.subscribe(run.run_id, None).await.unwrap()).await;
    for events in [&streamed, &after] {
        assert_gapless(events, 0);
        assert_eq!(names(events), names(&log));
    }
    let names = names(&log);
    assert_eq!(names[error_at as usize], "WorkflowError");
    assert_eq!(names[error_at as usize + 1], "RunRequeued");
    assert_eq!(names.last().unwrap(), "WorkflowCompleted");
    let requeued = json(&log[error_at as usize + 1]);
    assert_eq!(requeued["previous_status"], "failed");
    assert_eq!(
        requeued["voided"],
        serde_json::json!([[error_at, error_at]])
    );
    // The failed `call`'s events are voided by the restart that redoes it.
    let restarted = log
        .iter()
        .find(|e| e.event_type == "RunRestarted")
        .map(json)
        .expect("a RunRestarted");
    assert_eq!(restarted["attempt"], 2);
    // A client applying the voids sees one outcome, and the step outputs once each.
    let mut transcript = Transcript::new();
    for e in &log {
        transcript.push(Event::from_json(&e.payload).unwrap());
    }
    let kept: Vec<&str> = transcript
        .events()
        .iter()
        .map(|e| e.kind.name())
        .filter(|n| !matches!(*n, "RunRestarted" | "RunRequeued"))
        .collect();
    assert!(!kept.contains(&"WorkflowError"), "{kept:?}");
    assert_eq!(
        kept.iter().filter(|n| **n == "StepCompleted").count(),
        3,
        "{kept:?}"
    );
    let values: Vec<serde_json::Value> = log.iter().map(json).collect();
    kern_testkit::assert_joined_content(&values);
}

async fn only_failed_or_cancelled_top_level_runs_are_requeued(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let gate = Arc::new(Semaphore::new(0));
    let wf = flaky(&engine, "flaky", Arc::default(), gate.clone());
    // Unknown.
    let unknown = kern_core::store::new_run_id();
    assert!(matches!(
        engine.requeue(unknown).await,
        Err(EngineError::RunNotFound(id)) if id == unknown
    ));
    // Running: a run's first `call` fails at once, so fail it, requeue it, and catch it
    // waiting at the gate in its second `call`.
    let run = wf.run_background("x").await.unwrap().into_record();
    finished(&engine, run.run_id).await;
    engine.requeue(run.run_id).await.unwrap();
    kern_testkit::wait_until(Duration::from_secs(20), "the run to run again", || {
        let engine = engine.clone();
        async move {
            engine.get_run(run.run_id).await.unwrap().unwrap().status == RunStatus::Running
        }
    })
    .await;
    let err = engine.requeue(run.run_id).await.unwrap_err();
    assert!(matches!(
        err,
        EngineError::NotRequeueable {
            status: RunStatus::Running,
            child: false,
            ..
        }
    ));
    assert!(
        err.to_string().contains("only a failed or cancelled run"),
        "{err}"
    );
    // Completed.
    gate.add_permits(1);
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Completed
    );
    assert!(matches!(
        engine.requeue(run.run_id).await,
        Err(EngineError::NotRequeueable {
            status: RunStatus::Completed,
            ..
        })
    ));
}

/// An outer workflow whose nested workflow fails on its first run.
async fn a_child_run_is_requeued_with_its_parent(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let counters = Arc::new(Counters::default());
    let inner = {
        let (c1, c2) = (counters.clone(), counters.clone());
        Workflow::builder("inner")
            .step(Step::new("first", move |_| {
                c1.prepare.fetch_add(1, Ordering::SeqCst);
                async move { Ok(StepOutput::text("one")) }
            }))
            .step(Step::new("second", move |_| {
                let n = c2.call.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n == 1 {
                        return Err(StepError::msg("inner failure"));
                    }
                    Ok(StepOutput::text("two"))
                }
            }))
            .build()
            .unwrap()
    };
    let c3 = counters.clone();
    let outer = Workflow::builder("outer")
        .step(Step::new("before", move |_| {
            c3.report.fetch_add(1, Ordering::SeqCst);
            async move { Ok(StepOutput::text("before")) }
        }))
        .step(Step::component("nested", inner.def().clone()))
        .db(&engine)
        .build()
        .unwrap();
    let run = outer.run_background("x").await.unwrap().into_record();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Failed
    );
    let first = children(&engine, run.run_id).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status, RunStatus::Failed);
    let err = engine.requeue(first[0].run_id).await.unwrap_err();
    assert!(
        matches!(err, EngineError::NotRequeueable { child: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("requeue its parent run"), "{err}");
    // The parent goes again: `before` is checkpointed, the nested workflow runs again as a
    // new child run.
    engine.requeue(run.run_id).await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(
        (
            counters.report.load(Ordering::SeqCst),
            counters.prepare.load(Ordering::SeqCst),
            counters.call.load(Ordering::SeqCst)
        ),
        (1, 2, 2)
    );
    let statuses: Vec<RunStatus> = children(&engine, run.run_id)
        .await
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [RunStatus::Failed, RunStatus::Completed]);
}

async fn foreground_and_cancelled_runs_are_requeued_as_background_runs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let counters = Arc::new(Counters::default());
    let gate = Arc::new(Semaphore::new(10));
    let wf = flaky(&engine, "flaky", counters.clone(), gate);
    // A foreground run: its caller got the failure and is gone; requeued, it resumes in the
    // background on any executor.
    let failed = wf.run("fg").await.unwrap();
    assert_eq!(
        (failed.status, failed.background),
        (RunStatus::Failed, false)
    );
    let queued = engine.requeue(failed.run_id).await.unwrap();
    assert!(queued.background);
    let done = finished(&engine, failed.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(counts(&counters), (1, 2, 1));

    // A run cancelled before it started, requeued from a client (another process that
    // executes nothing): the executor picks it up and runs it from the start.
    let client = Engine::builder(db.reopen().await).executor(false).build();
    flaky(
        &client,
        "other",
        Arc::default(),
        Arc::new(Semaphore::new(0)),
    );
    let counters = Arc::new(Counters::default());
    let pending = client
        .start(kern_core::store::ComponentKind::Workflow, "other", "p")
        .await
        .unwrap();
    client.cancel_run(pending.run_id).await.unwrap();
    let cancelled = client.get_run(pending.run_id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let requeued = client.requeue(pending.run_id).await.unwrap();
    assert_eq!(requeued.status, RunStatus::Pending);
    assert!(!requeued.cancel_requested);
    // An executor of `other` claims it (its steps count into `counters`).
    let worker = engine_on(db.reopen().await);
    flaky(
        &worker,
        "other",
        counters.clone(),
        Arc::new(Semaphore::new(10)),
    );
    let done = finished(&worker, pending.run_id).await;
    // Its first `call` fails: it never ran before, so this is its first execution.
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(counts(&counters), (1, 1, 0));
    let log = stored(&worker, pending.run_id).await;
    assert_eq!(
        names(&log)[..2],
        ["WorkflowCancelled".to_owned(), "RunRequeued".to_owned()]
    );
    assert_gapless(&log, 0);
    // Requeued again, it completes.
    worker.requeue(pending.run_id).await.unwrap();
    let done = finished(&worker, pending.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(counts(&counters), (1, 2, 1));
    let mut stream = worker
        .subscribe_events(pending.run_id, None)
        .await
        .unwrap()
        .boxed();
    let mut requeues = 0;
    while let Some(e) = stream.next().await {
        if let EventKind::RunRequeued { voided, .. } = e.unwrap().kind {
            assert_eq!(voided.len(), 1);
            requeues += 1;
        }
    }
    assert_eq!(requeues, 2);
}

/// An at-most-once step interrupted while it ran fails its run instead of running again;
/// requeued (the operator's decision), the step runs again and the run completes.
async fn an_interrupted_at_most_once_step_runs_again_once_requeued(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let ran = Arc::new(AtomicU32::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let define = |engine: &Engine| {
        let (ran, gate) = (ran.clone(), gate.clone());
        Workflow::builder("charge")
            .step(
                Step::new("charge card", move |_| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    let gate = gate.clone();
                    async move {
                        gate.acquire().await.unwrap().forget();
                        Ok(StepOutput::text("charged"))
                    }
                })
                .at_most_once(true),
            )
            .db(engine)
            .build()
            .unwrap()
    };
    let first = engine(&db);
    let wf = define(&first);
    let run = wf.run_background("x").await.unwrap().into_record();
    kern_testkit::wait_until(Duration::from_secs(20), "the step to run", || {
        let ran = ran.clone();
        async move { ran.load(Ordering::SeqCst) == 1 }
    })
    .await;
    // Interrupted inside the step (a graceful stop hands the run back).
    first.shutdown(Duration::ZERO).await;
    let second = engine_on(db.reopen().await);
    define(&second);
    let failed = finished(&second, run.run_id).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(failed.error.unwrap().contains("at-most-once"));
    assert_eq!(ran.load(Ordering::SeqCst), 1, "not run again by itself");

    second.requeue(run.run_id).await.unwrap();
    gate.add_permits(1);
    let done = finished(&second, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(ran.load(Ordering::SeqCst), 2, "run again once requeued");
    assert_gapless(&stored(&second, run.run_id).await, 0);
}

both_backends!(
    a_failed_run_requeued_resumes_from_its_checkpoints,
    only_failed_or_cancelled_top_level_runs_are_requeued,
    a_child_run_is_requeued_with_its_parent,
    foreground_and_cancelled_runs_are_requeued_as_background_runs,
    an_interrupted_at_most_once_step_runs_again_once_requeued,
);
