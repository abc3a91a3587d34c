//! What this engine has committed for the runs it executes, kept so that reading such a run
//! whole (a client polling `GET …/runs/{id}`) costs no store read while it runs, and one
//! small read once it ended.
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
//!   are in the store only. A foreground run whose creation wrote its start event gets a view
//!   holding that event. Nor does a run whose log outgrows [`MAX_EVENTS`] or
//!   [`MAX_BYTES`] (the view is dropped): those are read from the store.
//! - While the run executes here, only a cancel request can change it from elsewhere. Every
//!   stop of a local run (cancel, lost lease, hand-back, shutdown) forgets its view; until
//!   the engine learns of a cancel requested through another process (its heartbeat, its
//!   cancel poll or a notification), the view shows `cancel_requested: false`, which was true
//!   at the run's last write.
//! - Once the run finished here, any process may change it: requeue it, purge it, delete its
//!   session. Each of those appends an event or removes the run, so the view of a finished
//!   run is [`Found::Ended`]: the caller serves it only after `Store::event_count` says the
//!   log still holds exactly its events. A paused run can also change without an event (a
//!   claim once its pause expired, a cancel request racing the pause), so a pause drops the
//!   view. Ended views are kept [`ENDED_RETENTION`], at most [`MAX_VIEWS`] views in all
//!   (a new run's view takes the place of the oldest ended one; when all are of runs in
//!   flight, new runs get none).
//! - The lease fields are as of the last write: heartbeats renew the lease without one.

use kern_store::{NewEvent, RunId, RunRecord, RunWrite, StoredEvent};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the view of a finished run is kept.
pub(crate) const ENDED_RETENTION: Duration = Duration::from_secs(1);
/// The most events one view holds.
pub(crate) const MAX_EVENTS: usize = 512;
/// The most payload bytes one view holds.
pub(crate) const MAX_BYTES: usize = 256 * 1024;
/// The most views kept at once: as many as the engine runs at once by default
/// (`max_concurrent_runs`); views of finished runs give way first. About 15 KB each for a
/// trivial workflow's run (the record's input and output as JSON values, the events).
pub(crate) const MAX_VIEWS: usize = 1_024;

/// The record and log are shared with the readers that took them ([`Views::get`] hands out
/// the same allocation, not a copy: a poll of a run would otherwise copy its input and output
/// JSON and every event's type); a write copies them only if a reader still holds them.
struct View {
    record: Arc<RunRecord>,
    events: Arc<Vec<StoredEvent>>,
    bytes: usize,
    /// When the run's end was committed here.
    ended: Option<Instant>,
}

/// A view as [`Views::get`] finds it.
#[derive(Debug, PartialEq)]
pub(crate) enum Found {
    /// The run executes here: the view is what the store holds.
    Running(Arc<RunRecord>, Arc<Vec<StoredEvent>>),
    /// The run finished here: the view is what the store holds if the stored log still has
    /// `record.event_count` events.
    Ended(Arc<RunRecord>, Arc<Vec<StoredEvent>>),
}

/// The views of the runs this engine executes (see the module docs).
#[derive(Default)]
pub(crate) struct Views {
    map: Mutex<Map>,
}

/// The views by run, and the ended ones in the order they ended (to expire them, and to make
/// room for a new run's view by dropping the oldest first).
#[derive(Default)]
struct Map {
    views: HashMap<RunId, View>,
    ended: VecDeque<(Instant, RunId)>,
}

impl Map {
    /// Drops ended views older than the retention, and more of the oldest until at most
    /// `keep` views are left (as far as ended ones go).
    fn prune(&mut self, keep: usize) {
        while let Some(&(at, id)) = self.ended.front() {
            if at.elapsed() < ENDED_RETENTION && self.views.len() <= keep {
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

    /// A run starts executing here with this (claimed or created, stored) record, whose log
    /// holds `begun`: what its creation wrote (a foreground run's start event), or nothing.
    pub(crate) fn open(&self, record: &RunRecord, begun: &[NewEvent]) {
        let mut map = self.lock();
        if record.event_count != begun.len() as u64 {
            // Resumed here: a view of an earlier attempt is outdated.
            map.views.remove(&record.run_id);
            return;
        }
        map.prune(MAX_VIEWS - 1);
        if map.views.len() >= MAX_VIEWS {
            return; // every view is of a run in flight
        }
        map.views.insert(
            record.run_id,
            View {
                record: Arc::new(record.clone()),
                events: Arc::new(
                    begun
                        .iter()
                        .cloned()
                        .zip(0..)
                        .map(|(e, i)| e.into_stored(i))
                        .collect(),
                ),
                bytes: begun.iter().map(|e| e.payload.len()).sum(),
                ended: None,
            },
        );
    }

    /// The store committed `w` at `at`: the run's view takes it (or is dropped when the write
    /// pauses the run, does not follow from the view, or grows the log past the limits). A
    /// write the caller owns (`Cow::Owned`: the store let go of it) gives up its events and
    /// its finish's output, the run's largest value, instead of having them copied.
    pub(crate) fn committed(&self, w: Cow<'_, RunWrite>, at: kern_store::Millis) {
        let (run_id, first_index) = (w.run_id, w.first_index);
        let mut map = self.lock();
        let Some(view) = map.views.get_mut(&run_id) else {
            return;
        };
        let bytes = view.bytes + w.events.iter().map(|e| e.payload.len()).sum::<usize>();
        let fits = view.events.len() + w.events.len() <= MAX_EVENTS && bytes <= MAX_BYTES;
        let pauses = w.finish.as_ref().is_some_and(|f| !f.status.is_terminal());
        let (w, output) = match w {
            Cow::Owned(mut w) => {
                let output = w.finish.as_mut().and_then(|f| f.output.take());
                (Cow::Owned(w), output)
            }
            borrowed => (borrowed, None),
        };
        let record = Arc::make_mut(&mut view.record);
        if pauses || !fits || !record.apply_write(&w, at) {
            map.views.remove(&run_id);
            return;
        }
        if output.is_some() {
            record.output = output;
        }
        view.bytes = bytes;
        let ends = w.finish.is_some();
        let log = Arc::make_mut(&mut view.events);
        match w {
            Cow::Owned(w) => {
                let events = w.events.into_iter().zip(first_index..);
                log.extend(events.map(|(e, i)| e.into_stored(i)));
            }
            // Payloads are shared, not copied.
            Cow::Borrowed(w) => {
                let events = w.events.iter().zip(first_index..);
                log.extend(events.map(|(e, i)| e.clone().into_stored(i)));
            }
        }
        if ends {
            let now = Instant::now();
            view.ended = Some(now);
            map.ended.push_back((now, run_id));
        }
    }

    /// The run's view, if this engine holds one.
    pub(crate) fn get(&self, run_id: RunId) -> Option<Found> {
        let mut map = self.lock();
        map.prune(MAX_VIEWS);
        let view = map.views.get(&run_id)?;
        let (record, events) = (view.record.clone(), view.events.clone());
        Some(match view.ended {
            None => Found::Running(record, events),
            Some(_) => Found::Ended(record, events),
        })
    }

    /// Something other than the run's log changed (or may have changed) the run: read it from
    /// the store from now on.
    pub(crate) fn forget(&self, run_id: RunId) {
        self.lock().views.remove(&run_id);
    }

    /// The run stopped executing here: its view stays only if its finish was committed
    /// through its log (a run handed back, lost or stopped by a failed write has no end there,
    /// and its row may change without this engine).
    pub(crate) fn close(&self, run_id: RunId) {
        let mut map = self.lock();
        if map.views.get(&run_id).is_some_and(|v| v.ended.is_none()) {
            map.views.remove(&run_id);
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
        views.open(&rec, &[]);
        views.committed(Cow::Borrowed(&write(&rec, 0, 2)), 10);
        let Some(Found::Running(r, events)) = views.get(rec.run_id) else {
            panic!("a running view");
        };
        assert_eq!((r.event_count, r.updated_at, events.len()), (2, 10, 2));
        assert_eq!(events[1].event_index, 1);
        // A write at the wrong index (another writer's) means the view is not current.
        views.committed(Cow::Borrowed(&write(&rec, 5, 1)), 11);
        assert!(views.get(rec.run_id).is_none());
    }

    #[test]
    fn resumed_runs_get_none_and_limits_drop_views() {
        let views = Views::default();
        let mut resumed = running();
        views.open(&resumed, &[]);
        assert_eq!(views.len(), 1);
        resumed.event_count = 3;
        resumed.attempt = 2;
        views.open(&resumed, &[]);
        assert_eq!(views.len(), 0, "the earlier attempt's view is dropped");
        let rec = running();
        views.open(&rec, &[]);
        views.committed(Cow::Borrowed(&write(&rec, 0, MAX_EVENTS + 1)), 1);
        assert!(views.get(rec.run_id).is_none());
    }

    fn finish(rec: &RunRecord, first: u64) -> RunWrite {
        let mut w = write(rec, first, 1);
        w.finish = Some(RunFinish {
            status: RunStatus::Completed,
            output: None,
            error: None,
            pause_expires_at: None,
            output_in_event: false,
        });
        w
    }

    #[test]
    fn an_owned_write_moves_into_the_view_as_a_borrowed_one_is_copied() {
        // The same writes, given owned to one view and borrowed to another: same views.
        let (owned, borrowed) = (Views::default(), Views::default());
        let rec = running();
        owned.open(&rec, &[]);
        borrowed.open(&rec, &[]);
        let mut last = finish(&rec, 2);
        last.finish.as_mut().unwrap().output = Some(serde_json::json!({"content": "done"}));
        for w in [write(&rec, 0, 2), last] {
            borrowed.committed(Cow::Borrowed(&w), 7);
            owned.committed(Cow::Owned(w), 7);
        }
        let (Some(Found::Ended(a, ae)), Some(Found::Ended(b, be))) =
            (owned.get(rec.run_id), borrowed.get(rec.run_id))
        else {
            panic!("two ended views");
        };
        assert_eq!((&a, &ae), (&b, &be));
        assert_eq!(a.output, Some(serde_json::json!({"content": "done"})));
        assert_eq!(ae.len(), 3);
    }

    #[test]
    fn an_ended_view_says_so_then_expires() {
        let views = Views::default();
        let rec = running();
        views.open(&rec, &[]);
        views.committed(Cow::Borrowed(&finish(&rec, 0)), 5);
        let Some(Found::Ended(r, events)) = views.get(rec.run_id) else {
            panic!("an ended view");
        };
        assert_eq!(
            (r.status, r.finished_at, events.len()),
            (RunStatus::Completed, Some(5), 1)
        );
        // Closing a run that ended keeps the view; a stop's forget does not.
        views.close(rec.run_id);
        assert_eq!(views.len(), 1);
        {
            let mut map = views.lock();
            let old = Instant::now() - ENDED_RETENTION;
            map.views.get_mut(&rec.run_id).unwrap().ended = Some(old);
            map.ended[0].0 = old;
        }
        assert!(views.get(rec.run_id).is_none());
        assert_eq!(views.len(), 0);
    }

    #[test]
    fn a_pause_drops_the_view() {
        let views = Views::default();
        let rec = running();
        views.open(&rec, &[]);
        let mut w = finish(&rec, 0);
        w.finish.as_mut().unwrap().status = RunStatus::Paused;
        views.committed(Cow::Borrowed(&w), 5);
        assert!(views.get(rec.run_id).is_none());
    }

    #[test]
    fn closing_a_run_that_did_not_end_forgets_it() {
        let views = Views::default();
        let rec = running();
        views.open(&rec, &[]);
        views.close(rec.run_id);
        assert!(views.get(rec.run_id).is_none());
    }

    #[test]
    fn a_new_run_takes_the_place_of_the_oldest_ended_one() {
        let views = Views::default();
        let mut ended = Vec::new();
        for _ in 0..MAX_VIEWS {
            let rec = running();
            views.open(&rec, &[]);
            views.committed(Cow::Borrowed(&finish(&rec, 0)), 1);
            ended.push(rec.run_id);
        }
        let new = running();
        views.open(&new, &[]);
        assert_eq!(views.len(), MAX_VIEWS);
        assert!(matches!(views.get(new.run_id), Some(Found::Running(..))));
        assert!(
            views.get(ended[0]).is_none(),
            "the oldest ended view made room"
        );
        assert!(matches!(views.get(ended[1]), Some(Found::Ended(..))));
    }
}
