//! The engine's tokio runtime inside a Python process, and the bridges between it and asyncio.
//!
//! Rules (see `ARCHITECTURE.md`, "The Python face"):
//! - Python never runs on a runtime worker thread: user code runs on threads Python owns (kern's
//!   event loop thread and daemon threads, see `callable.rs`), so that a busy GIL never stalls
//!   the engine and an exiting interpreter never finds a native thread inside it; only the
//!   rare fallback delivery to a loop without a bridge attaches from a blocking-pool thread.
//! - Rust never waits while holding the GIL: blocking calls detach from the interpreter first.
//! - Async results reach the caller's event loop through its [`LoopBridge`] (a socket the loop
//!   watches: no GIL on the runtime's threads); the caller cancelling its awaitable aborts the
//!   Rust task.
//!
//! Edge cases: a forked child has no runtime threads (they do not survive `fork`), so every
//! entry point checks the process id and refuses with a clear error; a closed caller loop
//! (its `asyncio.run` returned) makes delivery a no-op; during interpreter shutdown, calls into
//! Python fail with an error instead of attaching.

use crate::bridge::{bridge_for, LoopBridge};
use crate::errors::KernError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use tokio::runtime::{Builder, Runtime};
use tokio::task::AbortHandle;

struct Process {
    runtime: Runtime,
    pid: u32,
}

static PROCESS: OnceLock<Process> = OnceLock::new();

/// The runtime, built on first use. Refuses in a process forked after it was built.
pub fn runtime() -> PyResult<&'static Runtime> {
    let process = PROCESS.get_or_init(|| Process {
        runtime: Builder::new_multi_thread()
            .enable_all()
            .thread_name("kern-worker")
            .build()
            .expect("building the kern runtime"),
        pid: std::process::id(),
    });
    if process.pid != std::process::id() {
        return Err(KernError::new_err(
            "kern was started in the parent of this forked process, and its runtime threads do not survive fork(): use kern only after forking (or the 'spawn' multiprocessing start method)",
        ));
    }
    Ok(&process.runtime)
}

/// Runs `future` to completion on the runtime, detached from the interpreter meanwhile.
/// Works from any thread: a caller's, kern's daemon threads (a synchronous Python step calling
/// a synchronous kern API), or the runtime's own.
pub fn block_on<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    Ok(py.detach(|| {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside the runtime (a blocking-pool thread): drive the future here; its timers
            // and sockets are served by the runtime's workers.
            futures::executor::block_on(future)
        } else {
            rt.block_on(future)
        }
    }))
}

/// Turns a Rust future into an awaitable of the caller's running event loop. `convert` makes
/// the Python result, on the loop's thread (through its [`LoopBridge`]). Cancelling the
/// awaitable aborts the Rust task (dropping its future: a foreground run started by it is
/// cancelled).
pub fn awaitable<'py, T, F, C>(
    py: Python<'py>,
    future: F,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: Send + 'static,
    C: for<'a> FnOnce(Python<'a>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let rt = runtime()?;
    let event_loop = asyncio(py)?.call_method0("get_running_loop").map_err(|_| {
        PyRuntimeError::new_err(
            "this kern method returns an awaitable and needs a running event loop: call it with `await` inside async code, or use the synchronous method (e.g. run() instead of arun())",
        )
    })?;
    let bridge = bridge_for(&event_loop)?;
    let future_py = event_loop.call_method0("create_future")?;
    let (loop_obj, target) = (event_loop.unbind(), future_py.clone().unbind());
    let task = rt.spawn(async move {
        let result = future.await;
        let deliver = move |py: Python<'_>| {
            let outcome = result.and_then(|value| convert(py, value));
            resolve(py, target.bind(py), outcome);
        };
        match bridge {
            Some(bridge) => bridge.submit(Box::new(deliver)),
            // A loop without a bridge: deliver from a blocking thread.
            None => {
                let _ = tokio::task::spawn_blocking(move || {
                    Python::try_attach(|py| {
                        let resolve = Resolve {
                            deliver: Mutex::new(Some(Box::new(deliver))),
                        };
                        // Fails only when the caller's loop is closed: nobody is waiting.
                        let _ = loop_obj.call_method1(py, "call_soon_threadsafe", (resolve,));
                    })
                })
                .await;
            }
        }
    });
    future_py.call_method1(
        "add_done_callback",
        (AbortOnCancel {
            handle: task.abort_handle(),
        },),
    )?;
    Ok(future_py)
}

/// Sets an asyncio future's outcome unless it was cancelled meanwhile. On its loop's thread.
fn resolve(py: Python<'_>, target: &Bound<'_, PyAny>, outcome: PyResult<Py<PyAny>>) {
    if target
        .call_method0("done")
        .and_then(|d| d.is_truthy())
        .unwrap_or(true)
    {
        return;
    }
    let _ = match outcome {
        Ok(value) => target.call_method1("set_result", (value,)),
        Err(err) => target.call_method1("set_exception", (err.into_value(py),)),
    };
}

/// Delivers an outcome on its loop's thread (the fallback path, through
/// `call_soon_threadsafe`).
#[pyclass(module = "kern._kern")]
struct Resolve {
    deliver: Mutex<Option<crate::bridge::Job>>,
}

#[pymethods]
impl Resolve {
    fn __call__(&self, py: Python<'_>) {
        let deliver = self
            .deliver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(deliver) = deliver {
            deliver(py);
        }
    }
}

/// Aborts the Rust task behind an awaitable when the awaitable is cancelled.
#[pyclass(module = "kern._kern")]
struct AbortOnCancel {
    handle: AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}

static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `asyncio` module.
pub fn asyncio(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ASYNCIO
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("asyncio")?.unbind()))
        .map(|m| m.bind(py))
}

/// The bridge into the event loop that runs user coroutines (async steps, tools,
/// evaluators): a thread kern owns (started by the Python package), never the caller's loop,
/// because background and recovered runs have no caller and the caller's loop may close
/// before its runs end.
static USER_LOOP: Mutex<Option<LoopBridge>> = Mutex::new(None);

/// Sets the loop that runs user coroutines. Called on that loop's own thread, before it runs.
#[pyfunction]
pub fn _set_user_loop(event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
    let bridge = bridge_for(event_loop)?.ok_or_else(|| {
        KernError::new_err(
            "kern's event loop cannot carry its bridge (a loop type without an instance dict)",
        )
    })?;
    *USER_LOOP.lock().unwrap_or_else(|e| e.into_inner()) = Some(bridge);
    Ok(())
}

/// The bridge into the loop that runs user coroutines, if the package started it.
pub fn user_loop() -> Result<LoopBridge, String> {
    USER_LOOP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| {
            "kern's event loop for async user code is not running (import kern through its Python package, not kern._kern)".to_owned()
        })
}
