//! [`CountingStore`]: a [`Store`] that counts the calls made to another.
//!
//! For tests of what the engine and the server ask the database, where the answer alone would
//! not tell: that a stream of a local run reads the store at most twice however many events it
//! carries, that starting a run reads nothing. Every call goes to the wrapped store unchanged
//! (provided methods included, so a backend's own versions are used); only its name is counted.
//! It can also slow down run writes ([`CountingStore::delay_writes`]), for tests of what waits
//! on them.

use async_trait::async_trait;
use kern_store::*;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Wraps a store and counts the calls of each method, by name (`"read_events"`, `"get_run"`).
pub struct CountingStore {
    inner: Arc<dyn Store>,
    calls: Mutex<HashMap<&'static str, u64>>,
    write_delay: Mutex<std::time::Duration>,
}

impl CountingStore {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            calls: Mutex::default(),
            write_delay: Mutex::default(),
        })
    }

    /// From now on, each [`Store::write`] (a run's log write) waits this long before it goes
    /// to the wrapped store; zero (the default) for none.
    pub fn delay_writes(&self, delay: std::time::Duration) {
        *self.write_delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// How many times `method` was called since the start (or the last [`reset`](Self::reset)).
    pub fn calls(&self, method: &str) -> u64 {
        self.lock().get(method).copied().unwrap_or(0)
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, u64>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, method: &'static str) -> &dyn Store {
        *self.lock().entry(method).or_default() += 1;
        &*self.inner
    }
}

#[async_trait]
impl Store for CountingStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }
    async fn create_run(&self, run: NewRun) -> StoreResult<RunRecord> {
        self.count("create_run").create_run(run).await
    }
    async fn create_starting(&self, run: NewRun) -> StoreResult<StartingRun> {
        self.count("create_starting").create_starting(run).await
    }
    async fn get_run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>> {
        self.count("get_run").get_run(run_id).await
    }
    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>> {
        self.count("event_count").event_count(run_id).await
    }
    async fn run_with_events(
        &self,
        run_id: RunId,
    ) -> StoreResult<Option<(RunRecord, Vec<StoredEvent>)>> {
        self.count("run_with_events").run_with_events(run_id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.count("list_runs").list_runs(filter).await
    }
    async fn count_runs(&self, filter: &RunFilter) -> StoreResult<u64> {
        self.count("count_runs").count_runs(filter).await
    }
    async fn count_pending(&self, component: Option<(ComponentKind, &str)>) -> StoreResult<u64> {
        self.count("count_pending").count_pending(component).await
    }
    async fn count_finished_since(
        &self,
        since: Millis,
        component: Option<(ComponentKind, &str)>,
    ) -> StoreResult<u64> {
        self.count("count_finished_since")
            .count_finished_since(since, component)
            .await
    }
    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        self.count("queue_stats").queue_stats().await
    }
    async fn claim(&self, req: &ClaimRequest) -> StoreResult<Vec<RunRecord>> {
        self.count("claim").claim(req).await
    }
    async fn claim_starting(&self, req: &ClaimRequest) -> StoreResult<Vec<StartingRun>> {
        self.count("claim_starting").claim_starting(req).await
    }
    async fn heartbeat(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        lease_ms: i64,
    ) -> StoreResult<Heartbeat> {
        self.count("heartbeat")
            .heartbeat(owner, runs, lease_ms)
            .await
    }
    async fn cancel_requests(&self, owner: &str) -> StoreResult<Vec<RunId>> {
        self.count("cancel_requests").cancel_requests(owner).await
    }
    async fn write(&self, write: Arc<RunWrite>) -> StoreResult<Millis> {
        let delay = *self.write_delay.lock().unwrap_or_else(|e| e.into_inner());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.count("write").write(write).await
    }
    async fn release(&self, run_id: RunId, attempt: u32) -> StoreResult<()> {
        self.count("release").release(run_id, attempt).await
    }
    async fn continue_run(&self, req: ContinueRequest) -> StoreResult<RunRecord> {
        self.count("continue_run").continue_run(req).await
    }
    async fn requeue(&self, req: RequeueRequest) -> StoreResult<RunRecord> {
        self.count("requeue").requeue(req).await
    }
    async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        event: NewEvent,
        reason: Option<String>,
    ) -> StoreResult<()> {
        self.count("cancel_pending")
            .cancel_pending(run_id, event_count, event, reason)
            .await
    }
    async fn request_cancel(&self, run_id: RunId) -> StoreResult<CancelRequest> {
        self.count("request_cancel").request_cancel(run_id).await
    }
    async fn read_events(
        &self,
        run_id: RunId,
        from_index: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.count("read_events")
            .read_events(run_id, from_index, limit)
            .await
    }
    async fn load_checkpoints(&self, run_id: RunId) -> StoreResult<Vec<(String, Value)>> {
        self.count("load_checkpoints")
            .load_checkpoints(run_id)
            .await
    }
    async fn load_scopes(&self, run_id: RunId) -> StoreResult<Vec<(u64, String)>> {
        self.count("load_scopes").load_scopes(run_id).await
    }
    async fn get_session(&self, session_id: &str) -> StoreResult<Option<SessionRecord>> {
        self.count("get_session").get_session(session_id).await
    }
    async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> StoreResult<(Vec<SessionRecord>, u64)> {
        self.count("list_sessions").list_sessions(filter).await
    }
    async fn first_inputs(&self, session_ids: &[String]) -> StoreResult<HashMap<String, Value>> {
        self.count("first_inputs").first_inputs(session_ids).await
    }
    async fn rename_session(&self, session_id: &str, name: &str) -> StoreResult<SessionRecord> {
        self.count("rename_session")
            .rename_session(session_id, name)
            .await
    }
    async fn delete_session(&self, session_id: &str) -> StoreResult<u64> {
        self.count("delete_session")
            .delete_session(session_id)
            .await
    }
    async fn purge_finished(&self, finished_before: Millis) -> StoreResult<u64> {
        self.count("purge_finished")
            .purge_finished(finished_before)
            .await
    }
    async fn claim_webhooks(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.count("claim_webhooks")
            .claim_webhooks(limit, lease_ms)
            .await
    }
    async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: WebhookAttempt,
        outcome: WebhookOutcome,
    ) -> StoreResult<()> {
        self.count("record_webhook_attempt")
            .record_webhook_attempt(id, attempt, outcome)
            .await
    }
    async fn list_webhooks(&self, run_id: RunId) -> StoreResult<Vec<WebhookDelivery>> {
        self.count("list_webhooks").list_webhooks(run_id).await
    }
    fn webhook_wakeups(&self) -> Option<broadcast::Receiver<()>> {
        self.inner.webhook_wakeups()
    }
    fn notifications(&self) -> Option<broadcast::Receiver<Notification>> {
        self.inner.notifications()
    }
    async fn close(&self) {
        self.inner.close().await
    }
}
