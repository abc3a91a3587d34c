//! The crash test: a child process runs background workflows and is killed with SIGKILL in
//! the middle of a step; a new process on the same database completes them. Completed steps
//! are not executed again (proved by side effects on disk) and event indices stay gapless.
//!
//! The child is this same test binary, re-run with `KERN_CRASH_CHILD_URL` set, executing only
//! the `crash_child` test.

mod common;

use common::*;
use kern_core::engine::Engine;
use kern_core::store::{RunId, RunStatus};
use kern_core::workflow::*;
use kern_testkit::{both_backends, Backend, TestDb};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_URL: &str = "KERN_CRASH_CHILD_URL";
const MARKS: &str = "KERN_CRASH_MARKS";
/// Set in both processes: step two is at-most-once.
const AT_MOST_ONCE: &str = "KERN_CRASH_AT_MOST_ONCE";
const RUNS: usize = 4;

/// Appends one line to `<dir>/<run>.<step>`: a side effect that counts executions.
fn mark(dir: &Path, run: RunId, step: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{run}.{step}")))
        .unwrap();
    writeln!(f, "ran").unwrap();
    f.sync_all().unwrap();
}

fn marks(dir: &Path, run: RunId, step: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{run}.{step}")))
        .map(|s| s.lines().count())
        .unwrap_or(0)
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
        println!("RUN {}", run.run_id);
        ids.push(run.run_id);
    }
    // Every run is inside step two, its outputs durable: the kill will land mid-step.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = false;
    while !ready {
        ready = true;
        for id in &ids {
            let outputs = stored(&engine, *id)
                .await
                .iter()
                .filter(|e| e.event_type == "StepOutput" && json(e)["content"] == "two:3")
                .count();
            ready &= marks(&dir, *id, "two") == 1 && outputs == 1;
        }
        assert!(
            Instant::now() < deadline,
            "child runs never reached step two"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("READY");
    std::io::stdout().flush().unwrap();
    std::future::pending::<()>().await;
}

/// Kills the child if the test fails before it does.
struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the child, waits until its runs are inside step two, kills it with SIGKILL; the
/// runs' ids.
fn crash_child_mid_step(db: &TestDb, dir: &Path, at_most_once: bool) -> Vec<RunId> {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, &db.url)
        .env(MARKS, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if at_most_once {
        cmd.env(AT_MOST_ONCE, "1");
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let mut ids: Vec<RunId> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        if let Some((_, id)) = line.split_once("RUN ") {
            ids.push(id.trim().parse().unwrap());
        } else if line.ends_with("READY") {
            break;
        }
    }
    assert_eq!(ids.len(), RUNS);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
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
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, &db.url)
        .env_remove(AT_MOST_ONCE)
        .env(MARKS, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut ids: Vec<RunId> = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child reports READY");
        // The test harness may print "test crash_child ... " on the same line.
        if let Some((_, id)) = line.split_once("RUN ") {
            ids.push(id.trim().parse().unwrap());
        } else if line.ends_with("READY") {
            break;
        }
    }
    assert_eq!(ids.len(), RUNS);
    child.0.kill().unwrap(); // SIGKILL: no destructor, no release, no final write.
    child.0.wait().unwrap();
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
