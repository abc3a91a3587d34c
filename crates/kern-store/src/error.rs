//! The store's error type.

use crate::model::RunId;

/// Why a store operation failed.
///
/// Callers branch on [`StoreError::Fenced`] and [`StoreError::Conflict`] (expected outcomes of
/// concurrency control) and on the decided refusals (`DuplicateRun`, `*NotFound`,
/// `SessionBusy`, `IdempotencyConflict`); the other variants are infrastructure failures to
/// report. A refused operation wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A write for a run was rejected because the writer no longer owns the run: its `attempt`
    /// is stale (another executor claimed the run), the run is no longer `running`, or the
    /// event indices it tried to append do not continue the log. Nothing of the write landed.
    #[error("write to run {run_id} rejected: the writer no longer owns the run (stale attempt, finished run or index mismatch)")]
    Fenced {
        /// The run the rejected write was for.
        run_id: RunId,
    },
    /// An optimistic update lost a race (for example cancelling a pending run that was claimed
    /// in the meantime). Re-read the run and decide again.
    #[error("run {run_id} changed concurrently; re-read it and retry")]
    Conflict {
        /// The run that changed.
        run_id: RunId,
    },
    /// A run with this id already exists.
    #[error("a run with id {0} already exists")]
    DuplicateRun(RunId),
    /// The run does not exist.
    #[error("run {0} not found")]
    RunNotFound(RunId),
    /// The session does not exist.
    #[error("session {0} not found")]
    SessionNotFound(String),
    /// [`Store::delete_session`](crate::Store::delete_session) was refused because a run of the
    /// session (this one) is still `pending`, `running` or `paused`. Nothing was deleted; cancel
    /// or finish the run, then retry.
    #[error("session {0} has a run that is still pending, running or paused")]
    SessionBusy(String),
    /// [`Store::create_run`](crate::Store::create_run) was given an idempotency key that is
    /// already stored with a *different* request hash: the key was reused for another request.
    /// Nothing was written.
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyConflict {
        /// The reused key.
        key: String,
    },
    /// No webhook delivery has this id (it never existed, or its run was purged or its
    /// session deleted).
    #[error("webhook delivery {0} not found")]
    WebhookNotFound(i64),
    /// The SQLite database file does not exist, and the store was opened with creation off
    /// ([`connect_existing`](crate::connect_existing),
    /// [`SqliteOptions::create`](crate::sqlite::SqliteOptions::create)). Nothing was created.
    #[error("no database at {}", .0.display())]
    DatabaseNotFound(std::path::PathBuf),
    /// The database URL or path could not be understood.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// The database schema is newer than this version of Kern understands.
    #[error("database schema version {found} is newer than the newest this build knows ({known}); upgrade Kern")]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this build can migrate to.
        known: i64,
    },
    /// A stored value could not be decoded (corrupt or hand-edited row).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The store was shut down; no further operations are accepted.
    #[error("the store is closed")]
    Closed,
    /// An error from SQLite.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// An error from PostgreSQL.
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be taken from the pool.
    #[cfg(feature = "postgres")]
    #[error("postgres pool: {0}")]
    Pool(String),
    /// An I/O error (creating the database file or its directory).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// True for the expected outcomes of concurrency control ([`Fenced`](Self::Fenced),
    /// [`Conflict`](Self::Conflict)) as opposed to infrastructure failures.
    pub fn is_concurrency(&self) -> bool {
        matches!(self, Self::Fenced { .. } | Self::Conflict { .. })
    }
}

/// Shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;
