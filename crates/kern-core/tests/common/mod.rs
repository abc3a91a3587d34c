//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use futures::StreamExt;
use kern_core::engine::{Engine, EventStream};
use kern_core::store::{RunId, StoredEvent};
use kern_testkit::TestDb;
use serde_json::Value;
use std::time::Duration;

/// An engine with short leases and fast polling, for tests.
pub fn engine(db: &TestDb) -> Engine {
    Engine::builder(db.store.clone())
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(50))
        .build()
}

/// Drains a stream (with a deadline).
pub async fn collect(mut stream: EventStream) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(e)) => out.push(e.expect("event")),
            Ok(None) => return out,
            Err(_) => panic!("stream did not end in time; got {} events", out.len()),
        }
    }
}

/// The `event` names of stored events.
pub fn names(events: &[StoredEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

/// Parses a stored event's payload.
pub fn json(e: &StoredEvent) -> Value {
    serde_json::from_str(&e.payload).expect("payload is JSON")
}

/// Asserts indices are `from, from+1, …` and match the payloads.
pub fn assert_gapless(events: &[StoredEvent], from: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event_index, from + i as u64, "gap or duplicate at {i}");
        assert_eq!(json(e)["event_index"], e.event_index);
    }
}

/// Every event of a run, read from the store.
pub async fn stored(engine: &Engine, run_id: RunId) -> Vec<StoredEvent> {
    engine
        .store()
        .read_events(run_id, 0, 100_000)
        .await
        .unwrap()
}

/// Waits for a run to reach a terminal status (with a deadline).
pub async fn finished(engine: &Engine, run_id: RunId) -> kern_core::store::RunRecord {
    tokio::time::timeout(Duration::from_secs(20), engine.wait(run_id))
        .await
        .expect("run finished in time")
        .expect("wait")
}
