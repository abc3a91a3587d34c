//! `kern serve`'s logs with stderr redirected to a file, as operators run it: no ANSI escape
//! bytes; with `--log-format json` every line is a JSON object, and the request lines
//! (method, path, status, latency, run id) and the run start and finish lines (run id,
//! component, status, duration) are there with their fields; on SQLite and, when
//! `KERN_TEST_PG_URL` is set, PostgreSQL. `kern --help` documents `KERN_LOG`.

mod common;

use common::{listening_url, terminate, TIMEOUT};
use kern_testkit::wait_for;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `kern serve --demo --port 0` on `db` with stderr into `log`.
fn spawn(db: &str, log: &Path, args: &[&str]) -> Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kern"))
        .args(["--db", db, "serve", "--demo", "--port", "0"])
        .args(args)
        .env_remove("KERN_LOG")
        .env_remove("KERN_LOG_FORMAT")
        .env_remove("KERN_CONFIG")
        .env_remove("KERN_SECURITY_KEY")
        .env_remove("OS_SECURITY_KEY")
        .env_remove("KERN_PORT")
        .env_remove("KERN_HOST")
        .env("TERM", "xterm-256color") // colours would be on if stderr were a terminal
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn kern serve")
}

/// One background `echo` run (polled to its end, by id) and one foreground `fail` run.
async fn workload(url: &str) -> (String, String) {
    let c = reqwest::Client::new();
    let v: Value = c
        .post(format!("{url}/workflows/echo/runs"))
        .form(&[
            ("message", "hello"),
            ("stream", "false"),
            ("background", "true"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let echo = v["run_id"].as_str().unwrap().to_owned();
    wait_for(TIMEOUT, "the echo run to complete", || async {
        let r: Value = c
            .get(format!("{url}/workflows/echo/runs/{echo}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["status"] == "COMPLETED" {
            Ok(())
        } else {
            Err(r)
        }
    })
    .await;
    let v: Value = c
        .post(format!("{url}/workflows/fail/runs"))
        .form(&[("message", "boom"), ("stream", "false")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ERROR");
    (echo, v["run_id"].as_str().unwrap().to_owned())
}

fn assert_no_ansi(text: &str) {
    assert!(
        !text.as_bytes().contains(&0x1b),
        "ANSI escape in a log written to a file:\n{text}"
    );
}

async fn json_logs(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = spawn(db, &log, &["--log-format", "json"]);
    let url = listening_url(&log);
    let (echo, fail) = workload(&url).await;
    terminate(&mut child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_no_ansi(&text);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let with = |msg: &str, f: &dyn Fn(&Value) -> bool| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["message"] == msg && f(l))
            .collect()
    };
    // Requests: method, path, status, latency; the run id when the path names one.
    let created = with("request", &|l| {
        l["method"] == "POST" && l["path"] == "/workflows/echo/runs" && l["status"] == 202
    });
    assert_eq!(created.len(), 1, "{text}");
    assert!(created[0]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(created[0]["target"], "kern_server::access_log");
    let polled = with("request", &|l| {
        l["method"] == "GET" && l["run_id"] == echo.as_str() && l["status"] == 200
    });
    assert!(!polled.is_empty(), "{text}");
    assert!(!text.contains("hello"), "a run's input leaked into the log");
    // Runs: start and finish, with their fields.
    for (run, component, status) in [(&echo, "echo", "completed"), (&fail, "fail", "failed")] {
        let is_run = |l: &Value| l["run_id"] == run.as_str() && l["component"] == component;
        let started = with("run started", &|l| is_run(l) && l["kind"] == "workflow");
        assert_eq!(started.len(), 1, "{run}: {text}");
        assert_eq!(started[0]["attempt"], 1);
        let finished = with("run finished", &|l| is_run(l) && l["status"] == status);
        assert_eq!(finished.len(), 1, "{run}: {text}");
        assert!(finished[0]["duration_ms"].is_u64(), "{}", finished[0]);
        assert_eq!(finished[0]["level"], "INFO");
    }
    let failed = with("run finished", &|l| l["run_id"] == fail.as_str());
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("always fails"));
    // The server's own lines are JSON too.
    assert_eq!(
        with("stopped", &|l| l["target"] == "kern").len(),
        1,
        "{text}"
    );
}

async fn text_logs(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = spawn(db, &log, &[]);
    let url = listening_url(&log);
    let (echo, _fail) = workload(&url).await;
    terminate(&mut child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_no_ansi(&text);
    let finished = text
        .lines()
        .find(|l| l.contains("run finished") && l.contains(&echo))
        .unwrap_or_else(|| panic!("no finish line for {echo}: {text}"));
    assert!(finished.contains(" INFO "), "{finished}");
    assert!(finished.contains("status=\"completed\""), "{finished}");
    assert!(finished.contains("duration_ms="), "{finished}");
    assert!(
        text.lines()
            .any(|l| l.contains("request") && l.contains("path=/workflows/echo/runs")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    json_logs(&dir.path().join("kern.db").display().to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_postgres() {
    let Some(base) = kern_testkit::pg_url() else {
        return;
    };
    json_logs(&kern_testkit::pg_schema_url(&base).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_have_no_colours_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    text_logs(&dir.path().join("kern.db").display().to_string()).await;
}

#[test]
fn help_documents_kern_log() {
    let out = Command::new(env!("CARGO_BIN_EXE_kern"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("KERN_LOG"), "{help}");
    assert!(!help.as_bytes().contains(&0x1b));
    let serve = Command::new(env!("CARGO_BIN_EXE_kern"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let serve = String::from_utf8(serve.stdout).unwrap();
    assert!(serve.contains("--log-format"), "{serve}");
}
