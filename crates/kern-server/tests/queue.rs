//! The operator's routes, over real HTTP on loopback, on both databases: `/queue/stats`,
//! `/queue/jobs` (paging, repeatable `status`, the dead-letter list), `/queue/jobs/{run_id}`;
//! requeue of a failed run that then completes from its checkpoints (and of a cancelled one);
//! the admin scope with JWT.

mod common;

use common::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use kern_core::engine::Engine;
use kern_core::store::{RunId, RunStatus};
use kern_core::workflow::{Step, StepError, StepOutput, Workflow};
use kern_server::JwtConfig;
use kern_testkit::{assert_gapless_payloads, both_backends, Backend, TestDb};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How many times each step of the `flaky` workflow ran, by the run's input.
fn executions() -> &'static Mutex<HashMap<(String, &'static str), u32>> {
    static RUNS: OnceLock<Mutex<HashMap<(String, &'static str), u32>>> = OnceLock::new();
    RUNS.get_or_init(Default::default)
}

fn executed(key: &str, step: &'static str) -> u32 {
    executions()
        .lock()
        .unwrap()
        .get(&(key.to_owned(), step))
        .copied()
        .unwrap_or(0)
}

fn count(key: &str, step: &'static str) -> u32 {
    let mut m = executions().lock().unwrap();
    let n = m.entry((key.to_owned(), step)).or_default();
    *n += 1;
    *n
}

/// `flaky`: `prepare`, then `call` (fails on its first execution for an input, succeeds
/// after), then `report`. Counts every execution of every step.
fn register_flaky(engine: &Engine) {
    Workflow::builder("flaky")
        .step(Step::new("prepare", |input| async move {
            count(&input.input_str(), "prepare");
            Ok(StepOutput::text("prepared"))
        }))
        .step(Step::new("call", |input| async move {
            let key = input.input_str();
            if count(&key, "call") == 1 {
                return Err(StepError::msg("the service is down"));
            }
            Ok(StepOutput::text(format!("called for {key}")))
        }))
        .step(Step::new("report", |input| async move {
            count(&input.input_str(), "report");
            Ok(StepOutput::text(format!(
                "report: {}",
                input.previous_content_str()
            )))
        }))
        .db(engine)
        .build()
        .unwrap();
}

fn key() -> String {
    format!("k-{}", uuid::Uuid::now_v7().simple())
}

async fn server(
    backend: Backend,
    build: impl FnOnce(&TestDb) -> Engine,
    opts: Opts,
) -> Option<TestServer> {
    let db = TestDb::new(backend).await?;
    let engine = build(&db);
    register(&engine);
    register_flaky(&engine);
    Some(TestServer::serve(engine, Some(db), opts).await)
}

fn executor(db: &TestDb) -> kern_core::engine::EngineBuilder {
    Engine::builder(db.store.clone()).poll_interval(Duration::from_millis(50))
}

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(s: &TestServer, path: &str) -> (u16, Value) {
    body(s.client.get(s.url(path)).send().await.unwrap()).await
}

async fn post(s: &TestServer, path: &str) -> (u16, Value) {
    body(s.client.post(s.url(path)).send().await.unwrap()).await
}

fn id_of(v: &Value) -> RunId {
    v["run_id"].as_str().unwrap().parse().unwrap()
}

fn job_ids(page: &Value) -> Vec<RunId> {
    page["data"].as_array().unwrap().iter().map(id_of).collect()
}

// ---- the operator's routes ----

async fn stats_and_jobs_show_the_queue(backend: Backend) {
    // One run at a time: a gated run holds the only slot, so later starts stay pending.
    let Some(s) = server(
        backend,
        |db| executor(db).max_concurrent_runs(1).build(),
        Opts::default(),
    )
    .await
    else {
        return;
    };
    let (status, stats) = get(&s, "/queue/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        stats["counts"],
        json!({"pending": 0, "running": 0, "paused": 0, "completed": 0, "failed": 0, "cancelled": 0})
    );
    assert_eq!(stats["oldest_queued_age_seconds"], Value::Null);

    let failed = s.start_background("fail", "x").await;
    s.wait_status(failed, |st| st.is_terminal()).await;
    let done = s.start_background("echo", "y").await;
    s.wait_status(done, |st| st.is_terminal()).await;
    let gate_name = gate_key();
    let gated = s.start_background("gated", &gate_name).await;
    s.wait_status(gated, |st| st == RunStatus::Running).await;
    let waiting = s.start_background("echo", "z").await;
    let cancelled = s.start_background("echo", "w").await;
    let (status, _) = post(&s, &format!("/workflows/echo/runs/{cancelled}/cancel")).await;
    assert_eq!(status, 200);

    let (_, stats) = get(&s, "/queue/stats").await;
    assert_eq!(
        stats["counts"],
        json!({"pending": 1, "running": 1, "paused": 0, "completed": 1, "failed": 1, "cancelled": 1})
    );
    assert!(
        stats["oldest_queued_age_seconds"].as_u64().is_some(),
        "{stats}"
    );
    assert_eq!(stats["limits"]["max_concurrent_runs"], 1);

    // Every job, newest first, without events.
    let (status, page) = get(&s, "/queue/jobs").await;
    assert_eq!(status, 200);
    assert_eq!(
        job_ids(&page),
        vec![cancelled, waiting, gated, done, failed]
    );
    assert_eq!(
        page["meta"],
        json!({"page": 1, "limit": 20, "total_pages": 1, "total_count": 5})
    );
    for job in page["data"].as_array().unwrap() {
        assert!(
            job.get("events").is_none(),
            "a listing embeds no events: {job}"
        );
        assert_eq!(job["id"], job["run_id"]);
        assert_eq!(job["component_type"], "workflow");
        assert_eq!(job["component_id"], job["workflow_id"]);
    }
    let statuses: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["CANCELLED", "PENDING", "RUNNING", "COMPLETED", "ERROR"]
    );
    // Pages.
    let (_, page2) = get(&s, "/queue/jobs?limit=2&page=2").await;
    assert_eq!(job_ids(&page2), vec![gated, done]);
    assert_eq!(
        page2["meta"],
        json!({"page": 2, "limit": 2, "total_pages": 3, "total_count": 5})
    );
    // The dead-letter list, by any name of the status; several statuses.
    for q in ["status=failed", "status=ERROR", "status=Failed"] {
        let (_, dead) = get(&s, &format!("/queue/jobs?{q}")).await;
        assert_eq!(job_ids(&dead), vec![failed], "{q}");
        assert_eq!(dead["meta"]["total_count"], 1);
    }
    for q in [
        "status=failed&status=cancelled",
        "status=ERROR,CANCELLED",
        "status=cancelled&status=ERROR&status=failed",
    ] {
        let (_, page) = get(&s, &format!("/queue/jobs?{q}")).await;
        assert_eq!(job_ids(&page), vec![cancelled, failed], "{q}");
    }
    let (_, queued) = get(&s, "/queue/jobs?status=queued").await;
    assert_eq!(job_ids(&queued), vec![waiting]);
    let (_, oldest_first) = get(&s, "/queue/jobs?sort_order=asc&limit=1").await;
    assert_eq!(job_ids(&oldest_first), vec![failed]);
    let (status, bad) = get(&s, "/queue/jobs?status=bogus").await;
    assert_eq!((status, bad["code"].as_str()), (422, Some("invalid_field")));

    // One job.
    let (status, job) = get(&s, &format!("/queue/jobs/{failed}")).await;
    assert_eq!(status, 200);
    assert_eq!(id_of(&job), failed);
    assert_eq!(job["status"], "ERROR");
    assert!(job["error"].as_str().unwrap().contains("always fails"));
    assert!(job["completed_at"].as_i64().is_some() && job.get("events").is_none());
    for unknown in [
        kern_core::store::new_run_id().to_string(),
        "nope".to_owned(),
    ] {
        let (status, v) = get(&s, &format!("/queue/jobs/{unknown}")).await;
        assert_eq!((status, v["code"].as_str()), (404, Some("run_not_found")));
    }

    gate(&gate_name).add_permits(1);
    s.wait_status(waiting, |st| st.is_terminal()).await;
    let (_, stats) = get(&s, "/queue/stats").await;
    assert_eq!(stats["counts"]["completed"], 3);
    assert_eq!(stats["counts"]["pending"], 0);
    s.shutdown().await;
}

// ---- requeue ----

async fn a_requeued_run_resumes_from_its_checkpoints(backend: Backend) {
    let Some(s) = server(backend, |db| executor(db).build(), Opts::default()).await else {
        return;
    };
    let (hooks, url) = hooks().await;
    let k = key();
    let run_id = {
        let form = [
            ("message", k.as_str()),
            ("stream", "false"),
            ("background", "true"),
            ("webhook_url", url.as_str()),
        ];
        let resp = s.create("flaky", &form).await;
        assert_eq!(resp.status(), 202);
        id_of(&resp.json().await.unwrap())
    };
    let failed = s.wait_status(run_id, |st| st.is_terminal()).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!((executed(&k, "prepare"), executed(&k, "call")), (1, 1));
    let first = wait_hooks(&hooks, 1).await;
    assert_eq!(first[0].0, format!("msg_{run_id}"));
    assert_eq!(first[0].1["type"], "run.error");

    let (status, job) = post(&s, &format!("/queue/jobs/{run_id}/requeue")).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(
        (id_of(&job), job["status"].as_str()),
        (run_id, Some("PENDING"))
    );
    assert_eq!(job["error"], Value::Null);
    let done = s.wait_status(run_id, |st| st.is_terminal()).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(
        done.content().unwrap(),
        &json!(format!("report: called for {k}"))
    );
    // The step that completed before the failure did not run again.
    assert_eq!(
        (
            executed(&k, "prepare"),
            executed(&k, "call"),
            executed(&k, "report")
        ),
        (1, 2, 1)
    );
    // The second outcome is a webhook message of its own (receivers dedupe by webhook-id).
    let got = wait_hooks(&hooks, 2).await;
    assert_eq!(got[1].0, format!("msg_{run_id}_2"));
    assert_eq!(got[1].1["type"], "run.completed");
    assert_eq!(got[1].1["data"]["status"], "COMPLETED");
    let (_, job) = get(&s, &format!("/queue/jobs/{run_id}")).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_u64()),
        (Some("COMPLETED"), Some(2))
    );

    // The run's log: gapless, the old terminal event voided by RunRequeued right after it.
    let (_, run) = get(&s, &format!("/workflows/flaky/runs/{run_id}")).await;
    let events = run["events"].as_array().unwrap();
    assert_gapless_payloads(events, 0);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let error_at = names.iter().position(|n| *n == "WorkflowError").unwrap();
    assert_eq!(names[error_at + 1], "RunRequeued", "{names:?}");
    let requeued = &events[error_at + 1];
    assert_eq!(requeued["previous_status"], "failed");
    assert_eq!(requeued["voided"], json!([[error_at, error_at]]));
    assert_eq!(names.last(), Some(&"WorkflowCompleted"));
    assert_eq!(
        names.iter().filter(|n| **n == "WorkflowCompleted").count(),
        1
    );
    // What a client keeps: the old terminal event is gone, one outcome remains.
    let kept = kern_testkit::kept_events(events);
    assert!(!kept.iter().any(|e| e["event"] == "WorkflowError"));

    // A stream of the whole log goes past the old terminal event to the new one.
    let resp = s
        .client
        .post(s.url(&format!("/workflows/flaky/runs/{run_id}/resume")))
        .form(&[("last_event_index", "-1")])
        .send()
        .await
        .unwrap();
    let mut sse = SseReader::new(resp);
    assert_eq!(sse.next().await.unwrap().name(), "replay");
    let frames = sse.rest().await;
    assert_gapless(&frames, 0);
    assert_eq!(frames.len(), events.len());

    // Completed, running and unknown runs are not requeued.
    let (status, v) = post(&s, &format!("/queue/jobs/{run_id}/requeue")).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("run_not_requeueable"))
    );
    assert!(v["detail"].as_str().unwrap().contains("completed"), "{v}");
    let gate_name = gate_key();
    let gated = s.start_background("gated", &gate_name).await;
    s.wait_status(gated, |st| st == RunStatus::Running).await;
    let (status, v) = post(&s, &format!("/queue/jobs/{gated}/requeue")).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("run_not_requeueable"))
    );
    let unknown = kern_core::store::new_run_id();
    let (status, v) = post(&s, &format!("/queue/jobs/{unknown}/requeue")).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("run_not_found")));
    // A cancelled run is requeued too, and runs to its end.
    let (status, _) = post(&s, &format!("/workflows/gated/runs/{gated}/cancel")).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.wait_status(gated, |st| st.is_terminal()).await.status,
        RunStatus::Cancelled
    );
    let (status, job) = post(&s, &format!("/queue/jobs/{gated}/requeue")).await;
    assert_eq!((status, job["status"].as_str()), (200, Some("PENDING")));
    gate(&gate_name).add_permits(1);
    let again = s.wait_status(gated, |st| st.is_terminal()).await;
    assert_eq!(again.status, RunStatus::Completed, "{:?}", again.error);
    s.shutdown().await;
}

/// Webhook requests received: (webhook-id, body).
type Hooks = Arc<Mutex<Vec<(String, Value)>>>;

/// A local webhook receiver answering 200; its URL.
async fn hooks() -> (Hooks, String) {
    let got: Hooks = Arc::default();
    let state = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                state
                    .lock()
                    .unwrap()
                    .push((id, serde_json::from_str(&body).unwrap()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

async fn wait_hooks(hooks: &Hooks, n: usize) -> Vec<(String, Value)> {
    kern_testkit::wait_until(TIMEOUT, "webhook requests", || async {
        hooks.lock().unwrap().len() >= n
    })
    .await;
    hooks.lock().unwrap().clone()
}

// ---- the admin scope ----

const SECRET: &[u8] = b"test-only-queue-secret";

fn token(claims: Value) -> String {
    let mut claims = claims;
    claims["exp"] = json!(kern_core::store::now_millis() / 1000 + 3600);
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

async fn jwt_callers_need_the_admin_scope(backend: Backend) {
    let opts = Opts {
        jwt: Some(JwtConfig::hs256(SECRET)),
        ..Default::default()
    };
    let Some(s) = server(backend, |db| executor(db).build(), opts).await else {
        return;
    };
    let anyone = reqwest::Client::new();
    let run_id = {
        let resp = anyone
            .post(s.url("/workflows/fail/runs"))
            .bearer_auth(token(json!({"sub": "alice"})))
            .form(&[
                ("message", "x"),
                ("stream", "false"),
                ("background", "true"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        id_of(&resp.json().await.unwrap())
    };
    s.wait_status(run_id, |st| st.is_terminal()).await;
    let routes = [
        ("GET", "/queue/stats".to_owned()),
        ("GET", "/queue/jobs?status=failed".to_owned()),
        ("GET", format!("/queue/jobs/{run_id}")),
        ("POST", format!("/queue/jobs/{run_id}/requeue")),
    ];
    let call = |method: &'static str, path: &str, bearer: Option<String>| {
        let mut req = match method {
            "GET" => anyone.get(s.url(path)),
            _ => anyone.post(s.url(path)),
        };
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        async move { body(req.send().await.unwrap()).await }
    };
    // The run's own user, and a token whose scopes do not name admin: 403 forbidden.
    for claims in [
        json!({"sub": "alice"}),
        json!({"sub": "alice", "scopes": ["runs:read", "administrator"]}),
        json!({"sub": "alice", "scope": "openid profile"}),
    ] {
        for (method, path) in &routes {
            let (status, v) = call(method, path, Some(token(claims.clone()))).await;
            assert_eq!(
                (status, v["code"].as_str()),
                (403, Some("forbidden")),
                "{method} {path} {claims}"
            );
        }
    }
    // No credentials at all: 401.
    let (status, v) = call("GET", "/queue/stats", None).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("unauthorized")));
    // Admin tokens, in either claim and either form.
    for claims in [
        json!({"sub": "ops", "scopes": ["admin"]}),
        json!({"sub": "ops", "scopes": "read admin"}),
        json!({"sub": "ops", "scope": "openid agent_os:admin"}),
    ] {
        let (status, stats) = call("GET", "/queue/stats", Some(token(claims.clone()))).await;
        assert_eq!(status, 200, "{claims}");
        assert_eq!(stats["counts"]["failed"], 1);
        // Across users: alice's run is listed for the operator.
        let (status, page) = call("GET", "/queue/jobs", Some(token(claims.clone()))).await;
        assert_eq!((status, job_ids(&page)), (200, vec![run_id]));
    }
    let admin = token(json!({"sub": "ops", "scopes": ["admin"]}));
    let (status, job) = call(
        "POST",
        &format!("/queue/jobs/{run_id}/requeue"),
        Some(admin),
    )
    .await;
    assert_eq!((status, job["status"].as_str()), (200, Some("PENDING")));
    s.shutdown().await;

    // With a security key next to JWT, the key is the operator.
    let opts = Opts {
        security_key: Some("ops-key".into()),
        jwt: Some(JwtConfig::hs256(SECRET)),
        ..Default::default()
    };
    let Some(s) = server(backend, |db| executor(db).build(), opts).await else {
        return;
    };
    let (status, _) = get(&s, "/queue/stats").await; // s.client sends the key
    assert_eq!(status, 200);
    let (status, v) = body(
        reqwest::Client::new()
            .get(s.url("/queue/jobs"))
            .bearer_auth(token(json!({"sub": "bob"})))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (403, Some("forbidden")));
    s.shutdown().await;
}

both_backends!(
    stats_and_jobs_show_the_queue,
    a_requeued_run_resumes_from_its_checkpoints,
    jwt_callers_need_the_admin_scope,
);
