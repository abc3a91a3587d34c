//! PostgreSQL schema and its versioned migrations.
//!
//! Same tables, columns and indexes as the SQLite schema, with native types: run ids are
//! `UUID`, timestamps `BIGINT` milliseconds since the epoch, JSON values `JSON` (stored as
//! written: unlike `JSONB` it accepts every string JSON can hold, including `\u0000`), and the
//! event payload `TEXT`, returned byte for byte.
//!
//! - **v1**: runs (the queue), events, checkpoints, sessions.
//! - **v2**: `kern_runs.webhook_url`; indexes to list sessions by `updated_at`/`created_at`;
//!   `kern_idempotency` (one row per idempotency key, deleted with its run); `kern_webhooks`
//!   (the webhook outbox, one row per finished run with a URL, deleted with its run; `id` is
//!   an identity column and `history` JSON *text*, appended to byte for byte).
//! - **v3**: `kern_events.scope`: the unit of work (step, model turn, tool call) an event
//!   belongs to, for voiding the events of interrupted work when a run resumes.
//! - **v4**: indexes for backpressure and the operator's views: pending runs by component,
//!   all runs by creation (written only on insert), failed and cancelled runs by creation,
//!   running or paused runs by lease expiry (the claim of expired leases and pauses).
//! - **v5**: `kern_webhooks.outcome`: the status the run reached when the delivery was queued
//!   (`paused`, `completed`, `failed` or `cancelled`); `NULL` in rows written before v5.
//! - **v6**: the listings' indexes cover their filters (top-level, status, user), so that a
//!   count or a deep page reads no run row.
//! - **v7**: `kern_events.envelope`: payloads are stored without the fields their row holds
//!   (`crate::payload`); the offset where those go back, `NULL` for a payload stored whole.
//! - **v8**: `kern_runs.event_envelope`: the envelope a run's events share (`{"session_id":…`
//!   to the end, set by the run's first write), kept once; events are stored without it, and
//!   the event that completes a run without the fields that are the run's output (`output`
//!   then keeps them as the event had them): `kern_events.envelope` codes -1, -2, -3
//!   (`crate::payload`).
//! - **v9**: two indexes every claim and finish changed go (an index update also keeps
//!   PostgreSQL from updating a row in place): `kern_runs_lease`, which no statement used since
//!   v4's `kern_runs_expiring`, and `kern_runs_owner`, whose one query (an owner's running
//!   runs with a cancel request) is served by `kern_runs_cancelling`, an index of only those.
//!
//! This module only creates and upgrades tables; it never touches rows.

use super::ops::driver;
use crate::error::{StoreError, StoreResult};
use crate::migrate::SchemaTx;
use tokio_postgres::{Client, Transaction};

/// Migrations in order; migration `i` brings the schema to version `i + 1`. Never edit a
/// released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // v1: runs, events, checkpoints, sessions.
    r#"
CREATE TABLE kern_runs (
    run_id           UUID PRIMARY KEY,
    session_id       TEXT NOT NULL,
    user_id          TEXT,
    kind             TEXT NOT NULL,
    component_id     TEXT NOT NULL,
    parent_run_id    UUID,
    status           TEXT NOT NULL,
    input            JSON NOT NULL,
    output           JSON,
    error            TEXT,
    background       BOOLEAN NOT NULL,
    attempt          BIGINT NOT NULL DEFAULT 0,
    releases         BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    event_count      BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
) WITH (fillfactor = 80);
CREATE INDEX kern_runs_pending ON kern_runs (created_at, run_id) WHERE status = 'pending';
CREATE INDEX kern_runs_lease ON kern_runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX kern_runs_owner ON kern_runs (lease_owner) WHERE status = 'running';
CREATE INDEX kern_runs_session ON kern_runs (session_id, created_at);
CREATE INDEX kern_runs_component ON kern_runs (component_id, created_at);
CREATE INDEX kern_runs_parent ON kern_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX kern_runs_finished ON kern_runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE kern_events (
    run_id      UUID NOT NULL,
    event_index BIGINT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (run_id, event_index)
);

CREATE TABLE kern_checkpoints (
    run_id UUID NOT NULL,
    key    TEXT NOT NULL,
    value  JSON NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE kern_sessions (
    session_id    TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    component_id  TEXT NOT NULL,
    user_id       TEXT,
    session_name  TEXT,
    session_state JSON,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
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
    run_id       UUID NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX kern_idempotency_run ON kern_idempotency (run_id);

-- The webhook outbox: written with a run's terminal status when the run has a webhook_url.
-- history is a JSON array of attempts ({"at","status_code","error","duration_ms"}) as text.
CREATE TABLE kern_webhooks (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           UUID NOT NULL,
    url              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    history          TEXT NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT
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
CREATE INDEX kern_runs_created ON kern_runs (created_at, run_id) INCLUDE (parent_run_id, status, user_id);
DROP INDEX kern_runs_component;
CREATE INDEX kern_runs_component ON kern_runs (component_id, created_at, run_id) INCLUDE (kind, parent_run_id);
"#,
    // v7: event payloads stored without the fields their row holds (`payload.rs`): the
    // offset at which they go back, `NULL` for a payload stored whole (every row before v7).
    r#"
ALTER TABLE kern_events ADD COLUMN envelope INTEGER;
"#,
    // v8: events stored without what their run holds once (`payload.rs`): the envelope codes
    // -1 (the event's own fields are the run's output), -2 (the rest is the run's
    // event_envelope) and -3 (both); `NULL` event_envelope in runs written before v8.
    r#"
ALTER TABLE kern_runs ADD COLUMN event_envelope TEXT;
"#,
    // v9: two indexes that every claim and finish changed go; the cancel poll gets an index of
    // only the running runs with a cancel request.
    r#"
DROP INDEX kern_runs_lease;
DROP INDEX kern_runs_owner;
CREATE INDEX kern_runs_cancelling ON kern_runs (lease_owner)
    WHERE status = 'running' AND cancel_requested;
"#,
];

/// The first key of the advisory lock that serialises migrations ("Kern" in ASCII); the
/// second is a hash of the schema's name, so starters in different schemas do not wait on
/// each other.
const LOCK_CLASS: i32 = 0x4b65_726e;

/// Brings the schema to the newest version in one transaction and returns the name of the
/// schema holding Kern's tables (`current_schema()`).
///
/// With `create_schema`, that schema is created first if missing (the connection's
/// `search_path` must already name it). Safe to run from several processes at once: each
/// takes a transaction-scoped advisory lock, then reads the version.
pub(crate) async fn migrate(
    client: &mut Client,
    create_schema: Option<&str>,
) -> StoreResult<String> {
    let mut tx = client.transaction().await.map_err(driver)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2::text, current_schema(), '')))",
        &[&LOCK_CLASS, &create_schema],
    )
    .await
    .map_err(driver)?;
    if let Some(schema) = create_schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await
            .map_err(driver)?;
    }
    let schema: Option<String> = tx
        .query_one("SELECT current_schema()::text", &[])
        .await
        .map_err(driver)?
        .get(0);
    let Some(schema) = schema else {
        return Err(StoreError::Config(
            "postgres: the connection's search_path names no existing schema to keep Kern's tables in".into(),
        ));
    };
    crate::migrate::migrate(&mut tx, MIGRATIONS, "postgres").await?;
    tx.commit().await.map_err(driver)?;
    Ok(schema)
}

impl SchemaTx for Transaction<'_> {
    async fn version(&mut self) -> StoreResult<i64> {
        self.batch_execute(
            "CREATE TABLE IF NOT EXISTS kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        )
        .await
        .map_err(driver)?;
        let row = self
            .query_opt("SELECT version FROM kern_schema WHERE id = 1", &[])
            .await
            .map_err(driver)?;
        Ok(row.map(|r| r.get(0)).unwrap_or(0))
    }

    async fn run_migration(&mut self, migration: &str) -> StoreResult<()> {
        self.batch_execute(migration).await.map_err(driver)
    }

    async fn set_version(&mut self, version: i64) -> StoreResult<()> {
        self.execute(
            "INSERT INTO kern_schema (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            &[&version],
        )
        .await
        .map_err(driver)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::ops::{run_by_id, Conn};

    /// Needs `KERN_TEST_PG_URL` (skipped without it, unless `KERN_REQUIRE_PG=1`).
    #[tokio::test]
    async fn a_v1_schema_migrates_to_the_latest_and_keeps_its_runs() {
        let Some(base) = kern_testkit::pg_url() else {
            return;
        };
        let url = kern_testkit::pg_schema_url(&base).await;
        let mut client = super::super::writer::open(&url.parse().unwrap())
            .await
            .unwrap();
        client.batch_execute(MIGRATIONS[0]).await.unwrap();
        client
            .batch_execute(
                "CREATE TABLE kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
                 INSERT INTO kern_schema VALUES (1, 1);
                 INSERT INTO kern_runs (run_id, session_id, kind, component_id, status, input,
                     background, created_at, updated_at)
                 VALUES ('0190b6f2-0000-7000-8000-000000000001', 's', 'workflow', 'wf',
                     'completed', '{}', true, 1, 1);",
            )
            .await
            .unwrap();
        migrate(&mut client, None).await.unwrap();
        let version: i64 = client
            .query_one("SELECT version FROM kern_schema", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!((version, MIGRATIONS.len()), (9, 9));
        let conn = Conn::new(client);
        let run = run_by_id(
            &conn,
            "0190b6f2-0000-7000-8000-000000000001".parse().unwrap(),
        )
        .await
        .unwrap()
        .expect("the v1 run survives");
        assert_eq!(run.webhook_url, None);
        let mut client = conn.client;
        migrate(&mut client, None).await.unwrap();
    }

    /// Needs `KERN_TEST_PG_URL` (skipped without it, unless `KERN_REQUIRE_PG=1`).
    #[tokio::test]
    async fn a_v4_outbox_migrates_to_v5_with_no_outcome() {
        let Some(base) = kern_testkit::pg_url() else {
            return;
        };
        let url = kern_testkit::pg_schema_url(&base).await;
        let mut client = super::super::writer::open(&url.parse().unwrap())
            .await
            .unwrap();
        for sql in &MIGRATIONS[..4] {
            client.batch_execute(sql).await.unwrap();
        }
        let run = "0190b6f2-0000-7000-8000-000000000002";
        client
            .batch_execute(&format!(
                "CREATE TABLE kern_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
                 INSERT INTO kern_schema VALUES (1, 4);
                 INSERT INTO kern_webhooks (run_id, url, status, next_attempt_at, created_at)
                 VALUES ('{run}', 'http://hook', 'pending', 1, 1);"
            ))
            .await
            .unwrap();
        migrate(&mut client, None).await.unwrap();
        let conn = Conn::new(client);
        let list = super::super::read::list_webhooks;
        let hooks = list(&conn, run.parse().unwrap()).await.unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].outcome, None, "a v4 delivery recorded no outcome");
        // An outcome that is no status is reported as corrupt, not guessed.
        conn.client
            .batch_execute("UPDATE kern_webhooks SET outcome = 'bogus'")
            .await
            .unwrap();
        let err = list(&conn, run.parse().unwrap()).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("webhook outcome")),
            "{err}"
        );
    }
}
