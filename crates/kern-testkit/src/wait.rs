//! Waiting on a condition with a deadline: the way tests wait, never a bare sleep.
//!
//! Each helper polls its condition every few milliseconds and panics, naming what it waited
//! for, once `timeout` has passed. The async ones sleep on tokio's timer (they must run inside
//! a runtime); the `_blocking` ones sleep the thread, for tests that wait on a child process
//! or a file outside any runtime.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How often a condition is checked. Short, because most conditions are cheap reads and tests
/// should not wait longer than the system under test takes.
const POLL: Duration = Duration::from_millis(5);

/// Waits until `cond` holds, or panics after `timeout` with `what`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(timeout, what, || {
        let check = cond();
        async move {
            if check.await {
                Ok(())
            } else {
                Err("")
            }
        }
    })
    .await
}

/// Polls `probe` until it returns `Ok(value)` and returns that value, or panics after
/// `timeout` with `what` and what the probe saw last.
///
/// `Err(seen)` means "not yet": `seen` (the last status, record, scrape…) is kept for the
/// panic message, so that a test that times out says where things were stuck.
pub async fn wait_for<T, S, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
    S: Display,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => timed_out(timeout, what, seen),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// [`wait_until`] for a thread outside any async runtime: sleeps the thread between checks.
pub fn wait_until_blocking(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    wait_for_blocking(timeout, what, || if cond() { Ok(()) } else { Err("") })
}

/// [`wait_for`] for a thread outside any async runtime: sleeps the thread between checks.
pub fn wait_for_blocking<T, S: Display>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, S>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) if std::time::Instant::now() >= deadline => timed_out(timeout, what, seen),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// The panic of a wait that ran out of time; `seen` is left out when empty (a boolean
/// condition has nothing to show).
fn timed_out(timeout: Duration, what: &str, seen: impl Display) -> ! {
    let seen = seen.to_string();
    if seen.is_empty() {
        panic!("timed out after {timeout:?} waiting for {what}")
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {seen}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_the_first_ready_value() {
        let calls = AtomicU32::new(0);
        let got = wait_for(Duration::from_secs(5), "the third call", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 3 {
                Ok(n)
            } else {
                Err(n)
            }
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for never; last seen: 7")]
    async fn a_timeout_names_the_wait_and_the_last_state() {
        wait_for(Duration::from_millis(20), "never", || async {
            Err::<(), _>(7)
        })
        .await;
    }

    #[test]
    #[should_panic(expected = "timed out after 20ms waiting for never")]
    fn the_blocking_wait_times_out_too() {
        wait_until_blocking(Duration::from_millis(20), "never", || false);
    }

    #[test]
    fn the_blocking_wait_returns_once_the_condition_holds() {
        let mut n = 0;
        wait_until_blocking(Duration::from_secs(5), "n to reach 3", || {
            n += 1;
            n == 3
        });
        assert_eq!(n, 3);
    }
}
