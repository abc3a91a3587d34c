//! The benchmarks, and what they share: the workflows they run, starting many runs from
//! concurrent clients, and waiting for runs to finish.

pub mod agents;
pub mod bytes;
pub mod cancel;
pub mod catchup;
pub mod memory;
pub mod start;
pub mod store_limit;
pub mod throughput;

use crate::cpu::CpuSample;
use crate::db::BenchDb;
use crate::report::{Cmp, Metric};
use anyhow::{bail, Result};
use kern_core::engine::Engine;
use kern_core::workflow::{Step, StepOutput, Workflow};
use kern_store::{RunFilter, RunId, RunRecord, RunStatus, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many concurrent clients start runs (design.md §5 measures start latency at 32).
pub const CLIENTS: usize = 32;

/// How long any wait for runs may take before the benchmark gives up.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// How big each benchmark is.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Runs started in the start-latency benchmark.
    pub start_runs: usize,
    /// Runs in the throughput benchmark.
    pub throughput_runs: usize,
    /// Runs in flight in the memory benchmark.
    pub memory_runs: usize,
    /// `StepOutput` events in the catch-up run.
    pub catchup_events: usize,
    /// Runs cancelled in each cancel-latency variant.
    pub cancel_runs: usize,
    /// Concurrent streaming agent runs in the agents benchmark.
    pub agent_runs: usize,
}

impl Sizes {
    /// The full sizes, or smaller ones for `--quick`.
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                start_runs: 500,
                throughput_runs: 1_000,
                memory_runs: 2_000,
                catchup_events: 10_000,
                cancel_runs: 20,
                agent_runs: 200,
            }
        } else {
            Self {
                start_runs: 2_000,
                throughput_runs: 5_000,
                memory_runs: 10_000,
                catchup_events: 10_000,
                cancel_runs: 50,
                agent_runs: 1_000,
            }
        }
    }
}

/// A trivial three-step workflow (async function steps returning a little text). Its last
/// step bumps `finished`, so callers can wait for it cheaply before asking the store.
pub fn trivial_workflow(engine: &Engine, id: &str, finished: Arc<AtomicUsize>) -> Result<Workflow> {
    Ok(Workflow::builder(id)
        .step(Step::new("first", |_| async { Ok(StepOutput::text("a")) }))
        .step(Step::new("second", |input| async move {
            Ok(StepOutput::text(input.previous_content_str() + "b"))
        }))
        .step(Step::new("third", move |input| {
            let finished = finished.clone();
            async move {
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(StepOutput::text(input.previous_content_str() + "c"))
            }
        }))
        .db(engine)
        .build()?)
}

/// Starts `n` background runs of `workflow` from [`CLIENTS`] concurrent tasks, each taking
/// the next start until `n` are started. Returns the run ids and each start call's latency
/// (ms), in no particular order.
pub async fn start_many(workflow: &Workflow, n: usize) -> Result<(Vec<RunId>, Vec<f64>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS.min(n.max(1)) {
        let workflow = workflow.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let run = workflow.run_background("bench").await?;
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
                ids.push(run.run_id);
            }
            Ok::<_, anyhow::Error>((ids, latencies))
        }));
    }
    let mut ids = Vec::with_capacity(n);
    let mut latencies = Vec::with_capacity(n);
    for t in tasks {
        let (i, l) = t.await??;
        ids.extend(i);
        latencies.extend(l);
    }
    Ok((ids, latencies))
}

/// Waits until `counter` reaches `n`, checking every millisecond.
pub async fn wait_count(counter: &AtomicUsize, n: usize, what: &str) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while counter.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            bail!(
                "timed out after {PATIENCE:?} waiting for {what} ({} of {n})",
                counter.load(Ordering::SeqCst)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Waits until the store has no `pending` and no `running` run, checking every 2 ms.
pub async fn wait_drained(store: &Arc<dyn Store>) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut busy = false;
        for status in [RunStatus::Pending, RunStatus::Running] {
            let filter = RunFilter {
                status: Some(status),
                limit: Some(1),
                ..Default::default()
            };
            busy |= !store.list_runs(&filter).await?.is_empty();
        }
        if !busy {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {PATIENCE:?} waiting for all runs to finish");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Every run of `component_id` in the store.
pub async fn all_runs(store: &Arc<dyn Store>, component_id: &str) -> Result<Vec<RunRecord>> {
    const PAGE: usize = 5_000;
    let mut out = Vec::new();
    loop {
        let page = store
            .list_runs(&RunFilter {
                component_id: Some(component_id.to_owned()),
                limit: Some(PAGE),
                offset: Some(out.len()),
                ..Default::default()
            })
            .await?;
        let last = page.len() < PAGE;
        out.extend(page);
        if last {
            return Ok(out);
        }
    }
}

/// A check that all `expected` runs of `runs` completed; the note says what happened to the
/// others.
pub fn completion_check(bench: &str, runs: &[RunRecord], expected: usize) -> Metric {
    let count = |s: RunStatus| runs.iter().filter(|r| r.status == s).count();
    let completed = count(RunStatus::Completed);
    let metric = Metric::info(bench, "runs completed", completed as f64, "runs")
        .target(Cmp::AtLeast, expected as f64);
    if completed == expected && runs.len() == expected {
        return metric;
    }
    let failed = count(RunStatus::Failed);
    let cancelled = count(RunStatus::Cancelled);
    let unfinished = runs.iter().filter(|r| !r.status.is_terminal()).count();
    let missing = expected.saturating_sub(runs.len());
    let mut note = format!(
        "{failed} failed, {cancelled} cancelled, {unfinished} unfinished, {missing} missing from the store"
    );
    if let Some(e) = runs.iter().find_map(|r| r.error.as_deref()) {
        note.push_str(&format!("; first error: {e}"));
    }
    metric.note(note)
}

/// Shuts the engines down, then deletes the database.
pub async fn teardown(engines: &[&Engine], db: BenchDb) -> Result<()> {
    for e in engines {
        e.shutdown(Duration::from_secs(5)).await;
    }
    db.remove().await
}

/// Milliseconds since `t`.
pub fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Sorts latencies (ms) ascending.
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Runs `n` runs of a trivial workflow to completion, so that connection pools, threads and
/// caches are up before anything is timed. `finished` is the workflow's counter.
pub async fn warm_up(
    workflow: &Workflow,
    finished: &AtomicUsize,
    store: &Arc<dyn Store>,
    n: usize,
) -> Result<()> {
    let before = finished.load(Ordering::SeqCst);
    start_many(workflow, n).await?;
    wait_count(finished, before + n, "warm-up runs").await?;
    wait_drained(store).await
}

/// CPU use between two samples, as informational metrics: the process total, each thread
/// name using at least 2% of a core, and a local PostgreSQL server's processes (if any).
pub fn cpu_metrics(bench: &str, before: &CpuSample, after: &CpuSample) -> Vec<Metric> {
    let usage = before.usage_until(after);
    let total: f64 = usage.threads.iter().map(|(_, pct)| pct).sum();
    let mut out = vec![Metric::info(
        bench,
        "CPU, this process",
        total,
        "% of a core",
    )];
    for (name, pct) in usage.threads.into_iter().filter(|(_, pct)| *pct >= 2.0) {
        out.push(Metric::info(
            bench,
            format!("CPU, threads named {name:?}"),
            pct,
            "% of a core",
        ));
    }
    if usage.postgres >= 2.0 {
        out.push(Metric::info(
            bench,
            "CPU, local postgres server processes",
            usage.postgres,
            "% of a core",
        ));
    }
    out
}
