//! What operators and clients read besides runs and sessions: the database in use, the
//! queue's figures, counts, a run's stored log, its webhook deliveries, and the webhook
//! outbox that a dispatcher drains. The server reads all of this through the engine, never
//! through the store (ARCHITECTURE.md, kern-server).

use super::views::Found;
use super::Engine;
use crate::error::EngineResult;
use kern_store::{
    QueueStats, RunFilter, RunId, StoredEvent, WebhookAttempt, WebhookDelivery, WebhookOutcome,
};
use std::sync::Arc;
use tokio::sync::broadcast;

impl Engine {
    /// The backend's name (`"sqlite"` or `"postgres"`), as `/config` reports it.
    pub fn backend(&self) -> &'static str {
        self.inner.store.backend()
    }

    /// Whether the store keeps runs across restarts: false for an ephemeral (in-memory)
    /// store, where background runs are refused.
    pub fn is_durable(&self) -> bool {
        self.inner.store.is_durable()
    }

    /// Top-level runs by status, the oldest pending run's `created_at` and the store's clock,
    /// in one statement (see [`Store::queue_stats`](kern_store::Store::queue_stats)).
    pub async fn queue_stats(&self) -> EngineResult<QueueStats> {
        Ok(self.inner.store.queue_stats().await?)
    }

    /// How many runs match `filter`'s conditions; its `limit` and `offset` are ignored.
    pub async fn count_runs(&self, filter: &RunFilter) -> EngineResult<u64> {
        Ok(self.inner.store.count_runs(filter).await?)
    }

    /// A run and its whole stored log, read together, or `None`: what a run's document shows.
    ///
    /// A run this engine is executing is answered from memory, with the record and events
    /// the store committed for it, exactly as a store read would return them but for the
    /// lease fields (as of the run's last write) and, for a moment, a cancel requested
    /// through another process. A run that ended here in the last seconds costs one small
    /// read (its event count: any later change to it appended an event) and is answered from
    /// memory if nothing changed. The edge cases are in `engine/views.rs`. Other runs are
    /// read from the store in one call (one snapshot on SQLite; see
    /// [`Store::run_with_events`](kern_store::Store::run_with_events)).
    pub async fn run_with_events(
        &self,
        run_id: RunId,
    ) -> EngineResult<Option<(kern_store::RunRecord, Vec<StoredEvent>)>> {
        let found = self.run_with_events_shared(run_id).await?;
        Ok(found.map(|(r, e)| (Arc::unwrap_or_clone(r), Arc::unwrap_or_clone(e))))
    }

    /// [`run_with_events`](Self::run_with_events) without copying what this engine holds:
    /// the record and log of a run executing here are shared with the engine (what a client
    /// polling a run in flight reads, many times per run), read-only.
    pub async fn run_with_events_shared(
        &self,
        run_id: RunId,
    ) -> EngineResult<Option<(Arc<kern_store::RunRecord>, Arc<Vec<StoredEvent>>)>> {
        match self.inner.views.get(run_id) {
            Some(Found::Running(record, events)) => return Ok(Some((record, events))),
            Some(Found::Ended(record, events)) => {
                if self.inner.store.event_count(run_id).await? == Some(record.event_count) {
                    return Ok(Some((record, events)));
                }
                self.inner.views.forget(run_id);
            }
            None => {}
        }
        let found = self.inner.store.run_with_events(run_id).await?;
        Ok(found.map(|(r, e)| (Arc::new(r), Arc::new(e))))
    }

    /// Up to `limit` of a run's stored events from index `from` on, in index order, as
    /// stored (payloads byte for byte). Empty past the end of the log and for an unknown run.
    pub async fn read_events(
        &self,
        run_id: RunId,
        from: u64,
        limit: usize,
    ) -> EngineResult<Vec<StoredEvent>> {
        Ok(self.inner.store.read_events(run_id, from, limit).await?)
    }

    /// A run's webhook deliveries, oldest first (none for a run without a webhook URL or an
    /// unknown run).
    pub async fn webhook_deliveries(&self, run_id: RunId) -> EngineResult<Vec<WebhookDelivery>> {
        Ok(self.inner.store.list_webhooks(run_id).await?)
    }

    /// Leases up to `limit` due webhook deliveries (oldest first) for `lease_ms`: any number
    /// of dispatchers, in any process sharing the database, never get the same delivery at
    /// once; one that dies before reporting leaves it claimable when the lease ends
    /// (at-least-once). See [`Store::claim_webhooks`](kern_store::Store::claim_webhooks).
    pub async fn claim_webhooks(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> EngineResult<Vec<WebhookDelivery>> {
        Ok(self.inner.store.claim_webhooks(limit, lease_ms).await?)
    }

    /// Records one attempt of delivery `id` in its history and what follows it (delivered,
    /// retry at a time, give up). A late report never turns a delivered one back; an unknown
    /// id fails with [`StoreError::WebhookNotFound`](kern_store::StoreError::WebhookNotFound).
    /// See [`Store::record_webhook_attempt`](kern_store::Store::record_webhook_attempt).
    pub async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: WebhookAttempt,
        outcome: WebhookOutcome,
    ) -> EngineResult<()> {
        Ok(self
            .inner
            .store
            .record_webhook_attempt(id, attempt, outcome)
            .await?)
    }

    /// Wake-ups when deliveries are queued by any process (PostgreSQL), or `None` when the
    /// store has no push (SQLite: dispatchers poll).
    pub fn webhook_wakeups(&self) -> Option<broadcast::Receiver<()>> {
        self.inner.store.webhook_wakeups()
    }
}
