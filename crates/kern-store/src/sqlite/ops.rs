//! The SQL of every SQLite read, as plain functions over a connection, and the row decoding
//! the writes (`write.rs`) share with them. Errors are the driver's: the store converts them
//! where it runs a read (`SqliteStore::read`).

use crate::model::*;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

/// The columns of `kern_runs` in the order [`row_to_run`] reads them.
pub(super) const RUN_COLUMNS: &str = "run_id, session_id, user_id, kind, component_id, parent_run_id, status, input, output, error, background, attempt, releases, lease_owner, lease_expires_at, cancel_requested, event_count, created_at, updated_at, started_at, finished_at, webhook_url";

/// The columns of `kern_sessions` in the order [`row_to_session`] reads them.
pub(super) const SESSION_COLUMNS: &str =
    "session_id, kind, component_id, user_id, session_name, session_state, created_at, updated_at";

/// The columns of `kern_webhooks` in the order [`row_to_webhook`] reads them.
pub(super) const WEBHOOK_COLUMNS: &str = "id, run_id, url, status, attempts, next_attempt_at, last_status_code, last_error, history, created_at, delivered_at, outcome";

/// A stored value that does not decode (a corrupt or hand-edited row). Raised inside
/// rusqlite's row mapping as a conversion failure, it reaches callers as
/// [`StoreError::Corrupt`](crate::StoreError::Corrupt), as PostgreSQL reports it (see
/// `sqlite::sql`).
#[derive(Debug)]
pub(super) struct CorruptValue(String);

impl std::fmt::Display for CorruptValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CorruptValue {}

fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(CorruptValue(format!("{what}: {e}"))),
    )
}

/// The SQL expression, over a `kern_runs` row, of the key `kern_events.run_id` (schema v8) and
/// `kern_checkpoints.run_id` (v9) hold: the run id's 16 bytes, as `uuid::Uuid::as_bytes`
/// binds it.
pub(super) const RUN_KEY: &str = "unhex(replace(run_id, '-', ''))";

pub(super) fn parse_uuid(s: String) -> rusqlite::Result<RunId> {
    RunId::parse_str(&s).map_err(|e| corrupt("run id", e))
}

pub(super) fn parse_json(s: String) -> rusqlite::Result<Value> {
    serde_json::from_str(&s).map_err(|e| corrupt("json", e))
}

pub(super) fn row_to_run(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
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

pub(super) fn row_to_session(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
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

pub(super) fn row_to_webhook(r: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
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

pub(super) fn run_by_id(conn: &Connection, run_id: RunId) -> rusqlite::Result<Option<RunRecord>> {
    run_by_key(conn, &run_id.to_string()).optional()
}

/// The run whose id's text form (the `run_id` column) is `key`; `QueryReturnedNoRows` if none.
pub(super) fn run_by_key(conn: &Connection, key: &str) -> rusqlite::Result<RunRecord> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM kern_runs WHERE run_id = ?1"
    ))?;
    stmt.query_row([key], row_to_run)
}

pub(crate) fn get_run(conn: &Connection, run_id: RunId) -> rusqlite::Result<Option<RunRecord>> {
    run_by_id(conn, run_id)
}

/// The run's event count (see `Store::event_count`): the primary key's lookup, no JSON.
pub(crate) fn event_count(conn: &Connection, run_id: RunId) -> rusqlite::Result<Option<u64>> {
    let mut stmt = conn.prepare_cached("SELECT event_count FROM kern_runs WHERE run_id = ?1")?;
    stmt.query_row([run_id.to_string()], |r| r.get::<_, i64>(0))
        .optional()
        .map(|n| n.map(|n| n as u64))
}

/// A run and its whole log from one snapshot: one read transaction, so that the events are
/// exactly the `event_count` the record says (a write committed between two statements
/// outside a transaction could add events the record does not count).
pub(crate) fn run_with_events(
    conn: &Connection,
    run_id: RunId,
) -> rusqlite::Result<Option<(RunRecord, Vec<StoredEvent>)>> {
    let tx = conn.unchecked_transaction()?;
    let Some(run) = run_by_id(&tx, run_id)? else {
        return Ok(None);
    };
    let events = read_events(&tx, run_id, 0, run.event_count as usize)?;
    tx.finish()?;
    Ok(Some((run, events)))
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

pub(crate) fn list_runs(conn: &Connection, f: &RunFilter) -> rusqlite::Result<Vec<RunRecord>> {
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
    rows.collect()
}

pub(crate) fn count_runs(conn: &Connection, f: &RunFilter) -> rusqlite::Result<u64> {
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
) -> rusqlite::Result<u64> {
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
) -> rusqlite::Result<u64> {
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

pub(crate) fn queue_stats(conn: &Connection, now: Millis) -> rusqlite::Result<QueueStats> {
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

pub(crate) fn cancel_requests(conn: &Connection, owner: &str) -> rusqlite::Result<Vec<RunId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT run_id FROM kern_runs
         WHERE lease_owner = ?1 AND status = 'running' AND cancel_requested = 1",
    )?;
    let rows = stmt.query_map([owner], |r| parse_uuid(r.get(0)?))?;
    rows.collect()
}

pub(crate) fn read_events(
    conn: &Connection,
    run_id: RunId,
    from: u64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        // The run's output and envelope only for the events stored without them (`payload`'s
        // envelope codes -1, -2 and -3).
        "SELECT event_index, event_type, payload, created_at, envelope,
             CASE WHEN envelope IN (-1, -3) THEN (SELECT output FROM kern_runs WHERE run_id = ?4) END,
             CASE WHEN envelope IN (-2, -3)
                 THEN (SELECT event_envelope FROM kern_runs WHERE run_id = ?4) END
         FROM kern_events
         WHERE run_id = ?1 AND event_index >= ?2 ORDER BY event_index LIMIT ?3 + 0",
    )?;
    let rows = stmt.query_map(
        params![
            &run_id.as_bytes()[..],
            from as i64,
            limit as i64,
            run_id.to_string()
        ],
        |r| {
            let event_index = r.get::<_, i64>(0)? as u64;
            let event_type: String = r.get(1)?;
            let created_at = r.get(3)?;
            let row = crate::payload::Row {
                event_type: &event_type,
                run_id,
                event_index,
                created_at,
            };
            let payload = r.get_ref(2)?.as_str()?;
            let run = crate::payload::RunColumns {
                output: r.get_ref(5)?.as_str_or_null()?,
                envelope: r.get_ref(6)?.as_str_or_null()?,
            };
            let payload = crate::payload::from_row(payload, r.get(4)?, run, row)
                .map_err(|e| corrupt("event payload", e))?;
            Ok(StoredEvent {
                event_index,
                event_type,
                payload,
                created_at,
            })
        },
    )?;
    rows.collect()
}

pub(crate) fn load_checkpoints(
    conn: &Connection,
    run_id: RunId,
) -> rusqlite::Result<Vec<(String, Value)>> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM kern_checkpoints WHERE run_id = ?1 ORDER BY key")?;
    let rows = stmt.query_map([&run_id.as_bytes()[..]], |r| {
        Ok((r.get::<_, String>(0)?, parse_json(r.get(1)?)?))
    })?;
    rows.collect()
}

pub(crate) fn load_scopes(
    conn: &Connection,
    run_id: RunId,
) -> rusqlite::Result<Vec<(u64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_index, scope FROM kern_events
         WHERE run_id = ?1 AND scope IS NOT NULL ORDER BY event_index",
    )?;
    let rows = stmt.query_map([&run_id.as_bytes()[..]], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })?;
    rows.collect()
}

pub(crate) fn get_session(
    conn: &Connection,
    session_id: &str,
) -> rusqlite::Result<Option<SessionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM kern_sessions WHERE session_id = ?1"
    ))?;
    stmt.query_row([session_id], row_to_session).optional()
}

pub(crate) fn list_sessions(
    conn: &Connection,
    f: &SessionFilter,
) -> rusqlite::Result<(Vec<SessionRecord>, u64)> {
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
) -> rusqlite::Result<std::collections::HashMap<String, Value>> {
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
                serde_json::from_str(&input).map_err(|e| corrupt("run input", e))?,
            );
        }
    }
    Ok(out)
}

pub(crate) fn list_webhooks(
    conn: &Connection,
    run_id: RunId,
) -> rusqlite::Result<Vec<WebhookDelivery>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM kern_webhooks WHERE run_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([run_id.to_string()], row_to_webhook)?;
    rows.collect()
}
