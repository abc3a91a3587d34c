//! How fast the dashboard's run listing stays with many runs in the database: a benchmark
//! program, not a test (its figures depend on the machine, so nothing here fails a build).
//!
//! ```sh
//! cargo run --release -p kern-server --example list_bench                 # 100,000 runs, SQLite
//! cargo run --release -p kern-server --example list_bench -- --runs 20000 --reps 20
//! cargo run --release -p kern-server --example list_bench -- --db "$(scripts/pg url)"
//! ```
//!
//! It fills a fresh database (a SQLite file in the temporary directory, or, with `--db
//! postgres://…`, a fresh schema there, left in place: the program prints its name) with
//! `--runs` runs of the demo workflows through the
//! engine, as a server would execute them (events, outputs and statuses included: 80 % `echo`,
//! 10 % `pipeline` with its parallel steps, 10 % `fail`; 50 users; sessions of 5 runs), then
//! serves it with `AgentOs` on loopback and times the dashboard's calls over HTTP (`--reps`
//! each, after one warm-up): `GET /ui/api/runs` pages with each filter, `GET /queue/stats`,
//! and, for comparison, a component's run listing (`GET /workflows/echo/runs?limit=20`),
//! which embeds every listed run's events.
//!
//! Figures on the 2-core development machine (2026-12-01; p50 in ms, 30 calls each, 100,000
//! runs; "before" is schema v5, "after" v6, whose listing indexes carry the top-level, status
//! and user columns so that a count or a deep page reads no run row):
//!
//! | call | SQLite before | SQLite after | PostgreSQL after |
//! |---|---:|---:|---:|
//! | newest 20 (the dashboard's first page) | 53.2 | 9.7 | 45.5 |
//! | page 100 | 55.5 | 8.9 | 44.3 |
//! | last page | 126.9 | 17.0 | 100.4 |
//! | status=ERROR | 17.3 | 19.2 | 10.9 |
//! | status=COMPLETED + component pipeline | 20.5 | 23.4 | 17.2 |
//! | component echo | 70.0 | 9.9 | 17.3 |
//! | user_id=user7 | 57.7 | 9.0 | 19.7 |
//! | session_id=s123 | 0.5 | 0.6 | 0.9 |
//! | GET /queue/stats | 96.7 | 38.6 | 26.2 |
//! | a component's listing, 20 with events (no count) | 0.8 | 0.8 | 1.2 |
//!
//! Most of what is left is the page's `total_count` (a count over the matching index
//! entries: about 6 ms on SQLite and 21 ms on PostgreSQL for 100,000 runs) and, on the last
//! page, the offset. The in-process throughput (`kern-bench --only throughput`, SQLite) was
//! unchanged by v6 within the run-to-run noise (3,540–3,925 runs/s before, 3,835–3,888 after):
//! the table keeps the same number of indexes.

use kern_core::engine::{Engine, RunRequest};
use kern_core::store::{ComponentKind, RunStatus};
use kern_server::AgentOs;
use std::error::Error;
use std::time::{Duration, Instant};

struct Args {
    runs: usize,
    reps: usize,
    db: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        runs: 100_000,
        reps: 30,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--reps" => a.reps = value().parse().expect("--reps N"),
            "--db" => a.db = Some(value()),
            other => panic!("unknown option {other} (--runs N, --reps N, --db URL)"),
        }
    }
    a
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = args();
    let dir = tempfile::tempdir()?;
    let url = match &args.db {
        Some(u) if u.starts_with("postgres") => kern_testkit::pg_schema_url(u).await,
        Some(u) => u.clone(),
        None => dir.path().join("list_bench.db").display().to_string(),
    };
    let store = kern_store::connect(url.as_str()).await?;
    let backend = store.backend();
    let engine = Engine::builder(store)
        .max_concurrent_runs(256)
        .poll_interval(Duration::from_millis(20))
        .build();
    kern_server::demo::register(&engine)?;

    // Fill: 32 clients start the runs; the engine executes them meanwhile.
    eprintln!("filling a {backend} database with {} runs …", args.runs);
    let t0 = Instant::now();
    let clients = 32;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let engine = engine.clone();
        let n = args.runs;
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while i < n {
                let workflow = match i % 10 {
                    0 => "fail",
                    1 => "pipeline",
                    _ => "echo",
                };
                let req =
                    RunRequest::new(format!("run {i}: some input text to show as an excerpt"))
                        .session_id(format!("s{}", i / 5))
                        .user_id(format!("user{}", i % 50));
                engine
                    .start(ComponentKind::Workflow, workflow, req)
                    .await
                    .expect("start");
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    loop {
        let stats = engine.store().queue_stats().await?;
        let left = stats.count(RunStatus::Pending) + stats.count(RunStatus::Running);
        if left == 0 {
            break;
        }
        eprintln!("  {left} runs still pending or running");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let fill = t0.elapsed();
    eprintln!(
        "filled in {:.1} s ({:.0} runs/s)",
        fill.as_secs_f64(),
        args.runs as f64 / fill.as_secs_f64()
    );

    let os = AgentOs::builder(engine.clone()).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(os.serve_with_shutdown(listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    let last_page = args.runs.div_ceil(20);
    let cases: Vec<(&str, String)> =
        vec![
        ("newest 20 (the dashboard's first page)", "/ui/api/runs?limit=20".into()),
        ("page 100", "/ui/api/runs?limit=20&page=100".into()),
        ("last page", format!("/ui/api/runs?limit=20&page={last_page}")),
        ("status=ERROR", "/ui/api/runs?limit=20&status=ERROR".into()),
        (
            "status=COMPLETED + component pipeline",
            "/ui/api/runs?limit=20&status=COMPLETED&component_type=workflow&component_id=pipeline"
                .into(),
        ),
        (
            "component echo",
            "/ui/api/runs?limit=20&component_type=workflow&component_id=echo".into(),
        ),
        ("user_id=user7", "/ui/api/runs?limit=20&user_id=user7".into()),
        ("session_id=s123", "/ui/api/runs?limit=20&session_id=s123".into()),
        ("GET /queue/stats", "/queue/stats".into()),
        (
            "GET /workflows/echo/runs?limit=20 (embeds events)",
            "/workflows/echo/runs?limit=20".into(),
        ),
    ];
    println!(
        "\n{} runs, {backend}, {} build, {} reps per call (after one warm-up)\n",
        args.runs,
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        args.reps
    );
    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>9}",
        "call", "p50 ms", "p99 ms", "max ms", "bytes"
    );
    for (name, path) in cases {
        let mut times = Vec::with_capacity(args.reps);
        let mut bytes = 0;
        for rep in 0..=args.reps {
            let t = Instant::now();
            let resp = client.get(format!("{base}{path}")).send().await?;
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            bytes = resp.bytes().await?.len();
            if rep > 0 {
                times.push(t.elapsed());
            }
        }
        times.sort();
        let pct = |p: f64| {
            let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
            times[i].as_secs_f64() * 1000.0
        };
        println!(
            "{name:<52} {:>9.2} {:>9.2} {:>9.2} {bytes:>9}",
            pct(0.50),
            pct(0.99),
            times.last().unwrap().as_secs_f64() * 1000.0
        );
    }
    let _ = stop.send(());
    server.await??;
    if let Some(schema) = url.split("search_path%3D").nth(1) {
        eprintln!("the runs stay in schema {schema}: psql <url> -c 'DROP SCHEMA {schema} CASCADE'");
    }
    Ok(())
}
