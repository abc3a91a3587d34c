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
//! - Every stop of a local run (cancel, lost lease, hand-back, shutdown) forgets its view:
//!   a cancel requested elsewhere sets `cancel_requested`, a hand-back releases the lease,
//!   neither through the run's log. Until the engine learns of a cancel requested through
//!   another process (its heartbeat or a notification), the view shows
//!   `cancel_requested: false`, which was true at the last write.
//! - The lease fields are as of the last write: heartbeats renew the lease without one.
//! - A view of a run that finished (or paused) is kept for [`FINISHED_RETENTION`], so that the
//!   poll that sees the end is answered from memory too, then dropped. This engine's own
//!   changes to such a run (continue, requeue, deleting its session, purging) forget it at
//!   once; so does a notification of new events from another replica (PostgreSQL). A change
//!   made by another process sharing a SQLite file shows after at most
//!   [`FINISHED_RETENTION`].
//! - At most [`MAX_VIEWS`] views are kept: a new run's view takes the place of the oldest
//!   ended one; when every view is of a run in flight, new runs get none.

use kern_store::{NewEvent, RunId, RunRecord, RunWrite, StoredEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the view of a finished or paused run is kept.
pub(crate) const FINISHED_RETENTION: Duration = Duration::from_secs(1);
/// The most events one view holds.
pub(crate) const MAX_EVENTS: usize = 512;
/// The most payload bytes one view holds.
pub(crate) const MAX_BYTES: usize = 256 * 1024;
/// The most views kept at once.
pub(crate) const MAX_VIEWS: usize = 2_048;

struct View {
    record: RunRecord,
    events: Vec<StoredEvent>,
    bytes: usize,
    /// When the run finished or paused (its view then expires).
    ended: Option<Instant>,
}

/// The views of the runs this engine executes (see the module docs).
#[derive(Default)]
pub(crate) struct Views {
    map: Mutex<Map>,
}

/// The views by run, and the ended ones in the order they ended (to expire them, and to
/// make room for a new run's view by dropping the oldest first).
#[derive(Default)]
struct Map {
    views: HashMap<RunId, View>,
    ended: VecDeque<(Instant, RunId)>,
}

impl Map {
    /// Drops ended views older than the retention, and more of the oldest until at most
    /// `keep` views are left (when there are that many ended ones).
    fn prune(&mut self, keep: usize) {
        while let Some(&(at, id)) = self.ended.front() {
            if at.elapsed() < FINISHED_RETENTION && self.views.len() <= keep {
                break;
            }
            self.ended.pop_front();
            // The entry may be gone already, or be a later view of the same run.
            if self.views.get(&id).is_some_and(|v| v.ended == Some(at)) {
                self.views.remove(&id);
            }
        }
    }
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run starts executing here with this (claimed, stored) record.
    pub(crate) fn open(&self, record: &RunRecord) {
        let mut map = self.lock();
        if record.event_count != 0 {
            // Resumed here: a view of its earlier attempt (ended, or continued or requeued
            // elsewhere) is outdated.
            map.views.remove(&record.run_id);
            return;
        }
        map.prune(MAX_VIEWS - 1);
        if map.views.len() >= MAX_VIEWS {
            return; // all of them runs in flight
        }
        map.views.insert(
            record.run_id,
            View {
                record: record.clone(),
                events: Vec::new(),
                bytes: 0,
                ended: None,
            },
        );
    }

    /// The store committed `w` at `at`: the run's view takes it (or is dropped when the write
    /// does not follow from it, or the log grows past the limits).
    pub(crate) fn committed(&self, w: &RunWrite, at: kern_store::Millis) {
        let mut map = self.lock();
        let Some(view) = map.views.get_mut(&w.run_id) else {
            return;
        };
        let bytes = view.bytes + w.events.iter().map(|e| e.payload.len()).sum::<usize>();
        let fits = view.events.len() + w.events.len() <= MAX_EVENTS && bytes <= MAX_BYTES;
        if !fits || !view.record.apply_write(w, at) {
            map.views.remove(&w.run_id);
            return;
        }
        view.bytes = bytes;
        view.events
            .extend(w.events.iter().enumerate().map(|(i, e)| stored(w, i, e)));
        if w.finish.is_some() {
            let now = Instant::now();
            view.ended = Some(now);
            map.ended.push_back((now, w.run_id));
        }
    }

    /// The run's record and log, if this engine holds a current view of it.
    pub(crate) fn get(&self, run_id: RunId) -> Option<(RunRecord, Vec<StoredEvent>)> {
        let mut map = self.lock();
        map.prune(MAX_VIEWS);
        let view = map.views.get(&run_id)?;
        Some((view.record.clone(), view.events.clone()))
    }

    /// The run stopped executing here: its view stays only if its end was committed through
    /// its log (a run handed back, lost or stopped by a failed write has no end there, and
    /// its row may change without this engine).
    pub(crate) fn close(&self, run_id: RunId) {
        let mut map = self.lock();
        if map.views.get(&run_id).is_some_and(|v| v.ended.is_none()) {
            map.views.remove(&run_id);
        }
    }

    /// Something other than the run's log changed (or may have changed) the run: read it from
    /// the store from now on.
    pub(crate) fn forget(&self, run_id: RunId) {
        self.lock().views.remove(&run_id);
    }

    /// Another process may have appended events to these runs (`None`: to any run). A run
    /// that is still running here cannot have been changed that way (only its owner writes
    /// its log while it runs; such notifications are this engine's own writes coming back),
    /// so only views of ended runs are forgotten.
    pub(crate) fn changed_elsewhere(&self, run_ids: Option<&[RunId]>) {
        let mut map = self.lock();
        match run_ids {
            Some(ids) => {
                for id in ids {
                    if map.views.get(id).is_some_and(|v| v.ended.is_some()) {
                        map.views.remove(id);
                    }
                }
            }
            None => map.views.retain(|_, v| v.ended.is_none()),
        }
    }

    /// Forgets every view (a change this engine cannot attribute to single runs).
    pub(crate) fn forget_all(&self) {
        let mut map = self.lock();
        map.views.clear();
        map.ended.clear();
    }

    /// How many views are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().views.len()
    }
}

fn stored(w: &RunWrite, i: usize, e: &NewEvent) -> StoredEvent {
    StoredEvent {
        event_index: w.first_index + i as u64,
        event_type: e.event_type.clone(),
        payload: e.payload.clone(),
        created_at: e.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kern_store::{RunFinish, RunStatus};

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
    fn finished_views_expire() {
        let views = Views::default();
        let rec = running();
        views.open(&rec);
        let mut w = write(&rec, 0, 1);
        w.finish = Some(RunFinish {
            status: RunStatus::Completed,
            output: None,
            error: None,
            pause_expires_at: None,
        });
        views.committed(&w, 5);
        let (r, _) = views.get(rec.run_id).unwrap();
        assert_eq!((r.status, r.finished_at), (RunStatus::Completed, Some(5)));
        {
            let mut map = views.lock();
            let old = Instant::now() - FINISHED_RETENTION;
            map.views.get_mut(&rec.run_id).unwrap().ended = Some(old);
            map.ended[0].0 = old;
        }
        assert!(views.get(rec.run_id).is_none());
        assert_eq!(views.len(), 0);
    }

    #[test]
    fn a_new_run_takes_the_place_of_the_oldest_ended_one() {
        let views = Views::default();
        let mut ended = Vec::new();
        for _ in 0..MAX_VIEWS {
            let rec = running();
            views.open(&rec);
            let mut w = write(&rec, 0, 1);
            w.finish = Some(RunFinish {
                status: RunStatus::Failed,
                output: None,
                error: Some("x".into()),
                pause_expires_at: None,
            });
            views.committed(&w, 1);
            ended.push(rec.run_id);
        }
        let new = running();
        views.open(&new);
        assert_eq!(views.len(), MAX_VIEWS);
        assert!(views.get(new.run_id).is_some());
        assert!(
            views.get(ended[0]).is_none(),
            "the oldest ended view made room"
        );
        assert!(views.get(ended[1]).is_some());
    }
}
