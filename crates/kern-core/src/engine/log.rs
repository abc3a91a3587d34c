//! A run's event log writer: assigns indices, batches, writes durably, then publishes.
//!
//! Invariant 1 (durable before visible) lives here: events reach the [`Bus`] only after the
//! store has committed them. Indices are assigned in one place under a lock, so they are
//! gapless; the store's fence (`first_index == event_count`, same `attempt`) rejects anything
//! else, so a stale owner can never interleave.
//!
//! Two ways to emit:
//! - [`RunLog::push`] + background flush (token deltas, progress): the caller goes on at once;
//!   events queued while a write is in flight go out together in the next one.
//! - [`RunLog::flush`] after pushing (step completions, checkpoints, the terminal event): the
//!   caller waits until everything it pushed is durable.

use super::bus::Bus;
use super::metrics::EngineMetrics;
use super::views::Views;
use crate::error::{EngineError, EngineResult};
use crate::event::{to_payload, EventKind, EventSource};
use kern_store::{now_millis, NewEvent, RunFinish, RunId, RunWrite, Store, StoreError};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a background flush waits for more events before writing. Short enough to be
/// invisible to a watcher, long enough to merge a fast step's start with its completion and a
/// burst of token deltas into one write.
const FLUSH_LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// Called once when the log can no longer write for the run (fenced or the store is down).
pub(crate) type OnLost = Box<dyn Fn() + Send + Sync>;

pub(crate) struct RunLog {
    store: Arc<dyn Store>,
    bus: Arc<Bus>,
    views: Arc<Views>,
    run_id: RunId,
    attempt: u32,
    session_id: String,
    source: EventSource,
    write_retry_budget: Duration,
    state: Mutex<LogState>,
    flush_lock: tokio::sync::Mutex<()>,
    on_lost: OnLost,
    /// A parent run's log that receives a copy of every event (child runs), and the unit of
    /// the parent's work the copies belong to (the step or tool call that started the child).
    mirror: Option<Mirror>,
    /// Where each write's size and latency are counted.
    metrics: Arc<EngineMetrics>,
}

/// Where a child run's log copies its events.
pub(crate) struct Mirror {
    pub log: Arc<RunLog>,
    pub scope: Option<Arc<str>>,
}

#[derive(Default)]
struct LogState {
    next_index: u64,
    pending: Vec<NewEvent>,
    checkpoints: Vec<(String, Box<RawValue>)>,
    session_state: Option<Value>,
    finish: Option<RunFinish>,
    flush_scheduled: bool,
    /// Checkpoints were queued without waiting for their write (`RunContext::checkpoint_soon`)
    /// and [`RunLog::settle`] has not waited for it since.
    unsettled: bool,
    /// No more pushes: the terminal event is queued, or writing failed.
    closed: bool,
    failed: bool,
}

/// Whose events are being queued: the run whose log holds them first (a child's, when copied
/// into its parent's log).
struct Origin<'a> {
    source: &'a EventSource,
    run_id: RunId,
    session_id: &'a str,
}

/// What to write together with events (all optional).
#[derive(Default)]
pub(crate) struct Extras {
    pub checkpoints: Vec<(String, Box<RawValue>)>,
    pub session_state: Option<Value>,
    pub finish: Option<RunFinish>,
}

/// What a run's log writer is made of: where it writes, whose events, and what it does when
/// writing fails (one named field per part rather than a long positional list).
pub(crate) struct RunLogParts {
    pub store: Arc<dyn Store>,
    pub bus: Arc<Bus>,
    /// The engine's views, told of every committed write.
    pub views: Arc<Views>,
    pub run_id: RunId,
    pub attempt: u32,
    pub session_id: String,
    pub source: EventSource,
    /// The index the next event gets (the run's stored event count).
    pub next_index: u64,
    /// How long a failing write is retried before the run counts as lost.
    pub write_retry_budget: Duration,
    pub on_lost: OnLost,
    pub mirror: Option<Mirror>,
    pub metrics: Arc<EngineMetrics>,
}

impl RunLog {
    pub(crate) fn new(parts: RunLogParts) -> Self {
        let RunLogParts {
            store,
            bus,
            views,
            run_id,
            attempt,
            session_id,
            source,
            next_index,
            write_retry_budget,
            on_lost,
            mirror,
            metrics,
        } = parts;
        Self {
            store,
            bus,
            views,
            run_id,
            attempt,
            session_id,
            source,
            write_retry_budget,
            state: Mutex::new(LogState {
                next_index,
                ..Default::default()
            }),
            flush_lock: tokio::sync::Mutex::new(()),
            on_lost,
            mirror,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues events (belonging to the unit `scope`, if any) and extras; returns false
    /// (queuing nothing) once the log is closed.
    pub(crate) fn push(
        &self,
        kinds: &[EventKind],
        scope: Option<&Arc<str>>,
        extras: Extras,
    ) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        let origin = Origin {
            source: &self.source,
            run_id: self.run_id,
            session_id: &self.session_id,
        };
        Self::queue(&mut st, kinds, &origin, scope);
        if let Some(parent) = &self.mirror {
            parent
                .log
                .push_foreign(kinds, &origin, parent.scope.as_ref());
        }
        st.checkpoints.extend(extras.checkpoints);
        if extras.session_state.is_some() {
            st.session_state = extras.session_state;
        }
        if extras.finish.is_some() {
            st.finish = extras.finish;
            st.closed = true;
        }
        true
    }

    fn queue(st: &mut LogState, kinds: &[EventKind], origin: &Origin, scope: Option<&Arc<str>>) {
        for kind in kinds {
            let index = st.next_index;
            st.next_index += 1;
            let now = now_millis();
            let payload = to_payload(
                kind,
                origin.source,
                origin.run_id,
                origin.session_id,
                index,
                now,
            );
            st.pending.push(NewEvent {
                event_type: kind.name().to_owned(),
                payload: payload.into(),
                created_at: now,
                scope: scope.cloned(),
            });
        }
    }

    /// Queues copies of a child run's events (keeping the child's `run_id` and source, taking
    /// this log's indices, belonging to this log's unit `scope`) and schedules their write.
    fn push_foreign(
        self: &Arc<Self>,
        kinds: &[EventKind],
        origin: &Origin,
        scope: Option<&Arc<str>>,
    ) {
        {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            Self::queue(&mut st, kinds, origin, scope);
        }
        if let Some(grandparent) = &self.mirror {
            grandparent
                .log
                .push_foreign(kinds, origin, grandparent.scope.as_ref());
        }
        self.schedule_flush();
    }

    /// Queues an event and makes sure a background flush will write it.
    pub(crate) fn push_and_schedule(self: &Arc<Self>, kind: &EventKind, scope: Option<&Arc<str>>) {
        if self.push(std::slice::from_ref(kind), scope, Extras::default()) {
            self.schedule_flush();
        }
    }

    /// Makes sure a background flush will write what is queued.
    pub(crate) fn schedule_flush(self: &Arc<Self>) {
        let mut st = self.lock();
        if st.flush_scheduled {
            return;
        }
        st.flush_scheduled = true;
        drop(st);
        let log = self.clone();
        tokio::spawn(async move {
            // Linger a moment first: events emitted right after (the rest of a token burst, a
            // fast step's completion) go out in the same write.
            tokio::time::sleep(FLUSH_LINGER).await;
            loop {
                let ok = log.flush().await.is_ok();
                let mut st = log.lock();
                if !ok || st.pending.is_empty() {
                    st.flush_scheduled = false;
                    return;
                }
            }
        });
    }

    /// Queues events with checkpoints whose write is not awaited now: the next
    /// [`settle`](Self::settle) waits for it. False (queuing nothing) once the log is closed.
    pub(crate) fn push_unsettled(
        self: &Arc<Self>,
        kinds: &[EventKind],
        scope: Option<&Arc<str>>,
        extras: Extras,
    ) -> bool {
        if !self.push(kinds, scope, extras) {
            return false;
        }
        self.lock().unsettled = true;
        self.schedule_flush();
        true
    }

    /// Waits until every checkpoint queued by [`push_unsettled`](Self::push_unsettled) is
    /// durable (a write of its own only if none is on its way); at once if there is none.
    /// Called before user code runs, so that work done before it is never redone after it.
    pub(crate) async fn settle(&self) -> EngineResult<()> {
        if !std::mem::take(&mut self.lock().unsettled) {
            return Ok(());
        }
        // The flush lock waits for a write in flight; whatever is still queued goes now.
        // Boxed: a workflow step awaits this, and a parked run's future should not carry a
        // write's state for the rare moment it needs one.
        Box::pin(self.flush()).await
    }

    /// Writes everything queued so far and waits until it is durable.
    pub(crate) async fn flush(&self) -> EngineResult<()> {
        let _guard = self.flush_lock.lock().await;
        let write = {
            let mut st = self.lock();
            if st.failed {
                return Err(EngineError::LostOwnership(self.run_id));
            }
            if st.pending.is_empty()
                && st.checkpoints.is_empty()
                && st.session_state.is_none()
                && st.finish.is_none()
            {
                return Ok(());
            }
            let events = std::mem::take(&mut st.pending);
            RunWrite {
                run_id: self.run_id,
                attempt: self.attempt,
                first_index: st.next_index - events.len() as u64,
                events,
                checkpoints: std::mem::take(&mut st.checkpoints),
                session_state: st.session_state.take(),
                finish: st.finish.take(),
            }
        };
        let first_index = write.first_index;
        // Cheap: payloads are shared, not copied.
        let published = write.events.clone();
        let began = std::time::Instant::now();
        let write = Arc::new(write);
        match self.write_with_retry(Arc::clone(&write)).await {
            Ok(at) => {
                // Once the store let go of the write (it drops its share before answering),
                // the view takes its events and output instead of copies.
                match Arc::try_unwrap(write) {
                    Ok(owned) => self.views.committed(Cow::Owned(owned), at),
                    Err(shared) => self.views.committed(Cow::Borrowed(&shared), at),
                }
                self.metrics.event_write(published.len(), began.elapsed());
                self.bus.publish(self.run_id, first_index, published);
                Ok(())
            }
            Err(e) => {
                self.metrics.event_write_failed();
                {
                    let mut st = self.lock();
                    st.failed = true;
                    st.closed = true;
                }
                (self.on_lost)();
                Err(e)
            }
        }
    }

    /// Writes until the store commits (returning the write's time) or the budget is spent.
    async fn write_with_retry(&self, write: Arc<RunWrite>) -> EngineResult<kern_store::Millis> {
        let deadline = tokio::time::Instant::now() + self.write_retry_budget;
        let mut backoff = Duration::from_millis(20);
        loop {
            match self.store.write(Arc::clone(&write)).await {
                Ok(at) => return Ok(at),
                Err(StoreError::Fenced { .. }) => {
                    tracing::warn!(run_id = %self.run_id, attempt = self.attempt,
                        "write fenced: another executor owns this run now; stopping it here");
                    return Err(EngineError::LostOwnership(self.run_id));
                }
                Err(e) if tokio::time::Instant::now() + backoff < deadline => {
                    tracing::warn!(run_id = %self.run_id, error = %e, "event write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(run_id = %self.run_id, error = %e,
                        "event write failed for good; leaving the run to lease-expiry recovery");
                    return Err(e.into());
                }
            }
        }
    }
}
