//! Start latency: how long `Workflow::run_background` takes, at 32 concurrent clients, while
//! the engine's executor runs the started runs in the same process (as in production).
//!
//! For diagnosis it also measures the same starts with no executor (the runs stay pending),
//! which isolates the cost of the start itself from the contention with running runs, and
//! reports where the CPU went while starting.

use super::{
    all_runs, completion_check, cpu_metrics, ms_since, sorted, start_many, teardown,
    trivial_workflow, wait_count, wait_drained, warm_up, Sizes, CLIENTS,
};
use crate::cpu::CpuSample;
use crate::db::Setup;
use crate::report::{percentile, Cmp, Metric};
use anyhow::Result;
use kern_core::engine::Engine;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

const NAME: &str = "start";
const WARM_UP: usize = 50;

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let n = sizes.start_runs;
    let mut metrics = with_executor(setup, n).await?;
    metrics.extend(starts_only(setup, n).await?);
    Ok(metrics)
}

/// The measurement proper: starts while the executor runs them.
async fn with_executor(setup: &Setup, n: usize) -> Result<Vec<Metric>> {
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).build();
    let finished = Arc::new(AtomicUsize::new(0));
    let workflow = trivial_workflow(&engine, "bench-start", finished.clone())?;
    warm_up(&workflow, &finished, &db.store, WARM_UP).await?;

    eprintln!("  {n} background starts from {CLIENTS} concurrent clients, executor running");
    let cpu = CpuSample::now();
    let t = Instant::now();
    let (_, latencies) = start_many(&workflow, n).await?;
    let elapsed = ms_since(t);
    let cpu_after = CpuSample::now();
    wait_count(&finished, WARM_UP + n, "runs to finish").await?;
    wait_drained(&db.store).await?;

    let runs = all_runs(&db.store, workflow.id()).await?;
    let lat = sorted(latencies);
    let mut metrics = vec![
        Metric::info(NAME, "start p50", percentile(&lat, 50.0), "ms"),
        Metric::info(NAME, "start p99", percentile(&lat, 99.0), "ms").target(Cmp::Below, 10.0),
        Metric::info(NAME, "start max", *lat.last().expect("starts"), "ms"),
        Metric::info(
            NAME,
            "starts per second",
            n as f64 / (elapsed / 1e3),
            "runs/s",
        )
        .note(format!(
            "{n} starts from {CLIENTS} clients, executor running meanwhile"
        )),
        completion_check(NAME, &runs, WARM_UP + n),
    ];
    metrics.extend(cpu_metrics(NAME, &cpu, &cpu_after));
    teardown(&[&engine], db).await?;
    Ok(metrics)
}

/// Diagnosis: the same starts on an engine without an executor.
async fn starts_only(setup: &Setup, n: usize) -> Result<Vec<Metric>> {
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).executor(false).build();
    let workflow = trivial_workflow(&engine, "bench-start", Arc::new(AtomicUsize::new(0)))?;
    start_many(&workflow, WARM_UP).await?;
    eprintln!("  {n} background starts from {CLIENTS} concurrent clients, no executor");
    let t = Instant::now();
    let (_, latencies) = start_many(&workflow, n).await?;
    let elapsed = ms_since(t);
    let lat = sorted(latencies);
    let metrics = vec![
        Metric::info(NAME, "start p50, no executor", percentile(&lat, 50.0), "ms"),
        Metric::info(NAME, "start p99, no executor", percentile(&lat, 99.0), "ms")
            .note("diagnostic: starts alone (runs stay pending), without execution competing"),
        Metric::info(
            NAME,
            "starts per second, no executor",
            n as f64 / (elapsed / 1e3),
            "runs/s",
        ),
    ];
    teardown(&[&engine], db).await?;
    Ok(metrics)
}
