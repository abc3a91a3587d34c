//! What only the PostgreSQL store does (notifications, isolation by schema, reconnection,
//! `SKIP LOCKED`, concurrent migrations), plus data fidelity on both backends.
//!
//! The PostgreSQL tests need `KERN_TEST_PG_URL` (see `kern_testkit::pg_url`).

use kern_store::postgres::{PostgresOptions, PostgresStore};
use kern_store::*;
use kern_testkit::{both_backends, pg_schema_url, pg_url, wait_until, Backend, TestDb};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(10);

fn new_run(session: &str) -> NewRun {
    NewRun {
        run_id: new_run_id(),
        session_id: session.into(),
        user_id: None,
        kind: ComponentKind::Workflow,
        component_id: "wf".into(),
        parent_run_id: None,
        input: json!({"message": "hi"}),
        background: true,
        claim: None,
        ..Default::default()
    }
}

fn claim_req(owner: &str, limit: usize) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        limit,
        lease_ms: 60_000,
        components: vec![(ComponentKind::Workflow, "wf".into())],
    }
}

fn event(payload: &str) -> NewEvent {
    NewEvent {
        event_type: "Custom".into(),
        payload: payload.into(),
        created_at: now_millis(),
        scope: None,
    }
}

/// One event appended by the run's owner.
async fn append(store: &dyn Store, run: &RunRecord, index: u64) {
    store
        .write(
            RunWrite {
                run_id: run.run_id,
                attempt: run.attempt,
                first_index: index,
                events: vec![event(r#"{"event":"Custom"}"#)],
                ..Default::default()
            }
            .into(),
        )
        .await
        .unwrap();
}

/// The next notification, or a panic after [`WAIT`].
async fn next(rx: &mut broadcast::Receiver<Notification>) -> Notification {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("timed out waiting for a notification")
        .expect("notification channel closed or lagged")
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

// ---- both backends ----

async fn values_round_trip_exactly(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &db.store;
    let input = json!({
        "nul": "a\u{0}b", "emoji": "🦀", "big": u64::MAX, "neg": i64::MIN, "float": 0.1,
        "nested": {"z": [1, null, true], "a": {}}
    });
    let mut new = new_run("s");
    new.input = input.clone();
    new.claim = Some(Lease {
        owner: "me".into(),
        duration_ms: 60_000,
        first_events: Vec::new(),
    });
    let run = s.create_run(new).await.unwrap();
    assert_eq!(run.input, input);
    // Payloads come back byte for byte, spacing and key order included.
    let payload = r#"{"z":1,  "a" : "\u0000 é"}"#;
    s.write(
        RunWrite {
            run_id: run.run_id,
            attempt: run.attempt,
            first_index: 0,
            events: vec![event(payload)],
            // A key written twice in one write keeps its last value.
            checkpoints: vec![
                ("k".into(), checkpoint_json(&json!(1))),
                ("B".into(), checkpoint_json(&input)),
                ("k".into(), checkpoint_json(&json!(2))),
                ("a".into(), checkpoint_json(&json!(null))),
            ],
            session_state: Some(input.clone()),
            // Failed, not completed: a completed run keeps no checkpoints.
            finish: Some(RunFinish {
                status: RunStatus::Failed,
                output: Some(input.clone()),
                error: None,
                pause_expires_at: None,
                output_in_event: false,
            }),
        }
        .into(),
    )
    .await
    .unwrap();
    let events = s.read_events(run.run_id, 0, 10).await.unwrap();
    assert_eq!(&*events[0].payload, payload);
    assert_eq!(
        s.load_checkpoints(run.run_id).await.unwrap(),
        vec![
            ("B".to_string(), input.clone()),
            ("a".to_string(), json!(null)),
            ("k".to_string(), json!(2)),
        ],
        "byte order of keys, last value wins"
    );
    let rec = s.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(rec.output, Some(input.clone()));
    let session = s.get_session("s").await.unwrap().unwrap();
    assert_eq!(session.session_state, Some(input));
}

/// Runs `sql` on the test database behind the store's back (as an older build or an operator
/// would).
async fn raw_sql(db: &TestDb, backend: Backend, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(&db.url).unwrap();
            conn.execute_batch(sql).unwrap();
        }
        Backend::Postgres => raw_client(&db.url).await.batch_execute(sql).await.unwrap(),
    }
}

async fn an_idempotency_key_that_outlived_its_run_is_free_again(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &db.store;
    let keyed = |hash: &str| {
        let mut run = new_run("s");
        run.idempotency = Some(Idempotency {
            key: "k".into(),
            request_hash: hash.into(),
        });
        run
    };
    let first = s.create_run(keyed("h")).await.unwrap();
    // A build from before schema v2 purges the run but not its key.
    raw_sql(
        &db,
        backend,
        &format!(
            "DELETE FROM kern_runs WHERE run_id = '{}'",
            first.run_id.hyphenated()
        ),
    )
    .await;
    let second = s.create_run(keyed("other")).await.unwrap();
    assert_ne!(second.run_id, first.run_id);
    assert_eq!(s.create_run(keyed("other")).await.unwrap(), second);
    assert!(matches!(
        s.create_run(keyed("h")).await,
        Err(StoreError::IdempotencyConflict { .. })
    ));
}

both_backends!(
    values_round_trip_exactly,
    an_idempotency_key_that_outlived_its_run_is_free_again
);

// ---- PostgreSQL only ----

/// Two stores on one fresh schema, as two replicas would be.
async fn pair() -> Option<(TestDb, Arc<dyn Store>)> {
    let db = TestDb::new(Backend::Postgres).await?;
    let other = db.reopen().await;
    Some((db, other))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_replicas_are_notified_and_own_writes_are_not_echoed() {
    let Some((db, b)) = pair().await else { return };
    let a = &db.store;
    let mut at_a = a.notifications().expect("postgres notifies");
    let mut at_b = b.notifications().expect("postgres notifies");

    a.create_run(new_run("s")).await.unwrap();
    assert_eq!(next(&mut at_b).await, Notification::RunsAvailable);

    let run = a.claim(&claim_req("a", 1)).await.unwrap().remove(0);
    append(a.as_ref(), &run, 0).await;
    assert_eq!(
        next(&mut at_b).await,
        Notification::Events(vec![run.run_id])
    );

    assert_eq!(
        b.request_cancel(run.run_id).await.unwrap(),
        CancelRequest::Requested
    );
    assert_eq!(
        next(&mut at_a).await,
        Notification::Cancel(vec![run.run_id])
    );
    // A heard only B's cancel, nothing of its own writes; B hears nothing of its own cancel.
    assert!(at_a.try_recv().is_err());
    append(a.as_ref(), &run, 1).await;
    assert_eq!(
        next(&mut at_b).await,
        Notification::Events(vec![run.run_id])
    );
    assert!(at_b.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_replicas_wake_their_webhook_dispatchers() {
    let Some((db, b)) = pair().await else { return };
    let a = &db.store;
    let mut at_a = a.webhook_wakeups().expect("postgres wakes dispatchers");
    let mut at_b = b.webhook_wakeups().expect("postgres wakes dispatchers");
    let mut notes_at_b = b.notifications().unwrap();
    // A run without a URL finishing wakes nobody.
    let mut plain = new_run("s");
    plain.claim = Some(Lease {
        owner: "a".into(),
        duration_ms: 60_000,
        first_events: Vec::new(),
    });
    let finish = |run: &RunRecord| RunWrite {
        run_id: run.run_id,
        attempt: run.attempt,
        first_index: 0,
        events: vec![event(r#"{"event":"RunCompleted"}"#)],
        finish: Some(RunFinish {
            status: RunStatus::Completed,
            output: None,
            error: None,
            pause_expires_at: None,
            output_in_event: false,
        }),
        ..Default::default()
    };
    let run = a.create_run(plain.clone()).await.unwrap();
    a.write(finish(&run).into()).await.unwrap();
    assert_eq!(
        next(&mut notes_at_b).await,
        Notification::Events(vec![run.run_id])
    );
    assert!(at_a.try_recv().is_err() && at_b.try_recv().is_err());
    // One with a URL wakes both: A locally, B through the NOTIFY's `w` token.
    let mut hooked = plain;
    hooked.run_id = new_run_id();
    hooked.webhook_url = Some("http://hook".into());
    let run = a.create_run(hooked).await.unwrap();
    a.write(finish(&run).into()).await.unwrap();
    for rx in [&mut at_a, &mut at_b] {
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("woken")
            .unwrap();
    }
    let claimed = b.claim_webhooks(10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run_id, run.run_id);
    assert!(at_b.try_recv().is_err(), "a claim wakes nobody");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_sends_one_coalesced_notification() {
    let Some((db, b)) = pair().await else { return };
    let a = db.store.clone();
    let mut at_b = b.notifications().unwrap();
    for _ in 0..40 {
        a.create_run(new_run("s")).await.unwrap();
    }
    let runs = a.claim(&claim_req("a", 40)).await.unwrap();
    // Drain the RunsAvailable wake-ups of the creates (batched or not).
    wait_until(WAIT, "the creates' notifications", || {
        let got = at_b.try_recv();
        async move { matches!(got, Err(broadcast::error::TryRecvError::Empty)) }
    })
    .await;
    let tasks: Vec<_> = runs
        .iter()
        .cloned()
        .map(|run| {
            let a = a.clone();
            tokio::spawn(async move { append(a.as_ref(), &run, 0).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut heard = std::collections::HashSet::new();
    let mut notifications = 0;
    while heard.len() < runs.len() {
        match next(&mut at_b).await {
            Notification::Events(ids) => {
                assert!(!ids.is_empty());
                notifications += 1;
                heard.extend(ids);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(runs.iter().all(|r| heard.contains(&r.run_id)));
    assert!(notifications <= runs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemas_do_not_hear_each_other() {
    let Some((db2, b2)) = pair().await else {
        return;
    };
    let Some(db1) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let mut at_b2 = b2.notifications().unwrap();
    let mut first = new_run("s");
    first.claim = Some(Lease {
        owner: "x".into(),
        duration_ms: 60_000,
        first_events: Vec::new(),
    });
    let run1 = db1.store.create_run(first.clone()).await.unwrap();
    append(db1.store.as_ref(), &run1, 0).await;
    let mut second = first;
    second.run_id = new_run_id();
    let run2 = db2.store.create_run(second).await.unwrap();
    append(db2.store.as_ref(), &run2, 0).await;
    // Had schema 1's notification crossed over, it would have arrived first.
    assert_eq!(
        next(&mut at_b2).await,
        Notification::Events(vec![run2.run_id])
    );
}

/// Terminates the backends of `application_name`; returns how many.
async fn terminate(url: &str, application: &str, query_like: &str) -> i64 {
    raw_client(url)
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1 AND query LIKE $2 AND pid <> pg_backend_pid()",
            &[&application, &query_like],
        )
        .await
        .unwrap()
        .get(0)
}

/// A store on a fresh schema whose connections carry their own application name.
async fn tagged_store() -> Option<(String, String, PostgresStore)> {
    let base = pg_url()?;
    let app = format!("kern_{}", new_run_id().simple());
    let url = format!("{}&application_name={app}", pg_schema_url(&base).await);
    let store = PostgresStore::connect(&url).await.unwrap();
    Some((url, app, store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_listener_reconnects_and_asks_for_a_resync() {
    let Some((url, app, b)) = tagged_store().await else {
        return;
    };
    let a = PostgresStore::connect(&url).await.unwrap();
    let mut at_b = b.notifications().unwrap();
    // Both stores listen; kill every listener of this schema.
    assert_eq!(terminate(&url, &app, "LISTEN%").await, 2);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut at_b).await);
    }
    assert_eq!(
        got,
        vec![
            Notification::RunsAvailable,
            Notification::Events(vec![]),
            Notification::Cancel(vec![])
        ]
    );
    // And it listens again.
    a.create_run(new_run("s")).await.unwrap();
    assert_eq!(next(&mut at_b).await, Notification::RunsAvailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_and_reads_survive_lost_connections() {
    let Some((url, app, store)) = tagged_store().await else {
        return;
    };
    let run = store.create_run(new_run("s")).await.unwrap();
    assert_eq!(store.get_run(run.run_id).await.unwrap(), Some(run.clone()));
    // Kill every connection of the store but its listener: writer and pooled readers.
    assert!(terminate(&url, &app, "%").await >= 2);
    let again = store.create_run(new_run("s")).await.unwrap();
    assert!(store.get_run(again.run_id).await.unwrap().is_some());
    assert_eq!(
        store.list_runs(&RunFilter::default()).await.unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_skips_rows_locked_elsewhere_without_waiting() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let s = &db.store;
    let locked = s.create_run(new_run("s")).await.unwrap();
    let free = s.create_run(new_run("s")).await.unwrap();
    // Another process holds the oldest pending run's row lock.
    let mut other = raw_client(&db.url).await;
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM kern_runs WHERE run_id = $1 FOR UPDATE",
        &[&locked.run_id],
    )
    .await
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), s.claim(&claim_req("a", 2)))
        .await
        .expect("claim waited on a locked row")
        .unwrap();
    assert_eq!(
        got.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![free.run_id]
    );
    tx.rollback().await.unwrap();
    let got = s.claim(&claim_req("a", 2)).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![locked.run_id]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_once_into_a_named_schema() {
    let Some(base) = pg_url() else { return };
    let schema = format!("n_{}", new_run_id().simple());
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let mut options = PostgresOptions::new(&base);
            options.schema = Some(schema.clone());
            options.pool_size = 2;
            tokio::spawn(PostgresStore::connect_with(options))
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap().expect("concurrent start"));
    }
    assert!(stores.iter().all(|s| s.schema() == schema));
    let run = stores[0].create_run(new_run("s")).await.unwrap();
    assert_eq!(stores[3].get_run(run.run_id).await.unwrap(), Some(run));
    let client = raw_client(&base).await;
    let version: i64 = client
        .query_one(&format!("SELECT version FROM {schema}.kern_schema"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 9);
    // A schema newer than this build is refused.
    client
        .execute(
            &format!("UPDATE {schema}.kern_schema SET version = 99"),
            &[],
        )
        .await
        .unwrap();
    let mut options = PostgresOptions::new(&base);
    options.schema = Some(schema);
    assert!(matches!(
        PostgresStore::connect_with(options).await,
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_flushes_then_refuses() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let s = db.store.clone();
    let creates: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.create_run(new_run("s")).await })
        })
        .collect();
    // Every create submitted before close commits; any after it fails with Closed.
    tokio::task::yield_now().await;
    s.close().await;
    let mut landed = 0;
    for c in creates {
        match c.await.unwrap() {
            Ok(_) => landed += 1,
            Err(StoreError::Closed) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(matches!(
        s.create_run(new_run("s")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        s.get_run(new_run_id()).await,
        Err(StoreError::Closed)
    ));
    s.close().await; // idempotent
    let other = db.reopen().await;
    assert_eq!(
        other.list_runs(&RunFilter::default()).await.unwrap().len(),
        landed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_reports_bad_configuration() {
    assert!(matches!(
        PostgresStore::connect("postgres://u@h:notaport/db").await,
        Err(StoreError::Config(_))
    ));
    let mut options = PostgresOptions::new("postgres://u@127.0.0.1/db");
    options.schema = Some("bad name;".into());
    assert!(matches!(
        PostgresStore::connect_with(options).await,
        Err(StoreError::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_loses_a_deadlock_is_reapplied_op_by_op() {
    let Some((url, app, store)) = tagged_store().await else {
        return;
    };
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut new = new_run("s");
        new.claim = Some(Lease {
            owner: "me".into(),
            duration_ms: 60_000,
            first_events: Vec::new(),
        });
        runs.push(store.create_run(new).await.unwrap());
    }
    let (z, y, x) = (&runs[0], &runs[1], &runs[2]);
    let lock = "SELECT 1 FROM kern_runs WHERE run_id = $1 FOR UPDATE";
    // Another process holds z and x.
    let mut c1 = raw_client(&url).await;
    let r1 = c1.transaction().await.unwrap();
    r1.execute(lock, &[&z.run_id]).await.unwrap();
    let mut c2 = raw_client(&url).await;
    let r2 = c2.transaction().await.unwrap();
    r2.execute(lock, &[&x.run_id]).await.unwrap();
    let store_waits = || async {
        let n: i64 = raw_client(&url)
            .await
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        n == 1
    };
    // The writer blocks on z; meanwhile writes to y then x queue up as one batch.
    let blocked = tokio::spawn({
        let store = store.clone();
        let z = z.clone();
        async move { append(&store, &z, 0).await }
    });
    wait_until(WAIT, "the writer to wait for z", store_waits).await;
    let mut pair = Box::pin(async {
        tokio::join!(append(&store, y, 0), append(&store, x, 0));
    });
    assert!(futures::poll!(&mut pair).is_pending()); // both ops are queued, in order
    r1.commit().await.unwrap();
    blocked.await.unwrap();
    // The batch [y, x] holds y and waits for x; taking y closes the cycle.
    wait_until(WAIT, "the batch to wait for x", store_waits).await;
    let _ = r2.execute(lock, &[&y.run_id]).await; // one side loses the deadlock
    r2.rollback().await.unwrap();
    tokio::time::timeout(WAIT, pair)
        .await
        .expect("writes finished");
    for run in &runs {
        assert_eq!(store.read_events(run.run_id, 0, 10).await.unwrap().len(), 1);
    }
}
