//! Test support: real `kern serve` processes (the binary built for this package's tests,
//! `CARGO_BIN_EXE_kern`), an HTTP client, and an SSE reader.
#![allow(dead_code)]

use futures::StreamExt;
use kern_testkit::{assert_gapless_payloads, wait_for, wait_for_blocking};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A running `kern serve` process.
pub struct Serve {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl Serve {
    /// Starts `kern serve --demo --port 0` on `db` with extra `args`, and waits until it
    /// listens.
    pub fn start(db: &str, args: &[&str]) -> Self {
        let mut all = vec!["--demo"];
        all.extend_from_slice(args);
        Self::start_with(db, &all, &[])
    }

    /// Starts `kern serve --port 0` on `db` with `args` (no `--demo` unless given) and extra
    /// environment variables, and waits until it listens.
    pub fn start_with(db: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kern"))
            .args(["--db", db, "serve", "--port", "0"])
            .args(args)
            .envs(envs.iter().copied())
            .env_remove("KERN_CONFIG")
            .env_remove("KERN_JWT_SECRET")
            .env_remove("KERN_JWT_PUBLIC_KEY")
            .env_remove("KERN_WEBHOOK_URL")
            .env_remove("KERN_WEBHOOK_SECRET")
            .env_remove("KERN_HOST")
            .env_remove("KERN_PORT")
            .env_remove("KERN_SECURITY_KEY")
            .env_remove("AGENT_OS_HOST")
            .env_remove("AGENT_OS_PORT")
            .env_remove("OS_SECURITY_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kern serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Read stderr to the end (so the child never blocks on a full pipe).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[kern serve] {line}");
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap().to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        let base = rx
            .recv_timeout(TIMEOUT)
            .expect("kern serve announces its address");
        Self {
            child,
            base,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) {
        terminate(&mut self.child);
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub async fn get(&self, path: &str) -> Value {
        let resp = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.json().await.unwrap()
    }

    /// Starts a background run; returns its id.
    pub async fn start_background(&self, workflow: &str, message: &str) -> String {
        let resp = self
            .client
            .post(self.url(&format!("/workflows/{workflow}/runs")))
            .form(&[
                ("message", message),
                ("stream", "false"),
                ("background", "true"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let v: Value = resp.json().await.unwrap();
        v["run_id"].as_str().unwrap().to_owned()
    }

    /// Polls a run until `f` holds for it (for up to [`TIMEOUT`]).
    pub async fn wait_run(
        &self,
        workflow: &str,
        run_id: &str,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_run_for(workflow, run_id, TIMEOUT, f).await
    }

    /// Polls a run until `f` holds for it, for up to `timeout`.
    pub async fn wait_run_for(
        &self,
        workflow: &str,
        run_id: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/workflows/{workflow}/runs/{run_id}");
        wait_for(timeout, &format!("run {run_id}"), || async {
            let v = self.get(&path).await;
            if f(&v) {
                Ok(v)
            } else {
                Err(format!("status {}", v["status"]))
            }
        })
        .await
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn is_final(v: &Value) -> bool {
    ["COMPLETED", "ERROR", "CANCELLED"].contains(&v["status"].as_str().unwrap_or(""))
}

/// Asserts a run's stored events (as served in its record) have indices 0, 1, 2, ….
pub fn assert_log_gapless(run: &Value) {
    assert_gapless_payloads(run["events"].as_array().unwrap(), 0);
}

/// Sends SIGTERM to a `kern serve` process and waits (up to [`TIMEOUT`]) for a clean exit.
pub fn terminate(child: &mut Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let status = wait_for_blocking(TIMEOUT, "kern serve to stop", || {
        child.try_wait().unwrap().ok_or("running")
    });
    assert!(status.success(), "kern serve exited with {status}");
}

/// Waits (up to [`TIMEOUT`]) until the log of a `kern serve` (its stderr, in a file) names
/// the address it listens on, and returns it (`http://127.0.0.1:<port>`), in the text and the
/// JSON log formats.
pub fn listening_url(log: &Path) -> String {
    wait_for_blocking(TIMEOUT, "kern serve to listen", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // Only a whole line: the server may be writing it.
        match text
            .split("listening on ")
            .nth(1)
            .filter(|rest| rest.contains('\n'))
        {
            Some(rest) => Ok(rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect()),
            None => Err(text),
        }
    })
}

/// Non-comment SSE frames of a response: (event name, data JSON).
pub async fn sse_frames(resp: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut out = vec![];
    loop {
        while let Some(pos) = buf.find("\n\n") {
            let block: String = buf.drain(..pos + 2).collect();
            let mut name = String::new();
            let mut data = None;
            for line in block.trim_end().lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap());
                }
            }
            if let Some(d) = data {
                out.push((name, d));
            }
        }
        match tokio::time::timeout(TIMEOUT, stream.next())
            .await
            .expect("SSE in time")
        {
            Some(chunk) => buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            None => return out,
        }
    }
}
