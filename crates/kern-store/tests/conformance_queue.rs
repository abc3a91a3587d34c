//! The schema v4 contract (backpressure counts, the operator's listings and stats, requeue),
//! run against every backend.

use kern_store::*;
use kern_testkit::{both_backends, Backend, TestDb};
use serde_json::json;
use std::time::Duration;

fn run(kind: ComponentKind, component: &str) -> NewRun {
    NewRun::new(kind, component, "s", json!({"input": "hi"}))
}

fn wf(component: &str) -> NewRun {
    run(ComponentKind::Workflow, component)
}

/// A run inserted already claimed by "me", as a foreground (or child) run is.
fn claimed(mut run: NewRun) -> NewRun {
    run.claim = Some(Lease {
        owner: "me".into(),
        duration_ms: 60_000,
        first_events: Vec::new(),
    });
    run
}

fn ev(name: &str, n: u64) -> NewEvent {
    NewEvent {
        event_type: name.into(),
        payload: format!(r#"{{"event":"{name}","event_index":{n}}}"#).into(),
        created_at: now_millis(),
        scope: None,
    }
}

fn claim_req(owner: &str, limit: usize, components: &[(ComponentKind, &str)]) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        limit,
        lease_ms: 60_000,
        components: components
            .iter()
            .map(|(k, id)| (*k, (*id).to_owned()))
            .collect(),
    }
}

/// Appends one event (and a checkpoint) to a running run and finishes it with `status`.
async fn finish(s: &dyn Store, run_id: RunId, status: RunStatus) -> RunRecord {
    let current = s.get_run(run_id).await.unwrap().unwrap();
    let first = current.event_count;
    s.write(
        RunWrite {
            run_id,
            attempt: current.attempt,
            first_index: first,
            events: vec![ev("StepCompleted", first), ev("WorkflowEnded", first + 1)],
            checkpoints: vec![("step:0".into(), checkpoint_json(&json!({"done": true})))],
            finish: Some(RunFinish {
                status,
                output: Some(json!({"content": "out"})),
                error: (status == RunStatus::Failed).then(|| "boom".to_owned()),
                pause_expires_at: None,
                output_in_event: false,
            }),
            ..Default::default()
        }
        .into(),
    )
    .await
    .unwrap();
    s.get_run(run_id).await.unwrap().unwrap()
}

/// A claimed run finished with `status`.
async fn finished(s: &dyn Store, new: NewRun, status: RunStatus) -> RunRecord {
    let rec = s.create_run(claimed(new)).await.unwrap();
    finish(s, rec.run_id, status).await
}

/// Lets the millisecond clock move on, so that the runs created next sort after.
async fn tick() {
    let start = now_millis();
    while now_millis() <= start + 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn ids(runs: &[RunRecord]) -> Vec<RunId> {
    runs.iter().map(|r| r.run_id).collect()
}

async fn pending_runs_are_counted_in_all_and_per_component(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &*db.store;
    assert_eq!(s.count_pending(None).await.unwrap(), 0);
    for _ in 0..3 {
        s.create_run(wf("a")).await.unwrap();
    }
    for _ in 0..2 {
        s.create_run(wf("b")).await.unwrap();
    }
    // Same id, another kind: counted apart.
    s.create_run(run(ComponentKind::Agent, "a")).await.unwrap();
    // Inserted claimed (foreground): never pending.
    s.create_run(claimed(wf("a"))).await.unwrap();
    let count =
        |c: Option<(ComponentKind, &'static str)>| async move { s.count_pending(c).await.unwrap() };
    assert_eq!(count(None).await, 6);
    assert_eq!(count(Some((ComponentKind::Workflow, "a"))).await, 3);
    assert_eq!(count(Some((ComponentKind::Workflow, "b"))).await, 2);
    assert_eq!(count(Some((ComponentKind::Agent, "a"))).await, 1);
    assert_eq!(count(Some((ComponentKind::Team, "a"))).await, 0);
    // Claimed runs leave the queue.
    let got = s
        .claim(&claim_req("x", 2, &[(ComponentKind::Workflow, "a")]))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(count(None).await, 4);
    assert_eq!(count(Some((ComponentKind::Workflow, "a"))).await, 1);
}

async fn runs_list_and_count_by_several_statuses_newest_first(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &*db.store;
    let mut failed = Vec::new();
    let mut cancelled = Vec::new();
    for i in 0..5 {
        tick().await;
        failed.push(finished(s, wf("w"), RunStatus::Failed).await);
        tick().await;
        if i < 2 {
            cancelled.push(finished(s, wf("w"), RunStatus::Cancelled).await);
        }
        finished(s, wf("w"), RunStatus::Completed).await;
    }
    let pending = s.create_run(wf("w")).await.unwrap();
    // A failed child run (a team's member): not top-level.
    let parent = failed[0].run_id;
    let child = finished(
        s,
        NewRun {
            parent_run_id: Some(parent),
            ..wf("member")
        },
        RunStatus::Failed,
    )
    .await;

    let dead = RunFilter {
        statuses: vec![RunStatus::Failed, RunStatus::Cancelled],
        top_level: true,
        newest_first: true,
        ..Default::default()
    };
    assert_eq!(s.count_runs(&dead).await.unwrap(), 7);
    let mut expected: Vec<RunRecord> = failed.iter().chain(&cancelled).cloned().collect();
    expected.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.run_id)));
    let page1 = s
        .list_runs(&RunFilter {
            limit: Some(4),
            ..dead.clone()
        })
        .await
        .unwrap();
    let page2 = s
        .list_runs(&RunFilter {
            limit: Some(4),
            offset: Some(4),
            ..dead.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        [ids(&page1), ids(&page2)].concat(),
        ids(&expected),
        "pages of the dead-letter list, newest first"
    );
    // With the child runs.
    let all_dead = RunFilter {
        top_level: false,
        ..dead.clone()
    };
    assert_eq!(s.count_runs(&all_dead).await.unwrap(), 8);
    assert!(ids(&s.list_runs(&all_dead).await.unwrap()).contains(&child.run_id));
    // One status in the list; the single `status` filter combines with it.
    let only_failed = RunFilter {
        statuses: vec![RunStatus::Failed],
        top_level: true,
        ..Default::default()
    };
    assert_eq!(s.count_runs(&only_failed).await.unwrap(), 5);
    assert_eq!(
        s.count_runs(&RunFilter {
            status: Some(RunStatus::Failed),
            statuses: vec![RunStatus::Failed, RunStatus::Pending],
            ..Default::default()
        })
        .await
        .unwrap(),
        6
    );
    let live = RunFilter {
        statuses: vec![RunStatus::Pending, RunStatus::Running],
        ..Default::default()
    };
    assert_eq!(
        ids(&s.list_runs(&live).await.unwrap()),
        vec![pending.run_id]
    );
    // Every top-level run, newest first: the pending one was created last.
    let everything = RunFilter {
        top_level: true,
        newest_first: true,
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(s.count_runs(&everything).await.unwrap(), 5 + 2 + 5 + 1);
    assert_eq!(
        ids(&s.list_runs(&everything).await.unwrap()),
        vec![pending.run_id]
    );
    // The other filters still apply to a count.
    assert_eq!(
        s.count_runs(&RunFilter {
            component_id: Some("member".into()),
            ..Default::default()
        })
        .await
        .unwrap(),
        1
    );
}

async fn queue_stats_count_top_level_runs_by_status(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &*db.store;
    let empty = s.queue_stats().await.unwrap();
    assert!(empty.counts.is_empty());
    assert_eq!(empty.oldest_pending_at, None);
    assert!((empty.now - now_millis()).abs() < 60_000, "{}", empty.now);

    let oldest = s.create_run(wf("w")).await.unwrap();
    tick().await;
    s.create_run(wf("w")).await.unwrap();
    s.create_run(wf("v")).await.unwrap();
    let running = s.create_run(claimed(wf("w"))).await.unwrap();
    finished(s, wf("w"), RunStatus::Completed).await;
    finished(s, wf("w"), RunStatus::Completed).await;
    finished(s, wf("w"), RunStatus::Failed).await;
    finished(s, wf("w"), RunStatus::Cancelled).await;
    // Child runs are part of their parent's run: not counted.
    finished(
        s,
        NewRun {
            parent_run_id: Some(running.run_id),
            ..wf("member")
        },
        RunStatus::Failed,
    )
    .await;
    s.create_run(claimed(NewRun {
        parent_run_id: Some(running.run_id),
        ..wf("member")
    }))
    .await
    .unwrap();

    let stats = s.queue_stats().await.unwrap();
    assert_eq!(stats.count(RunStatus::Pending), 3);
    assert_eq!(stats.count(RunStatus::Running), 1);
    assert_eq!(stats.count(RunStatus::Paused), 0);
    assert_eq!(stats.count(RunStatus::Completed), 2);
    assert_eq!(stats.count(RunStatus::Failed), 1);
    assert_eq!(stats.count(RunStatus::Cancelled), 1);
    assert_eq!(stats.oldest_pending_at, Some(oldest.created_at));
    assert!(stats.now >= oldest.created_at - 1000, "one clock");
    // Once nothing is pending, there is no oldest.
    s.claim(&claim_req(
        "x",
        10,
        &[
            (ComponentKind::Workflow, "w"),
            (ComponentKind::Workflow, "v"),
        ],
    ))
    .await
    .unwrap();
    let stats = s.queue_stats().await.unwrap();
    assert_eq!(stats.count(RunStatus::Pending), 0);
    assert_eq!(stats.count(RunStatus::Running), 4);
    assert_eq!(stats.oldest_pending_at, None);
}

async fn finished_runs_are_counted_since_a_time(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &*db.store;
    let before = s.queue_stats().await.unwrap().now - 1000;
    // Background runs, claimed from the queue, then finished.
    for component in ["a", "a", "b"] {
        s.create_run(wf(component)).await.unwrap();
    }
    let claimed_runs = s
        .claim(&claim_req(
            "x",
            10,
            &[
                (ComponentKind::Workflow, "a"),
                (ComponentKind::Workflow, "b"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(claimed_runs.len(), 3);
    for r in &claimed_runs {
        finish(s, r.run_id, RunStatus::Completed).await;
    }
    // A foreground run: never queued, not counted.
    let fg = NewRun {
        background: false,
        ..wf("a")
    };
    finished(s, fg, RunStatus::Completed).await;
    assert_eq!(s.count_finished_since(before, None).await.unwrap(), 3);
    let a = Some((ComponentKind::Workflow, "a"));
    assert_eq!(s.count_finished_since(before, a).await.unwrap(), 2);
    let future = now_millis() + 3_600_000;
    assert_eq!(s.count_finished_since(future, None).await.unwrap(), 0);
}

async fn requeue_turns_a_failed_or_cancelled_run_back_into_a_pending_one(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &*db.store;
    let mut new = wf("w");
    new.webhook_url = Some("http://127.0.0.1:9/hook".into());
    s.create_run(new).await.unwrap();
    let first = s
        .claim(&claim_req("x", 1, &[(ComponentKind::Workflow, "w")]))
        .await
        .unwrap()
        .remove(0);
    let failed = finish(s, first.run_id, RunStatus::Failed).await;
    assert_eq!(
        (failed.status, failed.attempt, failed.event_count),
        (RunStatus::Failed, 1, 2)
    );
    assert!(failed.finished_at.is_some() && failed.started_at.is_some());
    let requeued_event = ev("RunRequeued", 2);
    let req = |count: u64| RequeueRequest {
        run_id: failed.run_id,
        event_count: count,
        event: requeued_event.clone(),
        checkpoints: vec![("pause".into(), checkpoint_json(&json!(null)))],
    };
    // A stale view of the log is a conflict, and writes nothing.
    assert!(matches!(
        s.requeue(req(1)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.get_run(failed.run_id).await.unwrap().unwrap(), failed);

    let queued = s.requeue(req(2)).await.unwrap();
    assert_eq!(queued.status, RunStatus::Pending);
    assert_eq!(queued.event_count, 3);
    assert_eq!(
        (queued.error.as_deref(), queued.output.as_ref()),
        (None, None)
    );
    assert_eq!((queued.finished_at, queued.started_at), (None, None));
    assert_eq!(
        (queued.lease_owner.as_deref(), queued.lease_expires_at),
        (None, None)
    );
    assert!(queued.background && !queued.cancel_requested);
    // The attempt (the fencing token) is kept; the recovery budget starts afresh.
    assert_eq!((queued.attempt, queued.releases), (1, 1));
    assert_eq!(s.get_run(failed.run_id).await.unwrap().unwrap(), queued);
    let log = s.read_events(failed.run_id, 0, 10).await.unwrap();
    let names: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(names, ["StepCompleted", "WorkflowEnded", "RunRequeued"]);
    assert_eq!(log[2].payload, requeued_event.payload);
    // Checkpoints are kept, and the request's are written.
    let checkpoints = s.load_checkpoints(failed.run_id).await.unwrap();
    assert_eq!(
        checkpoints,
        vec![
            ("pause".to_owned(), json!(null)),
            ("step:0".to_owned(), json!({"done": true}))
        ]
    );
    assert_eq!(s.count_pending(None).await.unwrap(), 1);
    // A second requeue of the same failure is a conflict (the run is pending now).
    assert!(matches!(
        s.requeue(req(2)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.requeue(req(3)).await,
        Err(StoreError::Conflict { .. })
    ));

    // Claimed again: the next attempt; the first attempt's owner is fenced.
    let second = s
        .claim(&claim_req("y", 1, &[(ComponentKind::Workflow, "w")]))
        .await
        .unwrap()
        .remove(0);
    assert_eq!((second.run_id, second.attempt), (failed.run_id, 2));
    assert!(second.started_at.is_some());
    assert_eq!(
        second.attempt - 1 - second.releases,
        0,
        "no crash recovery counted"
    );
    let stale = RunWrite {
        run_id: failed.run_id,
        attempt: 1,
        first_index: 3,
        events: vec![ev("Stale", 3)],
        ..Default::default()
    };
    assert!(matches!(
        s.write(stale.into()).await,
        Err(StoreError::Fenced { .. })
    ));
    let done = finish(s, failed.run_id, RunStatus::Completed).await;
    assert_eq!((done.status, done.event_count), (RunStatus::Completed, 5));
    // One webhook delivery per terminal status reached.
    assert_eq!(s.list_webhooks(failed.run_id).await.unwrap().len(), 2);

    // Completed, running and pending runs are not requeued; an unknown run is not found.
    let completed_req = RequeueRequest {
        run_id: done.run_id,
        event_count: done.event_count,
        event: ev("RunRequeued", done.event_count),
        checkpoints: vec![],
    };
    assert!(matches!(
        s.requeue(completed_req).await,
        Err(StoreError::Conflict { .. })
    ));
    let running = s.create_run(claimed(wf("w"))).await.unwrap();
    let pending = s.create_run(wf("w")).await.unwrap();
    for r in [&running, &pending] {
        let req = RequeueRequest {
            run_id: r.run_id,
            event_count: 0,
            event: ev("RunRequeued", 0),
            checkpoints: vec![],
        };
        assert!(matches!(
            s.requeue(req).await,
            Err(StoreError::Conflict { .. })
        ));
    }
    let unknown = new_run_id();
    let req = RequeueRequest {
        run_id: unknown,
        event_count: 0,
        event: ev("RunRequeued", 0),
        checkpoints: vec![],
    };
    assert!(matches!(
        s.requeue(req).await,
        Err(StoreError::RunNotFound(id)) if id == unknown
    ));

    // A run cancelled while pending (cancel flag set, never started) is requeued too, and
    // its cancel request is cleared.
    s.cancel_pending(
        pending.run_id,
        0,
        ev("WorkflowCancelled", 0),
        Some("no".into()),
    )
    .await
    .unwrap();
    let req = RequeueRequest {
        run_id: pending.run_id,
        event_count: 1,
        event: ev("RunRequeued", 1),
        checkpoints: vec![],
    };
    let again = s.requeue(req).await.unwrap();
    assert_eq!(again.status, RunStatus::Pending);
    assert!(!again.cancel_requested && again.error.is_none());
    assert_eq!((again.attempt, again.releases), (0, 0));
}

both_backends!(
    pending_runs_are_counted_in_all_and_per_component,
    runs_list_and_count_by_several_statuses_newest_first,
    queue_stats_count_top_level_runs_by_status,
    finished_runs_are_counted_since_a_time,
    requeue_turns_a_failed_or_cancelled_run_back_into_a_pending_one,
);
