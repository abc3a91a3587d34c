//! What each write op does, written once for both backends over [`WriteTx`]: the statements
//! in one backend's SQL.
//!
//! The decisions live here: which statements an op takes and in which order, what a fenced
//! statement that matched no row means (`Fenced`, `Conflict`, `*NotFound`), how an
//! idempotency key is claimed. A backend's [`WriteTx`] only says how to run each statement
//! in its dialect; the hot paths (a run's write, a claim) are one statement each on
//! PostgreSQL, so they are steps of their own rather than sequences written here.

use crate::batch::{self, WriteOp, WriteOut};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// Which runs one claim statement takes: the policy ([`claim`]) asks for the first, then the
/// second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claimable {
    /// Running or paused runs whose lease (or pause) expired, oldest expiry first: their owner
    /// died (or nobody continued them in time; the engine fails those).
    Expired,
    /// Pending runs, oldest first.
    Pending,
}

/// A webhook attempt as the record statement stores it.
pub(crate) struct AttemptRecord<'a> {
    /// The attempt as the compact JSON object appended to the delivery's history.
    pub entry: &'a str,
    /// The HTTP status the endpoint answered.
    pub status_code: Option<u16>,
    /// The `last_error` column (see [`batch::last_error`]).
    pub error: Option<&'a str>,
    /// `delivered`, `retry` or `failed` (see [`batch::outcome_params`]).
    pub outcome: &'static str,
    /// With `retry`: when to try again.
    pub retry_at: Option<Millis>,
}

/// The statements of the write ops in one backend's SQL, run inside the writer's transaction
/// (whose `now` they are given). Each method is one step of an op; what the step's result
/// means is decided by [`apply`].
///
/// The futures are not required to be `Send`: SQLite's writer drives them on its own thread.
/// PostgreSQL's writer task is `Send` because its implementation's futures are.
pub(crate) trait WriteTx {
    /// The run, if it exists.
    async fn run(&self, run_id: RunId) -> StoreResult<Option<RunRecord>>;

    /// How many events the run's log holds; `None` when the run does not exist.
    async fn event_count(&self, run_id: RunId) -> StoreResult<Option<u64>>;

    /// Inserts the run (already claimed when it has a [`Lease`]) and creates or touches its
    /// session; `None` when a run with this id exists (nothing inserted).
    async fn insert_run(&self, run: &NewRun, now: Millis) -> StoreResult<Option<RunRecord>>;

    /// Inserts the idempotency key for `run_id` unless the key exists; whether it inserted.
    /// On PostgreSQL an insert racing another transaction's waits for it to finish.
    async fn claim_key(&self, key: &Idempotency, run_id: RunId, now: Millis) -> StoreResult<bool>;

    /// The stored key's request hash and run.
    async fn stored_key(&self, key: &str) -> StoreResult<Option<(String, RunId)>>;

    /// Deletes the key (only if it names `run_id`, when given).
    async fn free_key(&self, key: &str, run_id: Option<RunId>) -> StoreResult<()>;

    /// Claims up to `limit` runs of `which` kind for `req`'s owner (status `running`, attempt
    /// plus one, the lease), skipping runs another claimer took meanwhile.
    async fn claim_some(
        &self,
        which: Claimable,
        req: &ClaimRequest,
        limit: usize,
        now: Millis,
    ) -> StoreResult<Vec<RunRecord>>;

    /// Renews `owner`'s leases on those of `runs` it still holds as `running`, until
    /// `expires`; returns each renewed run's stored attempt and cancel flag.
    async fn renew_leases(
        &self,
        owner: &str,
        runs: &[(RunId, u32)],
        expires: Millis,
    ) -> StoreResult<HashMap<RunId, (u32, bool)>>;

    /// A run's write (see [`RunWrite`]): the fenced update of the run, its events,
    /// checkpoints and session state, and with a finish the webhook outbox row. `None` when
    /// the fence did not hold (nothing landed); otherwise whether a webhook delivery was
    /// queued.
    async fn write(&self, w: &RunWrite, now: Millis) -> StoreResult<Option<bool>>;

    /// Hands a running run of this attempt back to the queue; whether it matched.
    async fn release(&self, run_id: RunId, attempt: u32, now: Millis) -> StoreResult<bool>;

    /// Cancels a pending or paused run whose log holds `event_count` events (its event is
    /// appended separately); whether it matched.
    async fn cancel_pending(
        &self,
        run_id: RunId,
        event_count: u64,
        reason: Option<&str>,
        now: Millis,
    ) -> StoreResult<bool>;

    /// Queues a paused run whose log holds `event_count` events again; whether it matched.
    async fn continue_paused(
        &self,
        run_id: RunId,
        event_count: u64,
        now: Millis,
    ) -> StoreResult<bool>;

    /// Queues a failed or cancelled run whose log holds `event_count` events again (error,
    /// output, times, lease and cancel flag cleared; recoveries counted from zero); whether
    /// it matched.
    async fn requeue_finished(
        &self,
        run_id: RunId,
        event_count: u64,
        now: Millis,
    ) -> StoreResult<bool>;

    /// Sets the cancel flag of a running or paused run; whether it matched.
    async fn request_cancel(&self, run_id: RunId, now: Millis) -> StoreResult<bool>;

    /// Appends events at `first_index`, `first_index + 1`, … (the caller checked the index).
    async fn insert_events(
        &self,
        run_id: RunId,
        first_index: u64,
        events: &[NewEvent],
    ) -> StoreResult<()>;

    /// Upserts checkpoints by key, in order.
    async fn upsert_checkpoints(
        &self,
        run_id: RunId,
        checkpoints: &[(String, Box<RawValue>)],
    ) -> StoreResult<()>;

    /// Queues the webhook delivery of a run that just reached `outcome` in this transaction,
    /// if the run has a URL; whether it did.
    async fn queue_webhook(
        &self,
        run_id: RunId,
        outcome: RunStatus,
        now: Millis,
    ) -> StoreResult<bool>;

    /// Deletes the runs finished before `before` with everything they own; how many runs.
    async fn purge(&self, before: Millis) -> StoreResult<u64>;

    /// Renames a session; `None` when it does not exist.
    async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
        now: Millis,
    ) -> StoreResult<Option<SessionRecord>>;

    /// The stored state of those of `session_ids`' sessions that hold one, by session id.
    async fn session_states(&self, session_ids: &[&str]) -> StoreResult<HashMap<String, Value>>;

    /// Whether the session exists; on PostgreSQL, also locks its row until the commit so that
    /// no run is created in it meanwhile.
    async fn lock_session(&self, session_id: &str) -> StoreResult<bool>;

    /// Whether a run of the session is pending, running or paused.
    async fn session_busy(&self, session_id: &str) -> StoreResult<bool>;

    /// Deletes the session, its runs and everything they own; how many runs.
    async fn delete_session(&self, session_id: &str) -> StoreResult<u64>;

    /// Leases up to `limit` due pending deliveries until `lease_until`.
    async fn claim_webhooks(
        &self,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Vec<WebhookDelivery>>;

    /// Records an attempt on delivery `id`; whether the delivery exists.
    async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: &AttemptRecord<'_>,
        now: Millis,
    ) -> StoreResult<bool>;
}

/// Applies one write op inside the caller's transaction. A soft error (see
/// [`batch::is_hard`]) wrote nothing of the op.
pub(crate) async fn apply(tx: &impl WriteTx, op: &WriteOp, now: Millis) -> StoreResult<WriteOut> {
    match op {
        WriteOp::Create(run) => {
            let run = create(tx, run, now).await?;
            let mut started = starting(tx, vec![run]).await?;
            Ok(WriteOut::Started(
                started.pop().expect("one run in, one out"),
            ))
        }
        WriteOp::Claim(req) => {
            let runs = claim(tx, req, now).await?;
            starting(tx, runs).await.map(WriteOut::Claimed)
        }
        WriteOp::Heartbeat {
            owner,
            runs,
            lease_ms,
        } => {
            let held = tx.renew_leases(owner, runs, now + lease_ms).await?;
            Ok(WriteOut::Heartbeat(crate::util::heartbeat_outcome(
                runs, &held,
            )))
        }
        WriteOp::Write(w) => match tx.write(w, now).await? {
            Some(webhook) => Ok(WriteOut::Written { webhook, at: now }),
            None => Err(StoreError::Fenced { run_id: w.run_id }),
        },
        WriteOp::Release { run_id, attempt } => {
            if !tx.release(*run_id, *attempt, now).await? {
                return Err(StoreError::Fenced { run_id: *run_id });
            }
            Ok(WriteOut::Done(()))
        }
        WriteOp::CancelPending {
            run_id,
            event_count,
            event,
            reason,
        } => {
            let matched = tx
                .cancel_pending(*run_id, *event_count, reason.as_deref(), now)
                .await?;
            if !matched {
                return Err(missing_or_conflict(tx, *run_id).await);
            }
            tx.insert_events(*run_id, *event_count, std::slice::from_ref(event))
                .await?;
            let webhook = tx.queue_webhook(*run_id, RunStatus::Cancelled, now).await?;
            Ok(WriteOut::Written { webhook, at: now })
        }
        WriteOp::Continue(c) => {
            let matched = tx.continue_paused(c.run_id, c.event_count, now).await?;
            let (event, checkpoints) = (&c.event, &c.checkpoints[..]);
            let run = reopen(tx, matched, c.run_id, c.event_count, event, checkpoints).await;
            run.map(WriteOut::Run)
        }
        WriteOp::Requeue(r) => {
            let matched = tx.requeue_finished(r.run_id, r.event_count, now).await?;
            let (event, checkpoints) = (&r.event, &r.checkpoints[..]);
            let run = reopen(tx, matched, r.run_id, r.event_count, event, checkpoints).await;
            run.map(WriteOut::Run)
        }
        WriteOp::RequestCancel(run_id) => {
            if tx.request_cancel(*run_id, now).await? {
                return Ok(WriteOut::Cancel(CancelRequest::Requested));
            }
            match tx.run(*run_id).await? {
                None => Err(StoreError::RunNotFound(*run_id)),
                Some(r) if r.status.is_terminal() => {
                    Ok(WriteOut::Cancel(CancelRequest::AlreadyFinished(r.status)))
                }
                Some(_) => Err(StoreError::Conflict { run_id: *run_id }),
            }
        }
        WriteOp::Purge(before) => tx.purge(*before).await.map(WriteOut::Count),
        WriteOp::EventCount(run_id) => tx.event_count(*run_id).await.map(WriteOut::EventCount),
        WriteOp::RenameSession { session_id, name } => tx
            .rename_session(session_id, name, now)
            .await?
            .map(WriteOut::Session)
            .ok_or_else(|| StoreError::SessionNotFound(session_id.clone())),
        WriteOp::DeleteSession(session_id) => {
            if !tx.lock_session(session_id).await? {
                return Err(StoreError::SessionNotFound(session_id.clone()));
            }
            if tx.session_busy(session_id).await? {
                return Err(StoreError::SessionBusy(session_id.clone()));
            }
            tx.delete_session(session_id).await.map(WriteOut::Count)
        }
        WriteOp::ClaimWebhooks { limit, lease_ms } => {
            if *limit == 0 {
                return Ok(WriteOut::Webhooks(Vec::new()));
            }
            let mut out = tx.claim_webhooks(*limit, now, now + lease_ms).await?;
            out.sort_by_key(|w| w.id);
            Ok(WriteOut::Webhooks(out))
        }
        WriteOp::RecordWebhookAttempt {
            id,
            attempt,
            outcome,
        } => {
            let entry = batch::attempt_json(attempt)?;
            let error = batch::last_error(attempt);
            let (outcome, retry_at) = batch::outcome_params(*outcome);
            let record = AttemptRecord {
                entry: &entry,
                status_code: attempt.status_code,
                error: error.as_deref(),
                outcome,
                retry_at,
            };
            if !tx.record_webhook_attempt(*id, &record, now).await? {
                return Err(StoreError::WebhookNotFound(*id));
            }
            Ok(WriteOut::Done(()))
        }
    }
}

/// Applies `ops` in order in the caller's transaction, stopping at the first hard error,
/// which the caller must roll the transaction back for. Soft errors are answers.
pub(crate) async fn apply_in_order(
    tx: &impl WriteTx,
    ops: &[&WriteOp],
    now: Millis,
) -> StoreResult<Vec<StoreResult<WriteOut>>> {
    let mut outs = Vec::with_capacity(ops.len());
    for op in ops {
        match apply(tx, op, now).await {
            Err(e) if batch::is_hard(&e) => return Err(e),
            out => outs.push(out),
        }
    }
    Ok(outs)
}

/// Inserts a run; with an idempotency key, claims the key first.
///
/// The key goes in first, unless it exists: on PostgreSQL, if another transaction (another
/// replica's writer) is inserting the same key, the insert waits for it to finish, so exactly
/// one of them inserts. The loser reads the committed key and returns its run, or a conflict
/// when the request differs. If the run itself then turns out to be a duplicate, the key is
/// removed again so that the refused create writes nothing.
async fn create(tx: &impl WriteTx, run: &NewRun, now: Millis) -> StoreResult<RunRecord> {
    let Some(idem) = &run.idempotency else {
        return insert_run(tx, run, now).await;
    };
    // A key seen by the insert but gone by the read (its run was deleted in between), or one
    // that outlived its run, is free again: try once more.
    for _ in 0..3 {
        if tx.claim_key(idem, run.run_id, now).await? {
            return match insert_run(tx, run, now).await {
                Err(StoreError::DuplicateRun(id)) => {
                    tx.free_key(&idem.key, None).await?;
                    Err(StoreError::DuplicateRun(id))
                }
                other => other,
            };
        }
        if let Some((hash, run_id)) = tx.stored_key(&idem.key).await? {
            if let Some(existing) = tx.run(run_id).await? {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyConflict {
                        key: idem.key.clone(),
                    });
                }
                return Ok(existing);
            }
            // The key outlived its run (deleted by a build from before schema v2, or by
            // hand): free it.
            tx.free_key(&idem.key, Some(run_id)).await?;
        }
    }
    Err(StoreError::Conflict { run_id: run.run_id })
}

/// Inserts a run, and a run inserted claimed with first events writes them as its owner's
/// first write would (`Lease::first_events`).
async fn insert_run(tx: &impl WriteTx, run: &NewRun, now: Millis) -> StoreResult<RunRecord> {
    let mut record = tx
        .insert_run(run, now)
        .await?
        .ok_or(StoreError::DuplicateRun(run.run_id))?;
    if let Some(lease) = run.claim.as_ref().filter(|l| !l.first_events.is_empty()) {
        let write = lease.first_write(run.run_id);
        // Inserted just now as running, attempt 1, with an empty log: the fence holds, so a
        // miss is a broken statement, and an error fails the batch rather than leave a run
        // without the events it was created with.
        if tx.write(&write, now).await?.is_none() || !record.apply_write(&write, now) {
            return Err(StoreError::Corrupt(format!(
                "run {} was inserted claimed but its first write was fenced",
                run.run_id
            )));
        }
    }
    Ok(record)
}

/// Claims runs whose owner died first (they are older), then pending runs, up to the limit.
async fn claim(tx: &impl WriteTx, req: &ClaimRequest, now: Millis) -> StoreResult<Vec<RunRecord>> {
    let mut claimed = Vec::new();
    if req.components.is_empty() {
        return Ok(claimed);
    }
    for which in [Claimable::Expired, Claimable::Pending] {
        let left = req.limit - claimed.len();
        if left == 0 {
            break;
        }
        claimed.extend(tx.claim_some(which, req, left, now).await?);
    }
    Ok(claimed)
}

/// The runs with the state of their sessions (see [`StartingRun`]), read in the transaction
/// that claimed or created them (one query for all of them on PostgreSQL; a lookup by key per
/// session on SQLite, whose statements cost no round trip).
async fn starting(tx: &impl WriteTx, runs: Vec<RunRecord>) -> StoreResult<Vec<StartingRun>> {
    // A child run starts from its parent's state, never from the stored one.
    let top = |r: &RunRecord| r.parent_run_id.is_none();
    let ids: Vec<&str> = runs
        .iter()
        .filter(|r| top(r))
        .map(|r| r.session_id.as_str())
        .collect();
    let states = match ids.is_empty() {
        true => HashMap::new(),
        false => tx.session_states(&ids).await?,
    };
    Ok(runs
        .into_iter()
        .map(|record| StartingRun {
            session_state: top(&record)
                .then(|| states.get(&record.session_id).cloned())
                .flatten(),
            record,
        })
        .collect())
}

/// Completes a continue or a requeue whose fenced update did (`matched`) or did not match:
/// appends its event at `event_count`, writes its checkpoints and returns the run as it now
/// is.
async fn reopen(
    tx: &impl WriteTx,
    matched: bool,
    run_id: RunId,
    event_count: u64,
    event: &NewEvent,
    checkpoints: &[(String, Box<RawValue>)],
) -> StoreResult<RunRecord> {
    if !matched {
        return Err(missing_or_conflict(tx, run_id).await);
    }
    tx.insert_events(run_id, event_count, std::slice::from_ref(event))
        .await?;
    tx.upsert_checkpoints(run_id, checkpoints).await?;
    tx.run(run_id).await?.ok_or(StoreError::RunNotFound(run_id))
}

/// Why a fenced update of a run that is not running matched nothing: the run does not exist,
/// or it changed (status or log) since the caller read it.
async fn missing_or_conflict(tx: &impl WriteTx, run_id: RunId) -> StoreError {
    match tx.run(run_id).await {
        Ok(None) => StoreError::RunNotFound(run_id),
        Ok(Some(_)) => StoreError::Conflict { run_id },
        Err(e) => e,
    }
}
