//! `kern serve --max-pending N --max-concurrent-runs N` (429 with `Retry-After` beyond the
//! queue's limit; one run at a time) and `kern runs requeue` from another process, on SQLite
//! and PostgreSQL.

mod common;

use common::*;
use kern::store::{RunId, RunStatus};
use serde_json::Value;
use std::process::Command;

/// `kern --db <db> runs requeue <run_id>`: (success, stdout, stderr).
fn requeue(db: &str, run_id: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kern"))
        .args(["--db", db, "runs", "requeue", run_id])
        .env_remove("KERN_DATABASE_URL")
        .output()
        .expect("run kern runs requeue");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn backpressure_and_requeue_from_the_cli(db: &str) {
    let s = Serve::start(db, &["--max-pending", "1", "--max-concurrent-runs", "1"]);
    // One run at a time: a slow run holds the only slot, the next start waits as pending,
    // and the one after that finds the queue full.
    let slow = s.start_background("count", "60 25").await;
    s.wait_run("count", &slow, |v| v["status"] == "RUNNING")
        .await;
    let waiting = s.start_background("echo", "later").await;
    let resp = s
        .client
        .post(s.url("/workflows/echo/runs"))
        .form(&[
            ("message", "x"),
            ("stream", "false"),
            ("background", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "queue_full");
    let done = s.wait_run("echo", &waiting, is_final).await;
    assert_eq!(done["status"], "COMPLETED");
    let store = kern::store::connect(db).await.unwrap();
    let record = |id: &str| {
        let store = store.clone();
        let id: RunId = id.parse().unwrap();
        async move { store.get_run(id).await.unwrap().unwrap() }
    };
    let (slow_rec, waiting_rec) = (record(&slow).await, record(&waiting).await);
    assert_eq!(slow_rec.status, RunStatus::Completed);
    assert!(
        waiting_rec.started_at.unwrap() >= slow_rec.finished_at.unwrap(),
        "with --max-concurrent-runs 1 the second run starts after the first ends"
    );

    // A failed run, requeued by another process: `kern runs requeue`.
    let failed = s.start_background("fail", "x").await;
    assert_eq!(
        s.wait_run("fail", &failed, is_final).await["status"],
        "ERROR"
    );
    let (ok, stdout, stderr) = requeue(db, &failed);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("requeued {failed}")) && stdout.contains("was failed"),
        "{stdout}"
    );
    assert!(stdout.contains("pending"), "{stdout}");
    // The server claims it and it runs again (the demo's `fail` fails every time).
    let again = s
        .wait_run("fail", &failed, |v| {
            is_final(v) && v["events"].as_array().unwrap().len() > 3
        })
        .await;
    assert_eq!(again["status"], "ERROR");
    assert_log_gapless(&again);
    let names: Vec<&str> = again["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let first_error = names.iter().position(|n| *n == "WorkflowError").unwrap();
    assert_eq!(names[first_error + 1], "RunRequeued", "{names:?}");
    assert_eq!(names.last(), Some(&"WorkflowError"));
    assert_eq!(record(&failed).await.attempt, 2);

    // Not failed or cancelled: refused, saying why; unknown: not found.
    let (ok, _, stderr) = requeue(db, &waiting);
    assert!(!ok);
    assert!(
        stderr.contains("only a failed or cancelled run"),
        "{stderr}"
    );
    let unknown = kern::store::new_run_id().to_string();
    let (ok, _, stderr) = requeue(db, &unknown);
    assert!(!ok);
    assert!(stderr.contains("not found"), "{stderr}");
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    backpressure_and_requeue_from_the_cli(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let Some(base) = kern_testkit::pg_url() else {
        return;
    };
    let db = kern_testkit::pg_schema_url(&base).await;
    backpressure_and_requeue_from_the_cli(&db).await;
}
