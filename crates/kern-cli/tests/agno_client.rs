//! Agno's own Python client (`agno.client.AgentOSClient` from the `agno` package, 3.1.10)
//! against `kern serve`: it lists components, runs an agent and a workflow, streams both, runs
//! them in the background and polls them, and cancels one (`tests/agno_client.py`).
//!
//! Needs a Python with agno: `KERN_AGNO_PYTHON` (scripts/test sets it from `scripts/agno-venv`).
//! Without it the test skips with a notice, unless `KERN_REQUIRE_AGNO=1`.

mod common;

use common::*;
use kern_models::testing::{FakeOpenAi, Scripted};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agnos_python_client_works_against_kern_serve() {
    let python = match std::env::var("KERN_AGNO_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("KERN_REQUIRE_AGNO").as_deref() != Ok("1"),
                "KERN_REQUIRE_AGNO=1 but KERN_AGNO_PYTHON is not set (run scripts/agno-venv)"
            );
            eprintln!(
                "SKIPPED agnos_python_client_works_against_kern_serve: set KERN_AGNO_PYTHON \
                 (scripts/agno-venv prints one) to run Agno's client against kern serve"
            );
            return;
        }
    };
    let fake = FakeOpenAi::start([Scripted::tokens(3, Duration::from_millis(2)).into()]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[agents]]\nid = \"assistant\"\nname = \"Assistant\"\nmodel = \"openai-compatible:{}#fake-model\"\ninstructions = \"Be brief\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start_with(&db, &["--config", cfg.to_str().unwrap(), "--demo"], &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agno_client.py");
    let child = tokio::process::Command::new(&python)
        .arg(script)
        .arg(&s.base)
        .arg("assistant")
        .env("PYTHONUNBUFFERED", "1")
        .env("AGNO_TELEMETRY", "false")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), child)
        .await
        .expect("the Python client finishes within 180 s")
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- agno_client.py stdout ---\n{stdout}");
    println!("--- agno_client.py stderr ---\n{stderr}");
    assert!(
        out.status.success(),
        "agno_client.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("ALL OK"), "{stdout}");
    s.terminate();
}
