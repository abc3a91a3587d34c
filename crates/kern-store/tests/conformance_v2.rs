//! The schema v2 contract (sessions, idempotency keys, the webhook outbox, newest-first
//! listings), run against every backend.

use kern_store::*;
use kern_testkit::{both_backends, wait_until, Backend, TestDb};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn new_run(kind: ComponentKind, component: &str, session: &str, user: Option<&str>) -> NewRun {
    NewRun {
        user_id: user.map(Into::into),
        ..NewRun::new(kind, component, session, json!({"message": "hi"}))
    }
}

fn wf(session: &str) -> NewRun {
    new_run(ComponentKind::Workflow, "wf", session, Some("u1"))
}

/// A run inserted already claimed by "me", as a foreground run is.
fn claimed(mut run: NewRun) -> NewRun {
    run.claim = Some(Lease {
        owner: "me".into(),
        duration_ms: 60_000,
        first_events: Vec::new(),
    });
    run
}

fn with_url(mut run: NewRun, url: &str) -> NewRun {
    run.webhook_url = Some(url.into());
    run
}

fn keyed(mut run: NewRun, key: &str, hash: &str) -> NewRun {
    run.idempotency = Some(Idempotency {
        key: key.into(),
        request_hash: hash.into(),
    });
    run
}

fn ev(n: u64) -> NewEvent {
    NewEvent {
        event_type: "StepStarted".into(),
        payload: format!(r#"{{"event":"StepStarted","n":{n}}}"#).into(),
        created_at: now_millis(),
        scope: None,
    }
}

/// Appends `n` events to a running run's log (from its current end) and optionally finishes
/// it with `status`.
async fn append(s: &dyn Store, run: &RunRecord, n: u64, finish: Option<RunStatus>) {
    let current = s.get_run(run.run_id).await.unwrap().unwrap();
    let first = current.event_count;
    s.write(
        RunWrite {
            run_id: run.run_id,
            attempt: current.attempt,
            first_index: first,
            events: (first..first + n).map(ev).collect(),
            checkpoints: vec![(
                format!("step:{first}"),
                checkpoint_json(&json!({"n": first})),
            )],
            finish: finish.map(|status| RunFinish {
                status,
                output: Some(json!({"content": "done"})),
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
}

/// Creates a claimed run and finishes it with `status` (after one event).
async fn finished(s: &dyn Store, run: NewRun, status: RunStatus) -> RunRecord {
    let rec = s.create_run(claimed(run)).await.unwrap();
    append(s, &rec, 1, Some(status)).await;
    s.get_run(rec.run_id).await.unwrap().unwrap()
}

fn attempt(status_code: Option<u16>, error: Option<&str>) -> WebhookAttempt {
    WebhookAttempt {
        at: now_millis(),
        status_code,
        error: error.map(Into::into),
        duration_ms: 12,
    }
}

/// Lets the millisecond clock move on, so that timestamps of what follows differ.
async fn tick() {
    let start = now_millis();
    while now_millis() <= start + 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn db(backend: Backend) -> Option<TestDb> {
    TestDb::new(backend).await
}

fn ids(sessions: &[SessionRecord]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}

// ---- sessions ----

async fn sessions_list_with_filters_sort_paging_and_total(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    // Created in this order: a, b, c, d, e.
    let specs = [
        ("a", ComponentKind::Workflow, "wf", Some("u1")),
        ("b", ComponentKind::Agent, "bot", Some("u1")),
        ("c", ComponentKind::Agent, "bot", Some("u2")),
        ("d", ComponentKind::Team, "crew", None),
        ("e", ComponentKind::Agent, "other", Some("u2")),
    ];
    for (session, kind, component, user) in specs {
        s.create_run(new_run(kind, component, session, user))
            .await
            .unwrap();
        tick().await;
    }
    // A second run in "b" makes it the most recently updated.
    s.create_run(new_run(ComponentKind::Agent, "bot", "b", Some("u1")))
        .await
        .unwrap();

    let list = |f: SessionFilter| async move { s.list_sessions(&f).await.unwrap() };
    let (page, total) = list(SessionFilter::default()).await;
    assert_eq!(total, 5);
    assert_eq!(
        ids(&page),
        ["b", "e", "d", "c", "a"],
        "updated_at, newest first"
    );
    assert!(page[0].updated_at > page[0].created_at);

    let (page, _) = list(SessionFilter {
        sort_by: SessionSort::CreatedAt,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&page), ["e", "d", "c", "b", "a"]);
    let (page, _) = list(SessionFilter {
        sort_by: SessionSort::CreatedAt,
        descending: false,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&page), ["a", "b", "c", "d", "e"]);

    // Filters.
    let (page, total) = list(SessionFilter {
        kind: Some(ComponentKind::Agent),
        ..Default::default()
    })
    .await;
    assert_eq!((ids(&page), total), (vec!["b", "e", "c"], 3));
    let (page, total) = list(SessionFilter {
        kind: Some(ComponentKind::Agent),
        component_id: Some("bot".into()),
        user_id: Some("u2".into()),
        ..Default::default()
    })
    .await;
    assert_eq!((ids(&page), total), (vec!["c"], 1));
    let (page, total) = list(SessionFilter {
        user_id: Some("nobody".into()),
        ..Default::default()
    })
    .await;
    assert!(page.is_empty());
    assert_eq!(total, 0);

    // Paging: the total ignores limit and offset.
    let (page, total) = list(SessionFilter {
        limit: Some(2),
        offset: Some(1),
        ..Default::default()
    })
    .await;
    assert_eq!((ids(&page), total), (vec!["e", "d"], 5));
    let (page, total) = list(SessionFilter {
        limit: Some(2),
        offset: Some(4),
        ..Default::default()
    })
    .await;
    assert_eq!((ids(&page), total), (vec!["a"], 5));
    for (limit, offset) in [(Some(2), Some(5)), (Some(0), None), (Some(3), Some(99))] {
        let (page, total) = list(SessionFilter {
            user_id: Some("u1".into()),
            limit,
            offset,
            ..Default::default()
        })
        .await;
        assert!(page.is_empty(), "limit {limit:?} offset {offset:?}");
        assert_eq!(total, 2, "an empty page still counts");
    }
    // The default page is 20.
    for i in 0..20 {
        s.create_run(wf(&format!("many-{i:02}"))).await.unwrap();
    }
    let (page, total) = list(SessionFilter::default()).await;
    assert_eq!((page.len(), total), (20, 25));
}

async fn ties_are_broken_by_session_id(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    // A batch of concurrent creates commits with one timestamp on both backends; whatever
    // the timestamps, the order must be total and stable across pages.
    let names = ["B", "a", "c", "A", "b"];
    let creates: Vec<_> = names
        .iter()
        .map(|n| {
            let s = s.clone();
            let n = n.to_string();
            tokio::spawn(async move { s.create_run(wf(&n)).await.unwrap() })
        })
        .collect();
    for c in creates {
        c.await.unwrap();
    }
    let mut paged = Vec::new();
    for offset in 0..5 {
        let (page, total) = s
            .list_sessions(&SessionFilter {
                sort_by: SessionSort::CreatedAt,
                descending: false,
                limit: Some(1),
                offset: Some(offset),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 5);
        paged.push(page[0].clone());
    }
    let (all, _) = s
        .list_sessions(&SessionFilter {
            sort_by: SessionSort::CreatedAt,
            descending: false,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(paged, all);
    let mut expected = all.clone();
    expected.sort_by(|x, y| {
        (x.created_at, x.session_id.as_bytes()).cmp(&(y.created_at, y.session_id.as_bytes()))
    });
    assert_eq!(all, expected, "created_at, then session id in byte order");
}

async fn rename_sets_the_name_and_bumps_updated_at(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    s.create_run(wf("s")).await.unwrap();
    s.create_run(wf("t")).await.unwrap();
    let before = s.get_session("s").await.unwrap().unwrap();
    assert_eq!(before.session_name, None);
    tick().await;
    let renamed = s.rename_session("s", "My chat ✨").await.unwrap();
    assert_eq!(renamed.session_name.as_deref(), Some("My chat ✨"));
    assert!(renamed.updated_at > before.updated_at);
    assert_eq!(renamed.created_at, before.created_at);
    assert_eq!(s.get_session("s").await.unwrap().unwrap(), renamed);
    let (page, _) = s.list_sessions(&SessionFilter::default()).await.unwrap();
    assert_eq!(ids(&page), ["s", "t"], "renaming counts as an update");
    // Renaming again, even to "", is stored as given.
    let again = s.rename_session("s", "").await.unwrap();
    assert_eq!(again.session_name.as_deref(), Some(""));
    assert!(matches!(
        s.rename_session("nope", "x").await,
        Err(StoreError::SessionNotFound(id)) if id == "nope"
    ));
}

async fn delete_session_is_refused_while_busy_then_removes_everything(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = db.store.clone();
    // A finished run with a webhook, a key and checkpoints (a failed one: a completed run
    // keeps none), a running one with a child run, and a run of another session.
    let done = finished(
        s.as_ref(),
        keyed(with_url(wf("s"), "http://hook/done"), "k-done", "h"),
        RunStatus::Failed,
    )
    .await;
    let running = s.create_run(claimed(wf("s"))).await.unwrap();
    append(s.as_ref(), &running, 2, None).await;
    let mut child = claimed(new_run(ComponentKind::Agent, "bot", "s", Some("u1")));
    child.parent_run_id = Some(running.run_id);
    let child = s.create_run(child).await.unwrap();
    let other = finished(s.as_ref(), wf("other"), RunStatus::Completed).await;

    for _ in 0..2 {
        assert!(matches!(
            s.delete_session("s").await,
            Err(StoreError::SessionBusy(id)) if id == "s"
        ));
    }
    // Nothing was deleted.
    assert!(s.get_session("s").await.unwrap().is_some());
    assert_eq!(s.read_events(done.run_id, 0, 10).await.unwrap().len(), 1);
    assert_eq!(s.load_checkpoints(done.run_id).await.unwrap().len(), 1);
    assert_eq!(s.list_webhooks(done.run_id).await.unwrap().len(), 1);

    // The child finishes, the parent still runs: still busy.
    append(s.as_ref(), &child, 1, Some(RunStatus::Completed)).await;
    assert!(matches!(
        s.delete_session("s").await,
        Err(StoreError::SessionBusy(_))
    ));
    append(s.as_ref(), &running, 1, Some(RunStatus::Cancelled)).await;
    assert_eq!(s.delete_session("s").await.unwrap(), 3);

    for run in [&done, &running, &child] {
        assert_eq!(s.get_run(run.run_id).await.unwrap(), None);
        assert!(s.read_events(run.run_id, 0, 10).await.unwrap().is_empty());
        assert!(s.load_checkpoints(run.run_id).await.unwrap().is_empty());
        assert!(s.list_webhooks(run.run_id).await.unwrap().is_empty());
    }
    assert_eq!(s.get_session("s").await.unwrap(), None);
    assert!(matches!(
        s.delete_session("s").await,
        Err(StoreError::SessionNotFound(id)) if id == "s"
    ));
    // The deleted run's idempotency key is free again.
    let reused = s
        .create_run(keyed(wf("s2"), "k-done", "another request"))
        .await
        .unwrap();
    assert_ne!(reused.run_id, done.run_id);
    // The other session is untouched.
    assert!(s.get_session("other").await.unwrap().is_some());
    assert_eq!(s.read_events(other.run_id, 0, 10).await.unwrap().len(), 1);
    // The session's webhook rows are gone: nothing left to claim but none of theirs.
    assert!(s.claim_webhooks(10, 60_000).await.unwrap().is_empty());

    // A pending run makes a session busy too; once cancelled it can go.
    let pending = s.create_run(wf("p")).await.unwrap();
    assert!(matches!(
        s.delete_session("p").await,
        Err(StoreError::SessionBusy(_))
    ));
    s.cancel_pending(pending.run_id, 0, ev(0), None)
        .await
        .unwrap();
    assert_eq!(s.delete_session("p").await.unwrap(), 1);
}

async fn newest_first_lists_the_last_runs_of_a_session(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(s.create_run(wf("s")).await.unwrap().run_id);
    }
    s.create_run(wf("t")).await.unwrap();
    let list = |newest_first: bool, limit: Option<usize>, offset: Option<usize>| async move {
        s.list_runs(&RunFilter {
            session_id: Some("s".into()),
            newest_first,
            limit,
            offset,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(list(false, None, None).await, created);
    let mut reversed = created.clone();
    reversed.reverse();
    assert_eq!(list(true, None, None).await, reversed);
    assert_eq!(
        list(true, Some(2), None).await,
        vec![created[4], created[3]],
        "the last two"
    );
    assert_eq!(
        list(true, Some(2), Some(1)).await,
        vec![created[3], created[2]]
    );
    assert_eq!(list(false, Some(2), None).await, created[..2].to_vec());
}

// ---- idempotency ----

async fn idempotency_same_hash_returns_the_run_other_hash_conflicts(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = &db.store;
    let first = s.create_run(keyed(wf("s"), "k1", "h1")).await.unwrap();
    assert_eq!(first.status, RunStatus::Pending);

    // Same key and hash, another run id: the existing run, in its current state.
    let taken = s
        .claim(&ClaimRequest {
            owner: "a".into(),
            limit: 1,
            lease_ms: 60_000,
            components: vec![(ComponentKind::Workflow, "wf".into())],
        })
        .await
        .unwrap()
        .remove(0);
    let retry = keyed(wf("s"), "k1", "h1");
    assert_ne!(retry.run_id, first.run_id);
    let again = s.create_run(retry).await.unwrap();
    assert_eq!(again, taken, "the existing run's current record");
    assert_eq!(again.status, RunStatus::Running);

    // Same key, another hash: a conflict.
    assert!(matches!(
        s.create_run(keyed(wf("s"), "k1", "h2")).await,
        Err(StoreError::IdempotencyConflict { key }) if key == "k1"
    ));
    assert_eq!(s.list_runs(&RunFilter::default()).await.unwrap().len(), 1);

    // A create refused as a duplicate run leaves no key behind.
    let mut dup = keyed(wf("s"), "k2", "h");
    dup.run_id = first.run_id;
    assert!(matches!(
        s.create_run(dup).await,
        Err(StoreError::DuplicateRun(id)) if id == first.run_id
    ));
    let k2 = s.create_run(keyed(wf("s"), "k2", "other")).await.unwrap();
    assert_ne!(k2.run_id, first.run_id);

    // Without a key, nothing changes.
    let plain = s.create_run(wf("s")).await.unwrap();
    assert_eq!(plain.status, RunStatus::Pending);

    // Retrying the very same request (same run id) is not a duplicate either.
    let exact = keyed(wf("s"), "k3", "h");
    let made = s.create_run(exact.clone()).await.unwrap();
    assert_eq!(s.create_run(exact).await.unwrap(), made);

    // Purging the run frees its key.
    append(s.as_ref(), &taken, 1, Some(RunStatus::Completed)).await;
    assert_eq!(s.purge_finished(now_millis() + 1_000).await.unwrap(), 1);
    let fresh = s.create_run(keyed(wf("s"), "k1", "h2")).await.unwrap();
    assert_ne!(fresh.run_id, first.run_id);
}

async fn concurrent_creates_with_one_key_make_one_run(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let mut stores = vec![db.store.clone()];
    for _ in 0..3 {
        stores.push(db.reopen().await);
    }
    let keys = ["ka", "kb", "kc", "kd"];
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        for j in 0..8 {
            for key in keys {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let run = keyed(wf(&format!("s-{i}-{j}")), key, "same");
                    let asked = run.run_id;
                    let got = store.create_run(run).await.unwrap();
                    (key, got.run_id, got.run_id == asked)
                }));
            }
        }
    }
    let mut per_key = std::collections::HashMap::<&str, HashSet<RunId>>::new();
    let mut inserted = 0;
    for t in tasks {
        let (key, id, new) = t.await.unwrap();
        per_key.entry(key).or_default().insert(id);
        inserted += usize::from(new);
    }
    for key in keys {
        assert_eq!(per_key[key].len(), 1, "key {key} made more than one run");
    }
    assert_eq!(inserted, keys.len(), "exactly one create per key inserted");
    assert_eq!(
        db.store
            .list_runs(&RunFilter::default())
            .await
            .unwrap()
            .len(),
        keys.len()
    );
}

// ---- webhook outbox ----

async fn a_webhook_is_queued_exactly_when_a_run_with_a_url_finishes(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = db.store.clone();
    let mut wake = s.webhook_wakeups().expect("both backends wake dispatchers");
    let url = "https://example.test/hook?x=1";

    let completed = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Completed).await;
    tokio::time::timeout(WAIT, wake.recv())
        .await
        .expect("woken after the webhook was queued")
        .unwrap();
    let failed = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Failed).await;
    let no_url = finished(s.as_ref(), wf("s"), RunStatus::Completed).await;
    // Cancelled while pending.
    let pending = s.create_run(with_url(wf("s"), url)).await.unwrap();
    assert_eq!(pending.webhook_url.as_deref(), Some(url));
    s.cancel_pending(pending.run_id, 0, ev(0), Some("stop".into()))
        .await
        .unwrap();
    let cancelled = s.get_run(pending.run_id).await.unwrap().unwrap();
    // Not finished: still running (with events), or still pending.
    let running = s.create_run(claimed(with_url(wf("s"), url))).await.unwrap();
    append(s.as_ref(), &running, 3, None).await;
    let waiting = s.create_run(with_url(wf("s"), url)).await.unwrap();

    for run in [&completed, &failed, &cancelled] {
        assert_eq!(run.webhook_url.as_deref(), Some(url));
        let hooks = s.list_webhooks(run.run_id).await.unwrap();
        assert_eq!(hooks.len(), 1, "one delivery for {}", run.status);
        let h = &hooks[0];
        assert_eq!(h.run_id, run.run_id);
        assert_eq!(h.url, url);
        assert_eq!(h.status, WebhookStatus::Pending);
        assert_eq!(h.attempts, 0);
        assert!(h.history.is_empty());
        assert_eq!((h.last_status_code, h.last_error.as_deref()), (None, None));
        assert_eq!(h.delivered_at, None);
        assert_eq!(Some(h.created_at), run.finished_at, "same transaction");
        assert_eq!(h.next_attempt_at, h.created_at, "due at once");
    }
    for run in [&no_url, &running, &waiting] {
        assert!(s.list_webhooks(run.run_id).await.unwrap().is_empty());
    }
    assert_eq!(no_url.webhook_url, None);
    assert!(s.list_webhooks(new_run_id()).await.unwrap().is_empty());
    // Ids grow in creation order, and a claim hands them out oldest first.
    let all = s.claim_webhooks(10, 60_000).await.unwrap();
    assert_eq!(
        all.iter().map(|h| h.run_id).collect::<Vec<_>>(),
        vec![completed.run_id, failed.run_id, cancelled.run_id]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    // A refused finish (fenced) queues nothing.
    let mut late = RunWrite {
        run_id: completed.run_id,
        attempt: completed.attempt,
        first_index: completed.event_count,
        events: vec![ev(9)],
        ..Default::default()
    };
    late.finish = Some(RunFinish {
        status: RunStatus::Completed,
        output: None,
        error: None,
        pause_expires_at: None,
        output_in_event: false,
    });
    assert!(matches!(
        s.write(late.into()).await,
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(s.list_webhooks(completed.run_id).await.unwrap().len(), 1);
}

/// Each delivery records the status its run reached when it was queued (schema v5), from the
/// write that reached it: completed, failed and paused finishes and a cancel of a pending run;
/// a run that moves on (a pause continued, then completed) keeps its first delivery's
/// outcome and gets a second delivery for the next one.
async fn each_webhook_delivery_records_its_outcome(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = db.store.clone();
    let url = "http://hook";
    let outcomes = |run: RunId| {
        let s = s.clone();
        async move {
            s.list_webhooks(run)
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.outcome)
                .collect::<Vec<_>>()
        }
    };
    for status in [RunStatus::Completed, RunStatus::Failed, RunStatus::Paused] {
        let run = finished(s.as_ref(), with_url(wf("s"), url), status).await;
        assert_eq!(run.status, status);
        assert_eq!(outcomes(run.run_id).await, [Some(status)], "{status}");
    }
    let pending = s.create_run(with_url(wf("s"), url)).await.unwrap();
    s.cancel_pending(pending.run_id, 0, ev(0), Some("stop".into()))
        .await
        .unwrap();
    assert_eq!(outcomes(pending.run_id).await, [Some(RunStatus::Cancelled)]);
    // A claim hands the outcome out too.
    let claimed_hooks = s.claim_webhooks(10, 60_000).await.unwrap();
    assert_eq!(
        claimed_hooks.iter().map(|h| h.outcome).collect::<Vec<_>>(),
        [
            Some(RunStatus::Completed),
            Some(RunStatus::Failed),
            Some(RunStatus::Paused),
            Some(RunStatus::Cancelled)
        ]
    );

    // Paused, then cancelled while paused.
    let paused = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Paused).await;
    s.cancel_pending(paused.run_id, paused.event_count, ev(9), None)
        .await
        .unwrap();
    assert_eq!(
        outcomes(paused.run_id).await,
        [Some(RunStatus::Paused), Some(RunStatus::Cancelled)]
    );
    // Paused, continued (the run moves on: its first delivery still says paused), completed.
    let paused = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Paused).await;
    s.continue_run(ContinueRequest {
        run_id: paused.run_id,
        event_count: paused.event_count,
        event: ev(paused.event_count),
        checkpoints: vec![],
    })
    .await
    .unwrap();
    assert_eq!(outcomes(paused.run_id).await, [Some(RunStatus::Paused)]);
    let again = s
        .claim(&ClaimRequest {
            owner: "me".into(),
            limit: 1,
            lease_ms: 60_000,
            components: vec![(ComponentKind::Workflow, "wf".into())],
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.run_id, paused.run_id);
    append(s.as_ref(), &again, 1, Some(RunStatus::Completed)).await;
    assert_eq!(
        outcomes(paused.run_id).await,
        [Some(RunStatus::Paused), Some(RunStatus::Completed)]
    );
}

async fn webhook_claim_lease_retry_and_give_up(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let s = db.store.clone();
    let url = "http://hook";
    let a = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Completed).await;
    let b = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Completed).await;
    let c = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Completed).await;
    assert!(s.claim_webhooks(0, 60_000).await.unwrap().is_empty());

    // Oldest first, up to the limit; leased rows are not handed out again.
    let before = now_millis();
    let got = s.claim_webhooks(2, 60_000).await.unwrap();
    assert_eq!(
        got.iter().map(|h| h.run_id).collect::<Vec<_>>(),
        vec![a.run_id, b.run_id]
    );
    assert!(got.iter().all(|h| h.next_attempt_at >= before + 50_000));
    assert!(got.iter().all(|h| h.attempts == 0));
    let third = s.claim_webhooks(10, 60_000).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].run_id, c.run_id);
    assert!(s.claim_webhooks(10, 60_000).await.unwrap().is_empty());
    let (ha, hb, hc) = (got[0].id, got[1].id, third[0].id);

    // a: fails once, retried at once, then delivered.
    let first_try = attempt(Some(503), Some("503 Service Unavailable"));
    s.record_webhook_attempt(ha, first_try.clone(), WebhookOutcome::RetryAt(0))
        .await
        .unwrap();
    let h = s.list_webhooks(a.run_id).await.unwrap().remove(0);
    assert_eq!(h.status, WebhookStatus::Pending);
    assert_eq!(h.attempts, 1);
    assert_eq!(h.next_attempt_at, 0);
    assert_eq!(h.last_status_code, Some(503));
    assert_eq!(h.last_error.as_deref(), Some("503 Service Unavailable"));
    assert_eq!(h.history, vec![first_try.clone()]);
    let again = s.claim_webhooks(10, 60_000).await.unwrap();
    assert_eq!(again.iter().map(|h| h.id).collect::<Vec<_>>(), vec![ha]);
    assert_eq!(again[0].attempts, 1);
    let ok = attempt(Some(200), None);
    s.record_webhook_attempt(ha, ok.clone(), WebhookOutcome::Delivered)
        .await
        .unwrap();
    let h = s.list_webhooks(a.run_id).await.unwrap().remove(0);
    assert_eq!(h.status, WebhookStatus::Delivered);
    assert_eq!(h.attempts, 2);
    assert_eq!(
        (h.last_status_code, h.last_error.as_deref()),
        (Some(200), None)
    );
    assert_eq!(h.history, vec![first_try, ok.clone()]);
    let delivered_at = h.delivered_at.expect("delivered_at set");
    assert!(delivered_at >= before);
    // A late report from a dispatcher whose lease ran out is recorded but changes nothing
    // else: delivered stays delivered.
    let late = attempt(None, Some("timeout \"quoted\" \u{0} é"));
    s.record_webhook_attempt(ha, late.clone(), WebhookOutcome::RetryAt(0))
        .await
        .unwrap();
    s.record_webhook_attempt(ha, late.clone(), WebhookOutcome::GiveUp)
        .await
        .unwrap();
    let h = s.list_webhooks(a.run_id).await.unwrap().remove(0);
    assert_eq!(h.status, WebhookStatus::Delivered);
    assert_eq!(h.delivered_at, Some(delivered_at));
    assert_eq!(h.attempts, 4);
    assert_eq!(h.history.len(), 4);
    assert_eq!(h.history[3], late, "history round-trips exactly");
    assert_eq!(h.last_status_code, None);
    assert_eq!(
        h.last_error.as_deref(),
        Some("timeout \"quoted\" \u{fffd} é"),
        "NUL replaced in last_error only"
    );

    // b: gives up; never claimed again, and a late retry does not revive it.
    s.record_webhook_attempt(hb, attempt(Some(410), None), WebhookOutcome::GiveUp)
        .await
        .unwrap();
    s.record_webhook_attempt(hb, attempt(Some(500), None), WebhookOutcome::RetryAt(0))
        .await
        .unwrap();
    let h = s.list_webhooks(b.run_id).await.unwrap().remove(0);
    assert_eq!((h.status, h.attempts), (WebhookStatus::Failed, 2));
    assert_eq!(h.delivered_at, None);

    // c: retried in the future: not claimable yet.
    s.record_webhook_attempt(
        hc,
        attempt(None, Some("connection refused")),
        WebhookOutcome::RetryAt(now_millis() + 60_000),
    )
    .await
    .unwrap();
    assert!(s.claim_webhooks(10, 60_000).await.unwrap().is_empty());

    // A dispatcher that dies keeps its lease only until it ends.
    let d = finished(s.as_ref(), with_url(wf("s"), url), RunStatus::Failed).await;
    let leased = s.claim_webhooks(10, 200).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].run_id, d.run_id);
    assert!(s.claim_webhooks(10, 60_000).await.unwrap().is_empty());
    wait_until(WAIT, "the lease to run out", || {
        let s = s.clone();
        async move { s.claim_webhooks(10, 60_000).await.unwrap().len() == 1 }
    })
    .await;

    assert!(matches!(
        s.record_webhook_attempt(-7, attempt(None, None), WebhookOutcome::GiveUp)
            .await,
        Err(StoreError::WebhookNotFound(-7))
    ));

    // Purging the runs removes their deliveries.
    assert_eq!(s.purge_finished(now_millis() + 1_000).await.unwrap(), 4);
    for run in [&a, &b, &c, &d] {
        assert!(s.list_webhooks(run.run_id).await.unwrap().is_empty());
    }
    assert!(matches!(
        s.record_webhook_attempt(ha, attempt(None, None), WebhookOutcome::GiveUp)
            .await,
        Err(StoreError::WebhookNotFound(_))
    ));
}

async fn concurrent_webhook_claimers_never_share_a_row(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let mut stores = vec![db.store.clone()];
    for _ in 0..3 {
        stores.push(db.reopen().await);
    }
    let total = 60;
    let finishes: Vec<_> = (0..total)
        .map(|i| {
            let s = db.store.clone();
            tokio::spawn(async move {
                let run = with_url(wf(&format!("s{i}")), "http://hook");
                finished(s.as_ref(), run, RunStatus::Completed).await
            })
        })
        .collect();
    for f in finishes {
        f.await.unwrap();
    }
    let mut tasks = Vec::new();
    for store in &stores {
        for _ in 0..3 {
            let store: Arc<dyn Store> = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = store.claim_webhooks(4, 60_000).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|h| h.id));
                }
            }));
        }
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "webhook {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), total);
}

both_backends!(
    sessions_list_with_filters_sort_paging_and_total,
    ties_are_broken_by_session_id,
    rename_sets_the_name_and_bumps_updated_at,
    delete_session_is_refused_while_busy_then_removes_everything,
    newest_first_lists_the_last_runs_of_a_session,
    idempotency_same_hash_returns_the_run_other_hash_conflicts,
    concurrent_creates_with_one_key_make_one_run,
    a_webhook_is_queued_exactly_when_a_run_with_a_url_finishes,
    each_webhook_delivery_records_its_outcome,
    webhook_claim_lease_retry_and_give_up,
    concurrent_webhook_claimers_never_share_a_row,
);
