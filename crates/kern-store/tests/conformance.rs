//! The store contract, run against every backend.

use kern_store::*;
use kern_testkit::{both_backends, wait_for, Backend, TestDb};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

fn new_run(component: &str, session: &str) -> NewRun {
    NewRun {
        run_id: new_run_id(),
        session_id: session.into(),
        user_id: Some("u1".into()),
        kind: ComponentKind::Workflow,
        component_id: component.into(),
        parent_run_id: None,
        input: json!({"message": "hi"}),
        background: true,
        claim: None,
        ..Default::default()
    }
}

fn claim_req(owner: &str, limit: usize, lease_ms: i64) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        limit,
        lease_ms,
        components: vec![(ComponentKind::Workflow, "wf".into())],
    }
}

/// A new run of `wf` in session `s`, claimed by owner `a` (lease 10 s).
async fn create_and_claim(s: &dyn Store) -> RunRecord {
    s.create_run(new_run("wf", "s")).await.unwrap();
    s.claim(&claim_req("a", 1, 10_000)).await.unwrap().remove(0)
}

/// The finish of a write that completes a run with `output`.
fn completed(output: Option<Value>) -> Option<RunFinish> {
    Some(RunFinish {
        status: RunStatus::Completed,
        output,
        error: None,
        pause_expires_at: None,
        output_in_event: false,
    })
}

fn ev(n: u64) -> NewEvent {
    NewEvent {
        event_type: "StepStarted".into(),
        payload: format!(r#"{{"event":"StepStarted","n":{n}}}"#).into(),
        created_at: now_millis(),
        scope: None,
    }
}

fn write(run: &RunRecord, first: u64, n: u64) -> RunWrite {
    RunWrite {
        run_id: run.run_id,
        attempt: run.attempt,
        first_index: first,
        events: (first..first + n).map(ev).collect(),
        ..Default::default()
    }
}

async fn db(backend: Backend) -> Option<TestDb> {
    TestDb::new(backend).await
}

async fn create_get_and_duplicate(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let new = new_run("wf", "s1");
    let rec = s.create_run(new.clone()).await.unwrap();
    assert_eq!(rec.status, RunStatus::Pending);
    assert_eq!(rec.attempt, 0);
    assert_eq!(rec.event_count, 0);
    assert_eq!(rec.input, json!({"message": "hi"}));
    assert_eq!(s.get_run(new.run_id).await.unwrap(), Some(rec.clone()));
    assert!(matches!(
        s.create_run(new.clone()).await,
        Err(StoreError::DuplicateRun(id)) if id == new.run_id
    ));
    assert_eq!(s.get_run(new_run_id()).await.unwrap(), None);
    // The record a create returns is the row as stored, whatever its columns: a child run
    // with a webhook, no user and a foreground lease too.
    let child = NewRun {
        parent_run_id: Some(rec.run_id),
        user_id: None,
        webhook_url: Some("http://127.0.0.1:9/hook".into()),
        background: false,
        input: json!({"input": [1, 2.5, "x"], "session_state": {"k": null}}),
        claim: Some(Lease {
            owner: "me".into(),
            duration_ms: 30_000,
            first_events: Vec::new(),
        }),
        ..new_run("wf", "s1")
    };
    let created = s.create_run(child.clone()).await.unwrap();
    assert_eq!(created.status, RunStatus::Running);
    assert_eq!(s.get_run(child.run_id).await.unwrap(), Some(created));
    let session = s.get_session("s1").await.unwrap().expect("session created");
    assert_eq!(session.component_id, "wf");
    assert_eq!(session.user_id.as_deref(), Some("u1"));
}

async fn claim_takes_oldest_once_and_respects_components(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(s.create_run(new_run("wf", "s")).await.unwrap().run_id);
    }
    let other = s.create_run(new_run("other", "s")).await.unwrap();
    let first = s.claim(&claim_req("a", 3, 10_000)).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        ids[..3].to_vec()
    );
    for r in &first {
        assert_eq!(r.status, RunStatus::Running);
        assert_eq!(r.attempt, 1);
        assert_eq!(r.lease_owner.as_deref(), Some("a"));
        assert!(r.started_at.is_some());
    }
    let second = s.claim(&claim_req("b", 10, 10_000)).await.unwrap();
    assert_eq!(
        second.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        ids[3..].to_vec()
    );
    assert!(s
        .claim(&claim_req("c", 10, 10_000))
        .await
        .unwrap()
        .is_empty());
    let still = s.get_run(other.run_id).await.unwrap().unwrap();
    assert_eq!(
        still.status,
        RunStatus::Pending,
        "foreign component left alone"
    );
}

async fn concurrent_claimers_never_share_a_run(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let mut stores = vec![db.store.clone()];
    for _ in 0..3 {
        stores.push(db.reopen().await);
    }
    for _ in 0..200 {
        db.store.create_run(new_run("wf", "s")).await.unwrap();
    }
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        for j in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let owner = format!("o{i}-{j}");
                let mut got = Vec::new();
                loop {
                    let batch = store.claim(&claim_req(&owner, 7, 60_000)).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|r| r.run_id));
                }
            }));
        }
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "run {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 200);
}

async fn writes_are_fenced_and_gapless(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let run = create_and_claim(s.as_ref()).await;
    s.write(write(&run, 0, 3).into()).await.unwrap();
    // A gap or an overlap is refused.
    assert!(matches!(
        s.write(write(&run, 4, 1).into()).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        s.write(write(&run, 2, 1).into()).await,
        Err(StoreError::Fenced { .. })
    ));
    // A stale attempt is refused.
    let mut stale = write(&run, 3, 1);
    stale.attempt = 0;
    assert!(matches!(
        s.write(stale.into()).await,
        Err(StoreError::Fenced { .. })
    ));
    // Events, checkpoints, session state and finish land together.
    let mut last = write(&run, 3, 2);
    last.checkpoints = vec![("step:0".into(), checkpoint_json(&json!({"content": "x"})))];
    last.session_state = Some(json!({"count": 2}));
    last.finish = completed(Some(json!({"content": "done"})));
    s.write(last.into()).await.unwrap();
    let rec = s.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Completed);
    assert_eq!(rec.event_count, 5);
    assert_eq!(rec.output, Some(json!({"content": "done"})));
    assert!(rec.finished_at.is_some());
    assert_eq!(rec.lease_owner, None);
    let events = s.read_events(run.run_id, 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(&*events[4].payload, r#"{"event":"StepStarted","n":4}"#);
    assert_eq!(s.read_events(run.run_id, 3, 1).await.unwrap().len(), 1);
    // A completed run's checkpoints are gone, its last write's too.
    assert_eq!(s.load_checkpoints(run.run_id).await.unwrap(), vec![]);
    let session = s.get_session("s").await.unwrap().unwrap();
    assert_eq!(session.session_state, Some(json!({"count": 2})));
    // A finished run takes no more writes.
    assert!(matches!(
        s.write(write(&rec, 5, 1).into()).await,
        Err(StoreError::Fenced { .. })
    ));
}

async fn checkpoints_upsert_by_key(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let run = create_and_claim(s.as_ref()).await;
    for (i, v) in [1, 2].into_iter().enumerate() {
        let mut w = write(&run, i as u64, 1);
        w.checkpoints = vec![
            ("k".into(), checkpoint_json(&json!(v))),
            (format!("k{i}"), checkpoint_json(&json!(i))),
        ];
        s.write(w.into()).await.unwrap();
    }
    assert_eq!(
        s.load_checkpoints(run.run_id).await.unwrap(),
        vec![
            ("k".to_string(), json!(2)),
            ("k0".to_string(), json!(0)),
            ("k1".to_string(), json!(1))
        ]
    );
}

async fn expired_lease_is_reclaimed_and_old_owner_fenced(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = db.store.clone();
    s.create_run(new_run("wf", "s")).await.unwrap();
    let old = s.claim(&claim_req("a", 1, 100)).await.unwrap().remove(0);
    s.write(write(&old, 0, 2).into()).await.unwrap();
    // Not reclaimable while the lease holds.
    assert!(s
        .claim(&claim_req("b", 1, 10_000))
        .await
        .unwrap()
        .is_empty());
    let new = wait_for(Duration::from_secs(5), "the lease to expire", || async {
        let claimed = s.claim(&claim_req("b", 1, 10_000)).await.unwrap().pop();
        claimed.ok_or("nothing claimable")
    })
    .await;
    assert_eq!(new.run_id, old.run_id);
    assert_eq!(new.attempt, 2);
    assert_eq!(new.event_count, 2);
    assert_eq!(new.lease_owner.as_deref(), Some("b"));
    assert!(matches!(
        s.write(write(&old, 2, 1).into()).await,
        Err(StoreError::Fenced { .. })
    ));
    let hb = s
        .heartbeat("a", &[(old.run_id, old.attempt)], 10_000)
        .await
        .unwrap();
    assert_eq!(hb.lost, vec![old.run_id]);
    s.write(write(&new, 2, 1).into()).await.unwrap();
}

async fn heartbeat_renews_and_reports_cancels(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    for _ in 0..2 {
        s.create_run(new_run("wf", "s")).await.unwrap();
    }
    let runs = s.claim(&claim_req("a", 2, 1_000)).await.unwrap();
    let before = runs[0].lease_expires_at.unwrap();
    assert_eq!(
        s.request_cancel(runs[1].run_id).await.unwrap(),
        CancelRequest::Requested
    );
    let ids: Vec<_> = runs.iter().map(|r| (r.run_id, r.attempt)).collect();
    let hb = s.heartbeat("a", &ids, 60_000).await.unwrap();
    assert!(hb.lost.is_empty());
    assert_eq!(hb.cancel_requested, vec![runs[1].run_id]);
    let after = s.get_run(runs[0].run_id).await.unwrap().unwrap();
    assert!(after.lease_expires_at.unwrap() > before + 30_000);
    assert_eq!(s.cancel_requests("a").await.unwrap(), vec![runs[1].run_id]);
    assert!(s.cancel_requests("b").await.unwrap().is_empty());
}

async fn cancel_paths(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    // Pending: cancelled directly with its event.
    let p = s.create_run(new_run("wf", "s")).await.unwrap();
    assert!(matches!(
        s.request_cancel(p.run_id).await,
        Err(StoreError::Conflict { .. })
    ));
    s.cancel_pending(p.run_id, 0, ev(0), Some("by test".into()))
        .await
        .unwrap();
    let rec = s.get_run(p.run_id).await.unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Cancelled);
    assert_eq!(rec.event_count, 1);
    assert_eq!(rec.error.as_deref(), Some("by test"));
    assert_eq!(s.read_events(p.run_id, 0, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.request_cancel(p.run_id).await.unwrap(),
        CancelRequest::AlreadyFinished(RunStatus::Cancelled)
    );
    // Claimed in between: conflict, nothing written.
    let q = s.create_run(new_run("wf", "s")).await.unwrap();
    s.claim(&claim_req("a", 1, 10_000)).await.unwrap();
    assert!(matches!(
        s.cancel_pending(q.run_id, 0, ev(0), None).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.read_events(q.run_id, 0, 10).await.unwrap().len(), 0);
    assert_eq!(
        s.request_cancel(q.run_id).await.unwrap(),
        CancelRequest::Requested
    );
    assert!(s.get_run(q.run_id).await.unwrap().unwrap().cancel_requested);
    // Unknown run.
    let unknown = new_run_id();
    assert!(matches!(
        s.request_cancel(unknown).await,
        Err(StoreError::RunNotFound(id)) if id == unknown
    ));
    assert!(matches!(
        s.cancel_pending(unknown, 0, ev(0), None).await,
        Err(StoreError::RunNotFound(_))
    ));
}

async fn release_returns_a_run_to_the_queue(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    s.create_run(new_run("wf", "s")).await.unwrap();
    let run = s.claim(&claim_req("a", 1, 60_000)).await.unwrap().remove(0);
    s.release(run.run_id, run.attempt).await.unwrap();
    assert!(matches!(
        s.release(run.run_id, run.attempt).await,
        Err(StoreError::Fenced { .. })
    ));
    let again = s.claim(&claim_req("b", 1, 60_000)).await.unwrap().remove(0);
    assert_eq!(again.run_id, run.run_id);
    assert_eq!(again.attempt, 2);
    assert_eq!(again.releases, 1);
}

/// A new run of `wf` in session `s`, inserted claimed by owner `me` (lease 60 s) with
/// `first_events`.
fn claimed_by_me(first_events: Vec<NewEvent>) -> NewRun {
    let mut new = new_run("wf", "s");
    new.claim = Some(Lease {
        owner: "me".into(),
        duration_ms: 60_000,
        first_events,
    });
    new
}

async fn foreground_runs_are_inserted_claimed(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let rec = s.create_run(claimed_by_me(Vec::new())).await.unwrap();
    assert_eq!(rec.status, RunStatus::Running);
    assert_eq!(rec.attempt, 1);
    assert_eq!(rec.lease_owner.as_deref(), Some("me"));
    assert!(s
        .claim(&claim_req("b", 1, 60_000))
        .await
        .unwrap()
        .is_empty());
    s.write(write(&rec, 0, 1).into()).await.unwrap();
}

/// A run inserted claimed with first events has them written by its insert, as its owner's
/// first write would: counted by the returned record (which is what the store holds), stored
/// in order, and continued by the owner's next write at the next index. A duplicate insert
/// writes none of its events.
async fn a_run_inserted_claimed_begins_with_its_first_events(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let new = claimed_by_me(vec![ev(0), ev(1)]);
    let rec = s.create_run(new.clone()).await.unwrap();
    assert_eq!(
        (rec.status, rec.attempt, rec.event_count),
        (RunStatus::Running, 1, 2)
    );
    assert_eq!(s.get_run(rec.run_id).await.unwrap().as_ref(), Some(&rec));
    let payloads = |events: Vec<StoredEvent>| {
        let p = events
            .iter()
            .map(|e| (e.event_index, e.payload.to_string()));
        p.collect::<Vec<_>>()
    };
    let first = payloads(s.read_events(rec.run_id, 0, 10).await.unwrap());
    let expected = (0..2).map(|i| (i, ev(i).payload.to_string()));
    assert_eq!(first, expected.collect::<Vec<_>>());
    assert!(matches!(
        s.write(write(&rec, 0, 1).into()).await,
        Err(StoreError::Fenced { .. })
    ));
    s.write(write(&rec, 2, 1).into()).await.unwrap();
    assert!(matches!(
        s.create_run(new).await,
        Err(StoreError::DuplicateRun(_))
    ));
    assert_eq!(s.event_count(rec.run_id).await.unwrap(), Some(3));
}

async fn list_runs_filters(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let a = s.create_run(new_run("wf", "s1")).await.unwrap();
    let b = s.create_run(new_run("wf", "s2")).await.unwrap();
    let mut child = new_run("other", "s1");
    child.parent_run_id = Some(a.run_id);
    child.user_id = Some("u2".into());
    let c = s.create_run(child).await.unwrap();
    s.claim(&claim_req("x", 1, 60_000)).await.unwrap();
    let ids = |v: Vec<RunRecord>| v.into_iter().map(|r| r.run_id).collect::<Vec<_>>();
    let by = |f: RunFilter| async move { ids(s.list_runs(&f).await.unwrap()) };
    assert_eq!(
        by(RunFilter::default()).await,
        vec![a.run_id, b.run_id, c.run_id]
    );
    assert_eq!(
        by(RunFilter {
            session_id: Some("s1".into()),
            ..Default::default()
        })
        .await,
        vec![a.run_id, c.run_id]
    );
    assert_eq!(
        by(RunFilter {
            status: Some(RunStatus::Running),
            ..Default::default()
        })
        .await,
        vec![a.run_id]
    );
    assert_eq!(
        by(RunFilter {
            component_id: Some("other".into()),
            user_id: Some("u2".into()),
            parent_run_id: Some(a.run_id),
            ..Default::default()
        })
        .await,
        vec![c.run_id]
    );
    assert_eq!(
        by(RunFilter {
            limit: Some(1),
            offset: Some(1),
            ..Default::default()
        })
        .await,
        vec![b.run_id]
    );
}

async fn purge_deletes_only_old_finished_runs(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    s.create_run(new_run("wf", "s")).await.unwrap();
    let live = s.create_run(new_run("wf", "s")).await.unwrap();
    let run = s.claim(&claim_req("a", 1, 60_000)).await.unwrap().remove(0);
    let mut w = write(&run, 0, 2);
    w.finish = completed(None);
    s.write(w.into()).await.unwrap();
    assert_eq!(s.purge_finished(0).await.unwrap(), 0);
    assert_eq!(s.purge_finished(now_millis() + 1000).await.unwrap(), 1);
    assert_eq!(s.get_run(run.run_id).await.unwrap(), None);
    assert!(s.read_events(run.run_id, 0, 10).await.unwrap().is_empty());
    assert!(s.get_run(live.run_id).await.unwrap().is_some());
}

async fn one_fenced_write_does_not_fail_its_batch(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = db.store.clone();
    for _ in 0..50 {
        s.create_run(new_run("wf", "s")).await.unwrap();
    }
    let runs = s.claim(&claim_req("a", 50, 60_000)).await.unwrap();
    let mut tasks = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let s: Arc<dyn Store> = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut w = write(&run, 0, 3);
            if i == 7 {
                w.attempt = 99;
            }
            (i, s.write(w.into()).await)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        if i == 7 {
            assert!(matches!(r, Err(StoreError::Fenced { .. })));
        } else {
            r.unwrap();
        }
    }
}

/// Events keep the unit of work they belong to; `load_scopes` returns exactly the scoped ones,
/// in order, whatever the batch (and, on the finishing write, too).
async fn event_scopes_are_stored_and_listed(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let run = create_and_claim(s.as_ref()).await;
    let scoped = |n: u64, scope: Option<&str>| NewEvent {
        scope: scope.map(Into::into),
        ..ev(n)
    };
    let mut first = write(&run, 0, 0);
    first.events = vec![
        scoped(0, None),
        scoped(1, Some("step:0")),
        scoped(2, Some("step:0")),
    ];
    s.write(first.into()).await.unwrap();
    let mut last = write(&run, 3, 0);
    last.events = vec![scoped(3, Some("tool:0:1")), scoped(4, None)];
    last.finish = completed(None);
    s.write(last.into()).await.unwrap();
    assert_eq!(
        s.load_scopes(run.run_id).await.unwrap(),
        vec![
            (1, "step:0".to_owned()),
            (2, "step:0".to_owned()),
            (3, "tool:0:1".to_owned())
        ]
    );
    assert!(s.load_scopes(new_run_id()).await.unwrap().is_empty());
    // The scope is the store's business: payloads come back byte for byte.
    let events = s.read_events(run.run_id, 0, 10).await.unwrap();
    assert_eq!(&*events[1].payload, &*ev(1).payload);
}

/// A pause: the owner's last write sets `paused` (lease released, counted as a hand-back, not
/// finished); claims leave it alone until its expiry; `continue_run` queues it again with its
/// `RunContinued` event and checkpoints, once; a paused run can be cancelled.
async fn pause_continue_and_expiry(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let pause = |run: &RunRecord, first: u64, expires: Option<Millis>| {
        let mut w = write(run, first, 1);
        w.checkpoints = vec![(
            "pause".into(),
            checkpoint_json(&json!({"expires_at": expires})),
        )];
        w.finish = Some(RunFinish {
            status: RunStatus::Paused,
            output: Some(json!({"requirements": [{"tool": "send_email"}]})),
            error: None,
            pause_expires_at: expires,
            output_in_event: false,
        });
        w
    };
    let run = create_and_claim(s.as_ref()).await;
    s.write(write(&run, 0, 2).into()).await.unwrap();
    s.write(pause(&run, 2, None).into()).await.unwrap();
    let paused = s.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(paused.status, RunStatus::Paused);
    assert!(!paused.status.is_terminal() && paused.finished_at.is_none());
    assert_eq!((paused.lease_owner.as_deref(), paused.releases), (None, 1));
    assert_eq!(paused.event_count, 3);
    assert_eq!(
        paused.output.unwrap()["requirements"][0]["tool"],
        "send_email"
    );
    // Nobody claims it, and its old owner is fenced.
    assert!(s
        .claim(&claim_req("b", 10, 10_000))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.write(write(&run, 3, 1).into()).await,
        Err(StoreError::Fenced { .. })
    ));
    // Continue: pending again, the event appended, the decision checkpointed; once only.
    let req = ContinueRequest {
        run_id: run.run_id,
        event_count: 3,
        event: ev(3),
        checkpoints: vec![
            ("pause".into(), checkpoint_json(&Value::Null)),
            (
                "continue:1".into(),
                checkpoint_json(&json!({"confirmed": true})),
            ),
        ],
    };
    let continued = s.continue_run(req.clone()).await.unwrap();
    assert_eq!(continued.status, RunStatus::Pending);
    assert!(continued.background && continued.output.is_none());
    assert_eq!(continued.event_count, 4);
    assert!(matches!(
        s.continue_run(req).await,
        Err(StoreError::Conflict { .. })
    ));
    let checkpoints: std::collections::HashMap<_, _> = s
        .load_checkpoints(run.run_id)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(checkpoints["continue:1"], json!({"confirmed": true}));
    assert_eq!(checkpoints["pause"], Value::Null);
    let again = s.claim(&claim_req("b", 1, 10_000)).await.unwrap().remove(0);
    assert_eq!((again.run_id, again.attempt), (run.run_id, 2));
    // An expired pause is claimable (the engine fails it); a paused run can be cancelled.
    s.write(pause(&again, 4, Some(now_millis() - 1)).into())
        .await
        .unwrap();
    let expired = s.claim(&claim_req("c", 1, 10_000)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].status, RunStatus::Running);
    s.create_run(new_run("wf", "s")).await.unwrap();
    let other = s.claim(&claim_req("a", 1, 10_000)).await.unwrap().remove(0);
    s.write(pause(&other, 0, None).into()).await.unwrap();
    s.cancel_pending(other.run_id, 1, ev(1), Some("nobody answered".into()))
        .await
        .unwrap();
    let cancelled = s.get_run(other.run_id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(matches!(
        s.continue_run(ContinueRequest {
            run_id: new_run_id(),
            event_count: 0,
            event: ev(0),
            checkpoints: vec![],
        })
        .await,
        Err(StoreError::RunNotFound(_))
    ));
}

/// `run_with_events`: the record and exactly the events it counts; `event_count`: the count
/// alone; `None` for an unknown run.
async fn run_with_events_reads_record_and_log_together(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let run = create_and_claim(s.as_ref()).await;
    let (rec, events) = s.run_with_events(run.run_id).await.unwrap().unwrap();
    assert_eq!((rec.event_count, events.len()), (0, 0));
    s.write(write(&run, 0, 3).into()).await.unwrap();
    s.write(write(&run, 3, 2).into()).await.unwrap();
    let (rec, events) = s.run_with_events(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec, s.get_run(run.run_id).await.unwrap().unwrap());
    assert_eq!(events, s.read_events(run.run_id, 0, 100).await.unwrap());
    assert_eq!(
        events.iter().map(|e| e.event_index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(s.run_with_events(new_run_id()).await.unwrap(), None);
    assert_eq!(s.event_count(run.run_id).await.unwrap(), Some(5));
    assert_eq!(s.event_count(new_run_id()).await.unwrap(), None);
}

/// `RunRecord::apply_write` with the time `write` returns gives the stored record, for plain
/// writes and each kind of finish; a write it says could not apply is one the store fences.
async fn record_after_write_matches_the_store(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let finishes = [
        None,
        completed(Some(json!({"content": "done", "n": [1, 2]}))),
        Some(RunFinish {
            status: RunStatus::Failed,
            output: None,
            error: Some("boom".into()),
            pause_expires_at: None,
            output_in_event: false,
        }),
        Some(RunFinish {
            status: RunStatus::Paused,
            output: Some(json!({"requirements": []})),
            error: None,
            pause_expires_at: Some(now_millis() + 60_000),
            output_in_event: false,
        }),
        Some(RunFinish {
            status: RunStatus::Paused,
            output: None,
            error: None,
            pause_expires_at: None,
            output_in_event: false,
        }),
    ];
    for finish in finishes {
        s.create_run(new_run("wf", "s")).await.unwrap();
        let mut rec = s.claim(&claim_req("a", 1, 10_000)).await.unwrap().remove(0);
        for (first, n) in [(0, 2), (2, 0), (2, 3)] {
            let w = write(&rec, first, n);
            let at = s.write(w.clone().into()).await.unwrap();
            assert!(rec.apply_write(&w, at));
            assert_eq!(Some(&rec), s.get_run(rec.run_id).await.unwrap().as_ref());
        }
        let mut last = write(&rec, 5, 1);
        last.finish = finish.clone();
        let at = s.write(last.clone().into()).await.unwrap();
        assert!(rec.apply_write(&last, at));
        assert_eq!(
            Some(&rec),
            s.get_run(rec.run_id).await.unwrap().as_ref(),
            "after {finish:?}"
        );
        // Once finished (or for a wrong index), a write no longer applies, here or there.
        let next = write(&rec, rec.event_count, 1);
        let applies = rec.clone().apply_write(&next, at);
        assert_eq!(applies, s.write(next.into()).await.is_ok(), "{finish:?}");
    }
    let pending = s.create_run(new_run("wf", "t")).await.unwrap();
    let w = write(&pending, 0, 1);
    assert!(!pending.clone().apply_write(&w, now_millis()), "pending");
}

/// Payloads in Kern's envelope are stored without the fields their row holds
/// (`kern_store::payload`) and read back byte for byte, as are payloads of any other shape: a
/// child's event copied into its parent's log, odd session ids, fields after the envelope or
/// none before it, an envelope that does not match the row.
async fn payloads_read_back_byte_for_byte(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let run = create_and_claim(s.as_ref()).await;
    let (id, child) = (run.run_id, new_run_id());
    let at = now_millis();
    let envelope = |run: RunId, session: &str, i: u64, secs: i64| {
        format!(
            r#""run_id":"{run}","session_id":{},"event_index":{i},"created_at":{secs}"#,
            serde_json::to_string(session).unwrap()
        )
    };
    let secs = at / 1000;
    let payloads = [
        format!(
            r#"{{"event":"StepStarted","step_name":"one",{},"workflow_id":"wf","workflow_name":"W"}}"#,
            envelope(id, "s", 0, secs)
        ),
        format!(
            r#"{{"event":"StepStarted",{}}}"#,
            envelope(id, "s", 1, secs)
        ),
        format!(
            r#"{{"event":"StepStarted","c":"a \" quote",{},"agent_id":"a"}}"#,
            envelope(id, "q\"u\\o", 2, secs)
        ),
        format!(
            r#"{{"event":"StepStarted","k":1,{},"agent_id":"a"}}"#,
            envelope(child, "s", 3, secs)
        ),
        format!(
            r#"{{"event":"StepStarted","k":1,{}}}"#,
            envelope(id, "s", 99, secs)
        ),
        format!(
            r#"{{"event":"StepStarted","k":1,{}}}"#,
            envelope(id, "s", 5, secs + 1)
        ),
        r#"{"event":"StepStarted","n":6}"#.to_string(),
        "[1,2,3]".to_string(),
    ];
    let events: Vec<NewEvent> = payloads
        .iter()
        .map(|p| NewEvent {
            event_type: "StepStarted".into(),
            payload: p.as_str().into(),
            created_at: at,
            scope: None,
        })
        .collect();
    let w = RunWrite {
        run_id: id,
        attempt: run.attempt,
        first_index: 0,
        events,
        ..Default::default()
    };
    s.write(w.into()).await.unwrap();
    let read = s.read_events(id, 0, 100).await.unwrap();
    let read: Vec<&str> = read.iter().map(|e| &*e.payload).collect();
    assert_eq!(
        read,
        payloads.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // From the middle of the log, too.
    let tail = s.read_events(id, 2, 1).await.unwrap();
    assert_eq!(&*tail[0].payload, payloads[2]);
}

/// A write that completes a run deletes its checkpoints; failing, cancelling or pausing keeps
/// them, the finishing write's own included (a requeue or a continuation resumes from them).
async fn only_completion_deletes_checkpoints(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    for status in [
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Paused,
    ] {
        let run = create_and_claim(s.as_ref()).await;
        let mut first = write(&run, 0, 1);
        first.checkpoints = vec![("step:0".into(), checkpoint_json(&json!(0)))];
        s.write(first.into()).await.unwrap();
        let mut last = write(&run, 1, 1);
        last.checkpoints = vec![("step:1".into(), checkpoint_json(&json!(1)))];
        last.finish = Some(RunFinish {
            status,
            output: None,
            error: None,
            pause_expires_at: None,
            output_in_event: false,
        });
        s.write(last.into()).await.unwrap();
        let expected = match status {
            RunStatus::Completed => vec![],
            _ => vec![
                ("step:0".to_string(), json!(0)),
                ("step:1".to_string(), json!(1)),
            ],
        };
        assert_eq!(
            s.load_checkpoints(run.run_id).await.unwrap(),
            expected,
            "{status:?}"
        );
    }
}

/// The event that completes a run with its output as its own fields (a workflow's
/// `WorkflowCompleted`) is stored without them (`kern_store::payload`, schema v8) and read
/// back byte for byte, from the log and with the record; the run's output reads back as the
/// same value. An event whose fields are not the output keeps them.
async fn a_completed_runs_output_is_stored_once(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let fields = r#""content":"a\"bc ü","content_type":"str","step_results":[{"step_name":"one","metrics":{"duration":5.087e-6},"error":null}],"metrics":{"duration":0.019}"#;
    let output: Value = serde_json::from_str(&format!("{{{fields}}}")).unwrap();
    for (own, expected) in [
        (fields, output.clone()),
        (r#""content":"other""#, output.clone()),
    ] {
        let run = create_and_claim(s.as_ref()).await;
        let id = run.run_id;
        s.write(write(&run, 0, 1).into()).await.unwrap();
        let at = now_millis();
        let payload = format!(
            r#"{{"event":"WorkflowCompleted",{own},"run_id":"{id}","session_id":"s","event_index":1,"created_at":{},"workflow_id":"wf","workflow_name":"W"}}"#,
            at / 1000
        );
        let mut last = write(&run, 1, 0);
        last.events = vec![NewEvent {
            event_type: "WorkflowCompleted".into(),
            payload: payload.as_str().into(),
            created_at: at,
            scope: None,
        }];
        last.finish = completed(Some(expected.clone()));
        s.write(last.into()).await.unwrap();
        let events = s.read_events(id, 1, 10).await.unwrap();
        assert_eq!(&*events[0].payload, payload);
        let (record, log) = s.run_with_events(id).await.unwrap().unwrap();
        assert_eq!(record.output.as_ref(), Some(&expected));
        assert_eq!(&*log[1].payload, payload);
        assert_eq!(s.get_run(id).await.unwrap().unwrap().output, Some(expected));
    }
}

/// Events of a run share its envelope (`kern_store::payload`, schema v8): set by the first
/// write that has one, used by later writes, and never by an event with another envelope
/// (another session, a child's event); every payload reads back byte for byte, from any index.
async fn events_share_their_runs_envelope(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let run = create_and_claim(s.as_ref()).await;
    let (id, child) = (run.run_id, new_run_id());
    let at = now_millis();
    let event = |i: u64, own: &str, run: RunId, session: &str| {
        let payload = format!(
            r#"{{"event":"StepStarted",{own}"run_id":"{run}","session_id":"{session}","event_index":{i},"created_at":{},"team_id":"t","team_name":"T ü"}}"#,
            at / 1000
        );
        NewEvent {
            event_type: "StepStarted".into(),
            payload: payload.into(),
            created_at: at,
            scope: None,
        }
    };
    let batches = [
        vec![event(0, "", id, "s"), event(1, r#""a":1,"#, id, "s")],
        vec![
            event(2, r#""b":"x","#, id, "s2"),
            event(3, r#""c":[],"#, child, "s"),
            event(4, r#""d":{"e":null},"#, id, "s"),
        ],
        vec![event(5, "", id, "s")],
    ];
    let mut written = Vec::new();
    let mut first = 0;
    for events in batches {
        let n = events.len() as u64;
        written.extend(events.iter().map(|e| e.payload.clone()));
        let w = RunWrite {
            run_id: id,
            attempt: run.attempt,
            first_index: first,
            events,
            ..Default::default()
        };
        s.write(w.into()).await.unwrap();
        first += n;
    }
    for from in 0..first {
        let read = s.read_events(id, from, 100).await.unwrap();
        let read: Vec<_> = read.iter().map(|e| e.payload.clone()).collect();
        assert_eq!(read, written[from as usize..], "from {from}");
    }
}

/// A run is handed to its executor with its session's state as the claim (or the create) found
/// it, in the same transaction; a child run, which starts from its parent's, gets none.
async fn starting_runs_carry_their_sessions_state(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    // A new session holds no state.
    let first = s.create_starting(new_run("wf", "s")).await.unwrap();
    assert_eq!(first.session_state, None);
    assert_eq!(
        s.get_run(first.record.run_id).await.unwrap(),
        Some(first.record.clone())
    );
    // A run of the session saves some; runs created or claimed after start from it.
    let run = s.claim(&claim_req("a", 1, 10_000)).await.unwrap().remove(0);
    let mut last = write(&run, 0, 1);
    last.session_state = Some(json!({"count": 2}));
    last.finish = completed(None);
    s.write(last.into()).await.unwrap();
    let state = Some(json!({"count": 2}));
    let queued = s.create_starting(new_run("wf", "s")).await.unwrap();
    assert_eq!(queued.session_state, state);
    let other = s.create_starting(new_run("wf", "t")).await.unwrap();
    assert_eq!(
        other.session_state, None,
        "another session's state is its own"
    );
    let mut claimed = s.claim_starting(&claim_req("a", 5, 10_000)).await.unwrap();
    claimed.sort_by_key(|c| c.record.session_id.clone());
    let got: Vec<_> = claimed
        .iter()
        .map(|c| (c.record.run_id, c.session_state.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (queued.record.run_id, state.clone()),
            (other.record.run_id, None)
        ]
    );
    // A child run in the same session starts from its parent's state, not the stored one.
    let mut child = new_run("wf", "s");
    child.parent_run_id = Some(queued.record.run_id);
    let child = s.create_starting(child).await.unwrap();
    assert_eq!(child.session_state, None);
}

both_backends!(
    starting_runs_carry_their_sessions_state,
    events_share_their_runs_envelope,
    a_completed_runs_output_is_stored_once,
    only_completion_deletes_checkpoints,
    payloads_read_back_byte_for_byte,
    record_after_write_matches_the_store,
    run_with_events_reads_record_and_log_together,
    pause_continue_and_expiry,
    event_scopes_are_stored_and_listed,
    create_get_and_duplicate,
    claim_takes_oldest_once_and_respects_components,
    concurrent_claimers_never_share_a_run,
    writes_are_fenced_and_gapless,
    checkpoints_upsert_by_key,
    expired_lease_is_reclaimed_and_old_owner_fenced,
    heartbeat_renews_and_reports_cancels,
    cancel_paths,
    release_returns_a_run_to_the_queue,
    foreground_runs_are_inserted_claimed,
    a_run_inserted_claimed_begins_with_its_first_events,
    list_runs_filters,
    purge_deletes_only_old_finished_runs,
    one_fenced_write_does_not_fail_its_batch,
);
