//! How `kern` ends: its exit statuses, and how an error is reported.
//!
//! An ordinary error (a run that does not exist, a database that cannot be opened) is one
//! line on stderr, `error: <message>: <cause>: …`, and status 1: never a backtrace, even
//! with `RUST_BACKTRACE=1` (backtraces are for panics, which keep Rust's default report and
//! status 101). A closed standard output (`kern runs list | head -1`) is not an error: the
//! reader has what it wanted, so `kern` stops quietly with status 0, as `ripgrep` does.

use std::process::ExitCode;

/// Success; for `kern runs watch`, the run completed.
pub const OK: u8 = 0;
/// An error: the command could not do what was asked (the message says why).
pub const ERROR: u8 = 1;
/// `kern runs watch`: the run failed.
pub const RUN_FAILED: u8 = 3;
/// `kern runs watch`: the run was cancelled.
pub const RUN_CANCELLED: u8 = 4;
/// `kern runs watch`: the run paused, waiting for a person (continue it, then watch again).
pub const RUN_PAUSED: u8 = 5;

/// The exit statuses, as `--help` lists them.
pub const STATUS_HELP: &str = "\
Exit status:
  0  success (for `runs watch`: the run completed); also when standard output is closed
     early (`kern runs list | head -1`)
  1  error (e.g. the run or the database does not exist)
  2  wrong usage (an unknown flag, a bad value)
  3  `runs watch`: the run failed
  4  `runs watch`: the run was cancelled
  5  `runs watch`: the run is paused, waiting for a person";

/// The status for the outcome of `result`, after reporting an error on stderr.
pub fn report(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(OK),
        Err(e) => {
            // `{:#}` is the message and its causes on one line, without a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}

/// True if `e` (or one of its causes) is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_broken_pipe_is_found_among_the_causes() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let e = Err::<(), _>(pipe).context("writing").unwrap_err();
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("run x not found")));
    }
}
