//! `kern-bench`: measures Kern's engine on SQLite and PostgreSQL against the targets of
//! design.md §5 ("Quality bar, in numbers") and prints a report: a table, or JSON with
//! `--json`.
//!
//! ```text
//! cargo run --release -p kern-bench -- [--backend sqlite|postgres|both] [--pg-url URL]
//!                                      [--quick] [--only NAME...] [--json]
//! ```
//!
//! Benchmarks (each on a fresh database: a temporary SQLite file, or a new PostgreSQL schema):
//!
//! - `start`: latency of `Workflow::run_background` at 32 concurrent clients (p99 < 10 ms);
//! - `throughput`: trivial 3-step runs per second, first start to last `completed`
//!   (thousands/s on SQLite); on SQLite also with `synchronous=NORMAL`, to show the fsync cost;
//! - `memory`: resident memory growth with 10,000 runs in flight (well under 100 MB), measured
//!   in a child process;
//! - `catchup`: subscribing from the start to a run with 10,000 stored events (< 100 ms);
//! - `cancel`: `cancel_run` to status `cancelled`, in-process and from a second engine (< 50 ms).
//!
//! Progress goes to stderr; the report to stdout. See the crate's README for how to read it.

mod bench;
mod cpu;
mod db;
mod report;

use anyhow::{bail, Context, Result};
use bench::Sizes;
use clap::{Parser, ValueEnum};
use db::Setup;
use kern_store::sqlite::Synchronous;
use report::{Metric, Report};
use std::process::ExitCode;
use std::time::Instant;

/// The allocator `kern serve` uses (see kern-cli), so that memory is measured as it serves.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measures Kern's engine on SQLite and PostgreSQL against the design's quality bar.
#[derive(Parser, Debug)]
#[command(name = "kern-bench", version)]
struct Cli {
    /// Which backends to measure.
    #[arg(long, value_enum, default_value_t = BackendArg::Both)]
    backend: BackendArg,
    /// The PostgreSQL server (each benchmark creates and drops its own schema in it). Default:
    /// `KERN_TEST_PG_URL`, else a throwaway server started with `scripts/pg start`.
    #[arg(long, value_name = "URL")]
    pg_url: Option<String>,
    /// Smaller sizes, for a fast look (the memory figure is then projected to 10,000 runs).
    #[arg(long)]
    quick: bool,
    /// Run only these benchmarks.
    #[arg(long, value_enum, num_args = 1.., value_delimiter = ',', value_name = "NAME")]
    only: Vec<BenchName>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Internal: measure memory for one backend in this (child) process and print its metrics
    /// as JSON.
    #[arg(long, hide = true)]
    memory_child: bool,
}

/// The `--backend` choices.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BackendArg {
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only.
    Postgres,
    /// Both (PostgreSQL is skipped, with a note, if no server can be found or started).
    Both,
}

/// The benchmarks, in the order they run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BenchName {
    /// Start latency at 32 concurrent clients.
    Start,
    /// Runs per second, start to completed.
    Throughput,
    /// Resident memory with many runs in flight.
    Memory,
    /// Catching up on 10,000 stored events.
    Catchup,
    /// Cancel latency.
    Cancel,
    /// Many concurrent streaming agent runs on a fake provider.
    Agents,
    /// The store's write limit for a trivial run's rows, against the engine's throughput.
    StoreLimit,
    /// What the database holds per trivial run and per event.
    Bytes,
}

impl BenchName {
    const ALL: [BenchName; 8] = [
        Self::Start,
        Self::Throughput,
        Self::StoreLimit,
        Self::Bytes,
        Self::Memory,
        Self::Catchup,
        Self::Cancel,
        Self::Agents,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Throughput => "throughput",
            Self::Memory => "memory",
            Self::Catchup => "catchup",
            Self::Cancel => "cancel",
            Self::Agents => "agents",
            Self::StoreLimit => "store-limit",
            Self::Bytes => "bytes",
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = if cli.memory_child {
        memory_child(&cli).await
    } else {
        run(&cli).await
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kern-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The hidden `--memory-child` mode: one memory measurement, printed as JSON.
async fn memory_child(cli: &Cli) -> Result<ExitCode> {
    let setup = match cli.backend {
        BackendArg::Sqlite => Setup::Sqlite(Synchronous::Full),
        BackendArg::Postgres => Setup::Postgres(
            cli.pg_url
                .clone()
                .context("--memory-child needs --pg-url")?,
        ),
        BackendArg::Both => bail!("--memory-child needs one backend"),
    };
    let metrics = bench::memory::measure(&setup, &Sizes::new(cli.quick)).await?;
    println!("{}", serde_json::to_string(&metrics)?);
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: &Cli) -> Result<ExitCode> {
    let sizes = Sizes::new(cli.quick);
    let mut report = Report {
        kern_version: env!("CARGO_PKG_VERSION").into(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        quick: cli.quick,
        ..Default::default()
    };
    if cfg!(debug_assertions) {
        report
            .notes
            .push("debug build: these numbers mean little; run with --release".into());
    }

    report.load_average.push(report::load_average());
    let mut setups = Vec::new();
    if cli.backend != BackendArg::Postgres {
        setups.push(Setup::Sqlite(Synchronous::Full));
        report.sqlite_dir = Some(std::env::temp_dir().display().to_string());
    }
    if cli.backend != BackendArg::Sqlite {
        let pg_url = cli.pg_url.clone();
        let found =
            tokio::task::spawn_blocking(move || db::resolve_pg_url(pg_url.as_deref())).await?;
        let info = match found {
            Ok((url, source)) => db::pg_info(&url, &source).await,
            Err(e) => Err(e),
        };
        match info {
            Ok(info) => {
                eprintln!(
                    "kern-bench: PostgreSQL at {} (from {})",
                    info.url, info.source
                );
                setups.push(Setup::Postgres(info.url.clone()));
                report.postgres = Some(info);
            }
            Err(e) if cli.backend == BackendArg::Both => {
                eprintln!("kern-bench: skipping PostgreSQL: {e:#}");
                report.notes.push(format!("PostgreSQL skipped: {e:#}"));
            }
            Err(e) => return Err(e.context("PostgreSQL")),
        }
    }

    let benches: Vec<BenchName> = BenchName::ALL
        .into_iter()
        .filter(|b| cli.only.is_empty() || cli.only.contains(b))
        .collect();
    let mut errors = 0;
    for setup in &setups {
        for &b in &benches {
            let mut runs = vec![setup.clone()];
            // The fsync cost: throughput again with relaxed durability.
            if b == BenchName::Throughput && matches!(setup, Setup::Sqlite(_)) {
                runs.push(Setup::Sqlite(Synchronous::Normal));
            }
            for s in runs {
                eprintln!("[{}] {}", s.label(), b.name());
                let t = Instant::now();
                let result = match b {
                    BenchName::Start => bench::start::run(&s, &sizes).await,
                    BenchName::Throughput => bench::throughput::run(&s, &sizes).await,
                    BenchName::Agents => bench::agents::run(&s, &sizes).await,
                    BenchName::StoreLimit => bench::store_limit::run(&s, &sizes).await,
                    BenchName::Bytes => bench::bytes::run(&s, &sizes).await,
                    BenchName::Memory => bench::memory::run_in_child(&s, cli.quick).await,
                    BenchName::Catchup => bench::catchup::run(&s, &sizes).await,
                    BenchName::Cancel => bench::cancel::run(&s, &sizes).await,
                };
                eprintln!("  done in {:.1} s", t.elapsed().as_secs_f64());
                match result {
                    Ok(metrics) => report.results.extend(metrics.into_iter().map(|m| Metric {
                        backend: s.label(),
                        ..m
                    })),
                    Err(e) => {
                        errors += 1;
                        eprintln!("  error: {e:#}");
                        report
                            .notes
                            .push(format!("{} {}: error: {e:#}", s.label(), b.name()));
                    }
                }
            }
        }
    }

    report.load_average.push(report::load_average());
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
