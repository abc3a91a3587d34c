//! `kern`: the command-line tool.
//!
//! `kern serve` runs the AgentOS-compatible HTTP server (`kern-server`): it executes the
//! registered components' runs and serves them over REST, SSE and WebSocket.
//!
//! Client commands work on any database Kern uses, from any machine that reaches it: list and
//! inspect runs, follow a run's events (resuming after an index), cancel a run, requeue a
//! failed or cancelled one, apply retention. They never execute runs.

mod bench;
mod config;
mod db;
mod exit;
mod logging;
mod logsink;
mod progress;
mod render;
mod runs;
mod term;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use kern::engine::Engine;
use kern::store::{ComponentKind, StoreError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// See the `mimalloc` dependency in Cargo.toml for why.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kern",
    version,
    about = "Kern: durable runs for agents, teams and workflows",
    after_help = logging::HELP
)]
struct Cli {
    /// The database: a SQLite file path or a postgres:// URL. `kern serve` and `kern db
    /// migrate` create a SQLite file that does not exist; the other commands refuse it.
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
    /// Serve the AgentOS-compatible HTTP API (REST, resumable SSE, WebSocket) and execute runs.
    ///
    /// Several `kern serve` processes on one PostgreSQL database share the work: any of them
    /// serves any run, and a replica that dies has its runs finished by the others.
    Serve(ServeArgs),
    /// Load-test any AgentOS-compatible server (Kern or Agno): N runs at concurrency C,
    /// background (202, then poll) or stream (SSE to the end); reports start latency, runs/s,
    /// events/s and failures.
    Bench(bench::BenchArgs),
    /// List, inspect, follow, cancel and requeue runs.
    Runs {
        #[command(subcommand)]
        command: runs::RunsCommand,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The address to bind [env: KERN_HOST, AGENT_OS_HOST; default 127.0.0.1].
    #[arg(long, env = "KERN_HOST")]
    host: Option<String>,
    /// The port (0: any free port) [env: KERN_PORT, AGENT_OS_PORT; default 7777].
    #[arg(long, env = "KERN_PORT")]
    port: Option<u16>,
    /// Require `Authorization: Bearer <key>` on every route but /health
    /// [env: KERN_SECURITY_KEY, OS_SECURITY_KEY].
    #[arg(long, env = "KERN_SECURITY_KEY", hide_env_values = true)]
    security_key: Option<String>,
    /// Verify `Authorization: Bearer <jwt>` HS256 tokens with this shared secret: the token's
    /// `sub` is the user, who sees only their own runs and sessions.
    #[arg(long, env = "KERN_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Verify RS256 tokens with the PEM public key in this file.
    #[arg(long, env = "KERN_JWT_PUBLIC_KEY")]
    jwt_public_key: Option<PathBuf>,
    /// Require this `aud` in tokens.
    #[arg(long, env = "KERN_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Require this `iss` in tokens.
    #[arg(long, env = "KERN_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// POST every run's outcome here when it finishes (runs may name their own
    /// `webhook_url`).
    #[arg(long, env = "KERN_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Sign webhooks (Standard Webhooks): `whsec_<base64 key>`.
    #[arg(long, env = "KERN_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Webhook delivery attempts before giving up (exponential backoff from 1 s).
    #[arg(long, default_value_t = 8)]
    webhook_max_attempts: u32,
    /// Register the built-in demo workflows (echo, count, fail, pipeline, bench3, approval).
    #[arg(long)]
    demo: bool,
    /// A TOML file declaring agents (model, instructions, toolkits), teams and workflows of
    /// agent and team steps (see crates/kern-cli/examples/kern.toml). Combines with --demo.
    #[arg(long, env = "KERN_CONFIG")]
    config: Option<PathBuf>,
    /// How long running runs may go on after SIGINT/SIGTERM before they are handed back to
    /// the queue (e.g. 10s, 0s).
    #[arg(long, value_parser = parse_age, default_value = "10s")]
    shutdown_grace: Duration,
    /// Send an SSE keep-alive comment after this much silence.
    #[arg(long, value_parser = parse_age, default_value = "15s")]
    keep_alive: Duration,
    /// How long a run's claim lasts without a heartbeat: a crashed replica's runs are taken
    /// over about one lease after it died.
    #[arg(long, value_parser = parse_age, default_value = "15s")]
    lease: Duration,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    body_limit: usize,
    /// A browser origin allowed to call the server (CORS), e.g. http://localhost:3000;
    /// repeatable, or comma-separated in the variable. `*` allows any origin, `none` none.
    /// Default: AgentOS's (http://localhost:3000 and Agno's hosted UIs).
    #[arg(long = "cors-origin", env = "KERN_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Backpressure: refuse background starts with 429 (and `Retry-After`) while this many
    /// runs are pending in the database, counted over every replica (default: no limit).
    #[arg(long, env = "KERN_MAX_PENDING")]
    max_pending: Option<usize>,
    /// Backpressure per component: refuse a component's background starts with 429 while
    /// this many of its runs are pending (default: no limit).
    #[arg(long, env = "KERN_MAX_PENDING_PER_COMPONENT")]
    max_pending_per_component: Option<usize>,
    /// How many runs this replica executes at once; further runs wait as pending in the
    /// database (for this replica or another).
    #[arg(long, env = "KERN_MAX_CONCURRENT_RUNS", default_value_t = 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_concurrent_runs: usize,
    /// How log lines are written to stderr: text, or one JSON object per line (what is
    /// logged: KERN_LOG, see `kern --help`).
    #[arg(long, value_enum, default_value_t = logging::LogFormat::Text, env = "KERN_LOG_FORMAT")]
    log_format: logging::LogFormat,
    /// Require the API's credentials (security key, or a JWT with the admin scope) on
    /// GET /metrics, which is otherwise open like /health.
    #[arg(long)]
    protect_metrics: bool,
    /// Disconnect a client that has not sent a whole request head (request line and headers)
    /// within this time; also closes keep-alive connections idle that long.
    #[arg(long, value_parser = parse_age, default_value = "30s")]
    header_read_timeout: Duration,
    /// Answer 408 (and close the connection) when a request's body has not arrived within
    /// this time of its head.
    #[arg(long, value_parser = parse_age, default_value = "60s")]
    body_read_timeout: Duration,
    /// Export each run as an OpenTelemetry trace (run, steps, model calls, tool calls) to
    /// this OTLP/HTTP collector (e.g. http://127.0.0.1:4318; `/v1/traces` is appended). Off
    /// by default; needs a kern built with the `otel` feature.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

/// A duration such as `30d`, `12h`, `90m` or `10s`.
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

#[tokio::main]
async fn main() -> ExitCode {
    exit::report(kern_main().await)
}

/// Parses the command line and runs the command; returns the exit status (`exit`).
async fn kern_main() -> Result<u8> {
    let cli = Cli::parse();
    // Kept to the end: dropping it flushes the traces not sent yet.
    let _telemetry = match &cli.command {
        Command::Serve(args) => {
            logging::init(args.log_format, "info", args.otlp_endpoint.as_deref())
        }
        _ => logging::init(logging::LogFormat::Text, "warn", None),
    };
    if let Command::Bench(args) = cli.command {
        bench::run(args).await?; // a client of a server: no database
        return Ok(exit::OK);
    }
    // Only the commands that set a database up create it: a client given a mistyped path
    // says so instead of creating an empty database there.
    let creates = matches!(
        cli.command,
        Command::Serve(_)
            | Command::Db {
                command: db::DbCommand::Migrate
            }
    );
    let store = if creates {
        kern::store::connect(&cli.db).await
    } else {
        kern::store::connect_existing(&cli.db).await
    }
    .map_err(|e| open_error(e, &cli.db))?;
    if let Command::Serve(args) = cli.command {
        serve(store, args).await?;
        return Ok(exit::OK);
    }
    // A client: it starts nothing and executes nothing.
    let engine = Engine::builder(store).executor(false).build();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Serve(_) | Command::Bench(_) => unreachable!("handled above"),
        Command::Runs { command } => runs::run(&engine, command, &mut out).await,
        Command::Db { command } => db::run(engine.store().as_ref(), command, &mut out).await,
    }
}

/// The error of opening the database `db`: a missing SQLite file says how to create one.
fn open_error(e: StoreError, db: &str) -> anyhow::Error {
    match e {
        StoreError::DatabaseNotFound(path) => anyhow::anyhow!(
            "no database at {}: create it with `kern --db {db} db migrate` (or by starting `kern --db {db} serve`), or give the right path with --db or KERN_DATABASE_URL",
            path.display()
        ),
        e => anyhow::Error::new(e).context(format!("opening database {db}")),
    }
}

/// The first set, non-empty environment variable of `names`.
/// The `--cors-origin` values as a policy: none given keeps AgentOS's defaults; `none` alone
/// turns CORS off.
fn cors_origins(given: &[String]) -> kern_server::CorsOrigins {
    match given {
        [] => kern_server::CorsOrigins::default(),
        [only] if only.trim() == "none" => kern_server::CorsOrigins::list(Vec::<String>::new()),
        list => kern_server::CorsOrigins::list(list),
    }
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// Registers the components `kern serve` serves: those of `--config` (checked whole before
/// anything is registered) and, with `--demo`, the demo workflows. Returns the config file's
/// OS name and description, if it gives them.
fn register_components(
    engine: &Engine,
    args: &ServeArgs,
) -> Result<(Option<String>, Option<String>)> {
    let mut about = (None, None);
    if let Some(path) = &args.config {
        let file = config::ConfigFile::load(path)?;
        let reg = file.register(engine, |name: &str| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })?;
        logging::say(format_args!(
            "{}: {} agents, {} teams, {} workflows",
            path.display(),
            reg.agents.len(),
            reg.teams.len(),
            reg.workflows.len()
        ));
        about = (file.config.name.clone(), file.config.description.clone());
    }
    if args.demo {
        kern_server::demo::register(engine)?;
    }
    Ok(about)
}

/// The JWT settings of the flags, if any key is given.
fn jwt_config(args: &ServeArgs) -> Result<Option<kern_server::JwtConfig>> {
    let secret = args.jwt_secret.as_deref().filter(|s| !s.is_empty());
    let mut cfg = match (secret, &args.jwt_public_key) {
        (None, None) => {
            if args.jwt_audience.is_some() || args.jwt_issuer.is_some() {
                bail!("--jwt-audience/--jwt-issuer need --jwt-secret or --jwt-public-key");
            }
            return Ok(None);
        }
        (Some(s), None) => kern_server::JwtConfig::hs256(s),
        (secret, Some(path)) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading --jwt-public-key {}", path.display()))?;
            let cfg = kern_server::JwtConfig::rs256_pem(pem)
                .with_context(|| format!("--jwt-public-key {}", path.display()))?;
            match secret {
                Some(s) => cfg.with_hs256(s),
                None => cfg,
            }
        }
    };
    if let Some(a) = &args.jwt_audience {
        cfg = cfg.audience(a);
    }
    if let Some(i) = &args.jwt_issuer {
        cfg = cfg.issuer(i);
    }
    Ok(Some(cfg))
}

async fn serve(store: std::sync::Arc<dyn kern::store::Store>, args: ServeArgs) -> Result<()> {
    let host = args
        .host
        .clone()
        .or_else(|| env_any(&["AGENT_OS_HOST"]))
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = match args.port {
        Some(p) => p,
        None => match env_any(&["AGENT_OS_PORT"]) {
            Some(p) => p
                .parse()
                .with_context(|| format!("AGENT_OS_PORT={p:?} is not a port"))?,
            None => 7777,
        },
    };
    let key = args
        .security_key
        .clone()
        .or_else(|| env_any(&["OS_SECURITY_KEY"]));
    let jwt = jwt_config(&args)?;
    let mut builder = Engine::builder(store)
        .lease(args.lease)
        .max_concurrent_runs(args.max_concurrent_runs);
    if let Some(n) = args.max_pending {
        builder = builder.max_pending(n);
    }
    if let Some(n) = args.max_pending_per_component {
        builder = builder.max_pending_per_component(n);
    }
    let engine = builder.build();
    let (os_name, os_description) = register_components(&engine, &args)?;
    let count: usize = [
        ComponentKind::Agent,
        ComponentKind::Team,
        ComponentKind::Workflow,
    ]
    .iter()
    .map(|k| engine.components(*k).len())
    .sum();
    if count == 0 {
        logging::say(
            "no components registered (pass --demo for the demo workflows, or --config kern.toml)",
        );
    }
    let mut os = kern_server::AgentOs::builder(engine.clone())
        .shutdown_grace(args.shutdown_grace)
        .keep_alive(args.keep_alive)
        .cors_origins(cors_origins(&args.cors_origins))
        .body_limit(args.body_limit)
        .protect_metrics(args.protect_metrics)
        .header_read_timeout(args.header_read_timeout)
        .body_read_timeout(args.body_read_timeout);
    if let Some(k) = key {
        os = os.security_key(k);
    }
    if let Some(j) = jwt {
        os = os.jwt(j);
    }
    if let Some(u) = &args.webhook_url {
        os = os.webhook_url(u);
    }
    if let Some(secret) = args.webhook_secret.as_deref().filter(|s| !s.is_empty()) {
        os = os.webhook_secret(secret).context("--webhook-secret")?;
    }
    os = os.webhook_retries(args.webhook_max_attempts, Duration::from_secs(1));
    if let Some(n) = os_name {
        os = os.name(n);
    }
    if let Some(d) = os_description {
        os = os.description(d);
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("binding {host}:{port}"))?;
    let addr = listener.local_addr()?;
    logging::say(format_args!(
        "listening on http://{addr} ({} database, {count} components)",
        engine.store().backend()
    ));
    os.build()
        .serve_with_shutdown(listener, kern_server::shutdown_signal())
        .await?;
    logging::say("stopped");
    Ok(())
}
