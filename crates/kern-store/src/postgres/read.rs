//! The SQL of every PostgreSQL read, on a pooled connection. Same semantics as the SQLite
//! backend's reads; nothing here writes.

use super::ops::{corrupt, get, row_to_run, row_to_session, row_to_webhook, run_by_id, Db};
use crate::error::StoreResult;
use crate::model::*;
use serde_json::Value;
use tokio_postgres::types::ToSql;

pub(crate) async fn get_run(db: &impl Db, run_id: RunId) -> StoreResult<Option<RunRecord>> {
    run_by_id(db, run_id).await
}

/// The run's event count (see `Store::event_count`).
pub(crate) async fn event_count(db: &impl Db, run_id: RunId) -> StoreResult<Option<u64>> {
    let sql = "SELECT event_count FROM kern_runs WHERE run_id = $1";
    match db.query_opt(sql, &[&run_id]).await? {
        Some(row) => Ok(Some(get::<i64>(&row, 0)? as u64)),
        None => Ok(None),
    }
}

/// The `WHERE` clause of a run filter (its filters only) and its arguments (`$1`, `$2`, …).
fn run_conditions(f: &RunFilter) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = String::from("true");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |clause: &str, v: Box<dyn ToSql + Sync + Send>| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} = ${}", args.len()));
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
        add("parent_run_id", Box::new(p));
    }
    sql.push_str(&crate::util::status_terms(f));
    if f.top_level {
        sql.push_str(" AND parent_run_id IS NULL");
    }
    (sql, args)
}

fn params(args: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

pub(crate) async fn list_runs(db: &impl Db, f: &RunFilter) -> StoreResult<Vec<RunRecord>> {
    let (conds, mut args) = run_conditions(f);
    args.push(Box::new(
        f.limit.unwrap_or(100).min(i64::MAX as usize) as i64
    ));
    args.push(Box::new(f.offset.unwrap_or(0).min(i64::MAX as usize) as i64));
    let dir = if f.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        concat!(
            "SELECT ",
            run_columns!(),
            " FROM kern_runs WHERE {conds} ORDER BY created_at {dir}, run_id {dir} LIMIT ${l} OFFSET ${o}"
        ),
        conds = conds,
        dir = dir,
        l = args.len() - 1,
        o = args.len()
    );
    let rows = db.query(&sql, &params(&args)).await?;
    rows.iter().map(row_to_run).collect()
}

pub(crate) async fn count_runs(db: &impl Db, f: &RunFilter) -> StoreResult<u64> {
    let (conds, args) = run_conditions(f);
    let sql = format!("SELECT count(*) FROM kern_runs WHERE {conds}");
    let n: i64 = get(&db.query_one(&sql, &params(&args)).await?, 0)?;
    Ok(n as u64)
}

/// Served by `kern_runs_pending` (all) or `kern_runs_pending_component` (one component).
pub(crate) async fn count_pending(
    db: &impl Db,
    component: Option<(ComponentKind, &str)>,
) -> StoreResult<u64> {
    let n: i64 = match component {
        None => {
            let sql = "SELECT count(*) FROM kern_runs WHERE status = 'pending'";
            get(&db.query_one(sql, &[]).await?, 0)?
        }
        Some((kind, id)) => {
            let sql = "SELECT count(*) FROM kern_runs
                       WHERE status = 'pending' AND kind = $1 AND component_id = $2";
            get(&db.query_one(sql, &[&kind.as_str(), &id]).await?, 0)?
        }
    };
    Ok(n as u64)
}

/// Served by `kern_runs_finished`.
pub(crate) async fn count_finished_since(
    db: &impl Db,
    since: Millis,
    component: Option<(ComponentKind, &str)>,
) -> StoreResult<u64> {
    let (kind, id) = match component {
        Some((k, id)) => (Some(k.as_str()), Some(id)),
        None => (None, None),
    };
    let sql = "SELECT count(*) FROM kern_runs
               WHERE finished_at >= $1 AND background AND parent_run_id IS NULL
               AND ($2::text IS NULL OR (kind = $2 AND component_id = $3::text))";
    let n: i64 = get(&db.query_one(sql, &[&since, &kind, &id]).await?, 0)?;
    Ok(n as u64)
}

/// One statement: the counts, the oldest pending run and the database clock.
pub(crate) async fn queue_stats(db: &impl Db) -> StoreResult<QueueStats> {
    let sql = "SELECT c.status, c.n,
                   (SELECT min(created_at) FROM kern_runs WHERE status = 'pending'),
                   (extract(epoch from clock_timestamp()) * 1000)::bigint
               FROM (SELECT NULL::text AS status, 0::bigint AS n
                     UNION ALL
                     SELECT status, count(*) FROM kern_runs WHERE parent_run_id IS NULL
                     GROUP BY status) c";
    let rows = db.query(sql, &[]).await?;
    let mut stats = QueueStats::default();
    for r in &rows {
        stats.oldest_pending_at = get(r, 2)?;
        stats.now = get(r, 3)?;
        if let Some(status) = get::<Option<&str>>(r, 0)? {
            let status: RunStatus = status.parse().map_err(|e| corrupt("status", e))?;
            stats.counts.insert(status, get::<i64>(r, 1)? as u64);
        }
    }
    Ok(stats)
}

pub(crate) async fn cancel_requests(db: &impl Db, owner: &str) -> StoreResult<Vec<RunId>> {
    let sql = "SELECT run_id FROM kern_runs
               WHERE lease_owner = $1 AND status = 'running' AND cancel_requested
               ORDER BY run_id";
    let rows = db.query(sql, &[&owner]).await?;
    rows.iter().map(|r| get(r, 0)).collect()
}

pub(crate) async fn read_events(
    db: &impl Db,
    run_id: RunId,
    from: u64,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    // The run's output and envelope only for the events stored without them (`payload`'s
    // envelope codes -1, -2 and -3).
    let sql = "SELECT event_index, event_type, payload, created_at, envelope,
                   CASE WHEN envelope IN (-1, -3)
                       THEN (SELECT output::text FROM kern_runs WHERE run_id = $1) END,
                   CASE WHEN envelope IN (-2, -3)
                       THEN (SELECT event_envelope FROM kern_runs WHERE run_id = $1) END
               FROM kern_events
               WHERE run_id = $1 AND event_index >= $2 ORDER BY event_index LIMIT $3";
    // An index past i64::MAX matches nothing; so does a limit of zero.
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = db.query(sql, &[&run_id, &from, &limit]).await?;
    rows.iter()
        .map(|r| {
            let event_index =
                u64::try_from(get::<i64>(r, 0)?).map_err(|e| corrupt("event_index", e))?;
            let event_type: String = get(r, 1)?;
            let created_at = get(r, 3)?;
            let row = crate::payload::Row {
                event_type: &event_type,
                run_id,
                event_index,
                created_at,
            };
            let payload = crate::payload::from_row(
                get(r, 2)?,
                get::<Option<i32>>(r, 4)?.map(i64::from),
                crate::payload::RunColumns {
                    output: get(r, 5)?,
                    envelope: get(r, 6)?,
                },
                row,
            )
            .map_err(|e| corrupt("event payload", e))?;
            Ok(StoredEvent {
                event_index,
                event_type,
                payload,
                created_at,
            })
        })
        .collect()
}

pub(crate) async fn load_checkpoints(
    db: &impl Db,
    run_id: RunId,
) -> StoreResult<Vec<(String, Value)>> {
    // `COLLATE "C"`: byte order, as SQLite sorts, whatever the database's collation.
    let sql =
        "SELECT key, value FROM kern_checkpoints WHERE run_id = $1 ORDER BY key COLLATE \"C\"";
    let rows = db.query(sql, &[&run_id]).await?;
    rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect()
}

pub(crate) async fn load_scopes(db: &impl Db, run_id: RunId) -> StoreResult<Vec<(u64, String)>> {
    let sql = "SELECT event_index, scope FROM kern_events
               WHERE run_id = $1 AND scope IS NOT NULL ORDER BY event_index";
    let rows = db.query(sql, &[&run_id]).await?;
    rows.iter()
        .map(|r| {
            let index = u64::try_from(get::<i64>(r, 0)?).map_err(|e| corrupt("event_index", e))?;
            Ok((index, get(r, 1)?))
        })
        .collect()
}

pub(crate) async fn get_session(
    db: &impl Db,
    session_id: &str,
) -> StoreResult<Option<SessionRecord>> {
    let sql = concat!(
        "SELECT ",
        session_columns!(),
        " FROM kern_sessions WHERE session_id = $1"
    );
    db.query_opt(sql, &[&session_id])
        .await?
        .as_ref()
        .map(row_to_session)
        .transpose()
}

pub(crate) async fn list_sessions(
    db: &impl Db,
    f: &SessionFilter,
) -> StoreResult<(Vec<SessionRecord>, u64)> {
    let mut conds = String::from("true");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |column: &str, v: Box<dyn ToSql + Sync + Send>| {
        args.push(v);
        conds.push_str(&format!(" AND {column} = ${}", args.len()));
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
    let filters = args.len();
    let column = match f.sort_by {
        SessionSort::CreatedAt => "created_at",
        SessionSort::UpdatedAt => "updated_at",
    };
    let dir = if f.descending { "DESC" } else { "ASC" };
    args.push(Box::new(f.limit.unwrap_or(20).min(i64::MAX as usize) as i64));
    args.push(Box::new(f.offset.unwrap_or(0).min(i64::MAX as usize) as i64));
    // The count rides along in the page's statement, so both come from one snapshot.
    // `COLLATE "C"`: ties in byte order, as SQLite breaks them.
    let sql = format!(
        concat!(
            "SELECT ",
            session_columns!(),
            ", (SELECT count(*) FROM kern_sessions WHERE {conds})
             FROM kern_sessions WHERE {conds}
             ORDER BY {column} {dir}, session_id COLLATE \"C\" {dir} LIMIT ${l} OFFSET ${o}"
        ),
        conds = conds,
        column = column,
        dir = dir,
        l = args.len() - 1,
        o = args.len()
    );
    let params: Vec<&(dyn ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = db.query(&sql, &params).await?;
    let total: i64 = match rows.first() {
        Some(r) => get(r, 8)?,
        None => {
            let sql = format!("SELECT count(*) FROM kern_sessions WHERE {conds}");
            get(&db.query_one(&sql, &params[..filters]).await?, 0)?
        }
    };
    let sessions = rows
        .iter()
        .map(row_to_session)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((sessions, total as u64))
}

/// See [`Store::first_inputs`](crate::Store::first_inputs): one statement over the array
/// of ids; each session's first top-level run is found on `kern_runs_session`.
pub(crate) async fn first_inputs(
    db: &impl Db,
    session_ids: &[String],
) -> StoreResult<std::collections::HashMap<String, Value>> {
    let sql = "SELECT s.id,
                   (SELECT r.input -> 'input' FROM kern_runs r
                    WHERE r.session_id = s.id AND r.parent_run_id IS NULL
                    ORDER BY r.created_at, r.run_id LIMIT 1)
               FROM (SELECT DISTINCT unnest($1::text[]) AS id) s";
    let rows = db.query(sql, &[&session_ids]).await?;
    let mut out = std::collections::HashMap::new();
    for r in &rows {
        if let Some(input) = get::<Option<Value>>(r, 1)? {
            out.insert(get(r, 0)?, input);
        }
    }
    Ok(out)
}

pub(crate) async fn list_webhooks(
    db: &impl Db,
    run_id: RunId,
) -> StoreResult<Vec<WebhookDelivery>> {
    let sql = concat!(
        "SELECT ",
        webhook_columns!(),
        " FROM kern_webhooks WHERE run_id = $1 ORDER BY id"
    );
    let rows = db.query(sql, &[&run_id]).await?;
    rows.iter().map(row_to_webhook).collect()
}
