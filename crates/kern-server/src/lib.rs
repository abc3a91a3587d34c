//! Kern's AgentOS-compatible HTTP server.
//!
//! [`AgentOs`] serves the agents, teams and workflows registered on an
//! [`Engine`](kern_core::engine::Engine) over the routes of Agno's AgentOS (see
//! `crates/kern-server/README.md` for the route table): list and inspect components, create
//! runs in the four execution modes, poll, list and cancel runs, resume a run's event stream
//! after a disconnect (from any replica sharing the database), a WebSocket for workflows, the
//! sessions API, `/health`, `/config` and `/openapi.json`.
//!
//! Serve it on its own:
//!
//! ```no_run
//! use kern_core::engine::Engine;
//! use kern_server::AgentOs;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::open("kern.db").await?;
//! kern_server::demo::register(&engine)?; // or register your own workflows
//! AgentOs::builder(engine)
//!     .security_key("s3cret")
//!     .build()
//!     .serve("127.0.0.1:7777")            // until SIGINT/SIGTERM, then shuts down gracefully
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! or mount its router into your own axum application (what AgentOS's FastAPI integration
//! does):
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use kern_core::engine::Engine;
//! use kern_server::AgentOs;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::open("kern.db").await?;
//! let os = AgentOs::builder(engine.clone()).build();
//! let app = Router::new()
//!     .route("/my/own/route", get(|| async { "hello" }))
//!     .merge(os.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! // When your app stops: end open event streams, then hand unfinished runs back.
//! os.stop_streams();
//! engine.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```
//!
//! Every error is JSON, `{"detail": "…", "code": "…"}` (see [`ApiError`]); events are sent
//! exactly as stored, each SSE frame with `id: <event_index>` so a browser's `EventSource`
//! reconnects by itself with `Last-Event-ID`.

mod access;
mod access_log;
mod auth;
mod cors;
mod create_run;
pub mod demo;
mod edge;
mod error;
mod extract;
mod form;
mod listing;
mod metrics;
mod openapi;
mod queue;
mod respond;
mod routes;
mod stream;
mod timeouts;
mod ui;
mod webhooks;
mod wire;
mod ws;

pub use auth::{Caller, JwtConfig, JwtKeyError};
pub use cors::{CorsOrigins, DEFAULT_ORIGINS};
pub use error::{ApiError, ApiResult};
pub use form::MAX_SESSION_ID_BYTES;
pub use webhooks::{WebhookSecretError, WebhookSettings};
pub use wire::{run_document, wire_status};

use axum::middleware::from_fn_with_state;
use axum::Router;
use kern_core::engine::Engine;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::sync::CancellationToken;

/// The state every handler shares.
pub(crate) type AppState = Arc<Shared>;

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) auth: auth::Auth,
    pub(crate) body_limit: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) os_id: String,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    /// When the server was built (Unix seconds).
    pub(crate) instantiated_at: i64,
    /// Cancelled to end every open SSE and WebSocket stream.
    pub(crate) streams_closed: CancellationToken,
    /// Webhook delivery settings (the default URL is read when runs are created).
    pub(crate) webhooks: WebhookSettings,
    /// The server's own figures for `/metrics`.
    pub(crate) metrics: metrics::ServerMetrics,
    /// Whether `/metrics` needs the same credentials as the API (default: open, like
    /// `/health`).
    pub(crate) protect_metrics: bool,
    /// How long a request's body may take to arrive (see `timeouts`).
    pub(crate) body_read_timeout: Duration,
    /// Cancelled when the server starts shutting down: body reads in progress fail at once.
    pub(crate) closing: CancellationToken,
}

/// Builds an [`AgentOs`].
pub struct AgentOsBuilder {
    engine: Engine,
    security_key: Option<String>,
    jwt: Option<JwtConfig>,
    webhooks: WebhookSettings,
    body_limit: usize,
    keep_alive: Duration,
    shutdown_grace: Duration,
    os_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    cors: CorsOrigins,
    protect_metrics: bool,
    header_read_timeout: Duration,
    body_read_timeout: Duration,
}

impl AgentOsBuilder {
    /// Requires `Authorization: Bearer <key>` on every route but `/health` (the WebSocket
    /// authenticates with the same key in its protocol). An empty key means none.
    pub fn security_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.security_key = (!key.is_empty()).then_some(key);
        self
    }

    /// Verifies `Authorization: Bearer <jwt>` tokens: the token's `sub` becomes the caller's
    /// `user_id`, and each user sees, lists, cancels and resumes only their own runs and
    /// sessions (others' are 404). Combines with [`security_key`](Self::security_key), whose
    /// holder sees everything.
    pub fn jwt(mut self, config: JwtConfig) -> Self {
        self.jwt = Some(config);
        self
    }

    /// Where runs created without a `webhook_url` report when they finish.
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.webhooks.default_url = (!url.trim().is_empty()).then_some(url);
        self
    }

    /// Signs webhook requests (Standard Webhooks `webhook-signature`) with this secret:
    /// `whsec_<base64 key>`, or any other string used as the key's bytes.
    pub fn webhook_secret(mut self, secret: &str) -> Result<Self, WebhookSecretError> {
        self.webhooks.key = Some(webhooks::secret_key(secret)?);
        Ok(self)
    }

    /// Delivery attempts before a webhook is given up (default 8), and the first retry's delay
    /// (doubling each time, default 1 s).
    pub fn webhook_retries(mut self, max_attempts: u32, backoff: Duration) -> Self {
        self.webhooks.max_attempts = max_attempts.max(1);
        self.webhooks.backoff = backoff;
        self
    }

    /// How often the webhook outbox is checked when no wake-up arrives (default 1 s), and the
    /// timeout of one delivery attempt (default 10 s).
    pub fn webhook_timing(mut self, poll: Duration, timeout: Duration) -> Self {
        self.webhooks.poll = poll.max(Duration::from_millis(10));
        self.webhooks.timeout = timeout;
        self
    }

    /// The largest request body accepted, in bytes (default 10 MiB); larger ones get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long an event stream may stay silent before the server sends a `: keepalive`
    /// comment (default 15 s).
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = every.max(Duration::from_millis(10));
        self
    }

    /// How long a client may take to send a request's head (request line and headers) before
    /// [`AgentOs::serve`] disconnects it (default 30 s; it also closes keep-alive connections
    /// idle that long). Applications serving [`AgentOs::router`] themselves set their own.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a client may take to send a request's body, from its head (default 60 s):
    /// past it the request fails with 408 `request_timeout` and the connection is closed.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long [`AgentOs::serve`] lets running runs go on after a shutdown signal before it
    /// hands them back to the queue (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The browser origins allowed to call the server (CORS; default Agno's,
    /// [`DEFAULT_ORIGINS`]; `CorsOrigins::list(["*"])` allows any, an empty list none).
    pub fn cors_origins(mut self, origins: CorsOrigins) -> Self {
        self.cors = origins;
        self
    }

    /// Requires on `GET /metrics` the credentials every other route needs (the security key,
    /// or a JWT with the admin scope). Default off: `/metrics` is open like `/health`, so
    /// that a scraper needs no application key; it shows counts, durations and component
    /// ids, never a run's contents.
    pub fn protect_metrics(mut self, on: bool) -> Self {
        self.protect_metrics = on;
        self
    }

    /// The OS id reported by `/config` (default a fresh UUID).
    pub fn os_id(mut self, id: impl Into<String>) -> Self {
        self.os_id = Some(id.into());
        self
    }

    /// The OS name reported by `/config`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The OS description reported by `/config`.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Builds the server.
    pub fn build(self) -> AgentOs {
        let auth = auth::Auth {
            security_key: self.security_key,
            jwt: self.jwt,
        };
        AgentOs {
            shared: Arc::new(Shared {
                engine: self.engine,
                auth,
                body_limit: self.body_limit,
                keep_alive: self.keep_alive,
                os_id: self
                    .os_id
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                name: self.name,
                description: self.description,
                instantiated_at: kern_core::store::now_millis() / 1000,
                streams_closed: CancellationToken::new(),
                webhooks: self.webhooks,
                metrics: metrics::ServerMetrics::default(),
                protect_metrics: self.protect_metrics,
                body_read_timeout: self.body_read_timeout,
                closing: CancellationToken::new(),
            }),
            shutdown_grace: self.shutdown_grace,
            header_read_timeout: self.header_read_timeout,
            cors: Arc::new(self.cors),
        }
    }
}

/// An AgentOS-compatible server over an engine's registered components. Cheap to clone.
#[derive(Clone)]
pub struct AgentOs {
    shared: AppState,
    shutdown_grace: Duration,
    header_read_timeout: Duration,
    cors: Arc<CorsOrigins>,
}

impl std::fmt::Debug for AgentOs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentOs")
            .field("engine", &self.shared.engine)
            .field("auth", &self.shared.auth)
            .finish()
    }
}

impl AgentOs {
    /// A builder serving the components registered on `engine` (now or later).
    pub fn builder(engine: Engine) -> AgentOsBuilder {
        AgentOsBuilder {
            engine,
            security_key: None,
            jwt: None,
            webhooks: WebhookSettings::default(),
            body_limit: 10 * 1024 * 1024,
            keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            os_id: None,
            name: None,
            description: None,
            cors: CorsOrigins::default(),
            protect_metrics: false,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
        }
    }

    /// The engine whose components are served.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The router with every route, authentication, CORS and JSON errors, ready to serve or to
    /// merge into another axum application.
    pub fn router(&self) -> Router {
        routes::router(self.shared.clone())
            .merge(ws::router(self.shared.clone()))
            .merge(ui::api_router(self.shared.clone()))
            .layer(from_fn_with_state(self.shared.clone(), auth::middleware))
            // The dashboard's page and assets, and `/`, need no credentials (see `ui`).
            .merge(ui::public_router(self.shared.clone()))
            // CORS (preflights never reach authentication, and errors carry the headers), the
            // request log, body deadlines and panics, in one middleware (`edge.rs`).
            .layer(from_fn_with_state(
                edge::Edge {
                    st: self.shared.clone(),
                    cors: self.cors.clone(),
                },
                edge::middleware,
            ))
    }

    /// Starts the webhook dispatcher: it delivers the outbox's due webhooks (from runs of any
    /// process sharing the database) until `stop` is cancelled. [`serve`](Self::serve) starts
    /// one; an application that mounted the router starts it itself.
    pub fn spawn_webhook_dispatcher(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(webhooks::dispatcher(
            self.shared.engine.clone(),
            self.shared.webhooks.clone(),
            stop,
        ))
    }

    /// Ends every open SSE and WebSocket stream (clients of background runs can resume on
    /// another replica). [`serve`](Self::serve) calls it on shutdown; an application that
    /// mounted the router calls it when it stops.
    pub fn stop_streams(&self) {
        self.shared.streams_closed.cancel();
    }

    /// Binds `addr` and serves until SIGINT or SIGTERM, then shuts down gracefully (see
    /// [`serve_with_shutdown`](Self::serve_with_shutdown)).
    pub async fn serve(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "kern serving");
        self.serve_with_shutdown(listener, shutdown_signal()).await
    }

    /// Serves on `listener` until `signal` resolves, then:
    /// 1. stops accepting connections, closes those with no request in progress (idle, or
    ///    still sending a request's head) and fails body reads in progress (503);
    /// 2. shuts the engine down: it takes no new runs, lets running ones go on for the
    ///    shutdown grace, then hands unfinished background runs back to the queue (another
    ///    replica, or this one after a restart, resumes them from their last checkpoint);
    /// 3. ends open event streams and waits (briefly) for connections to close.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop_accepting = self.shared.closing.clone();
        let server = timeouts::serve_connections(
            listener,
            self.router(),
            self.header_read_timeout,
            stop_accepting.clone(),
        );
        let mut server = tokio::spawn(server);
        let hooks_stop = CancellationToken::new();
        let hooks = self.spawn_webhook_dispatcher(hooks_stop.clone());
        tokio::select! {
            res = &mut server => {
                return res.unwrap_or_else(|e| Err(std::io::Error::other(e)));
            }
            _ = signal => {}
        }
        tracing::info!("shutting down: no new connections; finishing or handing back runs");
        stop_accepting.cancel();
        self.shared.engine.shutdown(self.shutdown_grace).await;
        self.stop_streams();
        hooks_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), hooks).await;
        match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
            Ok(res) => res.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => {
                tracing::warn!("connections still open after shutdown; closing them");
                server.abort();
                Ok(())
            }
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
