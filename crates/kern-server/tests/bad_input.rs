//! Bad input gets the right status and a JSON `{"detail", "code"}` body; nothing yields a 500.

mod common;

use common::*;
use kern_testkit::Backend;
use serde_json::Value;

async fn expect(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status for code {code}");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content type {ct:?}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], code, "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_input_gets_its_status_and_code() {
    let s = TestServer::start(
        Backend::Sqlite,
        Opts {
            body_limit: Some(4096),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c = &s.client;
    let runs = s.url("/workflows/echo/runs");

    // Missing message, in every encoding.
    expect(
        s.create("echo", &[("stream", "false")]).await,
        422,
        "missing_field",
    )
    .await;
    expect(
        s.create("echo", &[("message", "")]).await,
        422,
        "missing_field",
    )
    .await;
    expect(
        c.post(&runs)
            .json(&serde_json::json!({"stream": false}))
            .send()
            .await
            .unwrap(),
        422,
        "missing_field",
    )
    .await;
    expect(c.post(&runs).send().await.unwrap(), 422, "missing_field").await;

    // Malformed JSON fields.
    for field in [
        "session_state",
        "metadata",
        "dependencies",
        "additional_data",
    ] {
        expect(
            s.create("echo", &[("message", "m"), (field, "{not json")])
                .await,
            422,
            "invalid_json_field",
        )
        .await;
    }
    // Must be objects.
    expect(
        s.create("echo", &[("message", "m"), ("metadata", "[1]")])
            .await,
        422,
        "invalid_json_field",
    )
    .await;
    // Not a boolean.
    expect(
        s.create("echo", &[("message", "m"), ("stream", "maybe")])
            .await,
        422,
        "invalid_field",
    )
    .await;
    // A JSON body that is not JSON, or not an object.
    expect(
        c.post(&runs)
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap(),
        422,
        "malformed_body",
    )
    .await;
    expect(
        c.post(&runs)
            .header("content-type", "application/json")
            .body("[1,2]")
            .send()
            .await
            .unwrap(),
        422,
        "malformed_body",
    )
    .await;
    // Multipart without a boundary, and a file upload.
    expect(
        c.post(&runs)
            .header("content-type", "multipart/form-data")
            .body("x")
            .send()
            .await
            .unwrap(),
        422,
        "malformed_body",
    )
    .await;
    let body = "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nhi\r\n--b--\r\n";
    expect(
        c.post(&runs)
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body)
            .send()
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;

    // Unsupported media types.
    expect(
        c.post(&runs)
            .header("content-type", "text/plain")
            .body("message=x")
            .send()
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    expect(
        c.post(&runs).body("message=x").send().await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;

    // Over the limit: with a Content-Length, and chunked.
    let big = "x".repeat(10_000);
    expect(
        s.create("echo", &[("message", big.as_str())]).await,
        413,
        "payload_too_large",
    )
    .await;
    let chunks = futures::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; 1000]))),
    );
    expect(
        c.post(&runs)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    // Unknown component, run, route, method.
    expect(
        s.create("nope", &[("message", "m")]).await,
        404,
        "workflow_not_found",
    )
    .await;
    expect(
        c.get(s.url("/agents/nope")).send().await.unwrap(),
        404,
        "agent_not_found",
    )
    .await;
    expect(
        c.get(s.url("/teams/nope/runs")).send().await.unwrap(),
        404,
        "team_not_found",
    )
    .await;
    expect(
        c.get(s.url(&format!("/workflows/echo/runs/{}", uuid::Uuid::now_v7())))
            .send()
            .await
            .unwrap(),
        404,
        "run_not_found",
    )
    .await;
    expect(
        c.get(s.url("/workflows/echo/runs/garbage"))
            .send()
            .await
            .unwrap(),
        404,
        "run_not_found",
    )
    .await;
    expect(
        c.get(s.url("/no/such/route/at/all/x"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    expect(
        c.get(s.url("/gadgets")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    expect(
        c.delete(s.url("/workflows")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    expect(
        c.get(s.url("/workflows/echo/runs?status=BOGUS"))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    expect(
        c.get(s.url("/workflows/echo/runs?limit=-3"))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;

    // Resume: bad indices, in the form and in Last-Event-ID.
    let run = s.start_background("echo", "r").await;
    s.wait_status(run, |st| st.is_terminal()).await;
    let resume = s.url(&format!("/workflows/echo/runs/{run}/resume"));
    for bad in ["abc", "-5", "1.5", "999"] {
        expect(
            c.post(&resume)
                .form(&[("last_event_index", bad)])
                .send()
                .await
                .unwrap(),
            422,
            "invalid_last_event_index",
        )
        .await;
    }
    expect(
        c.post(&resume)
            .header("last-event-id", "x")
            .send()
            .await
            .unwrap(),
        422,
        "invalid_last_event_index",
    )
    .await;

    // The WebSocket route without an upgrade.
    expect(
        c.get(s.url("/workflows/ws")).send().await.unwrap(),
        400,
        "bad_request",
    )
    .await;

    // Sessions.
    expect(
        c.get(s.url("/sessions/none-such")).send().await.unwrap(),
        404,
        "session_not_found",
    )
    .await;
    expect(
        c.get(s.url("/sessions?type=robot")).send().await.unwrap(),
        422,
        "invalid_field",
    )
    .await;
    s.shutdown().await;
}

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
    for stream in ["true", "false"] {
        expect(
            s.create(
                "echo",
                &[("message", "m"), ("background", "true"), ("stream", stream)],
            )
            .await,
            400,
            "background_requires_database",
        )
        .await;
    }
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
