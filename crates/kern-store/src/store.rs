//! The [`Store`] trait: the one seam between Kern's engine and a database.

use crate::error::StoreResult;
use crate::model::*;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;

/// Durable storage of runs, their event logs, checkpoints and sessions; also the run queue.
///
/// Implementations: [`SqliteStore`](crate::sqlite::SqliteStore) and
/// [`PostgresStore`](crate::postgres::PostgresStore). Both pass the same conformance suite
/// (`crates/kern-store/tests/`), so the engine never branches on the backend.
///
/// # Contract
/// - Every method that writes is atomic and durable when it returns `Ok`.
/// - [`write`](Store::write) is fenced: see [`RunWrite`].
/// - Writes may be batched with other callers' writes into one transaction (group commit);
///   batching never changes the outcome of an individual write.
/// - Nothing here interprets events or checkpoints.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name of the backend (`"sqlite"`, `"postgres"`), for logs and `/config`.
    fn backend(&self) -> &'static str;

    /// False for an ephemeral store (in-memory SQLite) that cannot hold background runs: its
    /// contents vanish with the process.
    fn is_durable(&self) -> bool;

    /// Inserts a run (and its session, if new). Pending unless [`NewRun::claim`] is set.
    async fn create_run(&self, run: NewRun) -> StoreResult<RunRecord>;

    /// One run, or `None`.
    async fn get_run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>>;

    /// Runs matching `filter`, oldest first.
    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;

    /// Claims up to `req.limit` runs of the given components that are `pending`, or `running`
    /// with an expired lease (their owner died): each becomes `running`, owned by `req.owner`
    /// with a fresh lease and `attempt + 1`. Oldest first. Two concurrent claimers never get the
    /// same run.
    async fn claim(&self, req: &ClaimRequest) -> StoreResult<Vec<RunRecord>>;

    /// Renews the leases of the owner's runs named in `runs` (id and attempt), and reports the
    /// ones it lost and the ones with a pending cancel request.
    async fn heartbeat(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        lease_ms: i64,
    ) -> StoreResult<Heartbeat>;

    /// Ids of running runs owned by `owner` with a cancel request: the fallback channel for
    /// cancels issued by other processes when no push notification is available.
    async fn cancel_requests(&self, owner: &str) -> StoreResult<Vec<RunId>>;

    /// Appends events, upserts checkpoints and optionally finishes the run, atomically and
    /// fenced (see [`RunWrite`]).
    async fn write(&self, write: RunWrite) -> StoreResult<()>;

    /// Gives up ownership of a running run without finishing it (graceful shutdown): the run
    /// goes back to `pending` for another executor. Fenced like [`write`](Store::write).
    async fn release(&self, run_id: RunId, attempt: u32) -> StoreResult<()>;

    /// Cancels a run that is still `pending`: it becomes `cancelled` with `event` appended at
    /// index `event_count` (which must equal the stored count). Fails with
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) if the run is no longer pending or
    /// its log changed, so the caller re-reads and decides again.
    async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        event: NewEvent,
        reason: Option<String>,
    ) -> StoreResult<()>;

    /// Records a cancel request on a run that is not pending. Returns
    /// [`CancelRequest::AlreadyFinished`] for a finished run,
    /// [`StoreError::RunNotFound`](crate::StoreError::RunNotFound) for an unknown one and
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) for a pending one.
    async fn request_cancel(&self, run_id: RunId) -> StoreResult<CancelRequest>;

    /// Events of a run with `event_index >= from_index`, in order, at most `limit`.
    async fn read_events(
        &self,
        run_id: RunId,
        from_index: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// All checkpoints of a run.
    async fn load_checkpoints(&self, run_id: RunId) -> StoreResult<Vec<(String, Value)>>;

    /// One session, or `None`.
    async fn get_session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>>;

    /// Deletes finished runs (with their events and checkpoints) that finished before
    /// `finished_before`; returns how many runs were deleted. This is the retention policy's
    /// only tool: nothing else ever deletes events.
    async fn purge_finished(&self, finished_before: Millis) -> StoreResult<u64>;

    /// Push notifications from other processes sharing the database, if the backend has them
    /// (PostgreSQL `LISTEN/NOTIFY`). `None`: the engine polls instead.
    fn notifications(&self) -> Option<broadcast::Receiver<Notification>> {
        None
    }

    /// Flushes pending writes and stops background work. Further calls fail with
    /// [`StoreError::Closed`](crate::StoreError::Closed).
    async fn close(&self);
}
