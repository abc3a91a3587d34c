//! `Engine::run_with_events` answers runs this engine executes from memory (`engine/views.rs`):
//! whatever it answers must be what the store holds, while the run goes on, after it ends,
//! and after another process changed it. Both databases.

use kern_core::engine::Engine;
use kern_core::store::{RunId, RunStatus, Store};
use kern_core::workflow::*;
use kern_testkit::{both_backends, engine, engine_on, finished, wait_until, Backend, TestDb};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const DEADLINE: Duration = Duration::from_secs(20);

/// `first`, `wait` (counts its starts, then waits for a permit of `gate`; fails when `fail`),
/// `last`.
fn gated(engine: &Engine, id: &str, gate: Arc<Semaphore>, started: Arc<AtomicU32>) -> Workflow {
    Workflow::builder(id)
        .step(Step::new("first", |input| async move {
            input.emit_output("some output");
            Ok(StepOutput::text("one"))
        }))
        .step(Step::new("wait", move |input| {
            started.fetch_add(1, Ordering::SeqCst);
            let gate = gate.clone();
            async move {
                gate.acquire().await.unwrap().forget();
                if input.previous_content_str() == "fail" {
                    return Err(StepError::msg("asked to fail"));
                }
                Ok(StepOutput::text("two"))
            }
        }))
        .step(Step::new("last", |_| async {
            Ok(StepOutput::text("three"))
        }))
        .db(engine)
        .build()
        .unwrap()
}

/// Waits until the engine's answer for the run equals the store's (a write may be in flight
/// when first compared).
async fn agrees(engine: &Engine, store: &Arc<dyn Store>, run_id: RunId, what: &str) {
    wait_until(DEADLINE, what, || {
        let (engine, store) = (engine.clone(), store.clone());
        async move {
            let mine = engine.run_with_events(run_id).await.unwrap();
            let stored = store.run_with_events(run_id).await.unwrap();
            mine.is_some() && mine == stored
        }
    })
    .await;
}

async fn a_local_run_reads_as_the_store_holds_it(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let (gate, started) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicU32::new(0)));
    let wf = gated(&engine, "views", gate.clone(), started.clone());
    let run = wf.run_background("go").await.unwrap().into_record();
    wait_until(DEADLINE, "the wait step", || {
        let s = started.clone();
        async move { s.load(Ordering::SeqCst) == 1 }
    })
    .await;
    agrees(&engine, &db.store, run.run_id, "mid-run").await;
    let (rec, events) = engine.run_with_events(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Running);
    assert_eq!(events.len() as u64, rec.event_count);
    gate.add_permits(1);
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    let (rec, events) = engine.run_with_events(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec, db.store.get_run(run.run_id).await.unwrap().unwrap());
    assert_eq!(events.len() as u64, done.event_count);
    agrees(&engine, &db.store, run.run_id, "finished").await;
    assert!(engine
        .run_with_events(kern_core::store::new_run_id())
        .await
        .unwrap()
        .is_none());
}

/// Another process cancels a run this engine executes, then requeues it: each time this
/// engine's answer comes to equal the store's (the cancel's `cancel_requested` included).
async fn changes_from_another_process_show(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let (gate, started) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicU32::new(0)));
    let wf = gated(&engine, "views2", gate.clone(), started.clone());
    let run = wf.run_background("go").await.unwrap().into_record();
    wait_until(DEADLINE, "the wait step", || {
        let s = started.clone();
        async move { s.load(Ordering::SeqCst) == 1 }
    })
    .await;
    // The other process registers nothing, so it never claims the run.
    let other = engine_on(db.reopen().await);
    other.cancel_run(run.run_id).await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(done.cancel_requested);
    agrees(&engine, &db.store, run.run_id, "the cancel").await;

    let queued = other.requeue(run.run_id).await.unwrap();
    assert_eq!(queued.status, RunStatus::Pending);
    // This engine claims it again (it registered the workflow) and parks in `wait`.
    wait_until(DEADLINE, "the wait step again", || {
        let s = started.clone();
        async move { s.load(Ordering::SeqCst) == 2 }
    })
    .await;
    wait_until(DEADLINE, "the requeued run's state", || {
        let (engine, store) = (engine.clone(), db.store.clone());
        async move {
            let mine = engine.run_with_events(run.run_id).await.unwrap();
            mine.as_ref()
                .is_some_and(|(r, _)| r.status == RunStatus::Running)
                && mine == store.run_with_events(run.run_id).await.unwrap()
        }
    })
    .await;
    gate.add_permits(1);
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Completed
    );
    agrees(&engine, &db.store, run.run_id, "the end after the requeue").await;
    other.shutdown(Duration::from_secs(5)).await;
}

/// A run that failed here keeps its view a moment; requeued by another process, it is never
/// shown failed again: not before this engine claims it, nor after.
async fn a_requeued_run_is_not_shown_as_it_ended(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let wf = Workflow::builder("views3")
        .step(Step::new("flaky", move |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Err(StepError::msg("first time"));
                }
                std::future::pending::<()>().await;
                Ok(StepOutput::empty())
            }
        }))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run_background("go").await.unwrap().into_record();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Failed
    );
    agrees(&engine, &db.store, run.run_id, "the failure").await;
    let other = engine_on(db.reopen().await);
    other.requeue(run.run_id).await.unwrap();
    // At once, though this engine was told nothing: no longer failed.
    let (rec, _) = engine.run_with_events(run.run_id).await.unwrap().unwrap();
    assert_ne!(rec.status, RunStatus::Failed);
    wait_until(DEADLINE, "the second call", || {
        let c = calls.clone();
        async move { c.load(Ordering::SeqCst) == 2 }
    })
    .await;
    // Claimed here again: running at once, not failed until the old view expires (the
    // claim drops it; `views.rs`'s unit tests check that part alone).
    let (rec, _) = engine.run_with_events(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Running);
    engine.cancel_run(run.run_id).await.unwrap();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Cancelled
    );
    agrees(&engine, &db.store, run.run_id, "the cancel").await;
    other.shutdown(Duration::from_secs(5)).await;
}

both_backends!(
    a_requeued_run_is_not_shown_as_it_ended,
    a_local_run_reads_as_the_store_holds_it,
    changes_from_another_process_show
);
