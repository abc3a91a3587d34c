//! `kern serve` as a process on SQLite: it serves, and on SIGTERM it stops taking runs and
//! hands unfinished background runs back to the queue, where the next process picks them up.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_background_runs_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start(&db, &["--shutdown-grace", "0s"]);
    let health = s.get("/health").await;
    assert_eq!(health["status"], "ok");
    let workflows = s.get("/workflows").await;
    assert_eq!(
        workflows.as_array().unwrap().len(),
        kern_server::demo::WORKFLOWS.len()
    );
    let run = s.start_background("count", "30 50").await;
    s.wait_run("count", &run, |v| {
        v["event_count"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    s.terminate();

    // Handed back: pending again, not failed and not stuck running.
    let store = kern::store::connect(&db).await.unwrap();
    let rec = store.get_run(run.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.status, kern::store::RunStatus::Pending);
    assert_eq!(rec.releases, 1);
    drop(store);

    // The next process finishes it, continuing the same log.
    let s = Serve::start(&db, &[]);
    let done = s.wait_run("count", &run, is_final).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_log_gapless(&done);
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_key_guards_the_served_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let s = Serve::start(&db, &["--security-key", "abc"]);
    let resp = s.client.get(s.url("/config")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .client
        .get(s.url("/config"))
        .bearer_auth("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.get("/health").await["status"], "ok");
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwt_flags_scope_runs_to_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kern.db").display().to_string();
    let public = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kern-server/tests/fixtures/jwt-test-rsa-public.pem"
    );
    let s = Serve::start(
        &db,
        &[
            "--jwt-secret",
            "cli-secret",
            "--jwt-public-key",
            public,
            "--jwt-audience",
            "kern",
        ],
    );
    let exp = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600) as i64;
    let token = |sub: &str, aud: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"sub": sub, "exp": exp, "aud": aud}),
            &jsonwebtoken::EncodingKey::from_secret(b"cli-secret"),
        )
        .unwrap()
    };
    let rsa = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &serde_json::json!({"sub": "carol", "exp": exp, "aud": "kern"}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
            "../../kern-server/tests/fixtures/jwt-test-rsa-private.pem"
        ))
        .unwrap(),
    )
    .unwrap();
    let (alice, bob) = (token("alice", "kern"), token("bob", "kern"));
    let resp = s.client.get(s.url("/workflows")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .client
        .get(s.url("/workflows"))
        .bearer_auth(token("alice", "elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .client
        .get(s.url("/workflows"))
        .bearer_auth(&rsa)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = s
        .client
        .post(s.url("/workflows/echo/runs"))
        .bearer_auth(&alice)
        .form(&[("message", "hi"), ("stream", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let run: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(run["user_id"], "alice");
    let path = format!("/workflows/echo/runs/{}", run["run_id"].as_str().unwrap());
    for (who, status) in [(&alice, 200), (&bob, 404), (&rsa, 404)] {
        let resp = s
            .client
            .get(s.url(&path))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
    }
    s.terminate();
}
