//! User Python code called by the engine: step executors, tools, condition evaluators,
//! router selectors, loop end conditions.
//!
//! Each is a Python callable taking one JSON-like argument and returning JSON-like data (the
//! Python package wraps the user's function in an adapter that builds `StepInput` objects and
//! normalises results, so this side only moves JSON). Both kinds are handed to kern's own
//! event loop through its bridge (the loop's thread creates the task; no GIL is taken on the
//! runtime's threads) and awaited without holding a thread: an async callable's coroutine runs
//! on the loop; a synchronous one runs on a Python daemon thread (`kern._threads`), never on a
//! Rust thread, because a program may exit while it runs and a native thread re-entering a
//! finalizing interpreter crashes the process, while CPython ends its own daemon threads
//! safely. Dropping the returned future (the run was cancelled, its lease lost, the process
//! is stopping) cancels the Python task; a synchronous call already running cannot be
//! interrupted and finishes on its thread, its result discarded.

use crate::bridge::LoopBridge;
use crate::convert::{to_json, to_py};
use crate::runtime::{asyncio, user_loop};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Why a call of user code failed: the message says what raised, e.g. `ValueError: boom`.
#[derive(Debug, Clone)]
pub struct CallError(pub String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `TypeName: message` for a Python exception (logged with its traceback at debug level).
pub fn describe(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if tracing::enabled!(tracing::Level::DEBUG) {
        if let Some(tb) = err.traceback(py).and_then(|t| t.format().ok()) {
            tracing::debug!(traceback = %tb, "{name}: {message}");
        }
    }
    if message.is_empty() {
        name
    } else {
        format!("{name}: {message}")
    }
}

/// A Python callable the engine calls with one JSON argument.
pub struct PyCallable {
    func: Arc<Py<PyAny>>,
    is_async: bool,
    /// What it is, for error messages ("step 'Research'").
    what: String,
}

impl PyCallable {
    /// `func(arg) -> result`; `is_async` when `func` is a coroutine function.
    pub fn new(func: Py<PyAny>, is_async: bool, what: impl Into<String>) -> Self {
        Self {
            func: Arc::new(func),
            is_async,
            what: what.into(),
        }
    }

    /// Calls it with `arg` and returns its JSON result.
    pub async fn call(&self, arg: Value) -> Result<Value, CallError> {
        // An Arc, not a new Python reference: no attaching on a runtime worker.
        let func = self.func.clone();
        let what = format!("the result of {}", self.what);
        call_async(func, self.is_async, arg, what).await
    }
}

static CALL_IN_THREAD: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `kern._threads.call_in_thread`: the coroutine that runs a synchronous callable on a daemon
/// thread.
fn call_in_thread(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    CALL_IN_THREAD
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("kern._threads")?
                    .getattr("call_in_thread")?
                    .unbind(),
            )
        })
        .map(|f| f.bind(py))
}

async fn call_async(
    func: Arc<Py<PyAny>>,
    is_async: bool,
    arg: Value,
    what: String,
) -> Result<Value, CallError> {
    let bridge = user_loop().map_err(CallError)?;
    let (tx, rx) = oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let slot: Arc<Mutex<TaskSlot>> = Arc::default();
    let (job_slot, job_tx) = (slot.clone(), tx.clone());
    // Runs on kern's loop thread: creates the coroutine and its task there.
    bridge.submit(Box::new(move |py| {
        let mut slot = job_slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.cancelled {
            return;
        }
        let started = (|| -> PyResult<Py<PyAny>> {
            let arg = to_py(py, &arg)?;
            let coroutine = if is_async {
                func.call1(py, (arg,))?
            } else {
                call_in_thread(py)?
                    .call1((func.clone_ref(py), arg))?
                    .unbind()
            };
            let task = asyncio(py)?.call_method1("ensure_future", (coroutine,))?;
            task.call_method1(
                "add_done_callback",
                (Done {
                    tx: job_tx.clone(),
                    what,
                },),
            )?;
            Ok(task.unbind())
        })();
        match started {
            Ok(task) => slot.task = Some(task),
            Err(e) => {
                if let Some(tx) = job_tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = tx.send(Err(CallError(describe(py, &e))));
                }
            }
        }
    }));
    // From here, dropping this future cancels the Python task.
    let guard = CancelOnDrop {
        bridge,
        slot: Some(slot),
    };
    let result = rx
        .await
        .unwrap_or_else(|_| Err(CallError("the coroutine was dropped".into())));
    guard.disarm();
    result
}

/// The task running a user coroutine, once started; `cancelled` if the caller gave up first.
#[derive(Default)]
struct TaskSlot {
    task: Option<Py<PyAny>>,
    cancelled: bool,
}

type Reply = Arc<Mutex<Option<oneshot::Sender<Result<Value, CallError>>>>>;

/// Completes the Rust side when the coroutine's task is done. Runs on kern's event loop
/// thread, attached: the result is converted there.
#[pyclass(module = "kern._kern")]
struct Done {
    tx: Reply,
    what: String,
}

#[pymethods]
impl Done {
    fn __call__(&self, py: Python<'_>, future: &Bound<'_, PyAny>) {
        let outcome = if future
            .call_method0("cancelled")
            .and_then(|c| c.is_truthy())
            .unwrap_or(false)
        {
            Err(CallError("the coroutine was cancelled".into()))
        } else {
            match future.call_method0("result") {
                Ok(value) => to_json(&value, &self.what).map_err(|e| CallError(describe(py, &e))),
                Err(e) => Err(CallError(describe(py, &e))),
            }
        };
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(outcome);
        }
    }
}

/// Cancels a user coroutine if the Rust future awaiting it is dropped first (the run was
/// cancelled, its lease lost, the process is stopping).
struct CancelOnDrop {
    bridge: LoopBridge,
    slot: Option<Arc<Mutex<TaskSlot>>>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.slot = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let task = {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.cancelled = true;
            slot.task.take()
        };
        if let Some(task) = task {
            self.bridge.submit(Box::new(move |py| {
                let _ = task.call_method0(py, "cancel");
            }));
        }
    }
}
