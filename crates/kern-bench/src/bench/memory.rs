//! Memory: resident memory of the process with many background runs in flight, each claimed,
//! running, and parked in a step that awaits a shared gate.
//!
//! The allocator keeps freed memory, so a figure taken after other benchmarks would be
//! muddied; the parent process therefore measures in a fresh child process (itself, re-run
//! with a hidden flag) and reads the child's metrics from its stdout as JSON.

use super::{
    all_runs, completion_check, start_many, teardown, trivial_workflow, wait_count, wait_drained,
    warm_up, Sizes,
};
use crate::db::Setup;
use crate::report::{count, Cmp, Metric};
use anyhow::{bail, Context, Result};
use kern_core::engine::Engine;
use kern_core::workflow::{Step, StepOutput, Workflow};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const NAME: &str = "memory";
/// The design's figure is for this many runs.
const DESIGN_RUNS: usize = 10_000;

/// Runs the benchmark in a child process (see the module docs) and returns its metrics.
pub async fn run_in_child(setup: &Setup, quick: bool) -> Result<Vec<Metric>> {
    let exe = std::env::current_exe().context("find this program to re-run it")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--memory-child")
        .arg("--backend")
        .arg(setup.backend_name());
    if let Setup::Postgres(url) = setup {
        cmd.arg("--pg-url").arg(url);
    }
    if quick {
        cmd.arg("--quick");
    }
    cmd.stderr(std::process::Stdio::inherit());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("run the memory child process")?;
    if !out.status.success() {
        bail!("the memory child process failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("read the memory child's metrics")
}

/// The resident set size of this process, in bytes (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Result<u64> {
    Ok(proc_status("VmRSS")? * 1024)
}

/// A number from `/proc/self/status` (`VmRSS` in kB, `Threads`, …), without its unit.
fn proc_status(key: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .with_context(|| format!("no {key} in /proc/self/status"))?;
    value
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("parse {key}"))
}

/// Measures in this process (the child's side).
pub async fn measure(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let n = sizes.memory_runs;
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone())
        .max_concurrent_runs(n + 256)
        .build();

    // Warm up with a trivial workflow, so pools, threads and caches exist before the baseline.
    let warm_finished = Arc::new(AtomicUsize::new(0));
    let warm = trivial_workflow(&engine, "bench-memory-warm-up", warm_finished.clone())?;
    warm_up(&warm, &warm_finished, &db.store, 200).await?;

    let gate = Arc::new(Semaphore::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicUsize::new(0));
    let workflow = {
        let (gate, entered, released) = (gate.clone(), entered.clone(), released.clone());
        Workflow::builder("bench-memory")
            .step(Step::new("wait", move |_| {
                let (gate, entered) = (gate.clone(), entered.clone());
                async move {
                    entered.fetch_add(1, Ordering::SeqCst);
                    // Closed (not granted) to release everyone at once.
                    let _ = gate.acquire().await;
                    Ok(StepOutput::text("released"))
                }
            }))
            .step(Step::new("finish", move |_| {
                let released = released.clone();
                async move {
                    released.fetch_add(1, Ordering::SeqCst);
                    Ok(StepOutput::text("done"))
                }
            }))
            .db(&engine)
            .build()?
    };

    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes()?;
    eprintln!("  {n} background runs in flight, parked in a step (child process)");
    start_many(&workflow, n).await?;
    wait_count(&entered, n, "every run to enter its waiting step").await?;
    // Let the queued `StepStarted` writes land, so the figure is the steady state.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let in_flight = engine.local_run_count();
    let during = rss_bytes()?;
    let threads = proc_status("Threads")?;

    gate.close();
    wait_count(&released, n, "every run to leave its waiting step").await?;
    wait_drained(&db.store).await?;
    let runs = all_runs(&db.store, workflow.id()).await?;

    let delta = during.saturating_sub(before) as f64;
    let per_run = delta / n as f64;
    let mb = |b: f64| b / (1024.0 * 1024.0);
    let mut projected = Metric::info(
        NAME,
        if n == DESIGN_RUNS {
            "RSS growth for 10,000 runs in flight".to_owned()
        } else {
            format!(
                "RSS growth for {} runs, projected to 10,000",
                count(n as u64)
            )
        },
        mb(per_run * DESIGN_RUNS as f64),
        "MB",
    )
    .target(Cmp::Below, 100.0);
    if projected.pass == Some(true) && projected.value >= 50.0 {
        projected = projected.note(
            "within the 100 MB bound, but not \"well under\" it (design.md §5); see RSS per run",
        );
    }
    let metrics = vec![
        Metric::info(
            NAME,
            "RSS before (engine warmed up)",
            mb(before as f64),
            "MB",
        ),
        Metric::info(
            NAME,
            format!("RSS with {} runs in flight", count(n as u64)),
            mb(during as f64),
            "MB",
        )
        .note(format!(
            "{in_flight} runs executing in this process when measured (max_concurrent_runs = {})",
            n + 256
        )),
        projected,
        Metric::info(NAME, "RSS per in-flight run", per_run / 1024.0, "KiB"),
        Metric::info(
            NAME,
            "threads in the process, runs in flight",
            threads as f64,
            "threads",
        ),
        completion_check(NAME, &runs, n),
    ];
    teardown(&[&engine], db).await?;
    Ok(metrics)
}
