//! Resumable subscriptions: from every index, while the run writes, from another process.

use futures::StreamExt;
use kern_core::engine::{Engine, EngineConfig, EventStream};
use kern_core::store::RunStatus;
use kern_core::store::{ComponentKind, StoredEvent};
use kern_core::workflow::*;
use kern_core::EngineError;
use kern_testkit::{
    assert_gapless, both_backends, collect, engine, finished, json, stored, Backend, CountingStore,
    TestDb,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A workflow of `n` steps, each waiting for one permit of `gate`, each emitting progress.
fn gated(engine: &Engine, id: &str, n: usize, gate: Arc<Semaphore>) -> Workflow {
    let steps = (0..n).map(|i| {
        let gate = gate.clone();
        Step::new(format!("s{i}"), move |input| {
            let gate = gate.clone();
            async move {
                input.emit_output(format!("progress {i}"));
                gate.acquire().await.unwrap().forget();
                Ok(StepOutput::text(format!("done {i}")))
            }
        })
    });
    Workflow::builder(id)
        .steps(steps)
        .db(engine)
        .build()
        .unwrap()
}

async fn subscribers_from_every_index_see_the_exact_log(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let gate = Arc::new(Semaphore::new(0));
    let wf = gated(&engine, "g", 12, gate.clone());
    let run = wf.run_background("x").await.unwrap().into_record();
    // Subscribers join at every index while the run advances step by step: some while it
    // waits at a gate, some racing the writes that follow each release.
    let mut subs = Vec::new();
    let mut joined = 0u64;
    for i in 0..12u64 {
        // Step i is at its gate once WorkflowStarted + 3 events per earlier step + its
        // StepStarted and StepOutput are stored.
        let at_gate = 1 + 3 * i + 2;
        kern_testkit::wait_until(Duration::from_secs(10), "the run to reach its gate", || {
            let engine = engine.clone();
            async move {
                engine
                    .get_run(run.run_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .event_count
                    >= at_gate
            }
        })
        .await;
        while joined <= at_gate {
            let stream = engine
                .subscribe(run.run_id, joined.checked_sub(1))
                .await
                .unwrap();
            subs.push((joined, tokio::spawn(collect(stream))));
            joined += 1;
        }
        gate.add_permits(1);
        for _ in 0..3 {
            let last = engine
                .get_run(run.run_id)
                .await
                .unwrap()
                .unwrap()
                .event_count
                .checked_sub(1);
            let stream = engine.subscribe(run.run_id, last).await.unwrap();
            subs.push((last.map_or(0, |l| l + 1), tokio::spawn(collect(stream))));
        }
    }
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    let log = stored(&engine, run.run_id).await;
    assert_gapless(&log, 0);
    assert_eq!(log.len() as u64, done.event_count);
    assert!(subs.len() as u64 > 3 * 12 + 12);
    for (from, sub) in subs {
        let got = sub.await.unwrap();
        assert_eq!(got, log[from as usize..].to_vec(), "subscriber from {from}");
    }
    // And after the end: a replay from any index.
    for from in [0usize, 5, log.len() - 1] {
        let stream = engine
            .subscribe(run.run_id, Some(from as u64))
            .await
            .unwrap();
        assert_eq!(collect(stream).await, log[from + 1..].to_vec());
    }
    let past_end = engine
        .subscribe(run.run_id, Some(log.len() as u64 + 5))
        .await
        .unwrap();
    assert!(collect(past_end).await.is_empty());
}

async fn another_process_follows_the_live_tail(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let owner = engine(&db);
    let gate = Arc::new(Semaphore::new(0));
    let wf = gated(&owner, "g", 5, gate.clone());
    let run = wf.run_background("x").await.unwrap();
    let watcher = Engine::builder(db.reopen().await).executor(false).build();
    let mut stream = watcher.subscribe(run.run_id, None).await.unwrap();
    let mut got = follow_step_by_step(&mut stream, 5, &gate).await;
    got.extend(collect(stream).await);
    let log = stored(&owner, run.run_id).await;
    assert_eq!(got, log);
    assert_eq!(got.last().unwrap().event_type, "WorkflowCompleted");
}

/// Reads `stream` step by step: step `i` of a [`gated`] workflow is let go only once the stream
/// has shown its `StepStarted`, so each step's events are committed after the subscriber saw
/// the ones before: the tail is live.
async fn follow_step_by_step(
    stream: &mut EventStream,
    steps: usize,
    gate: &Semaphore,
) -> Vec<StoredEvent> {
    let mut got = Vec::new();
    for i in 0..steps {
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("live event in time")
                .unwrap()
                .unwrap();
            let started = e.event_type == "StepStarted" && json(&e)["step_name"] == format!("s{i}");
            got.push(e);
            if started {
                break;
            }
        }
        gate.add_permits(1);
    }
    got
}

/// What a stream asked the store: event reads, event counts, runs.
fn asked(counting: &CountingStore) -> (u64, u64, u64) {
    let calls = |m| counting.calls(m);
    (calls("read_events"), calls("event_count"), calls("get_run"))
}

/// A stream of a run this process executes asks the store at most at its start and at its
/// end, however many events it carries: the live channel brings the rest (`bus`'s module docs
/// say exactly when the store is read). At its end it asks for the log's length alone. A
/// foreground stream, subscribed before its run could write, does not read at its start.
async fn streams_of_local_runs_read_the_store_only_at_their_ends(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let counting = CountingStore::new(db.store.clone());
    let engine = Engine::builder(counting.clone())
        .config(EngineConfig {
            // The safety-net poll would read too; a slow machine must not make it fire.
            subscription_poll_interval: Duration::from_secs(600),
            ..Default::default()
        })
        .build();
    let gate = Arc::new(Semaphore::new(0));
    let steps = 8;
    let _wf = gated(&engine, "g", steps, gate.clone());

    // Foreground: only the end is read (is the log over at its terminal event?).
    let run = engine
        .run_stream(ComponentKind::Workflow, "g", "x")
        .await
        .unwrap();
    let run_id = run.run_id();
    let mut stream = run.into_raw();
    let mut got = follow_step_by_step(&mut stream, steps, &gate).await;
    got.extend(collect(stream).await);
    let seen = asked(&counting);
    assert_eq!(got, stored(&engine, run_id).await);
    assert_eq!(
        got.len(),
        1 + 3 * steps + 1,
        "every event, to WorkflowCompleted"
    );
    assert_eq!(seen, (0, 1, 0), "the foreground stream's reads");

    // Background, subscribed after the start: the run and its log so far, then the end.
    counting.reset();
    let run = engine
        .start(ComponentKind::Workflow, "g", "y")
        .await
        .unwrap();
    let mut stream = engine.subscribe(run.run_id, None).await.unwrap();
    let mut got = follow_step_by_step(&mut stream, steps, &gate).await;
    got.extend(collect(stream).await);
    let seen = asked(&counting);
    assert_eq!(got, stored(&engine, run.run_id).await);
    assert_eq!(
        got.len(),
        1 + 3 * steps + 1,
        "every event, to WorkflowCompleted"
    );
    assert_eq!(seen, (1, 1, 1), "the background subscription's reads");
}

/// A foreground run's start event is written by the transaction that creates it, so that its
/// stream's first event is durable after one commit, not two (the create, then the run's first
/// write): the created record counts it, the stream and the engine's view begin with it while
/// the run is held in its first step, and the log holds it once. A background run is created
/// with an empty log and begins when it is claimed.
async fn a_foreground_run_begins_with_its_creation(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let gate = Arc::new(Semaphore::new(0));
    let _wf = gated(&engine, "g", 1, gate.clone());
    let started = |events: &[StoredEvent]| {
        events
            .iter()
            .filter(|e| e.event_type == "WorkflowStarted")
            .map(|e| e.event_index)
            .collect::<Vec<_>>()
    };

    let run = engine
        .run_stream(ComponentKind::Workflow, "g", "x")
        .await
        .unwrap();
    assert_eq!(
        run.record().event_count,
        1,
        "the created record counts its start event"
    );
    let run_id = run.run_id();
    let mut stream = run.into_raw();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the first event in time")
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.event_index, first.event_type.as_str()),
        (0, "WorkflowStarted")
    );
    // Held in its first step: the store and the view hold the start event as streamed.
    assert_eq!(stored(&engine, run_id).await.first(), Some(&first));
    let (_, viewed) = engine.run_with_events(run_id).await.unwrap().unwrap();
    assert_eq!(viewed.first(), Some(&first));
    gate.add_permits(1);
    let mut got = vec![first];
    got.extend(collect(stream).await);
    assert_eq!(got, stored(&engine, run_id).await);
    assert_eq!(started(&got), [0], "one start event, first");
    assert_eq!(got.last().unwrap().event_type, "WorkflowCompleted");

    let run = engine
        .start(ComponentKind::Workflow, "g", "y")
        .await
        .unwrap();
    assert_eq!((run.status, run.event_count), (RunStatus::Pending, 0));
    gate.add_permits(1);
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Completed
    );
    assert_eq!(started(&stored(&engine, run.run_id).await), [0]);
}

async fn subscribing_to_an_unknown_run_is_not_found(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let id = kern_core::store::new_run_id();
    assert!(matches!(
        engine.subscribe(id, None).await,
        Err(EngineError::RunNotFound(_))
    ));
}

both_backends!(
    subscribers_from_every_index_see_the_exact_log,
    another_process_follows_the_live_tail,
    streams_of_local_runs_read_the_store_only_at_their_ends,
    a_foreground_run_begins_with_its_creation,
    subscribing_to_an_unknown_run_is_not_found,
);
