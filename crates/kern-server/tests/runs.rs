//! Creating runs in the four modes, polling, listing and cancelling them, over loopback HTTP.

mod common;

use common::*;
use kern_core::store::RunStatus;
use kern_testkit::{both_backends, wait_for, Backend};
use serde_json::{json, Value};

/// background=false, stream=false: 200 with the finished run as AgentOS shapes it.
async fn foreground_blocking_returns_the_run(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let resp = s
        .create("echo", &[("message", "hello"), ("stream", "false")])
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["content"], "hello");
    assert_eq!(v["content_type"], "str");
    assert_eq!(v["workflow_id"], "echo");
    assert_eq!(v["workflow_name"], "Echo");
    assert_eq!(v["input"], "hello");
    assert!(v["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert!(v["metrics"].is_object());
    let steps = v["step_results"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["step_name"], "echo");
    // The events are the stored ones, verbatim.
    let run_id = v["run_id"].as_str().unwrap().parse().unwrap();
    let stored: Vec<Value> = stored_payloads(&s.engine, run_id)
        .await
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    assert_eq!(v["events"].as_array().unwrap(), &stored);
    assert_eq!(v["events"][0]["event"], "WorkflowStarted");

    // A failing workflow is still a 200 with status ERROR.
    let resp = s
        .create("fail", &[("message", "x"), ("stream", "false")])
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "ERROR");
    assert!(v["error"].as_str().unwrap().contains("always fails"));
    s.shutdown().await;
}

/// background=false, stream=true (the default): SSE of the stored events, byte for byte.
async fn foreground_streaming_sends_stored_events(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let resp = s.create("count", &[("message", "3 1")]).await;
    let mut sse = SseReader::new(resp);
    let frames = sse.rest().await;
    assert_gapless(&frames, 0);
    assert_eq!(frames.first().unwrap().name(), "WorkflowStarted");
    assert_eq!(frames.last().unwrap().name(), "WorkflowCompleted");
    let outputs: Vec<Value> = frames
        .iter()
        .filter(|f| f.name() == "StepOutput")
        .map(|f| f.json()["content"].clone())
        .collect();
    assert_eq!(outputs, vec![json!(1), json!(2), json!(3)]);
    let run_id = frames[0].json()["run_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let stored = stored_payloads(&s.engine, run_id).await;
    let sent: Vec<String> = frames.iter().map(|f| f.data.clone()).collect();
    assert_eq!(sent, stored, "events are passed through as stored");
    let run = s.wait_status(run_id, RunStatus::is_terminal).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert!(!run.background);
    s.shutdown().await;
}

/// background=true, stream=false: 202 PENDING at once; poll until COMPLETED.
async fn background_returns_pending_then_completes(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let resp = s
        .create(
            "echo",
            &[
                ("message", "bg"),
                ("stream", "false"),
                ("background", "true"),
                ("session_id", "sess-1"),
                ("user_id", "u1"),
                ("session_state", r#"{"k":1}"#),
                ("metadata", r#"{"m":"x"}"#),
                ("dependencies", r#"{"d":2}"#),
                ("additional_data", "[1,2]"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 202);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "PENDING");
    assert_eq!(v["session_id"], "sess-1");
    let run_id = v["run_id"].as_str().unwrap();
    let url = s.url(&format!("/workflows/echo/runs/{run_id}"));
    let done = wait_for(TIMEOUT, "the background run to complete", || async {
        let v: Value = s
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] == "COMPLETED" {
            return Ok(v);
        }
        assert!(["PENDING", "RUNNING"].contains(&v["status"].as_str().unwrap()));
        Err(v)
    })
    .await;
    assert_eq!(done["content"], "bg");
    assert_eq!(done["user_id"], "u1");
    assert_eq!(done["session_state"], json!({"k": 1}));
    assert_eq!(done["metadata"], json!({"m": "x"}));
    assert_eq!(done["dependencies"], json!({"d": 2}));
    assert_eq!(done["additional_data"], json!([1, 2]));
    assert_eq!(done["background"], true);
    // With the right session, and with a wrong one (404).
    let ok = s
        .client
        .get(format!("{url}?session_id=sess-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = s
        .client
        .get(format!("{url}?session_id=other"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    s.shutdown().await;
}

/// background=true, stream=true: SSE from the first event; the run is a background run.
async fn background_streaming_sends_the_whole_log(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let resp = s
        .create(
            "count",
            &[
                ("message", "4 1"),
                ("stream", "true"),
                ("background", "true"),
            ],
        )
        .await;
    let frames = SseReader::new(resp).rest().await;
    assert_gapless(&frames, 0);
    assert_eq!(frames.last().unwrap().name(), "WorkflowCompleted");
    let run_id = frames[0].json()["run_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let run = s.wait_status(run_id, RunStatus::is_terminal).await;
    assert!(run.background);
    assert_eq!(run.status, RunStatus::Completed);
    s.shutdown().await;
}

/// JSON bodies and multipart bodies work like urlencoded ones.
async fn json_and_multipart_bodies(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let url = s.url("/workflows/echo/runs");
    let v: Value = s
        .client
        .post(&url)
        .json(&json!({"message": "j", "stream": false, "session_state": {"a": 1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"], "j");
    assert_eq!(v["session_state"], json!({"a": 1}));
    // Structured input through JSON.
    let v: Value = s
        .client
        .post(&url)
        .json(&json!({"message": {"q": "x"}, "stream": "false"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["input"], json!({"q": "x"}));
    assert_eq!(v["status"], "COMPLETED");
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nmulti\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\nfalse\r\n--{boundary}--\r\n"
    );
    let resp = s
        .client
        .post(&url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["content"], "multi");
    // "null" is coerced to absent: a fresh session is made.
    let v: Value = s
        .create(
            "echo",
            &[
                ("message", "n"),
                ("stream", "false"),
                ("session_id", "null"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(v["session_id"], "null");
    s.shutdown().await;
}

/// Listing runs with filters; cancel in each state; unknown run 404.
async fn list_and_cancel(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    // A finished run.
    let done: Value = s
        .create(
            "echo",
            &[("message", "a"), ("stream", "false"), ("session_id", "L")],
        )
        .await
        .json()
        .await
        .unwrap();
    let done_id = done["run_id"].as_str().unwrap().to_owned();
    // A running one, held at its gate.
    let key = gate_key();
    let running = s.start_background("gated", &key).await;
    s.wait_events(running, 3).await; // WorkflowStarted, StepStarted, StepOutput "waiting"

    let list: Value = s.get_json("/workflows/echo/runs?session_id=L").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["run_id"], done_id.as_str());
    let list: Value = s.get_json("/workflows/gated/runs?status=RUNNING").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list: Value = s.get_json("/workflows/gated/runs?status=COMPLETED").await;
    assert_eq!(list.as_array().unwrap().len(), 0);

    // Cancel the running one.
    let resp = s
        .client
        .post(s.url(&format!("/workflows/gated/runs/{running}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["cancelled"], true);
    let run = s.wait_status(running, RunStatus::is_terminal).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    let v: Value = s
        .get_json(&format!("/workflows/gated/runs/{running}"))
        .await;
    assert_eq!(v["status"], "CANCELLED");
    assert_eq!(
        v["events"].as_array().unwrap().last().unwrap()["event"],
        "WorkflowCancelled"
    );

    // A finished run: 200, says so, nothing changes.
    let resp = s
        .client
        .post(s.url(&format!("/workflows/echo/runs/{done_id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["cancelled"], false);
    assert_eq!(v["already_finished"], true);
    assert_eq!(v["status"], "COMPLETED");

    // Unknown run, or a run of another workflow: 404 JSON.
    for path in [
        format!("/workflows/echo/runs/{}/cancel", uuid::Uuid::now_v7()),
        format!("/workflows/count/runs/{done_id}/cancel"),
        "/workflows/echo/runs/not-a-uuid/cancel".to_owned(),
    ] {
        let resp = s.client.post(s.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["code"], "run_not_found");
        assert_eq!(v["detail"], "Run not found");
    }
    s.shutdown().await;
}

/// A pending run (no executor anywhere) is cancelled at once.
async fn cancel_pending(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        Opts {
            executor: Some(false),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let run_id = s.start_background("echo", "never").await;
    let v: Value = s
        .client
        .post(s.url(&format!("/workflows/echo/runs/{run_id}/cancel")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "CANCELLED");
    assert_eq!(v["cancelled"], true);
    let v: Value = s.get_json(&format!("/workflows/echo/runs/{run_id}")).await;
    assert_eq!(v["status"], "CANCELLED");
    s.shutdown().await;
}

both_backends!(
    foreground_blocking_returns_the_run,
    foreground_streaming_sends_stored_events,
    background_returns_pending_then_completes,
    background_streaming_sends_the_whole_log,
    json_and_multipart_bodies,
    list_and_cancel,
    cancel_pending,
);
