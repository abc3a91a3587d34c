//! What the PostgreSQL reads (`read.rs`) and writes (`write.rs`) share: connections with
//! statement caches, statements whose errors are [`StoreError`]s, row decoding.
//!
//! This is the one place the backend converts the driver's errors ([`driver`]), so that no
//! `tokio-postgres` type leaks into the store's API.

use crate::error::{DriverError, StoreError, StoreResult};
use crate::model::*;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Client, Row, Statement};

/// Statement parameters.
pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// The columns of `kern_runs` in the order [`row_to_run`] reads them.
macro_rules! run_columns {
    () => {
        "run_id, session_id, user_id, kind, component_id, parent_run_id, status, input, output, \
         error, background, attempt, releases, lease_owner, lease_expires_at, cancel_requested, \
         event_count, created_at, updated_at, started_at, finished_at, webhook_url"
    };
}

/// The columns of `kern_sessions` in the order [`row_to_session`] reads them.
macro_rules! session_columns {
    () => {
        "session_id, kind, component_id, user_id, session_name, session_state, created_at, \
         updated_at"
    };
}

/// The columns of `kern_webhooks` in the order [`row_to_webhook`] reads them.
macro_rules! webhook_columns {
    () => {
        "id, run_id, url, status, attempts, next_attempt_at, last_status_code, last_error, \
         history, created_at, delivered_at, outcome"
    };
}

/// A connection that prepares each statement once and reuses it.
pub(crate) trait Db: Sync {
    /// The underlying client.
    fn client(&self) -> &Client;

    /// The prepared statement for `sql`, from this connection's cache.
    fn prep(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<Statement, tokio_postgres::Error>> + Send;

    /// Runs a statement; how many rows it changed.
    fn execute(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            let stmt = self.prep(sql).await.map_err(driver)?;
            self.client().execute(&stmt, params).await.map_err(driver)
        }
    }

    /// Runs a query; its rows.
    fn query(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = StoreResult<Vec<Row>>> + Send {
        async move {
            let stmt = self.prep(sql).await.map_err(driver)?;
            self.client().query(&stmt, params).await.map_err(driver)
        }
    }

    /// Runs a query that returns one row.
    fn query_one(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = StoreResult<Row>> + Send {
        async move {
            let stmt = self.prep(sql).await.map_err(driver)?;
            self.client().query_one(&stmt, params).await.map_err(driver)
        }
    }

    /// Runs a query that returns at most one row.
    fn query_opt(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = StoreResult<Option<Row>>> + Send {
        async move {
            let stmt = self.prep(sql).await.map_err(driver)?;
            self.client().query_opt(&stmt, params).await.map_err(driver)
        }
    }
}

/// A driver's error as a [`StoreError::Postgres`].
pub(crate) fn driver(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(DriverError::new(e))
}

/// Column `i` of `row`.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i).map_err(driver)
}

/// The writer's connection: a client and its statement cache.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: Mutex<HashMap<String, Statement>>,
    poisoned: AtomicBool,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            statements: Mutex::new(HashMap::new()),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Marks the connection as not to be used again (its state is unknown).
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Relaxed);
    }

    /// True when the connection closed or was poisoned.
    pub(crate) fn is_broken(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed) || self.client.is_closed()
    }
}

impl Db for Conn {
    fn client(&self) -> &Client {
        &self.client
    }

    async fn prep(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        let cached = self
            .statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned();
        if let Some(s) = cached {
            return Ok(s);
        }
        let stmt = self.client.prepare(sql).await?;
        self.statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

impl Db for deadpool_postgres::Object {
    fn client(&self) -> &Client {
        self
    }

    async fn prep(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
}

/// True when `e` says the connection is gone (closed, or its backend shut down or was
/// terminated): the same statement on a fresh connection may well succeed.
pub(crate) fn connection_lost(e: &StoreError) -> bool {
    let Some(e) = postgres_error(e) else {
        return false;
    };
    e.is_closed()
        || e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        })
}

/// The driver's error behind a [`StoreError::Postgres`].
pub(crate) fn postgres_error(e: &StoreError) -> Option<&tokio_postgres::Error> {
    match e {
        StoreError::Postgres(d) => d.downcast_ref(),
        _ => None,
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|e| corrupt(what, e))
}

pub(crate) fn row_to_run(r: &Row) -> StoreResult<RunRecord> {
    Ok(RunRecord {
        run_id: get(r, 0)?,
        session_id: get(r, 1)?,
        user_id: get(r, 2)?,
        kind: get::<&str>(r, 3)?.parse().map_err(|e| corrupt("kind", e))?,
        component_id: get(r, 4)?,
        parent_run_id: get(r, 5)?,
        status: get::<&str>(r, 6)?
            .parse()
            .map_err(|e| corrupt("status", e))?,
        input: get(r, 7)?,
        output: get(r, 8)?,
        error: get(r, 9)?,
        background: get(r, 10)?,
        attempt: u32::try_from(get::<i64>(r, 11)?).map_err(|e| corrupt("attempt", e))?,
        releases: u32::try_from(get::<i64>(r, 12)?).map_err(|e| corrupt("releases", e))?,
        lease_owner: get(r, 13)?,
        lease_expires_at: get(r, 14)?,
        cancel_requested: get(r, 15)?,
        event_count: u64::try_from(get::<i64>(r, 16)?).map_err(|e| corrupt("event_count", e))?,
        created_at: get(r, 17)?,
        updated_at: get(r, 18)?,
        started_at: get(r, 19)?,
        finished_at: get(r, 20)?,
        webhook_url: get(r, 21)?,
    })
}

pub(crate) fn row_to_session(r: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        session_id: get(r, 0)?,
        kind: get::<&str>(r, 1)?.parse().map_err(|e| corrupt("kind", e))?,
        component_id: get(r, 2)?,
        user_id: get(r, 3)?,
        session_name: get(r, 4)?,
        session_state: get(r, 5)?,
        created_at: get(r, 6)?,
        updated_at: get(r, 7)?,
    })
}

pub(crate) fn row_to_webhook(r: &Row) -> StoreResult<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: get(r, 0)?,
        run_id: get(r, 1)?,
        url: get(r, 2)?,
        status: get::<&str>(r, 3)?
            .parse()
            .map_err(|e| corrupt("webhook status", e))?,
        attempts: u32::try_from(get::<i64>(r, 4)?).map_err(|e| corrupt("attempts", e))?,
        next_attempt_at: get(r, 5)?,
        last_status_code: get::<Option<i32>>(r, 6)?
            .map(u16::try_from)
            .transpose()
            .map_err(|e| corrupt("last_status_code", e))?,
        last_error: get(r, 7)?,
        history: serde_json::from_str(get::<&str>(r, 8)?)
            .map_err(|e| corrupt("webhook history", e))?,
        created_at: get(r, 9)?,
        delivered_at: get(r, 10)?,
        outcome: get::<Option<&str>>(r, 11)?
            .map(str::parse)
            .transpose()
            .map_err(|e| corrupt("webhook outcome", e))?,
    })
}

pub(crate) async fn run_by_id(db: &impl Db, run_id: RunId) -> StoreResult<Option<RunRecord>> {
    let sql = concat!(
        "SELECT ",
        run_columns!(),
        " FROM kern_runs WHERE run_id = $1"
    );
    db.query_opt(sql, &[&run_id])
        .await?
        .as_ref()
        .map(row_to_run)
        .transpose()
}
