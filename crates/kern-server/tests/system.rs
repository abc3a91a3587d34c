//! `/health`, `/config`, `/openapi.json`, component listings (agents and teams included, as soon
//! as components of those kinds are registered), sessions, and authentication.

mod common;

use async_trait::async_trait;
use common::*;
use kern_core::engine::{Component, ComponentOutput, RunContext, RunFailure};
use kern_core::event::EventKind;
use kern_core::store::{ComponentKind, RunStatus};
use kern_testkit::{both_backends, Backend};
use serde_json::{json, Value};
use std::sync::Arc;

/// A stand-in agent: says its input back, as a model would stream it.
struct Parrot;

#[async_trait]
impl Component for Parrot {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Agent
    }
    fn id(&self) -> &str {
        "parrot"
    }
    fn name(&self) -> &str {
        "Parrot"
    }
    fn description(&self) -> Option<&str> {
        Some("Repeats what it hears")
    }
    fn info(&self) -> Value {
        json!({ "model": { "id": "echo-1", "provider": "test" }, "tools": [] })
    }
    async fn execute(&self, ctx: RunContext) -> Result<ComponentOutput, RunFailure> {
        let text = ctx.input().as_str().unwrap_or("").to_owned();
        ctx.emit(EventKind::RunStarted {
            model: "echo-1".into(),
            model_provider: "test".into(),
        });
        for word in text.split(' ') {
            ctx.emit(EventKind::RunContent {
                content: format!("{word} "),
                content_type: "str".into(),
            });
        }
        Ok(ComponentOutput {
            output: json!({ "content": text, "content_type": "str", "metrics": {} }),
            completed: EventKind::RunCompleted {
                content: Some(json!(text)),
                content_type: "str".into(),
                metrics: json!({}),
            },
            pause: None,
        })
    }
}

async fn get(s: &TestServer, path: &str) -> Value {
    let resp = s.client.get(s.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn system_routes_and_components(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    s.engine.register(Arc::new(Parrot)).unwrap();

    let health = get(&s, "/health").await;
    assert_eq!(health["status"], "ok");
    let at = health["instantiated_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == 20, "{at}");

    let config = get(&s, "/config").await;
    assert!(config["os_id"].is_string());
    let db = config["os_database"].as_str().unwrap();
    assert_eq!(config["databases"], json!([db]));
    let ids: Vec<&str> = config["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    for id in kern_server::demo::WORKFLOWS {
        assert!(ids.contains(id), "{ids:?}");
    }
    assert_eq!(config["agents"][0]["id"], "parrot");
    assert_eq!(config["agents"][0]["model"]["provider"], "test");
    assert_eq!(config["teams"], json!([]));
    assert_eq!(config["interfaces"], json!([]));

    let doc = get(&s, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    for kind in ["agents", "teams", "workflows"] {
        let single = &kind[..kind.len() - 1];
        for p in [
            format!("/{kind}"),
            format!("/{kind}/{{{single}_id}}"),
            format!("/{kind}/{{{single}_id}}/runs"),
            format!("/{kind}/{{{single}_id}}/runs/{{run_id}}"),
            format!("/{kind}/{{{single}_id}}/runs/{{run_id}}/cancel"),
            format!("/{kind}/{{{single}_id}}/runs/{{run_id}}/resume"),
        ] {
            assert!(paths.contains_key(&p), "openapi lacks {p}");
        }
    }
    for p in [
        "/health",
        "/config",
        "/openapi.json",
        "/workflows/ws",
        "/sessions",
        "/sessions/{session_id}",
        "/sessions/{session_id}/runs",
        "/sessions/{session_id}/runs/{run_id}",
        "/sessions/{session_id}/rename",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }

    let workflows = get(&s, "/workflows").await;
    let echo = workflows
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "echo")
        .unwrap();
    assert_eq!(echo["name"], "Echo");
    assert!(echo["description"].is_string());
    assert_eq!(echo["db_id"], db);
    let count = get(&s, "/workflows/count").await;
    assert_eq!(count["steps"][0]["name"], "count");
    assert_eq!(count["steps"][1]["name"], "summary");
    assert_eq!(get(&s, "/teams").await, json!([]));

    // The agent routes work for any registered agent: all four modes.
    let parrot = get(&s, "/agents/parrot").await;
    assert_eq!(parrot["tools"], json!({"tools": []}));
    let v: Value = s
        .client
        .post(s.url("/agents/parrot/runs"))
        .form(&[("message", "hello there"), ("stream", "false")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["agent_id"], "parrot");
    assert_eq!(v["agent_name"], "Parrot");
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["content"], "hello there");
    assert!(v.get("step_results").is_none());
    let resp = s
        .client
        .post(s.url("/agents/parrot/runs"))
        .form(&[("message", "a b c")])
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resp).rest().await;
    assert_gapless(&frames, 0);
    let names: Vec<&str> = frames.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "RunStarted",
            "RunContent",
            "RunContent",
            "RunContent",
            "RunCompleted"
        ]
    );
    assert_eq!(frames[0].json()["agent_id"], "parrot");
    let run = s.start_agent_background().await;
    let rec = s.wait_status(run, RunStatus::is_terminal).await;
    assert_eq!(rec.status, RunStatus::Completed);
    let v = get(&s, &format!("/agents/parrot/runs/{run}")).await;
    assert_eq!(v["content"], "bg");
    let list = get(&s, "/agents/parrot/runs?status=completed").await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    s.shutdown().await;
}

impl TestServer {
    async fn start_agent_background(&self) -> kern_core::store::RunId {
        let v: Value = self
            .client
            .post(self.url("/agents/parrot/runs"))
            .json(&json!({"message": "bg", "stream": false, "background": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "PENDING");
        v["run_id"].as_str().unwrap().parse().unwrap()
    }
}

async fn sessions(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let mut ids = vec![];
    for m in ["first question", "second question"] {
        let v: Value = s
            .create(
                "echo",
                &[
                    ("message", m),
                    ("stream", "false"),
                    ("session_id", "S1"),
                    ("user_id", "ann"),
                    ("session_state", r#"{"n":1}"#),
                ],
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(v["run_id"].as_str().unwrap().to_owned());
    }
    s.create(
        "count",
        &[
            ("message", "1 1"),
            ("stream", "false"),
            ("session_id", "S2"),
        ],
    )
    .await;

    let page = get(&s, "/sessions?type=workflow&user_id=ann").await;
    assert_eq!(page["meta"]["total_count"], 1);
    let s1 = &page["data"][0];
    assert_eq!(s1["session_id"], "S1");
    assert_eq!(s1["session_type"], "workflow");
    assert_eq!(s1["workflow_id"], "echo");
    assert_eq!(s1["session_name"], "first question");
    assert_eq!(s1["user_id"], "ann");
    let all = get(&s, "/sessions?limit=1&page=2&sort_order=asc").await;
    assert_eq!(all["meta"]["total_count"], 2);
    assert_eq!(all["meta"]["total_pages"], 2);
    assert_eq!(all["data"][0]["session_id"], "S2");
    let one = get(&s, "/sessions/S1").await;
    assert_eq!(one["session_state"], json!({"n": 1}));
    assert_eq!(one["workflow_name"], "Echo");
    let runs = get(&s, "/sessions/S1/runs").await;
    let got: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids, "oldest first");
    let run = get(&s, &format!("/sessions/S1/runs/{}", ids[1])).await;
    assert_eq!(run["content"], "second question");
    let resp = s
        .client
        .get(s.url(&format!("/sessions/S2/runs/{}", ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Rename (validated first) and delete (refused while a run is going).
    let resp = s
        .client
        .post(s.url("/sessions/S1/rename"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let resp = s
        .client
        .post(s.url("/sessions/S1/rename"))
        .json(&json!({"session_name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["session_name"], "renamed");
    assert_eq!(get(&s, "/sessions/S1").await["session_name"], "renamed");
    let found = get(&s, "/sessions?session_name=RENAM").await;
    assert_eq!(found["meta"]["total_count"], 1, "{found}");
    assert_eq!(found["data"][0]["session_id"], "S1");
    let resp = s
        .client
        .post(s.url("/sessions/nope/rename"))
        .json(&json!({"session_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let key = gate_key();
    let v: Value = s
        .create(
            "gated",
            &[
                ("message", key.as_str()),
                ("stream", "false"),
                ("background", "true"),
                ("session_id", "S3"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let resp = s.client.delete(s.url("/sessions/S3")).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    let v409: Value = resp.json().await.unwrap();
    assert_eq!(v409["code"], "session_has_active_runs");
    gate(&key).add_permits(1);
    let run: kern_core::store::RunId = v["run_id"].as_str().unwrap().parse().unwrap();
    s.wait_status(run, RunStatus::is_terminal).await;
    let resp = s.client.delete(s.url("/sessions/S3")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let resp = s.client.get(s.url("/sessions/S3")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(
        s.engine.get_run(run).await.unwrap().is_none(),
        "its runs are gone"
    );
    s.shutdown().await;
}

both_backends!(system_routes_and_components, sessions);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_key_guards_every_route_but_health() {
    let s = TestServer::start(
        Backend::Sqlite,
        Opts {
            security_key: Some("k3y".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let bare = reqwest::Client::new();
    let resp = bare.get(s.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for path in [
        "/config",
        "/workflows",
        "/openapi.json",
        "/sessions",
        "/nope",
    ] {
        for auth in [None, Some("Bearer wrong"), Some("k3y"), Some("Basic k3y")] {
            let mut req = bare.get(s.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{path} {auth:?}");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["code"], "unauthorized");
        }
    }
    let resp = bare
        .post(s.url("/workflows/echo/runs"))
        .form(&[("message", "m"), ("stream", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // With the key (the test client sends it).
    assert_eq!(
        get(&s, "/workflows").await.as_array().unwrap().len(),
        kern_server::demo::WORKFLOWS.len() + 1 // and `gated`
    );
    let resp = s
        .create("echo", &[("message", "m"), ("stream", "false")])
        .await;
    assert_eq!(resp.status(), 200);
    let config = get(&s, "/config").await;
    assert_eq!(config["auth_mode"], "security_key");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_key_everything_is_open() {
    let s = TestServer::start(Backend::Sqlite, Opts::default())
        .await
        .unwrap();
    let bare = reqwest::Client::new();
    for path in [
        "/health",
        "/config",
        "/workflows",
        "/openapi.json",
        "/sessions",
    ] {
        let resp = bare
            .get(s.url(path))
            .header("authorization", "Bearer whatever")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    s.shutdown().await;
}
