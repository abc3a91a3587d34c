//! The SQL of every PostgreSQL read, on a pooled connection. Same semantics as the SQLite
//! backend's reads; nothing here writes.

use super::ops::{corrupt, row_to_run, row_to_session, row_to_webhook, run_by_id, Db};
use crate::error::StoreResult;
use crate::model::*;
use serde_json::Value;
use tokio_postgres::types::ToSql;

pub(crate) async fn get_run(db: &impl Db, run_id: RunId) -> StoreResult<Option<RunRecord>> {
    run_by_id(db, run_id).await
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
    let stmt = db.prep(&sql).await?;
    let rows = db.client().query(&stmt, &params(&args)).await?;
    rows.iter().map(row_to_run).collect()
}

pub(crate) async fn count_runs(db: &impl Db, f: &RunFilter) -> StoreResult<u64> {
    let (conds, args) = run_conditions(f);
    let stmt = db
        .prep(&format!("SELECT count(*) FROM kern_runs WHERE {conds}"))
        .await?;
    let n: i64 = db
        .client()
        .query_one(&stmt, &params(&args))
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// Served by `kern_runs_pending` (all) or `kern_runs_pending_component` (one component).
pub(crate) async fn count_pending(
    db: &impl Db,
    component: Option<(ComponentKind, &str)>,
) -> StoreResult<u64> {
    let n: i64 = match component {
        None => {
            let stmt = db
                .prep("SELECT count(*) FROM kern_runs WHERE status = 'pending'")
                .await?;
            db.client().query_one(&stmt, &[]).await?.try_get(0)?
        }
        Some((kind, id)) => {
            let stmt = db
                .prep(
                    "SELECT count(*) FROM kern_runs
                     WHERE status = 'pending' AND kind = $1 AND component_id = $2",
                )
                .await?;
            db.client()
                .query_one(&stmt, &[&kind.as_str(), &id])
                .await?
                .try_get(0)?
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
    let stmt = db
        .prep(
            "SELECT count(*) FROM kern_runs
             WHERE finished_at >= $1 AND background AND parent_run_id IS NULL
             AND ($2::text IS NULL OR (kind = $2 AND component_id = $3::text))",
        )
        .await?;
    let n: i64 = db
        .client()
        .query_one(&stmt, &[&since, &kind, &id])
        .await?
        .try_get(0)?;
    Ok(n as u64)
}

/// One statement: the counts, the oldest pending run and the database clock.
pub(crate) async fn queue_stats(db: &impl Db) -> StoreResult<QueueStats> {
    let stmt = db
        .prep(
            "SELECT c.status, c.n,
                 (SELECT min(created_at) FROM kern_runs WHERE status = 'pending'),
                 (extract(epoch from clock_timestamp()) * 1000)::bigint
             FROM (SELECT NULL::text AS status, 0::bigint AS n
                   UNION ALL
                   SELECT status, count(*) FROM kern_runs WHERE parent_run_id IS NULL
                   GROUP BY status) c",
        )
        .await?;
    let rows = db.client().query(&stmt, &[]).await?;
    let mut stats = QueueStats::default();
    for r in &rows {
        stats.oldest_pending_at = r.try_get(2)?;
        stats.now = r.try_get(3)?;
        if let Some(status) = r.try_get::<_, Option<&str>>(0)? {
            let status: RunStatus = status.parse().map_err(|e| corrupt("status", e))?;
            stats.counts.insert(status, r.try_get::<_, i64>(1)? as u64);
        }
    }
    Ok(stats)
}

pub(crate) async fn cancel_requests(db: &impl Db, owner: &str) -> StoreResult<Vec<RunId>> {
    let stmt = db
        .prep(
            "SELECT run_id FROM kern_runs
             WHERE lease_owner = $1 AND status = 'running' AND cancel_requested
             ORDER BY run_id",
        )
        .await?;
    let rows = db.client().query(&stmt, &[&owner]).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

pub(crate) async fn read_events(
    db: &impl Db,
    run_id: RunId,
    from: u64,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    let stmt = db
        .prep(
            "SELECT event_index, event_type, payload, created_at FROM kern_events
             WHERE run_id = $1 AND event_index >= $2 ORDER BY event_index LIMIT $3",
        )
        .await?;
    // An index past i64::MAX matches nothing; so does a limit of zero.
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = db.client().query(&stmt, &[&run_id, &from, &limit]).await?;
    rows.iter()
        .map(|r| {
            Ok(StoredEvent {
                event_index: u64::try_from(r.try_get::<_, i64>(0)?)
                    .map_err(|e| corrupt("event_index", e))?,
                event_type: r.try_get(1)?,
                payload: r.try_get::<_, &str>(2)?.into(),
                created_at: r.try_get(3)?,
            })
        })
        .collect()
}

pub(crate) async fn load_checkpoints(
    db: &impl Db,
    run_id: RunId,
) -> StoreResult<Vec<(String, Value)>> {
    // `COLLATE "C"`: byte order, as SQLite sorts, whatever the database's collation.
    let stmt = db
        .prep(
            "SELECT key, value FROM kern_checkpoints WHERE run_id = $1 ORDER BY key COLLATE \"C\"",
        )
        .await?;
    let rows = db.client().query(&stmt, &[&run_id]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(crate) async fn load_scopes(db: &impl Db, run_id: RunId) -> StoreResult<Vec<(u64, String)>> {
    let stmt = db
        .prep(
            "SELECT event_index, scope FROM kern_events
             WHERE run_id = $1 AND scope IS NOT NULL ORDER BY event_index",
        )
        .await?;
    let rows = db.client().query(&stmt, &[&run_id]).await?;
    rows.iter()
        .map(|r| {
            let index =
                u64::try_from(r.try_get::<_, i64>(0)?).map_err(|e| corrupt("event_index", e))?;
            Ok((index, r.try_get(1)?))
        })
        .collect()
}

pub(crate) async fn get_session(
    db: &impl Db,
    session_id: &str,
) -> StoreResult<Option<SessionRecord>> {
    let stmt = db
        .prep(concat!(
            "SELECT ",
            session_columns!(),
            " FROM kern_sessions WHERE session_id = $1"
        ))
        .await?;
    db.client()
        .query_opt(&stmt, &[&session_id])
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
    let stmt = db.prep(&sql).await?;
    let rows = db.client().query(&stmt, &params).await?;
    let total = match rows.first() {
        Some(r) => r.try_get::<_, i64>(8)?,
        None => {
            let stmt = db
                .prep(&format!("SELECT count(*) FROM kern_sessions WHERE {conds}"))
                .await?;
            db.client()
                .query_one(&stmt, &params[..filters])
                .await?
                .try_get(0)?
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
    let stmt = db
        .prep(
            "SELECT s.id,
                    (SELECT r.input -> 'input' FROM kern_runs r
                     WHERE r.session_id = s.id AND r.parent_run_id IS NULL
                     ORDER BY r.created_at, r.run_id LIMIT 1)
             FROM (SELECT DISTINCT unnest($1::text[]) AS id) s",
        )
        .await?;
    let rows = db.client().query(&stmt, &[&session_ids]).await?;
    let mut out = std::collections::HashMap::new();
    for r in &rows {
        if let Some(input) = r.try_get::<_, Option<Value>>(1)? {
            out.insert(r.try_get(0)?, input);
        }
    }
    Ok(out)
}

pub(crate) async fn list_webhooks(
    db: &impl Db,
    run_id: RunId,
) -> StoreResult<Vec<WebhookDelivery>> {
    let stmt = db
        .prep(concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM kern_webhooks WHERE run_id = $1 ORDER BY id"
        ))
        .await?;
    let rows = db.client().query(&stmt, &[&run_id]).await?;
    rows.iter().map(row_to_webhook).collect()
}
