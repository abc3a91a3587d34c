//! How `kern`'s client commands fail and end: a closed standard output is a quiet exit (not
//! a panic), ordinary errors are one line without a backtrace even with `RUST_BACKTRACE=1`,
//! a database that does not exist is refused (and not created) except by the commands that
//! create one, and `db purge` deletes finished runs.

mod cli_support;

use cli_support::*;
use kern::store::{now_millis, ComponentKind, NewRun, RunStatus};
use kern_testkit::{both_backends, Backend, TestDb};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// `kern runs list | head -1`: the reader goes away after one line, `kern` gets a broken
/// pipe on a later write, and ends quietly with status 0 (no panic, no 101).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_pipe_ends_the_output_quietly() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    // More output than a pipe holds (64 KiB), so that `kern` is still writing when the
    // reader leaves: 1000 rows of about 110 columns.
    let runs = (0..1000).map(|i| {
        let store = db.store.clone();
        async move {
            let input = serde_json::json!({ "input": format!("{i:04} {}", "x".repeat(60)) });
            let run = NewRun::new(ComponentKind::Workflow, "echo", "s", input);
            store.create_run(run).await.unwrap();
        }
    });
    futures::future::join_all(runs).await;
    let mut child = kern_cmd(&db.url, &["runs", "list", "--limit", "1000"])
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // the reader is dropped here: the pipe closes
    assert!(first.starts_with("RUN ID"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "");
}

/// Errors are `error: <message>` and status 1, with no backtrace even when asked for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_are_one_line_without_a_backtrace() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let unknown = kern::store::new_run_id().to_string();
    for args in [["runs", "get", &unknown], ["runs", "watch", &unknown]] {
        let out = kern_cmd(&db.url, &args)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stderr, format!("error: run {unknown} not found\n"));
    }
    let out = kern_cmd(&db.url, &["runs", "get", "not-a-uuid"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad id is a usage error");
}

/// A mistyped SQLite path is refused by client commands, naming it and saying how to create
/// a database; nothing is created. `db migrate` creates it.
#[test]
fn a_database_that_does_not_exist_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo").join("kern.db");
    let db = missing.display().to_string();
    let id = kern::store::new_run_id().to_string();
    let client_commands: [&[&str]; 4] = [
        &["runs", "list"],
        &["runs", "get", &id],
        &["runs", "watch", &id],
        &["db", "purge", "--older-than", "30d"],
    ];
    for args in client_commands {
        let (code, stdout, stderr) = kern(&db, args);
        assert_eq!(code, 1, "{args:?}: {stdout}");
        assert!(
            stderr.starts_with(&format!("error: no database at {db}")),
            "{stderr}"
        );
        assert!(stderr.contains("db migrate"), "{stderr}");
        assert!(
            !missing.parent().unwrap().exists(),
            "{args:?} created the directory"
        );
    }
    let (code, stdout, _) = kern(&db, &["db", "migrate"]);
    assert_eq!((code, stdout.as_str()), (0, "database ready (sqlite)\n"));
    assert!(missing.exists());
    let (code, stdout, _) = kern(&db, &["runs", "list"]);
    assert_eq!((code, stdout.as_str()), (0, "no runs\n"));
}

async fn purge_deletes_finished_runs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let f = flows(&engine);
    for i in 0..5 {
        f.echo.run(format!("run {i}")).await.unwrap();
    }
    // A run nobody executes: pending, not finished, so never purged.
    let input = serde_json::json!({ "input": "later" });
    let waiting = db
        .store
        .create_run(NewRun::new(ComponentKind::Workflow, "nobody", "s", input))
        .await
        .unwrap();
    let (code, stdout, stderr) = kern(&db.url, &["db", "purge", "--older-than", "1h"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("deleted 0 finished runs (finished before "),
        "{stdout}"
    );
    // The clock moves on: every finished run is older than 0 s.
    let before = now_millis();
    kern_testkit::wait_until(TIMEOUT, "the clock to pass the runs", || async {
        now_millis() > before
    })
    .await;
    let (code, stdout, stderr) = kern(&db.url, &["db", "purge", "--older-than", "0s"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("deleted 5 finished runs"), "{stdout}");
    assert_eq!(stderr, "", "no progress line when stderr is not a terminal");
    let left = engine.get_run(waiting.run_id).await.unwrap().unwrap();
    assert_eq!(left.status, RunStatus::Pending);
}

both_backends!(purge_deletes_finished_runs);
