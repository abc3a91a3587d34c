//! The Python exceptions kern raises (re-exported by `kern.exceptions`), and the mapping from
//! the engine's errors to them. Every exception names what was wrong; none is a bare
//! `RuntimeError` from Rust.

use kern_core::EngineError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _kern,
    KernError,
    PyException,
    "Base class of every error kern raises."
);
create_exception!(
    _kern,
    NoDatabaseError,
    KernError,
    "A background run (or another durable operation) needs a database (`db=SqliteDb(...)`)."
);
create_exception!(
    _kern,
    RunNotFoundError,
    KernError,
    "No run has this id (for this component)."
);
create_exception!(
    _kern,
    DefinitionError,
    KernError,
    "An agent, team or workflow definition is invalid."
);
create_exception!(
    _kern,
    DatabaseError,
    KernError,
    "The database failed or could not be opened."
);
create_exception!(
    _kern,
    ShuttingDownError,
    KernError,
    "kern is shutting down and takes no new runs."
);
create_exception!(
    _kern,
    ConflictError,
    KernError,
    "The request conflicts with an earlier one (a reused idempotency key, a run id in use)."
);

create_exception!(
    _kern,
    QueueFullError,
    KernError,
    "The queue is at its limit (`max_pending`): the run was not started. `retry_after` says when to try again (seconds), `scope` which limit (\"server\" or \"<kind>:<id>\"), `pending` and `limit` the counts."
);

/// The Python exception for an engine error.
pub fn engine_error(e: EngineError) -> PyErr {
    let message = e.to_string();
    match e {
        EngineError::NoDatabase(_) => NoDatabaseError::new_err(message),
        EngineError::RunNotFound(_) | EngineError::WrongComponent { .. } => {
            RunNotFoundError::new_err(message)
        }
        EngineError::UnknownComponent { .. }
        | EngineError::DuplicateComponent { .. }
        | EngineError::InvalidDefinition(_) => DefinitionError::new_err(message),
        EngineError::DuplicateRun(_)
        | EngineError::IdempotencyConflict { .. }
        | EngineError::NotPaused { .. } => ConflictError::new_err(message),
        EngineError::ShuttingDown => ShuttingDownError::new_err(message),
        // Its details ride in `args` (read back by properties `kern.exceptions` adds), so that
        // the exception is built lazily, without the GIL, like the others.
        EngineError::QueueFull {
            scope,
            pending,
            limit,
            retry_after,
        } => QueueFullError::new_err((message, retry_after.as_secs_f64(), scope, pending, limit)),
        EngineError::Store(_) => DatabaseError::new_err(message),
        _ => KernError::new_err(message),
    }
}

/// Registers the exception types on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("KernError", py.get_type::<KernError>())?;
    m.add("NoDatabaseError", py.get_type::<NoDatabaseError>())?;
    m.add("RunNotFoundError", py.get_type::<RunNotFoundError>())?;
    m.add("DefinitionError", py.get_type::<DefinitionError>())?;
    m.add("DatabaseError", py.get_type::<DatabaseError>())?;
    m.add("ShuttingDownError", py.get_type::<ShuttingDownError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("QueueFullError", py.get_type::<QueueFullError>())?;
    Ok(())
}
