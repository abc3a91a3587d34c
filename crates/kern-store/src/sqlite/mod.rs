//! The SQLite store: Kern's embedded default.
//!
//! One database file in WAL mode. All writes go through a single writer thread that owns the
//! write connection and commits them in batches: the shared write path (`write/`, group
//! commit in `batch.rs`) over this backend's statements and transactions (`write.rs`). Reads
//! (`ops.rs`) run on a small pool of read connections, which WAL lets proceed while the
//! writer commits. Several processes may share the file: SQLite's file lock serialises their
//! writers.
//!
//! A bound `LIMIT` is written `LIMIT ?N + 0`: SQLite plans with the value of a bare `LIMIT ?N`
//! and re-prepares the statement (parses and plans it again) each time it is bound to another
//! value, which every claim did (its limit is the executor's free slots): 1.7% of a loaded
//! server's CPU. An expression is not planned with; `no_bound_limit_is_planned_with` keeps it so.
//!
//! There are no cross-process notifications: other processes poll. Webhook dispatchers of
//! *this* store are woken after each commit that queued a delivery
//! ([`Store::webhook_wakeups`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kern_store::StoreError> {
//! use kern_store::sqlite::SqliteStore;
//! let store = SqliteStore::open("kern.db").await?; // created on first use
//! # Ok(()) }
//! ```

mod checkpoint;
mod ops;
mod schema;
mod write;

use crate::error::{DriverError, StoreError, StoreResult};
use crate::model::*;
use crate::store::Store;
use crate::write::Writes;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How hard SQLite works to make a commit survive a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `synchronous=FULL`: every commit is fsynced. Survives process crashes and power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits survive a process crash; the last ones may be lost on
    /// power loss. Faster on slow disks.
    Normal,
    /// `synchronous=OFF`: for throwaway databases only.
    Off,
}

/// Settings of a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// The database file; created (with its directory) on first use unless
    /// [`create`](Self::create) is false.
    pub path: PathBuf,
    /// Whether a missing file (and its directory) is created (default `true`). With `false`,
    /// opening a file that does not exist fails with [`StoreError::DatabaseNotFound`] and
    /// creates nothing: what client tools want, so that a mistyped path is an error rather
    /// than a new, empty database.
    pub create: bool,
    /// Commit durability (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// How many read connections to keep (default 4).
    pub read_connections: usize,
    /// How long to wait for another process's write lock (default 10 s).
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    /// Defaults for the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            create: true,
            synchronous: Synchronous::Full,
            read_connections: 4,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// The SQLite [`Store`]. Cheap to clone; clones share the writer and the read pool.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    options: SqliteOptions,
    durable: bool,
    writes: Writes,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection (see `read`).
    read_permits: Arc<tokio::sync::Semaphore>,
    webhooks: broadcast::Sender<()>,
    // Dropped with the store: stops the checkpointer thread.
    _stop_checkpoints: Mutex<std::sync::mpsc::Sender<()>>,
    // Keeps an ephemeral store's directory alive; removed when the store is dropped.
    _tempdir: Option<tempfile::TempDir>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(SqliteOptions::new(path.as_ref())).await
    }

    /// Opens the database at `path`, which must exist: a missing file is
    /// [`StoreError::DatabaseNotFound`] and nothing is created. Migrations are applied.
    pub async fn open_existing(path: impl AsRef<Path>) -> StoreResult<Self> {
        let mut options = SqliteOptions::new(path.as_ref());
        options.create = false;
        Self::open_with(options).await
    }

    /// Opens a database with the given options (creating it if needed, unless
    /// [`SqliteOptions::create`] is false), applying migrations.
    pub async fn open_with(options: SqliteOptions) -> StoreResult<Self> {
        Self::start(options, true, None).await
    }

    /// A throwaway store in a temporary directory, deleted when the store is dropped. It is
    /// not durable: the engine refuses background runs on it.
    pub async fn ephemeral() -> StoreResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kern-ephemeral")
            .tempdir()?;
        let mut options = SqliteOptions::new(dir.path().join("kern.db"));
        options.synchronous = Synchronous::Off;
        options.read_connections = 2;
        Self::start(options, false, Some(dir)).await
    }

    async fn start(
        options: SqliteOptions,
        durable: bool,
        tempdir: Option<tempfile::TempDir>,
    ) -> StoreResult<Self> {
        let opts = options.clone();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            if opts.create {
                if let Some(dir) = opts.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
            } else {
                match std::fs::metadata(&opts.path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::DatabaseNotFound(opts.path.clone()));
                    }
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
            }
            let mut conn = open_connection(&opts)?;
            let sync = match opts.synchronous {
                Synchronous::Full => "FULL",
                Synchronous::Normal => "NORMAL",
                Synchronous::Off => "OFF",
            };
            sql(|| {
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", sync)?;
                // The writer never checkpoints: a checkpoint inside a commit would stall every
                // write queued behind it for its whole duration. A thread of its own does it
                // (`checkpoint.rs`), and keeps the WAL bounded.
                conn.pragma_update(None, "wal_autocheckpoint", 0)
            })?;
            schema::migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .expect("sqlite open task panicked")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (webhooks, _) = broadcast::channel(16);
        let wake = webhooks.clone();
        // The shared writer loop, on a thread of its own: every statement blocks it (see
        // `write.rs`).
        let thread = std::thread::Builder::new()
            .name("kern-sqlite-writer".into())
            .spawn(move || {
                let writer = write::Writer { conn };
                futures::executor::block_on(crate::write::serve(writer, rx, wake));
            })?;
        let (stop_checkpoints, stop) = std::sync::mpsc::channel::<()>();
        let ckpt_opts = options.clone();
        std::thread::Builder::new()
            .name("kern-sqlite-ckpt".into())
            .spawn(move || checkpoint::checkpoint_loop(&ckpt_opts, &stop))?;
        let read_permits = Arc::new(tokio::sync::Semaphore::new(options.read_connections.max(1)));
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                durable,
                writes: Writes::new(tx, None),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
                read_permits,
                webhooks,
                _stop_checkpoints: Mutex::new(stop_checkpoints),
                _tempdir: tempdir,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.options.path
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        // At most `read_connections` reads at once: the rest wait here, instead of each
        // taking a blocking thread and opening a connection of its own (a thousand streams
        // catching up at once would otherwise start hundreds of threads).
        let permit = self
            .inner
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.options)?,
            };
            let out = sql(|| f(&conn));
            let mut pool = inner.readers.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < inner.options.read_connections {
                pool.push(conn);
            }
            out
        })
        .await
        .expect("sqlite read task panicked")
    }
}

fn open_connection(opts: &SqliteOptions) -> StoreResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    // Without `create`, a file removed after the check above is still not created again.
    if opts.create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    sql(|| {
        let conn = Connection::open_with_flags(&opts.path, flags)?;
        conn.busy_timeout(opts.busy_timeout)?;
        // Whichever connection commits first after the WAL rewinds truncates it to this size.
        conn.pragma_update(None, "journal_size_limit", checkpoint::WAL_SIZE_LIMIT)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    })
}

/// Runs SQLite calls, reporting their error as a [`StoreError::Sqlite`], or
/// [`StoreError::Corrupt`] for a stored value that does not decode: the one place the backend
/// converts the driver's errors, so no driver type leaks into the store's API.
fn sql<T>(f: impl FnOnce() -> rusqlite::Result<T>) -> StoreResult<T> {
    f().map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, cause)
            if cause.is::<ops::CorruptValue>() =>
        {
            StoreError::Corrupt(cause.to_string())
        }
        e => StoreError::Sqlite(DriverError::new(e)),
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn is_durable(&self) -> bool {
        self.inner.durable
    }

    async fn create_starting(&self, run: NewRun) -> StoreResult<StartingRun> {
        self.inner.writes.create_run(run).await
    }

    async fn get_run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>> {
        self.read(move |c| ops::get_run(c, run_id)).await
    }

    /// Answered by the writer, not a reader: the engine asks this once per finished local run
    /// (a poll's check that its view is still what the store holds), and a read on the
    /// blocking pool (a thread hop each way, and a read transaction that starts with an empty
    /// page cache after every commit) cost about 15 % of a loaded server's CPU. The writer's
    /// connection has the run's pages cached (it wrote them) and, under load, is awake
    /// anyway. The price is latency: the answer comes with the batch it joins (an urgent op,
    /// so at most the batch in flight and a short one).
    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>> {
        self.inner.writes.event_count(run_id).await
    }

    async fn run_with_events(
        &self,
        run_id: RunId,
    ) -> StoreResult<Option<(RunRecord, Vec<StoredEvent>)>> {
        self.read(move |c| ops::run_with_events(c, run_id)).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        let filter = filter.clone();
        self.read(move |c| ops::list_runs(c, &filter)).await
    }

    async fn count_runs(&self, filter: &RunFilter) -> StoreResult<u64> {
        let filter = filter.clone();
        self.read(move |c| ops::count_runs(c, &filter)).await
    }

    async fn count_pending(&self, component: Option<(ComponentKind, &str)>) -> StoreResult<u64> {
        let component = component.map(|(k, id)| (k, id.to_owned()));
        self.read(move |c| {
            ops::count_pending(c, component.as_ref().map(|(k, id)| (*k, id.as_str())))
        })
        .await
    }

    async fn count_finished_since(
        &self,
        since: Millis,
        component: Option<(ComponentKind, &str)>,
    ) -> StoreResult<u64> {
        let component = component.map(|(k, id)| (k, id.to_owned()));
        self.read(move |c| {
            ops::count_finished_since(
                c,
                since,
                component.as_ref().map(|(k, id)| (*k, id.as_str())),
            )
        })
        .await
    }

    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        self.read(|c| ops::queue_stats(c, now_millis())).await
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
        let owner = owner.to_owned();
        self.read(move |c| ops::cancel_requests(c, &owner)).await
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
        self.read(move |c| ops::read_events(c, run_id, from_index, limit))
            .await
    }

    async fn load_checkpoints(&self, run_id: RunId) -> StoreResult<Vec<(String, Value)>> {
        self.read(move |c| ops::load_checkpoints(c, run_id)).await
    }

    async fn load_scopes(&self, run_id: RunId) -> StoreResult<Vec<(u64, String)>> {
        self.read(move |c| ops::load_scopes(c, run_id)).await
    }

    async fn get_session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>> {
        let session_id = session_id.to_owned();
        self.read(move |c| ops::get_session(c, &session_id)).await
    }

    async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> StoreResult<(Vec<SessionRecord>, u64)> {
        let filter = filter.clone();
        self.read(move |c| ops::list_sessions(c, &filter)).await
    }

    async fn first_inputs(
        &self,
        session_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, Value>> {
        if session_ids.is_empty() {
            return Ok(Default::default());
        }
        let ids = Value::from(session_ids.to_vec()).to_string();
        self.read(move |c| ops::first_inputs(c, &ids)).await
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
        self.read(move |c| ops::list_webhooks(c, run_id)).await
    }

    /// Wakes after each commit of this store that queued a webhook delivery; other processes
    /// sharing the file are not heard (poll).
    fn webhook_wakeups(&self) -> Option<broadcast::Receiver<()>> {
        Some(self.inner.webhooks.subscribe())
    }

    async fn close(&self) {
        self.inner.writes.close();
        let thread = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bound_limit_is_planned_with() {
        // What SQLite does: a bare bound LIMIT re-prepares on each new value, `+ 0` does not.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        for (sql, reprepares) in [
            ("SELECT x FROM t ORDER BY x LIMIT ?1", 3),
            ("SELECT x FROM t ORDER BY x LIMIT ?1 + 0", 0),
        ] {
            let mut stmt = conn.prepare(sql).unwrap();
            for limit in 1..=3 {
                stmt.query([limit]).unwrap().next().unwrap();
            }
            let n = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(n, reprepares, "{sql}");
        }
        // And no statement of this backend has a bare one.
        for (file, source) in [
            ("ops.rs", include_str!("ops.rs")),
            ("write.rs", include_str!("write.rs")),
            ("checkpoint.rs", include_str!("checkpoint.rs")),
        ] {
            for (i, _) in source.match_indices("LIMIT ?") {
                let rest = &source[i + "LIMIT ?".len()..];
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                assert!(
                    rest[digits..].starts_with(" + 0"),
                    "{file}: a bare bound LIMIT at byte {i}"
                );
            }
        }
    }

    #[tokio::test]
    async fn an_undecodable_row_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kern.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let run = NewRun::new(ComponentKind::Workflow, "wf", "s", serde_json::json!({}));
        let run = store.create_run(run).await.unwrap();
        // Edited by hand, behind the store's back.
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE kern_runs SET input = 'not json'", [])
            .unwrap();
        match store.get_run(run.run_id).await {
            Err(StoreError::Corrupt(m)) => assert!(m.starts_with("json: "), "{m}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Other driver failures stay SQLite's.
        conn.execute("DROP TABLE kern_events", []).unwrap();
        let err = store.read_events(run.run_id, 0, 10).await.unwrap_err();
        assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
        store.close().await;
    }
}
