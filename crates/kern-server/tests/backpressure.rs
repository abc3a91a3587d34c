//! Backpressure over real HTTP on loopback, on both databases: a background start beyond
//! the queue's limit (the whole database's, or a component's) answers 429 with `Retry-After`
//! (an estimate from recent completions) and `{"code": "queue_full"}`; foreground runs are not
//! limited; the limit frees up as runs complete.

mod common;

use common::*;
use kern_core::engine::Engine;
use kern_core::store::{RunId, RunStatus};
use kern_testkit::{both_backends, wait_until, Backend, TestDb};
use serde_json::Value;
use std::time::Duration;

fn key() -> String {
    format!("k-{}", uuid::Uuid::now_v7().simple())
}

async fn server(backend: Backend, build: impl FnOnce(&TestDb) -> Engine) -> Option<TestServer> {
    let db = TestDb::new(backend).await?;
    let engine = build(&db);
    register(&engine);
    Some(TestServer::serve(engine, Some(db), Opts::default()).await)
}

fn executor(db: &TestDb) -> kern_core::engine::EngineBuilder {
    Engine::builder(db.store.clone()).poll_interval(Duration::from_millis(50))
}

async fn start(s: &TestServer, workflow: &str, message: &str) -> reqwest::Response {
    s.create(
        workflow,
        &[
            ("message", message),
            ("stream", "false"),
            ("background", "true"),
        ],
    )
    .await
}

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

fn id_of(v: &Value) -> RunId {
    v["run_id"].as_str().unwrap().parse().unwrap()
}

async fn a_full_queue_answers_429_and_frees_up_as_runs_complete(backend: Backend) {
    // A server that executes nothing: its starts stay pending until an executor comes.
    let Some(s) = server(backend, |db| {
        executor(db).executor(false).max_pending(2).build()
    })
    .await
    else {
        return;
    };
    let first = key();
    for m in [&first, &key()] {
        assert_eq!(start(&s, "echo", m).await.status(), 202);
    }
    let resp = start(&s, "echo", "one too many").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        retry_after(&resp),
        1,
        "no run finished yet: the 1 s default"
    );
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "queue_full");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("2 runs are pending") && detail.contains("limit 2"),
        "{detail}"
    );
    // Background streaming starts are queued too: refused the same way, before any stream.
    let resp = s
        .create(
            "count",
            &[("message", "1"), ("stream", "true"), ("background", "true")],
        )
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(body(resp).await.1["code"], "queue_full");
    // Foreground runs never wait in the queue: not limited.
    let (status, run) = body(
        s.create("echo", &[("message", "now"), ("stream", "false")])
            .await,
    )
    .await;
    assert_eq!((status, run["status"].as_str()), (200, Some("COMPLETED")));
    assert_eq!(s.engine.store().count_pending(None).await.unwrap(), 2);

    // An executor sharing the database drains the queue; the limit frees up.
    let db = s.db.as_ref().unwrap();
    let worker = executor(db).build();
    register(&worker);
    wait_until(TIMEOUT, "the queue to drain", || {
        let store = s.engine.store().clone();
        async move { store.count_pending(None).await.unwrap() == 0 }
    })
    .await;
    let resp = start(&s, "echo", &key()).await;
    assert_eq!(resp.status(), 202);
    let run_id = id_of(&resp.json().await.unwrap());
    assert_eq!(
        s.wait_status(run_id, |st| st.is_terminal()).await.status,
        RunStatus::Completed
    );

    // Full again, now with throughput to go by: 3 runs finished in the last 30 s, so one
    // place frees up in about 30 / 3 = 10 s.
    worker.shutdown(Duration::from_secs(5)).await;
    for m in [key(), key()] {
        assert_eq!(start(&s, "echo", &m).await.status(), 202);
    }
    // The estimate's throughput reading is kept for a second: wait for a fresh one.
    wait_until(TIMEOUT, "a Retry-After from recent completions", || {
        let s = &s;
        async move {
            let resp = start(s, "echo", "refused").await;
            assert_eq!(resp.status(), 429);
            retry_after(&resp) == 10
        }
    })
    .await;
    s.shutdown().await;
}

async fn each_component_has_its_own_limit(backend: Backend) {
    let Some(s) = server(backend, |db| {
        executor(db)
            .executor(false)
            .max_pending_per_component(1)
            .build()
    })
    .await
    else {
        return;
    };
    assert_eq!(start(&s, "echo", &key()).await.status(), 202);
    let resp = start(&s, "echo", &key()).await;
    assert_eq!(resp.status(), 429);
    assert!(retry_after(&resp) >= 1);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "queue_full");
    assert!(
        v["detail"].as_str().unwrap().contains("workflow:echo"),
        "{v}"
    );
    // Another component's queue has room.
    assert_eq!(start(&s, "count", "1 1").await.status(), 202);
    assert_eq!(start(&s, "count", "1 1").await.status(), 429);
    s.shutdown().await;
}

both_backends!(
    a_full_queue_answers_429_and_frees_up_as_runs_complete,
    each_component_has_its_own_limit,
);
