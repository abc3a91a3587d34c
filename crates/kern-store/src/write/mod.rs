//! The one write path of both backends.
//!
//! A [`Store`](crate::Store) write method turns its arguments into a
//! [`WriteOp`] and queues it on the backend's writer ([`Writes`]); the writer commits queued
//! ops in batches ([`serve`], group commit: see `batch.rs`) through the backend's
//! [`Transact`], which applies each op with [`apply`] over the backend's statements
//! ([`WriteTx`]). So what differs between SQLite and PostgreSQL is only how a batch is
//! executed (`Transact`) and the SQL of each step (`WriteTx`); the queueing, the batching,
//! the fallback after a failed batch and what each op decides are written here once.

mod apply;
mod serve;

pub(crate) use apply::{apply, apply_in_order, AttemptRecord, Claimable, WriteTx};
pub(crate) use serve::{serve, Failed, Transact};

use crate::batch::{expect_out, Request, WriteOp, WriteOut};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot};

/// The queues of a store's writer: the typed write methods of [`Store`](crate::Store), as
/// ops sent to the writer and answered after their commit.
pub(crate) struct Writes {
    queues: RwLock<Option<Queues>>,
}

struct Queues {
    ordinary: mpsc::UnboundedSender<Request>,
    /// A second writer for urgent ops (see [`WriteOp::is_urgent`]), when the backend has
    /// one: on PostgreSQL, creates and cancels commit on a connection of their own so that
    /// starting a run never waits for a batch of event writes.
    urgent: Option<mpsc::UnboundedSender<Request>>,
}

impl Writes {
    /// Queues for one writer (`urgent: None`) or two.
    pub(crate) fn new(
        ordinary: mpsc::UnboundedSender<Request>,
        urgent: Option<mpsc::UnboundedSender<Request>>,
    ) -> Self {
        Self {
            queues: RwLock::new(Some(Queues { ordinary, urgent })),
        }
    }

    /// Closes the queues: later writes fail with [`StoreError::Closed`]; each writer finishes
    /// what is queued, then stops.
    pub(crate) fn close(&self) {
        let queues = self
            .queues
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(queues);
    }

    async fn submit(&self, op: WriteOp) -> StoreResult<WriteOut> {
        let (tx, rx) = oneshot::channel();
        {
            let guard = self.queues.read().unwrap_or_else(|e| e.into_inner());
            let queues = guard.as_ref().ok_or(StoreError::Closed)?;
            let sender = match &queues.urgent {
                Some(urgent) if op.is_urgent() => urgent,
                _ => &queues.ordinary,
            };
            sender.send((op, tx)).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// [`Store::create_starting`](crate::Store::create_starting).
    pub(crate) async fn create_run(&self, run: NewRun) -> StoreResult<StartingRun> {
        expect_out!(self.submit(WriteOp::Create(run)).await, Started)
    }

    /// [`Store::event_count`](crate::Store::event_count), read by the writer.
    pub(crate) async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>> {
        expect_out!(self.submit(WriteOp::EventCount(run_id)).await, EventCount)
    }

    /// [`Store::claim_starting`](crate::Store::claim_starting).
    pub(crate) async fn claim(&self, req: &ClaimRequest) -> StoreResult<Vec<StartingRun>> {
        expect_out!(self.submit(WriteOp::Claim(req.clone())).await, Claimed)
    }

    /// [`Store::heartbeat`](crate::Store::heartbeat).
    pub(crate) async fn heartbeat(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        lease_ms: i64,
    ) -> StoreResult<Heartbeat> {
        if runs.is_empty() {
            return Ok(Heartbeat::default());
        }
        let op = WriteOp::Heartbeat {
            owner: owner.to_owned(),
            runs: runs.to_vec(),
            lease_ms,
        };
        expect_out!(self.submit(op).await, Heartbeat)
    }

    /// [`Store::write`](crate::Store::write).
    pub(crate) async fn write(&self, write: Arc<RunWrite>) -> StoreResult<Millis> {
        match self.submit(WriteOp::Write(write)).await? {
            WriteOut::Written { at, .. } => Ok(at),
            other => unreachable!("a run write answered {other:?}"),
        }
    }

    /// [`Store::release`](crate::Store::release).
    pub(crate) async fn release(&self, run_id: RunId, attempt: u32) -> StoreResult<()> {
        let op = WriteOp::Release { run_id, attempt };
        expect_out!(self.submit(op).await, Done)
    }

    /// [`Store::cancel_pending`](crate::Store::cancel_pending).
    pub(crate) async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        event: NewEvent,
        reason: Option<String>,
    ) -> StoreResult<()> {
        let op = WriteOp::CancelPending {
            run_id,
            event_count,
            event,
            reason,
        };
        match self.submit(op).await? {
            WriteOut::Written { .. } => Ok(()),
            other => unreachable!("a pending run's cancel answered {other:?}"),
        }
    }

    /// [`Store::request_cancel`](crate::Store::request_cancel).
    pub(crate) async fn request_cancel(&self, run_id: RunId) -> StoreResult<CancelRequest> {
        expect_out!(self.submit(WriteOp::RequestCancel(run_id)).await, Cancel)
    }

    /// [`Store::continue_run`](crate::Store::continue_run).
    pub(crate) async fn continue_run(&self, req: ContinueRequest) -> StoreResult<RunRecord> {
        expect_out!(self.submit(WriteOp::Continue(req)).await, Run)
    }

    /// [`Store::requeue`](crate::Store::requeue).
    pub(crate) async fn requeue(&self, req: RequeueRequest) -> StoreResult<RunRecord> {
        expect_out!(self.submit(WriteOp::Requeue(req)).await, Run)
    }

    /// [`Store::rename_session`](crate::Store::rename_session).
    pub(crate) async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
    ) -> StoreResult<SessionRecord> {
        let op = WriteOp::RenameSession {
            session_id: session_id.to_owned(),
            name: name.to_owned(),
        };
        expect_out!(self.submit(op).await, Session)
    }

    /// [`Store::delete_session`](crate::Store::delete_session).
    pub(crate) async fn delete_session(&self, session_id: &str) -> StoreResult<u64> {
        let op = WriteOp::DeleteSession(session_id.to_owned());
        expect_out!(self.submit(op).await, Count)
    }

    /// [`Store::purge_finished`](crate::Store::purge_finished).
    pub(crate) async fn purge_finished(&self, finished_before: Millis) -> StoreResult<u64> {
        expect_out!(self.submit(WriteOp::Purge(finished_before)).await, Count)
    }

    /// [`Store::claim_webhooks`](crate::Store::claim_webhooks).
    pub(crate) async fn claim_webhooks(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let op = WriteOp::ClaimWebhooks { limit, lease_ms };
        expect_out!(self.submit(op).await, Webhooks)
    }

    /// [`Store::record_webhook_attempt`](crate::Store::record_webhook_attempt).
    pub(crate) async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: WebhookAttempt,
        outcome: WebhookOutcome,
    ) -> StoreResult<()> {
        let op = WriteOp::RecordWebhookAttempt {
            id,
            attempt,
            outcome,
        };
        expect_out!(self.submit(op).await, Done)
    }
}
