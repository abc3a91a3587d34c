//! The records the store keeps: runs, their events, checkpoints and sessions, plus (schema
//! v2) idempotency keys and the webhook outbox.
//!
//! These types are deliberately ignorant of what a run *does*: an event is a type name and a
//! JSON payload, a checkpoint is a key and a JSON value. The engine (`kern-core`) gives them
//! meaning.
//!
//! - **Runs**: [`NewRun`] in, [`RunRecord`] out; [`RunWrite`] is the owner's fenced write,
//!   [`RunFilter`] selects runs to list (oldest or newest first).
//! - **Sessions**: [`SessionRecord`], listed with [`SessionFilter`] / [`SessionSort`].
//! - **Idempotency** (v2): a [`NewRun`] may carry an [`Idempotency`] key; creating a run twice
//!   with the same key and request hash yields the first run.
//! - **Webhook outbox** (v2): a run created with a [`NewRun::webhook_url`] gets a
//!   [`WebhookDelivery`] row for each terminal status or pause it reaches, written in the same
//!   transaction as that status, which the row records (its `outcome`, v5). The store only
//!   keeps the outbox (claim with a lease, record [`WebhookAttempt`]s and their
//!   [`WebhookOutcome`]); the HTTP delivery is the server's job.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// A run's id: a UUID v7, so ids sort by creation time.
pub type RunId = uuid::Uuid;

/// Milliseconds since the Unix epoch, the store's unit of time.
pub type Millis = i64;

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// A fresh run id (UUID v7).
pub fn new_run_id() -> RunId {
    uuid::Uuid::now_v7()
}

/// Where a run is in its life.
///
/// `Pending → Running → Completed | Failed | Cancelled`, with `Running → Paused → Pending`
/// for a run that waits for a human. A terminal status never changes again, with one
/// deliberate exception: an operator's requeue ([`Store::requeue`](crate::Store::requeue))
/// turns a `Failed` or `Cancelled` run back into `Pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Stored and waiting for an executor to claim it.
    Pending,
    /// Claimed by an executor that holds its lease.
    Running,
    /// Reserved for human-in-the-loop runs.
    Paused,
    /// Finished successfully.
    Completed,
    /// Finished with an error (recorded on the run).
    Failed,
    /// Finished because someone cancelled it.
    Cancelled,
}

impl RunStatus {
    /// The lower-case name used in the database and the Rust API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// True for `completed`, `failed` and `cancelled`: statuses that never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown status or component kind name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct ParseNameError {
    what: &'static str,
    value: String,
}

impl FromStr for RunStatus {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "completed" => Self::Completed,
            "failed" | "error" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            _ => {
                return Err(ParseNameError {
                    what: "run status",
                    value: s.to_owned(),
                })
            }
        })
    }
}

/// What kind of component a run executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// An agent: a model with instructions and tools.
    Agent,
    /// A team of agents.
    Team,
    /// A workflow of steps.
    Workflow,
}

impl ComponentKind {
    /// The lower-case name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Team => "team",
            Self::Workflow => "workflow",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ComponentKind {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "agent" => Self::Agent,
            "team" => Self::Team,
            "workflow" => Self::Workflow,
            _ => {
                return Err(ParseNameError {
                    what: "component kind",
                    value: s.to_owned(),
                })
            }
        })
    }
}

/// A lease to take at insert time, so that a foreground run is owned by its caller's executor
/// from the first moment and never sits in the queue.
#[derive(Clone, Debug)]
pub struct Lease {
    /// The executor that owns the run.
    pub owner: String,
    /// How long the lease lasts before it must be renewed.
    pub duration_ms: i64,
    /// Events the run's log begins with (indexes 0, 1, …), written in the insert's
    /// transaction as the owner's first write ([`RunWrite`] of attempt 1) would write them:
    /// a run inserted claimed has begun, and whoever streams it sees its first event with the
    /// insert's commit instead of one commit later. Usually empty or the component's start
    /// event. The created record counts them ([`RunRecord::event_count`]).
    pub first_events: Vec<NewEvent>,
}

impl Lease {
    /// The write of [`first_events`](Self::first_events) into run `run_id`, inserted with
    /// this lease (attempt 1, an empty log).
    pub(crate) fn first_write(&self, run_id: RunId) -> RunWrite {
        RunWrite {
            run_id,
            attempt: 1,
            first_index: 0,
            events: self.first_events.clone(),
            checkpoints: Vec::new(),
            session_state: None,
            finish: None,
        }
    }
}

/// An idempotency key for [`NewRun`]: creating a run with a key that is already stored does
/// not create a second run.
///
/// Keys are global to the store (one table, `key` is its primary key): a caller that wants
/// them per user or per component puts that into the key. `request_hash` is an opaque
/// fingerprint of the request (computed by the caller) used to tell a retry of the same
/// request from a different request that reuses the key. See
/// [`Store::create_run`](crate::Store::create_run) for the exact outcomes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Idempotency {
    /// The key, as the client sent it (for example an `Idempotency-Key` header).
    pub key: String,
    /// A fingerprint of the request body the key was first used with.
    pub request_hash: String,
}

/// A run to insert.
///
/// Build one with [`NewRun::new`] and set the optional fields, or with a struct literal ending
/// in `..Default::default()` (see [`Default`](#impl-Default-for-NewRun) for the values), so
/// that fields added later do not break callers.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// The run's id (see [`new_run_id`]).
    pub run_id: RunId,
    /// The session the run belongs to.
    pub session_id: String,
    /// The user the run belongs to, if any.
    pub user_id: Option<String>,
    /// The kind of component the run executes.
    pub kind: ComponentKind,
    /// The id of the component the run executes.
    pub component_id: String,
    /// The run that started this one (a team's member run, a workflow's agent step).
    pub parent_run_id: Option<RunId>,
    /// The run's input, as JSON.
    pub input: Value,
    /// Whether the run was started in the background (it outlives its caller).
    pub background: bool,
    /// `None`: insert as `pending` for any executor to claim. `Some`: insert as `running`,
    /// owned by the lease holder (attempt 1).
    pub claim: Option<Lease>,
    /// An idempotency key (schema v2). `None`: every call inserts a run. See
    /// [`Store::create_run`](crate::Store::create_run).
    pub idempotency: Option<Idempotency>,
    /// A URL to notify when the run reaches a terminal status (schema v2): stored on the run
    /// ([`RunRecord::webhook_url`]) and turned into a [`WebhookDelivery`] outbox row in the
    /// same transaction as the terminal status. The store does not validate it.
    pub webhook_url: Option<String>,
}

impl NewRun {
    /// A background, pending run of component `kind`/`component_id` in `session_id` with a
    /// fresh id (UUID v7); every optional field `None`.
    pub fn new(
        kind: ComponentKind,
        component_id: impl Into<String>,
        session_id: impl Into<String>,
        input: Value,
    ) -> Self {
        Self {
            run_id: new_run_id(),
            session_id: session_id.into(),
            user_id: None,
            kind,
            component_id: component_id.into(),
            parent_run_id: None,
            input,
            background: true,
            claim: None,
            idempotency: None,
            webhook_url: None,
        }
    }
}

impl Default for NewRun {
    /// Meant for `..Default::default()` in struct literals that set at least the component
    /// and session: a fresh run id (UUID v7), an **empty** session id and component id, kind
    /// [`ComponentKind::Workflow`], input `null`, `background: true`, and every optional field
    /// `None`.
    fn default() -> Self {
        Self::new(ComponentKind::Workflow, "", "", Value::Null)
    }
}

/// A run handed to the executor that starts it ([`Store::claim_starting`],
/// [`Store::create_starting`]): its record, and the state of its session as the same
/// transaction found it, so that starting the run takes no read of its own.
///
/// [`Store::claim_starting`]: crate::Store::claim_starting
/// [`Store::create_starting`]: crate::Store::create_starting
#[derive(Clone, Debug, PartialEq)]
pub struct StartingRun {
    /// The run as claimed or created.
    pub record: RunRecord,
    /// Its session's stored state ([`SessionRecord::session_state`]) in the transaction that
    /// claimed or created the run: `None` when the session holds none, and always for a child
    /// run (it shares its parent's state, which the parent saves).
    pub session_state: Option<Value>,
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: RunId,
    /// The session the run belongs to.
    pub session_id: String,
    /// The user the run belongs to, if any.
    pub user_id: Option<String>,
    /// The kind of component the run executes.
    pub kind: ComponentKind,
    /// The id of the component the run executes.
    pub component_id: String,
    /// The run that started this one, if any.
    pub parent_run_id: Option<RunId>,
    /// Where the run is in its life.
    pub status: RunStatus,
    /// The run's input.
    pub input: Value,
    /// The run's output, once it has one (content, step results, metrics).
    pub output: Option<Value>,
    /// Why the run failed, for `failed` runs (and cancelled runs that say why).
    pub error: Option<String>,
    /// Whether the run was started in the background.
    pub background: bool,
    /// How many times an executor has claimed the run. Writes carry it as a fencing token.
    pub attempt: u32,
    /// How many of those claims ended in a graceful hand-over ([`Store::release`]) rather
    /// than a crash; `attempt - 1 - releases` is the number of crash recoveries.
    ///
    /// [`Store::release`]: crate::Store::release
    pub releases: u32,
    /// The executor that holds the lease, while `running`.
    pub lease_owner: Option<String>,
    /// When the current lease expires (ms since epoch).
    pub lease_expires_at: Option<Millis>,
    /// Whether a cancel was requested.
    pub cancel_requested: bool,
    /// The number of events in the run's log (the next event's index).
    pub event_count: u64,
    /// When the run was created (ms since epoch).
    pub created_at: Millis,
    /// When the run record last changed (ms since epoch).
    pub updated_at: Millis,
    /// When an executor first started the run (ms since epoch); a requeue clears it, so it
    /// is the first start since the latest requeue (run timeouts count from it).
    pub started_at: Option<Millis>,
    /// When the run reached its terminal status (ms since epoch).
    pub finished_at: Option<Millis>,
    /// The URL notified when the run finishes, if it was created with one (schema v2; `None`
    /// for runs stored before). See [`WebhookDelivery`].
    #[serde(default)]
    pub webhook_url: Option<String>,
}

impl RunRecord {
    /// True once the run has reached a terminal status: `completed`, `failed` **or**
    /// `cancelled`. (Agno's `has_completed()` is true for `completed` only; check
    /// [`status`](Self::status) to tell the three apart.)
    pub fn has_completed(&self) -> bool {
        self.status.is_terminal()
    }

    /// The run's output content, once it has one.
    pub fn content(&self) -> Option<&Value> {
        self.output.as_ref().and_then(|o| o.get("content"))
    }

    /// The record as a successful [`Store::write`](crate::Store::write) of `w` leaves it,
    /// given the time the store returned for it (`at`): what both backends' write statement
    /// does to the row, written once more for whoever holds a record and wants it current
    /// without reading it back (the engine's views of the runs it executes). The
    /// `record_after_write_matches_the_store` conformance test checks that the two agree,
    /// for every kind of write, on both backends.
    ///
    /// Returns `false` and changes nothing when the write could not have applied to this
    /// record (another attempt, a status other than `running`, or a log of another length):
    /// the store would have fenced it.
    pub fn apply_write(&mut self, w: &RunWrite, at: Millis) -> bool {
        if w.attempt != self.attempt
            || self.status != RunStatus::Running
            || w.first_index != self.event_count
        {
            return false;
        }
        self.event_count += w.events.len() as u64;
        self.updated_at = at;
        if let Some(f) = &w.finish {
            let paused = f.status == RunStatus::Paused;
            self.status = f.status;
            self.output = f.output.clone();
            self.error = f.error.clone();
            self.finished_at = (!paused).then_some(at);
            if paused {
                self.releases += 1;
            }
            self.lease_owner = None;
            self.lease_expires_at = f.pause_expires_at.filter(|_| paused);
        }
        true
    }
}

/// An event to append to a run's log.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The event's type name (`"StepStarted"`, …).
    pub event_type: String,
    /// The event as compact JSON, exactly as it is served to clients. Shared, so that the
    /// engine can hand the committed event to live subscribers without copying it.
    pub payload: std::sync::Arc<str>,
    /// When the event happened (ms since epoch).
    pub created_at: Millis,
    /// The unit of work the event belongs to (a workflow step, a model turn, a tool call), named
    /// by the checkpoint key that marks the unit done; `None` for events outside any unit.
    /// Not served to clients: a resumed run uses it to tell which earlier events belonged to
    /// work that was interrupted and runs again ([`Store::load_scopes`](crate::Store::load_scopes)).
    pub scope: Option<std::sync::Arc<str>>,
}

impl NewEvent {
    /// The event as it reads back once committed at `index`.
    pub fn into_stored(self, index: u64) -> StoredEvent {
        StoredEvent {
            event_index: index,
            event_type: self.event_type,
            payload: self.payload,
            created_at: self.created_at,
        }
    }
}

/// Continuing a paused run: what the human decided, appended to its log and checkpointed,
/// and the run queued again (status `pending`).
#[derive(Clone, Debug)]
pub struct ContinueRequest {
    /// The paused run.
    pub run_id: RunId,
    /// Its log's length as the caller read it: the `RunContinued` event goes at this index. A
    /// run whose log changed meanwhile (another continue won) is a conflict.
    pub event_count: u64,
    /// The `RunContinued` event.
    pub event: NewEvent,
    /// Checkpoints to write with it (the decisions the run reads when it goes on).
    pub checkpoints: Vec<(String, Box<RawValue>)>,
}

/// Requeuing a `failed` or `cancelled` run (an operator's decision): its event appended and
/// checkpoints written, and the run queued again (status `pending`) to resume from its
/// checkpoints. See [`Store::requeue`](crate::Store::requeue).
#[derive(Clone, Debug)]
pub struct RequeueRequest {
    /// The failed or cancelled run.
    pub run_id: RunId,
    /// Its log's length as the caller read it: the event goes at this index. A run whose log
    /// changed meanwhile (another requeue won) is a conflict.
    pub event_count: u64,
    /// The `RunRequeued` event.
    pub event: NewEvent,
    /// Checkpoints to write with it (the engine clears a stale pause marker).
    pub checkpoints: Vec<(String, Box<RawValue>)>,
}

/// Runs by status and the age of the queue, as [`Store::queue_stats`](crate::Store::queue_stats)
/// reads them in one statement. Only top-level runs count (see [`RunFilter::top_level`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// How many runs have each status; statuses without runs are absent.
    pub counts: std::collections::HashMap<RunStatus, u64>,
    /// When the oldest `pending` run was created (ms since epoch), if any run is pending.
    pub oldest_pending_at: Option<Millis>,
    /// The store's clock when it read them (the database clock on PostgreSQL, the local
    /// clock on SQLite), so that `now - oldest_pending_at` is an age on one clock.
    pub now: Millis,
}

impl QueueStats {
    /// How many runs have `status`.
    pub fn count(&self, status: RunStatus) -> u64 {
        self.counts.get(&status).copied().unwrap_or(0)
    }
}

/// An event read back from a run's log.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// The event's position in the run's log: 0, 1, 2, … with no gaps.
    pub event_index: u64,
    /// The event's type name.
    pub event_type: String,
    /// The event as compact JSON.
    pub payload: std::sync::Arc<str>,
    /// When the event happened (ms since epoch).
    pub created_at: Millis,
}

/// How a run ends: written together with its terminal event.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFinish {
    /// The terminal status, or [`RunStatus::Paused`]: the run waits for a human. A paused run
    /// is not finished: it holds no lease and no executor slot (its lease is released and
    /// counted like a hand-back), keeps its log and checkpoints, and goes on when
    /// [`Store::continue_run`](crate::Store::continue_run) queues it again.
    pub status: RunStatus,
    /// The run's output (for a pause: what it waits for).
    pub output: Option<Value>,
    /// The error, for failed runs.
    pub error: Option<String>,
    /// For a pause: when it expires (ms since epoch). An executor then claims the run, which
    /// fails saying it was not continued in time. `None`: it waits as long as it takes.
    pub pause_expires_at: Option<Millis>,
    /// The caller vouches that the terminal event's own fields are [`output`](Self::output),
    /// serialized from the same values (a workflow's `WorkflowCompleted` and its output are):
    /// a completing write then stores that text once, as the output, without parsing it to
    /// compare (about a kilobyte per run). When false, the store compares, and keeps both
    /// unless they are equal. Debug builds check the claim.
    pub output_in_event: bool,
}

/// One atomic, fenced write by the owner of a run: events, checkpoints and optionally the run's
/// terminal status, all or nothing.
///
/// The store applies it only if the run is `running` with this `attempt` and its log holds
/// exactly `first_index` events; otherwise it fails with [`StoreError::Fenced`] and nothing
/// lands. That one check gives both fencing of stale owners and gapless indices.
///
/// [`StoreError::Fenced`]: crate::StoreError::Fenced
#[derive(Clone, Debug, Default)]
pub struct RunWrite {
    /// The run written to.
    pub run_id: RunId,
    /// The writer's attempt number (fencing token).
    pub attempt: u32,
    /// The index the first event gets; must equal the run's current `event_count`.
    pub first_index: u64,
    /// Events to append, indexed `first_index, first_index + 1, …`.
    pub events: Vec<NewEvent>,
    /// Checkpoint values to upsert by key. A write that completes the run writes none and
    /// deletes the run's checkpoints instead: nothing resumes a completed run (a requeue
    /// takes failed and cancelled runs, a continuation paused ones, and these keep theirs).
    pub checkpoints: Vec<(String, Box<RawValue>)>,
    /// The session state to save on the run's session, if it changed.
    pub session_state: Option<Value>,
    /// Ends the run with this status (the last event should be the terminal event).
    pub finish: Option<RunFinish>,
}

/// A checkpoint's value as the JSON text a store keeps ([`RunWrite::checkpoints`]).
///
/// Checkpoints travel to the store as text: most are a step's result, serialized straight
/// from the engine's own types, where building a [`Value`] only to write it out again (and
/// drop it) cost more than the write's SQL did.
pub fn checkpoint_json(value: &Value) -> Box<RawValue> {
    // A `Value` always serializes, and always to valid JSON.
    serde_json::value::to_raw_value(value).expect("a JSON value serializes")
}

impl RunWrite {
    /// True if the write ends the run `completed` (and so deletes its checkpoints).
    pub fn completes(&self) -> bool {
        self.finish
            .as_ref()
            .is_some_and(|f| f.status == RunStatus::Completed)
    }
}

/// Which runs to claim.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    /// The claiming executor's id.
    pub owner: String,
    /// At most this many runs.
    pub limit: usize,
    /// The lease duration.
    pub lease_ms: i64,
    /// Only runs of these components (the ones this executor can run).
    pub components: Vec<(ComponentKind, String)>,
}

/// The outcome of renewing an executor's leases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Heartbeat {
    /// Runs (of those named) the executor no longer owns: stop them without writing.
    pub lost: Vec<RunId>,
    /// Runs the executor owns and that someone asked to cancel.
    pub cancel_requested: Vec<RunId>,
}

/// What a cancel request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelRequest {
    /// The run is running: the flag is set and its owner will stop it.
    Requested,
    /// The run had already finished with this status; nothing changed.
    AlreadyFinished(RunStatus),
}

/// Filters for listing runs. `None` fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only runs of this session.
    pub session_id: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs with any of these statuses (empty: any status). Combines with
    /// [`status`](Self::status) like every other filter (both must match).
    pub statuses: Vec<RunStatus>,
    /// Only runs of this component kind.
    pub kind: Option<ComponentKind>,
    /// Only runs of this component id.
    pub component_id: Option<String>,
    /// Only runs of this user.
    pub user_id: Option<String>,
    /// Only runs started by this parent run.
    pub parent_run_id: Option<RunId>,
    /// Only top-level runs: runs without a parent (not a team's members, not a workflow's
    /// agent and team steps, which are part of their parent's run).
    pub top_level: bool,
    /// At most this many runs (default 100).
    pub limit: Option<usize>,
    /// Skip this many runs, counted in the listing's order.
    pub offset: Option<usize>,
    /// `false` (the default): oldest first, by `created_at` then `run_id`. `true`: newest
    /// first (the exact reverse), so "the last N runs of a session" is `limit: Some(N)`
    /// with `newest_first: true`, served by an index.
    pub newest_first: bool,
}

/// The order of [`Store::list_sessions`](crate::Store::list_sessions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SessionSort {
    /// By [`SessionRecord::created_at`].
    CreatedAt,
    /// By [`SessionRecord::updated_at`] (the default): the session changes when a run is
    /// created in it, when a run saves session state, and when it is renamed.
    #[default]
    UpdatedAt,
}

/// Filters, order and page of [`Store::list_sessions`](crate::Store::list_sessions). `None`
/// filters do not filter; the others match exactly (case-sensitive).
///
/// The default lists the 20 most recently updated sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only sessions of this component kind.
    pub kind: Option<ComponentKind>,
    /// Only sessions of this component id.
    pub component_id: Option<String>,
    /// Only sessions of this user.
    pub user_id: Option<String>,
    /// At most this many sessions (default 20; `Some(0)` returns none, with the total).
    pub limit: Option<usize>,
    /// Skip this many sessions, counted in the listing's order (default 0).
    pub offset: Option<usize>,
    /// The sort key (default [`SessionSort::UpdatedAt`]). Ties are broken by `session_id`,
    /// in the same direction, so pages never overlap or skip.
    pub sort_by: SessionSort,
    /// Largest first (the default, `true`) or smallest first.
    pub descending: bool,
}

impl Default for SessionFilter {
    fn default() -> Self {
        Self {
            kind: None,
            component_id: None,
            user_id: None,
            limit: None,
            offset: None,
            sort_by: SessionSort::UpdatedAt,
            descending: true,
        }
    }
}

/// A session: the runs of one conversation and their shared state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session's id.
    pub session_id: String,
    /// The kind of component the session's runs execute.
    pub kind: ComponentKind,
    /// The component's id.
    pub component_id: String,
    /// The user the session belongs to, if any.
    pub user_id: Option<String>,
    /// A display name.
    pub session_name: Option<String>,
    /// State shared by the session's runs.
    pub session_state: Option<Value>,
    /// When the session was created (ms since epoch).
    pub created_at: Millis,
    /// When the session last changed (ms since epoch).
    pub updated_at: Millis,
}

/// Where a [`WebhookDelivery`] is in its life: `Pending → Delivered | Failed`. `Delivered` and
/// `Failed` never change again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Waiting to be delivered (first try or a retry), or being delivered under a lease.
    Pending,
    /// An attempt was recorded with [`WebhookOutcome::Delivered`].
    Delivered,
    /// The dispatcher gave up ([`WebhookOutcome::GiveUp`]).
    Failed,
}

impl WebhookStatus {
    /// The lower-case name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for WebhookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookStatus {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => {
                return Err(ParseNameError {
                    what: "webhook status",
                    value: s.to_owned(),
                })
            }
        })
    }
}

/// One try at delivering a webhook, as the dispatcher reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// When the attempt started (ms since epoch, the dispatcher's clock).
    pub at: Millis,
    /// The HTTP status the endpoint answered, if it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed (connect error, timeout, unexpected status), if it did.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u64,
}

/// What the dispatcher decided after an attempt; see
/// [`Store::record_webhook_attempt`](crate::Store::record_webhook_attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The endpoint accepted it: the delivery becomes [`WebhookStatus::Delivered`].
    Delivered,
    /// Try again at this time (ms since epoch; compared with the database clock on
    /// PostgreSQL): the delivery stays pending.
    RetryAt(Millis),
    /// No more tries: the delivery becomes [`WebhookStatus::Failed`].
    GiveUp,
}

/// A webhook outbox row: the notification that a run reached an outcome (a terminal status,
/// or a pause), to be POSTed to the run's [`webhook_url`](RunRecord::webhook_url).
///
/// Written by the store in the same transaction as that status (so it exists exactly when the
/// run settled with a URL, and survives restarts); one per outcome reached, so a run that
/// paused, or that an operator requeued, has several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The row's id, increasing in creation order.
    pub id: i64,
    /// The run that finished.
    pub run_id: RunId,
    /// Where to deliver (the run's `webhook_url` at the time it finished).
    pub url: String,
    /// Where the delivery is in its life.
    pub status: WebhookStatus,
    /// How many attempts were recorded (the length of `history`).
    pub attempts: u32,
    /// When the delivery may next be claimed (ms since epoch): its creation time at first,
    /// the end of the lease while a dispatcher holds it, then the time of the next retry.
    /// Meaningless once the delivery is no longer pending.
    pub next_attempt_at: Millis,
    /// The HTTP status of the last recorded attempt, if it got one.
    pub last_status_code: Option<u16>,
    /// The error of the last recorded attempt, if it failed.
    pub last_error: Option<String>,
    /// Every recorded attempt, oldest first.
    pub history: Vec<WebhookAttempt>,
    /// When the row was written (the run's finish time, ms since epoch).
    pub created_at: Millis,
    /// When an attempt was recorded as [`WebhookOutcome::Delivered`] (store clock).
    pub delivered_at: Option<Millis>,
    /// The status the run reached when this delivery was queued ([`RunStatus::Paused`],
    /// `Completed`, `Failed` or `Cancelled`), written in the same transaction (schema v5).
    /// The delivery reports this outcome even when it is sent after the run moved on (a
    /// paused run continued, a failed run requeued). `None` for rows written before v5.
    #[serde(default)]
    pub outcome: Option<RunStatus>,
}

/// A signal from another process sharing the database (PostgreSQL `LISTEN/NOTIFY`).
///
/// Notifications are wake-ups, not data: the database stays the truth, and a receiver re-reads
/// it. They can be lost (a dropped connection) or spurious, so a receiver also polls, slowly.
///
/// **Resync.** An *empty* list in [`Events`](Self::Events) or [`Cancel`](Self::Cancel) means
/// "unknown which runs: any may be affected"; re-poll every run you follow. A store sends
/// `RunsAvailable`, `Events(vec![])` and `Cancel(vec![])` together after its listener lost its
/// connection and reconnected (notifications sent meanwhile are gone), or when one batch
/// changed too many runs to list. A receiver that lags behind the broadcast channel
/// (`RecvError::Lagged`) should resync the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// New pending runs may be waiting to be claimed.
    RunsAvailable,
    /// These runs have new events in their logs (empty: any run may have; see above).
    Events(Vec<RunId>),
    /// A cancel was requested for these runs (empty: for any run; see above).
    Cancel(Vec<RunId>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip_and_accept_wire_aliases() {
        for s in [
            RunStatus::Pending,
            RunStatus::Running,
            RunStatus::Paused,
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ] {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        assert_eq!("ERROR".parse::<RunStatus>().unwrap(), RunStatus::Failed);
        assert_eq!("RUNNING".parse::<RunStatus>().unwrap(), RunStatus::Running);
        assert!("nope".parse::<RunStatus>().is_err());
    }

    #[test]
    fn only_finished_statuses_are_terminal() {
        assert!(!RunStatus::Pending.is_terminal());
        assert!(!RunStatus::Running.is_terminal());
        assert!(!RunStatus::Paused.is_terminal());
        assert!(RunStatus::Completed.is_terminal());
        assert!(RunStatus::Failed.is_terminal());
        assert!(RunStatus::Cancelled.is_terminal());
    }

    #[test]
    fn webhook_statuses_round_trip() {
        for s in [
            WebhookStatus::Pending,
            WebhookStatus::Delivered,
            WebhookStatus::Failed,
        ] {
            assert_eq!(s.as_str().parse::<WebhookStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("Pending".parse::<WebhookStatus>().is_err());
    }

    #[test]
    fn defaults_say_what_the_docs_say() {
        let run = NewRun::new(ComponentKind::Agent, "bot", "s", Value::Null);
        assert!(run.background && run.claim.is_none());
        assert!(run.idempotency.is_none() && run.webhook_url.is_none());
        assert_ne!(NewRun::default().run_id, NewRun::default().run_id);
        let f = SessionFilter::default();
        assert_eq!((f.sort_by, f.descending), (SessionSort::UpdatedAt, true));
        assert_eq!((f.limit, f.offset), (None, None));
        assert!(!RunFilter::default().newest_first);
        // Records stored before v2 (serialised without the field) still decode.
        let mut v = serde_json::to_value(RunRecord {
            run_id: run.run_id,
            session_id: "s".into(),
            user_id: None,
            kind: ComponentKind::Agent,
            component_id: "bot".into(),
            parent_run_id: None,
            status: RunStatus::Pending,
            input: Value::Null,
            output: None,
            error: None,
            background: true,
            attempt: 0,
            releases: 0,
            lease_owner: None,
            lease_expires_at: None,
            cancel_requested: false,
            event_count: 0,
            created_at: 1,
            updated_at: 1,
            started_at: None,
            finished_at: None,
            webhook_url: None,
        })
        .unwrap();
        v.as_object_mut().unwrap().remove("webhook_url");
        let back: RunRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back.webhook_url, None);
    }

    #[test]
    fn run_ids_sort_by_creation() {
        let a = new_run_id();
        let b = new_run_id();
        assert!(a < b);
    }
}
