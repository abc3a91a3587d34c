//! The executor: claims runs, keeps their leases, delivers cancels, drives each run to its
//! terminal status.
//!
//! Invariants 3–5 live here. Background loops hold only a weak reference to the engine, so an
//! engine that is dropped stops its loops.

use super::context::RunContext;
use super::log::{Extras, Mirror, RunLog, RunLogParts};
use super::restart::{self, Restart, VOIDED_KEY};
use super::{Component, ComponentOutput, Engine, EngineInner};
use crate::event::{to_payload, EventKind, EventSource};
use crate::session_state::SessionState;
use futures::FutureExt;
use kern_store::{
    now_millis, ClaimRequest, NewEvent, NewRun, Notification, RunFinish, RunId, RunRecord,
    RunStatus, StartingRun,
};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The most runs one claim takes. Small claims, repeated at once while more are pending, keep
/// a burst of newly started runs from crowding out everything else on the runtime (client
/// tasks starting runs, streams being served).
const CLAIM_BATCH: usize = 32;

/// Why a local run is being stopped before it finished by itself.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StopReason {
    /// Someone cancelled it: finish it `cancelled`.
    Cancelled(Option<String>),
    /// Another executor owns it now (or the store is unreachable): stop without writing.
    Lost,
    /// The engine is shutting down: stop and hand the run back to the queue.
    Shutdown,
}

/// A run this process is executing.
pub(crate) struct LocalRun {
    attempt: u32,
    token: CancellationToken,
    stop: Arc<Mutex<Option<StopReason>>>,
}

/// How a run ended.
enum Outcome {
    Completed(Box<ComponentOutput>),
    Failed(String),
    Cancelled(Option<String>),
}

fn is_local(inner: &EngineInner, run_id: RunId) -> bool {
    inner
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&run_id)
}

/// Stops a local run (idempotent; the first reason wins).
pub(crate) fn stop_local(inner: &EngineInner, run_id: RunId, reason: StopReason) {
    // Whatever the reason, the run's row changes (or changed) other than through its log.
    inner.views.forget(run_id);
    set_stop(inner, run_id, reason, true);
}

/// Gives a local run the reason it will stop for, without stopping it yet: for a stop whose
/// cause is recorded in the store first (a run cancelling itself), so that whoever sees the
/// recorded cause first (the cancel poll, a heartbeat, a notification, which know no reason)
/// stops it with this reason. The first reason set wins, as in [`stop_local`].
pub(crate) fn stop_reason(inner: &EngineInner, run_id: RunId, reason: StopReason) {
    set_stop(inner, run_id, reason, false);
}

/// Sets a local run's stop reason unless it has one, and cancels it if `cancel`.
fn set_stop(inner: &EngineInner, run_id: RunId, reason: StopReason, cancel: bool) {
    let local = inner.local.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(run) = local.get(&run_id) {
        let mut stop = run.stop.lock().unwrap_or_else(|e| e.into_inner());
        if stop.is_none() {
            *stop = Some(reason);
        }
        if cancel {
            run.token.cancel();
        }
    }
}

/// A stored event appended to a run no executor holds (cancelled while pending or paused, a
/// paused run continued), at the end of its log.
pub(crate) fn event_for_queued_run(engine: &Engine, run: &RunRecord, kind: EventKind) -> NewEvent {
    let name = engine
        .component(run.kind, &run.component_id)
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|_| run.component_id.clone());
    let source = EventSource {
        kind: run.kind,
        id: run.component_id.clone(),
        name,
    };
    stored_event(&kind, &source, run.run_id, &run.session_id, run.event_count)
}

/// The event a foreground run begins with, as its creation writes it (index 0; see
/// [`Component::start_event`]).
pub(crate) fn start_event_of(component: &dyn Component, run: &NewRun) -> Option<NewEvent> {
    let kind = component.start_event()?;
    let source = EventSource {
        kind: component.kind(),
        id: component.id().to_owned(),
        name: component.name().to_owned(),
    };
    Some(stored_event(&kind, &source, run.run_id, &run.session_id, 0))
}

/// An event as the store takes it, made now, at `index` of the run's log.
fn stored_event(
    kind: &EventKind,
    source: &EventSource,
    run_id: RunId,
    session_id: &str,
    index: u64,
) -> NewEvent {
    let now = now_millis();
    NewEvent {
        event_type: kind.name().to_owned(),
        payload: to_payload(kind, source, run_id, session_id, index, now).into(),
        created_at: now,
        scope: None,
    }
}

/// Registers a run as executing here (synchronously, so a cancel arriving right after is not
/// lost). Returns its cancel token and stop-reason cell.
fn register_local(
    engine: &Engine,
    record: &RunRecord,
    token: CancellationToken,
) -> (CancellationToken, Arc<Mutex<Option<StopReason>>>) {
    let stop = Arc::new(Mutex::new(None));
    engine
        .inner
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            record.run_id,
            LocalRun {
                attempt: record.attempt,
                token: token.clone(),
                stop: stop.clone(),
            },
        );
    (token, stop)
}

fn unregister_local(engine: &Engine, run_id: RunId) {
    engine.inner.views.close(run_id);
    engine
        .inner
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&run_id);
    engine.inner.idle.notify_waiters();
}

/// The log writer of a run; `mirror` also copies every event into a parent run's log.
/// `begun`: the events its creation wrote (all of its log).
fn make_log(
    engine: &Engine,
    component: &dyn Component,
    record: &RunRecord,
    begun: &[NewEvent],
    token: &CancellationToken,
    stop: &Arc<Mutex<Option<StopReason>>>,
    mirror: Option<Mirror>,
) -> Arc<RunLog> {
    let on_lost = {
        let (token, stop) = (token.clone(), stop.clone());
        Box::new(move || {
            let mut s = stop.lock().unwrap_or_else(|e| e.into_inner());
            if s.is_none() {
                *s = Some(StopReason::Lost);
            }
            token.cancel();
        })
    };
    engine.inner.views.open(record, begun);
    Arc::new(RunLog::new(RunLogParts {
        store: engine.inner.store.clone(),
        bus: engine.inner.bus.clone(),
        views: engine.inner.views.clone(),
        run_id: record.run_id,
        attempt: record.attempt,
        session_id: record.session_id.clone(),
        source: EventSource {
            kind: component.kind(),
            id: component.id().to_owned(),
            name: component.name().to_owned(),
        },
        next_index: record.event_count,
        write_retry_budget: engine.inner.config.lease / 2,
        on_lost,
        mirror,
        metrics: engine.inner.metrics.clone(),
    }))
}

/// Registers the run as local and spawns its driver. `begun`: the events the run's creation
/// wrote (its start event, see [`Component::start_event`]); empty for a claimed run.
pub(crate) fn spawn_drive(
    engine: Engine,
    component: Arc<dyn Component>,
    run: StartingRun,
    begun: Vec<NewEvent>,
    permit: Option<OwnedSemaphorePermit>,
) -> tokio::task::JoinHandle<()> {
    let StartingRun {
        record,
        session_state,
    } = run;
    let (token, stop) = register_local(&engine, &record, CancellationToken::new());
    let log = make_log(&engine, &*component, &record, &begun, &token, &stop, None);
    let run_id = record.run_id;
    // Boxed before the task starts: a future keeps a copy of what it captures next to what it
    // moves it into, and this one lives as long as the run (see `Driven`).
    let run = Box::new(Driven {
        record,
        token,
        stop,
        log,
        begun: !begun.is_empty(),
        shared_state: None,
        stored_state: session_state,
    });
    tokio::spawn(async move {
        let claimed = permit.is_some();
        drive(&engine, component, run).await;
        unregister_local(&engine, run_id);
        drop(permit);
        if claimed && engine.inner.starved.swap(false, Ordering::AcqRel) {
            engine.inner.wake_claimer.notify_one();
        }
    })
}

/// Runs `component` as a child of the run behind `parent`, inline in the parent's task: a
/// run record of its own (`parent_run_id` set, owned by this executor), its own log, and
/// every event mirrored into the parent's log. Cancelling the parent cancels the child; if the
/// parent's future is dropped mid-child, the child is still finished as `cancelled`.
pub(crate) async fn run_child(
    parent: &RunContext,
    component: Arc<dyn Component>,
    mut req: super::RunRequest,
) -> crate::EngineResult<RunRecord> {
    let engine = parent.engine().clone();
    req.parent_run_id = Some(parent.run_id());
    if req.session_id.is_none() {
        req.session_id = Some(parent.session_id().to_owned());
    }
    if req.user_id.is_none() {
        req.user_id = parent.record().user_id.clone();
    }
    let new = engine.new_run(&*component, &req, false)?;
    let record = engine.inner.store.create_run(new).await?;
    let (token, stop) = register_local(&engine, &record, parent.cancellation_token().child_token());
    let log = make_log(
        &engine,
        &*component,
        &record,
        &[],
        &token,
        &stop,
        Some(Mirror {
            log: parent.log().clone(),
            scope: parent.scope_key().cloned(),
        }),
    );
    let mut guard = ChildGuard {
        engine: engine.clone(),
        run_id: record.run_id,
        kind: component.kind(),
        log: log.clone(),
        armed: true,
    };
    let run = Box::new(Driven {
        record: record.clone(),
        token,
        stop,
        log,
        begun: false,
        shared_state: Some(parent.session_state().clone()),
        stored_state: None,
    });
    drive(&engine, component, run).await;
    guard.armed = false;
    unregister_local(&engine, record.run_id);
    engine
        .get_run(record.run_id)
        .await?
        .ok_or(crate::EngineError::RunNotFound(record.run_id))
}

/// Finishes a child run as cancelled when its parent's future is dropped before it ended.
struct ChildGuard {
    engine: Engine,
    run_id: RunId,
    kind: kern_store::ComponentKind,
    log: Arc<RunLog>,
    armed: bool,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (engine, run_id, kind, log) = (
            self.engine.clone(),
            self.run_id,
            self.kind,
            self.log.clone(),
        );
        // Drop cannot await; the finish is written from a task.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let reason = Some("its parent run stopped".to_owned());
                finish(&log, kind, Outcome::Cancelled(reason), false, None).await;
                unregister_local(&engine, run_id);
            });
        }
    }
}

/// A run about to be driven, with what the driver needs. Passed boxed: an async fn's future
/// holds its arguments and, once it moves them, the locals they went to, and the driver's
/// futures (one inside the other) live as long as the run; a 360-byte argument cost about
/// 1.7 KB of every run in flight.
struct Driven {
    record: RunRecord,
    token: CancellationToken,
    stop: Arc<Mutex<Option<StopReason>>>,
    log: Arc<RunLog>,
    /// Its start event was written with its creation (a foreground run's, see
    /// [`Component::start_event`]): the log's one event is not a sign of a resumed run.
    begun: bool,
    /// A child run shares its parent's session state (and the parent saves it).
    shared_state: Option<SessionState>,
    /// The session's stored state as the claim or create of the run found it
    /// ([`StartingRun`]): what a top-level run starts from unless its checkpoints hold a
    /// newer one.
    stored_state: Option<Value>,
}

/// How one execution of a run ended, for the metrics and the log.
enum Ended {
    /// Its status was written: terminal, or paused.
    Finished(RunStatus, Option<String>),
    /// Handed back to the queue (graceful stop).
    HandedBack,
    /// Stopped without writing: another executor owns it now, or the store is unreachable.
    Lost,
}

/// Drives one execution of a run: counted in the engine's metrics and logged (start, a
/// recovery, finish with status and duration, hand-back) at `info`, inside a `run` span.
async fn drive(engine: &Engine, component: Arc<dyn Component>, run: Box<Driven>) {
    let metrics = &engine.inner.metrics;
    let record = &run.record;
    let (run_id, kind, id) = (record.run_id, component.kind(), component.id().to_owned());
    let counters = metrics.component(kind, &id);
    let recoveries = record.attempt.saturating_sub(1 + record.releases);
    let recovered = recoveries > 0;
    // Queue wait: a top-level run's first execution, from its creation.
    let start_latency = (record.attempt == 1 && record.parent_run_id.is_none()).then(|| {
        Duration::from_millis(now_millis().saturating_sub(record.created_at).max(0) as u64)
    });
    let parent = record.parent_run_id.map(|p| p.to_string());
    let attempt = record.attempt;
    if recovered {
        tracing::info!(%run_id, %kind, component = %id, attempt, recoveries,
            "run recovered: claimed after its previous executor stopped without handing it back");
    }
    tracing::info!(%run_id, %kind, component = %id, attempt, parent_run_id = parent.as_deref(),
        background = record.background, "run started");
    let span = tracing::info_span!("run", %run_id, %kind, component = %id, attempt);
    let began = std::time::Instant::now();
    let in_flight = metrics.run_started(&counters, start_latency, recovered);
    let ended = drive_run(engine, component, run).instrument(span).await;
    let elapsed = began.elapsed();
    drop(in_flight);
    let duration_ms = elapsed.as_millis() as u64;
    match ended {
        Ended::Finished(status, error) => {
            metrics.run_finished(&counters, status, elapsed);
            let error = error.map(|e| truncate_for_log(&e));
            tracing::info!(%run_id, %kind, component = %id, attempt, status = status.as_str(),
                duration_ms, error = error.as_deref(), "run finished");
        }
        Ended::HandedBack => {
            metrics.run_handed_back();
            tracing::info!(%run_id, %kind, component = %id, attempt, duration_ms,
                "run handed back to the queue");
        }
        Ended::Lost => {
            metrics.run_lost();
            tracing::info!(%run_id, %kind, component = %id, attempt, duration_ms,
                "run stopped here without finishing: another executor owns it now, or its log could not be written");
        }
    }
}

/// A run's error message, cut to a log line's size.
fn truncate_for_log(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

async fn drive_run(engine: &Engine, component: Arc<dyn Component>, run: Box<Driven>) -> Ended {
    let Driven {
        record,
        token,
        stop,
        log,
        begun,
        shared_state,
        stored_state,
    } = *run;
    // An earlier execution left events: it resumes from checkpoints.
    let resumed = record.event_count > u64::from(begun);
    let inner = &engine.inner;
    let config = &inner.config;
    let is_child = shared_state.is_some();

    let recoveries = record.attempt.saturating_sub(1 + record.releases);
    // Only a run that got to execute has session state to save; early exits (and child runs,
    // whose parent saves it) leave the session's stored state alone.
    let mut session_state: Option<SessionState> = None;
    let early = if record.cancel_requested {
        Some(Outcome::Cancelled(None))
    } else if recoveries > config.max_recoveries {
        Some(Outcome::Failed(format!(
            "run abandoned: its executor stopped {recoveries} times while running it (max_recoveries = {})",
            config.max_recoveries
        )))
    } else if record.parent_run_id.is_some() && record.attempt > 1 {
        Some(Outcome::Failed(
            "child run interrupted: the process running it stopped; its parent run redoes the work when it resumes".into(),
        ))
    } else if let Some(changed) = definition_changed(&record, &*component, resumed) {
        Some(Outcome::Failed(changed))
    } else if !record.background && record.attempt > 1 {
        Some(Outcome::Failed(
            "foreground run interrupted: the process running it stopped, and foreground runs are not resumed (start it in the background to make it recoverable)".into(),
        ))
    } else {
        None
    };
    let outcome = match early {
        Some(o) => o,
        // Boxed, like the finish and the hand-back below: a task's future is as large as
        // its largest state, and a run spends its life parked in the select, not here.
        None => match Box::pin(prepare(
            engine,
            &record,
            resumed,
            shared_state.is_some(),
            stored_state,
        ))
        .await
        {
            Err(e) => Outcome::Failed(format!("could not load the run's state: {e}")),
            Ok((checkpoints, _, _))
                if checkpoints
                    .get(super::PAUSE_KEY)
                    .is_some_and(Value::is_object) =>
            {
                // Claimed while paused: only an expired pause is claimable.
                Outcome::Failed(
                    "the run was paused and was not continued before its pause expired".into(),
                )
            }
            Ok((checkpoints, state, restart)) => {
                // The first claim after a continuation is not a restart (its RunContinued says
                // what happened), unless work was in flight when it paused.
                let continued = checkpoints
                    .get(super::CONTINUED_AT_KEY)
                    .and_then(Value::as_u64)
                    == Some(record.event_count.saturating_sub(1));
                let restart = restart.filter(|r| !(continued && r.voided.is_empty()));
                if let Some(restart) = restart {
                    // Before the resumed run emits anything: what it redoes is void.
                    let event = EventKind::RunRestarted {
                        attempt: record.attempt,
                        voided: restart.voided,
                    };
                    let extras = Extras {
                        checkpoints: vec![(
                            VOIDED_KEY.to_owned(),
                            kern_store::checkpoint_json(&serde_json::json!(restart.all)),
                        )],
                        ..Extras::default()
                    };
                    log.push(&[event], None, extras);
                    if Box::pin(log.flush()).await.is_err() {
                        // The log stopped the run (another owner, or the store is gone).
                        return Ended::Lost;
                    }
                }
                let state = shared_state.unwrap_or(state);
                if !is_child {
                    session_state = Some(state.clone());
                }
                let ctx = RunContext::new(
                    engine.clone(),
                    record.clone(),
                    log.clone(),
                    checkpoints,
                    state,
                    token.clone(),
                    resumed,
                );
                if !resumed && !begun {
                    if let Some(started) = component.start_event() {
                        ctx.emit(started);
                    }
                }
                let timeout = component.timeout().or(config.run_timeout);
                let started = record.started_at.unwrap_or(record.created_at);
                let deadline = timeout.map(|t| {
                    let left = (started + t.as_millis() as i64 - now_millis()).max(0);
                    tokio::time::Instant::now() + Duration::from_millis(left as u64)
                });
                let timer = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                let exec = AssertUnwindSafe(component.execute(ctx)).catch_unwind();
                let outcome = tokio::select! {
                    biased;
                    _ = token.cancelled() => {
                        let reason = stop.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        match reason {
                            Some(StopReason::Lost) => return Ended::Lost,
                            Some(StopReason::Shutdown) => Outcome::Cancelled(Some("the server shut down".into())),
                            Some(StopReason::Cancelled(r)) => Outcome::Cancelled(r),
                            None => Outcome::Cancelled(None),
                        }
                    }
                    _ = timer => Outcome::Failed(format!(
                        "run timed out after {:?}", timeout.unwrap_or_default()
                    )),
                    r = exec => match r {
                        Ok(Ok(out)) => Outcome::Completed(Box::new(out)),
                        Ok(Err(f)) => Outcome::Failed(f.0),
                        Err(panic) => Outcome::Failed(format!(
                            "run panicked: {}", crate::panic_message(panic.as_ref())
                        )),
                    },
                };
                // A stop is not a failure (invariant 9): once the engine is stopping this run,
                // whatever it ended with short of completing (the stop itself, or an error that
                // the stop caused on the way, such as a child run cut short) hands a background
                // run back to the queue instead of finishing it.
                let stopping = matches!(
                    *stop.lock().unwrap_or_else(|e| e.into_inner()),
                    Some(StopReason::Shutdown)
                );
                if stopping && record.background && !matches!(outcome, Outcome::Completed(_)) {
                    return if Box::pin(hand_back(engine, &record, &log)).await {
                        Ended::HandedBack
                    } else {
                        Ended::Lost
                    };
                }
                outcome
            }
        },
    };
    let vouched = component.output_is_completion();
    Box::pin(finish(
        &log,
        component.kind(),
        outcome,
        vouched,
        session_state,
    ))
    .await
}

/// Why a resumed run must not resume: its component's definition is not the one it started
/// with, so its checkpoints (keyed by positions in the old definition) no longer fit.
fn definition_changed(
    record: &RunRecord,
    component: &dyn Component,
    resumed: bool,
) -> Option<String> {
    if !resumed {
        return None; // nothing done yet: it starts afresh on the current definition
    }
    let then = record.input.get(super::DEFINITION_KEY)?.as_str()?;
    let now = component.fingerprint()?;
    (then != now).then(|| {
        format!(
            "the definition of {} {:?} changed since this run started (its steps are not the same), so its checkpoints no longer fit and it was not resumed; start it again",
            component.kind(),
            component.id()
        )
    })
}

/// Gives a background run back to the queue (graceful stop): whatever it emitted is written
/// first, so the next owner continues the log where this one stopped, then the lease is
/// released so that the run is claimable at once (not after lease expiry).
/// Returns whether it was released.
async fn hand_back(engine: &Engine, record: &RunRecord, log: &RunLog) -> bool {
    let run_id = record.run_id;
    match log.flush().await {
        Ok(()) => match engine.inner.store.release(run_id, record.attempt).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%run_id, error = %e, "could not release the run on shutdown; it is resumed after its lease expires");
                false
            }
        },
        Err(e) => {
            tracing::warn!(%run_id, error = %e, "could not write the run's last events on shutdown; it is resumed after its lease expires");
            false
        }
    }
}

/// Loads what a run needs to start or resume: its checkpoints, its session state, and for a
/// run that resumes a log (a restart), what the restart voids.
async fn prepare(
    engine: &Engine,
    record: &RunRecord,
    resumed: bool,
    shared_state: bool,
    stored_state: Option<Value>,
) -> kern_store::StoreResult<(HashMap<String, Value>, SessionState, Option<Restart>)> {
    let store = &engine.inner.store;
    let checkpoints: HashMap<String, Value> = if resumed {
        store
            .load_checkpoints(record.run_id)
            .await?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let restart = if resumed {
        let scopes = store.load_scopes(record.run_id).await?;
        Some(restart::plan(&scopes, &checkpoints))
    } else {
        None
    };
    let state = match checkpoints.get(crate::session_state::SESSION_STATE_KEY) {
        Some(v) => v.clone(),
        // A child run uses its parent's state; nothing to load.
        None if shared_state => Value::Null,
        None => {
            // As the claim (or the create) found it, in the same transaction: no read here.
            let mut state = stored_state.unwrap_or_else(|| Value::Object(Default::default()));
            if let (Value::Object(base), Some(Value::Object(over))) =
                (&mut state, record.input.get("session_state"))
            {
                for (k, v) in over {
                    base.insert(k.clone(), v.clone());
                }
            }
            state
        }
    };
    Ok((checkpoints, SessionState::from_value(Some(state)), restart))
}

/// Writes a run's end. `vouched`: the component's output is its completion event's own fields
/// ([`Component::output_is_completion`]).
async fn finish(
    log: &RunLog,
    kind: kern_store::ComponentKind,
    outcome: Outcome,
    vouched: bool,
    session_state: Option<SessionState>,
) -> Ended {
    let mut checkpoints = Vec::new();
    let (terminal, finish) = match outcome {
        Outcome::Completed(out) => match out.pause {
            None => (
                out.completed,
                RunFinish {
                    status: RunStatus::Completed,
                    output: Some(out.output),
                    error: None,
                    pause_expires_at: None,
                    output_in_event: vouched,
                },
            ),
            // Not an end: the run waits for a human, holding nothing (see Engine::continue_run).
            Some(pause) => {
                let expires = pause
                    .expires_after
                    .map(|d| now_millis() + d.as_millis().min(i64::MAX as u128) as i64);
                let mut event = out.completed;
                if let EventKind::RunPaused { expires_at, .. } = &mut event {
                    *expires_at = expires.map(|ms| ms / 1000);
                }
                checkpoints.push((
                    super::PAUSE_KEY.to_owned(),
                    kern_store::checkpoint_json(&serde_json::json!({ "expires_at": expires })),
                ));
                (
                    event,
                    RunFinish {
                        status: RunStatus::Paused,
                        output: Some(out.output),
                        error: None,
                        pause_expires_at: expires,
                        output_in_event: false,
                    },
                )
            }
        },
        Outcome::Failed(error) => (
            EventKind::failed(kind, error.clone()),
            RunFinish {
                status: RunStatus::Failed,
                output: None,
                error: Some(error),
                pause_expires_at: None,
                output_in_event: false,
            },
        ),
        Outcome::Cancelled(reason) => (
            EventKind::cancelled(kind, reason.clone()),
            RunFinish {
                status: RunStatus::Cancelled,
                output: None,
                error: reason,
                pause_expires_at: None,
                output_in_event: false,
            },
        ),
    };
    let (status, error) = (finish.status, finish.error.clone());
    let extras = Extras {
        checkpoints,
        session_state: session_state.map(|s| s.snapshot()),
        finish: Some(finish),
    };
    // A failure here means we lost the run; its next owner finishes it.
    if log.push(&[terminal], None, extras) && log.flush().await.is_ok() {
        Ended::Finished(status, error)
    } else {
        Ended::Lost
    }
}

/// Starts the engine's background loops: the notification listener, and for an executor the
/// claim, heartbeat and cancel-poll loops.
pub(crate) fn spawn_background_tasks(engine: &Engine) {
    let weak = Arc::downgrade(&engine.inner);
    // Even a client-only engine listens: its subscriptions follow runs executing elsewhere.
    if let Some(rx) = engine.inner.store.notifications() {
        tokio::spawn(notification_loop(weak.clone(), rx));
    }
    if !engine.inner.config.executor {
        return;
    }
    tokio::spawn(claim_loop(weak.clone()));
    tokio::spawn(heartbeat_loop(weak.clone()));
    if let Some(keep) = engine.inner.config.retention {
        tokio::spawn(retention_loop(weak.clone(), keep));
    }
    tokio::spawn(cancel_poll_loop(weak));
}

async fn retention_loop(weak: Weak<EngineInner>, keep: Duration) {
    let every = (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let before = now_millis() - keep.as_millis() as i64;
        inner.views.forget_all();
        match inner.store.purge_finished(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "retention: deleted finished runs"),
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
        drop(inner);
        tokio::time::sleep(every).await;
    }
}

async fn claim_loop(weak: Weak<EngineInner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if inner.shutdown.is_cancelled() {
            return;
        }
        let available = inner.permits.available_permits();
        let components: Vec<_> = inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        let mut again = false;
        if available == 0 {
            inner.starved.store(true, Ordering::Release);
        } else if !components.is_empty() {
            let limit = available.min(CLAIM_BATCH);
            let req = ClaimRequest {
                owner: inner.owner.clone(),
                limit,
                lease_ms: inner.config.lease.as_millis() as i64,
                components,
            };
            match inner.store.claim_starting(&req).await {
                Ok(runs) => {
                    backoff = Duration::from_millis(50);
                    again = runs.len() == limit;
                    if again {
                        inner.starved.store(true, Ordering::Release);
                    }
                    let engine = Engine {
                        inner: inner.clone(),
                    };
                    for run in runs {
                        let record = &run.record;
                        let component = match engine.component(record.kind, &record.component_id) {
                            Ok(c) => c,
                            // Claimed components are registered: the registry only grows.
                            Err(_) => continue,
                        };
                        let permit = inner
                            .permits
                            .clone()
                            .try_acquire_owned()
                            .expect("claimed no more runs than free permits");
                        spawn_drive(engine.clone(), component, run, Vec::new(), Some(permit));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming runs failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        if again {
            continue;
        }
        let wake = inner.wake_claimer.clone();
        let shutdown = inner.shutdown.clone();
        let poll = inner.config.poll_interval;
        drop(inner);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn heartbeat_loop(weak: Weak<EngineInner>) {
    let interval = match weak.upgrade() {
        Some(inner) => inner.config.heartbeat_interval,
        None => return,
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = weak.upgrade() else { return };
        let runs: Vec<(RunId, u32)> = inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, r)| (*id, r.attempt))
            .collect();
        if runs.is_empty() {
            continue;
        }
        let lease_ms = inner.config.lease.as_millis() as i64;
        match inner.store.heartbeat(&inner.owner, &runs, lease_ms).await {
            Ok(hb) => {
                for id in hb.lost {
                    // A run that finished while the heartbeat was in flight is not renewed
                    // either; only a run still executing here has really lost its lease.
                    if is_local(&inner, id) {
                        tracing::warn!(run_id = %id, "lease lost; stopping the run here");
                        stop_local(&inner, id, StopReason::Lost);
                    }
                }
                for id in hb.cancel_requested {
                    stop_local(&inner, id, StopReason::Cancelled(None));
                }
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
        }
    }
}

async fn cancel_poll_loop(weak: Weak<EngineInner>) {
    let interval = match weak.upgrade() {
        // Push notifications carry cancels; polling is only a safety net.
        Some(inner) if inner.store.notifications().is_some() => inner
            .config
            .cancel_poll_interval
            .max(Duration::from_secs(1)),
        Some(inner) => inner.config.cancel_poll_interval,
        None => return,
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            continue;
        }
        match inner.store.cancel_requests(&inner.owner).await {
            Ok(ids) => {
                for id in ids {
                    stop_local(&inner, id, StopReason::Cancelled(None));
                }
            }
            Err(e) => tracing::warn!(error = %e, "polling cancel requests failed"),
        }
    }
}

async fn notification_loop(
    weak: Weak<EngineInner>,
    mut rx: tokio::sync::broadcast::Receiver<Notification>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let msg = rx.recv().await;
        let Some(inner) = weak.upgrade() else { return };
        match msg {
            Ok(Notification::RunsAvailable) => inner.wake_claimer.notify_one(),
            Ok(Notification::Events(ids)) if ids.is_empty() => inner.bus.wake(None),
            Ok(Notification::Events(ids)) => inner.bus.wake(Some(&ids)),
            Ok(Notification::Cancel(ids)) => {
                for id in ids {
                    stop_local(&inner, id, StopReason::Cancelled(None));
                }
            }
            Err(RecvError::Lagged(_)) => {
                inner.bus.wake(None);
                inner.wake_claimer.notify_one();
            }
            Err(RecvError::Closed) => return,
        }
    }
}
