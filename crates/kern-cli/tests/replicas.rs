//! Replicas: two `kern serve` processes on one PostgreSQL. A run started through A is polled,
//! cancelled and resumed (catch-up and live tail) through B; a replica killed with SIGKILL has
//! its background runs finished by the other.
//!
//! The processes are the real binary (`CARGO_BIN_EXE_kern`, which is why these tests live in
//! kern-cli). Each test gets its own schema on the server `KERN_TEST_PG_URL` names.

mod common;

use common::*;
use kern_testkit::assert_gapless_payloads;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_replica_serves_any_run_and_finishes_a_dead_ones_runs() {
    let Some(base) = kern_testkit::pg_url() else {
        return;
    };
    let db = kern_testkit::pg_schema_url(&base).await;
    let flags = ["--lease", "2s", "--shutdown-grace", "0s"];
    let a = Serve::start(&db, &flags);

    // Runs that only A can claim (B is not up yet): A executes them, and will die with them.
    let mut doomed = vec![];
    for _ in 0..3 {
        doomed.push(a.start_background("count", "40 100").await);
    }
    for id in &doomed {
        a.wait_run("count", id, |v| v["event_count"].as_u64().unwrap_or(0) >= 3)
            .await;
    }
    let b = Serve::start(&db, &flags);

    // Started through A, polled and resumed through B: catch-up, then the live tail.
    let run = a.start_background("count", "20 100").await;
    let running = b
        .wait_run("count", &run, |v| {
            v["status"] == "RUNNING" && v["event_count"].as_u64().unwrap() >= 4
        })
        .await;
    assert_eq!(running["workflow_id"], "count");
    let resp = b
        .client
        .post(b.url(&format!("/workflows/count/runs/{run}/resume")))
        .form(&[("last_event_index", "1")])
        .send()
        .await
        .unwrap();
    let frames = sse_frames(resp).await;
    assert_eq!(frames[0].0, "catch_up", "{:?}", frames[0]);
    let missed = frames[0].1["missed_events"].as_u64().unwrap();
    assert!(missed >= 2);
    let sub = frames
        .iter()
        .position(|(n, _)| n == "subscribed")
        .expect("subscribed");
    assert_eq!(sub as u64, 1 + missed);
    let events: Vec<&serde_json::Value> = frames
        .iter()
        .filter(|(n, _)| n != "catch_up" && n != "subscribed")
        .map(|(_, d)| d)
        .collect();
    assert_gapless_payloads(events.iter().copied(), 2);
    assert_eq!(events.last().unwrap()["event"], "WorkflowCompleted");
    let done = a.wait_run("count", &run, is_final).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_log_gapless(&done);

    // Started through A, cancelled through B.
    let run = a.start_background("count", "100000 50").await;
    b.wait_run("count", &run, |v| v["status"] == "RUNNING")
        .await;
    let resp = b
        .client
        .post(b.url(&format!("/workflows/count/runs/{run}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cancelled = a.wait_run("count", &run, is_final).await;
    assert_eq!(cancelled["status"], "CANCELLED");

    // A dies mid-run: B takes its runs over once their leases expire and finishes them.
    for id in &doomed {
        let v = b.get(&format!("/workflows/count/runs/{id}")).await;
        assert_eq!(v["status"], "RUNNING", "still running on A before the kill");
    }
    a.kill();
    for id in &doomed {
        let v = b.wait_run("count", id, is_final).await;
        assert_eq!(v["status"], "COMPLETED", "{v}");
        assert_eq!(v["content"], "counted to 40");
        assert_log_gapless(&v);
    }
    b.terminate();
}
