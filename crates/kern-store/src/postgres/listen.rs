//! Cross-process wake-ups over `LISTEN/NOTIFY`: the payload format, the channel's name and
//! the listener task.
//!
//! **Channel.** One per schema: `kern_<schema>` (or `kern_h_<hash>` when the schema's name is
//! not a short lower-case identifier), so stores in different schemas of one database never
//! hear each other.
//!
//! **Payload.** The writer sends at most one notification per committed batch (more only when
//! it must be chunked), coalescing what the batch's ops changed ([`BatchSignals`]). It is a
//! space-separated list of tokens:
//!
//! | token | meaning | becomes |
//! |---|---|---|
//! | `r` | pending runs may be waiting | [`Notification::RunsAvailable`] |
//! | `e:ID,ID,…` | these runs have new events | [`Notification::Events`] |
//! | `c:ID,…` | a cancel was requested for these runs | [`Notification::Cancel`] |
//! | `w` | webhook deliveries were queued (schema v2) | a `()` on [`Store::webhook_wakeups`] |
//! | `*` | anything may have changed | all three, with empty lists, and a webhook wake-up |
//!
//! IDs are UUIDs in their 32-digit simple form. A payload stays under PostgreSQL's 8000-byte
//! limit: longer lists are split over several notifications, and past [`MAX_CHUNKS`] the
//! writer sends `*` alone. Unknown tokens are ignored (room for later additions: a build
//! from before `w` ignores it).
//!
//! **Listener.** A dedicated connection `LISTEN`s and feeds a broadcast channel. Notifications
//! sent by this store's own writer are dropped: the process already knows. When the
//! connection drops (or stops answering a periodic ping), the task reconnects with backoff and
//! then broadcasts a *resync* (`RunsAvailable`, `Events(vec![])`, `Cancel(vec![])` and a
//! webhook wake-up), since notifications sent meanwhile are lost.
//!
//! [`Store::webhook_wakeups`]: crate::Store::webhook_wakeups
//!
//! This module does not decide what changed (the writer does) nor act on notifications (the
//! engine does).

use crate::batch::BatchSignals;
use crate::error::StoreResult;
use crate::model::{Notification, RunId};
use futures::StreamExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

/// PostgreSQL refuses payloads of 8000 bytes or more; keep a margin.
const PAYLOAD_LIMIT: usize = 7900;

/// Past this many chunks for one batch, send "everything changed" instead.
pub(crate) const MAX_CHUNKS: usize = 16;

/// How often the listener checks that its connection still answers.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long a ping may take before the connection is given up.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnection backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The channel for the schema named `schema`: at most 63 bytes, lower case, so that it means
/// the same thing to `LISTEN "…"` and `pg_notify('…')`.
pub(crate) fn channel_name(schema: &str) -> String {
    let plain = !schema.is_empty()
        && schema.len() <= 58
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        format!("kern_{schema}")
    } else {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("kern_h_{hash:016x}")
    }
}

/// Builds one payload after another, each under [`PAYLOAD_LIMIT`].
struct Chunker {
    done: Vec<String>,
    cur: String,
    open: Option<char>,
}

impl Chunker {
    fn token(&mut self, token: &str) {
        self.fit(token.len() + 1);
        if !self.cur.is_empty() {
            self.cur.push(' ');
        }
        self.cur.push_str(token);
        self.open = None;
    }

    fn id(&mut self, tag: char, id: RunId) {
        let need = if self.open == Some(tag) { 33 } else { 35 };
        self.fit(need);
        if self.open == Some(tag) {
            self.cur.push(',');
        } else {
            if !self.cur.is_empty() {
                self.cur.push(' ');
            }
            self.cur.push(tag);
            self.cur.push(':');
            self.open = Some(tag);
        }
        self.cur
            .push_str(id.simple().encode_lower(&mut uuid::Uuid::encode_buffer()));
    }

    fn fit(&mut self, need: usize) {
        if self.cur.len() + need > PAYLOAD_LIMIT {
            self.done.push(std::mem::take(&mut self.cur));
            self.open = None;
        }
    }
}

/// The payloads announcing what a committed batch changed; empty when it changed nothing
/// other processes care about.
pub(crate) fn encode(signals: &BatchSignals) -> Vec<String> {
    let mut c = Chunker {
        done: Vec::new(),
        cur: String::new(),
        open: None,
    };
    if signals.runs_available {
        c.token("r");
    }
    if signals.webhooks {
        c.token("w");
    }
    for (tag, ids) in [('e', &signals.events), ('c', &signals.cancels)] {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        for id in ids {
            if seen.insert(*id) {
                c.id(tag, *id);
            }
        }
    }
    if !c.cur.is_empty() {
        c.done.push(c.cur);
    }
    if c.done.len() > MAX_CHUNKS {
        return vec!["*".to_owned()];
    }
    c.done
}

/// What one token of a payload signals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// A notification for the engine ([`Store::notifications`](crate::Store::notifications)).
    Note(Notification),
    /// A webhook wake-up ([`Store::webhook_wakeups`](crate::Store::webhook_wakeups)).
    Webhooks,
}

/// The resync signals: anything may have changed.
fn everything() -> [Signal; 4] {
    [
        Signal::Note(Notification::RunsAvailable),
        Signal::Note(Notification::Events(Vec::new())),
        Signal::Note(Notification::Cancel(Vec::new())),
        Signal::Webhooks,
    ]
}

/// The signals a payload carries. A list with an unreadable id becomes an empty list
/// ("any run"): better a spurious re-poll than a missed wake-up.
pub(crate) fn decode(payload: &str) -> Vec<Signal> {
    let ids = |list: &str| -> Vec<RunId> {
        list.split(',')
            .map(RunId::parse_str)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for token in payload.split_ascii_whitespace() {
        if token == "r" {
            out.push(Signal::Note(Notification::RunsAvailable));
        } else if token == "w" {
            out.push(Signal::Webhooks);
        } else if token == "*" {
            out.extend(everything());
        } else if let Some(list) = token.strip_prefix("e:") {
            out.push(Signal::Note(Notification::Events(ids(list))));
        } else if let Some(list) = token.strip_prefix("c:") {
            out.push(Signal::Note(Notification::Cancel(ids(list))));
        } else {
            tracing::debug!(token, "ignoring an unknown notification token");
        }
    }
    out
}

/// A live `LISTEN`ing connection.
struct Listening {
    client: Client,
    rx: mpsc::UnboundedReceiver<tokio_postgres::Notification>,
}

async fn listen(config: &Config, channel: &str) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    // Drives the connection; ends (dropping `tx`) when the connection does.
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "postgres listener connection failed");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await?;
    Ok(Listening { client, rx })
}

/// Where the listener delivers what it hears.
#[derive(Clone)]
pub(crate) struct Outputs {
    /// The engine's notifications.
    pub(crate) notes: broadcast::Sender<Notification>,
    /// Webhook wake-ups.
    pub(crate) webhooks: broadcast::Sender<()>,
}

impl Outputs {
    fn send(&self, signal: Signal) {
        // No receiver is fine: nobody is interested yet.
        match signal {
            Signal::Note(n) => {
                let _ = self.notes.send(n);
            }
            Signal::Webhooks => {
                let _ = self.webhooks.send(());
            }
        }
    }
}

/// The listener task's handles: dropping or firing `stop` ends it.
pub(crate) struct Listener {
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) task: JoinHandle<()>,
}

/// Starts listening on `channel` and returns once `LISTEN` is in effect, so that nothing
/// committed after this returns can be missed.
///
/// Notifications whose sender is a backend whose pid is in `own_pids` (this store's writers)
/// are dropped.
pub(crate) async fn start(
    config: Config,
    channel: String,
    out: Outputs,
    own_pids: Vec<Arc<AtomicI32>>,
) -> StoreResult<Listener> {
    let first = listen(&config, &channel)
        .await
        .map_err(super::ops::driver)?;
    let (stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(first, config, channel, out, own_pids, stop_rx));
    Ok(Listener { stop, task })
}

async fn run(
    first: Listening,
    config: Config,
    channel: String,
    out: Outputs,
    own_pids: Vec<Arc<AtomicI32>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut current = Some(first);
    let mut backoff = BACKOFF_MIN;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let Some(live) = current.as_mut() else {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            let attempt = tokio::select! {
                _ = &mut stop => return,
                l = listen(&config, &channel) => l,
            };
            match attempt {
                Ok(l) => {
                    tracing::info!(
                        channel,
                        "postgres listener reconnected; asking for a resync"
                    );
                    current = Some(l);
                    backoff = BACKOFF_MIN;
                    for signal in everything() {
                        out.send(signal);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "postgres listener cannot reconnect");
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
            continue;
        };
        tokio::select! {
            _ = &mut stop => return,
            n = live.rx.recv() => match n {
                Some(n) => {
                    if own_pids.iter().any(|p| n.process_id() == p.load(Ordering::Relaxed)) {
                        continue;
                    }
                    for signal in decode(n.payload()) {
                        out.send(signal);
                    }
                }
                None => {
                    tracing::warn!(channel, "postgres listener connection lost; reconnecting");
                    current = None;
                }
            },
            _ = ping.tick() => {
                let alive = tokio::time::timeout(PING_TIMEOUT, live.client.check_connection()).await;
                if !matches!(alive, Ok(Ok(()))) {
                    tracing::warn!(channel, "postgres listener connection stopped answering; reconnecting");
                    current = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<RunId> {
        (0..n).map(|_| crate::model::new_run_id()).collect()
    }

    #[test]
    fn payload_round_trips() {
        let (events, cancels) = (ids(3), ids(2));
        let signals = BatchSignals {
            runs_available: true,
            events: [events.clone(), vec![events[0]]].concat(),
            cancels: cancels.clone(),
            webhooks: true,
        };
        let payloads = encode(&signals);
        assert_eq!(payloads.len(), 1);
        assert!(payloads[0].starts_with("r w e:"), "{}", payloads[0]);
        assert_eq!(
            decode(&payloads[0]),
            vec![
                Signal::Note(Notification::RunsAvailable),
                Signal::Webhooks,
                Signal::Note(Notification::Events(events)),
                Signal::Note(Notification::Cancel(cancels))
            ]
        );
        assert!(encode(&BatchSignals::default()).is_empty());
    }

    #[test]
    fn long_lists_are_chunked_under_the_limit_then_replaced_by_everything() {
        let events = ids(600);
        let payloads = encode(&BatchSignals {
            events: events.clone(),
            ..Default::default()
        });
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8000));
        let back: Vec<RunId> = payloads
            .iter()
            .flat_map(|p| decode(p))
            .flat_map(|n| match n {
                Signal::Note(Notification::Events(v)) => v,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(back, events);
        let huge = encode(&BatchSignals {
            runs_available: true,
            events: ids(MAX_CHUNKS * 250),
            ..Default::default()
        });
        assert_eq!(huge, vec!["*".to_owned()]);
        assert_eq!(decode("*").len(), 4);
    }

    #[test]
    fn unreadable_or_unknown_tokens_are_safe() {
        assert_eq!(
            decode("e:nope q:1"),
            vec![Signal::Note(Notification::Events(vec![]))]
        );
        assert_eq!(decode(""), vec![]);
    }

    #[test]
    fn channel_names_fit_and_differ_per_schema() {
        assert_eq!(channel_name("public"), "kern_public");
        let long = "x".repeat(63);
        for s in [long.as_str(), "Mixed", "with space"] {
            let c = channel_name(s);
            assert!(c.len() <= 63 && c.starts_with("kern_h_"), "{c}");
        }
        assert_ne!(channel_name("Mixed"), channel_name("mixed"));
    }
}
