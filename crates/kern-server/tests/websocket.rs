//! `/workflows/ws`: start a workflow, drop the socket, reconnect (catch-up, live tail, replay),
//! errors, and authentication.

mod common;

use common::*;
use futures::SinkExt;
use kern_core::store::RunStatus;
use kern_testkit::{assert_gapless_payloads, both_backends, Backend};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn start_drop_reconnect(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let mut ws = ws_connect(&s).await;
    let hello = ws_recv(&mut ws).await;
    assert_eq!(hello["event"], "connected");
    assert_eq!(hello["requires_auth"], false);
    ws_send(&mut ws, json!({"action": "ping"})).await;
    assert_eq!(ws_recv(&mut ws).await["event"], "pong");

    let key = gate_key();
    ws_send(
        &mut ws,
        json!({"action": "start-workflow", "workflow_id": "gated", "message": key, "session_id": "ws-s"}),
    )
    .await;
    let queued = ws_recv(&mut ws).await;
    assert_eq!(queued["event"], "queued");
    assert_eq!(queued["session_id"], "ws-s");
    assert_eq!(queued["status"], "PENDING");
    let run_id: kern_core::store::RunId = queued["run_id"].as_str().unwrap().parse().unwrap();
    let first = vec![
        ws_recv(&mut ws).await,
        ws_recv(&mut ws).await,
        ws_recv(&mut ws).await,
    ];
    assert_gapless_payloads(&first, 0);
    assert_eq!(first[0]["event"], "WorkflowStarted");
    assert_eq!(first[2]["event"], "StepOutput");
    // Events are sent as stored.
    let stored = stored_payloads(&s.engine, run_id).await;
    assert_eq!(serde_json::from_str::<Value>(&stored[2]).unwrap(), first[2]);
    drop(ws); // the run goes on

    let mut ws = ws_connect(&s).await;
    ws_recv(&mut ws).await; // connected
    ws_send(
        &mut ws,
        json!({"action": "reconnect", "run_id": run_id.to_string(), "workflow_id": "gated", "session_id": "ws-s", "last_event_index": 0}),
    )
    .await;
    let catch_up = ws_recv(&mut ws).await;
    assert_eq!(catch_up["event"], "catch_up");
    assert_eq!(catch_up["missed_events"], 2);
    let missed = vec![ws_recv(&mut ws).await, ws_recv(&mut ws).await];
    assert_gapless_payloads(&missed, 1);
    assert_eq!(ws_recv(&mut ws).await["event"], "subscribed");
    gate(&key).add_permits(1);
    let live = vec![ws_recv(&mut ws).await, ws_recv(&mut ws).await];
    assert_gapless_payloads(&live, 3);
    assert_eq!(live[1]["event"], "WorkflowCompleted");
    s.wait_status(run_id, RunStatus::is_terminal).await;

    // After the end: replay from an index (given as a string, as some clients do).
    ws_send(
        &mut ws,
        json!({"action": "reconnect", "run_id": run_id.to_string(), "last_event_index": "2"}),
    )
    .await;
    let replay = ws_recv(&mut ws).await;
    assert_eq!(replay["event"], "replay");
    assert_eq!(replay["status"], "COMPLETED");
    assert_eq!(replay["total_events"], 2);
    let rest = vec![ws_recv(&mut ws).await, ws_recv(&mut ws).await];
    assert_gapless_payloads(&rest, 3);

    // Errors.
    ws_send(
        &mut ws,
        json!({"action": "reconnect", "run_id": uuid::Uuid::now_v7().to_string()}),
    )
    .await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["event"], "error");
    assert!(e["error"].as_str().unwrap().contains("not found"));
    ws_send(&mut ws, json!({"action": "reconnect"})).await;
    assert_eq!(ws_recv(&mut ws).await["event"], "error");
    ws_send(
        &mut ws,
        json!({"action": "reconnect", "run_id": run_id.to_string(), "last_event_index": -7}),
    )
    .await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["code"], "invalid_last_event_index");
    ws_send(
        &mut ws,
        json!({"action": "start-workflow", "workflow_id": "nope", "message": "m"}),
    )
    .await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["event"], "error");
    assert_eq!(e["code"], "workflow_not_found");
    ws_send(&mut ws, json!({"action": "start-workflow", "message": "m"})).await;
    assert_eq!(ws_recv(&mut ws).await["error"], "workflow_id is required");
    ws_send(&mut ws, json!({"action": "dance"})).await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["event"], "error");
    assert_eq!(e["error"], "Unknown action: dance");
    ws.send(Message::text("{nope")).await.unwrap();
    assert_eq!(ws_recv(&mut ws).await["event"], "error");
    ws.close(None).await.unwrap();
    s.shutdown().await;
}

/// A socket runs a whole workflow: every event arrives, in order.
async fn start_to_completion(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let mut ws = ws_connect(&s).await;
    ws_recv(&mut ws).await;
    ws_send(
        &mut ws,
        json!({"action": "start-workflow", "workflow_id": "count", "message": "5 1"}),
    )
    .await;
    assert_eq!(ws_recv(&mut ws).await["event"], "queued");
    let mut events = vec![];
    loop {
        let v = ws_recv(&mut ws).await;
        let end = v["event"] == "WorkflowCompleted";
        events.push(v);
        if end {
            break;
        }
    }
    assert_gapless_payloads(&events, 0);
    assert_eq!(
        events.iter().filter(|e| e["event"] == "StepOutput").count(),
        5
    );
    s.shutdown().await;
}

/// `GET path`'s JSON body.
async fn get_json(s: &TestServer, path: &str) -> Value {
    let resp = s.client.get(s.url(path)).send().await.unwrap();
    resp.json().await.unwrap()
}

/// The frames of a run started on the socket, up to its `WorkflowCompleted`.
async fn until_completed(ws: &mut Ws) -> Vec<Value> {
    let mut events = vec![];
    loop {
        let v = ws_recv(ws).await;
        let end = v["event"] == "WorkflowCompleted";
        events.push(v);
        if end {
            return events;
        }
    }
}

/// `start-workflow` with `idempotency_key`: the same key and fields give the same run (its
/// events replayed from the first), from the socket or the HTTP route alike; other fields
/// with the key are refused; a bad key is an error frame with the route's code.
async fn start_is_idempotent(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let mut ws = ws_connect(&s).await;
    ws_recv(&mut ws).await; // connected
    let start = json!({
        "action": "start-workflow", "workflow_id": "echo", "message": "once",
        "idempotency_key": "ws-k1", "dependencies": {"d": 2},
    });
    ws_send(&mut ws, start.clone()).await;
    let queued = ws_recv(&mut ws).await;
    assert_eq!(queued["event"], "queued");
    let run_id = queued["run_id"].as_str().unwrap().to_owned();
    let first = until_completed(&mut ws).await;
    assert_gapless_payloads(&first, 0);
    assert_eq!(first.last().unwrap()["content"], "once");

    // The same message again: the same run, answered alike, its events from the first.
    ws_send(&mut ws, start.clone()).await;
    assert_eq!(ws_recv(&mut ws).await, queued);
    assert_eq!(until_completed(&mut ws).await, first);

    // The same request through the HTTP route (background and streamed, as the socket's
    // runs are), the fields in another order: still that run.
    let resp = s
        .client
        .post(s.url("/workflows/echo/runs"))
        .header("Idempotency-Key", "ws-k1")
        .json(&json!({"dependencies": {"d": 2}, "stream": true, "background": true, "message": "once"}))
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resp).rest().await;
    assert_eq!(frames[0].json()["run_id"], run_id.as_str());
    assert_gapless(&frames, 0);

    // The key with other fields: refused, nothing started.
    let mut other = start.clone();
    other["dependencies"] = json!({"d": 3});
    ws_send(&mut ws, other).await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["event"], "error");
    assert_eq!(e["code"], "idempotency_conflict");
    let mut long = start.clone();
    long["idempotency_key"] = json!("k".repeat(300));
    ws_send(&mut ws, long).await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["code"], "invalid_field");
    assert!(
        e["error"].as_str().unwrap().contains("Idempotency-Key"),
        "{e}"
    );
    let runs = get_json(&s, "/workflows/echo/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "one run only: {runs}");
    s.shutdown().await;
}

/// `start-workflow` keeps `dependencies` (and the other run fields) as the HTTP route does,
/// and refuses malformed ones with the route's code.
async fn start_keeps_dependencies(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let mut ws = ws_connect(&s).await;
    ws_recv(&mut ws).await; // connected
    ws_send(
        &mut ws,
        json!({
            "action": "start-workflow", "workflow_id": "echo", "message": "deps",
            "dependencies": {"db": "main"}, "metadata": {"m": "x"},
            "session_state": "{\"k\": 1}", "additional_data": [1, 2],
        }),
    )
    .await;
    let queued = ws_recv(&mut ws).await;
    assert_eq!(queued["event"], "queued", "{queued}");
    until_completed(&mut ws).await;
    let run_id = queued["run_id"].as_str().unwrap();
    let run = get_json(&s, &format!("/workflows/echo/runs/{run_id}")).await;
    assert_eq!(run["dependencies"], json!({"db": "main"}));
    assert_eq!(run["metadata"], json!({"m": "x"}));
    assert_eq!(run["session_state"], json!({"k": 1}));
    assert_eq!(run["additional_data"], json!([1, 2]));

    // Malformed fields: the route's codes, nothing started.
    for (field, value, code) in [
        ("dependencies", json!([1]), "invalid_json_field"),
        ("metadata", json!("{nope"), "invalid_json_field"),
        ("session_id", json!({"a": 1}), "invalid_field"),
        ("webhook_url", json!("ftp://x"), "invalid_field"),
    ] {
        let mut msg = json!({"action": "start-workflow", "workflow_id": "echo", "message": "bad"});
        msg[field] = value;
        ws_send(&mut ws, msg).await;
        let e = ws_recv(&mut ws).await;
        assert_eq!(e["event"], "error", "{field}: {e}");
        assert_eq!(e["code"], code, "{field}: {e}");
        assert!(e["error"].as_str().unwrap().contains(field), "{field}: {e}");
    }
    let runs = get_json(&s, "/workflows/echo/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    s.shutdown().await;
}

both_backends!(
    start_drop_reconnect,
    start_to_completion,
    start_is_idempotent,
    start_keeps_dependencies
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_authentication() {
    let s = TestServer::start(
        Backend::Sqlite,
        Opts {
            security_key: Some("sekrit".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut ws = ws_connect(&s).await;
    let hello = ws_recv(&mut ws).await;
    assert_eq!(hello["requires_auth"], true);
    ws_send(&mut ws, json!({"action": "ping"})).await;
    assert_eq!(ws_recv(&mut ws).await["event"], "auth_required");
    ws_send(
        &mut ws,
        json!({"action": "start-workflow", "workflow_id": "echo", "message": "m"}),
    )
    .await;
    assert_eq!(ws_recv(&mut ws).await["event"], "auth_required");
    ws_send(&mut ws, json!({"action": "authenticate"})).await;
    assert_eq!(ws_recv(&mut ws).await["event"], "auth_error");
    ws_send(&mut ws, json!({"action": "authenticate", "token": "wrong"})).await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["event"], "auth_error");
    assert_eq!(e["error"], "Invalid token");
    ws_send(
        &mut ws,
        json!({"action": "authenticate", "token": "sekrit"}),
    )
    .await;
    assert_eq!(ws_recv(&mut ws).await["event"], "authenticated");
    ws_send(&mut ws, json!({"action": "ping"})).await;
    assert_eq!(ws_recv(&mut ws).await["event"], "pong");
    s.shutdown().await;
}
