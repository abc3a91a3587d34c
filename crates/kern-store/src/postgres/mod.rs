//! PostgreSQL store (being written).
use crate::{StoreError, StoreResult};

/// Settings of a [`PostgresStore`].
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// The connection URL.
    pub url: String,
}
impl PostgresOptions {
    /// Defaults for `url`.
    pub fn new(url: &str) -> Self {
        Self { url: url.into() }
    }
}
/// The PostgreSQL store.
pub struct PostgresStore;
impl PostgresStore {
    /// Connects.
    pub async fn connect_with(_o: PostgresOptions) -> StoreResult<std::sync::Arc<dyn crate::Store>> {
        Err(StoreError::Config("postgres: not built yet".into()))
    }
}
