//! Group commit, shared by both backends.
//!
//! Every write is a [`WriteOp`] sent to the backend's single writer, which drains whatever is
//! queued (up to [`MAX_BATCH`]), applies it in one transaction and answers each caller after
//! the commit. Under load one fsync (SQLite) or one commit round trip (PostgreSQL) serves many
//! runs; when idle a write commits alone with no added delay.
//!
//! Starting a run must stay fast while thousands of runs write their events: creates, claims
//! and cancel requests are *urgent*. The writer keeps a backlog of everything queued and builds
//! each batch from all urgent ops first, plus only a few ordinary ones when urgent ops are
//! present, so a create waits for at most the batch in flight and one short batch — never for
//! the whole backlog of event writes. Claims go last in their batch, so that they take the
//! runs its creates inserted: the engine wakes its claimer as soon as a background create is
//! queued, and the run is claimed in its insert's transaction instead of one commit later.
//! Reordering is safe: every caller awaits its own op, so ops of different callers have no
//! order to keep.
//!
//! An op fails in one of two ways: *soft* (fenced, conflict, not found: a decided outcome that
//! wrote nothing) or *hard* (a database error). A hard error rolls the batch back and the writer
//! re-applies each op in a transaction of its own, so one bad op never fails its neighbours.

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use tokio::sync::oneshot;

/// The most ops one transaction takes.
pub(crate) const MAX_BATCH: usize = 512;

/// The most ordinary ops that ride along in a batch that has urgent ops (keeps it short).
const URGENT_COMPANIONS: usize = 32;

/// How many queued ops the writer pulls into its backlog at a time.
const BACKLOG_PULL: usize = 16 * MAX_BATCH;

/// A write, as data, so that the writer can re-apply it after a rolled-back batch.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Create(NewRun),
    Claim(ClaimRequest),
    Heartbeat {
        owner: String,
        runs: Vec<(RunId, u32)>,
        lease_ms: i64,
    },
    Write(std::sync::Arc<RunWrite>),
    Release {
        run_id: RunId,
        attempt: u32,
    },
    CancelPending {
        run_id: RunId,
        event_count: u64,
        event: NewEvent,
        reason: Option<String>,
    },
    RequestCancel(RunId),
    Continue(ContinueRequest),
    Requeue(RequeueRequest),
    Purge(Millis),
    /// Not a write: [`Store::event_count`](crate::Store::event_count) answered by the writer
    /// (SQLite; see its implementation), read in the batch's transaction.
    EventCount(RunId),
    RenameSession {
        session_id: String,
        name: String,
    },
    DeleteSession(String),
    ClaimWebhooks {
        limit: usize,
        lease_ms: i64,
    },
    RecordWebhookAttempt {
        id: i64,
        attempt: WebhookAttempt,
        outcome: WebhookOutcome,
    },
}

/// What a write op returns.
// Each value is moved once, through a oneshot channel, so boxing the large variant would only
// add an allocation per op.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum WriteOut {
    Run(RunRecord),
    Started(StartingRun),
    Claimed(Vec<StartingRun>),
    Heartbeat(Heartbeat),
    Cancel(CancelRequest),
    Count(u64),
    EventCount(Option<u64>),
    Done(()),
    /// A run write or a pending-run cancel landed at `at` (the time it recorded as the run's
    /// `updated_at`); `webhook` says whether it queued a webhook outbox row (the run finished
    /// and has a URL).
    Written {
        webhook: bool,
        at: Millis,
    },
    Session(SessionRecord),
    Webhooks(Vec<WebhookDelivery>),
}

/// A queued op and where its answer goes.
pub(crate) type Request = (WriteOp, oneshot::Sender<StoreResult<WriteOut>>);

impl WriteOp {
    /// Ops made of statements that do not depend on other ops of the same batch, so a backend
    /// may send them all at once (PostgreSQL pipelining). Idempotent creates (check the key,
    /// then insert), session deletes and purges are not.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn is_pipelinable(&self) -> bool {
        match self {
            WriteOp::Create(run) => run.idempotency.is_none(),
            WriteOp::Claim(_)
            | WriteOp::Heartbeat { .. }
            | WriteOp::Write(_)
            | WriteOp::Release { .. }
            | WriteOp::CancelPending { .. }
            | WriteOp::RequestCancel(_)
            | WriteOp::Continue(_)
            | WriteOp::Requeue(_)
            | WriteOp::EventCount(_) => true,
            _ => false,
        }
    }

    /// Ops a caller waits on interactively (starting or cancelling a run, a poll's check of a
    /// finished run) and the claims that start queued runs, served before queued event writes.
    pub(crate) fn is_urgent(&self) -> bool {
        matches!(
            self,
            WriteOp::Create(_)
                | WriteOp::Claim(_)
                | WriteOp::EventCount(_)
                | WriteOp::CancelPending { .. }
                | WriteOp::RequestCancel(_)
                | WriteOp::Continue(_)
                | WriteOp::Requeue(_)
        )
    }
}

/// The writer's queue of ops not yet committed, and how it cuts batches from it.
#[derive(Default)]
pub(crate) struct Backlog {
    urgent: std::collections::VecDeque<Request>,
    ordinary: std::collections::VecDeque<Request>,
}

impl Backlog {
    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.urgent.is_empty() && self.ordinary.is_empty()
    }

    /// Adds one queued op.
    pub(crate) fn push(&mut self, request: Request) {
        if request.0.is_urgent() {
            self.urgent.push_back(request);
        } else {
            self.ordinary.push_back(request);
        }
    }

    /// Adds whatever `try_recv` yields right now (bounded, so a flood cannot starve commits).
    pub(crate) fn pull(&mut self, mut try_recv: impl FnMut() -> Option<Request>) {
        for _ in 0..BACKLOG_PULL {
            match try_recv() {
                Some(r) => self.push(r),
                None => return,
            }
        }
    }

    /// The next batch: every urgent op (up to [`MAX_BATCH`]) with a few ordinary ones, or
    /// ordinary ones up to [`MAX_BATCH`], oldest first, except that claims go last (they then
    /// see the batch's inserts).
    pub(crate) fn next_batch(&mut self, batch: &mut Vec<Request>) {
        let urgent = self.urgent.len().min(MAX_BATCH);
        batch.extend(self.urgent.drain(..urgent));
        let room = if urgent > 0 {
            URGENT_COMPANIONS.min(MAX_BATCH - urgent)
        } else {
            MAX_BATCH
        };
        let ordinary = self.ordinary.len().min(room);
        batch.extend(self.ordinary.drain(..ordinary));
        let is_claim = |(op, _): &Request| matches!(op, WriteOp::Claim(_));
        if batch.iter().any(is_claim) {
            // Stable: everything else keeps its order.
            batch.sort_by_key(is_claim);
        }
    }
}

/// Whether an error of one op must roll its batch back.
pub(crate) fn is_hard(e: &StoreError) -> bool {
    !matches!(
        e,
        StoreError::Fenced { .. }
            | StoreError::Conflict { .. }
            | StoreError::DuplicateRun(_)
            | StoreError::RunNotFound(_)
            | StoreError::SessionNotFound(_)
            | StoreError::SessionBusy(_)
            | StoreError::IdempotencyConflict { .. }
            | StoreError::WebhookNotFound(_)
    )
}

/// How both backends pass a [`WebhookOutcome`] to their record statement: a name
/// (`delivered`, `retry`, `failed`) and the retry time.
pub(crate) fn outcome_params(outcome: WebhookOutcome) -> (&'static str, Option<Millis>) {
    match outcome {
        WebhookOutcome::Delivered => ("delivered", None),
        WebhookOutcome::RetryAt(t) => ("retry", Some(t)),
        WebhookOutcome::GiveUp => ("failed", None),
    }
}

/// One attempt as the compact JSON object appended to a delivery's history.
pub(crate) fn attempt_json(attempt: &WebhookAttempt) -> StoreResult<String> {
    serde_json::to_string(attempt).map_err(|e| StoreError::Corrupt(format!("webhook attempt: {e}")))
}

/// The `last_error` column's value: the attempt's error with NUL characters replaced by
/// U+FFFD, which PostgreSQL text cannot hold (the history keeps them, escaped in JSON).
pub(crate) fn last_error(attempt: &WebhookAttempt) -> Option<String> {
    attempt.error.as_ref().map(|e| e.replace('\0', "\u{fffd}"))
}

/// Whether an op's answer says it queued a webhook delivery.
pub(crate) fn queued_webhook(out: &StoreResult<WriteOut>) -> bool {
    matches!(out, Ok(WriteOut::Written { webhook: true, .. }))
}

/// What the ops of a committed batch tell other processes (PostgreSQL `NOTIFY`) and this
/// process's webhook dispatchers.
#[derive(Default, Debug)]
pub(crate) struct BatchSignals {
    pub runs_available: bool,
    pub events: Vec<RunId>,
    pub cancels: Vec<RunId>,
    /// A webhook outbox row was queued.
    pub webhooks: bool,
}

impl BatchSignals {
    /// Records what a successful op changed.
    pub(crate) fn note(&mut self, op: &WriteOp, out: &WriteOut) {
        if let WriteOut::Written { webhook: true, .. } = out {
            self.webhooks = true;
        }
        match op {
            // A create that returned an existing run (idempotency) made nothing claimable,
            // but a spurious wake-up is harmless.
            WriteOp::Create(run) => match &run.claim {
                None => self.runs_available = true,
                Some(lease) if !lease.first_events.is_empty() => self.events.push(run.run_id),
                Some(_) => {}
            },
            WriteOp::Release { .. } => self.runs_available = true,
            WriteOp::Continue(c) => {
                self.runs_available = true;
                self.events.push(c.run_id);
            }
            WriteOp::Requeue(r) => {
                self.runs_available = true;
                self.events.push(r.run_id);
            }
            WriteOp::Write(w) if !w.events.is_empty() => self.events.push(w.run_id),
            WriteOp::CancelPending { run_id, .. } => self.events.push(*run_id),
            WriteOp::RequestCancel(run_id) => self.cancels.push(*run_id),
            _ => {}
        }
    }
}

/// Unwraps a reply of the expected shape; a mismatch is a bug in the writer.
macro_rules! expect_out {
    ($out:expr, $variant:ident) => {
        match $out? {
            $crate::batch::WriteOut::$variant(v) => Ok(v),
            other => unreachable!(
                "writer answered {:?} to an op expecting {}",
                other,
                stringify!($variant)
            ),
        }
    };
}
pub(crate) use expect_out;

#[cfg(test)]
mod tests {
    use super::*;

    fn request(op: WriteOp) -> Request {
        (op, oneshot::channel().0)
    }

    fn claim() -> WriteOp {
        WriteOp::Claim(ClaimRequest {
            owner: "me".into(),
            limit: 8,
            lease_ms: 1_000,
            components: Vec::new(),
        })
    }

    fn create(n: u128) -> WriteOp {
        WriteOp::Create(NewRun {
            run_id: uuid::Uuid::from_u128(n),
            ..Default::default()
        })
    }

    fn write(n: u128) -> WriteOp {
        WriteOp::Write(std::sync::Arc::new(RunWrite {
            run_id: uuid::Uuid::from_u128(n),
            ..Default::default()
        }))
    }

    /// Which op each request of a batch is: `c` create, `C` claim, `w` write, in order.
    fn shape(batch: &[Request]) -> String {
        let letter = |op: &WriteOp| match op {
            WriteOp::Create(_) => 'c',
            WriteOp::Claim(_) => 'C',
            WriteOp::Write(_) => 'w',
            other => unreachable!("{other:?}"),
        };
        batch.iter().map(|(op, _)| letter(op)).collect()
    }

    /// Urgent ops first, then a few ordinary ones; a claim queued before a create still runs
    /// after it, so that it takes the run the create inserts.
    #[test]
    fn claims_go_after_the_creates_of_their_batch() {
        let mut backlog = Backlog::default();
        for op in [write(1), claim(), create(2), write(3), create(4)] {
            backlog.push(request(op));
        }
        let mut batch = Vec::new();
        backlog.next_batch(&mut batch);
        assert_eq!(shape(&batch), "ccwwC");
        assert!(backlog.is_empty());
    }

    /// With urgent ops in the backlog, only URGENT_COMPANIONS ordinary ops ride along.
    #[test]
    fn urgent_ops_take_only_a_few_ordinary_ones_along() {
        let mut backlog = Backlog::default();
        for n in 0..100 {
            backlog.push(request(write(n)));
        }
        backlog.push(request(create(1_000)));
        let mut batch = Vec::new();
        backlog.next_batch(&mut batch);
        assert_eq!(batch.len(), 1 + URGENT_COMPANIONS);
        assert!(matches!(batch[0].0, WriteOp::Create(_)));
        batch.clear();
        backlog.next_batch(&mut batch);
        assert_eq!(batch.len(), 100 - URGENT_COMPANIONS);
    }
}
