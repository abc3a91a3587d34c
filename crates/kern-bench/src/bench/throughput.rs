//! Throughput: trivial three-step workflows started in the background as fast as 32 clients
//! can, timed from the first start until the last run is `completed` in the store.

use super::{
    all_runs, completion_check, cpu_metrics, ms_since, sorted, start_many, teardown,
    trivial_workflow, wait_count, wait_drained, warm_up, Sizes, CLIENTS,
};
use crate::cpu::CpuSample;
use crate::db::Setup;
use crate::report::{percentile, Cmp, Metric};
use anyhow::Result;
use kern_core::engine::Engine;
use kern_store::sqlite::Synchronous;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

const NAME: &str = "throughput";
const WARM_UP: usize = 100;

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let n = sizes.throughput_runs;
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).build();
    let finished = Arc::new(AtomicUsize::new(0));
    let workflow = trivial_workflow(&engine, "bench-throughput", finished.clone())?;
    warm_up(&workflow, &finished, &db.store, WARM_UP).await?;

    eprintln!("  {n} runs of a 3-step workflow, started by {CLIENTS} clients");
    let cpu = CpuSample::now();
    let t = Instant::now();
    let (ids, _) = start_many(&workflow, n).await?;
    let started_ms = ms_since(t);
    // The counter says when the last step of every run has executed; the store then says
    // when every run is durably `completed` (it is polled only from then on, so that the
    // polling does not compete with the engine).
    wait_count(&finished, WARM_UP + n, "the last step of every run").await?;
    wait_drained(&db.store).await?;
    let total_ms = ms_since(t);
    let cpu_after = CpuSample::now();

    let ids: std::collections::HashSet<_> = ids.into_iter().collect();
    let runs: Vec<_> = all_runs(&db.store, workflow.id())
        .await?
        .into_iter()
        .filter(|r| ids.contains(&r.run_id))
        .collect();
    let rate = n as f64 / (total_ms / 1e3);
    let mut rate_metric = Metric::info(NAME, "runs per second, start to completed", rate, "runs/s");
    rate_metric = match setup {
        // design.md §5: "thousands per second" on SQLite (with its default durability).
        Setup::Sqlite(Synchronous::Full) => rate_metric.target(Cmp::AtLeast, 1000.0),
        Setup::Sqlite(_) => {
            rate_metric.note("no target: durability relaxed, to show the fsync cost")
        }
        Setup::Postgres(_) => rate_metric.note("no target (the design sets one for SQLite)"),
    };
    let turnaround = sorted(
        runs.iter()
            .filter_map(|r| r.finished_at.map(|f| (f - r.created_at) as f64))
            .collect(),
    );
    let mut metrics = vec![
        rate_metric,
        Metric::info(NAME, "wall time", total_ms / 1e3, "s"),
        Metric::info(NAME, "start phase (all runs stored)", started_ms / 1e3, "s"),
    ];
    if !turnaround.is_empty() {
        metrics.push(Metric::info(
            NAME,
            "run turnaround p50 (created to finished)",
            percentile(&turnaround, 50.0),
            "ms",
        ));
        metrics.push(Metric::info(
            NAME,
            "run turnaround p99 (created to finished)",
            percentile(&turnaround, 99.0),
            "ms",
        ));
    }
    metrics.push(completion_check(NAME, &runs, n));
    metrics.extend(cpu_metrics(NAME, &cpu, &cpu_after));
    teardown(&[&engine], db).await?;
    Ok(metrics)
}
