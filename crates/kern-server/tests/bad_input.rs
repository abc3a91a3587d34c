//! Bad input gets the right status and a JSON `{"detail", "code"}` body; nothing yields a 500.

mod common;

use common::*;
use kern_core::store::RunId;
use kern_testkit::{both_backends, Backend};
use serde_json::{json, Value};

/// One bad request and the answer it must get.
struct Case {
    /// What the case is about, named when it fails.
    name: String,
    request: reqwest::RequestBuilder,
    status: u16,
    code: &'static str,
    /// A fragment the `detail` must contain: what is wrong, or which field ("" where the case
    /// pins nothing down).
    detail: &'static str,
}

/// A case (see [`Case`] for the fields).
fn case(
    name: impl Into<String>,
    request: reqwest::RequestBuilder,
    status: u16,
    code: &'static str,
    detail: &'static str,
) -> Case {
    Case {
        name: name.into(),
        request,
        status,
        code,
        detail,
    }
}

/// Sends the case's request and checks the answer: its status, a JSON body (whatever the
/// route) with its `code` and a non-empty `detail` holding the expected fragment. Returns what
/// is wrong, naming the case.
async fn check(case: Case) -> Result<(), String> {
    let name = &case.name;
    let resp = case
        .request
        .send()
        .await
        .map_err(|e| format!("{name}: request failed: {e}"))?;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let closes = resp
        .headers()
        .get("connection")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let body = resp.text().await.unwrap_or_default();
    let wrong = |what: String| Err(format!("{name}: {what}; body {body}"));
    if status != case.status {
        return wrong(format!("status {status}, expected {}", case.status));
    }
    // A body the server did not read ends the connection, and the answer says so (else the
    // client's next request could go out on a connection being closed).
    if status == 413 && !closes {
        return wrong("no `Connection: close` after a body left unread".into());
    }
    if !ct.starts_with("application/json") {
        return wrong(format!("content type {ct:?}"));
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return wrong("a body that is not JSON".into());
    };
    if v["code"] != case.code {
        return wrong(format!("code {}, expected {:?}", v["code"], case.code));
    }
    let detail = v["detail"].as_str().unwrap_or_default();
    if detail.is_empty() {
        return wrong("no detail".into());
    }
    if !detail.contains(case.detail) {
        return wrong(format!("the detail does not say {:?}", case.detail));
    }
    Ok(())
}

/// Runs every case, then fails naming each case that got the wrong answer.
async fn check_all(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(e) = check(case).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The bad requests and their answers (a server with a 4096-byte body limit).
/// `finished_run` is a completed `echo` run, for the resume cases.
#[rustfmt::skip] // A table: one case a line.
fn cases(s: &TestServer, finished_run: RunId) -> Vec<Case> {
    let c = &s.client;
    let runs = s.url("/workflows/echo/runs");
    let create = |form: &[(&str, &str)]| c.post(&runs).form(form);
    let with = |field: &str, value: &str| create(&[("message", "m"), (field, value)]);
    let post_as = |content_type: &str, body: &'static str| {
        c.post(&runs).header("content-type", content_type).body(body)
    };
    let get = |path: &str| c.get(s.url(path));
    let resume = s.url(&format!("/workflows/echo/runs/{finished_run}/resume"));
    let resume_from = |index: &str| c.post(&resume).form(&[("last_event_index", index)]);
    let last_event_id = |id: &str| c.post(&resume).header("last-event-id", id);
    let big = "x".repeat(10_000);
    let chunks = futures::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; 1000]))),
    );
    let chunked = c.post(&runs)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(chunks));
    let upload = "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nhi\r\n--b--\r\n";
    let unknown_run = format!("/workflows/echo/runs/{}", uuid::Uuid::now_v7());
    let bad_json = |field: &'static str| {
        case(format!("{field} that is not JSON"), with(field, "{not json"), 422, "invalid_json_field", field)
    };
    vec![
        // Missing message, in every encoding.
        case("form without a message", create(&[("stream", "false")]), 422, "missing_field", "message"),
        case("form with an empty message", create(&[("message", "")]), 422, "missing_field", "message"),
        case("JSON without a message", c.post(&runs).json(&json!({"stream": false})),
             422, "missing_field", "message"),
        case("no body", c.post(&runs), 422, "missing_field", "message"),
        // Malformed JSON fields; a field that must be an object; a field that must be a boolean.
        bad_json("session_state"),
        bad_json("metadata"),
        bad_json("dependencies"),
        bad_json("additional_data"),
        case("metadata that is not an object", with("metadata", "[1]"), 422, "invalid_json_field", "metadata"),
        case("stream that is not a boolean", with("stream", "maybe"), 422, "invalid_field", "stream"),
        // A JSON body that is not JSON, or not an object.
        case("a JSON body that is not JSON", post_as("application/json", "{oops"), 422, "malformed_body", ""),
        case("a JSON body that is not an object", post_as("application/json", "[1,2]"), 422, "malformed_body", ""),
        // Multipart without a boundary, and a file upload.
        case("multipart without a boundary", post_as("multipart/form-data", "x"), 422, "malformed_body", ""),
        case("a file upload", post_as("multipart/form-data; boundary=b", upload), 422, "invalid_field", "files"),
        // Unsupported media types.
        case("a text/plain body", post_as("text/plain", "message=x"), 415, "unsupported_media_type", ""),
        case("a body without a content type", c.post(&runs).body("message=x"), 415, "unsupported_media_type", ""),
        // Over the limit: with a Content-Length, and chunked.
        case("a body over the limit", create(&[("message", big.as_str())]), 413, "payload_too_large", "4096"),
        case("a chunked body over the limit", chunked, 413, "payload_too_large", "4096"),
        // Unknown component, run, route, method; bad listing filters.
        case("an unknown workflow", c.post(s.url("/workflows/nope/runs")).form(&[("message", "m")]),
             404, "workflow_not_found", ""),
        case("an unknown agent", get("/agents/nope"), 404, "agent_not_found", ""),
        case("an unknown team", get("/teams/nope/runs"), 404, "team_not_found", ""),
        case("an unknown run", get(&unknown_run), 404, "run_not_found", ""),
        case("a run id that is not one", get("/workflows/echo/runs/garbage"), 404, "run_not_found", ""),
        case("an unknown deep route", get("/no/such/route/at/all/x"), 404, "not_found", ""),
        case("an unknown route", get("/gadgets"), 404, "not_found", ""),
        case("a method the route lacks", c.delete(s.url("/workflows")), 405, "method_not_allowed", ""),
        case("an unknown status filter", get("/workflows/echo/runs?status=BOGUS"), 422, "invalid_field", "status"),
        case("a negative limit", get("/workflows/echo/runs?limit=-3"), 422, "invalid_field", "limit"),
        // Resume: bad indices, in the form and in Last-Event-ID.
        case("resume from index abc", resume_from("abc"), 422, "invalid_last_event_index", "last_event_index"),
        case("resume from index -5", resume_from("-5"), 422, "invalid_last_event_index", "last_event_index"),
        case("resume from index 1.5", resume_from("1.5"), 422, "invalid_last_event_index", "last_event_index"),
        case("resume past the log's end", resume_from("999"), 422, "invalid_last_event_index", "last_event_index"),
        case("resume from Last-Event-ID x", last_event_id("x"), 422, "invalid_last_event_index", ""),
        // The WebSocket route without an upgrade.
        case("the WebSocket route without an upgrade", get("/workflows/ws"), 400, "bad_request", ""),
        // Sessions.
        case("an unknown session", get("/sessions/none-such"), 404, "session_not_found", ""),
        case("an unknown session type", get("/sessions?type=robot"), 422, "invalid_field", "type"),
    ]
}

async fn every_bad_input_gets_its_status_and_code(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        Opts {
            body_limit: Some(4096),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let run = s.start_background("echo", "r").await;
    s.wait_status(run, |st| st.is_terminal()).await;
    check_all(cases(&s, run)).await;
    s.shutdown().await;
}

both_backends!(every_bad_input_gets_its_status_and_code);

/// Background runs need a durable database: 400 in both background modes, before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_without_a_database_is_400() {
    let s = TestServer::start(
        Backend::Sqlite,
        Opts {
            ephemeral: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let background = |stream: &'static str| {
        let form = [("message", "m"), ("background", "true"), ("stream", stream)];
        s.client.post(s.url("/workflows/echo/runs")).form(&form)
    };
    check_all(vec![
        case(
            "background, streaming",
            background("true"),
            400,
            "background_requires_database",
            "",
        ),
        case(
            "background, not streaming",
            background("false"),
            400,
            "background_requires_database",
            "",
        ),
    ])
    .await;
    // Foreground still works.
    let resp = s
        .create("echo", &[("message", "m"), ("stream", "false")])
        .await;
    assert_eq!(resp.status(), 200);
    s.shutdown().await;
}

/// Arbitrary bodies and paths never produce a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_input_makes_a_server_error() {
    let s = TestServer::start(Backend::Sqlite, Opts::default())
        .await
        .unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let content_types = [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=zz",
        "multipart/form-data",
        "text/plain",
        "",
    ];
    let paths = [
        "/workflows/echo/runs",
        "/workflows/echo/runs/00000000-0000-0000-0000-000000000000/resume",
        "/workflows/echo/runs/x/cancel",
        "/sessions/x/rename",
        "/workflows/%FF/runs",
        "/agents/a/runs",
    ];
    for i in 0..300 {
        let len = (next() % 200) as usize;
        let body: Vec<u8> = (0..len).map(|_| (next() % 256) as u8).collect();
        let body = if i % 3 == 0 {
            // Mostly-valid-looking bodies.
            format!("message={}&stream=false&session_state=%7B", i).into_bytes()
        } else {
            body
        };
        let ct = content_types[(next() as usize) % content_types.len()];
        let path = paths[(next() as usize) % paths.len()];
        let mut req = s.client.post(s.url(path)).body(body);
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        assert!(!status.is_server_error(), "{path} {ct}: {status}");
        if !status.is_success() {
            let v: Value = resp.json().await.unwrap();
            assert!(v["code"].is_string());
        }
    }
    s.shutdown().await;
}
