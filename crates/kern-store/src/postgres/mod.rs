//! The PostgreSQL store: for several Kern replicas sharing the work.
//!
//! - **Writes** go through writer tasks that each own a dedicated connection and commit
//!   queued ops in batches: the shared write path (`write/`, group commit in `batch.rs`) over
//!   this backend's statements (`write.rs`) and transactions (`writer.rs`). Urgent ops
//!   (creates, cancels) have a writer of their own. Timestamps come from the database clock,
//!   so replicas with skewed clocks agree on when a lease expires.
//! - **Reads** run on a small `deadpool-postgres` pool with cached prepared statements.
//! - **The queue**: `claim` takes runs with `FOR UPDATE SKIP LOCKED`, so claimers in
//!   different processes never get the same run and never wait for each other.
//! - **Wake-ups**: each committed batch sends one coalesced `NOTIFY` on the schema's channel;
//!   a listener connection turns other processes' notifications into
//!   [`Notification`]s (see [`Store::notifications`] and `listen.rs` for the payload format).
//! - **Webhook outbox** (schema v2): `claim_webhooks` leases rows with `FOR UPDATE SKIP
//!   LOCKED` like the run queue; a batch that queued a delivery adds the `w` token to its
//!   `NOTIFY`, which wakes [`Store::webhook_wakeups`] receivers on the other replicas.
//! - **Migrations** are versioned (`kern_schema`) and applied at start under an advisory lock,
//!   so replicas may start together.
//!
//! Several stores can share one database in different schemas: name the schema with
//! [`PostgresOptions::schema`] or in the URL (`?options=-csearch_path%3Dmy_schema`).
//!
//! This module does not run anything, interpret events or manage the PostgreSQL server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kern_store::StoreError> {
//! use kern_store::postgres::{PostgresOptions, PostgresStore};
//! let mut options = PostgresOptions::new("postgres://kern@db.internal/kern");
//! options.schema = Some("kern".into());
//! let store = PostgresStore::connect_with(options).await?;
//! # Ok(()) }
//! ```

mod listen;
#[macro_use]
mod ops;
mod read;
mod schema;
mod write;
mod writer;

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::store::Store;
use crate::write::Writes;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use serde_json::Value;
use std::sync::atomic::AtomicI32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

/// Settings of a [`PostgresStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The connection URL (`postgres://user:password@host:port/database?…`), in the format
    /// `tokio-postgres` accepts, including `options=-csearch_path%3D<schema>`.
    pub url: String,
    /// The schema to keep Kern's tables in, created if missing. `None` (the default): the
    /// first schema of the connection's `search_path` (usually `public`). A plain identifier
    /// (letters, digits, `_`).
    pub schema: Option<String>,
    /// The most read connections to keep open (default 8). The writer and the listener each
    /// hold one more.
    pub pool_size: usize,
    /// How long to wait for a connection to open, unless the URL says (default 10 s).
    pub connect_timeout: Duration,
    /// How many notifications a slow subscriber may fall behind before it lags (default
    /// 1024; see [`Store::notifications`]).
    pub notification_capacity: usize,
}

impl PostgresOptions {
    /// Defaults for the database at `url`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.into(),
            schema: None,
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            notification_capacity: 1024,
        }
    }

    /// The driver's configuration: the URL plus the schema, a connect timeout and an
    /// application name when the URL gives none.
    fn config(&self) -> StoreResult<tokio_postgres::Config> {
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| StoreError::Config(format!("postgres URL: {e}")))?;
        if let Some(schema) = &self.schema {
            let valid = schema
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && schema.len() <= 63
                && schema
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(StoreError::Config(format!(
                    "postgres schema {schema:?}: use letters, digits and '_' (at most 63)"
                )));
            }
            // Quoted, so that the name keeps its case as in `CREATE SCHEMA "…"`.
            let path = format!("-csearch_path=\"{schema}\"");
            let options = match config.get_options() {
                Some(o) if !o.trim().is_empty() => format!("{o} {path}"),
                _ => path,
            };
            config.options(options);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("kern");
        }
        Ok(config)
    }
}

/// The PostgreSQL [`Store`]. Cheap to clone; clones share the writer, the listener and the
/// read pool.
///
/// [`notifications`](Store::notifications) always returns a receiver here. It carries what
/// *other* stores sharing the schema (other processes, usually) committed: this store's own
/// writes are not echoed back. After the listener reconnects, it sends
/// [`Notification::RunsAvailable`], `Events(vec![])` and `Cancel(vec![])`: an empty list
/// means "any run may be affected", so re-poll.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    schema: String,
    pool: Pool,
    /// The writers' queues: ordinary ops, and urgent ones (creates, cancels) on a connection
    /// of their own so that starting a run never waits for a batch of event writes.
    writes: Writes,
    writer_tasks: Mutex<Vec<JoinHandle<()>>>,
    listener: Mutex<Option<listen::Listener>>,
    notifications: broadcast::Sender<Notification>,
    webhooks: broadcast::Sender<()>,
}

impl PostgresStore {
    /// Connects to the database at `url` with default options, applying migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects with the given options, applying migrations, and starts the writer and the
    /// listener. When this returns, the listener is already `LISTEN`ing.
    pub async fn connect_with(options: PostgresOptions) -> StoreResult<Self> {
        let config = options.config()?;
        let mut client = writer::open(&config).await?;
        let schema = schema::migrate(&mut client, options.schema.as_deref()).await?;
        let channel = listen::channel_name(&schema);

        let pid = Arc::new(AtomicI32::new(0));
        let (webhooks, _) = broadcast::channel(16);
        let writer =
            writer::Writer::new(config.clone(), client, channel.clone(), pid.clone()).await?;
        let urgent_pid = Arc::new(AtomicI32::new(0));
        let urgent_writer = writer::Writer::new(
            config.clone(),
            writer::open(&config).await?,
            channel.clone(),
            urgent_pid.clone(),
        )
        .await?;
        let (notifications, _) = broadcast::channel(options.notification_capacity.max(1));
        let outputs = listen::Outputs {
            notes: notifications.clone(),
            webhooks: webhooks.clone(),
        };
        let listener =
            listen::start(config.clone(), channel, outputs, vec![pid, urgent_pid]).await?;

        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Config(format!("postgres pool: {e}")))?;

        let (tx, rx) = mpsc::unbounded_channel();
        let (urgent_tx, urgent_rx) = mpsc::unbounded_channel();
        let writer_tasks = vec![
            tokio::spawn(crate::write::serve(writer, rx, webhooks.clone())),
            tokio::spawn(crate::write::serve(
                urgent_writer,
                urgent_rx,
                webhooks.clone(),
            )),
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                schema,
                pool,
                writes: Writes::new(tx, Some(urgent_tx)),
                writer_tasks: Mutex::new(writer_tasks),
                listener: Mutex::new(Some(listener)),
                notifications,
                webhooks,
            }),
        })
    }

    /// The schema holding Kern's tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    async fn reader(&self) -> StoreResult<deadpool_postgres::Object> {
        self.inner.pool.get().await.map_err(|e| match e {
            PoolError::Closed => StoreError::Closed,
            PoolError::Backend(e) => ops::driver(e),
            other => StoreError::Pool(other.to_string()),
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without `close`, the writer finishes what is queued and stops once its channel
        // closes; the listener stops now.
        let listener = self
            .listener
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(l) = listener {
            let _ = l.stop.send(());
        }
    }
}

/// Runs a read on a pooled connection; when that connection turns out to be dead (the server
/// restarted, the backend was terminated), once more on a fresh one.
macro_rules! read {
    ($self:ident, $db:ident => $body:expr) => {{
        let mut retried = false;
        loop {
            let $db = $self.reader().await?;
            match $body.await {
                Err(e) if !retried && ops::connection_lost(&e) => {
                    tracing::debug!(error = %e, "postgres read on a dead connection; retrying");
                    retried = true;
                }
                out => break out,
            }
        }
    }};
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn is_durable(&self) -> bool {
        true
    }

    async fn create_starting(&self, run: NewRun) -> StoreResult<StartingRun> {
        self.inner.writes.create_run(run).await
    }

    async fn get_run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>> {
        read!(self, db => read::get_run(&db, run_id))
    }

    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>> {
        read!(self, db => read::event_count(&db, run_id))
    }

    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        read!(self, db => read::list_runs(&db, filter))
    }

    async fn count_runs(&self, filter: &RunFilter) -> StoreResult<u64> {
        read!(self, db => read::count_runs(&db, filter))
    }

    async fn count_pending(&self, component: Option<(ComponentKind, &str)>) -> StoreResult<u64> {
        read!(self, db => read::count_pending(&db, component))
    }

    async fn count_finished_since(
        &self,
        since: Millis,
        component: Option<(ComponentKind, &str)>,
    ) -> StoreResult<u64> {
        read!(self, db => read::count_finished_since(&db, since, component))
    }

    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        read!(self, db => read::queue_stats(&db))
    }

    async fn claim_starting(&self, req: &ClaimRequest) -> StoreResult<Vec<StartingRun>> {
        self.inner.writes.claim(req).await
    }

    async fn heartbeat(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        lease_ms: i64,
    ) -> StoreResult<Heartbeat> {
        self.inner.writes.heartbeat(owner, runs, lease_ms).await
    }

    async fn cancel_requests(&self, owner: &str) -> StoreResult<Vec<RunId>> {
        read!(self, db => read::cancel_requests(&db, owner))
    }

    async fn write(&self, write: std::sync::Arc<RunWrite>) -> StoreResult<Millis> {
        self.inner.writes.write(write).await
    }

    async fn release(&self, run_id: RunId, attempt: u32) -> StoreResult<()> {
        self.inner.writes.release(run_id, attempt).await
    }

    async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        event: NewEvent,
        reason: Option<String>,
    ) -> StoreResult<()> {
        self.inner
            .writes
            .cancel_pending(run_id, event_count, event, reason)
            .await
    }

    async fn request_cancel(&self, run_id: RunId) -> StoreResult<CancelRequest> {
        self.inner.writes.request_cancel(run_id).await
    }

    async fn continue_run(&self, req: ContinueRequest) -> StoreResult<RunRecord> {
        self.inner.writes.continue_run(req).await
    }

    async fn requeue(&self, req: RequeueRequest) -> StoreResult<RunRecord> {
        self.inner.writes.requeue(req).await
    }

    async fn read_events(
        &self,
        run_id: RunId,
        from_index: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        read!(self, db => read::read_events(&db, run_id, from_index, limit))
    }

    async fn load_checkpoints(&self, run_id: RunId) -> StoreResult<Vec<(String, Value)>> {
        read!(self, db => read::load_checkpoints(&db, run_id))
    }

    async fn load_scopes(&self, run_id: RunId) -> StoreResult<Vec<(u64, String)>> {
        read!(self, db => read::load_scopes(&db, run_id))
    }

    async fn get_session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>> {
        read!(self, db => read::get_session(&db, session_id))
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> StoreResult<(Vec<SessionRecord>, u64)> {
        read!(self, db => read::list_sessions(&db, filter))
    }

    async fn first_inputs(
        &self,
        session_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, Value>> {
        if session_ids.is_empty() {
            return Ok(Default::default());
        }
        read!(self, db => read::first_inputs(&db, session_ids))
    }

    async fn rename_session(&self, session_id: &str, name: &str) -> StoreResult<SessionRecord> {
        self.inner.writes.rename_session(session_id, name).await
    }

    async fn delete_session(&self, session_id: &str) -> StoreResult<u64> {
        self.inner.writes.delete_session(session_id).await
    }

    async fn purge_finished(&self, finished_before: Millis) -> StoreResult<u64> {
        self.inner.writes.purge_finished(finished_before).await
    }

    async fn claim_webhooks(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.inner.writes.claim_webhooks(limit, lease_ms).await
    }

    async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: WebhookAttempt,
        outcome: WebhookOutcome,
    ) -> StoreResult<()> {
        self.inner
            .writes
            .record_webhook_attempt(id, attempt, outcome)
            .await
    }

    async fn list_webhooks(&self, run_id: RunId) -> StoreResult<Vec<WebhookDelivery>> {
        read!(self, db => read::list_webhooks(&db, run_id))
    }

    /// Wakes after this store's commits that queued a webhook delivery, after other stores'
    /// (the `w` token of their `NOTIFY`), and after the listener reconnected.
    fn webhook_wakeups(&self) -> Option<broadcast::Receiver<()>> {
        Some(self.inner.webhooks.subscribe())
    }

    /// Other stores' committed changes on this schema; see [`PostgresStore`].
    fn notifications(&self) -> Option<broadcast::Receiver<Notification>> {
        Some(self.inner.notifications.subscribe())
    }

    async fn close(&self) {
        self.inner.writes.close();
        let writers = std::mem::take(
            &mut *self
                .inner
                .writer_tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for task in writers {
            let _ = task.await;
        }
        let listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(l) = listener {
            let _ = l.stop.send(());
            let _ = l.task.await;
        }
        self.inner.pool.close();
    }
}
