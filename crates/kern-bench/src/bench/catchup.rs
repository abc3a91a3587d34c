//! Catch-up: a finished run with 10,000+ stored events; how long `Engine::subscribe(run, None)`
//! takes to deliver all of them (what a client resuming from the start waits for).

use super::{ms_since, sorted, teardown, Sizes};
use crate::db::Setup;
use crate::report::{count, percentile, Cmp, Metric};
use anyhow::{bail, Result};
use futures::StreamExt;
use kern_core::engine::Engine;
use kern_core::workflow::{Step, StepOutput, Workflow};
use kern_store::{RunId, RunStatus};
use std::time::Instant;

const NAME: &str = "catchup";
/// Timed subscriptions per engine; the report gives the first and the median.
const REPEAT: usize = 5;

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let n = sizes.catchup_events;
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone()).build();
    let workflow = Workflow::builder("bench-catchup")
        .step(Step::new("emit", move |input| async move {
            for i in 0..n {
                input.emit_output(format!("token {i}"));
            }
            Ok(StepOutput::text("done"))
        }))
        .db(&engine)
        .build()?;

    eprintln!("  a run with {n} emitted events, then subscribe from the start");
    let run = workflow.run_background("bench").await?;
    let run = engine.wait(run.run_id).await?;
    if run.status != RunStatus::Completed {
        bail!("the catch-up run ended {:?}: {:?}", run.status, run.error);
    }
    let events = run.event_count;

    let mut metrics = Vec::new();
    let same = time_catch_up(&engine, run.run_id, events).await?;
    metrics.extend(report(&same, events, "same engine"));

    // A client-only engine on its own connection, as a process resuming a stream would be.
    let client = Engine::builder(kern_store::connect(&db.url).await?)
        .executor(false)
        .build();
    let other = time_catch_up(&client, run.run_id, events).await?;
    metrics.extend(report(&other, events, "second engine, own connection"));
    client.shutdown(std::time::Duration::from_secs(1)).await;
    client.store().close().await;

    teardown(&[&engine], db).await?;
    Ok(metrics)
}

/// Times `REPEAT` full subscriptions; returns their durations (ms) in order.
async fn time_catch_up(engine: &Engine, run_id: RunId, events: u64) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(REPEAT);
    for _ in 0..REPEAT {
        let t = Instant::now();
        let mut stream = engine.subscribe(run_id, None).await?;
        let mut seen = 0u64;
        while let Some(e) = stream.next().await {
            e?;
            seen += 1;
        }
        times.push(ms_since(t));
        if seen != events {
            bail!("the subscription delivered {seen} events; the run has {events}");
        }
    }
    Ok(times)
}

fn report(times: &[f64], events: u64, variant: &str) -> Vec<Metric> {
    let first = times[0];
    let n = count(events);
    let median = percentile(&sorted(times.to_vec()), 50.0);
    vec![
        Metric::info(NAME, format!("{n} events, first ({variant})"), first, "ms")
            .target(Cmp::Below, 100.0),
        Metric::info(
            NAME,
            format!("{n} events, median of {REPEAT} ({variant})"),
            median,
            "ms",
        )
        .target(Cmp::Below, 100.0),
        Metric::info(
            NAME,
            format!("events per second ({variant})"),
            events as f64 / (median / 1e3),
            "events/s",
        ),
    ]
}
