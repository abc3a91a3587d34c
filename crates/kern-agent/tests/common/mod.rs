//! Helpers shared by the agent and team tests.
#![allow(dead_code)]

use kern_core::engine::Engine;
use kern_store::{RunId, RunRecord, StoredEvent};
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

/// Every event of a run, read from the store.
pub async fn stored(engine: &Engine, run_id: RunId) -> Vec<StoredEvent> {
    engine
        .store()
        .read_events(run_id, 0, 100_000)
        .await
        .unwrap()
}

/// The `event` names of stored events.
pub fn names(events: &[StoredEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

/// A stored event's payload.
pub fn json(e: &StoredEvent) -> Value {
    serde_json::from_str(&e.payload).unwrap()
}

/// Asserts indices are 0, 1, 2, … and match the payloads.
pub fn assert_gapless(events: &[StoredEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event_index, i as u64, "gap or duplicate at {i}");
        assert_eq!(json(e)["event_index"], e.event_index);
    }
}

/// Waits for a run to finish (with a deadline).
pub async fn finished(engine: &Engine, run_id: RunId) -> RunRecord {
    tokio::time::timeout(Duration::from_secs(30), engine.wait(run_id))
        .await
        .expect("run finished in time")
        .expect("wait")
}
