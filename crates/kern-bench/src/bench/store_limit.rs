//! The store's write limit for a trivial run's rows, and how close the engine gets to it.
//!
//! One real three-step run is executed first; its stored rows (events, output) are then written
//! again for N runs straight through the `Store` API by [`WRITERS`] concurrent writers, as the
//! engine writes a fast run: create (pending), claim, then one write with the run's events and
//! the finish (the engine's also carries the steps' checkpoints, which a completing write does
//! not store). The engine writes no fewer rows than that: when a run outlives the log's
//! linger (a few milliseconds, under load) its events take more than one write. No engine, no
//! workflow, no channel between tasks: what is left is the store (its statements, group
//! commit, fsync at the setup's durability). Then the engine's throughput (as `throughput`
//! measures it) on a fresh database of the same setup, so that the ratio is measured in one
//! run.

use super::{start_many, teardown, trivial_workflow, wait_count, wait_drained, warm_up, Sizes};
use crate::db::Setup;
use crate::report::{Cmp, Metric};
use anyhow::{ensure, Context, Result};
use kern_core::engine::Engine;
use kern_store::{
    ClaimRequest, ComponentKind, NewEvent, NewRun, RunFinish, RunStatus, RunWrite, Store,
    StoredEvent,
};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const NAME: &str = "store-limit";
const WORKFLOW: &str = "bench-store-limit";
/// Concurrent writers: as many runs in flight as the engine keeps at its default limit.
const WRITERS: usize = 256;

/// A real run's rows, to write again.
struct Rows {
    /// The sample run's id, replaced by each run's own in the payloads (as the engine would
    /// write them; the store keeps a run's own events more compactly than others').
    run_id: String,
    input: Value,
    events: Vec<StoredEvent>,
    output: Option<Value>,
}

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let n = sizes.throughput_runs;
    let limit = store_limit(setup, n).await?;
    let engine_rate = engine_rate(setup, n).await?;
    let ratio = limit / engine_rate;
    let mut ratio_metric = Metric::info(
        NAME,
        "store limit / engine throughput (same rows, same run)",
        ratio,
        "x",
    );
    if matches!(setup, Setup::Sqlite(_)) {
        ratio_metric = ratio_metric.target(Cmp::Below, 2.0);
    }
    Ok(vec![
        Metric::info(
            NAME,
            "store write limit, a trivial run's rows",
            limit,
            "runs/s",
        ),
        Metric::info(
            NAME,
            "engine throughput, start to completed",
            engine_rate,
            "runs/s",
        ),
        ratio_metric,
    ])
}

/// Runs per second the store takes when written a real run's rows directly.
async fn store_limit(setup: &Setup, n: usize) -> Result<f64> {
    let db = setup.fresh().await?;
    let rows = Arc::new(sample_rows(&db.store).await?);
    eprintln!("  {n} runs' rows written by {WRITERS} writers straight to the store");
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (store, rows, next) = (db.store.clone(), rows.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < n {
                one_run(&*store, &rows).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    db.store.close().await;
    Ok(rate)
}

/// Executes one trivial run through an engine and reads back what it stored.
async fn sample_rows(store: &Arc<dyn Store>) -> Result<Rows> {
    let engine = Engine::builder(store.clone()).build();
    let finished = Arc::new(AtomicUsize::new(0));
    let workflow = trivial_workflow(&engine, "bench-sample", finished.clone())?;
    warm_up(&workflow, &finished, store, 1).await?;
    let run = store
        .list_runs(&Default::default())
        .await?
        .pop()
        .context("the sample run")?;
    let (run, events) = store
        .run_with_events(run.run_id)
        .await?
        .context("the sample run")?;
    ensure!(
        events.len() == 8,
        "a trivial run stores 8 events, got {}",
        events.len()
    );
    engine.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(Rows {
        run_id: run.run_id.to_string(),
        input: run.input,
        events,
        output: run.output,
    })
}

/// Creates, claims and writes one run with `rows`.
async fn one_run(store: &dyn Store, rows: &Rows) -> Result<()> {
    let new = NewRun::new(ComponentKind::Workflow, WORKFLOW, "s", rows.input.clone());
    store.create_run(new).await?;
    let claim = ClaimRequest {
        owner: "bench".into(),
        limit: 1,
        lease_ms: 60_000,
        components: vec![(ComponentKind::Workflow, WORKFLOW.into())],
    };
    // Some writer's run: claims take the oldest pending one.
    let Some(run) = store.claim(&claim).await?.pop() else {
        return Ok(()); // another writer took it and this one's; its rows are written there
    };
    let id = run.run_id.to_string();
    let write = RunWrite {
        run_id: run.run_id,
        attempt: run.attempt,
        first_index: 0,
        events: rows
            .events
            .iter()
            .map(|e| new_event(e, &rows.run_id, &id))
            .collect(),
        checkpoints: Vec::new(),
        session_state: None,
        finish: Some(RunFinish {
            status: RunStatus::Completed,
            output: rows.output.clone(),
            error: None,
            pause_expires_at: None,
            output_in_event: false,
        }),
    };
    store.write(Arc::new(write)).await?;
    Ok(())
}

fn new_event(e: &StoredEvent, sample: &str, run_id: &str) -> NewEvent {
    NewEvent {
        event_type: e.event_type.clone(),
        payload: e.payload.replace(sample, run_id).into(),
        created_at: e.created_at,
        scope: None,
    }
}

/// The engine's runs per second on the same workload, start to completed.
async fn engine_rate(setup: &Setup, n: usize) -> Result<f64> {
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).build();
    let finished = Arc::new(AtomicUsize::new(0));
    let workflow = trivial_workflow(&engine, "bench-engine", finished.clone())?;
    warm_up(&workflow, &finished, &db.store, 100).await?;
    eprintln!("  {n} runs through the engine");
    let t = Instant::now();
    start_many(&workflow, n).await?;
    wait_count(&finished, 100 + n, "the last step of every run").await?;
    wait_drained(&db.store).await?;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    teardown(&[&engine], db).await?;
    Ok(rate)
}
