//! The writer's loop, shared by both backends: take queued ops, cut a batch (see
//! [`Backlog`](crate::batch::Backlog)), commit it in one transaction, answer each caller
//! after the commit; when the batch hits a hard error, re-apply its ops one by one so that one
//! bad op never fails its neighbours.
//!
//! How a batch is executed (the transaction, its clock, pipelining, retries, notifications)
//! is the backend's [`Transact`].

use crate::batch::{self, Request, WriteOp, WriteOut};
use crate::error::{StoreError, StoreResult};
use tokio::sync::{broadcast, mpsc};

/// Why a transaction failed, and whether it may have committed.
pub(crate) struct Failed {
    /// What failed.
    pub error: StoreError,
    /// The error came from `COMMIT` itself on a connection that then broke: the transaction
    /// may or may not have landed, so its ops must not be applied again.
    pub unknown: bool,
}

impl Failed {
    /// A failure before the commit: nothing landed.
    pub(crate) fn before(error: impl Into<StoreError>) -> Self {
        Self {
            error: error.into(),
            unknown: false,
        }
    }
}

/// How one backend runs a batch of write ops.
pub(crate) trait Transact {
    /// The backend's name, for logs.
    const BACKEND: &'static str;

    /// Applies `ops` in one transaction and commits it. Soft errors are answers in the
    /// returned list (one per op, in order); a hard error rolls everything back.
    async fn transact(&mut self, ops: &[&WriteOp]) -> Result<Vec<StoreResult<WriteOut>>, Failed>;

    /// One op in a transaction of its own, after its batch failed. A backend may retry it
    /// (PostgreSQL does, after deadlocks and lost connections).
    async fn transact_one(&mut self, op: &WriteOp) -> StoreResult<WriteOut> {
        match self.transact(&[op]).await {
            Ok(mut outs) => outs.pop().expect("one op, one result"),
            Err(f) => Err(f.error),
        }
    }
}

/// Serves queued ops until every sender is gone. After each commit that queued a webhook
/// delivery, wakes this store's webhook dispatchers.
pub(crate) async fn serve(
    mut backend: impl Transact,
    mut rx: mpsc::UnboundedReceiver<Request>,
    webhooks: broadcast::Sender<()>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(batch::MAX_BATCH);
    let mut backlog = batch::Backlog::default();
    loop {
        if backlog.is_empty() {
            match rx.recv().await {
                Some(first) => backlog.push(first),
                None => return,
            }
        }
        backlog.pull(|| rx.try_recv().ok());
        backlog.next_batch(&mut batch);
        if commit(&mut backend, &mut batch).await {
            // No receiver is fine: no dispatcher yet.
            let _ = webhooks.send(());
        }
    }
}

/// Applies a batch in one transaction and answers every caller; falls back to one
/// transaction per op when the batch hits a hard error. Returns whether a committed op
/// queued a webhook delivery.
async fn commit<B: Transact>(backend: &mut B, batch: &mut Vec<Request>) -> bool {
    let ops: Vec<&WriteOp> = batch.iter().map(|(op, _)| op).collect();
    let result = backend.transact(&ops).await;
    let mut webhooks = false;
    match result {
        Ok(outs) => {
            for ((op, reply), out) in batch.drain(..).zip(outs) {
                webhooks |= batch::queued_webhook(&out);
                // Dropped before answering: a caller that shares the op's data (a run's write)
                // then holds it alone, and may take it instead of copying.
                drop(op);
                let _ = reply.send(out);
            }
        }
        Err(f) if f.unknown => {
            tracing::error!(backend = B::BACKEND, error = %f.error, ops = batch.len(), "commit failed; outcome unknown");
            let msg = format!(
                "the connection to the database broke during COMMIT, so the write may or may not have landed: {}",
                f.error
            );
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(StoreError::Pool(msg.clone())));
            }
        }
        Err(f) => {
            if batch.len() > 1 {
                tracing::warn!(backend = B::BACKEND, error = %f.error, ops = batch.len(), "batch failed; retrying ops one by one");
            }
            for (op, reply) in batch.drain(..) {
                let out = backend.transact_one(&op).await;
                webhooks |= batch::queued_webhook(&out);
                drop(op);
                let _ = reply.send(out);
            }
        }
    }
    webhooks
}
