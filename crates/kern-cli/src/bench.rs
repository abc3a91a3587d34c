//! `kern bench`: a load generator for any AgentOS-compatible server (Kern or Agno's AgentOS).
//!
//! N runs at concurrency C, each created as AgentOS clients create them (a urlencoded form
//! `POST /{kind}/{id}/runs`), then followed to the end:
//!
//! - `background`: `background=true, stream=false` → 202 with a `run_id`; then `GET
//!   /{kind}/{id}/runs/{run_id}?session_id=…` every `--poll-interval` until the status is
//!   terminal. Start latency = time to the 202.
//! - `stream`: `stream=true` → an SSE stream read to its terminal event. Start latency = time
//!   to the first byte of the body; first event = time to the first whole event frame.
//!
//! Reports start latency p50/p99/max, end-to-end latency, runs/s (completed runs over the wall
//! time), events/s (stream mode) and failures by kind, as text or JSON.

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `kern bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:7777")]
    pub url: String,
    /// What to run: workflows, agents or teams.
    #[arg(long, default_value = "workflows", value_parser = ["workflows", "agents", "teams"])]
    pub kind: String,
    /// The component's id.
    #[arg(long, default_value = "bench3")]
    pub id: String,
    /// How many runs.
    #[arg(short = 'n', long = "runs", default_value_t = 1000)]
    pub runs: usize,
    /// How many runs in flight at once.
    #[arg(short = 'c', long = "concurrency", default_value_t = 32)]
    pub concurrency: usize,
    /// background (202, then poll) or stream (read the SSE to its end).
    #[arg(long, default_value = "background", value_parser = ["background", "stream"])]
    pub mode: String,
    /// The message of every run.
    #[arg(long, default_value = "bench")]
    pub message: String,
    /// A bearer token (security key or JWT).
    #[arg(long, env = "KERN_BENCH_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// How often a background run is polled, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub poll_interval: u64,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// A label for the report (e.g. "kern" or "agno").
    #[arg(long)]
    pub label: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stop starting runs after this many seconds (the runs in flight finish), even if fewer
    /// than `-n` were started: for soak tests, with a large `-n`.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Print a progress line to stderr every this many seconds: time, runs completed and
    /// failed so far, runs/s and events/s over the last interval.
    #[arg(long, value_name = "SECS")]
    pub progress: Option<u64>,
}

#[derive(Default)]
struct Tally {
    start_ms: Vec<f64>,
    e2e_ms: Vec<f64>,
    /// Stream mode: request to the first whole event frame.
    first_ms: Vec<f64>,
    events: u64,
    ok: usize,
    failures: BTreeMap<String, usize>,
}

enum Outcome {
    /// `first`: when the first event arrived (stream mode).
    Ok {
        start: Duration,
        first: Option<Duration>,
        events: u64,
    },
    Failed(String),
}

/// Runs the benchmark and prints the report.
pub async fn run(args: BenchArgs) -> Result<()> {
    if args.runs == 0 || args.concurrency == 0 {
        bail!("-n and -c must be at least 1");
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .tcp_nodelay(true)
        .build()?;
    // Fail fast if the server is not there.
    client
        .get(format!("{base}/health"))
        .send()
        .await
        .with_context(|| format!("{base}/health"))?;
    let args = Arc::new(args);
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + Duration::from_secs(d));
    let reporter = args
        .progress
        .filter(|&secs| secs > 0)
        .map(|secs| tokio::spawn(progress(tally.clone(), started, Duration::from_secs(secs))))
        // Without progress lines, a bar on a terminal (nothing when stderr is a file or pipe).
        .or_else(|| {
            Some(tokio::spawn(bar(
                tally.clone(),
                started,
                args.runs,
                deadline,
            )))
        });
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.min(args.runs) {
        let (args, next, tally, client, base) = (
            args.clone(),
            next.clone(),
            tally.clone(),
            client.clone(),
            base.clone(),
        );
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < args.runs
                && deadline.is_none_or(|d| Instant::now() < d)
            {
                let t0 = Instant::now();
                let outcome = match tokio::time::timeout(
                    Duration::from_secs(args.timeout),
                    one_run(&client, &base, &args),
                )
                .await
                {
                    Ok(o) => o,
                    Err(_) => Outcome::Failed("timeout".into()),
                };
                let e2e = t0.elapsed();
                let mut t = tally.lock().unwrap();
                match outcome {
                    Outcome::Ok {
                        start,
                        first,
                        events,
                    } => {
                        t.ok += 1;
                        t.events += events;
                        t.start_ms.push(start.as_secs_f64() * 1000.0);
                        if let Some(f) = first {
                            t.first_ms.push(f.as_secs_f64() * 1000.0);
                        }
                        t.e2e_ms.push(e2e.as_secs_f64() * 1000.0);
                    }
                    Outcome::Failed(kind) => *t.failures.entry(kind).or_default() += 1,
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    if let Some(r) = reporter {
        r.abort();
        let _ = r.await; // cancelled: the bar is cleared before the report is printed
    }
    let wall = started.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    let report = report(&args, &mut t, wall);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

/// Redraws a progress bar (`crate::progress`, a terminal only) until aborted: runs finished
/// out of `-n` (or the time elapsed out of `--duration`), failures and runs/s so far.
async fn bar(tally: Arc<Mutex<Tally>>, started: Instant, runs: usize, deadline: Option<Instant>) {
    let mut line = crate::progress::Progress::new("bench");
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let (ok, failed) = {
            let t = tally.lock().unwrap();
            (t.ok, t.failures.values().sum::<usize>())
        };
        let elapsed = started.elapsed().as_secs_f64();
        let by_runs = (ok + failed) as f64 / runs as f64;
        let fraction = deadline.map_or(by_runs, |d| {
            let total = (d - started).as_secs_f64().max(f64::EPSILON);
            by_runs.max(elapsed / total)
        });
        let rate = ok as f64 / elapsed.max(f64::EPSILON);
        line.set(
            fraction.min(0.999),
            &format!("{ok} completed, {failed} failed, {rate:.0} runs/s"),
        );
    }
}

/// Prints a progress line every `every` until aborted.
async fn progress(tally: Arc<Mutex<Tally>>, started: Instant, every: Duration) {
    let (mut ok0, mut events0) = (0usize, 0u64);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        let (ok, events, failed) = {
            let t = tally.lock().unwrap();
            (t.ok, t.events, t.failures.values().sum::<usize>())
        };
        let secs = every.as_secs_f64();
        eprintln!(
            "progress t={:.0}s completed={ok} failed={failed} runs/s={:.1} events/s={:.1}",
            started.elapsed().as_secs_f64(),
            (ok - ok0) as f64 / secs,
            (events - events0) as f64 / secs,
        );
        (ok0, events0) = (ok, events);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn report(args: &BenchArgs, t: &mut Tally, wall: f64) -> Value {
    t.start_ms.sort_by(f64::total_cmp);
    t.e2e_ms.sort_by(f64::total_cmp);
    t.first_ms.sort_by(f64::total_cmp);
    let failed: usize = t.failures.values().sum();
    let stats = |v: &[f64]| {
        json!({
            "p50": round(percentile(v, 50.0)),
            "p99": round(percentile(v, 99.0)),
            "max": round(v.last().copied().unwrap_or(f64::NAN)),
        })
    };
    json!({
        "label": args.label,
        "url": args.url,
        "target": format!("{}/{}", args.kind, args.id),
        "mode": args.mode,
        "runs": args.runs,
        "concurrency": args.concurrency,
        "completed": t.ok,
        "failed": failed,
        "failures": t.failures,
        "wall_secs": round(wall),
        "runs_per_sec": round(t.ok as f64 / wall),
        "events": t.events,
        "events_per_sec": if args.mode == "stream" { json!(round(t.events as f64 / wall)) } else { Value::Null },
        "start_latency_ms": stats(&t.start_ms),
        "end_to_end_ms": stats(&t.e2e_ms),
        "first_event_ms": if args.mode == "stream" { stats(&t.first_ms) } else { Value::Null },
    })
}

fn print_text(r: &Value) {
    let label = r["label"]
        .as_str()
        .map(|l| format!("[{l}] "))
        .unwrap_or_default();
    println!(
        "{label}{} {} mode={} runs={} concurrency={}",
        r["url"].as_str().unwrap_or(""),
        r["target"].as_str().unwrap_or(""),
        r["mode"].as_str().unwrap_or(""),
        r["runs"],
        r["concurrency"]
    );
    println!(
        "  completed {} / failed {} in {} s: {} runs/s{}",
        r["completed"],
        r["failed"],
        r["wall_secs"],
        r["runs_per_sec"],
        if r["events_per_sec"].is_null() {
            String::new()
        } else {
            format!(", {} events/s", r["events_per_sec"])
        }
    );
    let s = &r["start_latency_ms"];
    println!(
        "  start latency ms: p50 {} p99 {} max {}",
        s["p50"], s["p99"], s["max"]
    );
    let e = &r["end_to_end_ms"];
    println!(
        "  end to end ms:    p50 {} p99 {} max {}",
        e["p50"], e["p99"], e["max"]
    );
    let f = &r["first_event_ms"];
    if f.is_object() {
        println!(
            "  first event ms:   p50 {} p99 {} max {}",
            f["p50"], f["p99"], f["max"]
        );
    }
    if let Some(f) = r["failures"].as_object().filter(|f| !f.is_empty()) {
        println!("  failures: {}", Value::Object(f.clone()));
    }
}

fn failure(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else {
        "request".into()
    }
}

fn authorize(req: reqwest::RequestBuilder, key: &Option<String>) -> reqwest::RequestBuilder {
    match key {
        Some(k) => req.bearer_auth(k),
        None => req,
    }
}

const TERMINAL: &[&str] = &["COMPLETED", "ERROR", "CANCELLED"];

/// The fields of a background start's answer the load generator uses. Typed, so that the rest
/// of a response is skipped rather than built into a JSON tree and dropped: the generator
/// shares the machine with the server it measures, and its cost per response is the same
/// whichever server answers.
#[derive(serde::Deserialize)]
struct Started {
    run_id: Option<String>,
    session_id: Option<String>,
}

/// The field of a polled run the load generator uses (see [`Started`]).
#[derive(serde::Deserialize)]
struct Polled {
    status: Option<String>,
}

async fn one_run(client: &reqwest::Client, base: &str, args: &BenchArgs) -> Outcome {
    let url = format!("{base}/{}/{}/runs", args.kind, args.id);
    let background = args.mode == "background";
    let form = [
        ("message", args.message.as_str()),
        ("stream", if background { "false" } else { "true" }),
        ("background", if background { "true" } else { "false" }),
    ];
    let t0 = Instant::now();
    let resp = match authorize(client.post(&url).form(&form), &args.key)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(failure(&e)),
    };
    let status = resp.status();
    if !status.is_success() {
        return Outcome::Failed(format!("http_{}", status.as_u16()));
    }
    if background {
        let start = t0.elapsed();
        let body: Started = match resp.json().await {
            Ok(v) => v,
            Err(_) => return Outcome::Failed("bad_response".into()),
        };
        let (Some(run_id), session) = (body.run_id.as_deref(), body.session_id.as_deref()) else {
            return Outcome::Failed("bad_response".into());
        };
        let mut poll = format!("{url}/{run_id}");
        if let Some(s) = session {
            poll.push_str("?session_id=");
            poll.push_str(s);
        }
        loop {
            tokio::time::sleep(Duration::from_millis(args.poll_interval)).await;
            let resp = match authorize(client.get(&poll), &args.key).send().await {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(format!("poll_{}", failure(&e))),
            };
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                continue; // not visible yet (a server that writes the run late)
            }
            if !resp.status().is_success() {
                return Outcome::Failed(format!("poll_http_{}", resp.status().as_u16()));
            }
            let v: Polled = match resp.json().await {
                Ok(v) => v,
                Err(_) => return Outcome::Failed("poll_bad_response".into()),
            };
            let st = v.status.unwrap_or_default().to_ascii_uppercase();
            if TERMINAL.contains(&st.as_str()) {
                if st == "COMPLETED" {
                    return Outcome::Ok {
                        start,
                        first: None,
                        events: 0,
                    };
                }
                return Outcome::Failed(format!("run_{st}"));
            }
        }
    }
    // Stream: read SSE frames to the terminal event.
    let mut body = resp.bytes_stream();
    let mut start = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut events = 0u64;
    let mut first = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(format!("stream_{}", failure(&e))),
        };
        start.get_or_insert_with(|| t0.elapsed());
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&frame);
            let Some(name) = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("event: ")
                        .or_else(|| l.strip_prefix("event:"))
                })
                .map(str::trim)
            else {
                continue; // a comment (keep-alive)
            };
            events += 1;
            first.get_or_insert_with(|| t0.elapsed());
            match name {
                "RunCompleted" | "TeamRunCompleted" | "WorkflowCompleted" => {
                    return Outcome::Ok {
                        start: start.unwrap_or_default(),
                        first,
                        events,
                    }
                }
                "RunError" | "TeamRunError" | "WorkflowError" => {
                    return Outcome::Failed("run_ERROR".into())
                }
                "RunCancelled" | "TeamRunCancelled" | "WorkflowCancelled" => {
                    return Outcome::Failed("run_CANCELLED".into())
                }
                _ => {}
            }
        }
    }
    Outcome::Failed("no_terminal_event".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
