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
  a terminal and NO_COLOR is unset.

Traces:
  `kern serve --otlp-endpoint http://collector:4318` (or OTEL_EXPORTER_OTLP_ENDPOINT) exports
  each run as an OpenTelemetry trace over OTLP/HTTP (protobuf): run -> steps -> model calls ->
  tool calls, with the run id. Needs a kern built with `--features otel`; off by default.";

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
/// in `format`. A `KERN_LOG` that does not parse is reported and the default is used. With
/// an `otlp_endpoint` (and the `otel` feature), the run, step, model call and tool call spans
/// are also exported as OpenTelemetry traces (see [`otel`]), whatever `KERN_LOG` says. Keep
/// the returned guard until the program ends: dropping it flushes the spans not sent yet.
pub fn init(format: LogFormat, default_filter: &str, otlp_endpoint: Option<&str>) -> Telemetry {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, Layer, Registry};
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
    // Lines go out from a thread of their own, in batches (`logsink`).
    let (sink, log_guard) = crate::logsink::stderr();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(sink)
        .with_ansi(ansi);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let endpoint = otlp_endpoint.map(str::trim).filter(|e| !e.is_empty());
    #[cfg(feature = "otel")]
    let (traces, provider, trace_error) = match endpoint.map(otel::layer) {
        None => (None, None, None),
        Some(Ok((layer, provider))) => (Some(layer), Some(provider), None),
        Some(Err(e)) => (None, None, Some(e)),
    };
    #[cfg(not(feature = "otel"))]
    let traces: Option<tracing_subscriber::layer::Identity> = None;
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(traces)
        .init();
    if let Some((value, e)) = bad {
        tracing::warn!("ignoring {ENV}={value:?} ({e}); logging at {default_filter:?}");
    }
    #[cfg(feature = "otel")]
    {
        if let Some(e) = trace_error {
            tracing::warn!("OpenTelemetry traces are off: {e}");
        } else if let Some(endpoint) = endpoint {
            tracing::info!(endpoint, "exporting OpenTelemetry traces (OTLP over HTTP)");
        }
        Telemetry {
            provider,
            _log: log_guard,
        }
    }
    #[cfg(not(feature = "otel"))]
    {
        if endpoint.is_some() {
            tracing::warn!(
                "an OTLP endpoint is set, but this kern was built without the `otel` feature: no traces are exported (cargo build -p kern-cli --features otel)"
            );
        }
        Telemetry { _log: log_guard }
    }
}

/// Flushes the OpenTelemetry spans not sent yet, then the log lines not written yet, when
/// dropped (see [`init`]).
#[must_use = "dropping the guard flushes and stops the trace export and the log writer"]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    /// Dropped after `Drop::drop` ran, so the export's own last words are written too.
    _log: Option<crate::logsink::Guard>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("kern: flushing OpenTelemetry traces failed: {e}");
            }
        }
    }
}

/// OpenTelemetry traces: the spans Kern opens (`run`, `step`, `model_call`, `tool_call`, from
/// `kern_core` and `kern_agent`) exported over OTLP/HTTP with protobuf bodies, in batches from
/// a thread of the SDK's own (its blocking reqwest client never runs on the server's runtime).
#[cfg(feature = "otel")]
pub mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::{EnvFilter, Layer};

    /// The spans exported: Kern's own, at `info`.
    const SPANS: &str = "kern_core=info,kern_agent=info,kern_server=info";

    /// The URL the traces are sent to: `endpoint` as given when it ends with `/v1/traces`,
    /// else with `/v1/traces` appended (as `OTEL_EXPORTER_OTLP_ENDPOINT` is read).
    pub fn traces_url(endpoint: &str) -> String {
        let base = endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }

    /// The layer exporting Kern's spans to `endpoint`, and the provider to shut down at exit.
    pub fn layer<S>(
        endpoint: &str,
    ) -> Result<(impl Layer<S> + Send + Sync, SdkTracerProvider), String>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .build()
            .map_err(|e| format!("the OTLP exporter for {endpoint}: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name("kern").build())
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("kern");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new(SPANS));
        Ok((layer, provider))
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
