//! The SQL of every PostgreSQL write op, as plain async functions over a connection, and what
//! the reads share with them (connections with statement caches, row decoding).
//!
//! Write ops run inside the writer's batch transaction and take the batch's `now` (read from
//! the database clock). The semantics are those of the SQLite backend's `ops.rs`, statement
//! for statement; the hot paths (create, write, claim) are single statements with
//! data-modifying CTEs so that each costs one round trip.
//!
//! Nothing here manages transactions, retries or notifications: see `writer.rs`. Reads are in
//! `read.rs`.

use crate::batch::{WriteOp, WriteOut};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

/// The columns of `kern_runs` in the order [`row_to_run`] reads them.
macro_rules! run_columns {
    () => {
        "run_id, session_id, user_id, kind, component_id, parent_run_id, status, input, output, \
         error, background, attempt, releases, lease_owner, lease_expires_at, cancel_requested, \
         event_count, created_at, updated_at, started_at, finished_at, webhook_url"
    };
}

/// The columns of `kern_sessions` in the order [`row_to_session`] reads them.
macro_rules! session_columns {
    () => {
        "session_id, kind, component_id, user_id, session_name, session_state, created_at, \
         updated_at"
    };
}

/// The columns of `kern_webhooks` in the order [`row_to_webhook`] reads them.
macro_rules! webhook_columns {
    () => {
        "id, run_id, url, status, attempts, next_attempt_at, last_status_code, last_error, \
         history, created_at, delivered_at, outcome"
    };
}

/// A connection that prepares each statement once and reuses it.
pub(crate) trait Db: Sync {
    /// The underlying client.
    fn client(&self) -> &Client;
    /// The prepared statement for `sql`, from this connection's cache.
    fn prep(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<Statement, tokio_postgres::Error>> + Send;
}

/// The writer's connection: a client and its statement cache.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: Mutex<HashMap<String, Statement>>,
    poisoned: AtomicBool,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            statements: Mutex::new(HashMap::new()),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Marks the connection as not to be used again (its state is unknown).
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Relaxed);
    }

    /// True when the connection closed or was poisoned.
    pub(crate) fn is_broken(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed) || self.client.is_closed()
    }
}

impl Db for Conn {
    fn client(&self) -> &Client {
        &self.client
    }

    async fn prep(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        let cached = self
            .statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned();
        if let Some(s) = cached {
            return Ok(s);
        }
        let stmt = self.client.prepare(sql).await?;
        self.statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

impl Db for deadpool_postgres::Object {
    fn client(&self) -> &Client {
        self
    }

    async fn prep(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
}

/// True when `e` says the connection is gone (closed, or its backend shut down or was
/// terminated): the same statement on a fresh connection may well succeed.
pub(crate) fn connection_lost(e: &StoreError) -> bool {
    let StoreError::Postgres(e) = e else {
        return false;
    };
    e.is_closed()
        || e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        })
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|e| corrupt(what, e))
}

pub(crate) fn row_to_run(r: &Row) -> StoreResult<RunRecord> {
    Ok(RunRecord {
        run_id: r.try_get(0)?,
        session_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        kind: r
            .try_get::<_, &str>(3)?
            .parse()
            .map_err(|e| corrupt("kind", e))?,
        component_id: r.try_get(4)?,
        parent_run_id: r.try_get(5)?,
        status: r
            .try_get::<_, &str>(6)?
            .parse()
            .map_err(|e| corrupt("status", e))?,
        input: r.try_get(7)?,
        output: r.try_get(8)?,
        error: r.try_get(9)?,
        background: r.try_get(10)?,
        attempt: u32::try_from(r.try_get::<_, i64>(11)?).map_err(|e| corrupt("attempt", e))?,
        releases: u32::try_from(r.try_get::<_, i64>(12)?).map_err(|e| corrupt("releases", e))?,
        lease_owner: r.try_get(13)?,
        lease_expires_at: r.try_get(14)?,
        cancel_requested: r.try_get(15)?,
        event_count: u64::try_from(r.try_get::<_, i64>(16)?)
            .map_err(|e| corrupt("event_count", e))?,
        created_at: r.try_get(17)?,
        updated_at: r.try_get(18)?,
        started_at: r.try_get(19)?,
        finished_at: r.try_get(20)?,
        webhook_url: r.try_get(21)?,
    })
}

pub(crate) fn row_to_session(r: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        session_id: r.try_get(0)?,
        kind: r
            .try_get::<_, &str>(1)?
            .parse()
            .map_err(|e| corrupt("kind", e))?,
        component_id: r.try_get(2)?,
        user_id: r.try_get(3)?,
        session_name: r.try_get(4)?,
        session_state: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

pub(crate) fn row_to_webhook(r: &Row) -> StoreResult<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.try_get(0)?,
        run_id: r.try_get(1)?,
        url: r.try_get(2)?,
        status: r
            .try_get::<_, &str>(3)?
            .parse()
            .map_err(|e| corrupt("webhook status", e))?,
        attempts: u32::try_from(r.try_get::<_, i64>(4)?).map_err(|e| corrupt("attempts", e))?,
        next_attempt_at: r.try_get(5)?,
        last_status_code: r
            .try_get::<_, Option<i32>>(6)?
            .map(u16::try_from)
            .transpose()
            .map_err(|e| corrupt("last_status_code", e))?,
        last_error: r.try_get(7)?,
        history: serde_json::from_str(r.try_get::<_, &str>(8)?)
            .map_err(|e| corrupt("webhook history", e))?,
        created_at: r.try_get(9)?,
        delivered_at: r.try_get(10)?,
        outcome: r
            .try_get::<_, Option<&str>>(11)?
            .map(str::parse)
            .transpose()
            .map_err(|e| corrupt("webhook outcome", e))?,
    })
}

pub(crate) async fn run_by_id(db: &impl Db, run_id: RunId) -> StoreResult<Option<RunRecord>> {
    let stmt = db
        .prep(concat!(
            "SELECT ",
            run_columns!(),
            " FROM kern_runs WHERE run_id = $1"
        ))
        .await?;
    db.client()
        .query_opt(&stmt, &[&run_id])
        .await?
        .as_ref()
        .map(row_to_run)
        .transpose()
}

/// Queues a paused run again: `RunContinued` appended, the decisions checkpointed.
async fn continue_run(db: &Conn, c: &ContinueRequest, now: Millis) -> StoreResult<RunRecord> {
    let count = to_i64(c.event_count, "event_count")?;
    let stmt = db
        .prep(
            "UPDATE kern_runs SET status = 'pending', background = true, output = NULL,
             lease_expires_at = NULL, event_count = event_count + 1, updated_at = $3
             WHERE run_id = $1 AND status = 'paused' AND event_count = $2",
        )
        .await?;
    if db
        .client()
        .execute(&stmt, &[&c.run_id, &count, &now])
        .await?
        == 0
    {
        return Err(match run_by_id(db, c.run_id).await? {
            None => StoreError::RunNotFound(c.run_id),
            Some(_) => StoreError::Conflict { run_id: c.run_id },
        });
    }
    let stmt = db
        .prep(
            "INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    db.client()
        .execute(
            &stmt,
            &[
                &c.run_id,
                &count,
                &c.event.event_type,
                &&*c.event.payload,
                &c.event.created_at,
            ],
        )
        .await?;
    let stmt = db
        .prep(
            "INSERT INTO kern_checkpoints (run_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        )
        .await?;
    for (key, value) in &c.checkpoints {
        db.client().execute(&stmt, &[&c.run_id, key, value]).await?;
    }
    run_by_id(db, c.run_id)
        .await?
        .ok_or(StoreError::RunNotFound(c.run_id))
}

/// Queues a failed or cancelled run again (see `Store::requeue`): the one write that changes
/// a terminal status.
async fn requeue(db: &Conn, r: &RequeueRequest, now: Millis) -> StoreResult<RunRecord> {
    let count = to_i64(r.event_count, "event_count")?;
    let stmt = db
        .prep(
            "UPDATE kern_runs SET status = 'pending', error = NULL, output = NULL,
             finished_at = NULL, started_at = NULL, cancel_requested = false, lease_owner = NULL,
             lease_expires_at = NULL, background = true, releases = attempt,
             event_count = event_count + 1, updated_at = $3
             WHERE run_id = $1 AND status IN ('failed', 'cancelled') AND event_count = $2",
        )
        .await?;
    if db
        .client()
        .execute(&stmt, &[&r.run_id, &count, &now])
        .await?
        == 0
    {
        return Err(match run_by_id(db, r.run_id).await? {
            None => StoreError::RunNotFound(r.run_id),
            Some(_) => StoreError::Conflict { run_id: r.run_id },
        });
    }
    let stmt = db
        .prep(
            "INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at, scope)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    db.client()
        .execute(
            &stmt,
            &[
                &r.run_id,
                &count,
                &r.event.event_type,
                &&*r.event.payload,
                &r.event.created_at,
                &r.event.scope.as_deref(),
            ],
        )
        .await?;
    let stmt = db
        .prep(
            "INSERT INTO kern_checkpoints (run_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        )
        .await?;
    for (key, value) in &r.checkpoints {
        db.client().execute(&stmt, &[&r.run_id, key, value]).await?;
    }
    run_by_id(db, r.run_id)
        .await?
        .ok_or(StoreError::RunNotFound(r.run_id))
}

/// Applies one write op inside the caller's transaction.
pub(crate) async fn apply(db: &Conn, op: &WriteOp, now: Millis) -> StoreResult<WriteOut> {
    match op {
        WriteOp::Create(run) => create(db, run, now).await.map(WriteOut::Run),
        WriteOp::Claim(req) => claim(db, req, now).await.map(WriteOut::Runs),
        WriteOp::Heartbeat {
            owner,
            runs,
            lease_ms,
        } => heartbeat(db, owner, runs, now + lease_ms)
            .await
            .map(WriteOut::Heartbeat),
        WriteOp::Write(w) => write(db, w, now).await.map(WriteOut::Written),
        WriteOp::Release { run_id, attempt } => {
            let stmt = db
                .prep(
                    "UPDATE kern_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
                     releases = releases + 1, updated_at = $3
                     WHERE run_id = $1 AND attempt = $2 AND status = 'running'",
                )
                .await?;
            let n = db
                .client()
                .execute(&stmt, &[run_id, &i64::from(*attempt), &now])
                .await?;
            if n == 0 {
                return Err(StoreError::Fenced { run_id: *run_id });
            }
            Ok(WriteOut::Done(()))
        }
        WriteOp::CancelPending {
            run_id,
            event_count,
            event,
            reason,
        } => {
            let stmt = db
                .prep(
                    "UPDATE kern_runs SET status = 'cancelled', cancel_requested = true, error = $3,
                     event_count = event_count + 1, updated_at = $4, finished_at = $4,
                     lease_expires_at = NULL
                     WHERE run_id = $1 AND status IN ('pending', 'paused') AND event_count = $2
                     RETURNING webhook_url",
                )
                .await?;
            let count = to_i64(*event_count, "event_count")?;
            let Some(row) = db
                .client()
                .query_opt(&stmt, &[run_id, &count, reason, &now])
                .await?
            else {
                return Err(match run_by_id(db, *run_id).await? {
                    None => StoreError::RunNotFound(*run_id),
                    Some(_) => StoreError::Conflict { run_id: *run_id },
                });
            };
            let url: Option<String> = row.try_get(0)?;
            let stmt = db
                .prep(
                    "INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .await?;
            db.client()
                .execute(
                    &stmt,
                    &[
                        run_id,
                        &count,
                        &event.event_type,
                        &&*event.payload,
                        &event.created_at,
                    ],
                )
                .await?;
            if let Some(url) = &url {
                let stmt = db
                    .prep(
                        "INSERT INTO kern_webhooks (run_id, url, status, attempts, next_attempt_at,
                             history, created_at, outcome)
                         VALUES ($1, $2, 'pending', 0, $3, '[]', $3, 'cancelled')",
                    )
                    .await?;
                db.client().execute(&stmt, &[run_id, url, &now]).await?;
            }
            Ok(WriteOut::Written(url.is_some()))
        }
        WriteOp::Continue(c) => continue_run(db, c, now).await.map(WriteOut::Run),
        WriteOp::Requeue(r) => requeue(db, r, now).await.map(WriteOut::Run),
        WriteOp::RequestCancel(run_id) => {
            let stmt = db
                .prep(
                    "UPDATE kern_runs SET cancel_requested = true, updated_at = $2
                     WHERE run_id = $1 AND status IN ('running', 'paused')",
                )
                .await?;
            if db.client().execute(&stmt, &[run_id, &now]).await? == 1 {
                return Ok(WriteOut::Cancel(CancelRequest::Requested));
            }
            match run_by_id(db, *run_id).await? {
                None => Err(StoreError::RunNotFound(*run_id)),
                Some(r) if r.status.is_terminal() => {
                    Ok(WriteOut::Cancel(CancelRequest::AlreadyFinished(r.status)))
                }
                Some(_) => Err(StoreError::Conflict { run_id: *run_id }),
            }
        }
        WriteOp::Purge(before) => {
            let stmt = db
                .prep(
                    "WITH r AS (
                         DELETE FROM kern_runs WHERE finished_at IS NOT NULL AND finished_at < $1
                         RETURNING run_id
                     ), e AS (
                         DELETE FROM kern_events WHERE run_id IN (SELECT run_id FROM r)
                     ), c AS (
                         DELETE FROM kern_checkpoints WHERE run_id IN (SELECT run_id FROM r)
                     ), i AS (
                         DELETE FROM kern_idempotency WHERE run_id IN (SELECT run_id FROM r)
                     ), w AS (
                         DELETE FROM kern_webhooks WHERE run_id IN (SELECT run_id FROM r)
                     )
                     SELECT count(*) FROM r",
                )
                .await?;
            let n: i64 = db.client().query_one(&stmt, &[before]).await?.try_get(0)?;
            Ok(WriteOut::Count(n as u64))
        }
        WriteOp::RenameSession { session_id, name } => {
            let stmt = db
                .prep(concat!(
                    "UPDATE kern_sessions SET session_name = $2, updated_at = $3
                     WHERE session_id = $1 RETURNING ",
                    session_columns!()
                ))
                .await?;
            match db
                .client()
                .query_opt(&stmt, &[session_id, name, &now])
                .await?
            {
                Some(row) => row_to_session(&row).map(WriteOut::Session),
                None => Err(StoreError::SessionNotFound(session_id.clone())),
            }
        }
        WriteOp::DeleteSession(session_id) => {
            delete_session(db, session_id).await.map(WriteOut::Count)
        }
        WriteOp::ClaimWebhooks { limit, lease_ms } => {
            claim_webhooks(db, *limit, now, now + lease_ms)
                .await
                .map(WriteOut::Webhooks)
        }
        WriteOp::RecordWebhookAttempt {
            id,
            attempt,
            outcome,
        } => record_webhook_attempt(db, *id, attempt, *outcome, now)
            .await
            .map(WriteOut::Done),
    }
}

/// Deletes a session and its runs with everything they own, unless a run is still active.
///
/// The session row is locked first (`FOR UPDATE`). Creating a run in a session upserts that
/// row, so a create in another transaction either committed before the lock (its run is seen
/// by the busy check and the delete, each statement reading the latest committed data) or
/// waits for this transaction and then recreates the session around its run. Terminal runs
/// never change status, so the check cannot go stale.
async fn delete_session(db: &Conn, session_id: &str) -> StoreResult<u64> {
    let stmt = db
        .prep("SELECT 1 FROM kern_sessions WHERE session_id = $1 FOR UPDATE")
        .await?;
    if db
        .client()
        .query_opt(&stmt, &[&session_id])
        .await?
        .is_none()
    {
        return Err(StoreError::SessionNotFound(session_id.to_owned()));
    }
    let stmt = db
        .prep(
            "SELECT EXISTS (SELECT 1 FROM kern_runs
                 WHERE session_id = $1 AND status IN ('pending', 'running', 'paused'))",
        )
        .await?;
    let busy: bool = db
        .client()
        .query_one(&stmt, &[&session_id])
        .await?
        .try_get(0)?;
    if busy {
        return Err(StoreError::SessionBusy(session_id.to_owned()));
    }
    let stmt = db
        .prep(
            "WITH r AS (
                 DELETE FROM kern_runs WHERE session_id = $1 RETURNING run_id
             ), e AS (
                 DELETE FROM kern_events WHERE run_id IN (SELECT run_id FROM r)
             ), c AS (
                 DELETE FROM kern_checkpoints WHERE run_id IN (SELECT run_id FROM r)
             ), i AS (
                 DELETE FROM kern_idempotency WHERE run_id IN (SELECT run_id FROM r)
             ), w AS (
                 DELETE FROM kern_webhooks WHERE run_id IN (SELECT run_id FROM r)
             ), s AS (
                 DELETE FROM kern_sessions WHERE session_id = $1
             )
             SELECT count(*) FROM r",
        )
        .await?;
    let n: i64 = db
        .client()
        .query_one(&stmt, &[&session_id])
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// `FOR UPDATE SKIP LOCKED`: rows another dispatcher is claiming are skipped, and a row
/// claimed (its `next_attempt_at` pushed) since this statement's snapshot fails the re-check,
/// so concurrent claimers never get the same row nor wait for each other.
async fn claim_webhooks(
    db: &Conn,
    limit: usize,
    now: Millis,
    lease_until: Millis,
) -> StoreResult<Vec<WebhookDelivery>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let stmt = db
        .prep(concat!(
            "WITH c AS (
                 SELECT id FROM kern_webhooks
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY id LIMIT $2
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE kern_webhooks w SET next_attempt_at = $3 FROM c WHERE w.id = c.id
             RETURNING ",
            "w.id, w.run_id, w.url, w.status, w.attempts, w.next_attempt_at, \
             w.last_status_code, w.last_error, w.history, w.created_at, w.delivered_at, \
             w.outcome"
        ))
        .await?;
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = db
        .client()
        .query(&stmt, &[&now, &limit, &lease_until])
        .await?;
    let mut out = rows
        .iter()
        .map(row_to_webhook)
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by_key(|w| w.id);
    Ok(out)
}

async fn record_webhook_attempt(
    db: &Conn,
    id: i64,
    attempt: &WebhookAttempt,
    outcome: WebhookOutcome,
    now: Millis,
) -> StoreResult<()> {
    let entry = crate::batch::attempt_json(attempt)?;
    let (outcome, retry_at) = crate::batch::outcome_params(outcome);
    let error = crate::batch::last_error(attempt);
    let code = attempt.status_code.map(i32::from);
    // Every SET expression reads the row as it was before the update. The history is JSON
    // text, appended to as text so that it stays exactly as written.
    let stmt = db
        .prep(
            "UPDATE kern_webhooks SET
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
             WHERE id = $1",
        )
        .await?;
    let n = db
        .client()
        .execute(
            &stmt,
            &[&id, &entry, &code, &error, &outcome, &retry_at, &now],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::WebhookNotFound(id));
    }
    Ok(())
}

/// Inserts a run; with an idempotency key, first claims the key.
///
/// The key row goes in first with `ON CONFLICT DO NOTHING`: if another transaction (another
/// replica's writer) is inserting the same key, PostgreSQL waits for it to finish, so exactly
/// one of them inserts. The loser re-reads the committed row (a new statement sees it under
/// READ COMMITTED) and returns its run or a conflict. If the run itself then turns out to be
/// a duplicate, the key row is removed again so that the refused create writes nothing.
async fn create(db: &Conn, run: &NewRun, now: Millis) -> StoreResult<RunRecord> {
    let Some(idem) = &run.idempotency else {
        return insert_run(db, run, now).await;
    };
    let claim = db
        .prep(
            "INSERT INTO kern_idempotency (key, request_hash, run_id, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        )
        .await?;
    let stored = db
        .prep("SELECT request_hash, run_id FROM kern_idempotency WHERE key = $1")
        .await?;
    // A key row seen by the insert but gone by the read (its run was deleted in between),
    // or one that outlived its run, means the key is free again: try once more.
    for _ in 0..3 {
        let inserted = db
            .client()
            .execute(&claim, &[&idem.key, &idem.request_hash, &run.run_id, &now])
            .await?;
        if inserted == 1 {
            return match insert_run(db, run, now).await {
                Err(StoreError::DuplicateRun(id)) => {
                    let stmt = db
                        .prep("DELETE FROM kern_idempotency WHERE key = $1")
                        .await?;
                    db.client().execute(&stmt, &[&idem.key]).await?;
                    Err(StoreError::DuplicateRun(id))
                }
                other => other,
            };
        }
        if let Some(row) = db.client().query_opt(&stored, &[&idem.key]).await? {
            let hash: &str = row.try_get(0)?;
            let run_id: RunId = row.try_get(1)?;
            if let Some(existing) = run_by_id(db, run_id).await? {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyConflict {
                        key: idem.key.clone(),
                    });
                }
                return Ok(existing);
            }
            // The key outlived its run (deleted by a build from before schema v2, or by
            // hand): free it.
            let stmt = db
                .prep("DELETE FROM kern_idempotency WHERE key = $1 AND run_id = $2")
                .await?;
            db.client().execute(&stmt, &[&idem.key, &run_id]).await?;
        }
    }
    Err(StoreError::Conflict { run_id: run.run_id })
}

async fn insert_run(db: &Conn, run: &NewRun, now: Millis) -> StoreResult<RunRecord> {
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
    let stmt = db
        .prep(concat!(
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
        ))
        .await?;
    let row = db
        .client()
        .query_opt(
            &stmt,
            &[
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
            ],
        )
        .await?;
    match row {
        Some(row) => row_to_run(&row),
        None => Err(StoreError::DuplicateRun(run.run_id)),
    }
}

/// Claims expired runs (their owner died) first, oldest lease first, then pending runs,
/// oldest first. `FOR UPDATE SKIP LOCKED`: rows another transaction is claiming (or writing)
/// are skipped rather than waited for, and a row changed since the snapshot is re-checked
/// before it is taken, so concurrent claimers never get the same run nor block each other.
async fn claim(db: &Conn, req: &ClaimRequest, now: Millis) -> StoreResult<Vec<RunRecord>> {
    if req.limit == 0 || req.components.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = req.components.iter().map(|(k, _)| k.as_str()).collect();
    let ids: Vec<&str> = req.components.iter().map(|(_, id)| id.as_str()).collect();
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
    let mut claimed = Vec::with_capacity(req.limit);
    for sql in [
        claim_sql!(
            "status IN ('running', 'paused') AND lease_expires_at < $1",
            "lease_expires_at"
        ),
        claim_sql!("status = 'pending'", "created_at"),
    ] {
        let left = req.limit - claimed.len();
        if left == 0 {
            break;
        }
        let stmt = db.prep(sql).await?;
        let rows = db
            .client()
            .query(
                &stmt,
                &[
                    &now,
                    &kinds,
                    &ids,
                    &(left as i64),
                    &req.owner,
                    &(now + req.lease_ms),
                ],
            )
            .await?;
        for row in &rows {
            claimed.push(row_to_run(row)?);
        }
    }
    Ok(claimed)
}

async fn heartbeat(
    db: &Conn,
    owner: &str,
    runs: &[(RunId, u32)],
    expires: Millis,
) -> StoreResult<Heartbeat> {
    let ids: Vec<RunId> = runs.iter().map(|(id, _)| *id).collect();
    let stmt = db
        .prep(
            "UPDATE kern_runs SET lease_expires_at = $2
             WHERE lease_owner = $1 AND status = 'running' AND run_id = ANY($3)
             RETURNING run_id, attempt, cancel_requested",
        )
        .await?;
    let rows = db.client().query(&stmt, &[&owner, &expires, &ids]).await?;
    let mut held = HashMap::with_capacity(rows.len());
    for r in rows {
        let attempt = u32::try_from(r.try_get::<_, i64>(1)?).map_err(|e| corrupt("attempt", e))?;
        held.insert(r.try_get::<_, RunId>(0)?, (attempt, r.try_get(2)?));
    }
    Ok(crate::util::heartbeat_outcome(runs, &held))
}

/// The tail shared by both variants of the write statement: the events, checkpoints and
/// session state land only if the fenced update of the run (`u`) matched. Ends after the last
/// CTE: each variant adds its own final `SELECT`.
macro_rules! write_tail {
    () => {
        "RETURNING run_id, session_id, status, webhook_url
         ), e AS (
             INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at, scope)
             SELECT u.run_id, $3::bigint + x.ord - 1, x.event_type, x.payload, x.created_at, x.scope
             FROM u, unnest($6::text[], $7::text[], $8::bigint[], $12::text[])
                 WITH ORDINALITY AS x(event_type, payload, created_at, scope, ord)
         ), c AS (
             INSERT INTO kern_checkpoints (run_id, key, value)
             SELECT u.run_id, k.key, k.value FROM u, unnest($9::text[], $10::json[]) AS k(key, value)
             ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value
         ), s AS (
             UPDATE kern_sessions SET session_state = $11::json, updated_at = $5
             FROM u WHERE $11::json IS NOT NULL AND kern_sessions.session_id = u.session_id
         )"
    };
}

/// Returns whether the write queued a webhook delivery.
async fn write(db: &Conn, w: &RunWrite, now: Millis) -> StoreResult<bool> {
    let first = to_i64(w.first_index, "first_index")?;
    let n = w.events.len() as i64;
    let types: Vec<&str> = w.events.iter().map(|e| e.event_type.as_str()).collect();
    let payloads: Vec<&str> = w.events.iter().map(|e| &*e.payload).collect();
    let times: Vec<i64> = w.events.iter().map(|e| e.created_at).collect();
    let scopes: Vec<Option<&str>> = w.events.iter().map(|e| e.scope.as_deref()).collect();
    // One statement cannot upsert a key twice: keep the last value of each key, as a
    // sequence of upserts would.
    let mut keys: Vec<&str> = Vec::with_capacity(w.checkpoints.len());
    let mut values: Vec<&Value> = Vec::with_capacity(w.checkpoints.len());
    for (i, (key, value)) in w.checkpoints.iter().enumerate() {
        if !w.checkpoints[i + 1..].iter().any(|(k, _)| k == key) {
            keys.push(key);
            values.push(value);
        }
    }
    let attempt = i64::from(w.attempt);
    let common: [&(dyn ToSql + Sync); 12] = [
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
    ];
    let (changed, webhooks): (i64, i64) = match &w.finish {
        None => {
            let stmt = db
                .prep(concat!(
                    "WITH u AS (
                         UPDATE kern_runs SET event_count = event_count + $4, updated_at = $5
                         WHERE run_id = $1 AND attempt = $2 AND status = 'running'
                             AND event_count = $3::bigint ",
                    write_tail!(),
                    " SELECT count(*) FROM u"
                ))
                .await?;
            (db.client().query_one(&stmt, &common).await?.try_get(0)?, 0)
        }
        Some(f) => {
            let stmt = db
                .prep(concat!(
                    "WITH u AS (
                         UPDATE kern_runs SET event_count = event_count + $4, updated_at = $5,
                             finished_at = CASE WHEN $13::text = 'paused' THEN NULL ELSE $5::bigint END,
                             status = $13::text, output = $14, error = $15,
                             releases = releases + CASE WHEN $13::text = 'paused' THEN 1 ELSE 0 END,
                             lease_owner = NULL, lease_expires_at = $16::bigint
                         WHERE run_id = $1 AND attempt = $2 AND status = 'running'
                             AND event_count = $3::bigint ",
                    write_tail!(),
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
                ))
                .await?;
            let status = f.status.as_str();
            let expires = f.pause_expires_at.filter(|_| f.status == RunStatus::Paused);
            let mut params: Vec<&(dyn ToSql + Sync)> = common.to_vec();
            params.extend([
                &status as &(dyn ToSql + Sync),
                &f.output,
                &f.error,
                &expires,
            ]);
            let row = db.client().query_one(&stmt, &params).await?;
            (row.try_get(0)?, row.try_get(1)?)
        }
    };
    if changed == 0 {
        return Err(StoreError::Fenced { run_id: w.run_id });
    }
    Ok(webhooks > 0)
}
