//! Bytes per run: what the database holds for trivial three-step runs, in all and per table
//! (each table with its indexes), and per event.
//!
//! N runs are executed to completion on a fresh database; the engine shuts down and the store
//! closes; then the database is measured. On SQLite: the file's pages in use after the WAL is
//! checkpointed into it (`page_count - freelist_count`), split by table with `dbstat`. On
//! PostgreSQL: `pg_total_relation_size` of each table (heap, indexes, TOAST) after `VACUUM FULL`,
//! so that rows left dead by updates (every write of a run updates its row) are not counted:
//! the figure is what the live rows take.

use super::{start_many, trivial_workflow, wait_count, wait_drained, Sizes};
use crate::db::{BenchDb, Setup};
use crate::report::{Cmp, Metric};
use anyhow::{Context, Result};
use kern_core::engine::Engine;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "bytes";
/// The tables a run's rows are in.
const TABLES: [&str; 4] = [
    "kern_runs",
    "kern_events",
    "kern_checkpoints",
    "kern_sessions",
];

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let n = sizes.start_runs;
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).build();
    let finished = Arc::new(AtomicUsize::new(0));
    let workflow = trivial_workflow(&engine, "bench-bytes", finished.clone())?;
    eprintln!("  {n} runs of a 3-step workflow, then the database is measured");
    start_many(&workflow, n).await?;
    wait_count(&finished, n, "the last step of every run").await?;
    wait_drained(&db.store).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    db.store.close().await;
    let sizes = match setup {
        Setup::Sqlite(_) => sqlite_sizes(&db)?,
        Setup::Postgres(_) => postgres_sizes(&db).await?,
    };
    db.remove().await?;

    let per_run = |b: u64| b as f64 / n as f64;
    let total: u64 = sizes.bytes.values().sum();
    let mut metrics = vec![
        Metric::info(NAME, "bytes per run, all tables", per_run(total), "B")
            .target(Cmp::Below, 4096.0),
    ];
    for table in TABLES {
        let bytes = sizes.bytes.get(table).copied().unwrap_or(0);
        metrics.push(Metric::info(
            NAME,
            format!("bytes per run, {table} (with its indexes)"),
            per_run(bytes),
            "B",
        ));
    }
    let events = sizes.bytes.get("kern_events").copied().unwrap_or(0);
    metrics.push(Metric::info(
        NAME,
        "bytes per event (kern_events with its index)",
        events as f64 / sizes.events.max(1) as f64,
        "B",
    ));
    metrics.push(Metric::info(
        NAME,
        "events per run",
        sizes.events as f64 / n as f64,
        "",
    ));
    Ok(metrics)
}

/// Bytes by table (indexes counted with their table) and the number of events.
struct Measured {
    bytes: BTreeMap<String, u64>,
    events: u64,
}

fn sqlite_sizes(db: &BenchDb) -> Result<Measured> {
    let conn = rusqlite::Connection::open(&db.url).context("open the SQLite file")?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let mut stmt = conn.prepare(
        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d
         LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1",
    )?;
    let mut bytes = BTreeMap::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (table, b) = row?;
        bytes.insert(table, b as u64);
    }
    let used: u64 = conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())",
        [],
        |r| r.get(0),
    )?;
    // dbstat counts every page in use; pages of no table (the schema's) are under their own name.
    debug_assert!(bytes.values().sum::<u64>() <= used * page_size);
    let events: i64 = conn.query_row("SELECT count(*) FROM kern_events", [], |r| r.get(0))?;
    Ok(Measured {
        bytes,
        events: events as u64,
    })
}

async fn postgres_sizes(db: &BenchDb) -> Result<Measured> {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
    let handle = tokio::spawn(conn);
    client
        .batch_execute(&format!("VACUUM FULL {}", TABLES.join(", ")))
        .await
        .context("VACUUM FULL")?;
    let rows = client
        .query(
            "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            &[],
        )
        .await?;
    let bytes = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect();
    let events: i64 = client
        .query_one("SELECT count(*) FROM kern_events", &[])
        .await?
        .get(0);
    drop(client);
    let _ = handle.await;
    Ok(Measured {
        bytes,
        events: events as u64,
    })
}
