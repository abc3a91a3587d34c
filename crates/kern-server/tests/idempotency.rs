//! `Idempotency-Key` on create: the same key and request give the same run and body (in any
//! encoding), another request with the key is 409 `idempotency_conflict`, keys are per user.

mod common;

use common::*;
use kern_testkit::{both_backends, Backend};
use serde_json::{json, Value};

async fn same_key_same_run(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let url = s.url("/workflows/echo/runs");
    let form = [
        ("message", "once"),
        ("stream", "false"),
        ("background", "true"),
    ];
    let post = |key: &'static str| {
        s.client
            .post(&url)
            .header("Idempotency-Key", key)
            .form(&form)
            .send()
    };
    let r1 = post("k-1").await.unwrap();
    assert_eq!(r1.status(), 202);
    let b1 = r1.text().await.unwrap();
    let v1: Value = serde_json::from_str(&b1).unwrap();
    let run_id = v1["run_id"].as_str().unwrap().to_owned();
    s.wait_status(run_id.parse().unwrap(), |st| st.is_terminal())
        .await;
    // A retry: the same body, no new run.
    let r2 = post("k-1").await.unwrap();
    assert_eq!(r2.status(), 202);
    assert_eq!(r2.text().await.unwrap(), b1);
    // The same request as JSON, fields in another order: still the same request.
    let r3 = s
        .client
        .post(&url)
        .header("Idempotency-Key", "k-1")
        .json(&json!({"background": true, "message": "once", "stream": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r3.status(), 202);
    assert_eq!(r3.json::<Value>().await.unwrap()["run_id"], run_id.as_str());
    let runs: Value = s.get_json("/workflows/echo/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "one run only");
    // Another request with the key: 409.
    let r4 = s
        .client
        .post(&url)
        .header("Idempotency-Key", "k-1")
        .form(&[
            ("message", "other"),
            ("stream", "false"),
            ("background", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r4.status(), 409);
    assert_eq!(
        r4.json::<Value>().await.unwrap()["code"],
        "idempotency_conflict"
    );
    // Foreground: the same finished record both times.
    let fg = [("message", "fg"), ("stream", "false")];
    let a: Value = s
        .client
        .post(&url)
        .header("Idempotency-Key", "k-2")
        .form(&fg)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Value = s
        .client
        .post(&url)
        .header("Idempotency-Key", "k-2")
        .form(&fg)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["run_id"], b["run_id"]);
    assert_eq!(a["status"], "COMPLETED");
    assert_eq!(a["content"], b["content"]);
    // A key that is too long is refused.
    let long = "x".repeat(300);
    let r = s
        .client
        .post(&url)
        .header("Idempotency-Key", long)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    s.shutdown().await;
}

both_backends!(same_key_same_run);
