//! The records the store keeps: runs, their events, checkpoints and sessions.
//!
//! These types are deliberately ignorant of what a run *does*: an event is a type name and a
//! JSON payload, a checkpoint is a key and a JSON value. The engine (`kern-core`) gives them
//! meaning.

use serde::{Deserialize, Serialize};
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
/// `Pending → Running → Completed | Failed | Cancelled`. A terminal status never changes again.
/// `Paused` is reserved for human-in-the-loop runs and is not produced yet.
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
}

/// A run to insert.
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
    /// When an executor first started the run (ms since epoch).
    pub started_at: Option<Millis>,
    /// When the run reached its terminal status (ms since epoch).
    pub finished_at: Option<Millis>,
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
    /// The terminal status.
    pub status: RunStatus,
    /// The run's output.
    pub output: Option<Value>,
    /// The error, for failed runs.
    pub error: Option<String>,
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
    /// Checkpoint values to upsert by key.
    pub checkpoints: Vec<(String, Value)>,
    /// The session state to save on the run's session, if it changed.
    pub session_state: Option<Value>,
    /// Ends the run with this status (the last event should be the terminal event).
    pub finish: Option<RunFinish>,
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
    /// Only runs of this component kind.
    pub kind: Option<ComponentKind>,
    /// Only runs of this component id.
    pub component_id: Option<String>,
    /// Only runs of this user.
    pub user_id: Option<String>,
    /// Only runs started by this parent run.
    pub parent_run_id: Option<RunId>,
    /// At most this many runs (default 100).
    pub limit: Option<usize>,
    /// Skip this many runs (oldest first).
    pub offset: Option<usize>,
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
    fn run_ids_sort_by_creation() {
        let a = new_run_id();
        let b = new_run_id();
        assert!(a < b);
    }
}
