//! Cancellation: running (async, blocking, parallel), pending, finished, unknown, and from
//! another process's engine.

use futures::{FutureExt, StreamExt};
use kern_core::engine::{CancelOutcome, Engine};
use kern_core::store::{ComponentKind, RunFilter, RunId, RunRecord, RunStatus};
use kern_core::workflow::*;
use kern_core::EngineError;
use kern_testkit::{
    assert_gapless, both_backends, collect, engine, finished, json, names, stored, wait_for,
    wait_until, Backend, TestDb,
};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sets its flag when dropped: proves a step's future was dropped.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn forever(name: &str, dropped: Arc<AtomicBool>) -> Step {
    Step::new(name, move |_| {
        let flag = DropFlag(dropped.clone());
        async move {
            let _flag = flag;
            std::future::pending::<()>().await;
            Ok(StepOutput::empty())
        }
    })
}

/// Waits until the run's log holds a `StepStarted` for `step`.
async fn step_started(engine: &Engine, run_id: RunId, step: &str) {
    let mut events = engine.subscribe(run_id, None).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("step started in time")
            .expect("stream open")
            .unwrap();
        if e.event_type == "StepStarted" && json(&e)["step_name"] == step {
            return;
        }
    }
}

async fn cancel_drops_the_running_step_at_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let dropped = Arc::new(AtomicBool::new(false));
    let wf = Workflow::builder("c")
        .step(forever("wait", dropped.clone()))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run_background("x").await.unwrap();
    step_started(&engine, run.run_id, "wait").await;
    let t = Instant::now();
    assert_eq!(
        wf.cancel_run(run.run_id).await.unwrap(),
        CancelOutcome::Requested
    );
    let done = finished(&engine, run.run_id).await;
    eprintln!("cancel took {:?}", t.elapsed());
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the step's future was dropped"
    );
    let events = stored(&engine, run.run_id).await;
    assert_gapless(&events, 0);
    assert_eq!(events.last().unwrap().event_type, "WorkflowCancelled");
    // A second cancel says it is over.
    assert_eq!(
        wf.cancel_run(run.run_id).await.unwrap(),
        CancelOutcome::AlreadyFinished(RunStatus::Cancelled)
    );
}

async fn blocking_steps_can_watch_the_cancel_flag(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let saw = saw_cancel.clone();
    let wf = Workflow::builder("b")
        .step(Step::blocking("spin", move |i| {
            while !i.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            saw.store(true, Ordering::SeqCst);
            Ok(StepOutput::empty())
        }))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run_background("x").await.unwrap();
    step_started(&engine, run.run_id, "spin").await;
    engine.cancel_run(run.run_id).await.unwrap();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Cancelled
    );
    wait_until(
        Duration::from_secs(5),
        "the blocking step to see the flag",
        || {
            let s = saw_cancel.clone();
            async move { s.load(Ordering::SeqCst) }
        },
    )
    .await;
}

async fn cancelling_a_parallel_step_drops_every_branch(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let flags: Vec<_> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let wf = Workflow::builder("p")
        .step(Parallel::new(
            "fan",
            [
                Steps::new("nested", [forever("a", flags[0].clone())]).into(),
                WorkflowStep::from(forever("b", flags[1].clone())),
                forever("c", flags[2].clone()).into(),
            ],
        ))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run_background("x").await.unwrap();
    step_started(&engine, run.run_id, "c").await;
    engine.cancel_run(run.run_id).await.unwrap();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Cancelled
    );
    for f in &flags {
        assert!(f.load(Ordering::SeqCst));
    }
}

async fn pending_runs_are_cancelled_without_running(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // A client-only engine starts the run: nobody executes it yet.
    let client = Engine::builder(db.store.clone()).executor(false).build();
    let ran = Arc::new(AtomicU32::new(0));
    let r = ran.clone();
    let make = |engine: &Engine| {
        let r = r.clone();
        Workflow::builder("w")
            .step(Step::new("s", move |_| {
                r.fetch_add(1, Ordering::SeqCst);
                async { Ok(StepOutput::empty()) }
            }))
            .db(engine)
            .build()
            .unwrap()
    };
    let wf = make(&client);
    let run = wf.run_background("x").await.unwrap();
    assert_eq!(
        client.cancel_run(run.run_id).await.unwrap(),
        CancelOutcome::Cancelled
    );
    let rec = client.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Cancelled);
    let events = stored(&client, run.run_id).await;
    assert_eq!(names(&events), ["WorkflowCancelled"]);
    assert_eq!(json(&events[0])["event_index"], 0);
    // An executor arriving later does not run it; a fresh run does run.
    let executor = engine(&db);
    let wf2 = make(&executor);
    let fresh = wf2.run_background("y").await.unwrap();
    assert_eq!(
        finished(&executor, fresh.run_id).await.status,
        RunStatus::Completed
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // Subscribing to the cancelled run replays its one event and ends.
    assert_eq!(
        collect(client.subscribe(run.run_id, None).await.unwrap())
            .await
            .len(),
        1
    );
}

async fn cancelling_finished_or_unknown_runs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let wf = Workflow::builder("f")
        .step(Step::new("s", |_| async { Ok(StepOutput::text("ok")) }))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run("x").await.unwrap();
    assert_eq!(
        engine.cancel_run(run.run_id).await.unwrap(),
        CancelOutcome::AlreadyFinished(RunStatus::Completed)
    );
    let unknown = kern_core::store::new_run_id();
    assert!(
        matches!(engine.cancel_run(unknown).await, Err(EngineError::RunNotFound(id)) if id == unknown)
    );
    assert!(matches!(
        wf.cancel_run(unknown).await,
        Err(EngineError::RunNotFound(_))
    ));
}

async fn cancel_from_another_process_reaches_the_owner(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let owner = engine(&db);
    let dropped = Arc::new(AtomicBool::new(false));
    let wf = Workflow::builder("x")
        .step(forever("wait", dropped.clone()))
        .db(&owner)
        .build()
        .unwrap();
    let run = wf.run_background("x").await.unwrap().into_record();
    step_started(&owner, run.run_id, "wait").await;
    // Another "process": its own store connection, no executor, no workflow registered.
    let other = Engine::builder(db.reopen().await).executor(false).build();
    let t = Instant::now();
    assert_eq!(
        other.cancel_run(run.run_id).await.unwrap(),
        CancelOutcome::Requested
    );
    wait_until(Duration::from_secs(10), "the owner to stop the run", || {
        let other = other.clone();
        async move {
            other.get_run(run.run_id).await.unwrap().unwrap().status == RunStatus::Cancelled
        }
    })
    .await;
    eprintln!("cross-process cancel took {:?}", t.elapsed());
    assert!(dropped.load(Ordering::SeqCst));
}

/// The only run of workflow `id`, once it has ended.
async fn the_ended_run(engine: &Engine, id: &str) -> RunRecord {
    let filter = RunFilter {
        component_id: Some(id.into()),
        ..Default::default()
    };
    wait_for(Duration::from_secs(10), "the run to end", || async {
        let runs = engine.list_runs(&filter).await.unwrap();
        match &runs[..] {
            [run] if run.status.is_terminal() => Ok(run.clone()),
            _ => Err(format!("{runs:?}")),
        }
    })
    .await
}

/// A foreground caller that goes away while its run is being created (a dropped request)
/// leaves no run behind that nobody drives: the run is created, then cancelled at once with
/// the reason, where it used to stay `running` until its lease expired and then be failed as
/// if the process had stopped.
async fn a_caller_gone_during_the_create_cancels_its_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    for (id, stream) in [("blocking", false), ("streaming", true)] {
        let dropped = Arc::new(AtomicBool::new(false));
        let _wf = Workflow::builder(id)
            .step(forever("wait", dropped))
            .db(&engine)
            .build()
            .unwrap();
        // Polled once (the create is under way, nothing has answered yet), then dropped.
        let gone = if stream {
            engine
                .run_stream(ComponentKind::Workflow, id, "x")
                .map(|r| r.map(|_| ()))
                .boxed()
                .now_or_never()
        } else {
            engine
                .run(ComponentKind::Workflow, id, "x")
                .map(|r| r.map(|_| ()))
                .boxed()
                .now_or_never()
        };
        assert!(
            gone.is_none(),
            "{id}: the create cannot be done at the first poll"
        );
        let run = the_ended_run(&engine, id).await;
        assert_eq!(run.status, RunStatus::Cancelled, "{id}: {run:?}");
        assert_eq!(run.error.as_deref(), Some("the caller went away"), "{id}");
        assert_eq!(run.attempt, 1, "{id}: never recovered");
        let events = stored(&engine, run.run_id).await;
        assert_gapless(&events, 0);
        assert_eq!(events.last().unwrap().event_type, "WorkflowCancelled");
    }
}

both_backends!(
    a_caller_gone_during_the_create_cancels_its_run,
    cancel_drops_the_running_step_at_once,
    blocking_steps_can_watch_the_cancel_flag,
    cancelling_a_parallel_step_drops_every_branch,
    pending_runs_are_cancelled_without_running,
    cancelling_finished_or_unknown_runs,
    cancel_from_another_process_reaches_the_owner,
);
