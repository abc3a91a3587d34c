//! Fan-out of committed events to live subscribers, and subscriptions that resume.
//!
//! Invariant 2 (the log is the stream) lives here. A subscription registers for live events
//! *first*, then reads the store from the requested index, then follows the live channel,
//! de-duplicating by index. Whenever the live channel cannot continue the sequence exactly
//! (a gap, lag, a wake-up from another process, or the poll timer), it reads the store again.
//! So the stream has no gap and no duplicate whatever the timing, and the in-memory channel is
//! only an accelerator: losing a live message costs latency, never an event.
//!
//! Exactly when the store is read:
//! - once when the subscription starts, unless it is *fresh*: registered before anything
//!   could write the run's log past its first index (a foreground run subscribed before its
//!   driver is spawned), so every event reaches it live;
//! - again while a read returns a full batch ([`READ_BATCH`]): more may follow;
//! - after anything but the next event in sequence arrived live (a gap, lag, a wake-up, a
//!   closed channel), and when the poll timer fires;
//! - once after the event that ends the run (or pauses it) was handed out, for the log's
//!   length alone ([`Store::event_count`]): does the log go on past it (a requeued or
//!   continued run)? If so, the store is read from there; if not, the stream ends.
//!
//! Not after a live event that continues the sequence: registered before the read, the channel
//! carries every event committed after it, in order, so the next one comes live too (or its
//! absence shows as a gap or lag). A stream of a local run therefore asks the store at most
//! twice, however many events it carries.

use crate::error::{EngineError, EngineResult};
use crate::event::is_terminal_for;
use futures::Stream;
use kern_store::{NewEvent, RunId, Store, StoredEvent};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Live channel capacity per run; a subscriber further behind re-reads the store.
const CHANNEL_CAPACITY: usize = 128;
/// How many events one catch-up read fetches.
const READ_BATCH: usize = 1000;

#[derive(Clone, Debug)]
pub(crate) enum BusMsg {
    Event(StoredEvent),
    /// Something may have been committed elsewhere: re-read the store.
    Wake,
}

/// Per-run live channels, created when the first subscriber arrives.
#[derive(Default)]
pub(crate) struct Bus {
    channels: Mutex<HashMap<RunId, broadcast::Sender<BusMsg>>>,
}

impl Bus {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, broadcast::Sender<BusMsg>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, run_id: RunId) -> broadcast::Receiver<BusMsg> {
        self.lock()
            .entry(run_id)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    fn unregister(&self, run_id: RunId) {
        let mut channels = self.lock();
        if channels
            .get(&run_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(&run_id);
        }
    }

    /// Hands committed events to the run's live subscribers, if any.
    pub(crate) fn publish(&self, run_id: RunId, first_index: u64, events: Vec<NewEvent>) {
        let Some(tx) = self.lock().get(&run_id).cloned() else {
            return;
        };
        for (e, i) in events.into_iter().zip(first_index..) {
            let _ = tx.send(BusMsg::Event(e.into_stored(i)));
        }
    }

    /// Tells subscribers of these runs (all runs when `None`) to re-read the store.
    pub(crate) fn wake(&self, run_ids: Option<&[RunId]>) {
        let channels = self.lock();
        match run_ids {
            Some(ids) => {
                for id in ids {
                    if let Some(tx) = channels.get(id) {
                        let _ = tx.send(BusMsg::Wake);
                    }
                }
            }
            None => {
                for tx in channels.values() {
                    let _ = tx.send(BusMsg::Wake);
                }
            }
        }
    }
}

/// A stream of a run's stored events, in order, from a given index to the run's terminal
/// event (or its pause) that ends its log: past an old terminal event when the run was
/// requeued. Errors are store failures; the stream ends after yielding one.
pub type EventStream = Pin<Box<dyn Stream<Item = EngineResult<StoredEvent>> + Send>>;

/// How often an idle subscription re-reads the store: rarely when this process runs the run
/// (its commits are pushed to us), often when another process does and no push notification
/// would tell us (SQLite shared by several processes).
#[derive(Clone)]
pub(crate) struct PollPolicy {
    pub local: Duration,
    pub remote: Duration,
    pub is_local: Arc<dyn Fn(RunId) -> bool + Send + Sync>,
}

struct Subscription {
    store: Arc<dyn Store>,
    bus: Arc<Bus>,
    run_id: RunId,
    next: u64,
    buffer: VecDeque<StoredEvent>,
    rx: broadcast::Receiver<BusMsg>,
    poll: PollPolicy,
    /// The store may hold events past `next` that the live channel will not bring: read it
    /// before following the channel.
    stale: bool,
    /// The last event handed out ended the run (or paused it): ask whether the log goes on
    /// before anything else.
    at_end: bool,
    done: bool,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Our receiver still counts until the struct is gone; replace it first.
        let rx = std::mem::replace(&mut self.rx, broadcast::channel(1).1);
        drop(rx);
        self.bus.unregister(self.run_id);
    }
}

impl Subscription {
    async fn next_event(&mut self) -> Option<EngineResult<StoredEvent>> {
        loop {
            if self.done {
                return None;
            }
            if std::mem::take(&mut self.at_end) {
                // The run's end (or pause) ends the stream only if it is the last event of the
                // log: a requeued run goes on after its old terminal event, a continued run
                // after its pause. Asked after the event was handed out, so that it is not
                // held back by the question. A store failure here ends the stream at the
                // event, as a terminal event always did.
                if !matches!(self.log_goes_on().await, Ok(true)) {
                    self.done = true;
                    return None;
                }
            }
            if let Some(e) = self.buffer.pop_front() {
                self.next = e.event_index + 1;
                self.at_end = self.buffer.is_empty()
                    && is_terminal_for(self.run_id, &e.event_type, &e.payload);
                return Some(Ok(e));
            }
            if self.stale {
                match self.catch_up().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            if let Err(e) = self.follow_live().await {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// Whether the store's log goes on past `next` (a requeued or continued run): its event
    /// count alone, which on SQLite the writer answers from warm pages. When it does, the
    /// store is read next.
    async fn log_goes_on(&mut self) -> EngineResult<bool> {
        let more = matches!(self.store.event_count(self.run_id).await?, Some(n) if n > self.next);
        self.stale |= more;
        Ok(more)
    }

    /// Reads the store from `next`; true if it found anything. Fewer than a batch means the
    /// read reached the end of the log: what is committed after it comes live (registered
    /// before the read), so the store is not stale.
    async fn catch_up(&mut self) -> EngineResult<bool> {
        let events = self
            .store
            .read_events(self.run_id, self.next, READ_BATCH)
            .await?;
        self.stale = events.len() >= READ_BATCH;
        let found = !events.is_empty();
        self.buffer.extend(events);
        Ok(found)
    }

    /// Waits for the next live event; returns with the buffer filled (the next event in
    /// sequence), or empty and `stale` when the store should be read again.
    async fn follow_live(&mut self) -> EngineResult<()> {
        // Whatever ends the wait but the next event in sequence sends us to the store.
        self.stale = true;
        let interval = if (self.poll.is_local)(self.run_id) {
            self.poll.local
        } else {
            self.poll.remote
        };
        let timer = tokio::time::sleep(interval);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Ok(BusMsg::Event(e)) if e.event_index < self.next => continue,
                    Ok(BusMsg::Event(e)) if e.event_index == self.next => {
                        self.buffer.push_back(e);
                        self.stale = false;
                        return Ok(());
                    }
                    // A gap, a remote wake-up, lag or a closed channel: go to the store.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return Ok(()),
                    Err(broadcast::error::RecvError::Closed) => {
                        self.rx = self.bus.register(self.run_id);
                        return Ok(());
                    }
                },
                _ = &mut timer => {
                    // Nothing live for a while: the run may have ended without us hearing
                    // (another process, no push notifications). The store decides.
                    let run = self.store.get_run(self.run_id).await?
                        .ok_or(EngineError::RunNotFound(self.run_id))?;
                    let settled = run.status.is_terminal() || run.status == kern_store::RunStatus::Paused;
                    if settled && run.event_count <= self.next {
                        self.done = true;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// Subscribes to `run_id`'s log from `from_index` (0 for everything). `fresh`: nothing can
/// have been committed past `from_index` yet, and nothing will be but by this process after
/// this call (a foreground run whose driver is spawned after it), so the stream starts on the
/// live channel without reading the store. (Should another process write the log after all,
/// having taken the run over when its lease expired, its events show as a gap or when the
/// poll timer fires, and the store is read then.)
pub(crate) fn subscribe(
    store: Arc<dyn Store>,
    bus: Arc<Bus>,
    run_id: RunId,
    from_index: u64,
    poll: PollPolicy,
    fresh: bool,
) -> EventStream {
    let rx = bus.register(run_id);
    let sub = Subscription {
        store,
        bus,
        run_id,
        next: from_index,
        buffer: VecDeque::new(),
        rx,
        poll,
        stale: !fresh,
        at_end: false,
        done: false,
    };
    Box::pin(futures::stream::unfold(sub, |mut sub| async move {
        let item = sub.next_event().await?;
        Some((item, sub))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use kern_store::sqlite::SqliteStore;
    use kern_store::{
        now_millis, ClaimRequest, ComponentKind, Lease, NewRun, RequeueRequest, RunFinish,
        RunStatus, RunWrite,
    };

    fn ev(run_id: RunId, name: &str, i: u64) -> NewEvent {
        NewEvent {
            event_type: name.into(),
            payload: format!(r#"{{"event":"{name}","run_id":"{run_id}","event_index":{i}}}"#)
                .into(),
            created_at: now_millis(),
            scope: None,
        }
    }

    fn finish(run_id: RunId, attempt: u32, first: u64, name: &str, status: RunStatus) -> RunWrite {
        RunWrite {
            run_id,
            attempt,
            first_index: first,
            events: vec![ev(run_id, name, first)],
            finish: Some(RunFinish {
                status,
                output: None,
                error: None,
                pause_expires_at: None,
                output_in_event: false,
            }),
            ..Default::default()
        }
    }

    fn subscription(
        store: Arc<dyn Store>,
        run_id: RunId,
        buffered: Vec<StoredEvent>,
    ) -> Subscription {
        let bus = Arc::new(Bus::default());
        let rx = bus.register(run_id);
        Subscription {
            store,
            next: buffered.first().map_or(0, |e| e.event_index),
            buffer: buffered.into(),
            bus,
            run_id,
            rx,
            poll: PollPolicy {
                local: Duration::from_millis(10),
                remote: Duration::from_millis(10),
                is_local: Arc::new(|_| false),
            },
            stale: true,
            at_end: false,
            done: false,
        }
    }

    async fn rest(mut sub: Subscription) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(e) = tokio::time::timeout(Duration::from_secs(10), sub.next_event())
            .await
            .expect("the stream ends in time")
        {
            out.push(e.unwrap().event_index);
        }
        out
    }

    /// A terminal event that arrived alone (live) ends the stream only when the store has
    /// nothing after it; a requeued run's old terminal event is followed by more.
    #[tokio::test]
    async fn a_terminal_event_ends_the_stream_only_at_the_end_of_the_log() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::ephemeral().await.unwrap());
        let new = NewRun {
            claim: Some(Lease {
                owner: "me".into(),
                duration_ms: 60_000,
                first_events: Vec::new(),
            }),
            ..NewRun::new(ComponentKind::Workflow, "wf", "s", serde_json::Value::Null)
        };
        let run = store.create_run(new).await.unwrap();
        let id = run.run_id;
        let w = finish(id, 1, 0, "WorkflowError", RunStatus::Failed);
        store.write(w.into()).await.unwrap();
        let terminal = store.read_events(id, 0, 10).await.unwrap();
        // The log ends there: the stream ends at it.
        assert_eq!(
            rest(subscription(store.clone(), id, terminal.clone())).await,
            [0]
        );

        store
            .requeue(RequeueRequest {
                run_id: id,
                event_count: 1,
                event: ev(id, "RunRequeued", 1),
                checkpoints: vec![],
            })
            .await
            .unwrap();
        let claimed = store
            .claim(&ClaimRequest {
                owner: "me".into(),
                limit: 1,
                lease_ms: 60_000,
                components: vec![(ComponentKind::Workflow, "wf".into())],
            })
            .await
            .unwrap();
        assert_eq!(claimed[0].attempt, 2);
        let w = finish(id, 2, 2, "WorkflowCompleted", RunStatus::Completed);
        store.write(w.into()).await.unwrap();
        // The old terminal event, alone in the buffer: the store has more after it.
        assert_eq!(
            rest(subscription(store.clone(), id, terminal)).await,
            [0, 1, 2]
        );
        // From the start, everything read at once.
        let from_start = subscribe(
            store.clone(),
            Arc::new(Bus::default()),
            id,
            0,
            subscription(store, id, vec![]).poll.clone(),
            false,
        );
        let indices: Vec<u64> = from_start.map(|e| e.unwrap().event_index).collect().await;
        assert_eq!(indices, [0, 1, 2]);
    }
}
