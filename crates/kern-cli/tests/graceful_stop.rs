//! A stop is not a failure (design invariant 9): `kern serve` stopped with SIGTERM again and
//! again while background workflows of a team step then an agent step are in flight hands
//! every unfinished run back, and the next start finishes them all: none ends `ERROR`, and
//! each resumed run's log voids the work it redid (the joined streamed answers equal the
//! final ones).
//!
//! The server is the real binary with a real config; the model is a local fake OpenAI server
//! that streams slowly, so that every stop finds runs in every phase (a member's model turn,
//! the leader's, between steps, starting the agent step's child run).

mod common;

use common::*;
use kern_models::testing::{FakeOpenAi, Scripted};
use std::time::Duration;

const RUNS: usize = 60;
const STOPS: usize = 5;

fn config(base_url: &str) -> String {
    format!(
        r#"
model = "openai-compatible:{base_url}#fake-model"

[[agents]]
id = "researcher"

[[agents]]
id = "critic"

[[agents]]
id = "writer"

[[teams]]
id = "research"
members = ["researcher", "critic"]
mode = "collaborate"

[[workflows]]
id = "content"
steps = [
  {{ name = "Research", team = "research" }},
  {{ name = "Write", agent = "writer" }},
]
"#
    )
}

async fn sigterm_loop(db: &str) {
    // Every model turn streams 25 tokens 40 ms apart (a second); a run makes four
    // turns (two members, the leader, the writer).
    let fake = FakeOpenAi::start([Scripted::tokens(25, Duration::from_millis(40)).into()]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kern.toml");
    std::fs::write(&cfg, config(&fake.base_url())).unwrap();
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--shutdown-grace",
        "2s",
        "--lease",
        "3s",
    ];

    let mut server = Serve::start_with(db, &args, &[]);
    let mut runs = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        runs.push(
            server
                .start_background("content", &format!("topic {i}"))
                .await,
        );
    }
    for stop in 0..STOPS {
        // Let the runs get somewhere (the first stop comes while most are in their first
        // step; later ones while resumed runs are mid-way), then stop and start again.
        tokio::time::sleep(Duration::from_millis(300 + 250 * stop as u64)).await;
        server.terminate();
        server = Serve::start_with(db, &args, &[]);
    }

    let mut failed = Vec::new();
    let mut restarts = 0;
    for id in &runs {
        let done = server
            .wait_run_for("content", id, Duration::from_secs(120), is_final)
            .await;
        assert_log_gapless(&done);
        if done["status"] != "COMPLETED" {
            let last = done["events"].as_array().and_then(|e| e.last()).cloned();
            failed.push(format!(
                "{id}: {} {}",
                done["status"],
                last.unwrap_or_default()
            ));
        }
        restarts += kern_testkit::assert_joined_content(done["events"].as_array().unwrap());
        let steps: Vec<&str> = done["step_results"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["step_name"].as_str()).collect())
            .unwrap_or_default();
        if done["status"] == "COMPLETED" {
            assert_eq!(steps, ["Research", "Write"], "{id}");
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {RUNS} runs did not complete after {STOPS} graceful stops:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        restarts > 0,
        "no run was handed back and resumed: the stops found nothing in flight"
    );
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_loop_completes_every_run_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    sigterm_loop(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_loop_completes_every_run_on_postgres() {
    let Some(base) = kern_testkit::pg_url() else {
        return;
    };
    let db = kern_testkit::pg_schema_url(&base).await;
    sigterm_loop(&db).await;
}
