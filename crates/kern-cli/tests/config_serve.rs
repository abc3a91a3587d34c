//! `kern serve --config`: an agent, a team and a workflow declared in TOML, served by the real
//! binary, their model a local fake OpenAI server; the agent runs in all four modes over HTTP.

mod common;

use common::*;
use kern_models::testing::{FakeOpenAi, Scripted};
use kern_testkit::{assert_gapless_payloads, wait_for};
use serde_json::Value;
use std::time::Duration;

fn config(base_url: &str) -> String {
    format!(
        r#"
name = "Config test OS"
model = "openai-compatible:{base_url}#fake-model"

[[agents]]
id = "helper"
name = "Helper"
role = "Answers briefly"
instructions = ["Be brief", "Be kind"]

[[agents]]
id = "second"

[[teams]]
id = "pair"
name = "Pair"
members = ["helper", "second"]
mode = "collaborate"

[[workflows]]
id = "flow"
name = "Flow"
steps = [
  {{ name = "Both", parallel = [ {{ name = "H", agent = "helper" }}, {{ name = "S", agent = "second" }} ] }},
  {{ name = "Together", team = "pair" }},
]
"#
    )
}

fn content(v: &Value) -> &str {
    v["content"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_from_a_config_runs_in_all_four_modes() {
    let fake = FakeOpenAi::start([Scripted::tokens(4, Duration::from_millis(5)).into()]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kern.toml");
    std::fs::write(&cfg, config(&fake.base_url())).unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start_with(&db, &["--config", cfg.to_str().unwrap(), "--demo"], &[]);

    let agents = s.get("/agents").await;
    let ids: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{agents}");
    assert!(ids.contains(&"helper") && ids.contains(&"second"));
    let helper = s.get("/agents/helper").await;
    assert_eq!(helper["name"], "Helper");
    assert_eq!(helper["model"]["id"], "fake-model");
    assert_eq!(s.get("/teams/pair").await["mode"], "collaborate");
    let config = s.get("/config").await;
    assert_eq!(config["name"], "Config test OS");
    // --demo combines with --config.
    assert!(config["workflows"].to_string().contains("\"echo\""));
    let expected = "tok0 tok1 tok2 tok3";

    // 1. Foreground, streaming.
    let resp = s
        .client
        .post(s.url("/agents/helper/runs"))
        .form(&[("message", "hi"), ("stream", "true")])
        .send()
        .await
        .unwrap();
    let frames = sse_frames(resp).await;
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"RunStarted"), "{names:?}");
    assert_eq!(names.last(), Some(&"RunCompleted"), "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "RunContent").count(), 4);
    assert_eq!(content(&frames.last().unwrap().1), expected);

    // 2. Foreground, not streaming: the finished run.
    let resp = s
        .client
        .post(s.url("/agents/helper/runs"))
        .form(&[("message", "hi"), ("stream", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let run: Value = resp.json().await.unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(content(&run), expected);
    assert_eq!(run["agent_id"], "helper");

    // 3. Background, not streaming: 202, then poll to the end.
    let resp = s
        .client
        .post(s.url("/agents/helper/runs"))
        .form(&[
            ("message", "hi"),
            ("stream", "false"),
            ("background", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let started: Value = resp.json().await.unwrap();
    assert_eq!(started["status"], "PENDING");
    let id = started["run_id"].as_str().unwrap();
    let done = wait_for(TIMEOUT, "the agent's background run to end", || async {
        let v = s.get(&format!("/agents/helper/runs/{id}")).await;
        if is_final(&v) {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(content(&done), expected);
    assert_log_gapless(&done);

    // 4. Background, streaming.
    let resp = s
        .client
        .post(s.url("/agents/helper/runs"))
        .form(&[
            ("message", "hi"),
            ("stream", "true"),
            ("background", "true"),
        ])
        .send()
        .await
        .unwrap();
    let frames = sse_frames(resp).await;
    assert_eq!(frames.last().unwrap().0, "RunCompleted");
    assert_gapless_payloads(frames.iter().map(|(_, e)| e), 0);

    // The workflow of agent and team steps declared in the same file.
    let resp = s
        .client
        .post(s.url("/workflows/flow/runs"))
        .form(&[("message", "plan"), ("stream", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let run: Value = resp.json().await.unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps: Vec<&str> = run["step_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step_name"].as_str().unwrap())
        .collect();
    assert!(
        steps.contains(&"Both") && steps.contains(&"Together"),
        "{steps:?}"
    );
    assert_eq!(content(&run), expected);
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_stops_kern_serve_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[agents]]\nid = \"a\"\nmodel = \"anthropic:claude-haiku-4-5\"\n",
    )
    .unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kern"))
        .args(["--db", &db, "serve", "--port", "0", "--config"])
        .arg(&cfg)
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("agent \"a\""), "{err}");
    assert!(err.contains("ANTHROPIC_API_KEY"), "{err}");
    assert!(!err.contains("listening"), "{err}");
}
