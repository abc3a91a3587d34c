//! `/resume`: drop and resume while many runs stream, `Last-Event-ID`, catch-up and live tail,
//! replay of finished runs, unknown runs, keep-alives.

mod common;

use common::*;
use kern_core::store::RunStatus;
use kern_testkit::{both_backends, Backend};
use std::time::Duration;

/// 20 background+stream runs at once; each client drops after k events and resumes from the
/// last index it saw: what it received in total is the run's whole log, gapless.
async fn many_runs_drop_and_resume(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let resp = s
                .create(
                    "count",
                    &[
                        ("message", "25 10"),
                        ("background", "true"),
                        ("stream", "true"),
                    ],
                )
                .await;
            let mut sse = SseReader::new(resp);
            let k = 1 + (i % 9) as usize;
            let mut got = Vec::new();
            for _ in 0..k {
                got.push(sse.next().await.expect("an event before the drop"));
            }
            drop(sse); // the client goes away
            let run_id: String = got[0].json()["run_id"].as_str().unwrap().to_owned();
            let last = got.last().unwrap().id.unwrap();
            let resp = s
                .client
                .post(s.url(&format!("/workflows/count/runs/{run_id}/resume")))
                .form(&[("last_event_index", last.to_string())])
                .send()
                .await
                .unwrap();
            let frames = SseReader::new(resp).rest().await;
            let meta = &frames[0];
            assert!(
                ["catch_up", "subscribed", "replay"].contains(&meta.name()),
                "first frame {meta:?}"
            );
            got.extend(frames.into_iter().filter(|f| !f.is_meta()));
            assert_gapless(&got, 0);
            assert_eq!(got.last().unwrap().name(), "WorkflowCompleted");
            let run_id = run_id.parse().unwrap();
            let stored = stored_payloads(&s.engine, run_id).await;
            let sent: Vec<String> = got.iter().map(|f| f.data.clone()).collect();
            assert_eq!(sent, stored);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = std::sync::Arc::into_inner(s).unwrap();
    s.shutdown().await;
}

/// A run still going: `catch_up`, the missed events, `subscribed`, then the live tail, from
/// `Last-Event-ID` or the form (the form wins).
async fn catch_up_then_live_tail(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let key = gate_key();
    let run = s.start_background("gated", &key).await;
    s.wait_events(run, 3).await; // WorkflowStarted, StepStarted, StepOutput
    let resume = s.url(&format!("/workflows/gated/runs/{run}/resume"));

    let resp = s
        .client
        .post(&resume)
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    let mut sse = SseReader::new(resp);
    let catch_up = sse.next().await.unwrap();
    assert_eq!(catch_up.name(), "catch_up");
    assert_eq!(catch_up.id, None, "meta frames carry no id");
    let v = catch_up.json();
    assert_eq!(v["event"], "catch_up");
    assert_eq!(v["run_id"], run.to_string());
    assert_eq!(v["status"], "running");
    assert_eq!(v["missed_events"], 2);
    assert_eq!(v["current_event_count"], 3);
    let missed = vec![sse.next().await.unwrap(), sse.next().await.unwrap()];
    assert_gapless(&missed, 1);
    let subscribed = sse.next().await.unwrap();
    assert_eq!(subscribed.name(), "subscribed");
    assert_eq!(subscribed.json()["current_event_count"], 3);

    // Another client, caught up already (form index 2 overrides the header's 0).
    let resp = s
        .client
        .post(&resume)
        .header("Last-Event-ID", "0")
        .form(&[("last_event_index", "2")])
        .send()
        .await
        .unwrap();
    let mut sse2 = SseReader::new(resp);
    assert_eq!(sse2.next().await.unwrap().name(), "subscribed");

    gate(&key).add_permits(1);
    let live = sse.rest().await;
    assert_gapless(&live, 3);
    assert_eq!(live.last().unwrap().name(), "WorkflowCompleted");
    let live2 = sse2.rest().await;
    assert_gapless(&live2, 3);
    s.wait_status(run, RunStatus::is_terminal).await;
    s.shutdown().await;
}

/// A finished run: `replay` then the events after the index; -1 or none: all of them.
async fn finished_runs_replay(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let run = s.start_background("count", "3 1").await;
    let rec = s.wait_status(run, RunStatus::is_terminal).await;
    let total = rec.event_count;
    let resume = s.url(&format!("/workflows/count/runs/{run}/resume"));
    for (form, from) in [(Some("1"), 2u64), (Some("-1"), 0), (None, 0)] {
        let mut req = s.client.post(&resume);
        if let Some(i) = form {
            req = req.form(&[
                ("last_event_index", i),
                ("session_id", rec.session_id.as_str()),
            ]);
        }
        let frames = SseReader::new(req.send().await.unwrap()).rest().await;
        let meta = frames[0].json();
        assert_eq!(frames[0].name(), "replay");
        assert_eq!(meta["status"], "COMPLETED");
        assert_eq!(meta["total_events"], total - from);
        assert_eq!(
            meta["last_event_index_requested"],
            form.map_or(-1, |f| f.parse::<i64>().unwrap().max(-1))
        );
        assert_gapless(&frames[1..], from);
        assert_eq!(frames.len() as u64, 1 + total - from);
    }
    // Past the last event: nothing more to send.
    let last = (total - 1).to_string();
    let frames = SseReader::new(
        s.client
            .post(&resume)
            .form(&[("last_event_index", last.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .rest()
    .await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].json()["total_events"], 0);
    s.shutdown().await;
}

/// An unknown run (or one of another workflow, or another session): one `error` frame.
async fn unknown_runs_get_an_error_frame(backend: Backend) {
    let Some(s) = TestServer::start(backend, Opts::default()).await else {
        return;
    };
    let run = s.start_background("echo", "x").await;
    s.wait_status(run, RunStatus::is_terminal).await;
    for (path, form) in [
        (
            format!("/workflows/echo/runs/{}/resume", uuid::Uuid::now_v7()),
            vec![],
        ),
        (format!("/workflows/count/runs/{run}/resume"), vec![]),
        (
            format!("/workflows/echo/runs/{run}/resume"),
            vec![("session_id", "someone-else")],
        ),
    ] {
        let resp = s
            .client
            .post(s.url(&path))
            .form(&form)
            .send()
            .await
            .unwrap();
        let frames = SseReader::new(resp).rest().await;
        assert_eq!(frames.len(), 1, "{path}");
        assert_eq!(frames[0].name(), "error");
        let v = frames[0].json();
        assert_eq!(v["event"], "error");
        assert!(v["error"].as_str().unwrap().contains("not found"));
    }
    s.shutdown().await;
}

/// An idle stream gets `: keepalive` comments.
async fn idle_streams_get_keepalives(backend: Backend) {
    let Some(s) = TestServer::start(
        backend,
        Opts {
            keep_alive: Some(Duration::from_millis(50)),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let key = gate_key();
    let run = s.start_background("gated", &key).await;
    s.wait_events(run, 3).await;
    let resp = s
        .client
        .post(s.url(&format!("/workflows/gated/runs/{run}/resume")))
        .form(&[("last_event_index", "2")])
        .send()
        .await
        .unwrap();
    let mut sse = SseReader::new(resp);
    assert_eq!(sse.next_raw().await.unwrap().name(), "subscribed");
    let mut keepalives = 0;
    while keepalives < 2 {
        let f = sse.next_raw().await.unwrap();
        assert_eq!(f.comment.as_deref(), Some("keepalive"), "{f:?}");
        keepalives += 1;
    }
    gate(&key).add_permits(1);
    let rest = sse.rest().await;
    assert_gapless(&rest, 3);
    s.shutdown().await;
}

both_backends!(
    many_runs_drop_and_resume,
    catch_up_then_live_tail,
    finished_runs_replay,
    unknown_runs_get_an_error_frame,
    idle_streams_get_keepalives,
);
