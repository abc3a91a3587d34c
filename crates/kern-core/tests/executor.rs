//! The executor: concurrency limit, several executors on one database, recovery after an
//! executor dies, the recovery limit, graceful hand-over on shutdown.

use kern_core::engine::{Engine, RunRequest};
use kern_core::store::{RunId, RunStatus};
use kern_core::workflow::*;
use kern_testkit::{
    assert_gapless, both_backends, engine, finished, names, stored, wait_until, Backend, TestDb,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

async fn concurrency_limit_keeps_the_rest_pending(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = Engine::builder(db.store.clone())
        .max_concurrent_runs(2)
        .poll_interval(Duration::from_millis(50))
        .build();
    let gate = Arc::new(Semaphore::new(0));
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (g, n, p) = (gate.clone(), now.clone(), peak.clone());
    let wf = Workflow::builder("limited")
        .step(Step::new("hold", move |_| {
            let (g, n, p) = (g.clone(), n.clone(), p.clone());
            async move {
                let cur = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(cur, Ordering::SeqCst);
                g.acquire().await.unwrap().forget();
                n.fetch_sub(1, Ordering::SeqCst);
                Ok(StepOutput::empty())
            }
        }))
        .db(&engine)
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(wf.run_background("x").await.unwrap().run_id);
    }
    wait_until(Duration::from_secs(10), "two runs to be running", || {
        let n = now.clone();
        async move { n.load(Ordering::SeqCst) == 2 }
    })
    .await;
    let pending = wf.list_runs(None, Some(RunStatus::Pending)).await.unwrap();
    assert_eq!(pending.len(), 4);
    gate.add_permits(6);
    for id in ids {
        assert_eq!(finished(&engine, id).await.status, RunStatus::Completed);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

async fn two_executors_never_run_the_same_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let executions: Arc<Mutex<HashMap<RunId, usize>>> = Default::default();
    let make = |engine: &Engine| {
        let ex = executions.clone();
        Workflow::builder("shared")
            .step(Step::new("count", move |i| {
                *ex.lock().unwrap().entry(i.run_id()).or_default() += 1;
                async { Ok(StepOutput::empty()) }
            }))
            .step(Step::new("yield", |_| async {
                tokio::task::yield_now().await;
                Ok(StepOutput::empty())
            }))
            .db(engine)
            .build()
            .unwrap()
    };
    let a = engine(&db);
    let b = Engine::builder(db.reopen().await)
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .build();
    let (wa, _wb) = (make(&a), make(&b));
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(wa.run_background(RunRequest::new(i)).await.unwrap().run_id);
    }
    for id in &ids {
        let run = finished(&a, *id).await;
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.attempt, 1);
    }
    let ex = executions.lock().unwrap();
    assert_eq!(ex.len(), 200);
    assert!(ex.values().all(|n| *n == 1), "a run executed twice");
}

/// Runs `f` on an engine inside its own runtime, then kills that runtime the way a crash would:
/// no finish, no release, leases left to expire.
struct Doomed {
    rt: Option<tokio::runtime::Runtime>,
}

impl Doomed {
    fn new() -> Self {
        Self {
            rt: Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
        }
    }

    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, f: F) {
        self.rt.as_ref().unwrap().spawn(f);
    }

    fn crash(mut self) {
        self.rt.take().unwrap().shutdown_background();
    }
}

/// A workflow whose second step hangs while `hang` is set. Counts executions per step.
fn recoverable(
    engine: &Engine,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    hang: Arc<AtomicBool>,
) -> Workflow {
    let step = |name: &'static str, hangs: bool| {
        let (counts, hang) = (counts.clone(), hang.clone());
        Step::new(name, move |i| {
            *counts.lock().unwrap().entry(name.to_string()).or_default() += 1;
            let hang = hangs && hang.load(Ordering::SeqCst);
            async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                Ok(StepOutput::text(format!(
                    "{name}:{}",
                    i.previous_content_str()
                )))
            }
        })
    };
    Workflow::builder("recoverable")
        .step(step("one", false))
        .step(step("two", true))
        .step(step("three", false))
        .db(engine)
        .build()
        .unwrap()
}

async fn start_and_crash(
    db: &TestDb,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    background: bool,
) -> RunId {
    let store = db.reopen().await;
    let doomed = Doomed::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let hang = Arc::new(AtomicBool::new(true));
    let started = counts.clone();
    doomed.spawn(async move {
        let engine = Engine::builder(store)
            .lease(Duration::from_millis(600))
            .build();
        let wf = recoverable(&engine, counts, hang);
        let req = RunRequest::new("in")
            .session_id("crash-session")
            .session_state(serde_json::json!({"keep": 1}));
        let id = if background {
            wf.run_background(req).await.unwrap().run_id
        } else {
            let s = wf.run_stream(req).await.unwrap();
            let id = s.run_id();
            std::mem::forget(s); // keep the foreground run going until the crash
            id
        };
        let mut events = engine.subscribe(id, None).await.unwrap();
        use futures::StreamExt;
        while let Some(e) = events.next().await {
            let e = e.unwrap();
            if e.event_type == "StepStarted" && e.payload.contains("\"two\"") {
                break;
            }
        }
        // Its start is durable before its code runs (after step one's completion is): crash
        // inside step two, not just before it.
        let ran = || started.lock().unwrap().get("two").is_some();
        wait_until(Duration::from_secs(10), "step two to run", || async {
            ran()
        })
        .await;
        let _ = tx.send((id, engine));
        std::future::pending::<()>().await;
    });
    let (id, engine) = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .unwrap()
        .unwrap();
    std::mem::forget(engine); // dropping it would need the dead runtime
    tokio::task::spawn_blocking(move || doomed.crash())
        .await
        .unwrap();
    id
}

async fn a_dead_executors_runs_resume_elsewhere_from_their_last_step(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let counts: Arc<Mutex<HashMap<String, usize>>> = Default::default();
    let id = start_and_crash(&db, counts.clone(), true).await;
    let survivor = Engine::builder(db.reopen().await)
        .lease(Duration::from_millis(600))
        .poll_interval(Duration::from_millis(50))
        .build();
    let _wf = recoverable(&survivor, counts.clone(), Arc::new(AtomicBool::new(false)));
    let run = finished(&survivor, id).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(run.attempt, 2);
    assert_eq!(run.content().unwrap(), "three:two:one:");
    let c = counts.lock().unwrap().clone();
    assert_eq!(c["one"], 1, "completed step ran again");
    assert_eq!(c["two"], 2, "interrupted step re-ran once");
    assert_eq!(c["three"], 1);
    let events = stored(&survivor, id).await;
    assert_gapless(&events, 0);
    assert_eq!(
        names(&events)
            .iter()
            .filter(|n| *n == "WorkflowStarted")
            .count(),
        1
    );
    assert_eq!(
        names(&events)
            .iter()
            .filter(|n| *n == "WorkflowCompleted")
            .count(),
        1
    );
    assert_eq!(events.last().unwrap().event_type, "WorkflowCompleted");
}

async fn recovery_limit_fails_the_run_explicitly(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let counts: Arc<Mutex<HashMap<String, usize>>> = Default::default();
    let id = start_and_crash(&db, counts.clone(), true).await;
    let survivor = Engine::builder(db.reopen().await)
        .lease(Duration::from_millis(600))
        .poll_interval(Duration::from_millis(50))
        .max_recoveries(0)
        .build();
    let _wf = recoverable(&survivor, counts.clone(), Arc::new(AtomicBool::new(false)));
    let run = finished(&survivor, id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("max_recoveries = 0"),
        "{:?}",
        run.error
    );
    assert_eq!(
        stored(&survivor, id).await.last().unwrap().event_type,
        "WorkflowError"
    );
}

async fn interrupted_foreground_runs_fail_instead_of_hanging(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let counts: Arc<Mutex<HashMap<String, usize>>> = Default::default();
    let id = start_and_crash(&db, counts.clone(), false).await;
    let survivor = Engine::builder(db.reopen().await)
        .lease(Duration::from_millis(600))
        .poll_interval(Duration::from_millis(50))
        .build();
    let _wf = recoverable(&survivor, counts.clone(), Arc::new(AtomicBool::new(false)));
    let run = finished(&survivor, id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().contains("foreground run interrupted"));
    assert_eq!(counts.lock().unwrap()["two"], 1);
}

async fn shutdown_hands_running_runs_back_at_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let counts: Arc<Mutex<HashMap<String, usize>>> = Default::default();
    // A long lease: the hand-over must not wait for it.
    let first = Engine::builder(db.store.clone())
        .lease(Duration::from_secs(60))
        .build();
    let wf = recoverable(&first, counts.clone(), Arc::new(AtomicBool::new(true)));
    let run = wf.run_background("in").await.unwrap();
    wait_until(Duration::from_secs(10), "step two to start", || {
        let c = counts.clone();
        async move { c.lock().unwrap().get("two").is_some() }
    })
    .await;
    first.shutdown(Duration::from_millis(50)).await;
    let released = first.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(released.status, RunStatus::Pending);
    assert_eq!(released.releases, 1);
    assert!(matches!(
        wf.run_background("x").await,
        Err(kern_core::EngineError::ShuttingDown)
    ));
    let second = Engine::builder(db.reopen().await)
        .poll_interval(Duration::from_millis(50))
        .build();
    let _wf2 = recoverable(&second, counts.clone(), Arc::new(AtomicBool::new(false)));
    let done = finished(&second, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.attempt, 2);
    assert_eq!(counts.lock().unwrap()["one"], 1);
    assert_gapless(&stored(&second, run.run_id).await, 0);
}

async fn retention_deletes_old_finished_runs_only(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = Engine::builder(db.store.clone())
        .retention(Duration::from_millis(1))
        .poll_interval(Duration::from_millis(50))
        .build();
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let wf = Workflow::builder("kept")
        .step(Step::new("s", move |i| {
            let g = g.clone();
            async move {
                if i.input_str() == "hold" {
                    g.acquire().await.unwrap().forget();
                }
                Ok(StepOutput::empty())
            }
        }))
        .db(&engine)
        .build()
        .unwrap();
    let held = wf.run_background("hold").await.unwrap();
    let done = wf.run("go").await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    wait_until(
        Duration::from_secs(10),
        "retention to delete the finished run",
        || {
            let engine = engine.clone();
            async move { engine.get_run(done.run_id).await.unwrap().is_none() }
        },
    )
    .await;
    assert!(stored(&engine, done.run_id).await.is_empty());
    // The unfinished run is untouched.
    assert!(engine.get_run(held.run_id).await.unwrap().is_some());
    gate.add_permits(1);
}

both_backends!(
    retention_deletes_old_finished_runs_only,
    concurrency_limit_keeps_the_rest_pending,
    two_executors_never_run_the_same_run,
    a_dead_executors_runs_resume_elsewhere_from_their_last_step,
    recovery_limit_fails_the_run_explicitly,
    interrupted_foreground_runs_fail_instead_of_hanging,
    shutdown_hands_running_runs_back_at_once,
);
