//! The SQLite writer: the statements of the write ops ([`WriteTx`] on a connection) and how a
//! batch is executed ([`Transact`]: `BEGIN IMMEDIATE`, the local clock, `COMMIT`).
//!
//! The writer thread drives the shared writer loop (`write::serve`) with
//! `futures::executor::block_on`: every statement here runs synchronously, so the loop's
//! futures only ever wait for the next queued op.

use super::ops::{
    parse_json, parse_uuid, row_to_session, row_to_webhook, run_by_id, run_by_key, SESSION_COLUMNS,
    WEBHOOK_COLUMNS,
};
use super::sql;
use crate::batch::{WriteOp, WriteOut};
use crate::error::StoreResult;
use crate::model::*;
use crate::write::{self, AttemptRecord, Claimable, Failed, Transact, WriteTx};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// The tables whose rows belong to a run (by `run_id`) and go when it is deleted, each with
/// the expression of `kern_runs` that its `run_id` column holds (the events' and checkpoints'
/// is the id's bytes).
const RUN_TABLES: [(&str, &str); 4] = [
    ("kern_events", super::ops::RUN_KEY),
    ("kern_checkpoints", super::ops::RUN_KEY),
    ("kern_idempotency", "run_id"),
    ("kern_webhooks", "run_id"),
];

/// The writer thread's connection.
pub(super) struct Writer {
    pub(super) conn: Connection,
}

impl Transact for Writer {
    const BACKEND: &'static str = "sqlite";

    /// One `BEGIN IMMEDIATE` transaction: the single writer makes each op's reads and writes
    /// one atomic step, and the immediate lock keeps other processes' writers out.
    async fn transact(&mut self, ops: &[&WriteOp]) -> Result<Vec<StoreResult<WriteOut>>, Failed> {
        let now = now_millis();
        let tx = sql(|| {
            self.conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
        })
        .map_err(Failed::before)?;
        // Returning early drops `tx`, which rolls the batch back.
        let outs = write::apply_in_order(&*tx, ops, now)
            .await
            .map_err(Failed::before)?;
        sql(|| tx.commit()).map_err(Failed::before)?;
        Ok(outs)
    }
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

/// A JSON array of strings, for `IN (SELECT value FROM json_each(?))`.
fn json_list(items: impl Iterator<Item = String>) -> String {
    Value::from(items.collect::<Vec<_>>()).to_string()
}

impl WriteTx for Connection {
    async fn run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>> {
        sql(|| run_by_id(self, run_id))
    }

    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>> {
        sql(|| super::ops::event_count(self, run_id))
    }

    async fn insert_run(&self, run: &NewRun, now: Millis) -> StoreResult<Option<RunRecord>> {
        sql(|| insert_run(self, run, now))
    }

    async fn claim_key(&self, key: &Idempotency, run_id: RunId, now: Millis) -> StoreResult<bool> {
        sql(|| {
            let n = self
                .prepare_cached(
                    "INSERT INTO kern_idempotency (key, request_hash, run_id, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
                )?
                .execute(params![key.key, key.request_hash, run_id.to_string(), now])?;
            Ok(n == 1)
        })
    }

    async fn stored_key(&self, key: &str) -> StoreResult<Option<(String, RunId)>> {
        sql(|| {
            self.prepare_cached("SELECT request_hash, run_id FROM kern_idempotency WHERE key = ?1")?
                .query_row([key], |r| Ok((r.get(0)?, parse_uuid(r.get(1)?)?)))
                .optional()
        })
    }

    async fn free_key(&self, key: &str, run_id: Option<RunId>) -> StoreResult<()> {
        sql(|| {
            self.prepare_cached(
                "DELETE FROM kern_idempotency WHERE key = ?1 AND (?2 IS NULL OR run_id = ?2)",
            )?
            .execute(params![key, run_id.map(|id| id.to_string())])?;
            Ok(())
        })
    }

    /// The ids first, then one update per run that re-checks the condition, so that a run
    /// another process claimed in between is skipped.
    async fn claim_some(
        &self,
        which: Claimable,
        req: &ClaimRequest,
        limit: usize,
        now: Millis,
    ) -> StoreResult<Vec<RunRecord>> {
        let select = match which {
            Claimable::Expired => {
                "SELECT run_id FROM kern_runs WHERE status IN ('running', 'paused') AND lease_expires_at < ?1
                 AND kind || ':' || component_id IN (SELECT value FROM json_each(?2))
                 ORDER BY lease_expires_at LIMIT ?3 + 0"
            }
            Claimable::Pending => {
                "SELECT run_id FROM kern_runs WHERE status = 'pending'
                 AND kind || ':' || component_id IN (SELECT value FROM json_each(?2))
                 ORDER BY created_at LIMIT ?3 + 0"
            }
        };
        let components = json_list(req.components.iter().map(|(k, id)| format!("{k}:{id}")));
        sql(|| {
            let ids: Vec<String> = self
                .prepare_cached(select)?
                .query_map(params![now, components, limit as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            // No `RETURNING` on the hot paths: SQLite gathers its rows in a temporary b-tree
            // (a page allocated and zeroed per statement), dearer than reading the row back.
            let mut stmt = self.prepare_cached(
                "UPDATE kern_runs SET status = 'running', attempt = attempt + 1, lease_owner = ?2,
                 lease_expires_at = ?3, started_at = COALESCE(started_at, ?4), updated_at = ?4
                 WHERE run_id = ?1 AND (status = 'pending'
                     OR (status IN ('running', 'paused') AND lease_expires_at < ?4))",
            )?;
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                let params = params![id, req.owner, now + req.lease_ms, now];
                if stmt.execute(params)? == 1 {
                    claimed.push(run_by_key(self, &id)?);
                }
            }
            Ok(claimed)
        })
    }

    async fn renew_leases(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        expires: Millis,
    ) -> StoreResult<HashMap<RunId, (u32, bool)>> {
        let ids = json_list(runs.iter().map(|(id, _)| id.to_string()));
        sql(|| {
            let mut stmt = self.prepare_cached(
                "UPDATE kern_runs SET lease_expires_at = ?2
                 WHERE lease_owner = ?1 AND status = 'running' AND run_id IN (SELECT value FROM json_each(?3))
                 RETURNING run_id, attempt, cancel_requested",
            )?;
            let rows = stmt.query_map(params![owner, expires, ids], |r| {
                Ok((parse_uuid(r.get(0)?)?, (r.get(1)?, r.get(2)?)))
            })?;
            rows.collect()
        })
    }

    async fn write(&self, w: &RunWrite, now: Millis) -> StoreResult<Option<bool>> {
        sql(|| write(self, w, now))
    }

    async fn release(&self, run_id: RunId, attempt: u32, now: Millis) -> StoreResult<bool> {
        sql(|| {
            let n = self
                .prepare_cached(
                    "UPDATE kern_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
                     releases = releases + 1, updated_at = ?3
                     WHERE run_id = ?1 AND attempt = ?2 AND status = 'running'",
                )?
                .execute(params![run_id.to_string(), attempt, now])?;
            Ok(n > 0)
        })
    }

    async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        reason: Option<&str>,
        now: Millis,
    ) -> StoreResult<bool> {
        sql(|| {
            let n = self
                .prepare_cached(
                    "UPDATE kern_runs SET status = 'cancelled', cancel_requested = 1, error = ?3,
                     event_count = event_count + 1, updated_at = ?4, finished_at = ?4,
                     lease_expires_at = NULL
                     WHERE run_id = ?1 AND status IN ('pending', 'paused') AND event_count = ?2",
                )?
                .execute(params![run_id.to_string(), event_count as i64, reason, now])?;
            Ok(n > 0)
        })
    }

    async fn continue_paused(
        &self,
        run_id: RunId,
        event_count: u64,
        now: Millis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE kern_runs SET status = 'pending', background = 1, output = NULL,
                   lease_expires_at = NULL, event_count = event_count + 1, updated_at = ?3
                   WHERE run_id = ?1 AND status = 'paused' AND event_count = ?2";
        queue_again(self, sql, run_id, event_count, now)
    }

    async fn requeue_finished(
        &self,
        run_id: RunId,
        event_count: u64,
        now: Millis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE kern_runs SET status = 'pending', error = NULL, output = NULL,
                   finished_at = NULL, started_at = NULL, cancel_requested = 0, lease_owner = NULL,
                   lease_expires_at = NULL, background = 1, releases = attempt,
                   event_count = event_count + 1, updated_at = ?3
                   WHERE run_id = ?1 AND status IN ('failed', 'cancelled') AND event_count = ?2";
        queue_again(self, sql, run_id, event_count, now)
    }

    async fn request_cancel(&self, run_id: RunId, now: Millis) -> StoreResult<bool> {
        sql(|| {
            let n = self
                .prepare_cached(
                    "UPDATE kern_runs SET cancel_requested = 1, updated_at = ?2
                     WHERE run_id = ?1 AND status IN ('running', 'paused')",
                )?
                .execute(params![run_id.to_string(), now])?;
            Ok(n == 1)
        })
    }

    async fn insert_events(
        &self,
        run_id: RunId,
        first_index: u64,
        events: &[NewEvent],
    ) -> StoreResult<()> {
        sql(|| insert_events(self, run_id, first_index, events))
    }

    async fn upsert_checkpoints(
        &self,
        run_id: RunId,
        checkpoints: &[(String, Box<RawValue>)],
    ) -> StoreResult<()> {
        sql(|| upsert_checkpoints(self, run_id, checkpoints))
    }

    async fn queue_webhook(
        &self,
        run_id: RunId,
        outcome: RunStatus,
        now: Millis,
    ) -> StoreResult<bool> {
        sql(|| queue_webhook(self, run_id, outcome, now))
    }

    async fn purge(&self, before: Millis) -> StoreResult<u64> {
        let finished = "finished_at IS NOT NULL AND finished_at < ?1";
        sql(|| {
            for (table, key) in RUN_TABLES {
                self.execute(
                    &format!(
                        "DELETE FROM {table} WHERE run_id IN (SELECT {key} FROM kern_runs WHERE {finished})"
                    ),
                    [before],
                )?;
            }
            let n = self.execute(&format!("DELETE FROM kern_runs WHERE {finished}"), [before])?;
            Ok(n as u64)
        })
    }

    async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
        now: Millis,
    ) -> StoreResult<Option<SessionRecord>> {
        sql(|| {
            self.prepare_cached(&format!(
                "UPDATE kern_sessions SET session_name = ?2, updated_at = ?3
                 WHERE session_id = ?1 RETURNING {SESSION_COLUMNS}"
            ))?
            .query_row(params![session_id, name, now], row_to_session)
            .optional()
        })
    }

    async fn session_states(&self, session_ids: &[&str]) -> StoreResult<HashMap<String, Value>> {
        sql(|| {
            let mut stmt = self.prepare_cached(
                "SELECT session_state FROM kern_sessions
                 WHERE session_id = ?1 AND session_state IS NOT NULL",
            )?;
            let mut states = HashMap::new();
            for &id in session_ids {
                if let Some(text) = stmt.query_row([id], |r| r.get(0)).optional()? {
                    states.insert(id.to_owned(), parse_json(text)?);
                }
            }
            Ok(states)
        })
    }

    /// The single writer (and `BEGIN IMMEDIATE` across processes) already keeps every other
    /// write out until the commit: nothing to lock.
    async fn lock_session(&self, session_id: &str) -> StoreResult<bool> {
        sql(|| {
            self.prepare_cached("SELECT 1 FROM kern_sessions WHERE session_id = ?1")?
                .exists([session_id])
        })
    }

    async fn session_busy(&self, session_id: &str) -> StoreResult<bool> {
        sql(|| {
            self.prepare_cached(
                "SELECT 1 FROM kern_runs
                 WHERE session_id = ?1 AND status IN ('pending', 'running', 'paused')",
            )?
            .exists([session_id])
        })
    }

    async fn delete_session(&self, session_id: &str) -> StoreResult<u64> {
        sql(|| {
            for (table, key) in RUN_TABLES {
                self.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE run_id IN (SELECT {key} FROM kern_runs WHERE session_id = ?1)"
                ))?
                .execute([session_id])?;
            }
            let n = self
                .prepare_cached("DELETE FROM kern_runs WHERE session_id = ?1")?
                .execute([session_id])?;
            self.prepare_cached("DELETE FROM kern_sessions WHERE session_id = ?1")?
                .execute([session_id])?;
            Ok(n as u64)
        })
    }

    /// The single writer makes select-then-update atomic: no other transaction runs in
    /// between (`BEGIN IMMEDIATE` also locks out other processes).
    async fn claim_webhooks(
        &self,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        sql(|| {
            let mut stmt = self.prepare_cached(&format!(
                "UPDATE kern_webhooks SET next_attempt_at = ?3
                 WHERE id IN (SELECT id FROM kern_webhooks
                              WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2 + 0)
                 RETURNING {WEBHOOK_COLUMNS}"
            ))?;
            let limit = limit.min(i64::MAX as usize) as i64;
            let rows = stmt.query_map(params![now, limit, lease_until], row_to_webhook)?;
            rows.collect()
        })
    }

    async fn record_webhook_attempt(
        &self,
        id: i64,
        a: &AttemptRecord<'_>,
        now: Millis,
    ) -> StoreResult<bool> {
        // Every SET expression reads the row as it was before the update. The history is a
        // JSON array of compact objects: append by text, so it stays exactly as written.
        sql(|| {
            let n = self
                .prepare_cached(
                    "UPDATE kern_webhooks SET
                         history = CASE WHEN history = '[]' THEN '[' || ?2 || ']'
                                   ELSE substr(history, 1, length(history) - 1) || ',' || ?2 || ']' END,
                         attempts = attempts + 1,
                         last_status_code = ?3,
                         last_error = ?4,
                         status = CASE WHEN ?5 = 'delivered' THEN 'delivered'
                                       WHEN ?5 = 'failed' AND status = 'pending' THEN 'failed'
                                       ELSE status END,
                         delivered_at = CASE WHEN ?5 = 'delivered' THEN COALESCE(delivered_at, ?7)
                                             ELSE delivered_at END,
                         next_attempt_at = CASE WHEN ?5 = 'retry' AND status = 'pending' THEN ?6
                                                ELSE next_attempt_at END
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    a.entry,
                    a.status_code,
                    a.error,
                    a.outcome,
                    a.retry_at,
                    now
                ])?;
            Ok(n > 0)
        })
    }
}

/// Runs `sql`, an update that queues a run again (a continue, a requeue) taking the run, its
/// log's length and `now`; whether it matched.
fn queue_again(
    conn: &Connection,
    sql: &str,
    run_id: RunId,
    event_count: u64,
    now: Millis,
) -> StoreResult<bool> {
    let params = params![run_id.to_string(), event_count as i64, now];
    super::sql(|| conn.prepare_cached(sql)?.execute(params)).map(|n| n > 0)
}

fn insert_run(conn: &Connection, run: &NewRun, now: Millis) -> rusqlite::Result<Option<RunRecord>> {
    let (status, attempt, owner, expires, started) = match &run.claim {
        None => (RunStatus::Pending, 0u32, None, None, None),
        Some(l) => (
            RunStatus::Running,
            1,
            Some(l.owner.as_str()),
            Some(now + l.duration_ms),
            Some(now),
        ),
    };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO kern_runs (run_id, session_id, user_id, kind, component_id, parent_run_id,
             status, input, background, attempt, lease_owner, lease_expires_at, created_at,
             updated_at, started_at, webhook_url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15)
             ON CONFLICT (run_id) DO NOTHING",
        )?
        .execute(params![
            run.run_id.to_string(),
            run.session_id,
            run.user_id,
            run.kind.as_str(),
            run.component_id,
            run.parent_run_id.map(|p| p.to_string()),
            status.as_str(),
            json_text(&run.input),
            run.background,
            attempt,
            owner,
            expires,
            now,
            started,
            run.webhook_url,
        ])?;
    // The row as inserted, built here rather than returned or read back (see `claim_some`):
    // every column is a parameter above or its default.
    let inserted = (inserted == 1).then(|| RunRecord {
        run_id: run.run_id,
        session_id: run.session_id.clone(),
        user_id: run.user_id.clone(),
        kind: run.kind,
        component_id: run.component_id.clone(),
        parent_run_id: run.parent_run_id,
        status,
        input: run.input.clone(),
        output: None,
        error: None,
        background: run.background,
        attempt,
        releases: 0,
        lease_owner: owner.map(str::to_owned),
        lease_expires_at: expires,
        cancel_requested: false,
        event_count: 0,
        created_at: now,
        updated_at: now,
        started_at: started,
        finished_at: None,
        webhook_url: run.webhook_url.clone(),
    });
    if inserted.is_some() {
        conn.prepare_cached(
            "INSERT INTO kern_sessions (session_id, kind, component_id, user_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (session_id) DO UPDATE SET updated_at = excluded.updated_at",
        )?
        .execute(params![
            run.session_id,
            run.kind.as_str(),
            run.component_id,
            run.user_id,
            now
        ])?;
    }
    Ok(inserted)
}

/// `None` when the fence did not hold; otherwise whether the write queued a webhook delivery.
fn write(conn: &Connection, w: &RunWrite, now: Millis) -> rusqlite::Result<Option<bool>> {
    let id = w.run_id.to_string();
    let n = w.events.len() as i64;
    let (output, mut rows) = crate::payload::write_rows(w);
    // The run's event envelope is set by its first write that has one, and never changes; the
    // fenced update sets it, and the events that have it are stored without it.
    let envelope = rows.iter().find_map(crate::payload::envelope_of);
    let updated = match &w.finish {
        None => conn
            .prepare_cached(
                "UPDATE kern_runs SET event_count = event_count + ?4, updated_at = ?5,
                 event_envelope = coalesce(event_envelope, ?6)
                 WHERE run_id = ?1 AND attempt = ?2 AND status = 'running' AND event_count = ?3",
            )?
            .execute(params![
                id,
                w.attempt,
                w.first_index as i64,
                n,
                now,
                envelope
            ])?,
        // A pause is not an end: no finished_at, the lease released (counted as a hand-back),
        // its expiry kept in lease_expires_at (claimable again once it passes).
        Some(f) => conn
            .prepare_cached(
                "UPDATE kern_runs SET event_count = event_count + ?4, updated_at = ?5,
                 finished_at = CASE WHEN ?6 = 'paused' THEN NULL ELSE ?5 END,
                 status = ?6, output = ?7, error = ?8,
                 releases = releases + CASE WHEN ?6 = 'paused' THEN 1 ELSE 0 END,
                 lease_owner = NULL, lease_expires_at = ?9,
                 event_envelope = coalesce(event_envelope, ?10)
                 WHERE run_id = ?1 AND attempt = ?2 AND status = 'running' AND event_count = ?3",
            )?
            .execute(params![
                id,
                w.attempt,
                w.first_index as i64,
                n,
                now,
                f.status.as_str(),
                output,
                f.error,
                f.pause_expires_at.filter(|_| f.status == RunStatus::Paused),
                envelope
            ])?,
    };
    if updated != 1 {
        return Ok(None);
    }
    // Read back rather than `RETURNING` (see `claim_some`), when some event could share the
    // envelope or the run ends (then whether it has a webhook to queue, in the same lookup).
    let mut webhook = false;
    if envelope.is_some() || w.finish.is_some() {
        let (shared, has_url): (Option<String>, bool) = conn
            .prepare_cached(
                "SELECT event_envelope, webhook_url IS NOT NULL FROM kern_runs WHERE run_id = ?1",
            )?
            .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if let Some(shared) = shared {
            crate::payload::share_envelope(&mut rows, &shared);
        }
        webhook = has_url;
    }
    insert_rows(conn, w.run_id, w.first_index, &w.events, &rows)?;
    if w.completes() {
        conn.prepare_cached("DELETE FROM kern_checkpoints WHERE run_id = ?1")?
            .execute([&w.run_id.as_bytes()[..]])?;
    } else {
        upsert_checkpoints(conn, w.run_id, &w.checkpoints)?;
    }
    if let Some(state) = &w.session_state {
        conn.prepare_cached(
            "UPDATE kern_sessions SET session_state = ?2, updated_at = ?3
             WHERE session_id = (SELECT session_id FROM kern_runs WHERE run_id = ?1)",
        )?
        .execute(params![id, json_text(state), now])?;
    }
    match &w.finish {
        // A pause notifies too: someone has to act on it.
        Some(f) if webhook => queue_webhook(conn, w.run_id, f.status, now).map(Some),
        _ => Ok(Some(false)),
    }
}

fn insert_events(
    conn: &Connection,
    run_id: RunId,
    first_index: u64,
    events: &[NewEvent],
) -> rusqlite::Result<()> {
    let rows: Vec<_> = (first_index..)
        .zip(events)
        .map(|(i, e)| crate::payload::to_row(e, run_id, i))
        .collect();
    insert_rows(conn, run_id, first_index, events, &rows)
}

/// Inserts `events` with their stored payload and envelope columns (`rows`, one per event).
fn insert_rows(
    conn: &Connection,
    run_id: RunId,
    first_index: u64,
    events: &[NewEvent],
    rows: &[crate::payload::StoredRow<'_>],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at, scope, envelope)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let id = &run_id.as_bytes()[..];
    for (i, (e, (payload, envelope))) in events.iter().zip(rows).enumerate() {
        let index = first_index + i as u64;
        stmt.execute(params![
            id,
            index as i64,
            e.event_type,
            payload,
            e.created_at,
            e.scope.as_deref(),
            envelope
        ])?;
    }
    Ok(())
}

fn upsert_checkpoints(
    conn: &Connection,
    run_id: RunId,
    checkpoints: &[(String, Box<RawValue>)],
) -> rusqlite::Result<()> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    let id = &run_id.as_bytes()[..];
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kern_checkpoints (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for (key, value) in checkpoints {
        stmt.execute(params![id, key, value.get()])?;
    }
    Ok(())
}

/// Queues the webhook delivery of a run that just reached `outcome` (a terminal status or a
/// pause, written by the caller in the same transaction), if the run has a URL; returns
/// whether it did.
fn queue_webhook(
    conn: &Connection,
    run_id: RunId,
    outcome: RunStatus,
    now: Millis,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO kern_webhooks (run_id, url, status, attempts, next_attempt_at, history,
                 created_at, outcome)
             SELECT run_id, webhook_url, 'pending', 0, ?2, '[]', ?2, ?3 FROM kern_runs
             WHERE run_id = ?1 AND webhook_url IS NOT NULL",
        )?
        .execute(params![run_id.to_string(), now, outcome.as_str()])?;
    Ok(n > 0)
}
