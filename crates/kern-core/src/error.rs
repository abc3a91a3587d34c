//! The engine's error type.

use kern_store::{ComponentKind, RunId, StoreError};

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Background runs (and runs that must outlive the process) need a durable database; this
    /// component or engine has none. Nothing was started.
    #[error("background runs need a database: give the {0} a durable store (for example `Engine::open(\"kern.db\")`)")]
    NoDatabase(ComponentKind),
    /// No run has this id.
    #[error("run {0} not found")]
    RunNotFound(RunId),
    /// The run exists but belongs to another component than the one asked.
    #[error("run {run_id} does not belong to {kind} {id:?}")]
    WrongComponent {
        /// The run.
        run_id: RunId,
        /// The kind asked for.
        kind: ComponentKind,
        /// The id asked for.
        id: String,
    },
    /// No component with this kind and id is registered on the engine.
    #[error("no {kind} with id {id:?} is registered")]
    UnknownComponent {
        /// The kind asked for.
        kind: ComponentKind,
        /// The id asked for.
        id: String,
    },
    /// A component with this kind and id is already registered.
    #[error("a {kind} with id {id:?} is already registered")]
    DuplicateComponent {
        /// The component's kind.
        kind: ComponentKind,
        /// The component's id.
        id: String,
    },
    /// A definition is invalid (empty workflow, duplicate step names, unknown router choice…).
    #[error("invalid definition: {0}")]
    InvalidDefinition(String),
    /// A run with this id already exists (caller-chosen ids must be fresh).
    #[error("a run with id {0} already exists")]
    DuplicateRun(RunId),
    /// The idempotency key was already used for a different request; nothing was started.
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyConflict {
        /// The reused key.
        key: String,
    },
    /// Only a paused run can be continued; this one is not (it was never paused, or another
    /// continue of the same pause came first, or it ended).
    #[error("run {run_id} is not paused (it is {status}): only a paused run can be continued")]
    NotPaused {
        /// The run.
        run_id: RunId,
        /// Its status now.
        status: kern_store::RunStatus,
    },
    /// The queue is full: a background start found as many pending runs as the configured
    /// limit ([`EngineConfig::max_pending`] for the whole database, or
    /// [`EngineConfig::max_pending_per_component`] for the component). Nothing was started;
    /// start it again after `retry_after` (an estimate: how long the runs recently finished
    /// took to make room for one more, between 1 s and 60 s; 1 s when no run finished in
    /// the last 30 s). The HTTP server answers 429 with `Retry-After`.
    ///
    /// [`EngineConfig::max_pending`]: crate::engine::EngineConfig::max_pending
    /// [`EngineConfig::max_pending_per_component`]: crate::engine::EngineConfig::max_pending_per_component
    #[error("the queue is full: {pending} runs are pending for {scope} (limit {limit}); retry in {} s", retry_after.as_secs())]
    QueueFull {
        /// What is full: `"server"` (the whole database's limit) or `"<kind>:<id>"` (the
        /// component's).
        scope: String,
        /// How many runs were pending when the start was refused.
        pending: u64,
        /// The limit.
        limit: u64,
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// Only a failed or cancelled top-level run can be requeued; this one is not (it is
    /// pending, running, paused or completed, or a concurrent requeue came first), or it is
    /// a child run (a team's member, a workflow's agent step), which its parent redoes when
    /// the parent is requeued.
    #[error("{}", not_requeueable(.run_id, .status, *.child))]
    NotRequeueable {
        /// The run.
        run_id: RunId,
        /// Its status now.
        status: kern_store::RunStatus,
        /// True when it was refused for being a child run.
        child: bool,
    },
    /// The engine is shutting down and takes no new runs.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The run's owner lost its lease (another executor took the run over); this process
    /// stopped working on it.
    #[error("run {0} is no longer owned by this process")]
    LostOwnership(RunId),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RunNotFound(id) => Self::RunNotFound(id),
            StoreError::DuplicateRun(id) => Self::DuplicateRun(id),
            StoreError::Fenced { run_id } => Self::LostOwnership(run_id),
            StoreError::IdempotencyConflict { key } => Self::IdempotencyConflict { key },
            e => Self::Store(e),
        }
    }
}

fn not_requeueable(run_id: &RunId, status: &kern_store::RunStatus, child: bool) -> String {
    if child {
        format!("run {run_id} is a child run (part of its parent's run): requeue its parent run instead")
    } else {
        format!("run {run_id} is {status}: only a failed or cancelled run can be requeued")
    }
}

/// Shorthand for results of engine operations.
pub type EngineResult<T> = Result<T, EngineError>;
