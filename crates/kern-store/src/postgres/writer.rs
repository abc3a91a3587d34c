//! How the PostgreSQL writer executes a batch ([`Transact`]), over one dedicated connection.
//!
//! A task per writer runs the shared writer loop (`write::serve`) with a [`Writer`]. Each
//! batch is one transaction whose `now` is read from the database clock; independent ops are
//! pipelined; one coalesced `NOTIFY` says what the batch changed; then it commits. After a
//! failed batch, a single op that loses a deadlock or a serialization conflict against another
//! replica, or finds the connection broken before it committed, is retried a few times. A
//! connection that breaks *during* `COMMIT` leaves the outcome unknown: those ops fail and
//! are not retried.
//!
//! The connection is re-opened when it breaks, at the next batch. Other stores hear about this
//! store's webhook deliveries from the batch's `NOTIFY`.

use super::listen;
use super::ops::{self, driver, Conn};
use crate::batch::{self, BatchSignals, WriteOp, WriteOut};
use crate::error::{StoreError, StoreResult};
use crate::model::Millis;
use crate::write::{self, Failed, Transact};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

/// How many times one op is re-run after a deadlock, a serialization failure or a broken
/// connection.
const RETRIES: u32 = 5;

/// Opens a connection, spawning the task that drives it.
pub(crate) async fn open(config: &Config) -> StoreResult<Client> {
    let (client, connection) = config.connect(NoTls).await.map_err(driver)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}

/// A writer task's state.
pub(crate) struct Writer {
    config: Config,
    conn: Option<Conn>,
    channel: String,
    /// The writer connection's backend pid, so the listener can ignore its own notifications.
    pid: Arc<AtomicI32>,
}

impl Writer {
    /// A writer over `client` (already migrated), notifying on `channel`.
    pub(crate) async fn new(
        config: Config,
        client: Client,
        channel: String,
        pid: Arc<AtomicI32>,
    ) -> StoreResult<Self> {
        let conn = Some(adopt(client, &pid).await?);
        Ok(Self {
            config,
            conn,
            channel,
            pid,
        })
    }

    /// The live connection, re-opened if it broke.
    async fn connection<'a>(
        conn: &'a mut Option<Conn>,
        config: &Config,
        pid: &AtomicI32,
    ) -> StoreResult<&'a Conn> {
        if conn.as_ref().is_some_and(|c| c.is_broken()) {
            tracing::warn!("postgres writer connection lost; reconnecting");
            *conn = None;
        }
        if conn.is_none() {
            let client = open(config).await?;
            *conn = Some(adopt(client, pid).await?);
        }
        Ok(conn.as_ref().expect("connection just set"))
    }
}

impl Transact for Writer {
    const BACKEND: &'static str = "postgres";

    async fn transact(&mut self, ops: &[&WriteOp]) -> Result<Vec<StoreResult<WriteOut>>, Failed> {
        match Self::connection(&mut self.conn, &self.config, &self.pid).await {
            Ok(conn) => apply_all(conn, ops, &self.channel).await,
            Err(e) => Err(Failed::before(e)),
        }
    }

    /// Retried on deadlocks, serialization failures and connections that broke before it
    /// committed.
    async fn transact_one(&mut self, op: &WriteOp) -> StoreResult<WriteOut> {
        let mut attempt = 0;
        loop {
            let f = match self.transact(&[op]).await {
                Ok(mut outs) => return outs.pop().expect("one op, one result"),
                Err(f) => f,
            };
            if f.unknown {
                return Err(f.error);
            }
            if ops::connection_lost(&f.error) {
                if let Some(c) = &self.conn {
                    c.poison();
                }
            }
            if attempt >= RETRIES || !retryable(&f.error) {
                return Err(f.error);
            }
            attempt += 1;
            let delay = backoff(attempt);
            tracing::debug!(error = %f.error, attempt, ?delay, "postgres write op retried");
            tokio::time::sleep(delay).await;
        }
    }
}

/// Wraps a fresh connection, recording its backend pid for the listener.
async fn adopt(client: Client, pid: &AtomicI32) -> StoreResult<Conn> {
    let backend: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(driver)?
        .get(0);
    pid.store(backend, Ordering::Relaxed);
    Ok(Conn::new(client))
}

/// Deadlocks and serialization failures (a race with another replica) and a connection that
/// broke before the op committed: re-running the op is safe and likely to succeed.
fn retryable(e: &StoreError) -> bool {
    ops::connection_lost(e)
        || ops::postgres_error(e)
            .and_then(|e| e.code())
            .is_some_and(|c| {
                *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
            })
}

/// Exponential backoff with jitter: 2, 4, 8, … ms plus up to as much again.
fn backoff(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(10);
    let jitter = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % (base + 1);
    Duration::from_millis(base + jitter)
}

/// `BEGIN` and the database's clock in milliseconds, in one round trip.
async fn begin(conn: &Conn) -> StoreResult<Millis> {
    let messages = conn
        .client
        .simple_query("BEGIN; SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")
        .await
        .map_err(driver)?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .ok_or_else(|| StoreError::Corrupt("postgres returned no clock reading".into()))
}

/// Applies `ops` in one transaction. Soft failures (fenced, conflict, …) are answers; the
/// first hard one rolls everything back and is returned.
async fn apply_all(
    conn: &Conn,
    ops: &[&WriteOp],
    channel: &str,
) -> Result<Vec<StoreResult<WriteOut>>, Failed> {
    let now = match begin(conn).await {
        Ok(now) => now,
        Err(e) => {
            rollback(conn).await;
            return Err(Failed::before(e));
        }
    };
    let mut outs = Vec::with_capacity(ops.len());
    let mut signals = BatchSignals::default();
    // Independent ops are sent together: tokio-postgres pipelines queries polled at the same
    // time on one connection, so a batch costs about one round trip instead of one per op.
    // A batch with an op whose statements depend on another op's (idempotent creates,
    // session deletes, purges) goes one op at a time.
    let results = if ops.iter().all(|op| op.is_pipelinable()) {
        futures::future::join_all(ops.iter().map(|op| write::apply(conn, op, now))).await
    } else {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let r = write::apply(conn, op, now).await;
            let hard = matches!(&r, Err(e) if batch::is_hard(e));
            results.push(r);
            if hard {
                break;
            }
        }
        results
    };
    for (op, result) in ops.iter().zip(results) {
        match result {
            Err(e) if batch::is_hard(&e) => {
                rollback(conn).await;
                return Err(Failed::before(e));
            }
            Ok(out) => {
                signals.note(op, &out);
                outs.push(Ok(out));
            }
            Err(e) => outs.push(Err(e)),
        }
    }
    if let Err(e) = notify(conn, channel, &signals).await {
        rollback(conn).await;
        return Err(Failed::before(e));
    }
    if let Err(e) = conn.client.batch_execute("COMMIT").await {
        // Nothing this store does can make a healthy COMMIT fail (no deferred constraints,
        // no serializable transactions), so the connection broke: nobody knows whether the
        // transaction landed. The connection is not used again.
        conn.poison();
        return Err(Failed {
            error: driver(e),
            unknown: true,
        });
    }
    Ok(outs)
}

/// Queues the batch's notifications; PostgreSQL delivers them at `COMMIT`, and only if the
/// transaction commits.
async fn notify(conn: &Conn, channel: &str, signals: &BatchSignals) -> StoreResult<()> {
    let payloads = listen::encode(signals);
    if payloads.is_empty() {
        return Ok(());
    }
    let sql = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";
    ops::Db::execute(conn, sql, &[&channel, &payloads]).await?;
    Ok(())
}

/// Rolls back; a connection that cannot roll back is not used again (it could still be
/// inside the failed transaction).
async fn rollback(conn: &Conn) {
    if let Err(e) = conn.client.batch_execute("ROLLBACK").await {
        tracing::debug!(error = %e, "postgres rollback failed; dropping the connection");
        conn.poison();
    }
}
