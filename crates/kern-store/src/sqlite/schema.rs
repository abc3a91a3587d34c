//! SQLite schema and its versioned migrations.

use crate::error::{StoreError, StoreResult};
use rusqlite::Connection;

/// Migrations in order; migration `i` brings the schema to version `i + 1`. Never edit a
/// released migration: append a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE kern_runs (
    run_id           TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL,
    user_id          TEXT,
    kind             TEXT NOT NULL,
    component_id     TEXT NOT NULL,
    parent_run_id    TEXT,
    status           TEXT NOT NULL,
    input            TEXT NOT NULL,
    output           TEXT,
    error            TEXT,
    background       INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    releases         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    event_count      INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);
CREATE INDEX kern_runs_pending ON kern_runs (created_at) WHERE status = 'pending';
CREATE INDEX kern_runs_lease ON kern_runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX kern_runs_owner ON kern_runs (lease_owner) WHERE status = 'running';
CREATE INDEX kern_runs_session ON kern_runs (session_id, created_at);
CREATE INDEX kern_runs_component ON kern_runs (component_id, created_at);
CREATE INDEX kern_runs_parent ON kern_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX kern_runs_finished ON kern_runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE kern_events (
    run_id      TEXT NOT NULL,
    event_index INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, event_index)
);

CREATE TABLE kern_checkpoints (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE kern_sessions (
    session_id    TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    component_id  TEXT NOT NULL,
    user_id       TEXT,
    session_name  TEXT,
    session_state TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
"#];

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database to the newest schema, one transaction per migration. Safe to run from
/// several processes at once: `BEGIN IMMEDIATE` serialises them and each re-reads the version.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    )?;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx
            .query_row("SELECT version FROM kern_schema WHERE id = 1", [], |r| {
                r.get(0)
            })
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })?;
        if version > LATEST {
            return Err(StoreError::SchemaTooNew {
                found: version,
                known: LATEST,
            });
        }
        if version == LATEST {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.execute(
            "INSERT INTO kern_schema (id, version) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            [version + 1],
        )?;
        tx.commit()?;
        tracing::debug!(version = version + 1, "sqlite schema migrated");
    }
}
