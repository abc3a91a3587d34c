//! SQLite schema and its versioned migrations.
//!
//! - **v1**: runs (the queue), events, checkpoints, sessions.
//! - **v2**: `kern_runs.webhook_url`; indexes to list sessions by `updated_at`/`created_at`;
//!   `kern_idempotency` (one row per idempotency key, deleted with its run); `kern_webhooks`
//!   (the webhook outbox, one row per finished run with a URL, deleted with its run).
//! - **v3**: `kern_events.scope`: the unit of work (step, model turn, tool call) an event
//!   belongs to, for voiding the events of interrupted work when a run resumes.
//! - **v4**: indexes for backpressure and the operator's views: pending runs by component
//!   (a per-component pending count), all runs by creation (listings newest first; written
//!   only on insert, since neither column ever changes), failed and cancelled runs by
//!   creation (the dead-letter list and its count), and running or paused runs by lease
//!   expiry (the claim of expired leases and pauses, which scanned the table since it also
//!   takes paused runs).
//! - **v5**: `kern_webhooks.outcome`: the status the run reached when the delivery was queued
//!   (`paused`, `completed`, `failed` or `cancelled`), so that a delivery describes that
//!   outcome even when it is sent after the run moved on. `NULL` in rows written before v5.
//! - **v6**: the listings' indexes cover their filters (top-level, status, user), so that a
//!   count or a deep page reads no run row.
//! - **v7**: `kern_events.envelope`: payloads are stored without the fields their row holds
//!   (`crate::payload`); the offset where those go back, `NULL` for a payload stored whole.
//! - **v8**: `kern_runs.event_envelope`: the envelope a run's events share (`{"session_id":…`
//!   to the end, set by the run's first write), kept once; events are stored without it, and
//!   the event that completes a run without the fields that are the run's output (`output`
//!   then keeps them as the event had them): `kern_events.envelope` codes -1, -2, -3
//!   (`crate::payload`). And `kern_events.run_id` is the run id's 16 bytes (a `BLOB`; the
//!   table is rebuilt), since it is in every event row and in the primary key's index.
//! - **v9**: fewer b-trees written per run, since every page a commit dirties is written to the
//!   WAL again. `kern_checkpoints` (rows that live only while their run does) is a
//!   `WITHOUT ROWID` table keyed by the run id's 16 bytes: one b-tree, not a table plus its
//!   key's index (the table is rebuilt). `kern_runs_lease` (which no statement used since v4's
//!   `kern_runs_expiring`) is dropped, and `kern_runs_owner` (running runs by owner, changed by
//!   every claim and finish) gives way to `kern_runs_cancelling`, which holds only the running
//!   runs with a cancel request: the one statement that looks runs up by owner asks for those.
//!   `kern_events` stays a rowid table on purpose: its rows are appended in rowid order, so a
//!   commit's events share the table's last pages, where in a `WITHOUT ROWID` table keyed by
//!   run the events of the runs in flight land on as many pages as there are runs (measured:
//!   1.9 WAL frames per trivial run for the table and its key's index, 2.0–2.5 without rowid).

use super::sql;
use crate::error::StoreResult;
use crate::migrate::SchemaTx;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// Migrations in order; migration `i` brings the schema to version `i + 1`. Never edit a
/// released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // v1: runs, events, checkpoints, sessions.
    r#"
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
"#,
    // v2: sessions listing, idempotency keys, the webhook outbox.
    r#"
ALTER TABLE kern_runs ADD COLUMN webhook_url TEXT;

CREATE INDEX kern_sessions_updated ON kern_sessions (updated_at, session_id);
CREATE INDEX kern_sessions_created ON kern_sessions (created_at, session_id);
CREATE INDEX kern_sessions_component ON kern_sessions (component_id, updated_at);
CREATE INDEX kern_sessions_user ON kern_sessions (user_id, updated_at) WHERE user_id IS NOT NULL;

-- One row per idempotency key, written with the run it created; deleted with that run.
CREATE TABLE kern_idempotency (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX kern_idempotency_run ON kern_idempotency (run_id);

-- The webhook outbox: written with a run's terminal status when the run has a webhook_url.
-- history is a JSON array of attempts ({"at","status_code","error","duration_ms"}).
CREATE TABLE kern_webhooks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           TEXT NOT NULL,
    url              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    history          TEXT NOT NULL DEFAULT '[]',
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX kern_webhooks_due ON kern_webhooks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX kern_webhooks_run ON kern_webhooks (run_id);
"#,
    // v3: the unit of work each event belongs to, so that a resumed run can void the events
    // of the work it redoes.
    r#"
ALTER TABLE kern_events ADD COLUMN scope TEXT;
"#,
    // v4: backpressure (pending runs per component) and the operator's listings.
    r#"
CREATE INDEX kern_runs_pending_component ON kern_runs (kind, component_id) WHERE status = 'pending';
CREATE INDEX kern_runs_created ON kern_runs (created_at, run_id);
CREATE INDEX kern_runs_dead ON kern_runs (created_at, run_id) WHERE status IN ('failed', 'cancelled');
-- Claims of expired leases and expired pauses (the predicate as the claim writes it).
CREATE INDEX kern_runs_expiring ON kern_runs (lease_expires_at) WHERE status IN ('running', 'paused');
"#,
    // v5: the outcome each webhook delivery reports.
    r#"
ALTER TABLE kern_webhooks ADD COLUMN outcome TEXT;
"#, // v6: listings of runs (the dashboard, /queue/jobs, kern runs list, a component's runs)
    // filtered and counted from the index alone: the top-level filter, status and user are in
    // the index, so a count or a deep page reads no run row (with 100,000 runs, a count went
    // from a 50 ms scan of the table to about 6 ms). Same number of indexes as before.
    r#"
DROP INDEX kern_runs_created;
CREATE INDEX kern_runs_created ON kern_runs (created_at, run_id, parent_run_id, status, user_id);
DROP INDEX kern_runs_component;
CREATE INDEX kern_runs_component ON kern_runs (component_id, created_at, run_id, kind, parent_run_id);
"#,
    // v7: event payloads stored without the fields their row holds (`payload.rs`): the
    // offset at which they go back, `NULL` for a payload stored whole (every row before v7).
    r#"
ALTER TABLE kern_events ADD COLUMN envelope INTEGER;
"#,
    // v8: events stored without what their run holds once (`payload.rs`): the envelope codes
    // -1 (the event's own fields are the run's output), -2 (the rest is the run's
    // event_envelope) and -3 (both); `NULL` event_envelope in runs written before v8.
    // And kern_events.run_id as the id's 16 bytes, not its 36 characters: it is in every
    // event row and again in the primary key's index (80 bytes of a row of about 250).
    r#"
ALTER TABLE kern_runs ADD COLUMN event_envelope TEXT;

CREATE TABLE kern_events_v8 (
    run_id      BLOB NOT NULL,
    event_index INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    scope       TEXT,
    envelope    INTEGER,
    PRIMARY KEY (run_id, event_index)
);
INSERT INTO kern_events_v8
    SELECT unhex(replace(run_id, '-', '')), event_index, event_type, payload, created_at, scope,
        envelope
    FROM kern_events;
DROP TABLE kern_events;
ALTER TABLE kern_events_v8 RENAME TO kern_events;
"#,
    // v9: fewer b-trees written per run (each page a commit dirties goes to the WAL again).
    // Checkpoints live in their primary key's b-tree alone (WITHOUT ROWID: a rowid table keeps
    // a second b-tree for a composite key), keyed by the run id's 16 bytes like the events. Two
    // indexes every claim and finish changed go: the lease index that nothing used since v4,
    // and the owner index, whose one query (an owner's running runs with a cancel request) is
    // served by an index of only those runs.
    r#"
DROP INDEX kern_runs_lease;
DROP INDEX kern_runs_owner;
CREATE INDEX kern_runs_cancelling ON kern_runs (lease_owner)
    WHERE status = 'running' AND cancel_requested = 1;

CREATE TABLE kern_checkpoints_v9 (
    run_id BLOB NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
INSERT INTO kern_checkpoints_v9
    SELECT unhex(replace(run_id, '-', '')), key, value FROM kern_checkpoints;
DROP TABLE kern_checkpoints;
ALTER TABLE kern_checkpoints_v9 RENAME TO kern_checkpoints;
"#,
];

/// Brings the database to the newest schema, in one transaction. Safe to run from several
/// processes at once: `BEGIN IMMEDIATE` serialises them, and each reads the version once it
/// holds the lock.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let mut tx = sql(|| conn.transaction_with_behavior(TransactionBehavior::Immediate))?;
    // Every statement runs synchronously: the runner's futures are ready when polled.
    futures::executor::block_on(crate::migrate::migrate(&mut tx, MIGRATIONS, "sqlite"))?;
    sql(|| tx.commit())
}

impl SchemaTx for Transaction<'_> {
    async fn version(&mut self) -> StoreResult<i64> {
        sql(|| {
            self.execute_batch(
                "CREATE TABLE IF NOT EXISTS kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
            )?;
            let version = self
                .query_row("SELECT version FROM kern_schema WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(version.unwrap_or(0))
        })
    }

    async fn run_migration(&mut self, migration: &str) -> StoreResult<()> {
        sql(|| self.execute_batch(migration))
    }

    async fn set_version(&mut self, version: i64) -> StoreResult<()> {
        sql(|| {
            self.execute(
                "INSERT INTO kern_schema (id, version) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                [version],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_database_migrates_to_the_latest_and_keeps_its_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("v1.db")).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
             INSERT INTO kern_schema VALUES (1, 1);
             INSERT INTO kern_runs (run_id, session_id, kind, component_id, status, input,
                 background, created_at, updated_at)
             VALUES ('0190b6f2-0000-7000-8000-000000000001', 's', 'workflow', 'wf', 'completed',
                 '{}', 1, 1, 1);
             INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at)
             VALUES ('0190b6f2-0000-7000-8000-000000000001', 0, 'WorkflowStarted', '{}', 1);
             INSERT INTO kern_checkpoints (run_id, key, value)
             VALUES ('0190b6f2-0000-7000-8000-000000000001', 'step:0', '{\"content\":1}');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("SELECT version FROM kern_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!((version, MIGRATIONS.len()), (9, 9));
        let scope: Option<String> = conn
            .query_row("SELECT scope FROM kern_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(scope, None, "v1 events belong to no unit");
        let run = super::super::ops::get_run(
            &conn,
            "0190b6f2-0000-7000-8000-000000000001".parse().unwrap(),
        )
        .unwrap()
        .expect("the v1 run survives");
        assert_eq!(run.webhook_url, None);
        // v8 keeps the events' run id as its 16 bytes.
        let key: (String, i64) = conn
            .query_row(
                "SELECT typeof(run_id), length(run_id) FROM kern_events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(key, ("blob".to_string(), 16));
        // v9 keys checkpoints by the same 16 bytes; they load as they were.
        let checkpoints = super::super::ops::load_checkpoints(&conn, run.run_id).unwrap();
        assert_eq!(
            checkpoints,
            [("step:0".to_string(), serde_json::json!({"content": 1}))]
        );
        // Events stored whole before v7 read back as they were.
        let events = super::super::ops::read_events(&conn, run.run_id, 0, 10).unwrap();
        assert_eq!(&*events[0].payload, "{}");
        // Migrating again is a no-op.
        migrate(&mut conn).unwrap();
        for table in ["kern_idempotency", "kern_webhooks"] {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0);
        }
    }

    #[test]
    fn v9_checkpoints_are_one_btree_and_cancels_by_owner_use_their_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let btrees: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'kern_checkpoints' AND rootpage > 0")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(btrees, ["kern_checkpoints"], "no second b-tree for the key");
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map(["x"], |r| r.get::<_, String>(3)).unwrap();
            rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
        };
        let cancels = plan(
            "SELECT run_id FROM kern_runs
             WHERE lease_owner = ?1 AND status = 'running' AND cancel_requested = 1",
        );
        assert!(cancels.contains("kern_runs_cancelling"), "{cancels}");
        let expired = plan(
            "SELECT run_id FROM kern_runs WHERE status IN ('running', 'paused') AND lease_expires_at < ?1",
        );
        assert!(expired.contains("kern_runs_expiring"), "{expired}");
    }

    #[test]
    fn a_v4_outbox_migrates_to_v5_with_no_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("v4.db")).unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        let run = "0190b6f2-0000-7000-8000-000000000002";
        conn.execute_batch(&format!(
            "CREATE TABLE kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
             INSERT INTO kern_schema VALUES (1, 4);
             INSERT INTO kern_webhooks (run_id, url, status, next_attempt_at, created_at)
             VALUES ('{run}', 'http://hook', 'pending', 1, 1);"
        ))
        .unwrap();
        migrate(&mut conn).unwrap();
        let ops = super::super::ops::list_webhooks;
        let hooks = ops(&conn, run.parse().unwrap()).unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].outcome, None, "a v4 delivery recorded no outcome");
        // An outcome that is no status is reported as corrupt, not guessed.
        conn.execute("UPDATE kern_webhooks SET outcome = 'bogus'", [])
            .unwrap();
        let err = ops(&conn, run.parse().unwrap()).unwrap_err().to_string();
        assert!(err.contains("webhook outcome"), "{err}");
    }
}
