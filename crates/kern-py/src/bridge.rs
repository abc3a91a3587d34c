//! A wake-up channel into an asyncio event loop that Rust threads use without the GIL.
//!
//! Runtime threads queue *jobs* (closures that need the interpreter) and poke one end of a
//! socket pair; the loop watches the other end (`loop.add_reader`) and runs every queued job on
//! its own thread, where it already holds the GIL. So completing an awaitable or starting a
//! user coroutine costs no extra thread hop and no GIL acquisition on a runtime or blocking
//! thread, and a burst of completions costs one wake-up.
//!
//! Each loop gets one bridge, kept on the loop object (`loop._kern_bridge`) so that it lives
//! and dies with the loop. A loop that cannot carry one (no instance dict) gets `None`, and
//! callers fall back to `call_soon_threadsafe` from a blocking thread.
//!
//! Edge cases: jobs queued on a loop that has stopped are never run (their callers are gone
//! with the loop); the poke is coalesced (at most one byte in flight), and draining resets it
//! before taking the queue, so a job queued during a drain is never missed.

use pyo3::prelude::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Work for a loop's thread.
pub type Job = Box<dyn FnOnce(Python<'_>) + Send>;

struct Inner {
    jobs: Mutex<Vec<Job>>,
    poke: UnixStream,
    wake: UnixStream,
    poked: AtomicBool,
}

/// One loop's bridge. Cheap to clone.
#[pyclass(module = "kern._kern", frozen)]
#[derive(Clone)]
pub struct LoopBridge {
    inner: Arc<Inner>,
}

impl LoopBridge {
    fn new() -> std::io::Result<Self> {
        let (poke, wake) = UnixStream::pair()?;
        poke.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        Ok(Self {
            inner: Arc::new(Inner {
                jobs: Mutex::new(Vec::new()),
                poke,
                wake,
                poked: AtomicBool::new(false),
            }),
        })
    }

    /// Queues `job` to run on the loop's thread. Never blocks, never touches Python.
    pub fn submit(&self, job: Job) {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
        if !self.inner.poked.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is pending anyway.
            let _ = (&self.inner.poke).write(&[1]);
        }
    }
}

#[pymethods]
impl LoopBridge {
    /// Runs the queued jobs (called by the loop when the socket is readable).
    fn _drain(&self, py: Python<'_>) {
        let mut buf = [0u8; 64];
        while matches!((&self.inner.wake).read(&mut buf), Ok(n) if n > 0) {}
        self.inner.poked.store(false, Ordering::Release);
        let jobs = std::mem::take(&mut *self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner()));
        for job in jobs {
            job(py);
        }
    }
}

const ATTR: &str = "_kern_bridge";

/// The bridge of `event_loop`, installed on first use. Must be called on the loop's thread
/// (where `add_reader` is allowed). `None` if the loop cannot carry one.
pub fn bridge_for(event_loop: &Bound<'_, PyAny>) -> PyResult<Option<LoopBridge>> {
    if let Ok(existing) = event_loop.getattr(ATTR) {
        if let Ok(bridge) = existing.extract::<PyRef<'_, LoopBridge>>() {
            return Ok(Some(bridge.clone()));
        }
    }
    let bridge = LoopBridge::new().map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("kern: a socket pair for the event loop: {e}"))
    })?;
    let py = event_loop.py();
    let handle = Bound::new(py, bridge.clone())?;
    if event_loop.setattr(ATTR, &handle).is_err() {
        return Ok(None);
    }
    let drain = handle.getattr("_drain")?;
    event_loop.call_method1("add_reader", (bridge.inner.wake.as_raw_fd(), drain))?;
    Ok(Some(bridge))
}
