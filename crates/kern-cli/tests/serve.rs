//! `kern serve` as a process on SQLite: it serves, and on SIGTERM it stops taking runs and
//! hands unfinished background runs back to the queue, where the next process picks them up.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_background_runs_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start(&db, &["--shutdown-grace", "0s"]);
    let health = s.get("/health").await;
    assert_eq!(health["status"], "ok");
    let workflows = s.get("/workflows").await;
    assert_eq!(workflows.as_array().unwrap().len(), 4);
    let run = s.start_background("count", "30 50").await;
    s.wait_run("count", &run, |v| {
        v["event_count"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    s.terminate();

    // Handed back: pending again, not failed and not stuck running.
    let store = kern::store::connect(&db).await.unwrap();
    let rec = store.get_run(run.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.status, kern::store::RunStatus::Pending);
    assert_eq!(rec.releases, 1);
    drop(store);

    // The next process finishes it, continuing the same log.
    let s = Serve::start(&db, &[]);
    let done = s.wait_run("count", &run, is_final).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_log_gapless(&done);
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_key_guards_the_served_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start(&db, &["--security-key", "abc"]);
    let resp = s.client.get(s.url("/config")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .client
        .get(s.url("/config"))
        .bearer_auth("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.get("/health").await["status"], "ok");
    s.terminate();
}
