//! The [`Store`] trait: the one seam between Kern's engine and a database.
//!
//! Schema v1 holds runs (the queue), their event logs, checkpoints and sessions. Schema v2 adds
//! session management ([`Store::list_sessions`], [`Store::rename_session`],
//! [`Store::delete_session`]), idempotency keys on [`Store::create_run`], and a durable
//! webhook outbox ([`Store::claim_webhooks`], [`Store::record_webhook_attempt`],
//! [`Store::list_webhooks`], [`Store::webhook_wakeups`]). Schema v4 adds the indexes of the
//! operator's views and of backpressure ([`Store::count_pending`], [`Store::count_runs`],
//! [`Store::queue_stats`], [`Store::count_finished_since`]) and [`Store::requeue`]. Schema v5
//! records the outcome each webhook delivery was queued for ([`WebhookDelivery::outcome`]).
//! Both backends migrate to the latest version on open.

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

    /// Inserts a run (and its session, if new; an existing session's `updated_at` is bumped).
    /// Pending unless [`NewRun::claim`] is set. Fails with
    /// [`StoreError::DuplicateRun`](crate::StoreError::DuplicateRun) if the run id exists.
    ///
    /// With [`NewRun::idempotency`] set, the key decides first, atomically with the insert:
    /// - no stored row has the key: the run is inserted together with the key row (same
    ///   transaction) and returned;
    /// - a row has the key with the **same** `request_hash`: nothing is inserted and the
    ///   *existing* run's current record is returned (whatever its status, and without
    ///   taking [`NewRun::claim`]'s lease: the caller does not own it). Callers tell this
    ///   case apart by comparing the returned `run_id` with the one they asked for;
    /// - a row has the key with another hash:
    ///   [`StoreError::IdempotencyConflict`](crate::StoreError::IdempotencyConflict), nothing
    ///   written.
    ///
    /// Concurrent creates with one key and hash (from any process) yield exactly one run.
    /// Key rows live as long as their run: [`purge_finished`](Store::purge_finished) and
    /// [`delete_session`](Store::delete_session) delete them with it, after which the key
    /// may be used again. A key row whose run is gone anyway (deleted by a build from before
    /// schema v2, or by hand) counts as free and is replaced.
    async fn create_run(&self, run: NewRun) -> StoreResult<RunRecord> {
        self.create_starting(run).await.map(|s| s.record)
    }

    /// [`create_run`](Store::create_run), also returning the state of the run's session as
    /// the insert found it: what an executor that starts the run at once needs, without a
    /// read of its own.
    async fn create_starting(&self, run: NewRun) -> StoreResult<StartingRun>;

    /// One run, or `None`.
    async fn get_run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>>;

    /// How many events the run's log holds, or `None` when the run does not exist: a cheap
    /// check that a finished run has not changed since. Every change to a finished run
    /// appends an event (a requeue's `RunRequeued`); purging it or deleting its session
    /// removes it. (Not so for a paused run: a claim once its pause expired changes it
    /// first.)
    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>>;

    /// One run and its whole log, or `None`: what a run's document shows. A backend that can
    /// reads both from one snapshot in one call, so that the log holds exactly the record's
    /// `event_count` events (the SQLite store does, in one read transaction); this default
    /// reads the run, then its events up to the record's count, so it never shows an event
    /// the record does not count either.
    async fn run_with_events(
        &self,
        run_id: RunId,
    ) -> StoreResult<Option<(RunRecord, Vec<StoredEvent>)>> {
        let Some(run) = self.get_run(run_id).await? else {
            return Ok(None);
        };
        let mut events: Vec<StoredEvent> = Vec::new();
        while (events.len() as u64) < run.event_count {
            let want = (run.event_count - events.len() as u64).min(1000) as usize;
            let batch = self.read_events(run_id, events.len() as u64, want).await?;
            if batch.is_empty() {
                break;
            }
            events.extend(batch);
        }
        Ok(Some((run, events)))
    }

    /// Runs matching `filter`, oldest first (newest first with
    /// [`RunFilter::newest_first`]), ties broken by run id.
    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;

    /// How many runs match `filter`'s filters (its `limit`, `offset` and order are ignored):
    /// the total of a paged [`list_runs`](Store::list_runs). Read in a statement of its own,
    /// so a page and its total may disagree by the runs that changed in between.
    async fn count_runs(&self, filter: &RunFilter) -> StoreResult<u64>;

    /// How many runs are `pending` (waiting for an executor), all of them or those of one
    /// component. Cheap: served by a partial index on pending runs, so its cost grows with
    /// the number of pending runs, never with the size of the table. Backpressure
    /// (kern-core's `EngineConfig::max_pending`) asks it before each background start.
    async fn count_pending(&self, component: Option<(ComponentKind, &str)>) -> StoreResult<u64>;

    /// How many top-level background runs (all, or one component's) reached a terminal
    /// status at or after `since` (ms since epoch): the recent throughput that a `Retry-After`
    /// estimate divides by. Served by the index on `finished_at`.
    async fn count_finished_since(
        &self,
        since: Millis,
        component: Option<(ComponentKind, &str)>,
    ) -> StoreResult<u64>;

    /// Top-level runs by status, the creation time of the oldest pending run and the store's
    /// clock, in one statement (see [`QueueStats`]). The counts scan the runs table (a
    /// retention policy keeps it bounded); the oldest pending run comes from its index.
    async fn queue_stats(&self) -> StoreResult<QueueStats>;

    /// Claims up to `req.limit` runs of the given components that are `pending`, or `running`
    /// with an expired lease (their owner died): each becomes `running`, owned by `req.owner`
    /// with a fresh lease and `attempt + 1`. Oldest first. Two concurrent claimers never get the
    /// same run.
    async fn claim(&self, req: &ClaimRequest) -> StoreResult<Vec<RunRecord>> {
        let runs = self.claim_starting(req).await?;
        Ok(runs.into_iter().map(|s| s.record).collect())
    }

    /// [`claim`](Store::claim), also returning the state of each claimed run's session as the
    /// claim found it (see [`StartingRun`]): what the executor starts each run from, without
    /// a read per run.
    async fn claim_starting(&self, req: &ClaimRequest) -> StoreResult<Vec<StartingRun>>;

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
    /// fenced (see [`RunWrite`]). Shared, so a caller can retry a failed write without copying
    /// it.
    ///
    /// When the write finishes the run with a terminal status (or pauses it) and the run has
    /// a [`webhook_url`](RunRecord::webhook_url), a pending [`WebhookDelivery`] is queued in
    /// the same transaction, recording that status as its
    /// [`outcome`](WebhookDelivery::outcome).
    ///
    /// A write that completes the run deletes the run's checkpoints (its own included):
    /// they exist to resume the run, and nothing resumes a completed run.
    ///
    /// Returns the time the write recorded as the run's `updated_at` (and, when it finishes
    /// the run, `finished_at`): with it, [`RunRecord::apply_write`] turns the record the
    /// writer held into the stored one without reading it back.
    async fn write(&self, write: std::sync::Arc<RunWrite>) -> StoreResult<Millis>;

    /// Gives up ownership of a running run without finishing it (graceful shutdown): the run
    /// goes back to `pending` for another executor. Fenced like [`write`](Store::write).
    async fn release(&self, run_id: RunId, attempt: u32) -> StoreResult<()>;

    /// Queues a `paused` run again with the human's decisions: status `pending` (any
    /// executor claims it; it resumes from its checkpoints, which now hold the decisions),
    /// `background` set (it no longer belongs to the caller that started it), the
    /// `RunContinued` event appended and the checkpoints written, atomically. Fails with
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) if the run is not paused or its
    /// log changed (a second continue of the same pause), and
    /// [`StoreError::RunNotFound`](crate::StoreError::RunNotFound) for an unknown run.
    async fn continue_run(&self, req: ContinueRequest) -> StoreResult<RunRecord>;

    /// Queues a `failed` or `cancelled` run again, an operator's decision and the one
    /// deliberate exception to "a terminal status never changes". Atomically, when the run is
    /// `failed` or `cancelled` and its log holds exactly `req.event_count` events: status
    /// `pending`; `error`, `output`, `finished_at` and `started_at` cleared (timeouts count
    /// from the new start); the cancel request and the lease cleared; `background` set (a
    /// foreground run's caller is gone: it resumes as a background run); `releases = attempt`,
    /// so the engine's recovery limit (`attempt - 1 - releases` crash recoveries) starts afresh
    /// while the attempt number, the fencing token, keeps growing; `req.event` appended at
    /// index `event_count` and `req.checkpoints` written. Checkpoints and the log are kept:
    /// the run resumes from its checkpoints on the next claim. Returns the run as queued.
    ///
    /// Fails with [`StoreError::Conflict`](crate::StoreError::Conflict) if the run is not
    /// failed or cancelled or its log changed (a concurrent requeue won), and
    /// [`StoreError::RunNotFound`](crate::StoreError::RunNotFound) for an unknown run.
    async fn requeue(&self, req: RequeueRequest) -> StoreResult<RunRecord>;

    /// Cancels a run that is still `pending` (or `paused`): it becomes `cancelled` with `event` appended at
    /// index `event_count` (which must equal the stored count). Fails with
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) if the run is no longer pending or
    /// its log changed, so the caller re-reads and decides again.
    ///
    /// Like a finishing [`write`](Store::write), it queues a [`WebhookDelivery`] in the same
    /// transaction when the run has a webhook URL.
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

    /// All checkpoints of a run (none once it completed: see [`write`](Store::write)).
    async fn load_checkpoints(&self, run_id: RunId) -> StoreResult<Vec<(String, Value)>>;

    /// The events of a run's log that belong to a unit of work ([`NewEvent::scope`]), as
    /// `(event_index, scope)` in index order. Events without a scope are left out.
    ///
    /// [`NewEvent::scope`]: crate::NewEvent::scope
    async fn load_scopes(&self, run_id: RunId) -> StoreResult<Vec<(u64, String)>>;

    /// One session, or `None`.
    async fn get_session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>>;

    /// A page of the sessions matching `filter`, in its order, and the number of sessions
    /// matching the filters regardless of `limit` and `offset` (for paging). The total is
    /// read in the same statement as the page, so the two agree, except when the page is
    /// empty (then it is counted separately).
    async fn list_sessions(&self, filter: &SessionFilter)
        -> StoreResult<(Vec<SessionRecord>, u64)>;

    /// For each of `session_ids` that has a top-level run (no `parent_run_id`), the `input`
    /// member of the input document of its first one (oldest `created_at`, then `run_id`):
    /// what a session without a name is shown by. One read for the whole list, whatever its
    /// length (a page of sessions, not one query per session). Ids that are unknown or have
    /// only child runs are absent from the map; an id given twice is answered once; an input
    /// document without an `input` member counts as absent.
    async fn first_inputs(
        &self,
        session_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, Value>>;

    /// Sets a session's display name (any string, stored as given) and bumps its
    /// `updated_at`; returns the updated session.
    /// [`StoreError::SessionNotFound`](crate::StoreError::SessionNotFound) if absent.
    async fn rename_session(&self, session_id: &str, name: &str) -> StoreResult<SessionRecord>;

    /// Deletes a session and every run in it (child runs included) with their events,
    /// checkpoints, idempotency keys and webhook deliveries (pending ones too); returns the
    /// number of runs deleted.
    ///
    /// Refused with [`StoreError::SessionBusy`](crate::StoreError::SessionBusy) when a run of
    /// the session is `pending`, `running` or `paused` (nothing is deleted), and with
    /// [`StoreError::SessionNotFound`](crate::StoreError::SessionNotFound) when the session
    /// does not exist. A run created in the session concurrently either makes the delete
    /// busy or lands after it, creating the session anew.
    async fn delete_session(&self, session_id: &str) -> StoreResult<u64>;

    /// Deletes finished runs (with their events, checkpoints, idempotency keys and webhook
    /// deliveries, whatever their status) that finished before `finished_before`; returns
    /// how many runs were deleted. This is the retention policy's tool: apart from
    /// [`delete_session`](Store::delete_session), nothing else ever deletes events.
    async fn purge_finished(&self, finished_before: Millis) -> StoreResult<u64>;

    /// Takes up to `limit` pending webhook deliveries whose `next_attempt_at` has come,
    /// oldest (lowest id) first, and leases them: their `next_attempt_at` becomes `now +
    /// lease_ms` (the returned records show it), so that no other dispatcher (in this or
    /// another process) claims them while this one delivers. Atomic: two concurrent
    /// claimers never get the same row. `attempts` is not changed.
    ///
    /// The dispatcher then calls [`record_webhook_attempt`](Store::record_webhook_attempt);
    /// if it dies first, the row is claimable again when the lease ends (at-least-once
    /// delivery). `now` is the database clock on PostgreSQL, the local clock on SQLite.
    async fn claim_webhooks(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;

    /// Records one delivery attempt of webhook `id`: appends `attempt` to its history,
    /// increments `attempts` and sets `last_status_code`/`last_error` from it (in
    /// `last_error`, NUL characters become U+FFFD, as PostgreSQL text cannot hold them; the
    /// history keeps the error exactly). Then, by
    /// `outcome`:
    /// - [`WebhookOutcome::Delivered`]: status `delivered`, `delivered_at` = now (the first
    ///   time only). This wins over any other status: the endpoint got it.
    /// - [`WebhookOutcome::RetryAt`]`(t)`: `next_attempt_at = t`, if still `pending`.
    /// - [`WebhookOutcome::GiveUp`]: status `failed`, if still `pending`.
    ///
    /// A late report (say, after the lease ran out and another dispatcher already finished
    /// the row) is still recorded in the history but never turns `delivered` back into
    /// `pending` or `failed`. Fails with
    /// [`StoreError::WebhookNotFound`](crate::StoreError::WebhookNotFound) for an unknown id.
    async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: WebhookAttempt,
        outcome: WebhookOutcome,
    ) -> StoreResult<()>;

    /// The webhook deliveries of a run, by id: one per terminal status or pause it reached
    /// with a URL (more than one only for runs that paused or were requeued). Empty for an
    /// unknown run.
    async fn list_webhooks(&self, run_id: RunId) -> StoreResult<Vec<WebhookDelivery>>;

    /// Wake-ups for webhook dispatchers: a `()` arrives after a commit that queued a webhook
    /// delivery, from this store (both backends) or, on PostgreSQL, from another store
    /// sharing the schema (the `w` token of the per-batch `NOTIFY`), and after the
    /// PostgreSQL listener reconnected (deliveries may have been queued meanwhile).
    ///
    /// Wake-ups can be lost or spurious, and nothing announces a retry time or a lease that
    /// ran out, so a dispatcher also polls [`claim_webhooks`](Store::claim_webhooks) on a
    /// timer (other SQLite processes are only seen that way). A lagging receiver
    /// (`RecvError::Lagged`) should simply claim. `None`: the backend has no wake-ups.
    fn webhook_wakeups(&self) -> Option<broadcast::Receiver<()>> {
        None
    }

    /// Push notifications from other processes sharing the database, if the backend has them
    /// (PostgreSQL `LISTEN/NOTIFY`). `None`: the engine polls instead.
    fn notifications(&self) -> Option<broadcast::Receiver<Notification>> {
        None
    }

    /// Flushes pending writes and stops background work. Further calls fail with
    /// [`StoreError::Closed`](crate::StoreError::Closed).
    async fn close(&self);
}
