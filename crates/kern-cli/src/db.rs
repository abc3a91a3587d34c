//! `kern db`: database maintenance.

use crate::progress::Progress;
use crate::render;
use anyhow::Result;
use kern::store::{now_millis, RunFilter, RunStatus, Store};
use std::io::Write;
use std::time::Duration;

/// `kern db` subcommands.
#[derive(clap::Subcommand)]
pub enum DbCommand {
    /// Create the database (if needed) and apply migrations.
    Migrate,
    /// Delete finished runs and their events older than a duration (e.g. 30d, 12h, 90m).
    ///
    /// The runs are deleted oldest first in slices of time (a progress line shows on a
    /// terminal), so that a large purge never holds the database's writer for long while
    /// servers use it.
    Purge {
        /// Age of the finished runs to delete.
        #[arg(long, value_parser = crate::parse_age)]
        older_than: Duration,
    },
}

/// How many slices of time a purge is cut into.
const SLICES: i64 = 20;

/// Runs a `kern db` command on `store`.
pub async fn run(store: &dyn Store, command: DbCommand, out: &mut impl Write) -> Result<u8> {
    match command {
        DbCommand::Migrate => writeln!(out, "database ready ({})", store.backend())?,
        DbCommand::Purge { older_than } => {
            let cutoff = now_millis() - older_than.as_millis() as i64;
            let deleted = purge(store, cutoff).await?;
            writeln!(
                out,
                "deleted {deleted} finished runs (finished before {})",
                render::utc(cutoff)
            )?;
        }
    }
    Ok(crate::exit::OK)
}

/// Deletes the runs finished before `cutoff` (ms), in slices of time from the oldest
/// finished run's creation (none finished earlier) to `cutoff`; returns how many.
async fn purge(store: &dyn Store, cutoff: i64) -> Result<u64> {
    let oldest = store
        .list_runs(&RunFilter {
            statuses: vec![
                RunStatus::Completed,
                RunStatus::Failed,
                RunStatus::Cancelled,
            ],
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .first()
        .map(|r| r.created_at);
    let Some(oldest) = oldest.filter(|t| *t < cutoff) else {
        return Ok(store.purge_finished(cutoff).await?);
    };
    let mut progress = Progress::new("purging finished runs");
    let mut deleted = 0;
    for slice in 1..=SLICES {
        let before = oldest + (cutoff - oldest) * slice / SLICES;
        deleted += store.purge_finished(before).await?;
        progress.set(slice as f64 / SLICES as f64, &format!("{deleted} deleted"));
    }
    progress.finish();
    Ok(deleted)
}
