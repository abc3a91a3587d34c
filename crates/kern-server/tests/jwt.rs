//! JWT authentication (HS256 and RS256): the token's `sub` is the caller's user id; users see,
//! list, cancel and resume only their own runs and sessions (others' are 404, never 403), on
//! every route and over the WebSocket; the security key still sees everything; expired,
//! wrongly signed, wrongly addressed and malformed tokens are 401.
//!
//! The RSA keys under `tests/fixtures/` are test-only (see the README there).

mod common;

use common::*;
use futures::SinkExt;
use jsonwebtoken::{encode, EncodingKey, Header};
use kern_core::store::RunStatus;
use kern_server::JwtConfig;
use kern_testkit::{both_backends, Backend};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &[u8] = b"test-only-hs256-secret";
const ADMIN: &str = "admin-key";
const RSA_PRIVATE: &[u8] = include_bytes!("fixtures/jwt-test-rsa-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/jwt-test-rsa-public.pem");
const RSA_OTHER_PRIVATE: &[u8] = include_bytes!("fixtures/jwt-test-rsa-other-private.pem");

fn now() -> i64 {
    kern_core::store::now_millis() / 1000
}

fn hs256(claims: Value, secret: &[u8]) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(claims: Value, private_pem: &[u8]) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(private_pem).unwrap(),
    )
    .unwrap()
}

fn user(sub: &str) -> Value {
    json!({ "sub": sub, "exp": now() + 3600 })
}

fn opts() -> Opts {
    Opts {
        security_key: None,
        jwt: Some(JwtConfig::hs256(SECRET).with_rs256_pem(RSA_PUBLIC).unwrap()),
        ..Default::default()
    }
}

struct As<'a> {
    s: &'a TestServer,
    token: String,
    client: reqwest::Client,
}

impl<'a> As<'a> {
    fn new(s: &'a TestServer, token: impl Into<String>) -> Self {
        Self {
            s,
            token: token.into(),
            client: reqwest::Client::new(),
        }
    }
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.s.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.s.url(path))
            .bearer_auth(&self.token)
            .form(form)
            .send()
            .await
            .unwrap()
    }
    async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.s.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

async fn status_code(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn run_ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn ws_as(s: &TestServer, token: &str) -> Ws {
    let mut ws = ws_connect(s).await;
    assert_eq!(ws_recv(&mut ws).await["requires_auth"], true);
    ws.send(Message::text(
        json!({"action": "authenticate", "token": token}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(ws_recv(&mut ws).await["event"], "authenticated");
    ws
}

async fn users_see_only_their_own(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        Opts {
            security_key: Some(ADMIN.into()),
            ..opts()
        },
    )
    .await
    else {
        return;
    };
    let alice = As::new(&s, hs256(user("alice"), SECRET));
    let bob = As::new(&s, rs256(user("bob"), RSA_PRIVATE));
    let admin = As::new(&s, ADMIN);
    let sa = format!("alice-{}", uuid::Uuid::now_v7().simple());
    let sb = format!("bob-{}", uuid::Uuid::now_v7().simple());

    // Alice starts a run that waits at a gate; the `user_id` field cannot impersonate.
    let key = gate_key();
    let resp = alice
        .post(
            "/workflows/gated/runs",
            &[
                ("message", key.as_str()),
                ("stream", "false"),
                ("background", "true"),
                ("session_id", sa.as_str()),
                ("user_id", "mallory"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 202);
    let started: Value = resp.json().await.unwrap();
    let a_run = started["run_id"].as_str().unwrap().to_owned();
    s.wait_events(a_run.parse().unwrap(), 3).await;
    let rec = s
        .engine
        .get_run(a_run.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.user_id.as_deref(), Some("alice"));

    // Bob's own run (foreground, finished).
    let resp = bob
        .post(
            "/workflows/echo/runs",
            &[
                ("message", "hi"),
                ("stream", "false"),
                ("session_id", sb.as_str()),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let b_run: Value = resp.json().await.unwrap();
    assert_eq!(b_run["user_id"], "bob");
    let b_run = b_run["run_id"].as_str().unwrap().to_owned();

    // Alice sees hers…
    let v = alice.json(&format!("/workflows/gated/runs/{a_run}")).await;
    assert_eq!(v["user_id"], "alice");
    assert_eq!(
        run_ids(&alice.json("/workflows/gated/runs").await),
        vec![a_run.clone()]
    );
    assert!(run_ids(&alice.json("/workflows/echo/runs").await).is_empty());
    // …and Bob gets 404 on every route that names her run or session.
    for path in [
        format!("/workflows/gated/runs/{a_run}"),
        format!("/sessions/{sa}"),
        format!("/sessions/{sa}/runs"),
        format!("/sessions/{sa}/runs/{a_run}"),
    ] {
        let (code, body) = status_code(bob.get(&path).await).await;
        assert_eq!(code, 404, "{path}: {body}");
    }
    let (code, body) = status_code(
        bob.post(&format!("/workflows/gated/runs/{a_run}/cancel"), &[])
            .await,
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("run_not_found")),
        "{body}"
    );
    let (code, _) = status_code(
        bob.post(
            &format!("/sessions/{sa}/rename"),
            &[("session_name", "mine")],
        )
        .await,
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = status_code(bob.delete(&format!("/sessions/{sa}")).await).await;
    assert_eq!(code, 404);
    // Bob cannot add a run to her session either.
    let (code, body) = status_code(
        bob.post(
            "/workflows/echo/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("session_id", sa.as_str()),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("session_not_found"))
    );
    // Listings are scoped: nothing of hers, even when asked by user id.
    assert!(run_ids(&bob.json("/workflows/gated/runs").await).is_empty());
    assert!(run_ids(&bob.json("/workflows/gated/runs?user_id=alice").await).is_empty());
    assert_eq!(
        run_ids(&bob.json("/workflows/echo/runs").await),
        vec![b_run.clone()]
    );
    let sessions = bob.json("/sessions").await;
    let names: Vec<&str> = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, [sb.as_str()], "{sessions}");
    assert_eq!(
        bob.json("/sessions?user_id=alice").await["meta"]["total_count"],
        0
    );
    let (code, _) = status_code(bob.get(&format!("/workflows/echo/runs/{b_run}")).await).await;
    assert_eq!(code, 200);
    let (code, _) = status_code(alice.get(&format!("/workflows/echo/runs/{b_run}")).await).await;
    assert_eq!(code, 404);
    let alice_sessions = alice.json("/sessions").await;
    assert_eq!(alice_sessions["meta"]["total_count"], 1, "{alice_sessions}");
    assert_eq!(
        alice.json(&format!("/sessions/{sa}")).await["user_id"],
        "alice"
    );

    // Resume: Bob gets the not-found error frame, Alice her events.
    let mut r = SseReader::new(
        bob.post(&format!("/workflows/gated/runs/{a_run}/resume"), &[])
            .await,
    );
    let f = r.next().await.unwrap();
    assert_eq!(f.name(), "error", "{f:?}");
    assert!(r.next().await.is_none());
    let mut r = SseReader::new(
        alice
            .post(
                &format!("/workflows/gated/runs/{a_run}/resume"),
                &[("last_event_index", "0")],
            )
            .await,
    );
    assert_eq!(r.next().await.unwrap().name(), "catch_up");
    drop(r);

    // WebSocket: Bob cannot reconnect to her run; his own start is his.
    let mut ws = ws_as(&s, &bob.token).await;
    ws.send(Message::text(
        json!({"action": "reconnect", "run_id": a_run, "last_event_index": 0}).to_string(),
    ))
    .await
    .unwrap();
    let v = ws_recv(&mut ws).await;
    assert_eq!(v["event"], "error", "{v}");
    ws.send(Message::text(
        json!({"action": "start-workflow", "workflow_id": "echo", "message": "ws", "user_id": "alice"}).to_string(),
    ))
    .await
    .unwrap();
    let queued = ws_recv(&mut ws).await;
    assert_eq!(queued["event"], "queued", "{queued}");
    let ws_run: kern_core::store::RunId = queued["run_id"].as_str().unwrap().parse().unwrap();
    let rec = s.wait_status(ws_run, |st| st.is_terminal()).await;
    assert_eq!(rec.user_id.as_deref(), Some("bob"));
    drop(ws);
    let mut ws = ws_as(&s, &alice.token).await;
    ws.send(Message::text(
        json!({"action": "reconnect", "run_id": a_run, "last_event_index": 0}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(ws_recv(&mut ws).await["event"], "catch_up");
    drop(ws);

    // The security key is the operator: it sees both users' runs.
    let all = run_ids(&admin.json("/workflows/gated/runs").await);
    assert!(all.contains(&a_run));
    let (code, _) = status_code(admin.get(&format!("/sessions/{sb}")).await).await;
    assert_eq!(code, 200);
    let (code, _) = status_code(admin.get(&format!("/workflows/echo/runs/{b_run}")).await).await;
    assert_eq!(code, 200);

    // Alice cancels her own run.
    let (code, body) = status_code(
        alice
            .post(&format!("/workflows/gated/runs/{a_run}/cancel"), &[])
            .await,
    )
    .await;
    assert_eq!(
        (code, body["cancelled"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let rec = s
        .wait_status(a_run.parse().unwrap(), |st| st.is_terminal())
        .await;
    assert_eq!(rec.status, RunStatus::Cancelled);
    s.shutdown().await;
}

async fn bad_tokens_are_401(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        Opts {
            jwt: Some(
                JwtConfig::hs256(SECRET)
                    .with_rs256_pem(RSA_PUBLIC)
                    .unwrap()
                    .audience("kern")
                    .issuer("https://auth.test"),
            ),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let good = |sub: &str| json!({"sub": sub, "exp": now() + 600, "aud": "kern", "iss": "https://auth.test"});
    let ok = As::new(&s, hs256(good("u"), SECRET));
    assert_eq!(ok.get("/workflows").await.status(), 200);
    assert_eq!(
        As::new(&s, rs256(good("u"), RSA_PRIVATE))
            .get("/workflows")
            .await
            .status(),
        200
    );

    let mut expired = good("u");
    expired["exp"] = json!(now() - 3600);
    let mut wrong_aud = good("u");
    wrong_aud["aud"] = json!("other");
    let mut wrong_iss = good("u");
    wrong_iss["iss"] = json!("https://evil.test");
    let mut no_sub = good("u");
    no_sub.as_object_mut().unwrap().remove("sub");
    let mut no_exp = good("u");
    no_exp.as_object_mut().unwrap().remove("exp");
    for (what, token) in [
        ("expired", hs256(expired.clone(), SECRET)),
        ("expired RS256", rs256(expired, RSA_PRIVATE)),
        ("wrong HS256 secret", hs256(good("u"), b"another-secret")),
        ("wrong RSA key", rs256(good("u"), RSA_OTHER_PRIVATE)),
        ("wrong audience", hs256(wrong_aud, SECRET)),
        ("wrong issuer", hs256(wrong_iss, SECRET)),
        ("no sub", hs256(no_sub, SECRET)),
        ("no exp", hs256(no_exp, SECRET)),
        ("garbage", "a.b.c".to_owned()),
        ("not a JWT", "hello".to_owned()),
        ("alg none", {
            let t = hs256(good("u"), SECRET);
            let mut parts: Vec<&str> = t.split('.').collect();
            let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
            parts[0] = none;
            format!("{}.{}.", parts[0], parts[1])
        }),
    ] {
        let resp = As::new(&s, token).get("/workflows").await;
        assert_eq!(resp.status(), 401, "{what}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{what}");
    }
    // No header at all; /health stays open.
    let resp = reqwest::Client::new()
        .get(s.url("/workflows"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = reqwest::Client::new()
        .get(s.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The WebSocket refuses a bad token too.
    let mut ws = ws_connect(&s).await;
    ws_recv(&mut ws).await;
    ws.send(Message::text(
        json!({"action": "authenticate", "token": hs256(good("u"), b"nope")}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(ws_recv(&mut ws).await["event"], "auth_error");
    let config = ok.json("/config").await;
    assert_eq!(config["auth_mode"], "jwt");
    s.shutdown().await;
}

both_backends!(users_see_only_their_own, bad_tokens_are_401);
