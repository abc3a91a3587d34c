//! Kern's run engine: the event model, workflows, and the executor that runs them durably.
//!
//! - [`event`]: what a run's log holds.
//! - [`transcript`]: a run's events as a client shows them, restarts applied.
//! - [`workflow`]: workflow definitions (steps, groups, parallel, conditions, loops, routers)
//!   and their interpreter.
//! - [`engine`]: the [`Engine`](engine::Engine): starting runs in the four modes, claiming,
//!   leases, recovery, cancellation, resumable subscriptions.
//!
//! Layers, lowest first (a module imports only from layers below it; `tests/layers.rs`
//! checks it): the data a run is made of (`event`, `transcript`, the session state, a step's
//! output, `error`), then `engine`, then `workflow` (a component the engine runs, like an
//! agent from `kern-agent`). So the engine never names a workflow type: what it does for
//! every kind of run (session state, step results in events) lives in the data layer.
//!
//! This crate does **not** talk to databases directly (only through
//! [`kern_store::Store`]), call model providers, or know HTTP.

pub mod engine;
mod error;
pub mod event;
mod session_state;
mod step_output;
pub mod transcript;
pub mod workflow;

pub use error::{EngineError, EngineResult};
pub use kern_store as store;

/// The message of a caught panic.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}
