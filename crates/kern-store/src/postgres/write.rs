//! The statements of the write ops in PostgreSQL's SQL ([`WriteTx`] on the writer's
//! connection). What each op decides is shared with SQLite (`write::apply`); how a batch runs
//! (the transaction, the database clock, pipelining, retries, `NOTIFY`) is `writer.rs`.
//!
//! The hot paths are single statements with data-modifying CTEs, so that each costs one
//! round trip: a run's write (events, checkpoints, session state and the webhook outbox row
//! with the fenced update of the run), the insert of a run with its session, a claim.

use super::ops::{get, row_to_run, row_to_session, row_to_webhook, run_by_id, to_i64, Conn, Db};
use crate::error::StoreResult;
use crate::model::*;
use crate::write::{AttemptRecord, Claimable, WriteTx};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;
use tokio_postgres::types::{Json, ToSql};

/// The claim of one kind of run: the candidates `FOR UPDATE SKIP LOCKED`, then their update,
/// returned in the candidates' order.
macro_rules! claim_sql {
    ($cond:literal, $order:literal) => {
        concat!(
            "WITH c AS (
                 SELECT run_id, ",
            $order,
            " AS ord FROM kern_runs
                 WHERE ",
            $cond,
            " AND (kind, component_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
                 ORDER BY ",
            $order,
            ", run_id LIMIT $4
                 FOR UPDATE SKIP LOCKED
             ), u AS (
                 UPDATE kern_runs r SET status = 'running', attempt = r.attempt + 1,
                     lease_owner = $5, lease_expires_at = $6,
                     started_at = COALESCE(r.started_at, $1), updated_at = $1
                 FROM c WHERE r.run_id = c.run_id
                 RETURNING r.*, c.ord
             )
             SELECT ",
            run_columns!(),
            " FROM u ORDER BY ord, run_id"
        )
    };
}

/// The tail shared by both variants of the write statement: the events, checkpoints and
/// session state land only if the fenced update of the run (`u`) matched. Ends after the last
/// CTE: each variant adds its own final `SELECT`.
macro_rules! write_tail {
    () => {
        "RETURNING run_id, session_id, status, webhook_url, event_envelope
         ), e AS (
             INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at, scope, envelope)
             SELECT u.run_id, $3::bigint + x.ord - 1, x.event_type,
                 CASE WHEN x.shares = u.event_envelope THEN x.shared ELSE x.payload END,
                 x.created_at, x.scope,
                 CASE WHEN x.shares = u.event_envelope THEN x.shared_code ELSE x.envelope END
             FROM u, unnest($6::text[], $7::text[], $8::bigint[], $12::text[], $13::int[],
                     $15::text[], $16::text[], $17::int[])
                 WITH ORDINALITY
                 AS x(event_type, payload, created_at, scope, envelope, shares, shared, shared_code, ord)
         ), c AS (
             INSERT INTO kern_checkpoints (run_id, key, value)
             SELECT u.run_id, k.key, k.value FROM u, unnest($9::text[], $10::json[]) AS k(key, value)
             WHERE u.status <> 'completed'
             ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value
         ), s AS (
             UPDATE kern_sessions SET session_state = $11::json, updated_at = $5
             FROM u WHERE $11::json IS NOT NULL AND kern_sessions.session_id = u.session_id
         )"
    };
}

/// Deletes the runs in `r` (a CTE returning `run_id`s) with everything they own; ends after
/// the last CTE.
macro_rules! delete_runs_in_r {
    () => {
        "), e AS (
             DELETE FROM kern_events WHERE run_id IN (SELECT run_id FROM r)
         ), c AS (
             DELETE FROM kern_checkpoints WHERE run_id IN (SELECT run_id FROM r)
         ), i AS (
             DELETE FROM kern_idempotency WHERE run_id IN (SELECT run_id FROM r)
         ), w AS (
             DELETE FROM kern_webhooks WHERE run_id IN (SELECT run_id FROM r)
         )"
    };
}

impl WriteTx for Conn {
    async fn run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>> {
        run_by_id(self, run_id).await
    }

    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>> {
        super::read::event_count(self, run_id).await
    }

    async fn insert_run(&self, run: &NewRun, now: Millis) -> StoreResult<Option<RunRecord>> {
        let (status, attempt, owner, expires, started) = match &run.claim {
            None => ("pending", 0i64, None, None, None),
            Some(l) => (
                "running",
                1,
                Some(l.owner.as_str()),
                Some(now + l.duration_ms),
                Some(now),
            ),
        };
        let sql = concat!(
            "WITH r AS (
                 INSERT INTO kern_runs (run_id, session_id, user_id, kind, component_id,
                     parent_run_id, status, input, background, attempt, lease_owner,
                     lease_expires_at, created_at, updated_at, started_at, webhook_url)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)
                 ON CONFLICT (run_id) DO NOTHING
                 RETURNING *
             ), s AS (
                 INSERT INTO kern_sessions (session_id, kind, component_id, user_id, created_at, updated_at)
                 SELECT session_id, kind, component_id, user_id, created_at, created_at FROM r
                 ON CONFLICT (session_id) DO UPDATE SET updated_at = excluded.updated_at
             )
             SELECT ",
            run_columns!(),
            " FROM r"
        );
        let params: [&(dyn ToSql + Sync); 15] = [
            &run.run_id,
            &run.session_id,
            &run.user_id,
            &run.kind.as_str(),
            &run.component_id,
            &run.parent_run_id,
            &status,
            &run.input,
            &run.background,
            &attempt,
            &owner,
            &expires,
            &now,
            &started,
            &run.webhook_url,
        ];
        let row = self.query_opt(sql, &params).await?;
        row.as_ref().map(row_to_run).transpose()
    }

    /// `ON CONFLICT DO NOTHING`: an insert of a key another transaction is inserting waits
    /// for that transaction, then inserts nothing if it committed; the next statement (a
    /// read, under READ COMMITTED) then sees the committed key.
    async fn claim_key(&self, key: &Idempotency, run_id: RunId, now: Millis) -> StoreResult<bool> {
        let sql = "INSERT INTO kern_idempotency (key, request_hash, run_id, created_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING";
        let params: [&(dyn ToSql + Sync); 4] = [&key.key, &key.request_hash, &run_id, &now];
        Ok(self.execute(sql, &params).await? == 1)
    }

    async fn stored_key(&self, key: &str) -> StoreResult<Option<(String, RunId)>> {
        let sql = "SELECT request_hash, run_id FROM kern_idempotency WHERE key = $1";
        match self.query_opt(sql, &[&key]).await? {
            Some(row) => Ok(Some((get(&row, 0)?, get(&row, 1)?))),
            None => Ok(None),
        }
    }

    async fn free_key(&self, key: &str, run_id: Option<RunId>) -> StoreResult<()> {
        let sql = "DELETE FROM kern_idempotency
                   WHERE key = $1 AND ($2::uuid IS NULL OR run_id = $2)";
        self.execute(sql, &[&key, &run_id]).await?;
        Ok(())
    }

    /// `FOR UPDATE SKIP LOCKED`: rows another transaction is claiming (or writing) are
    /// skipped rather than waited for, and a row changed since the snapshot is re-checked
    /// before it is taken, so concurrent claimers never get the same run nor block each
    /// other.
    async fn claim_some(
        &self,
        which: Claimable,
        req: &ClaimRequest,
        limit: usize,
        now: Millis,
    ) -> StoreResult<Vec<RunRecord>> {
        let sql = match which {
            Claimable::Expired => claim_sql!(
                "status IN ('running', 'paused') AND lease_expires_at < $1",
                "lease_expires_at"
            ),
            Claimable::Pending => claim_sql!("status = 'pending'", "created_at"),
        };
        let kinds: Vec<&str> = req.components.iter().map(|(k, _)| k.as_str()).collect();
        let ids: Vec<&str> = req.components.iter().map(|(_, id)| id.as_str()).collect();
        let (limit, expires) = (limit as i64, now + req.lease_ms);
        let params: [&(dyn ToSql + Sync); 6] = [&now, &kinds, &ids, &limit, &req.owner, &expires];
        let rows = self.query(sql, &params).await?;
        rows.iter().map(row_to_run).collect()
    }

    async fn renew_leases(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        expires: Millis,
    ) -> StoreResult<HashMap<RunId, (u32, bool)>> {
        let ids: Vec<RunId> = runs.iter().map(|(id, _)| *id).collect();
        let sql = "UPDATE kern_runs SET lease_expires_at = $2
                   WHERE lease_owner = $1 AND status = 'running' AND run_id = ANY($3)
                   RETURNING run_id, attempt, cancel_requested";
        let rows = self.query(sql, &[&owner, &expires, &ids]).await?;
        let mut held = HashMap::with_capacity(rows.len());
        for r in &rows {
            let attempt =
                u32::try_from(get::<i64>(r, 1)?).map_err(|e| super::ops::corrupt("attempt", e))?;
            held.insert(get::<RunId>(r, 0)?, (attempt, get(r, 2)?));
        }
        Ok(held)
    }

    async fn write(&self, w: &RunWrite, now: Millis) -> StoreResult<Option<bool>> {
        let first = to_i64(w.first_index, "first_index")?;
        let n = w.events.len() as i64;
        let types: Vec<&str> = w.events.iter().map(|e| e.event_type.as_str()).collect();
        let (output, stored) = crate::payload::write_rows(w);
        let payloads: Vec<&str> = stored.iter().map(|(p, _)| &**p).collect();
        let envelopes: Vec<Option<i32>> = stored.iter().map(|(_, e)| e.map(offset)).collect();
        // The run's event envelope is set by its first write that has one and never changes;
        // each event goes in shared form if its envelope is the run's (decided in the
        // statement, by the fenced update's `RETURNING`), else as it is.
        let sharing: Vec<_> = stored.iter().map(crate::payload::shared_form).collect();
        let shares: Vec<Option<&str>> = sharing.iter().map(|s| s.as_ref().map(|s| &*s.0)).collect();
        // The envelope the run gets if it has none yet: the first event's that has one.
        let envelope: Option<&str> = shares.iter().copied().flatten().next();
        let shared: Vec<Option<&str>> = sharing
            .iter()
            .map(|s| s.as_ref().map(|s| &*s.1 .0))
            .collect();
        let shared_codes: Vec<Option<i32>> = sharing
            .iter()
            .map(|s| s.as_ref().and_then(|s| s.1 .1).map(offset))
            .collect();
        let times: Vec<i64> = w.events.iter().map(|e| e.created_at).collect();
        let scopes: Vec<Option<&str>> = w.events.iter().map(|e| e.scope.as_deref()).collect();
        // One statement cannot upsert a key twice: keep the last value of each key, as a
        // sequence of upserts would.
        let mut keys: Vec<&str> = Vec::with_capacity(w.checkpoints.len());
        let mut values: Vec<Json<&RawValue>> = Vec::with_capacity(w.checkpoints.len());
        for (i, (key, value)) in w.checkpoints.iter().enumerate() {
            if !w.checkpoints[i + 1..].iter().any(|(k, _)| k == key) {
                keys.push(key);
                values.push(Json(value));
            }
        }
        let attempt = i64::from(w.attempt);
        let common: [&(dyn ToSql + Sync); 17] = [
            &w.run_id,
            &attempt,
            &first,
            &n,
            &now,
            &types,
            &payloads,
            &times,
            &keys,
            &values,
            &w.session_state,
            &scopes,
            &envelopes,
            &envelope,
            &shares,
            &shared,
            &shared_codes,
        ];
        let (changed, webhooks): (i64, i64) = match &w.finish {
            None => {
                let sql = concat!(
                    "WITH u AS (
                         UPDATE kern_runs SET event_count = event_count + $4, updated_at = $5,
                             event_envelope = coalesce(event_envelope, $14)
                         WHERE run_id = $1 AND attempt = $2 AND status = 'running'
                             AND event_count = $3::bigint ",
                    write_tail!(),
                    " SELECT count(*) FROM u"
                );
                (get(&self.query_one(sql, &common).await?, 0)?, 0)
            }
            Some(f) => {
                let sql = concat!(
                    "WITH u AS (
                         UPDATE kern_runs SET event_count = event_count + $4, updated_at = $5,
                             finished_at = CASE WHEN $18::text = 'paused' THEN NULL ELSE $5::bigint END,
                             status = $18::text, output = $19::text::json, error = $20,
                             releases = releases + CASE WHEN $18::text = 'paused' THEN 1 ELSE 0 END,
                             lease_owner = NULL, lease_expires_at = $21::bigint,
                             event_envelope = coalesce(event_envelope, $14)
                         WHERE run_id = $1 AND attempt = $2 AND status = 'running'
                             AND event_count = $3::bigint ",
                    write_tail!(),
                    // A completed run's checkpoints go (its own were not written: the CTEs
                    // of one statement share a snapshot, so this could not delete them).
                    ", d AS (
                         DELETE FROM kern_checkpoints
                         WHERE run_id IN (SELECT run_id FROM u WHERE status = 'completed')
                     )",
                    // The webhook outbox row, in the same statement as the terminal status (or
                    // pause), which it records as its outcome.
                    ", w AS (
                         INSERT INTO kern_webhooks (run_id, url, status, attempts,
                             next_attempt_at, history, created_at, outcome)
                         SELECT u.run_id, u.webhook_url, 'pending', 0, $5, '[]', $5, u.status
                         FROM u
                         WHERE u.webhook_url IS NOT NULL
                             AND u.status IN ('completed', 'failed', 'cancelled', 'paused')
                         RETURNING id
                     )
                     SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM w)"
                );
                let status = f.status.as_str();
                let expires = f.pause_expires_at.filter(|_| f.status == RunStatus::Paused);
                let mut params: Vec<&(dyn ToSql + Sync)> = common.to_vec();
                params.extend([&status as &(dyn ToSql + Sync), &output, &f.error, &expires]);
                let row = self.query_one(sql, &params).await?;
                (get(&row, 0)?, get(&row, 1)?)
            }
        };
        Ok((changed > 0).then_some(webhooks > 0))
    }

    async fn release(&self, run_id: RunId, attempt: u32, now: Millis) -> StoreResult<bool> {
        let sql =
            "UPDATE kern_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
                   releases = releases + 1, updated_at = $3
                   WHERE run_id = $1 AND attempt = $2 AND status = 'running'";
        let n = self
            .execute(sql, &[&run_id, &i64::from(attempt), &now])
            .await?;
        Ok(n > 0)
    }

    async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        reason: Option<&str>,
        now: Millis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE kern_runs SET status = 'cancelled', cancel_requested = true, error = $3,
                   event_count = event_count + 1, updated_at = $4, finished_at = $4,
                   lease_expires_at = NULL
                   WHERE run_id = $1 AND status IN ('pending', 'paused') AND event_count = $2";
        let count = to_i64(event_count, "event_count")?;
        let n = self.execute(sql, &[&run_id, &count, &reason, &now]).await?;
        Ok(n > 0)
    }

    async fn continue_paused(
        &self,
        run_id: RunId,
        event_count: u64,
        now: Millis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE kern_runs SET status = 'pending', background = true, output = NULL,
                   lease_expires_at = NULL, event_count = event_count + 1, updated_at = $3
                   WHERE run_id = $1 AND status = 'paused' AND event_count = $2";
        queue_again(self, sql, run_id, event_count, now).await
    }

    async fn requeue_finished(
        &self,
        run_id: RunId,
        event_count: u64,
        now: Millis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE kern_runs SET status = 'pending', error = NULL, output = NULL,
                   finished_at = NULL, started_at = NULL, cancel_requested = false, lease_owner = NULL,
                   lease_expires_at = NULL, background = true, releases = attempt,
                   event_count = event_count + 1, updated_at = $3
                   WHERE run_id = $1 AND status IN ('failed', 'cancelled') AND event_count = $2";
        queue_again(self, sql, run_id, event_count, now).await
    }

    async fn request_cancel(&self, run_id: RunId, now: Millis) -> StoreResult<bool> {
        let sql = "UPDATE kern_runs SET cancel_requested = true, updated_at = $2
                   WHERE run_id = $1 AND status IN ('running', 'paused')";
        Ok(self.execute(sql, &[&run_id, &now]).await? == 1)
    }

    async fn insert_events(
        &self,
        run_id: RunId,
        first_index: u64,
        events: &[NewEvent],
    ) -> StoreResult<()> {
        let sql =
            "INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at, scope, envelope)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let first = to_i64(first_index, "event_index")?;
        for (i, e) in events.iter().enumerate() {
            let index = first + i as i64;
            let (payload, envelope) = crate::payload::to_row(e, run_id, first_index + i as u64);
            let envelope = envelope.map(offset);
            let params: [&(dyn ToSql + Sync); 7] = [
                &run_id,
                &index,
                &e.event_type,
                &&*payload,
                &e.created_at,
                &e.scope.as_deref(),
                &envelope,
            ];
            self.execute(sql, &params).await?;
        }
        Ok(())
    }

    async fn upsert_checkpoints(
        &self,
        run_id: RunId,
        checkpoints: &[(String, Box<RawValue>)],
    ) -> StoreResult<()> {
        let sql = "INSERT INTO kern_checkpoints (run_id, key, value) VALUES ($1, $2, $3)
                   ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value";
        for (key, value) in checkpoints {
            self.execute(sql, &[&run_id, key, &Json(&**value)]).await?;
        }
        Ok(())
    }

    async fn queue_webhook(
        &self,
        run_id: RunId,
        outcome: RunStatus,
        now: Millis,
    ) -> StoreResult<bool> {
        let sql = "INSERT INTO kern_webhooks (run_id, url, status, attempts, next_attempt_at,
                       history, created_at, outcome)
                   SELECT run_id, webhook_url, 'pending', 0, $2, '[]', $2, $3 FROM kern_runs
                   WHERE run_id = $1 AND webhook_url IS NOT NULL";
        let n = self
            .execute(sql, &[&run_id, &now, &outcome.as_str()])
            .await?;
        Ok(n > 0)
    }

    async fn purge(&self, before: Millis) -> StoreResult<u64> {
        let sql = concat!(
            "WITH r AS (
                 DELETE FROM kern_runs WHERE finished_at IS NOT NULL AND finished_at < $1
                 RETURNING run_id
             ",
            delete_runs_in_r!(),
            " SELECT count(*) FROM r"
        );
        let n: i64 = get(&self.query_one(sql, &[&before]).await?, 0)?;
        Ok(n as u64)
    }

    async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
        now: Millis,
    ) -> StoreResult<Option<SessionRecord>> {
        let sql = concat!(
            "UPDATE kern_sessions SET session_name = $2, updated_at = $3
             WHERE session_id = $1 RETURNING ",
            session_columns!()
        );
        let row = self.query_opt(sql, &[&session_id, &name, &now]).await?;
        row.as_ref().map(row_to_session).transpose()
    }

    async fn session_states(&self, session_ids: &[&str]) -> StoreResult<HashMap<String, Value>> {
        let sql = "SELECT session_id, session_state FROM kern_sessions
                   WHERE session_id = ANY($1) AND session_state IS NOT NULL";
        let rows = self.query(sql, &[&session_ids]).await?;
        rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect()
    }

    /// Locks the session row (`FOR UPDATE`) until the commit. Creating a run in a session
    /// upserts that row, so a create in another transaction either committed before the lock
    /// (its run is seen by the busy check and the delete, each statement reading the latest
    /// committed data) or waits for this transaction and then recreates the session around
    /// its run. Terminal runs never change status, so the busy check cannot go stale.
    async fn lock_session(&self, session_id: &str) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM kern_sessions WHERE session_id = $1 FOR UPDATE";
        Ok(self.query_opt(sql, &[&session_id]).await?.is_some())
    }

    async fn session_busy(&self, session_id: &str) -> StoreResult<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM kern_runs
                       WHERE session_id = $1 AND status IN ('pending', 'running', 'paused'))";
        get(&self.query_one(sql, &[&session_id]).await?, 0)
    }

    async fn delete_session(&self, session_id: &str) -> StoreResult<u64> {
        let sql = concat!(
            "WITH r AS (
                 DELETE FROM kern_runs WHERE session_id = $1 RETURNING run_id
             ",
            delete_runs_in_r!(),
            ", s AS (
                 DELETE FROM kern_sessions WHERE session_id = $1
             )
             SELECT count(*) FROM r"
        );
        let n: i64 = get(&self.query_one(sql, &[&session_id]).await?, 0)?;
        Ok(n as u64)
    }

    /// `FOR UPDATE SKIP LOCKED`: rows another dispatcher is claiming are skipped, and a row
    /// claimed (its `next_attempt_at` pushed) since this statement's snapshot fails the
    /// re-check, so concurrent claimers never get the same row nor wait for each other.
    async fn claim_webhooks(
        &self,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = "WITH c AS (
                       SELECT id FROM kern_webhooks
                       WHERE status = 'pending' AND next_attempt_at <= $1
                       ORDER BY id LIMIT $2
                       FOR UPDATE SKIP LOCKED
                   )
                   UPDATE kern_webhooks w SET next_attempt_at = $3 FROM c WHERE w.id = c.id
                   RETURNING w.id, w.run_id, w.url, w.status, w.attempts, w.next_attempt_at,
                       w.last_status_code, w.last_error, w.history, w.created_at,
                       w.delivered_at, w.outcome";
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self.query(sql, &[&now, &limit, &lease_until]).await?;
        rows.iter().map(row_to_webhook).collect()
    }

    async fn record_webhook_attempt(
        &self,
        id: i64,
        a: &AttemptRecord<'_>,
        now: Millis,
    ) -> StoreResult<bool> {
        let code = a.status_code.map(i32::from);
        // Every SET expression reads the row as it was before the update. The history is JSON
        // text, appended to as text so that it stays exactly as written.
        let sql = "UPDATE kern_webhooks SET
                       history = CASE WHEN history = '[]' THEN '[' || $2::text || ']'
                                 ELSE left(history, -1) || ',' || $2::text || ']' END,
                       attempts = attempts + 1,
                       last_status_code = $3::integer,
                       last_error = $4::text,
                       status = CASE WHEN $5::text = 'delivered' THEN 'delivered'
                                     WHEN $5::text = 'failed' AND status = 'pending' THEN 'failed'
                                     ELSE status END,
                       delivered_at = CASE WHEN $5::text = 'delivered' THEN COALESCE(delivered_at, $7::bigint)
                                           ELSE delivered_at END,
                       next_attempt_at = CASE WHEN $5::text = 'retry' AND status = 'pending' THEN $6::bigint
                                              ELSE next_attempt_at END
                   WHERE id = $1";
        let params: [&(dyn ToSql + Sync); 7] = [
            &id,
            &a.entry,
            &code,
            &a.error,
            &a.outcome,
            &a.retry_at,
            &now,
        ];
        Ok(self.execute(sql, &params).await? > 0)
    }
}

/// Runs `sql`, an update that queues a run again (a continue, a requeue) taking the run, its
/// log's length and `now`; whether it matched.
async fn queue_again(
    db: &Conn,
    sql: &str,
    run_id: RunId,
    event_count: u64,
    now: Millis,
) -> StoreResult<bool> {
    let count = to_i64(event_count, "event_count")?;
    Ok(db.execute(sql, &[&run_id, &count, &now]).await? > 0)
}

/// An envelope offset as the `INTEGER` column holds it (a payload's length is far below 2 GiB:
/// PostgreSQL's own limit on a text value is 1 GiB).
fn offset(at: i64) -> i32 {
    i32::try_from(at).unwrap_or(i32::MAX)
}
