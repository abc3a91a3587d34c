//! The crash test: a child process runs background workflows and is killed with SIGKILL in
//! the middle of a step; a new process on the same database completes them. Completed steps
//! are not executed again (proved by side effects on disk) and event indices stay gapless.
//!
//! The child is this same test binary, re-run with `KERN_CRASH_CHILD_URL` set, executing only
//! the `crash_child` test.

use kern_core::engine::Engine;
use kern_core::store::{RunId, RunStatus};
use kern_core::workflow::*;
use kern_testkit::crash::{self, CrashChild};
use kern_testkit::{
    assert_gapless, both_backends, finished, json, names, stored, wait_until, Backend, TestDb,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHILD_URL: &str = "KERN_CRASH_CHILD_URL";
const MARKS: &str = "KERN_CRASH_MARKS";
/// Set in both processes: step two is at-most-once.
const AT_MOST_ONCE: &str = "KERN_CRASH_AT_MOST_ONCE";
const RUNS: usize = 4;

/// Counts an execution of `step` in `run` (a file in `dir`: it survives the kill).
fn mark(dir: &Path, run: RunId, step: &str) {
    crash::mark(dir, &format!("{run}.{step}"));
}

/// How many times `step` ran in `run`, across processes.
fn marks(dir: &Path, run: RunId, step: &str) -> usize {
    crash::marks(dir, &format!("{run}.{step}"))
}

/// Three steps; in the child, step two never finishes (it is where the kill lands).
fn workflow(engine: &Engine, dir: PathBuf, child: bool, at_most_once: bool) -> Workflow {
    let step = |name: &'static str, hang: bool| {
        let dir = dir.clone();
        Step::new(name, move |input| {
            let dir = dir.clone();
            async move {
                mark(&dir, input.run_id(), name);
                // Intermediate output, streamed before the step's result: the run is killed
                // after step two's is durable, so the resumed run emits it again.
                for part in 1..=3 {
                    input.emit_output(format!("{name}:{part}"));
                }
                if hang {
                    std::future::pending::<()>().await;
                }
                Ok(StepOutput::text(format!(
                    "{name}<{}>",
                    input.previous_content_str()
                )))
            }
        })
    };
    Workflow::builder("crashy")
        .step(step("one", false))
        .step(step("two", child).at_most_once(at_most_once))
        .step(step("three", false))
        .db(engine)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return; // Only meaningful as the child of `sigkill_mid_step_loses_nothing`.
    };
    let dir = PathBuf::from(std::env::var(MARKS).unwrap());
    let store = kern_core::store::connect(&url).await.unwrap();
    let engine = Engine::builder(store).lease(Duration::from_secs(1)).build();
    let wf = workflow(
        &engine,
        dir.clone(),
        true,
        std::env::var(AT_MOST_ONCE).is_ok(),
    );
    let mut ids = Vec::new();
    for i in 0..RUNS {
        let run = wf.run_background(format!("job {i}")).await.unwrap();
        crash::report_run(run.run_id);
        ids.push(run.run_id);
    }
    // Every run is inside step two, its outputs durable: the kill will land mid-step.
    wait_until(
        Duration::from_secs(30),
        "every child run to reach step two",
        || async {
            let mut ready = true;
            for id in &ids {
                let outputs = stored(&engine, *id)
                    .await
                    .iter()
                    .filter(|e| e.event_type == "StepOutput" && json(e)["content"] == "two:3")
                    .count();
                ready &= marks(&dir, *id, "two") == 1 && outputs == 1;
            }
            ready
        },
    )
    .await;
    crash::report_ready_and_wait().await
}

/// Starts the child, waits until its runs are inside step two, kills it with SIGKILL; the
/// runs' ids.
fn crash_child_mid_step(db: &TestDb, dir: &Path, at_most_once: bool) -> Vec<RunId> {
    let mut cmd = crash::child_test("crash_child");
    cmd.env(CHILD_URL, &db.url).env(MARKS, dir);
    if at_most_once {
        cmd.env(AT_MOST_ONCE, "1");
    } else {
        cmd.env_remove(AT_MOST_ONCE);
    }
    let mut child = CrashChild::spawn(cmd);
    let ids = child.wait_ready();
    assert_eq!(ids.len(), RUNS);
    child.kill();
    ids
}

/// An at-most-once step interrupted by a crash is not run again: the resumed run fails,
/// saying why.
async fn sigkill_in_an_at_most_once_step_fails_the_run(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ids = crash_child_mid_step(&db, dir.path(), true);
    let engine = Engine::builder(db.reopen().await)
        .lease(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(50))
        .build();
    let _wf = workflow(&engine, dir.path().to_owned(), false, true);
    for id in &ids {
        let run = finished(&engine, *id).await;
        assert_eq!(run.status, RunStatus::Failed);
        let error = run.error.unwrap();
        assert!(
            error.contains("at-most-once") && error.contains("'two'"),
            "{error}"
        );
        assert_eq!(
            marks(dir.path(), *id, "two"),
            1,
            "the at-most-once step ran once"
        );
        assert_eq!(marks(dir.path(), *id, "three"), 0);
    }
}

async fn sigkill_mid_step_loses_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ids = crash_child_mid_step(&db, dir.path(), false);
    for id in &ids {
        let r = db.store.get_run(*id).await.unwrap().unwrap();
        assert_eq!(
            r.status,
            RunStatus::Running,
            "killed mid-step, the run looks running"
        );
    }

    let engine = Engine::builder(db.reopen().await)
        .lease(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(50))
        .build();
    let _wf = workflow(&engine, dir.path().to_owned(), false, false);
    for id in &ids {
        let run = finished(&engine, *id).await;
        assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
        assert_eq!(run.attempt, 2);
        assert!(run
            .content()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("three<two<one<"));
        assert_eq!(
            marks(dir.path(), *id, "one"),
            1,
            "a completed step ran again"
        );
        assert_eq!(
            marks(dir.path(), *id, "two"),
            2,
            "the interrupted step ran once more"
        );
        assert_eq!(marks(dir.path(), *id, "three"), 1);
        let events = stored(&engine, *id).await;
        assert_gapless(&events, 0);
        let n = names(&events);
        assert_eq!(n.iter().filter(|e| *e == "WorkflowStarted").count(), 1);
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event_type == "StepCompleted" && json(e)["step_name"] == "one")
                .count(),
            1
        );
        assert_eq!(n.last().unwrap(), "WorkflowCompleted");
        // The restart is in the log, and it voids step two's first start and outputs: what
        // a client shows is each step's start and outputs once, in order.
        let log: Vec<serde_json::Value> = events.iter().map(json).collect();
        let restarts: Vec<&serde_json::Value> = log
            .iter()
            .filter(|e| e["event"] == "RunRestarted")
            .collect();
        assert_eq!(restarts.len(), 1, "{n:?}");
        assert_eq!(restarts[0]["attempt"], 2);
        let kept = kern_testkit::kept_events(&log);
        let outputs: Vec<&str> = kept
            .iter()
            .filter(|e| e["event"] == "StepOutput")
            .map(|e| e["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            outputs,
            [
                "one:1", "one:2", "one:3", "two:1", "two:2", "two:3", "three:1", "three:2",
                "three:3"
            ]
        );
        let started: Vec<&str> = kept
            .iter()
            .filter(|e| e["event"] == "StepStarted")
            .map(|e| e["step_name"].as_str().unwrap())
            .collect();
        assert_eq!(started, ["one", "two", "three"]);
        // Without the voids, a client would have seen step two twice.
        let all_outputs = log.iter().filter(|e| e["event"] == "StepOutput").count();
        assert_eq!(all_outputs, 12);
    }
}

both_backends!(
    sigkill_mid_step_loses_nothing,
    sigkill_in_an_at_most_once_step_fails_the_run
);
