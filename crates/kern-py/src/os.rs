//! `kern.os.AgentOS`'s server: Kern's AgentOS-compatible HTTP server (`kern-server`) over the
//! components a Python program defined.
//!
//! The Python side owns the lifecycle (it waits for Ctrl-C or SIGTERM in the main thread and
//! then calls [`Server::stop`]), so that Python's own signal handling stays intact; this side
//! binds, serves on the runtime, and on stop does what `kern serve` does: no new connections,
//! running runs get the grace, the rest are handed back, streams end.

use crate::component::{Component, Engine};
use crate::errors::KernError;
use crate::runtime::{block_on, runtime};
use kern_server::AgentOs;
use pyo3::prelude::*;
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How [`Server::start`] configures the server: a dict from `kern.os.AgentOS`, every key
/// optional.
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// The OS's name in `/config`.
    name: Option<String>,
    /// The OS's description in `/config`.
    description: Option<String>,
    /// The OS's id in `/config`.
    os_id: Option<String>,
    /// The bearer token every route but `/health` requires (none or empty: open).
    security_key: Option<String>,
    /// Seconds running runs get to finish when the server stops; the rest are handed back.
    shutdown_grace: f64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            name: None,
            description: None,
            os_id: None,
            security_key: None,
            shutdown_grace: 10.0,
        }
    }
}

impl ServerOptions {
    /// Reads the dict (none: every default); an unknown key or a value of the wrong type is a
    /// `ValueError` that names it (the Python package builds the dict, so this is its bug).
    fn from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(obj) = obj else {
            return Ok(Self::default());
        };
        let json = crate::convert::to_json(obj, "options")?;
        serde_json::from_value(json)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("ServerOptions: {e}")))
    }
}

/// A running AgentOS server.
#[pyclass(module = "kern._kern", frozen)]
pub struct Server {
    url: String,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

#[pymethods]
impl Server {
    /// Registers `components` on `engine` and starts serving them on `host:port` (0: any free
    /// port), as `options` say ([`ServerOptions`]). Returns once the socket is bound.
    #[staticmethod]
    #[pyo3(signature = (engine, components, host, port, options = None))]
    fn start(
        py: Python<'_>,
        engine: PyRef<'_, Engine>,
        components: Vec<PyRef<'_, Component>>,
        host: String,
        port: u16,
        options: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let options = ServerOptions::from_py(options.as_ref())?;
        let ServerOptions {
            name,
            description,
            os_id,
            security_key,
            shutdown_grace,
        } = options;
        let core = engine.core().clone();
        for c in &components {
            core.register_replacing(c.inner().clone());
        }
        let mut builder =
            AgentOs::builder(core).shutdown_grace(Duration::from_secs_f64(shutdown_grace.max(0.0)));
        if let Some(n) = name {
            builder = builder.name(n);
        }
        if let Some(d) = description {
            builder = builder.description(d);
        }
        if let Some(id) = os_id {
            builder = builder.os_id(id);
        }
        if let Some(key) = security_key.filter(|k| !k.is_empty()) {
            builder = builder.security_key(key);
        }
        let os = builder.build();
        let addr = format!("{host}:{port}");
        let listener = block_on(
            py,
            async move { tokio::net::TcpListener::bind(&addr).await },
        )?
        .map_err(|e| KernError::new_err(format!("could not listen on {host}:{port}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| KernError::new_err(e.to_string()))?;
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let task = runtime()?.spawn(async move {
            os.serve_with_shutdown(listener, async move { signal.cancelled().await })
                .await
        });
        Ok(Self {
            url: format!("http://{local}"),
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// The server's base URL, `http://host:port`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Whether it is still serving.
    fn is_running(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Stops: no new connections, running runs get the shutdown grace, the rest are handed
    /// back to the queue, open streams end. Waits until done.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            match block_on(py, task)? {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(KernError::new_err(format!("the server failed: {e}"))),
                Err(e) => return Err(KernError::new_err(format!("the server task failed: {e}"))),
            }
        }
        Ok(())
    }
}
