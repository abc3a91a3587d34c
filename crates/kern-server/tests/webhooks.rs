//! Webhooks: a run with a `webhook_url` is reported when it finishes, signed as the Standard
//! Webhooks spec says (verified here with an independent HMAC-SHA256), retried after the
//! receiver fails, and delivered after a server restart (the outbox is durable); attempts are
//! visible on the run. A run that pauses sends `run.paused`, and its completion after the
//! continue a second message; a delivery retried after the run moved on still reports the
//! outcome it was queued for.

mod common;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use kern_core::engine::Engine;
use kern_testkit::{both_backends, wait_for, Backend};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const KEY: &[u8] = b"kern-webhook-test-key-32-bytes!!";

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    /// Status codes to answer, in order (then 200).
    script: Arc<Mutex<Vec<u16>>>,
    /// If set, the answer to the first request waits until this is notified.
    hold_first: Option<Arc<Notify>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> (Self, String) {
        Self::start_holding(script, None).await
    }

    /// A receiver whose answer to the first request waits for `hold_first`.
    async fn start_holding(script: Vec<u16>, hold_first: Option<Arc<Notify>>) -> (Self, String) {
        let r = Receiver {
            script: Arc::new(Mutex::new(script)),
            hold_first,
            ..Default::default()
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let first = {
                        let mut got = state.got.lock().unwrap();
                        got.push((headers, body));
                        got.len() == 1
                    };
                    if let (true, Some(hold)) = (first, &state.hold_first) {
                        hold.notified().await;
                    }
                    let mut s = state.script.lock().unwrap();
                    let code = if s.is_empty() { 200 } else { s.remove(0) };
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, String)> {
        kern_testkit::wait_until(TIMEOUT, "webhook requests", || async {
            self.got.lock().unwrap().len() >= n
        })
        .await;
        self.got.lock().unwrap().clone()
    }
}

/// Verifies a request the way a Standard Webhooks receiver does, independently of the server.
fn verify(headers: &HeaderMap, body: &str) {
    let id = headers["webhook-id"].to_str().unwrap();
    let ts = headers["webhook-timestamp"].to_str().unwrap();
    let now = kern_core::store::now_millis() / 1000;
    assert!(
        (now - ts.parse::<i64>().unwrap()).abs() < 300,
        "fresh timestamp"
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sigs = headers["webhook-signature"].to_str().unwrap();
    assert!(
        sigs.split(' ').any(|s| s == format!("v1,{expected}")),
        "signature {sigs} does not match v1,{expected}"
    );
}

async fn run_record(s: &TestServer, workflow: &str, run_id: &str) -> Value {
    s.get_json(&format!("/workflows/{workflow}/runs/{run_id}"))
        .await
}

async fn wait_delivery(s: &TestServer, workflow: &str, run_id: &str, status: &str) -> Value {
    wait_for(TIMEOUT, &format!("a {status} delivery"), || async {
        let v = run_record(s, workflow, run_id).await;
        if v["webhook_deliveries"][0]["status"] == status {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await
}

fn opts() -> Opts {
    Opts {
        webhook_secret: Some(secret()),
        ..Default::default()
    }
}

async fn signed_delivery(backend: Backend) {
    let Some(s) = TestServer::start(backend, opts()).await else {
        return;
    };
    let (rx, url) = Receiver::start(vec![]).await;
    let resp = s
        .create(
            "echo",
            &[
                ("message", "ping"),
                ("stream", "false"),
                ("webhook_url", &url),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let run: Value = resp.json().await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let got = rx.wait_for(1).await;
    let (headers, body) = &got[0];
    verify(headers, body);
    assert_eq!(headers["webhook-id"], format!("msg_{run_id}").as_str());
    assert_eq!(headers["content-type"], "application/json");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["type"], "run.completed");
    assert_eq!(v["data"]["run_id"], run_id.as_str());
    assert_eq!(v["data"]["status"], "COMPLETED");
    assert_eq!(v["data"]["content"], "ping");
    let rec = wait_delivery(&s, "echo", &run_id, "delivered").await;
    let d = &rec["webhook_deliveries"][0];
    assert_eq!(rec["webhook_url"], url.as_str());
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["history"][0]["status_code"], 200);
    // A failed run is reported as such; a bad URL is refused up front.
    let resp = s
        .create(
            "fail",
            &[("message", "x"), ("stream", "false"), ("webhook_url", &url)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let got = rx.wait_for(2).await;
    verify(&got[1].0, &got[1].1);
    let v: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(v["type"], "run.error");
    let resp = s
        .create("echo", &[("message", "x"), ("webhook_url", "ftp://nope")])
        .await;
    assert_eq!(resp.status(), 422);
    s.shutdown().await;
}

async fn retried_after_failures(backend: Backend) {
    let Some(s) = TestServer::start(backend, opts()).await else {
        return;
    };
    let (rx, url) = Receiver::start(vec![500, 500]).await;
    let resp = s
        .create(
            "echo",
            &[
                ("message", "retry me"),
                ("stream", "false"),
                ("background", "true"),
                ("webhook_url", &url),
            ],
        )
        .await;
    assert_eq!(resp.status(), 202);
    let v: Value = resp.json().await.unwrap();
    let run_id = v["run_id"].as_str().unwrap().to_owned();
    let got = rx.wait_for(3).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one message id: {ids:?}");
    for (h, b) in &got {
        verify(h, b);
    }
    let rec = wait_delivery(&s, "echo", &run_id, "delivered").await;
    let d = &rec["webhook_deliveries"][0];
    assert_eq!(d["attempts"], 3, "{d}");
    let codes: Vec<u64> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    s.shutdown().await;
}

async fn delivered_after_restart(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, opts()).await else {
        return;
    };
    // The receiver is down (503) while the first server runs: the delivery stays queued.
    let (rx, url) = Receiver::start(vec![503; 1000]).await;
    let resp = s
        .create(
            "echo",
            &[
                ("message", "later"),
                ("stream", "false"),
                ("webhook_url", &url),
            ],
        )
        .await;
    let run: Value = resp.json().await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    rx.wait_for(1).await;
    let db = s.db.take().unwrap();
    s.shutdown().await;
    rx.script.lock().unwrap().clear(); // the receiver is back
    let seen = rx.got.lock().unwrap().len();

    // A new server on the same database delivers it.
    let engine = Engine::builder(db.store.clone())
        .poll_interval(Duration::from_millis(50))
        .build();
    register(&engine);
    let s = TestServer::serve(engine, Some(db), opts()).await;
    let got = rx.wait_for(seen + 1).await;
    let (h, b) = got.last().unwrap();
    verify(h, b);
    let v: Value = serde_json::from_str(b).unwrap();
    assert_eq!(v["data"]["run_id"], run_id.as_str());
    let rec = wait_delivery(&s, "echo", &run_id, "delivered").await;
    let d = &rec["webhook_deliveries"][0];
    assert!(d["attempts"].as_u64().unwrap() as usize > seen, "{d}");
    assert_eq!(
        d["history"].as_array().unwrap().last().unwrap()["status_code"],
        200
    );
    s.shutdown().await;
}

/// Starts a `review` run reporting to `url` and returns its id once it paused.
async fn paused_review(s: &TestServer, url: &str) -> String {
    let resp = s
        .create(
            "review",
            &[
                ("message", "post"),
                ("stream", "false"),
                ("webhook_url", url),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "PAUSED", "{v}");
    v["run_id"].as_str().unwrap().to_owned()
}

/// Approves the paused `review` run (foreground) and checks that it completed.
async fn approve(s: &TestServer, run_id: &str) {
    let decisions = json!([{"step_name": "publish", "confirmed": true}]).to_string();
    let resp = s
        .client
        .post(s.url(&format!("/workflows/review/runs/{run_id}/continue")))
        .form(&[("step_requirements", decisions.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["status"], "COMPLETED", "{done}");
}

/// The requests with this `webhook-id`, in the order received, as JSON bodies.
fn messages(got: &[(HeaderMap, String)], id: &str) -> Vec<Value> {
    got.iter()
        .filter(|(h, _)| h["webhook-id"] == id)
        .map(|(h, b)| {
            verify(h, b);
            serde_json::from_str(b).unwrap()
        })
        .collect()
}

async fn a_pause_notifies_then_its_completion(backend: Backend) {
    let Some(s) = TestServer::start(backend, opts()).await else {
        return;
    };
    register_review(&s);
    let (rx, url) = Receiver::start(vec![]).await;
    let run_id = paused_review(&s, &url).await;
    let got = rx.wait_for(1).await;
    let [paused] = messages(&got, &format!("msg_{run_id}")).try_into().unwrap();
    assert_eq!(paused["type"], "run.paused", "{paused}");
    assert_eq!(paused["data"]["run_id"], run_id.as_str());
    assert_eq!(paused["data"]["status"], "PAUSED");
    assert_eq!(
        paused["data"]["step_requirements"][0]["step_name"],
        "publish"
    );

    approve(&s, &run_id).await;
    let got = rx.wait_for(2).await;
    assert_eq!(got.len(), 2, "one message per outcome");
    let [done] = messages(&got, &format!("msg_{run_id}_2"))
        .try_into()
        .unwrap();
    assert_eq!(done["type"], "run.completed", "{done}");
    assert_eq!(done["data"]["status"], "COMPLETED");
    assert_eq!(done["data"]["content"], "published draft of post");
    s.shutdown().await;
}

async fn a_late_delivery_reports_the_outcome_it_was_queued_for(backend: Backend) {
    let Some(s) = TestServer::start(backend, opts()).await else {
        return;
    };
    register_review(&s);
    // The receiver holds its answer to the pause's first attempt, then refuses it (500): the
    // retry is built after the run was continued and completed.
    let hold = Arc::new(Notify::new());
    let (rx, url) = Receiver::start_holding(vec![500], Some(hold.clone())).await;
    let run_id = paused_review(&s, &url).await;
    rx.wait_for(1).await;
    approve(&s, &run_id).await;
    hold.notify_one();

    let pause_id = format!("msg_{run_id}");
    let done_id = format!("msg_{run_id}_2");
    kern_testkit::wait_until(TIMEOUT, "the retry and the completion", || async {
        let got = rx.got.lock().unwrap().clone();
        messages(&got, &pause_id).len() == 2 && messages(&got, &done_id).len() == 1
    })
    .await;
    let got = rx.got.lock().unwrap().clone();
    let [first, retry] = messages(&got, &pause_id).try_into().unwrap();
    assert_eq!(first["type"], "run.paused", "{first}");
    assert_eq!(first["data"]["content"], Value::Null, "sent while paused");
    // The retry went out after the run completed (its data is the run as it is now), yet it
    // reports the pause it was queued for, consistently in its type and data.status.
    assert_eq!(
        retry["data"]["content"], "published draft of post",
        "{retry}"
    );
    assert_eq!(retry["type"], "run.paused", "{retry}");
    assert_eq!(retry["data"]["status"], "PAUSED", "{retry}");
    let [done] = messages(&got, &done_id).try_into().unwrap();
    assert_eq!(done["type"], "run.completed", "{done}");
    assert_eq!(done["data"]["status"], "COMPLETED");

    let rec = wait_for(TIMEOUT, "both deliveries to be delivered", || async {
        let rec = run_record(&s, "review", &run_id).await;
        let statuses: Vec<&str> = rec["webhook_deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["status"].as_str().unwrap())
            .collect();
        if statuses == ["delivered", "delivered"] {
            Ok(rec)
        } else {
            Err(rec)
        }
    })
    .await;
    assert_eq!(rec["webhook_deliveries"][0]["attempts"], 2, "{rec}");
    s.shutdown().await;
}

both_backends!(
    signed_delivery,
    retried_after_failures,
    delivered_after_restart,
    a_pause_notifies_then_its_completion,
    a_late_delivery_reports_the_outcome_it_was_queued_for,
);
