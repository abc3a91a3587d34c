//! Agents: many concurrent background+streaming agent runs against a local fake OpenAI server
//! streaming tokens (issue 3's benchmark): events per second, the engine's CPU time per token,
//! resident memory.
//!
//! The fake provider runs on its own runtime thread (`fake-provider`), so its CPU is counted
//! apart from the engine's. Every token is a stored `RunContent` event delivered to its run's
//! subscriber; "events" counts what the subscribers received.

use super::{ms_since, teardown, Sizes};
use crate::cpu::CpuSample;
use crate::db::Setup;
use crate::report::{count, Metric};
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use kern_agent::Agent;
use kern_core::engine::Engine;
use kern_models::testing::{FakeOpenAi, Scripted};
use kern_store::RunStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAME: &str = "agents";
/// Tokens each run streams.
const TOKENS: usize = 200;
/// The fake provider's pause between tokens.
const TOKEN_DELAY: Duration = Duration::from_millis(5);

/// Starts the fake provider on a runtime of its own, on its own named thread.
fn fake_provider() -> Result<(
    FakeOpenAi,
    std::thread::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("fake-provider".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake provider runtime");
            rt.block_on(async move {
                let fake = FakeOpenAi::start([Scripted::tokens(TOKENS, TOKEN_DELAY)
                    .usage(50, TOKENS as u64)
                    .into()])
                .await;
                fake.set_recording(false);
                let _ = ready_tx.send(fake);
                let _ = stop_rx.await;
            });
        })?;
    let fake = ready_rx.recv().context("the fake provider did not start")?;
    Ok((fake, thread, stop_tx))
}

/// Runs the benchmark.
pub async fn run(setup: &Setup, sizes: &Sizes) -> Result<Vec<Metric>> {
    let runs = sizes.agent_runs;
    let (fake, provider_thread, stop_provider) = fake_provider()?;
    let db = setup.fresh().await?;
    let engine = Engine::builder(db.store.clone())
        .max_concurrent_runs(runs.max(1024))
        .build();
    let agent = Agent::builder("bench-agent")
        .model(Arc::new(fake.model("fake-model")))
        .history_runs(0)
        .db(&engine)
        .build()?;
    let rss_before = super::memory::rss_bytes()?;
    eprintln!(
        "  {runs} background+streaming agent runs, {TOKENS} tokens each, {TOKEN_DELAY:?} apart"
    );

    let cpu_before = CpuSample::now();
    let t = Instant::now();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(rss) = super::memory::rss_bytes() {
                    peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Every run is started and followed by its own client task: all runs stream at once.
    let mut tasks = Vec::with_capacity(runs);
    for i in 0..runs {
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let stream = agent.run_background_stream(format!("question {i}")).await?;
            let run_id = stream.run_id();
            // The stored frames, as a server relays them (no parsing per event).
            let mut events = stream.into_raw();
            let mut n = 0u64;
            while let Some(e) = events.next().await {
                e?;
                n += 1;
            }
            Ok::<_, anyhow::Error>((run_id, n))
        }));
    }
    let mut events = 0u64;
    let mut ids = Vec::with_capacity(runs);
    for task in tasks {
        let (id, n) = task.await??;
        events += n;
        ids.push(id);
    }
    let wall_ms = ms_since(t);
    let cpu = cpu_before.usage_until(&CpuSample::now());
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);

    for id in &ids {
        let run = engine.get_run(*id).await?.context("a run vanished")?;
        if run.status != RunStatus::Completed {
            bail!("run {id} ended {:?}: {:?}", run.status, run.error);
        }
    }
    let tokens = (runs * TOKENS) as f64;
    let wall_s = wall_ms / 1e3;
    let provider_pct: f64 = cpu
        .threads
        .iter()
        .filter(|(n, _)| n == "fake-provider")
        .map(|(_, p)| p)
        .sum();
    let total_pct: f64 = cpu.threads.iter().map(|(_, p)| p).sum();
    let engine_cpu_s = (total_pct - provider_pct) / 100.0 * wall_s;
    let metrics = vec![
        Metric::info(NAME, "runs completed", runs as f64, "runs"),
        Metric::info(
            NAME,
            "events delivered to subscribers",
            events as f64,
            "events",
        )
        .note(format!(
            "{} runs × ({TOKENS} tokens + start/request/completion events)",
            count(runs as u64)
        )),
        Metric::info(NAME, "wall time", wall_s, "s").note(format!(
            "bounded below by the provider: {TOKENS} tokens × {TOKEN_DELAY:?} = {:.1} s per run",
            TOKENS as f64 * TOKEN_DELAY.as_secs_f64()
        )),
        Metric::info(
            NAME,
            "events per second",
            events as f64 / wall_s,
            "events/s",
        ),
        Metric::info(
            NAME,
            "engine CPU time per token",
            engine_cpu_s / tokens * 1e6,
            "µs",
        )
        .note("process CPU minus the fake provider's thread, divided by tokens streamed"),
        Metric::info(
            NAME,
            "CPU, engine (process minus fake provider)",
            total_pct - provider_pct,
            "% of a core",
        ),
        Metric::info(
            NAME,
            "CPU, fake provider thread",
            provider_pct,
            "% of a core",
        ),
        Metric::info(
            NAME,
            "CPU, local postgres processes",
            cpu.postgres,
            "% of a core",
        ),
        Metric::info(NAME, "RSS before", rss_before as f64 / 1e6, "MB"),
        Metric::info(NAME, "RSS peak during the runs", peak as f64 / 1e6, "MB")
            .note("includes the in-process fake provider and both ends of its HTTP connections"),
    ];
    teardown(&[&engine], db).await?;
    let _ = stop_provider.send(());
    let _ = provider_thread.join();
    Ok(metrics)
}
