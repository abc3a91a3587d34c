//! The SQL of every SQLite operation, as plain functions over a connection.

use crate::batch::{WriteOp, WriteOut};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

/// The columns of `kern_runs` in the order [`row_to_run`] reads them.
pub(crate) const RUN_COLUMNS: &str = "run_id, session_id, user_id, kind, component_id, parent_run_id, status, input, output, error, background, attempt, releases, lease_owner, lease_expires_at, cancel_requested, event_count, created_at, updated_at, started_at, finished_at, webhook_url";

/// The columns of `kern_sessions` in the order [`row_to_session`] reads them.
const SESSION_COLUMNS: &str =
    "session_id, kind, component_id, user_id, session_name, session_state, created_at, updated_at";

/// The columns of `kern_webhooks` in the order [`row_to_webhook`] reads them.
const WEBHOOK_COLUMNS: &str = "id, run_id, url, status, attempts, next_attempt_at, last_status_code, last_error, history, created_at, delivered_at, outcome";

fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{what}: {e}").into(),
    )
}

fn parse_uuid(s: String) -> rusqlite::Result<RunId> {
    RunId::parse_str(&s).map_err(|e| corrupt("run id", e))
}

fn parse_json(s: String) -> rusqlite::Result<Value> {
    serde_json::from_str(&s).map_err(|e| corrupt("json", e))
}

pub(crate) fn row_to_run(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        run_id: parse_uuid(r.get(0)?)?,
        session_id: r.get(1)?,
        user_id: r.get(2)?,
        kind: r
            .get::<_, String>(3)?
            .parse()
            .map_err(|e| corrupt("kind", e))?,
        component_id: r.get(4)?,
        parent_run_id: r.get::<_, Option<String>>(5)?.map(parse_uuid).transpose()?,
        status: r
            .get::<_, String>(6)?
            .parse()
            .map_err(|e| corrupt("status", e))?,
        input: parse_json(r.get(7)?)?,
        output: r.get::<_, Option<String>>(8)?.map(parse_json).transpose()?,
        error: r.get(9)?,
        background: r.get(10)?,
        attempt: r.get(11)?,
        releases: r.get(12)?,
        lease_owner: r.get(13)?,
        lease_expires_at: r.get(14)?,
        cancel_requested: r.get(15)?,
        event_count: r.get::<_, i64>(16)? as u64,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        started_at: r.get(19)?,
        finished_at: r.get(20)?,
        webhook_url: r.get(21)?,
    })
}

fn row_to_session(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        session_id: r.get(0)?,
        kind: r
            .get::<_, String>(1)?
            .parse()
            .map_err(|e| corrupt("kind", e))?,
        component_id: r.get(2)?,
        user_id: r.get(3)?,
        session_name: r.get(4)?,
        session_state: r.get::<_, Option<String>>(5)?.map(parse_json).transpose()?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn row_to_webhook(r: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.get(0)?,
        run_id: parse_uuid(r.get(1)?)?,
        url: r.get(2)?,
        status: r
            .get::<_, String>(3)?
            .parse()
            .map_err(|e| corrupt("webhook status", e))?,
        attempts: r.get(4)?,
        next_attempt_at: r.get(5)?,
        last_status_code: r.get(6)?,
        last_error: r.get(7)?,
        history: serde_json::from_str(&r.get::<_, String>(8)?)
            .map_err(|e| corrupt("webhook history", e))?,
        created_at: r.get(9)?,
        delivered_at: r.get(10)?,
        outcome: r
            .get::<_, Option<String>>(11)?
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| corrupt("webhook outcome", e))?,
    })
}

fn run_by_id(conn: &Connection, run_id: RunId) -> StoreResult<Option<RunRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM kern_runs WHERE run_id = ?1"
    ))?;
    Ok(stmt
        .query_row([run_id.to_string()], row_to_run)
        .optional()?)
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

/// Applies one write op inside the caller's transaction.
pub(crate) fn apply(conn: &Connection, op: &WriteOp, now: Millis) -> StoreResult<WriteOut> {
    match op {
        WriteOp::Create(run) => create(conn, run, now).map(WriteOut::Run),
        WriteOp::Claim(req) => claim(conn, req, now).map(WriteOut::Runs),
        WriteOp::Heartbeat {
            owner,
            runs,
            lease_ms,
        } => heartbeat(conn, owner, runs, now + lease_ms).map(WriteOut::Heartbeat),
        WriteOp::Write(w) => write(conn, w, now).map(WriteOut::Written),
        WriteOp::Release { run_id, attempt } => {
            let n = conn
                .prepare_cached(
                    "UPDATE kern_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
                     releases = releases + 1, updated_at = ?3
                     WHERE run_id = ?1 AND attempt = ?2 AND status = 'running'",
                )?
                .execute(params![run_id.to_string(), attempt, now])?;
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
            let n = conn
                .prepare_cached(
                    "UPDATE kern_runs SET status = 'cancelled', cancel_requested = 1, error = ?3,
                     event_count = event_count + 1, updated_at = ?4, finished_at = ?4,
                     lease_expires_at = NULL
                     WHERE run_id = ?1 AND status IN ('pending', 'paused') AND event_count = ?2",
                )?
                .execute(params![
                    run_id.to_string(),
                    *event_count as i64,
                    reason,
                    now
                ])?;
            if n == 0 {
                return Err(match run_by_id(conn, *run_id)? {
                    None => StoreError::RunNotFound(*run_id),
                    Some(_) => StoreError::Conflict { run_id: *run_id },
                });
            }
            insert_events(conn, *run_id, *event_count, std::slice::from_ref(event))?;
            let webhook = queue_webhook(conn, *run_id, RunStatus::Cancelled, now)?;
            Ok(WriteOut::Written(webhook))
        }
        WriteOp::Continue(c) => {
            let n = conn
                .prepare_cached(
                    "UPDATE kern_runs SET status = 'pending', background = 1, output = NULL,
                     lease_expires_at = NULL, event_count = event_count + 1, updated_at = ?3
                     WHERE run_id = ?1 AND status = 'paused' AND event_count = ?2",
                )?
                .execute(params![c.run_id.to_string(), c.event_count as i64, now])?;
            if n == 0 {
                return Err(match run_by_id(conn, c.run_id)? {
                    None => StoreError::RunNotFound(c.run_id),
                    Some(_) => StoreError::Conflict { run_id: c.run_id },
                });
            }
            insert_events(
                conn,
                c.run_id,
                c.event_count,
                std::slice::from_ref(&c.event),
            )?;
            upsert_checkpoints(conn, c.run_id, &c.checkpoints)?;
            run_by_id(conn, c.run_id)?
                .map(WriteOut::Run)
                .ok_or(StoreError::RunNotFound(c.run_id))
        }
        WriteOp::Requeue(r) => requeue(conn, r, now).map(WriteOut::Run),
        WriteOp::RequestCancel(run_id) => {
            let n = conn
                .prepare_cached(
                    "UPDATE kern_runs SET cancel_requested = 1, updated_at = ?2
                     WHERE run_id = ?1 AND status IN ('running', 'paused')",
                )?
                .execute(params![run_id.to_string(), now])?;
            if n == 1 {
                return Ok(WriteOut::Cancel(CancelRequest::Requested));
            }
            match run_by_id(conn, *run_id)? {
                None => Err(StoreError::RunNotFound(*run_id)),
                Some(r) if r.status.is_terminal() => {
                    Ok(WriteOut::Cancel(CancelRequest::AlreadyFinished(r.status)))
                }
                Some(_) => Err(StoreError::Conflict { run_id: *run_id }),
            }
        }
        WriteOp::Purge(before) => {
            let sel =
                "SELECT run_id FROM kern_runs WHERE finished_at IS NOT NULL AND finished_at < ?1";
            for table in RUN_TABLES {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE run_id IN ({sel})"),
                    [before],
                )?;
            }
            let n = conn.execute(
                "DELETE FROM kern_runs WHERE finished_at IS NOT NULL AND finished_at < ?1",
                [before],
            )?;
            Ok(WriteOut::Count(n as u64))
        }
        WriteOp::RenameSession { session_id, name } => conn
            .prepare_cached(&format!(
                "UPDATE kern_sessions SET session_name = ?2, updated_at = ?3
                 WHERE session_id = ?1 RETURNING {SESSION_COLUMNS}"
            ))?
            .query_row(params![session_id, name, now], row_to_session)
            .optional()?
            .map(WriteOut::Session)
            .ok_or_else(|| StoreError::SessionNotFound(session_id.clone())),
        WriteOp::DeleteSession(session_id) => delete_session(conn, session_id).map(WriteOut::Count),
        WriteOp::ClaimWebhooks { limit, lease_ms } => {
            claim_webhooks(conn, *limit, now, now + lease_ms).map(WriteOut::Webhooks)
        }
        WriteOp::RecordWebhookAttempt {
            id,
            attempt,
            outcome,
        } => record_webhook_attempt(conn, *id, attempt, *outcome, now).map(WriteOut::Done),
    }
}

/// Queues a failed or cancelled run again (see `Store::requeue`): the one write that changes
/// a terminal status.
fn requeue(conn: &Connection, r: &RequeueRequest, now: Millis) -> StoreResult<RunRecord> {
    let n = conn
        .prepare_cached(
            "UPDATE kern_runs SET status = 'pending', error = NULL, output = NULL,
             finished_at = NULL, started_at = NULL, cancel_requested = 0, lease_owner = NULL,
             lease_expires_at = NULL, background = 1, releases = attempt,
             event_count = event_count + 1, updated_at = ?3
             WHERE run_id = ?1 AND status IN ('failed', 'cancelled') AND event_count = ?2",
        )?
        .execute(params![r.run_id.to_string(), r.event_count as i64, now])?;
    if n == 0 {
        return Err(match run_by_id(conn, r.run_id)? {
            None => StoreError::RunNotFound(r.run_id),
            Some(_) => StoreError::Conflict { run_id: r.run_id },
        });
    }
    insert_events(
        conn,
        r.run_id,
        r.event_count,
        std::slice::from_ref(&r.event),
    )?;
    upsert_checkpoints(conn, r.run_id, &r.checkpoints)?;
    run_by_id(conn, r.run_id)?.ok_or(StoreError::RunNotFound(r.run_id))
}

/// The tables whose rows belong to a run (by `run_id`) and go when it is deleted.
const RUN_TABLES: [&str; 4] = [
    "kern_events",
    "kern_checkpoints",
    "kern_idempotency",
    "kern_webhooks",
];

/// Queues the webhook delivery of a run that just reached `outcome` (a terminal status or a
/// pause, written by the caller in the same transaction), if the run has a URL; returns
/// whether it did.
fn queue_webhook(
    conn: &Connection,
    run_id: RunId,
    outcome: RunStatus,
    now: Millis,
) -> StoreResult<bool> {
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

fn delete_session(conn: &Connection, session_id: &str) -> StoreResult<u64> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM kern_sessions WHERE session_id = ?1")?
        .exists([session_id])?;
    if !exists {
        return Err(StoreError::SessionNotFound(session_id.to_owned()));
    }
    let busy = conn
        .prepare_cached(
            "SELECT 1 FROM kern_runs
             WHERE session_id = ?1 AND status IN ('pending', 'running', 'paused')",
        )?
        .exists([session_id])?;
    if busy {
        return Err(StoreError::SessionBusy(session_id.to_owned()));
    }
    for table in RUN_TABLES {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM kern_runs WHERE session_id = ?1)"
        ))?
        .execute([session_id])?;
    }
    let n = conn
        .prepare_cached("DELETE FROM kern_runs WHERE session_id = ?1")?
        .execute([session_id])?;
    conn.prepare_cached("DELETE FROM kern_sessions WHERE session_id = ?1")?
        .execute([session_id])?;
    Ok(n as u64)
}

/// The single writer makes select-then-update atomic: no other transaction runs in between
/// (`BEGIN IMMEDIATE` also locks out other processes).
fn claim_webhooks(
    conn: &Connection,
    limit: usize,
    now: Millis,
    lease_until: Millis,
) -> StoreResult<Vec<WebhookDelivery>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE kern_webhooks SET next_attempt_at = ?3
         WHERE id IN (SELECT id FROM kern_webhooks
                      WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2)
         RETURNING {WEBHOOK_COLUMNS}"
    ))?;
    let rows = stmt.query_map(
        params![now, limit.min(i64::MAX as usize) as i64, lease_until],
        row_to_webhook,
    )?;
    let mut out: Vec<WebhookDelivery> = rows.collect::<Result<_, _>>()?;
    out.sort_by_key(|w| w.id);
    Ok(out)
}

fn record_webhook_attempt(
    conn: &Connection,
    id: i64,
    attempt: &WebhookAttempt,
    outcome: WebhookOutcome,
    now: Millis,
) -> StoreResult<()> {
    let entry = crate::batch::attempt_json(attempt)?;
    let (outcome, retry_at) = crate::batch::outcome_params(outcome);
    let error = crate::batch::last_error(attempt);
    // Every SET expression reads the row as it was before the update. The history is a JSON
    // array of compact objects: append by text, so it stays exactly as written.
    let n = conn
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
            entry,
            attempt.status_code,
            error,
            outcome,
            retry_at,
            now
        ])?;
    if n == 0 {
        return Err(StoreError::WebhookNotFound(id));
    }
    Ok(())
}

fn create(conn: &Connection, run: &NewRun, now: Millis) -> StoreResult<RunRecord> {
    // The single writer (and `BEGIN IMMEDIATE` across processes) makes this lookup and the
    // inserts below one atomic step.
    if let Some(idem) = &run.idempotency {
        let stored = conn
            .prepare_cached("SELECT request_hash, run_id FROM kern_idempotency WHERE key = ?1")?
            .query_row([&idem.key], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        if let Some((hash, run_id)) = stored {
            if let Some(existing) = run_by_id(conn, parse_uuid(run_id.clone())?)? {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyConflict {
                        key: idem.key.clone(),
                    });
                }
                return Ok(existing);
            }
            // The key outlived its run (deleted by a build from before schema v2, or by
            // hand): the key is free again.
            conn.prepare_cached("DELETE FROM kern_idempotency WHERE key = ?1 AND run_id = ?2")?
                .execute([&idem.key, &run_id])?;
        }
    }
    let (status, attempt, owner, expires, started) = match &run.claim {
        None => ("pending", 0u32, None, None, None),
        Some(l) => (
            "running",
            1,
            Some(l.owner.as_str()),
            Some(now + l.duration_ms),
            Some(now),
        ),
    };
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO kern_runs (run_id, session_id, user_id, kind, component_id, parent_run_id,
             status, input, background, attempt, lease_owner, lease_expires_at, created_at,
             updated_at, started_at, webhook_url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15)
             ON CONFLICT (run_id) DO NOTHING RETURNING {RUN_COLUMNS}"
        ))?
        .query_row(
            params![
                run.run_id.to_string(),
                run.session_id,
                run.user_id,
                run.kind.as_str(),
                run.component_id,
                run.parent_run_id.map(|p| p.to_string()),
                status,
                json_text(&run.input),
                run.background,
                attempt,
                owner,
                expires,
                now,
                started,
                run.webhook_url,
            ],
            row_to_run,
        )
        .optional()?;
    let Some(record) = inserted else {
        return Err(StoreError::DuplicateRun(run.run_id));
    };
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
    if let Some(idem) = &run.idempotency {
        conn.prepare_cached(
            "INSERT INTO kern_idempotency (key, request_hash, run_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            idem.key,
            idem.request_hash,
            run.run_id.to_string(),
            now
        ])?;
    }
    Ok(record)
}

fn claim(conn: &Connection, req: &ClaimRequest, now: Millis) -> StoreResult<Vec<RunRecord>> {
    if req.limit == 0 || req.components.is_empty() {
        return Ok(Vec::new());
    }
    let components = Value::from(
        req.components
            .iter()
            .map(|(k, id)| format!("{k}:{id}"))
            .collect::<Vec<_>>(),
    )
    .to_string();
    // Runs whose owner died (and paused runs whose pause expired: the engine fails them) first
    // (they are older), then pending runs, oldest first. Each update re-checks the condition,
    // so a run another process claimed in between is skipped.
    let mut ids: Vec<String> = Vec::with_capacity(req.limit);
    for sql in [
        "SELECT run_id FROM kern_runs WHERE status IN ('running', 'paused') AND lease_expires_at < ?1
         AND kind || ':' || component_id IN (SELECT value FROM json_each(?2))
         ORDER BY lease_expires_at LIMIT ?3",
        "SELECT run_id FROM kern_runs WHERE status = 'pending'
         AND kind || ':' || component_id IN (SELECT value FROM json_each(?2))
         ORDER BY created_at LIMIT ?3",
    ] {
        let left = req.limit - ids.len();
        if left == 0 {
            break;
        }
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![now, components, left as i64], |r| r.get(0))?;
        for id in rows {
            ids.push(id?);
        }
    }
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE kern_runs SET status = 'running', attempt = attempt + 1, lease_owner = ?2,
         lease_expires_at = ?3, started_at = COALESCE(started_at, ?4), updated_at = ?4
         WHERE run_id = ?1 AND (status = 'pending'
             OR (status IN ('running', 'paused') AND lease_expires_at < ?4))
         RETURNING {RUN_COLUMNS}"
    ))?;
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(run) = stmt
            .query_row(params![id, req.owner, now + req.lease_ms, now], row_to_run)
            .optional()?
        {
            claimed.push(run);
        }
    }
    Ok(claimed)
}

fn heartbeat(
    conn: &Connection,
    owner: &str,
    runs: &[(RunId, u32)],
    expires: Millis,
) -> StoreResult<Heartbeat> {
    let ids = Value::from(
        runs.iter()
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>(),
    )
    .to_string();
    let mut stmt = conn.prepare_cached(
        "UPDATE kern_runs SET lease_expires_at = ?2
         WHERE lease_owner = ?1 AND status = 'running' AND run_id IN (SELECT value FROM json_each(?3))
         RETURNING run_id, attempt, cancel_requested",
    )?;
    let rows = stmt.query_map(params![owner, expires, ids], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, bool>(2)?,
        ))
    })?;
    let mut held = std::collections::HashMap::with_capacity(runs.len());
    for row in rows {
        let (id, attempt, cancel) = row?;
        held.insert(parse_uuid(id)?, (attempt, cancel));
    }
    Ok(crate::util::heartbeat_outcome(runs, &held))
}

fn insert_events(
    conn: &Connection,
    run_id: RunId,
    first_index: u64,
    events: &[NewEvent],
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kern_events (run_id, event_index, event_type, payload, created_at, scope)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let id = run_id.to_string();
    for (i, e) in events.iter().enumerate() {
        stmt.execute(params![
            id,
            (first_index + i as u64) as i64,
            e.event_type,
            &*e.payload,
            e.created_at,
            e.scope.as_deref()
        ])?;
    }
    Ok(())
}

/// Returns whether the write queued a webhook delivery.
fn write(conn: &Connection, w: &RunWrite, now: Millis) -> StoreResult<bool> {
    let id = w.run_id.to_string();
    let n = w.events.len() as i64;
    let changed = match &w.finish {
        None => conn
            .prepare_cached(
                "UPDATE kern_runs SET event_count = event_count + ?4, updated_at = ?5
                 WHERE run_id = ?1 AND attempt = ?2 AND status = 'running' AND event_count = ?3",
            )?
            .execute(params![id, w.attempt, w.first_index as i64, n, now])?,
        // A pause is not an end: no finished_at, the lease released (counted as a hand-back),
        // its expiry kept in lease_expires_at (claimable again once it passes).
        Some(f) => conn
            .prepare_cached(
                "UPDATE kern_runs SET event_count = event_count + ?4, updated_at = ?5,
                 finished_at = CASE WHEN ?6 = 'paused' THEN NULL ELSE ?5 END,
                 status = ?6, output = ?7, error = ?8,
                 releases = releases + CASE WHEN ?6 = 'paused' THEN 1 ELSE 0 END,
                 lease_owner = NULL, lease_expires_at = ?9
                 WHERE run_id = ?1 AND attempt = ?2 AND status = 'running' AND event_count = ?3",
            )?
            .execute(params![
                id,
                w.attempt,
                w.first_index as i64,
                n,
                now,
                f.status.as_str(),
                f.output.as_ref().map(json_text),
                f.error,
                f.pause_expires_at.filter(|_| f.status == RunStatus::Paused)
            ])?,
    };
    if changed == 0 {
        return Err(StoreError::Fenced { run_id: w.run_id });
    }
    insert_events(conn, w.run_id, w.first_index, &w.events)?;
    upsert_checkpoints(conn, w.run_id, &w.checkpoints)?;
    if let Some(state) = &w.session_state {
        conn.prepare_cached(
            "UPDATE kern_sessions SET session_state = ?2, updated_at = ?3
             WHERE session_id = (SELECT session_id FROM kern_runs WHERE run_id = ?1)",
        )?
        .execute(params![id, json_text(state), now])?;
    }
    match &w.finish {
        // A pause notifies too: someone has to act on it.
        Some(f) => queue_webhook(conn, w.run_id, f.status, now),
        None => Ok(false),
    }
}

fn upsert_checkpoints(
    conn: &Connection,
    run_id: RunId,
    checkpoints: &[(String, Value)],
) -> StoreResult<()> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    let id = run_id.to_string();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kern_checkpoints (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for (key, value) in checkpoints {
        stmt.execute(params![id, key, json_text(value)])?;
    }
    Ok(())
}

// ---- reads ----

pub(crate) fn get_run(conn: &Connection, run_id: RunId) -> StoreResult<Option<RunRecord>> {
    run_by_id(conn, run_id)
}

/// The `WHERE` clause of a run filter (its filters only) and its arguments.
fn run_conditions(f: &RunFilter) -> (String, Vec<Box<dyn rusqlite::ToSql>>) {
    let mut sql = String::from("1 = 1");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut add = |clause: &str, v: Box<dyn rusqlite::ToSql>| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} = ?{}", args.len()));
    };
    if let Some(s) = &f.session_id {
        add("session_id", Box::new(s.clone()));
    }
    if let Some(s) = f.status {
        add("status", Box::new(s.as_str()));
    }
    if let Some(k) = f.kind {
        add("kind", Box::new(k.as_str()));
    }
    if let Some(c) = &f.component_id {
        add("component_id", Box::new(c.clone()));
    }
    if let Some(u) = &f.user_id {
        add("user_id", Box::new(u.clone()));
    }
    if let Some(p) = f.parent_run_id {
        add("parent_run_id", Box::new(p.to_string()));
    }
    sql.push_str(&crate::util::status_terms(f));
    if f.top_level {
        sql.push_str(" AND parent_run_id IS NULL");
    }
    (sql, args)
}

pub(crate) fn list_runs(conn: &Connection, f: &RunFilter) -> StoreResult<Vec<RunRecord>> {
    let (conds, args) = run_conditions(f);
    let dir = if f.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM kern_runs WHERE {conds}
         ORDER BY created_at {dir}, run_id {dir} LIMIT {} OFFSET {}",
        f.limit.unwrap_or(100).min(i64::MAX as usize),
        f.offset.unwrap_or(0).min(i64::MAX as usize)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), row_to_run)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn count_runs(conn: &Connection, f: &RunFilter) -> StoreResult<u64> {
    let (conds, args) = run_conditions(f);
    let n: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM kern_runs WHERE {conds}"))?
        .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
    Ok(n as u64)
}

/// Served by `kern_runs_pending` (all) or `kern_runs_pending_component` (one component).
pub(crate) fn count_pending(
    conn: &Connection,
    component: Option<(ComponentKind, &str)>,
) -> StoreResult<u64> {
    let n: i64 = match component {
        None => conn
            .prepare_cached("SELECT count(*) FROM kern_runs WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?,
        Some((kind, id)) => conn
            .prepare_cached(
                "SELECT count(*) FROM kern_runs
                 WHERE status = 'pending' AND kind = ?1 AND component_id = ?2",
            )?
            .query_row(params![kind.as_str(), id], |r| r.get(0))?,
    };
    Ok(n as u64)
}

/// Served by `kern_runs_finished`.
pub(crate) fn count_finished_since(
    conn: &Connection,
    since: Millis,
    component: Option<(ComponentKind, &str)>,
) -> StoreResult<u64> {
    let (kind, id) = match component {
        Some((k, id)) => (Some(k.as_str()), Some(id)),
        None => (None, None),
    };
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM kern_runs
             WHERE finished_at >= ?1 AND background = 1 AND parent_run_id IS NULL
             AND (?2 IS NULL OR (kind = ?2 AND component_id = ?3))",
        )?
        .query_row(params![since, kind, id], |r| r.get(0))?;
    Ok(n as u64)
}

pub(crate) fn queue_stats(conn: &Connection, now: Millis) -> StoreResult<QueueStats> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, count(*), (SELECT min(created_at) FROM kern_runs WHERE status = 'pending')
         FROM kern_runs WHERE parent_run_id IS NULL GROUP BY status",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut stats = QueueStats {
        now,
        ..QueueStats::default()
    };
    for row in rows {
        let (status, n, oldest) = row?;
        let status: RunStatus = status.parse().map_err(|e| corrupt("status", e))?;
        stats.counts.insert(status, n as u64);
        stats.oldest_pending_at = oldest;
    }
    Ok(stats)
}

pub(crate) fn cancel_requests(conn: &Connection, owner: &str) -> StoreResult<Vec<RunId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT run_id FROM kern_runs
         WHERE lease_owner = ?1 AND status = 'running' AND cancel_requested = 1",
    )?;
    let rows = stmt.query_map([owner], |r| parse_uuid(r.get(0)?))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn read_events(
    conn: &Connection,
    run_id: RunId,
    from: u64,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_index, event_type, payload, created_at FROM kern_events
         WHERE run_id = ?1 AND event_index >= ?2 ORDER BY event_index LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![run_id.to_string(), from as i64, limit as i64],
        |r| {
            Ok(StoredEvent {
                event_index: r.get::<_, i64>(0)? as u64,
                event_type: r.get(1)?,
                payload: r.get::<_, String>(2)?.into(),
                created_at: r.get(3)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn load_checkpoints(
    conn: &Connection,
    run_id: RunId,
) -> StoreResult<Vec<(String, Value)>> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM kern_checkpoints WHERE run_id = ?1 ORDER BY key")?;
    let rows = stmt.query_map([run_id.to_string()], |r| {
        Ok((r.get::<_, String>(0)?, parse_json(r.get(1)?)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn load_scopes(conn: &Connection, run_id: RunId) -> StoreResult<Vec<(u64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_index, scope FROM kern_events
         WHERE run_id = ?1 AND scope IS NOT NULL ORDER BY event_index",
    )?;
    let rows = stmt.query_map([run_id.to_string()], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn get_session(
    conn: &Connection,
    session_id: &str,
) -> StoreResult<Option<SessionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM kern_sessions WHERE session_id = ?1"
    ))?;
    Ok(stmt.query_row([session_id], row_to_session).optional()?)
}

pub(crate) fn list_sessions(
    conn: &Connection,
    f: &SessionFilter,
) -> StoreResult<(Vec<SessionRecord>, u64)> {
    let mut conds = String::from("1 = 1");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut add = |column: &str, v: Box<dyn rusqlite::ToSql>| {
        args.push(v);
        conds.push_str(&format!(" AND {column} = ?{}", args.len()));
    };
    if let Some(k) = f.kind {
        add("kind", Box::new(k.as_str()));
    }
    if let Some(c) = &f.component_id {
        add("component_id", Box::new(c.clone()));
    }
    if let Some(u) = &f.user_id {
        add("user_id", Box::new(u.clone()));
    }
    let column = match f.sort_by {
        SessionSort::CreatedAt => "created_at",
        SessionSort::UpdatedAt => "updated_at",
    };
    let dir = if f.descending { "DESC" } else { "ASC" };
    // The count rides along in the page's statement, so both come from one snapshot.
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, (SELECT count(*) FROM kern_sessions WHERE {conds})
         FROM kern_sessions WHERE {conds}
         ORDER BY {column} {dir}, session_id {dir} LIMIT {} OFFSET {}",
        f.limit.unwrap_or(20).min(i64::MAX as usize),
        f.offset.unwrap_or(0).min(i64::MAX as usize)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut total = None;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        Ok((row_to_session(r)?, r.get::<_, i64>(8)?))
    })?;
    let mut sessions = Vec::new();
    for row in rows {
        let (s, n) = row?;
        total = Some(n);
        sessions.push(s);
    }
    let total = match total {
        Some(n) => n,
        None => conn
            .prepare_cached(&format!("SELECT count(*) FROM kern_sessions WHERE {conds}"))?
            .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?,
    };
    Ok((sessions, total as u64))
}

/// See [`Store::first_inputs`](crate::Store::first_inputs); `ids_json` is a JSON array of the
/// ids, so that one statement (and one bound parameter) serves a list of any length. Each
/// session's first top-level run is found on `kern_runs_session` (session, created_at).
pub(crate) fn first_inputs(
    conn: &Connection,
    ids_json: &str,
) -> StoreResult<std::collections::HashMap<String, Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.value,
                (SELECT r.input -> '$.input' FROM kern_runs r
                 WHERE r.session_id = s.value AND r.parent_run_id IS NULL
                 ORDER BY r.created_at, r.run_id LIMIT 1)
         FROM (SELECT DISTINCT value FROM json_each(?1)) s",
    )?;
    let rows = stmt.query_map([ids_json], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        if let (id, Some(input)) = row? {
            out.insert(
                id,
                serde_json::from_str(&input)
                    .map_err(|e| StoreError::Corrupt(format!("run input: {e}")))?,
            );
        }
    }
    Ok(out)
}

pub(crate) fn list_webhooks(conn: &Connection, run_id: RunId) -> StoreResult<Vec<WebhookDelivery>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM kern_webhooks WHERE run_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([run_id.to_string()], row_to_webhook)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
