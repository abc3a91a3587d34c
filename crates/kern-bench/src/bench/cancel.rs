//! Cancel latency: from calling `Engine::cancel_run` on a running run (parked in a step that
//! never returns) to its status reading `cancelled` in the store, polled every millisecond.
//!
//! Two variants: the engine executing the run cancels it (in-process), and a client-only
//! engine on its own store connection cancels it (as another process would: the owner learns
//! of it by push notification on PostgreSQL, by polling on SQLite).

use super::{ms_since, sorted, start_many, teardown, wait_count, Sizes};
use crate::db::Setup;
use crate::report::{percentile, Cmp, Metric};
use anyhow::{bail, Result};
use kern_core::engine::{CancelOutcome, Engine};
use kern_core::workflow::{Step, StepOutput, Workflow};
use kern_store::{RunId, RunStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAME: &str = "cancel";
/// How long one cancel may take before the benchmark gives up on it.
const CANCEL_PATIENCE: Duration = Duration::from_secs(10);

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let k = sizes.cancel_runs;
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).build();
    let entered = Arc::new(AtomicUsize::new(0));
    let workflow = {
        let entered = entered.clone();
        Workflow::builder("bench-cancel")
            .step(Step::new("forever", move |_| {
                let entered = entered.clone();
                async move {
                    entered.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                    Ok(StepOutput::text("unreachable"))
                }
            }))
            .db(&engine)
            .build()?
    };

    eprintln!("  {k} cancels in-process, {k} from a second engine");
    let (ids, _) = start_many(&workflow, 2 * k).await?;
    wait_count(&entered, 2 * k, "every run to enter its step").await?;

    let local = time_cancels(&engine, &ids[..k]).await?;
    let client = Engine::builder(kern_store::connect(&db.url).await?)
        .executor(false)
        .build();
    let remote = time_cancels(&client, &ids[k..]).await?;
    client.shutdown(Duration::from_secs(1)).await;
    client.store().close().await;

    let mut metrics = report(local, "in-process");
    metrics.extend(report(remote, "from a second engine"));
    teardown(&[&engine], db).await?;
    Ok(metrics)
}

/// Cancels each run through `engine`, one after another; returns each latency (ms).
async fn time_cancels(engine: &Engine, ids: &[RunId]) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let t = Instant::now();
        match engine.cancel_run(id).await? {
            CancelOutcome::Requested => {}
            other => bail!("cancelling running run {id}: {other:?}"),
        }
        loop {
            let run = engine.get_run(id).await?;
            match run.map(|r| r.status) {
                Some(RunStatus::Cancelled) => break,
                Some(s) if s.is_terminal() => bail!("run {id} ended {s:?}, not cancelled"),
                _ if t.elapsed() > CANCEL_PATIENCE => {
                    bail!("run {id} not cancelled after {CANCEL_PATIENCE:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        out.push(ms_since(t));
    }
    Ok(out)
}

fn report(latencies: Vec<f64>, variant: &str) -> Vec<Metric> {
    let lat = sorted(latencies);
    vec![
        Metric::info(
            NAME,
            format!("p50 ({variant})"),
            percentile(&lat, 50.0),
            "ms",
        )
        .target(Cmp::Below, 50.0),
        Metric::info(
            NAME,
            format!("p99 ({variant})"),
            percentile(&lat, 99.0),
            "ms",
        )
        .target(Cmp::Below, 50.0),
        Metric::info(
            NAME,
            format!("max ({variant})"),
            *lat.last().expect("cancels"),
            "ms",
        ),
    ]
}
