//! `POST /{kind}/{id}/runs/{run_id}/continue` over loopback HTTP: a workflow paused before a
//! step that needs confirmation is continued in each mode; the paused run's record carries
//! `step_requirements` as Agno's `WorkflowRunOutput` reads them; a run that is not paused is
//! 409 `run_not_paused`; malformed decisions are 422 naming the field; unknown runs 404.

mod common;

use common::*;
use kern_core::store::RunStatus;
use kern_testkit::{both_backends, Backend};
use serde_json::{json, Value};

async fn continue_form(s: &TestServer, run_id: &str, form: &[(&str, &str)]) -> reqwest::Response {
    s.client
        .post(s.url(&format!("/workflows/review/runs/{run_id}/continue")))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn paused_run(s: &TestServer, message: &str) -> Value {
    let resp = s
        .create("review", &[("message", message), ("stream", "false")])
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "PAUSED", "{v}");
    v
}

async fn continue_in_each_mode(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    register_review(&s);
    let approve = json!([{"step_name": "publish", "confirmed": true}]).to_string();

    // Foreground, blocking: the answer is the run when it settles.
    let v = paused_run(&s, "post one").await;
    let [req] = v["step_requirements"].as_array().unwrap().as_slice() else {
        panic!("one requirement: {v}")
    };
    assert_eq!(req["step_name"], "publish");
    assert_eq!(req["confirmation_message"], "Publish it?");
    assert_eq!(req["requires_confirmation"], true);
    let id = v["run_id"].as_str().unwrap();
    let resp = continue_form(&s, id, &[("step_requirements", &approve)]).await;
    assert_eq!(resp.status(), 200);
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["content"], "published draft of post one");
    assert_eq!(done["run_id"], v["run_id"], "the same run goes on");

    // Continuing it again is a conflict, with a stable code.
    let resp = continue_form(&s, id, &[("step_requirements", &approve)]).await;
    assert_eq!(resp.status(), 409);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["code"], "run_not_paused", "{err}");

    // Background: 202 at once, then it completes.
    let v = paused_run(&s, "post two").await;
    let id = v["run_id"].as_str().unwrap();
    let resp = continue_form(
        &s,
        id,
        &[("step_requirements", &approve), ("background", "true")],
    )
    .await;
    assert_eq!(resp.status(), 202);
    let ack: Value = resp.json().await.unwrap();
    assert_eq!(ack["status"], "PENDING");
    let run = s
        .wait_status(id.parse().unwrap(), |st| st == RunStatus::Completed)
        .await;
    assert_eq!(run.event_count, v["event_count"].as_u64().unwrap() + 4);

    // Streaming: the events from RunContinued to the end.
    let v = paused_run(&s, "post three").await;
    let id = v["run_id"].as_str().unwrap();
    let resp = continue_form(
        &s,
        id,
        &[("step_requirements", &approve), ("stream", "true")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let names: Vec<String> = SseReader::new(resp)
        .rest()
        .await
        .iter()
        .filter(|f| !f.is_meta())
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("RunContinued"),
        "{names:?}"
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("WorkflowCompleted"),
        "{names:?}"
    );
    s.shutdown().await;
}

async fn bad_decisions_and_unknown_runs(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    register_review(&s);
    let v = paused_run(&s, "post").await;
    let id = v["run_id"].as_str().unwrap();
    for (field, value) in [
        ("tools", r#"{"confirmed": true}"#),
        ("requirements", "7"),
        ("step_requirements", r#"{"step_name": "publish"}"#),
    ] {
        let resp = continue_form(&s, id, &[(field, value)]).await;
        assert_eq!(resp.status(), 422, "{field}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["code"], "invalid_field", "{err}");
        assert!(err["detail"].as_str().unwrap().contains(field), "{err}");
    }
    let resp = continue_form(&s, id, &[("step_requirements", "[not json")]).await;
    assert_eq!(resp.status(), 422);
    // Nothing was lost: the run still waits.
    let run = s
        .engine
        .get_run(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Paused);

    let unknown = uuid::Uuid::now_v7().to_string();
    let resp = continue_form(&s, &unknown, &[("step_requirements", "[]")]).await;
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert!(err["code"].is_string(), "{err}");
    s.shutdown().await;
}

both_backends!(continue_in_each_mode, bad_decisions_and_unknown_runs);
