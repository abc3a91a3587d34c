//! `kern bench` against a real `kern serve --demo`: background and stream modes, JSON report,
//! a bearer key, and failures counted by kind.

mod common;

use common::*;
use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kern"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .env_remove("KERN_BENCH_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drives_kern_serve_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start(&db, &["--security-key", "k"]);
    let base = s.base.clone();
    let r = tokio::task::spawn_blocking(move || {
        bench(&[
            "--url",
            &base,
            "-n",
            "40",
            "-c",
            "8",
            "--key",
            "k",
            "--poll-interval",
            "10",
        ])
    })
    .await
    .unwrap();
    assert_eq!(r["completed"], 40, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["mode"], "background");
    assert!(r["runs_per_sec"].as_f64().unwrap() > 0.0);
    assert!(r["start_latency_ms"]["p99"].as_f64().unwrap() > 0.0);

    let base = s.base.clone();
    let r = tokio::task::spawn_blocking(move || {
        bench(&[
            "--url", &base, "-n", "20", "-c", "4", "--key", "k", "--mode", "stream",
        ])
    })
    .await
    .unwrap();
    assert_eq!(r["completed"], 20, "{r}");
    // bench3: WorkflowStarted, 3 × (StepStarted, StepCompleted), WorkflowCompleted at least.
    assert!(r["events"].as_u64().unwrap() >= 20 * 8, "{r}");
    assert!(r["events_per_sec"].as_f64().unwrap() > 0.0);

    // Failures are counted by kind: a failing workflow, and a wrong key.
    let base = s.base.clone();
    let r = tokio::task::spawn_blocking(move || {
        bench(&[
            "--url",
            &base,
            "--id",
            "fail",
            "-n",
            "3",
            "-c",
            "3",
            "--key",
            "k",
            "--poll-interval",
            "10",
        ])
    })
    .await
    .unwrap();
    assert_eq!(r["failures"]["run_ERROR"], 3, "{r}");
    let base = s.base.clone();
    let r = tokio::task::spawn_blocking(move || {
        bench(&["--url", &base, "-n", "2", "-c", "1", "--key", "wrong"])
    })
    .await
    .unwrap();
    assert_eq!(r["failures"]["http_401"], 2, "{r}");
    s.terminate();
}
