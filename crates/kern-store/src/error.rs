//! The store's error type.
//!
//! Every variant's message is whole: it includes the message of whatever caused it (the
//! database driver's, the operating system's). So no variant also returns that cause as its
//! [`source`](std::error::Error::source): a report that prints an error and then its chain of
//! sources (`anyhow`'s `{:#}`, `kern`'s one-line errors) names each cause once, and a plain
//! `to_string()` (the HTTP API's error body, a Python exception) loses nothing.

use crate::model::RunId;
use std::fmt;

/// Why a store operation failed.
///
/// Callers branch on [`StoreError::Fenced`] and [`StoreError::Conflict`] (expected outcomes of
/// concurrency control) and on the decided refusals (`DuplicateRun`, `*NotFound`,
/// `SessionBusy`, `IdempotencyConflict`); the other variants are infrastructure failures to
/// report. A refused operation wrote nothing.
///
/// The variants are the same whichever backends the crate is built with, and no driver's
/// error type appears in them (see [`DriverError`]).
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
    /// An error from SQLite (reported by the SQLite backend only).
    #[error("sqlite: {0}")]
    Sqlite(DriverError),
    /// An error from PostgreSQL (reported by the PostgreSQL backend only).
    #[error("postgres: {0}")]
    Postgres(DriverError),
    /// No PostgreSQL connection could be taken from the pool, or the connection broke while
    /// a commit was in flight (the write may or may not have landed).
    #[error("postgres pool: {0}")]
    Pool(String),
    /// An I/O error (creating the database file or its directory).
    #[error("i/o: {0}")]
    Io(std::io::Error),
}

// Not `#[from]`: that would also make the error the variant's source, and reports would print
// its message twice (see the module's documentation).
impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// An error reported by a database driver (SQLite or PostgreSQL): its message, and the
/// driver's own error for the backend's inspection.
///
/// Opaque on purpose: callers branch on [`StoreError`]'s variants, never on a driver's error
/// type, so the store's public API does not change when a driver does.
///
/// Its message is the driver's whole report: the driver's error, then each of its causes
/// whose message it does not already contain (drivers differ: `tokio-postgres` leaves the
/// server's `ERROR: …` or the refused connection to its causes, `rusqlite` repeats its
/// message in its cause). So a `DriverError` has no [`source`](std::error::Error::source).
pub struct DriverError(Box<dyn std::error::Error + Send + Sync>);

impl DriverError {
    /// Wraps a driver's error.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(e))
    }

    /// The driver's error, if it is a `T`: what a backend inspects to tell a deadlock or a
    /// lost connection from other failures.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut message = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let said = c.to_string();
            if !message.contains(&said) {
                message.push_str(": ");
                message.push_str(&said);
            }
            cause = c.source();
        }
        f.write_str(&message)
    }
}

impl fmt::Debug for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for DriverError {}

impl StoreError {
    /// True for the expected outcomes of concurrency control ([`Fenced`](Self::Fenced),
    /// [`Conflict`](Self::Conflict)) as opposed to infrastructure failures.
    pub fn is_concurrency(&self) -> bool {
        matches!(self, Self::Fenced { .. } | Self::Conflict { .. })
    }
}

/// Shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    /// An error and its chain of sources on one line, as `anyhow`'s `{:#}` (and so `kern`'s
    /// one-line error report) prints them.
    fn report(e: &dyn Error) -> String {
        let mut out = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }

    /// What a caller adds around a store error (`kern` says which database it was opening).
    #[derive(Debug, thiserror::Error)]
    #[error("opening the database")]
    struct Opening(#[source] StoreError);

    #[test]
    fn an_io_cause_appears_once_in_a_chained_report() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no way in");
        let report = report(&Opening(io.into()));
        assert_eq!(report, "opening the database: i/o: no way in");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_sqlite_cause_appears_once_in_a_chained_report() {
        // A directory is no database file: SQLite cannot open it.
        let dir = tempfile::tempdir().unwrap();
        let err = crate::sqlite::SqliteStore::open(dir.path())
            .await
            .err()
            .expect("a directory is refused");
        assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
        let report = report(&Opening(err));
        assert_eq!(
            report.matches("unable to open database file").count(),
            1,
            "{report}"
        );
        assert!(
            report.starts_with("opening the database: sqlite: "),
            "{report}"
        );
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn a_postgres_cause_appears_once_in_a_chained_report() {
        // Port 1 on loopback: nothing listens, so the driver fails to connect at once.
        let err = crate::postgres::PostgresStore::connect("postgres://kern@127.0.0.1:1/kern")
            .await
            .err()
            .expect("nothing listens on port 1");
        assert!(matches!(err, StoreError::Postgres(_)), "{err:?}");
        let report = report(&Opening(err));
        // tokio-postgres says why (the refused connection) in its error's source only: the
        // message has it, once.
        assert_eq!(report.matches("error connecting").count(), 1, "{report}");
        assert_eq!(report.matches("refused").count(), 1, "{report}");
        assert!(
            report.starts_with("opening the database: postgres: "),
            "{report}"
        );
    }
}
