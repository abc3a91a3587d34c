//! An engine for tests and what tests read back from it: a run's stored events, their names
//! and payloads, the finished record, a drained stream, and the check that indices are
//! gapless (design invariant 2).

use futures::StreamExt;
use kern_core::engine::{Engine, EventStream};
use kern_store::{RunFilter, RunId, RunRecord, Store, StoredEvent};
use serde_json::Value;
use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

/// How long [`finished`] and [`collect`] wait: long enough for a slow CI machine running
/// suites in parallel, short enough that a stuck run fails the test rather than hanging it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// An executing engine on `db`'s store; see [`engine_on`].
pub fn engine(db: &crate::TestDb) -> Engine {
    engine_on(db.store.clone())
}

/// An executing engine on `store` (for instance [`crate::TestDb::reopen`]'s, as another
/// process would open it) with a short lease (2 s, so that recovery tests do not wait long for
/// an expiry) and fast polling (50 ms, so that runs started by another engine or process are
/// claimed quickly).
pub fn engine_on(store: Arc<dyn Store>) -> Engine {
    Engine::builder(store)
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(50))
        .build()
}

/// Every event of a run, read from the store (not from a subscription: what is durable).
pub async fn stored(engine: &Engine, run_id: RunId) -> Vec<StoredEvent> {
    engine
        .store()
        .read_events(run_id, 0, 100_000)
        .await
        .expect("read the run's events")
}

/// The child runs of a run (a team's members, a workflow's nested components), as the
/// engine lists them.
pub async fn children(engine: &Engine, run_id: RunId) -> Vec<RunRecord> {
    engine
        .list_runs(&RunFilter {
            parent_run_id: Some(run_id),
            ..Default::default()
        })
        .await
        .expect("list the child runs")
}

/// The `event` names of stored events, in order.
pub fn names(events: &[StoredEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

/// A stored event's payload, parsed.
pub fn json(e: &StoredEvent) -> Value {
    serde_json::from_str(&e.payload).expect("payload is JSON")
}

/// Waits (up to [`RUN_TIMEOUT`]) for a run to reach a terminal status and returns its record.
pub async fn finished(engine: &Engine, run_id: RunId) -> RunRecord {
    tokio::time::timeout(RUN_TIMEOUT, engine.wait(run_id))
        .await
        .unwrap_or_else(|_| panic!("run {run_id} did not finish within {RUN_TIMEOUT:?}"))
        .expect("wait for the run")
}

/// Drains a stream to its end (which must come within [`RUN_TIMEOUT`]).
pub async fn collect(mut stream: EventStream) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(e)) => out.push(e.expect("event")),
            Ok(None) => return out,
            Err(_) => panic!("stream did not end in time; got {} events", out.len()),
        }
    }
}

/// Asserts that stored events have indices `from, from+1, …` (no gap, no duplicate) and that
/// each payload's `event_index` is its row's.
pub fn assert_gapless(events: &[StoredEvent], from: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.event_index,
            from + i as u64,
            "gap or duplicate at position {i}"
        );
        assert_eq!(
            json(e)["event_index"],
            e.event_index,
            "payload index at position {i}"
        );
    }
}

/// Asserts that event payloads (as served over HTTP, SSE or WebSocket) have `event_index`
/// `from, from+1, …`: no gap, no duplicate.
pub fn assert_gapless_payloads<I>(payloads: I, from: u64)
where
    I: IntoIterator,
    I::Item: Borrow<Value>,
{
    let indices: Vec<Value> = payloads
        .into_iter()
        .map(|p| p.borrow()["event_index"].clone())
        .collect();
    for (i, index) in indices.iter().enumerate() {
        assert_eq!(
            *index,
            from + i as u64,
            "gap or duplicate at position {i}: indices {indices:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gapless_payloads_pass() {
        let log = [json!({"event_index": 2}), json!({"event_index": 3})];
        assert_gapless_payloads(&log, 2);
        assert_gapless_payloads(log.iter().collect::<Vec<_>>(), 2);
    }

    #[test]
    #[should_panic(expected = "gap or duplicate at position 1")]
    fn a_gap_is_caught() {
        assert_gapless_payloads(&[json!({"event_index": 0}), json!({"event_index": 2})], 0);
    }

    #[test]
    #[should_panic(expected = "gap or duplicate at position 1")]
    fn a_duplicate_is_caught() {
        assert_gapless_payloads(&[json!({"event_index": 0}), json!({"event_index": 0})], 0);
    }
}
