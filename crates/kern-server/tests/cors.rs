//! Browser clients on another origin (Agno's Agent UI on http://localhost:3000): CORS
//! preflights are answered before authentication, responses (errors included) name allowed
//! origins, other origins are refused, and the policy is configurable. And the session-runs
//! listing such clients re-read while they stream leaves the in-flight foreground run out.

mod common;

use common::*;
use kern_core::store::RunStatus;
use kern_server::CorsOrigins;
use kern_testkit::{both_backends, Backend};
use serde_json::Value;

const UI: &str = "http://localhost:3000";

async fn preflight(s: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    s.client
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn agno_defaults_and_refusals(backend: Backend) {
    let opts = Opts {
        security_key: Some("k3y".into()),
        ..Opts::default()
    };
    let Some(s) = TestServer::start(backend, opts).await else {
        return;
    };
    // A preflight carries no Authorization: it is answered before authentication.
    let r = preflight(&s, "/agents", UI).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(UI));
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("authorization,content-type")
    );
    assert!(header(&r, "access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(header(&r, "vary"), Some("Origin"));

    // The request itself, refused by authentication: the page may still read why.
    let r = reqwest::Client::new()
        .get(s.url("/agents"))
        .header("origin", UI)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(UI));
    let body: Value = r.json().await.unwrap();
    assert!(body["code"].is_string(), "{body}");

    // An allowed call gets the headers; a call without Origin gets none.
    let r = s
        .client
        .get(s.url("/health"))
        .header("origin", UI)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), Some(UI));
    let r = s.client.get(s.url("/health")).send().await.unwrap();
    assert!(header(&r, "access-control-allow-origin").is_none());

    // Another origin: its preflight is refused with a JSON code, its requests get no CORS
    // headers (the browser hides the answer).
    let r = preflight(&s, "/agents", "https://evil.example").await;
    assert_eq!(r.status(), 400);
    assert!(header(&r, "access-control-allow-origin").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "cors_origin_not_allowed");
    let r = s
        .client
        .get(s.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "access-control-allow-origin").is_none());
    s.shutdown().await;
}

async fn configured_origins_and_off(backend: Backend) {
    let opts = Opts {
        cors: Some(CorsOrigins::list(["https://ui.example.com"])),
        ..Opts::default()
    };
    let Some(s) = TestServer::start(backend, opts).await else {
        return;
    };
    let r = preflight(&s, "/workflows/echo/runs", "https://ui.example.com").await;
    assert_eq!(r.status(), 200);
    let r = preflight(&s, "/workflows/echo/runs", UI).await;
    assert_eq!(r.status(), 400, "the defaults are replaced, not extended");
    s.shutdown().await;

    let opts = Opts {
        cors: Some(CorsOrigins::list(["*"])),
        ..Opts::default()
    };
    let Some(s) = TestServer::start(backend, opts).await else {
        return;
    };
    let r = preflight(&s, "/health", "https://anything.example").await;
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://anything.example"),
        "any origin is named, never *, so credentials still work"
    );
    s.shutdown().await;

    let opts = Opts {
        cors: Some(CorsOrigins::list(Vec::<String>::new())),
        ..Opts::default()
    };
    let Some(s) = TestServer::start(backend, opts).await else {
        return;
    };
    let r = preflight(&s, "/health", UI).await;
    assert_eq!(
        r.status(),
        405,
        "CORS off: a preflight is an ordinary OPTIONS"
    );
    assert!(header(&r, "access-control-allow-origin").is_none());
    s.shutdown().await;
}

async fn session_listing_leaves_in_flight_foreground_runs_out(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let key = gate_key();
    // A foreground streaming run opens a new session and waits at its gate.
    let resp = s
        .create(
            "gated",
            &[
                ("message", key.as_str()),
                ("stream", "true"),
                ("session_id", "S-live"),
            ],
        )
        .await;
    let mut sse = SseReader::new(resp);
    let first = sse.next().await.unwrap().json();
    let run_id: kern_core::store::RunId = first["run_id"].as_str().unwrap().parse().unwrap();
    s.wait_status(run_id, |st| st == RunStatus::Running).await;

    // Listed nowhere yet: the session is "not found", as AgentOS answers before it stores the
    // run; the run itself is there for whoever asks for it by id.
    let r = s
        .client
        .get(s.url("/sessions/S-live/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "session_not_found");
    let r = s
        .client
        .get(s.url(&format!("/sessions/S-live/runs/{run_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A background run in flight is listed (it is polled this way).
    let bg_key = gate_key();
    let resp = s
        .create(
            "gated",
            &[
                ("message", bg_key.as_str()),
                ("background", "true"),
                ("stream", "false"),
                ("session_id", "S-live"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 202);
    let bg: Value = resp.json().await.unwrap();
    let listed: Value = s.get_json("/sessions/S-live/runs").await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bg["run_id"].as_str().unwrap()], "{listed}");

    // Once the foreground run ends it is listed with its answer.
    gate(&key).add_permits(1);
    gate(&bg_key).add_permits(1);
    let _ = sse.rest().await;
    s.wait_status(run_id, |st| st == RunStatus::Completed).await;
    let listed: Value = s.get_json("/sessions/S-live/runs").await;
    let fg = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == run_id.to_string())
        .expect("listed once ended");
    assert_eq!(fg["content"], format!("passed {key}"));
    s.shutdown().await;
}

both_backends!(
    agno_defaults_and_refusals,
    configured_origins_and_off,
    session_listing_leaves_in_flight_foreground_runs_out,
);
