//! `kern`: the command-line tool.
//!
//! Client commands work on any database Kern uses, from any machine that reaches it: list and
//! inspect runs, follow a run's events (resuming after an index), cancel a run, apply
//! retention. They never execute runs (`kern serve`, which executes registered components,
//! comes with the HTTP server).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use kern::engine::{CancelOutcome, Engine};
use kern::store::{ComponentKind, RunFilter, RunId, RunRecord, RunStatus};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "kern",
    version,
    about = "Kern: durable runs for agents, teams and workflows"
)]
struct Cli {
    /// The database: a SQLite file path (created on first use) or a postgres:// URL.
    #[arg(
        long,
        global = true,
        env = "KERN_DATABASE_URL",
        default_value = "kern.db"
    )]
    db: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, follow and cancel runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// List runs, oldest first.
    List {
        /// Only runs of this session.
        #[arg(long)]
        session: Option<String>,
        /// Only runs with this status (pending, running, completed, failed, cancelled).
        #[arg(long)]
        status: Option<RunStatus>,
        /// Only runs of this component id.
        #[arg(long)]
        component: Option<String>,
        /// Only runs of this kind (agent, team, workflow).
        #[arg(long)]
        kind: Option<ComponentKind>,
        /// At most this many runs.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print one run as JSON.
    Get {
        /// The run's id.
        run_id: RunId,
    },
    /// Print a run's events as JSON lines, then follow it live until it ends.
    Watch {
        /// The run's id.
        run_id: RunId,
        /// Resume after this event index (print only later events).
        #[arg(long)]
        after: Option<u64>,
    },
    /// Cancel a run (pending: cancelled at once; running: its owner stops it).
    Cancel {
        /// The run's id.
        run_id: RunId,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create the database (if needed) and apply migrations.
    Migrate,
    /// Delete finished runs and their events older than a duration (e.g. 30d, 12h, 90m).
    Purge {
        /// Age of the finished runs to delete.
        #[arg(long, value_parser = parse_age)]
        older_than: Duration,
    },
}

fn parse_age(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad age {s:?}: expected e.g. 30d, 12h, 90m"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("bad age unit in {s:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(n * secs))
}

fn summary(r: &RunRecord) -> String {
    format!(
        "{}  {:<9}  {}:{}  session={}  events={}{}",
        r.run_id,
        r.status.as_str(),
        r.kind,
        r.component_id,
        r.session_id,
        r.event_count,
        r.error
            .as_deref()
            .map(|e| format!("  error={e}"))
            .unwrap_or_default()
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KERN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let store = kern::store::connect(&cli.db)
        .await
        .with_context(|| format!("opening database {}", cli.db))?;
    // A client: it starts nothing and executes nothing.
    let engine = Engine::builder(store).executor(false).build();
    match cli.command {
        Command::Runs { command } => runs(&engine, command).await,
        Command::Db { command } => match command {
            DbCommand::Migrate => {
                println!("database ready ({})", engine.store().backend());
                Ok(())
            }
            DbCommand::Purge { older_than } => {
                let before = kern::store::now_millis() - older_than.as_millis() as i64;
                let n = engine.store().purge_finished(before).await?;
                println!("deleted {n} finished runs");
                Ok(())
            }
        },
    }
}

async fn runs(engine: &Engine, command: RunsCommand) -> Result<()> {
    match command {
        RunsCommand::List {
            session,
            status,
            component,
            kind,
            limit,
        } => {
            let filter = RunFilter {
                session_id: session,
                status,
                kind,
                component_id: component,
                limit: Some(limit),
                ..Default::default()
            };
            for r in engine.list_runs(&filter).await? {
                println!("{}", summary(&r));
            }
        }
        RunsCommand::Get { run_id } => {
            let Some(run) = engine.get_run(run_id).await? else {
                bail!("run {run_id} not found");
            };
            println!("{}", serde_json::to_string_pretty(&run)?);
        }
        RunsCommand::Watch { run_id, after } => {
            let mut events = engine.subscribe(run_id, after).await?;
            while let Some(event) = events.next().await {
                println!("{}", event?.payload);
            }
        }
        RunsCommand::Cancel { run_id } => match engine.cancel_run(run_id).await? {
            CancelOutcome::Cancelled => println!("cancelled {run_id} (it had not started)"),
            CancelOutcome::Requested => {
                println!("cancel requested for {run_id}; its executor is stopping it")
            }
            CancelOutcome::AlreadyFinished(s) => println!("{run_id} had already finished: {s}"),
        },
    }
    Ok(())
}
