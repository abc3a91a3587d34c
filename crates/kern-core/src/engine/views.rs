//! What this engine has committed for the runs it executes, kept so that reading such a run
//! whole (a client polling `GET …/runs/{id}`) is answered without a store read.
//!
//! A view is the run's record and log exactly as the store holds them after this engine's
//! last write: it is opened when a run starts executing here with an empty log, and changed
//! only after the store committed a write of the run ([`RunLog`](super::log::RunLog) calls
//! [`Views::committed`] once `Store::write` returned), by applying that write to the record
//! ([`RunRecord::apply_write`], the store's own statement restated and checked against both
//! backends) and appending its events. So a view never shows anything uncommitted
//! (invariant 1) and shows what a store read would, as long as only this engine changes the
//! run.
//!
//! Edge cases, exactly:
//! - A run resumed here (its log is not empty when claimed) gets no view: its earlier events
//!   are in the store only. Nor does a run whose log outgrows [`MAX_EVENTS`] or
//!   [`MAX_BYTES`] (the view is dropped): those are read from the store.
//! - A view ends with its run's last write here (a finish or a pause): from then on any
//!   process may change the run (requeue, continue, cancel a paused run, purge), and on a
//!   SQLite file shared by several processes this engine would not hear of it, so an ended
//!   run is always read from the store.
//! - Every stop of a local run (cancel, lost lease, hand-back, shutdown) forgets its view:
//!   a cancel requested elsewhere sets `cancel_requested`, a hand-back releases the lease,
//!   neither through the run's log. Until the engine learns of a cancel requested through
//!   another process (its heartbeat, its cancel poll or a notification), the view shows
//!   `cancel_requested: false`, which was true at the run's last write.
//! - The lease fields are as of the last write: heartbeats renew the lease without one.
//! - At most [`MAX_VIEWS`] views are kept; past that, new runs get none.

use kern_store::{RunId, RunRecord, RunWrite, StoredEvent};
use std::collections::HashMap;
use std::sync::Mutex;

/// The most events one view holds.
pub(crate) const MAX_EVENTS: usize = 512;
/// The most payload bytes one view holds.
pub(crate) const MAX_BYTES: usize = 256 * 1024;
/// The most views kept at once (runs in flight here beyond that are read from the store).
pub(crate) const MAX_VIEWS: usize = 4_096;

struct View {
    record: RunRecord,
    events: Vec<StoredEvent>,
    bytes: usize,
}

/// The views of the runs this engine executes (see the module docs).
#[derive(Default)]
pub(crate) struct Views {
    map: Mutex<HashMap<RunId, View>>,
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, View>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run starts executing here with this (claimed, stored) record.
    pub(crate) fn open(&self, record: &RunRecord) {
        let mut map = self.lock();
        if record.event_count != 0 || map.len() >= MAX_VIEWS {
            // Resumed here, or too many: read from the store.
            map.remove(&record.run_id);
            return;
        }
        map.insert(
            record.run_id,
            View {
                record: record.clone(),
                events: Vec::new(),
                bytes: 0,
            },
        );
    }

    /// The store committed `w` at `at`: the run's view takes it (or is dropped when the write
    /// ends the run, does not follow from the view, or grows the log past the limits).
    pub(crate) fn committed(&self, w: &RunWrite, at: kern_store::Millis) {
        let mut map = self.lock();
        let Some(view) = map.get_mut(&w.run_id) else {
            return;
        };
        let bytes = view.bytes + w.events.iter().map(|e| e.payload.len()).sum::<usize>();
        let fits = view.events.len() + w.events.len() <= MAX_EVENTS && bytes <= MAX_BYTES;
        if w.finish.is_some() || !fits || !view.record.apply_write(w, at) {
            map.remove(&w.run_id);
            return;
        }
        view.bytes = bytes;
        // Payloads are shared, not copied.
        let events = w.events.iter().zip(w.first_index..);
        view.events
            .extend(events.map(|(e, i)| e.clone().into_stored(i)));
    }

    /// The run's record and log, if this engine holds a current view of it.
    pub(crate) fn get(&self, run_id: RunId) -> Option<(RunRecord, Vec<StoredEvent>)> {
        let map = self.lock();
        let view = map.get(&run_id)?;
        Some((view.record.clone(), view.events.clone()))
    }

    /// The run stopped executing here, or something other than its log changed (or may have
    /// changed) it: read it from the store from now on.
    pub(crate) fn forget(&self, run_id: RunId) {
        self.lock().remove(&run_id);
    }

    /// Forgets every view (a change this engine cannot attribute to single runs).
    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }

    /// How many views are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kern_store::{NewEvent, RunFinish, RunStatus};

    fn running() -> RunRecord {
        RunRecord {
            run_id: kern_store::new_run_id(),
            session_id: "s".into(),
            user_id: None,
            kind: kern_store::ComponentKind::Workflow,
            component_id: "wf".into(),
            parent_run_id: None,
            status: RunStatus::Running,
            input: serde_json::Value::Null,
            output: None,
            error: None,
            background: true,
            attempt: 1,
            releases: 0,
            lease_owner: Some("me".into()),
            lease_expires_at: Some(100),
            cancel_requested: false,
            event_count: 0,
            created_at: 0,
            updated_at: 0,
            started_at: Some(0),
            finished_at: None,
            webhook_url: None,
        }
    }

    fn write(rec: &RunRecord, first: u64, n: usize) -> RunWrite {
        RunWrite {
            run_id: rec.run_id,
            attempt: rec.attempt,
            first_index: first,
            events: (0..n)
                .map(|i| NewEvent {
                    event_type: "StepStarted".into(),
                    payload: format!("{{\"i\":{i}}}").into(),
                    created_at: 1,
                    scope: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn follows_committed_writes_and_drops_what_does_not_follow() {
        let views = Views::default();
        let rec = running();
        views.open(&rec);
        views.committed(&write(&rec, 0, 2), 10);
        let (r, events) = views.get(rec.run_id).unwrap();
        assert_eq!((r.event_count, r.updated_at, events.len()), (2, 10, 2));
        assert_eq!(events[1].event_index, 1);
        // A write at the wrong index (another writer's) means the view is not current.
        views.committed(&write(&rec, 5, 1), 11);
        assert!(views.get(rec.run_id).is_none());
    }

    #[test]
    fn resumed_runs_get_none_and_limits_drop_views() {
        let views = Views::default();
        let mut resumed = running();
        views.open(&resumed);
        assert_eq!(views.len(), 1);
        resumed.event_count = 3;
        resumed.attempt = 2;
        views.open(&resumed);
        assert_eq!(views.len(), 0, "the earlier attempt's view is dropped");
        let rec = running();
        views.open(&rec);
        views.committed(&write(&rec, 0, MAX_EVENTS + 1), 1);
        assert!(views.get(rec.run_id).is_none());
    }

    #[test]
    fn a_view_ends_with_its_run() {
        let views = Views::default();
        let rec = running();
        views.open(&rec);
        views.committed(&write(&rec, 0, 1), 4);
        assert!(views.get(rec.run_id).is_some());
        let mut w = write(&rec, 1, 1);
        w.finish = Some(RunFinish {
            status: RunStatus::Completed,
            output: None,
            error: None,
            pause_expires_at: None,
        });
        views.committed(&w, 5);
        assert!(views.get(rec.run_id).is_none());
        assert_eq!(views.len(), 0);
    }
}
