//! Logging setup for the `kern` command: `tracing` to stderr, filtered by `KERN_LOG`, as text
//! or JSON lines, with colours only on a terminal.

use std::io::IsTerminal;

/// The environment variable holding the log filter.
pub const ENV: &str = "KERN_LOG";

/// What `kern --help` says about logging (clap `after_help`).
pub const HELP: &str = "\
Logging:
  Logs go to stderr. KERN_LOG sets what is logged, as a tracing filter: a level (error, warn,
  info, debug, trace) and per-target levels, e.g. KERN_LOG=debug or
  KERN_LOG=info,kern_server::access_log=warn. Default: info for `kern serve` (one line per
  request and per run start, finish, recovery and hand-back), warn for the other commands.
  `kern serve --log-format json` writes one JSON object per line. Colours only when stderr is
  a terminal and NO_COLOR is unset.";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`, and the spans).
    Json,
}

/// Installs the global subscriber: `KERN_LOG`'s filter (else `default_filter`), to stderr,
/// in `format`. A `KERN_LOG` that does not parse is reported and the default is used.
pub fn init(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let (filter, bad) = match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => match EnvFilter::try_new(&v) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new(default_filter), Some((v, e))),
        },
        _ => (EnvFilter::new(default_filter), None),
    };
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = FORMAT.set(format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    if let Some((value, e)) = bad {
        tracing::warn!("ignoring {ENV}={value:?} ({e}); logging at {default_filter:?}");
    }
}

/// The format [`init`] installed.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Tells the operator something about the server itself (`listening on …`, `stopped`): a
/// plain `kern: …` line on stderr with text logs, or an `info` event (target `kern`) with
/// JSON logs, so that stderr stays one JSON object per line.
pub fn say(message: impl std::fmt::Display) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::info!(target: "kern", "{message}"),
        _ => eprintln!("kern: {message}"),
    }
}
