//! `kern._kern`: the Rust engine under the `kern` Python package.
//!
//! This module is private to the package (`python/kern`), which gives it Agno's names and
//! shapes; users import `kern.workflow`, `kern.agent`, … and never this. What lives here:
//! - [`runtime`]: the tokio runtime in a Python process and the bridges to asyncio;
//! - [`callable`]: user Python code called by the engine (steps, tools, evaluators);
//! - [`spec`]: compiling the package's definitions into engine components;
//! - [`component`]: the `Engine`, `Component` and `EventStream` handles;
//! - [`os`]: the AgentOS HTTP server over Python-defined components;
//! - [`convert`]: JSON across the boundary; [`errors`]: the exceptions.
//!
//! It does **not** hold behaviour of its own: runs, events, storage and recovery are the
//! engine's (`kern-core`), exactly as for Rust users.

mod bridge;
mod callable;
mod component;
mod convert;
mod errors;
mod os;
mod runtime;
mod spec;

use pyo3::prelude::*;

/// Sends the engine's logs to stderr, filtered by `KERN_LOG` (e.g. `info`, `kern_core=debug`;
/// default `warn`). Called once by the package at import.
#[pyfunction]
fn _init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KERN_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

#[pymodule]
fn _kern(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<component::Engine>()?;
    m.add_class::<component::Component>()?;
    m.add_class::<component::EventStream>()?;
    m.add_class::<os::Server>()?;
    m.add_function(wrap_pyfunction!(runtime::_set_user_loop, m)?)?;
    m.add_function(wrap_pyfunction!(_init_logging, m)?)?;
    errors::register(m)?;
    Ok(())
}
