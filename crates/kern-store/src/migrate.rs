//! The migration runner, shared by both backends.
//!
//! Each backend lists its migrations in its own SQL (`sqlite/schema.rs`,
//! `postgres/schema.rs`: migration `i` brings the schema to version `i + 1`) and opens the
//! transaction they run in, in a way that keeps other processes migrating the same database
//! out until it commits (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock). What a
//! migration run decides is here: the version recorded in `kern_schema`, a database newer than
//! this build refused, the missing migrations applied in order, the new version recorded.

use crate::error::{StoreError, StoreResult};

/// A backend's migration transaction.
pub(crate) trait SchemaTx {
    /// The version recorded in `kern_schema` (creating that table if missing); 0 for a
    /// database that has none yet.
    async fn version(&mut self) -> StoreResult<i64>;

    /// Runs one migration's statements.
    async fn run_migration(&mut self, sql: &str) -> StoreResult<()>;

    /// Records the schema's version.
    async fn set_version(&mut self, version: i64) -> StoreResult<()>;
}

/// Brings the schema to the newest of `migrations` inside the caller's transaction (which
/// the caller commits, even when nothing changed, to end it). A database recording a newer
/// version than this build knows is refused with [`StoreError::SchemaTooNew`].
pub(crate) async fn migrate(
    tx: &mut impl SchemaTx,
    migrations: &[&str],
    backend: &'static str,
) -> StoreResult<()> {
    let latest = migrations.len() as i64;
    let found = tx.version().await?;
    if found > latest {
        return Err(StoreError::SchemaTooNew {
            found,
            known: latest,
        });
    }
    if found == latest {
        return Ok(());
    }
    for (i, sql) in migrations.iter().enumerate().skip(found.max(0) as usize) {
        tx.run_migration(sql).await?;
        tracing::debug!(backend, version = i + 1, "schema migrated");
    }
    tx.set_version(latest).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as the runner sees it: its version and the migrations it ran.
    #[derive(Default)]
    struct Recorded {
        version: i64,
        ran: Vec<String>,
    }

    impl SchemaTx for Recorded {
        async fn version(&mut self) -> StoreResult<i64> {
            Ok(self.version)
        }

        async fn run_migration(&mut self, sql: &str) -> StoreResult<()> {
            self.ran.push(sql.to_owned());
            Ok(())
        }

        async fn set_version(&mut self, version: i64) -> StoreResult<()> {
            self.version = version;
            Ok(())
        }
    }

    fn run(db: &mut Recorded) -> StoreResult<()> {
        futures::executor::block_on(migrate(db, &["v1", "v2", "v3"], "test"))
    }

    #[test]
    fn the_missing_migrations_run_in_order_and_the_version_is_recorded() {
        let mut db = Recorded {
            version: 1,
            ..Default::default()
        };
        run(&mut db).unwrap();
        assert_eq!(
            (db.version, db.ran.clone()),
            (3, vec!["v2".into(), "v3".into()])
        );
        // At the newest version, nothing runs.
        run(&mut db).unwrap();
        assert_eq!(db.ran.len(), 2);
        let mut new = Recorded::default();
        run(&mut new).unwrap();
        assert_eq!((new.version, new.ran.len()), (3, 3));
    }

    #[test]
    fn a_database_newer_than_this_build_is_refused_untouched() {
        let mut db = Recorded {
            version: 4,
            ..Default::default()
        };
        let err = run(&mut db).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 4, known: 3 }),
            "{err}"
        );
        assert!(db.ran.is_empty());
        assert_eq!(db.version, 4);
    }
}
