//! [`RunContext`]: what a component sees of its run while it executes.

use super::log::{Extras, RunLog};
use crate::error::EngineResult;
use crate::event::EventKind;
use crate::session_state::SessionState;
use kern_store::{RunId, RunRecord};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The handle a running component uses to emit events, checkpoint progress and notice
/// cancellation. Cheap to clone.
///
/// # Units of work
/// A component that can be interrupted (a crash, a graceful stop) and resumed redoes the work
/// that was in flight: the workflow step that was running, the model turn that was streaming,
/// the tool calls that had not returned. Events emitted through [`scoped`](Self::scoped)
/// contexts say which unit they belong to, named by the checkpoint key that marks the unit
/// done. When the run resumes, the engine voids the events of every unit whose checkpoint was
/// never written (it runs again, and emits them again), in one `RunRestarted` event, so that a
/// client joining the streamed output gets the final content, never a doubled one (design
/// invariant 10). Events emitted outside any unit are never voided: emit them only once per
/// run (guarded by a checkpoint), or inside a unit.
#[derive(Clone)]
pub struct RunContext {
    inner: Arc<Inner>,
    /// The unit of work this handle's events belong to.
    scope: Option<Arc<str>>,
}

/// The unit of a run's last moments: what a component emits after its last checkpoint and
/// before the engine writes the terminal event (an agent's `RunContentCompleted`). It has no
/// checkpoint, so if the run is interrupted there, those events are voided when it resumes.
pub const FINAL_SCOPE: &str = "final";

struct Inner {
    record: RunRecord,
    /// An earlier execution of the run left events (see [`RunContext::is_resumed`]).
    resumed: bool,
    log: Arc<RunLog>,
    checkpoints: HashMap<String, Value>,
    session_state: SessionState,
    cancel: CancellationToken,
    engine: super::Engine,
    /// The session-state version last written with a checkpoint.
    saved_state: std::sync::atomic::AtomicU64,
    /// Serialises updates of the voided ranges (parallel steps may retry at once).
    voiding: tokio::sync::Mutex<()>,
}

impl RunContext {
    pub(crate) fn new(
        engine: super::Engine,
        record: RunRecord,
        log: Arc<RunLog>,
        checkpoints: HashMap<String, Value>,
        session_state: SessionState,
        cancel: CancellationToken,
        resumed: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                record,
                resumed,
                log,
                checkpoints,
                session_state,
                cancel,
                engine,
                saved_state: std::sync::atomic::AtomicU64::new(0),
                voiding: tokio::sync::Mutex::new(()),
            }),
            scope: None,
        }
    }

    /// A handle whose events belong to the unit of work `key`: the checkpoint key written when
    /// the unit is done (`step:<path>`, `tool:<round>:<i>`, …). If the run is interrupted
    /// before a checkpoint named `key` is written, the unit's events are voided when the run
    /// resumes (see [Units of work](Self#units-of-work)). Child runs started through the
    /// handle belong to the unit too, as do the copies of their events in this run's log.
    pub fn scoped(&self, key: impl Into<Arc<str>>) -> RunContext {
        RunContext {
            inner: self.inner.clone(),
            scope: Some(key.into()),
        }
    }

    /// The unit of work this handle's events belong to, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    pub(crate) fn scope_key(&self) -> Option<&Arc<str>> {
        self.scope.as_ref()
    }

    /// The run as it was when this executor claimed it.
    pub fn record(&self) -> &RunRecord {
        &self.inner.record
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.inner.record.run_id
    }

    /// The run's session.
    pub fn session_id(&self) -> &str {
        &self.inner.record.session_id
    }

    /// The run's input: the `input` field of the stored input document.
    pub fn input(&self) -> &Value {
        self.inner.record.input.get("input").unwrap_or(&Value::Null)
    }

    /// A field of the stored input document other than `input` (`additional_data`, …).
    pub fn input_field(&self, key: &str) -> Option<&Value> {
        self.inner.record.input.get(key).filter(|v| !v.is_null())
    }

    /// Seconds since the run first started (across recoveries), for metrics.
    pub fn elapsed_secs(&self) -> f64 {
        let record = &self.inner.record;
        let started = record.started_at.unwrap_or(record.created_at);
        (kern_store::now_millis() - started).max(0) as f64 / 1000.0
    }

    /// True when this execution continues a run that an earlier owner had started (its log
    /// already has events): completed work is in the checkpoints.
    pub fn is_resumed(&self) -> bool {
        self.inner.resumed
    }

    /// A checkpoint written by an earlier owner of this run (or earlier in this execution, if
    /// it was loaded before); `None` if absent.
    pub fn checkpoint(&self, key: &str) -> Option<&Value> {
        self.inner.checkpoints.get(key)
    }

    /// The run's shared session state.
    pub fn session_state(&self) -> &SessionState {
        &self.inner.session_state
    }

    /// Cancelled when the run must stop (cancel request, timeout, lost lease, shutdown).
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// The engine running this run (to start child runs).
    pub fn engine(&self) -> &super::Engine {
        &self.inner.engine
    }

    /// Runs `component` as a child run of this one (a team's member, a workflow's agent step):
    /// inline, with its own run record (`parent_run_id` = this run) and log, its events copied
    /// into this run's log, sharing this run's session and session state. Cancelling this run
    /// cancels the child. Returns the child's finished record.
    pub async fn run_child(
        &self,
        component: Arc<dyn super::Component>,
        req: super::RunRequest,
    ) -> EngineResult<RunRecord> {
        super::executor::run_child(self, component, req).await
    }

    /// Cancels this run from inside (a person rejected a step whose rejection cancels it):
    /// recorded like any cancel, then this run's future is dropped with `reason` on its
    /// record. The caller awaits nothing after this.
    pub(crate) async fn cancel_self(&self, reason: String) {
        let engine = &self.inner.engine;
        let reason = super::executor::StopReason::Cancelled(Some(reason));
        // The reason first: once the request is committed, the cancel poll (or a heartbeat)
        // may see it and stop this run before the line below does, and it knows no reason.
        super::executor::stop_reason(&engine.inner, self.run_id(), reason.clone());
        if let Err(e) = engine.store().request_cancel(self.run_id()).await {
            tracing::warn!(run_id = %self.run_id(), error = %e, "recording a cancel failed");
        }
        super::executor::stop_local(&engine.inner, self.run_id(), reason);
    }

    pub(crate) fn log(&self) -> &Arc<RunLog> {
        &self.inner.log
    }

    /// Appends an event without waiting: it is written in the next batch and reaches
    /// subscribers once durable. Order is kept with every other emit of this run.
    pub fn emit(&self, kind: EventKind) {
        self.inner.log.push_and_schedule(&kind, self.scope.as_ref());
    }

    /// Appends events and waits until they (and everything emitted before) are durable.
    pub async fn emit_durable(&self, kinds: &[EventKind]) -> EngineResult<()> {
        self.inner
            .log
            .push(kinds, self.scope.as_ref(), Extras::default());
        self.inner.log.flush().await
    }

    /// Appends events together with checkpoint values (and the session state, if it changed
    /// since the last checkpoint), atomically, and waits until durable. A recovered run finds the values with
    /// [`checkpoint`](Self::checkpoint).
    pub async fn checkpoint_with(
        &self,
        kinds: &[EventKind],
        checkpoints: Vec<(String, Value)>,
    ) -> EngineResult<()> {
        self.push_checkpoint(kinds, checkpoints);
        self.inner.log.flush().await
    }

    /// Like [`checkpoint_with`](Self::checkpoint_with) (events and checkpoint values in one
    /// atomic write) without waiting for the write: it goes out with the log's next one,
    /// within a few milliseconds, with anything awaited sooner (the run's end, say), or at the
    /// latest when [`settle`](Self::settle) is called, which a workflow does before it runs
    /// any more user code. So a fast workflow's steps share writes, and a step that completed
    /// is never run again once later user code began (a crash before the write runs it again,
    /// as at-least-once allows, but only then). Nothing is visible before it is durable, and
    /// the values land with the events that announce them. Fails once the log can no longer
    /// write (the run is being stopped).
    pub fn checkpoint_soon(
        &self,
        kinds: &[EventKind],
        checkpoints: Vec<(String, Value)>,
    ) -> EngineResult<()> {
        self.checkpoint_json_soon(kinds, as_json(checkpoints))
    }

    /// [`checkpoint_soon`](Self::checkpoint_soon) with values already serialized: a step's
    /// result goes to the store as its text, without a [`Value`] built in between.
    pub(crate) fn checkpoint_json_soon(
        &self,
        kinds: &[EventKind],
        checkpoints: Vec<(String, Box<RawValue>)>,
    ) -> EngineResult<()> {
        let extras = self.checkpoint_extras(checkpoints);
        if self
            .inner
            .log
            .push_unsettled(kinds, self.scope.as_ref(), extras)
        {
            Ok(())
        } else {
            Err(crate::EngineError::LostOwnership(self.run_id()))
        }
    }

    /// Waits until every [`checkpoint_soon`](Self::checkpoint_soon) so far is durable; at once
    /// when there is none.
    pub async fn settle(&self) -> EngineResult<()> {
        self.inner.log.settle().await
    }

    /// Queues events with checkpoint values and the session state if it changed since the
    /// last checkpoint; false if the log is closed.
    fn push_checkpoint(&self, kinds: &[EventKind], checkpoints: Vec<(String, Value)>) -> bool {
        let extras = self.checkpoint_extras(as_json(checkpoints));
        self.inner.log.push(kinds, self.scope.as_ref(), extras)
    }

    /// Checkpoint values with the session state, if it changed since the last checkpoint.
    fn checkpoint_extras(&self, checkpoints: Vec<(String, Box<RawValue>)>) -> Extras {
        use std::sync::atomic::Ordering;
        let saved = self.inner.saved_state.load(Ordering::Acquire);
        let (session_state, version) = self.inner.session_state.snapshot_if_changed(saved);
        self.inner.saved_state.fetch_max(version, Ordering::AcqRel);
        Extras {
            checkpoints,
            session_state,
            finish: None,
        }
    }

    /// How many events this run's log holds once everything emitted so far is durable: the
    /// index the next event gets, at the earliest. Marks where a unit's retried work starts
    /// (see [`void_unit_since`](Self::void_unit_since)).
    pub(crate) async fn durable_len(&self) -> EngineResult<u64> {
        self.inner.log.flush().await?;
        let record = self
            .inner
            .engine
            .store()
            .get_run(self.run_id())
            .await?
            .ok_or(crate::EngineError::RunNotFound(self.run_id()))?;
        Ok(record.event_count)
    }

    /// Voids what this handle's unit emitted from index `from` on (a step's failed try, before
    /// the step is tried again), by appending `event(voided ranges)`, outside any unit, with the
    /// ranges added to those a restart must not void again (`restart::VOIDED_KEY`), atomically.
    /// Returns the ranges (empty when the try emitted nothing).
    pub(crate) async fn void_unit_since(
        &self,
        from: u64,
        event: impl FnOnce(Vec<[u64; 2]>) -> EventKind,
    ) -> EngineResult<Vec<[u64; 2]>> {
        use super::restart::{merge, ranges, VOIDED_KEY};
        let Some(scope) = self.scope.clone() else {
            return Ok(Vec::new());
        };
        let _one_at_a_time = self.inner.voiding.lock().await;
        self.inner.log.flush().await?;
        let store = self.inner.engine.store();
        let run_id = self.run_id();
        let before: Vec<[u64; 2]> = store
            .load_checkpoints(run_id)
            .await?
            .into_iter()
            .find(|(k, _)| k == VOIDED_KEY)
            .and_then(|(_, v)| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let voided_before = |i: u64| before.iter().any(|[a, b]| (*a..=*b).contains(&i));
        let voided = ranges(
            store
                .load_scopes(run_id)
                .await?
                .into_iter()
                .filter(|(i, s)| *i >= from && s.as_str() == &*scope && !voided_before(*i))
                .map(|(i, _)| i),
        );
        let mut all = before.clone();
        all.extend(voided.iter().copied());
        all.sort_unstable();
        let extras = Extras {
            checkpoints: vec![(
                VOIDED_KEY.to_owned(),
                kern_store::checkpoint_json(&serde_json::json!(merge(all))),
            )],
            ..Extras::default()
        };
        self.inner.log.push(&[event(voided.clone())], None, extras);
        self.inner.log.flush().await?;
        Ok(voided)
    }
}

/// Checkpoint values as the text the store keeps.
fn as_json(checkpoints: Vec<(String, Value)>) -> Vec<(String, Box<RawValue>)> {
    checkpoints
        .into_iter()
        .map(|(key, value)| (key, kern_store::checkpoint_json(&value)))
        .collect()
}
