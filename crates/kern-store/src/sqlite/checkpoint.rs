//! The WAL checkpointer: a thread of its own that keeps the `-wal` file bounded.
//!
//! The writer never checkpoints (`wal_autocheckpoint = 0`): a checkpoint inside a commit would
//! stall every write queued behind it. This thread does it instead, every
//! [`CHECKPOINT_EVERY`]:
//!
//! 1. `PASSIVE`: copies whatever the readers' snapshots allow, blocking nobody.
//! 2. When the WAL holds more than [`WAL_RESTART_BYTES`], `RESTART`. Under sustained load a
//!    passive checkpoint never sees the WAL fully copied *and* free of readers at the moment a
//!    writer starts, so SQLite never rewinds it and the file grows without bound (measured:
//!    11 GB in four minutes at 300 runs/s with streaming readers). `RESTART` takes the write
//!    lock, copies the (small, since step 1 just ran) remainder, and waits for readers to
//!    leave the WAL, so the next commit starts writing at its beginning again. Waiting is
//!    bounded by [`RESTART_WAIT`]: if readers are not done by then it gives up (the writer
//!    goes on) and tries again next time. This is the only moment writers wait for the
//!    checkpointer, once per `WAL_RESTART_BYTES` of writes.
//! 3. When the WAL is fully copied and nothing was written since the last look (the store is
//!    idle), `TRUNCATE`: the file shrinks to nothing.
//!
//! Every connection also sets `journal_size_limit` to [`WAL_SIZE_LIMIT`]: when the WAL rewinds,
//! the first commit after truncates the file to that size, so a burst that grew it does not
//! keep its disk space for good.

use super::{open_connection, SqliteOptions};
use rusqlite::Connection;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// How often the checkpointer looks at the WAL.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL size past which the checkpointer rewinds it (`RESTART`).
pub(super) const WAL_RESTART_BYTES: i64 = 64 << 20;

/// What a rewound WAL file is truncated to (`journal_size_limit`).
pub(super) const WAL_SIZE_LIMIT: i64 = 32 << 20;

/// The longest a `RESTART` or `TRUNCATE` checkpoint waits for the writer and readers.
const RESTART_WAIT: Duration = Duration::from_millis(200);

/// What `PRAGMA wal_checkpoint` reports: whether it was blocked, the WAL's frames, and how
/// many of them are copied into the database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct WalState {
    busy: bool,
    frames: i64,
    copied: i64,
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<WalState> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(WalState {
            busy: r.get::<_, i64>(0)? != 0,
            frames: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

/// Runs checkpoints until `stop` is dropped (the store is).
pub(super) fn checkpoint_loop(opts: &SqliteOptions, stop: &Receiver<()>) {
    let conn = match open_connection(opts) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sqlite checkpointer could not open the database; the WAL will grow");
            return;
        }
    };
    // The checkpointer's own waits are short: it must never hold the write lock long.
    if let Err(e) = conn.busy_timeout(RESTART_WAIT) {
        tracing::warn!(error = %e, "sqlite checkpointer: could not set its busy timeout");
    }
    let frame_bytes = conn
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .unwrap_or(4096)
        + 24;
    let mut last = WalState::default();
    let mut failed_restarts = 0u32;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let state = match checkpoint(&conn, "PASSIVE") {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite checkpoint failed");
                continue;
            }
        };
        if state.frames * frame_bytes > WAL_RESTART_BYTES {
            match checkpoint(&conn, "RESTART") {
                Ok(s) if !s.busy => failed_restarts = 0,
                Ok(_) | Err(_) => {
                    failed_restarts += 1;
                    // Once in a while is normal (a long read); every time is not.
                    if failed_restarts == 20 {
                        tracing::warn!(
                            wal_bytes = state.frames * frame_bytes,
                            "sqlite WAL could not be rewound 20 times in a row: long-running readers keep it in use"
                        );
                        failed_restarts = 0;
                    }
                }
            }
        } else if state.frames > 0 && state.frames == state.copied && state == last {
            // Idle: everything is in the database and nothing was written since the last
            // look. Give the file's space back.
            let _ = checkpoint(&conn, "TRUNCATE");
        }
        last = state;
    }
}
