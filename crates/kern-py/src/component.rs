//! The Python-facing handles: `Engine` (one per database and process), `Component` (a
//! compiled agent, team or workflow, bound to an engine or run on a throwaway one), and
//! `EventStream` (a run's events, caught up then live).
//!
//! Every method has an awaitable form (for `async` callers, resolved on the caller's loop)
//! and a synchronous one (`*_sync`, which waits with the interpreter released). Run records
//! cross as dicts (the store's `RunRecord` as JSON); events as their stored JSON text, which
//! the package parses with `json.loads`.

use crate::convert::{to_json, to_py};
use crate::errors::{engine_error, DatabaseError, KernError};
use crate::runtime::{awaitable, block_on, runtime};
use crate::spec;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use kern_core::engine::{
    CancelOutcome, Component as CoreComponent, Engine as CoreEngine, RunRequest,
};
use kern_core::EngineError;
use kern_store::{RunFilter, RunId, RunRecord, RunStatus};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, OnceCell};

fn run_id(id: &str) -> PyResult<RunId> {
    id.parse()
        .map_err(|_| PyValueError::new_err(format!("{id:?} is not a run id (a UUID)")))
}

fn record_to_py(py: Python<'_>, record: &RunRecord) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(record).map_err(|e| KernError::new_err(e.to_string()))?;
    Ok(to_py(py, &value)?.unbind())
}

fn optional_record(py: Python<'_>, record: Option<RunRecord>) -> PyResult<Py<PyAny>> {
    match record {
        Some(r) => record_to_py(py, &r),
        None => Ok(py.None()),
    }
}

/// How [`Engine::open`] sets up the engine: a dict from the Python package
/// (`kern._runtime._engine_settings`, from `KERN_*` variables), every key optional.
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Whether this process executes runs (false: it only starts and reads them).
    executor: bool,
    /// At most this many runs executing at once in this process.
    max_concurrent_runs: Option<usize>,
    /// How long (seconds) a run stays claimed by this process after its last heartbeat: after
    /// a crash, another process (or this one restarted) resumes it once the lease runs out.
    lease: Option<f64>,
    /// A background start beyond this many pending runs raises `QueueFullError` (with
    /// `retry_after`) instead of queueing.
    max_pending: Option<usize>,
    /// The same bound per agent, team or workflow.
    max_pending_per_component: Option<usize>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            executor: true,
            max_concurrent_runs: None,
            lease: None,
            max_pending: None,
            max_pending_per_component: None,
        }
    }
}

impl EngineSettings {
    /// Reads the dict (none: every default); an unknown key or a value of the wrong type is a
    /// `ValueError` that names it (the Python package builds the dict, so this is its bug).
    fn from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(obj) = obj else {
            return Ok(Self::default());
        };
        let json = crate::convert::to_json(obj, "settings")?;
        serde_json::from_value(json)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("EngineSettings: {e}")))
    }
}

/// A database and the executor that runs its runs in this process.
#[pyclass(module = "kern._kern", frozen)]
pub struct Engine {
    inner: CoreEngine,
    url: String,
}

#[pymethods]
impl Engine {
    /// Opens (creating if needed) the database at `url` (a SQLite path or a `postgres://`
    /// URL) and starts an executor for it in this process, as `settings` say (see
    /// [`EngineSettings`]: a dict whose keys are all optional).
    #[staticmethod]
    #[pyo3(signature = (url, settings = None))]
    fn open(py: Python<'_>, url: String, settings: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let settings = EngineSettings::from_py(settings.as_ref())?;
        let EngineSettings {
            executor,
            max_concurrent_runs,
            lease,
            max_pending,
            max_pending_per_component,
        } = settings;
        let lease = match lease {
            None => None,
            Some(s) if s.is_finite() && s >= 0.3 => Some(std::time::Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "lease must be at least 0.3 seconds, got {s}"
                )))
            }
        };
        let target = url.clone();
        let engine = block_on(py, async move {
            let store = kern_store::connect(&target).await?;
            let mut builder = CoreEngine::builder(store).executor(executor);
            if let Some(n) = max_concurrent_runs {
                builder = builder.max_concurrent_runs(n);
            }
            if let Some(lease) = lease {
                builder = builder.lease(lease);
            }
            if let Some(n) = max_pending {
                builder = builder.max_pending(n);
            }
            if let Some(n) = max_pending_per_component {
                builder = builder.max_pending_per_component(n);
            }
            Ok::<_, kern_store::StoreError>(builder.build())
        })?
        .map_err(|e| DatabaseError::new_err(format!("could not open the database {url:?}: {e}")))?;
        Ok(Self { inner: engine, url })
    }

    /// The database URL (or path) it was opened with.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// How many runs this process is executing now.
    fn local_run_count(&self) -> usize {
        self.inner.local_run_count()
    }

    /// Stops taking runs, lets running ones go on for `grace` seconds, then hands the rest
    /// back to the queue (they resume on the next start, or in another process). A stop is
    /// not a failure: no run is marked failed.
    #[pyo3(signature = (grace = 10.0))]
    fn shutdown(&self, py: Python<'_>, grace: f64) -> PyResult<()> {
        let engine = self.inner.clone();
        block_on(py, async move {
            engine
                .shutdown(Duration::from_secs_f64(grace.max(0.0)))
                .await
        })
    }

    /// One run by id (any component), as a dict, or None.
    fn get_run_sync(&self, py: Python<'_>, run_id: &str) -> PyResult<Py<PyAny>> {
        let (engine, id) = (self.inner.clone(), self::run_id(run_id)?);
        let record =
            block_on(py, async move { engine.get_run(id).await })?.map_err(engine_error)?;
        optional_record(py, record)
    }

    fn __repr__(&self) -> String {
        format!("<kern Engine {:?}>", self.url)
    }
}

impl Engine {
    pub fn core(&self) -> &CoreEngine {
        &self.inner
    }
}

/// A compiled agent, team or workflow.
#[pyclass(module = "kern._kern", frozen)]
pub struct Component {
    inner: Arc<dyn CoreComponent>,
    /// The engine its runs go to: the database's, or a throwaway one made on first use
    /// (foreground runs only).
    engine: OnceCell<CoreEngine>,
    durable: bool,
}

impl Component {
    /// The engine component.
    pub fn inner(&self) -> &Arc<dyn CoreComponent> {
        &self.inner
    }

    fn bind(inner: Arc<dyn CoreComponent>, engine: Option<&Engine>) -> Self {
        let cell = OnceCell::new();
        if let Some(e) = engine {
            // A script defining the same component again (same kind and id) replaces it:
            // runs claimed from now on use the newest definition.
            e.inner.register_replacing(inner.clone());
            let _ = cell.set(e.inner.clone());
        }
        Self {
            inner,
            engine: cell,
            durable: engine.is_some(),
        }
    }

    async fn engine(&self) -> Result<CoreEngine, EngineError> {
        let inner = self.inner.clone();
        self.engine
            .get_or_try_init(|| async move {
                let engine = CoreEngine::ephemeral().await?;
                engine.register(inner)?;
                Ok::<_, EngineError>(engine)
            })
            .await
            .cloned()
    }

    fn durable_engine(&self) -> PyResult<CoreEngine> {
        match (self.durable, self.engine.get()) {
            (true, Some(e)) => Ok(e.clone()),
            _ => Err(engine_error(EngineError::NoDatabase(self.inner.kind()))),
        }
    }

    fn owns(&self, record: &RunRecord) -> bool {
        record.kind == self.inner.kind() && record.component_id == self.inner.id()
    }
}

/// Builds a run request from the package's dict: `{input, session_id, user_id, run_id,
/// additional_data, session_state, metadata, dependencies}`.
fn request(doc: &Bound<'_, PyDict>) -> PyResult<RunRequest> {
    let mut req = RunRequest::new(match doc.get_item("input")? {
        Some(v) => to_json(&v, "the run's input")?,
        None => Value::Null,
    });
    let text = |key: &str| -> PyResult<Option<String>> {
        match doc.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
            _ => Ok(None),
        }
    };
    let json = |key: &str, what: &str| -> PyResult<Option<Value>> {
        match doc.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(to_json(&v, what)?)),
            _ => Ok(None),
        }
    };
    req.session_id = text("session_id")?;
    req.user_id = text("user_id")?;
    req.run_id = text("run_id")?.map(|id| self::run_id(&id)).transpose()?;
    req.additional_data = json("additional_data", "additional_data")?;
    req.session_state = json("session_state", "session_state")?;
    req.metadata = json("metadata", "metadata")?;
    req.dependencies = json("dependencies", "dependencies")?;
    Ok(req)
}

#[pymethods]
impl Component {
    /// Compiles a workflow definition (see `kern/_spec.py`), registered on `engine` if given.
    #[staticmethod]
    #[pyo3(signature = (spec, engine = None))]
    fn workflow(spec: &Bound<'_, PyDict>, engine: Option<PyRef<'_, Engine>>) -> PyResult<Self> {
        Ok(Self::bind(spec::workflow(spec)?, engine.as_deref()))
    }

    /// Compiles an agent definition.
    #[staticmethod]
    #[pyo3(signature = (spec, engine = None))]
    fn agent(spec: &Bound<'_, PyDict>, engine: Option<PyRef<'_, Engine>>) -> PyResult<Self> {
        Ok(Self::bind(spec::agent(spec)?, engine.as_deref()))
    }

    /// Compiles a team definition.
    #[staticmethod]
    #[pyo3(signature = (spec, engine = None))]
    fn team(spec: &Bound<'_, PyDict>, engine: Option<PyRef<'_, Engine>>) -> PyResult<Self> {
        Ok(Self::bind(spec::team(spec)?, engine.as_deref()))
    }

    /// `"agent"`, `"team"` or `"workflow"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().as_str()
    }

    /// The component's id.
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }

    /// The component's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether it has a database (background runs, get_run across processes).
    #[getter]
    fn durable(&self) -> bool {
        self.durable
    }

    /// Starts a background run: one durable insert, status pending. Awaitable → record dict.
    fn start<'py>(
        self_: Py<Self>,
        py: Python<'py>,
        doc: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = request(doc)?;
        let (engine, kind, id) = {
            let me = self_.get();
            (
                me.durable_engine()?,
                me.inner.kind(),
                me.inner.id().to_owned(),
            )
        };
        awaitable(
            py,
            async move { engine.start(kind, &id, req).await.map_err(engine_error) },
            |py, record| record_to_py(py, &record),
        )
    }

    /// [`start`](Self::start), waiting.
    fn start_sync(&self, py: Python<'_>, doc: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let req = request(doc)?;
        let (engine, kind, id) = (
            self.durable_engine()?,
            self.inner.kind(),
            self.inner.id().to_owned(),
        );
        let record = block_on(py, async move { engine.start(kind, &id, req).await })?
            .map_err(engine_error)?;
        record_to_py(py, &record)
    }

    /// Runs in the foreground to the end. Awaitable → record dict. Cancelling the awaitable
    /// cancels the run.
    fn run<'py>(
        self_: Py<Self>,
        py: Python<'py>,
        doc: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = request(doc)?;
        awaitable(
            py,
            async move {
                let me = self_.get();
                let engine = me.engine().await.map_err(engine_error)?;
                engine
                    .run(me.inner.kind(), me.inner.id(), req)
                    .await
                    .map_err(engine_error)
            },
            |py, record| record_to_py(py, &record),
        )
    }

    /// [`run`](Self::run), waiting.
    fn run_sync(self_: Py<Self>, py: Python<'_>, doc: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let req = request(doc)?;
        let record = block_on(py, async move {
            let me = self_.get();
            let engine = me.engine().await?;
            engine.run(me.inner.kind(), me.inner.id(), req).await
        })?
        .map_err(engine_error)?;
        record_to_py(py, &record)
    }

    /// A stream of a new run's events: in the background (the run goes on if the stream is
    /// dropped) or in the foreground (dropping or closing the stream cancels the run). The
    /// run starts when the stream is first read.
    fn stream(self_: Py<Self>, doc: &Bound<'_, PyDict>, background: bool) -> PyResult<EventStream> {
        let req = request(doc)?;
        if background {
            self_.get().durable_engine()?;
        }
        let start: StartFn = Box::new(move || {
            async move {
                let me = self_.get();
                let (kind, id) = (me.inner.kind(), me.inner.id().to_owned());
                if background {
                    let engine = me
                        .durable_engine()
                        .map_err(|_| EngineError::NoDatabase(kind))?;
                    let (record, events) = engine.start_stream(kind, &id, req).await?;
                    Ok((record, events.map(|e| e.map(|e| e.payload)).boxed()))
                } else {
                    let engine = me.engine().await?;
                    let stream = engine.run_stream(kind, &id, req).await?;
                    let record = stream.record().clone();
                    Ok((
                        record,
                        stream.into_raw().map(|e| e.map(|e| e.payload)).boxed(),
                    ))
                }
            }
            .boxed()
        });
        Ok(EventStream::new(StreamState::NotStarted(start)))
    }

    /// The events of run `run_id` after index `after` (all when None), then live to its end.
    #[pyo3(signature = (run_id, after = None))]
    fn subscribe(self_: Py<Self>, run_id: &str, after: Option<u64>) -> PyResult<EventStream> {
        let id = self::run_id(run_id)?;
        let start: StartFn = Box::new(move || {
            async move {
                let me = self_.get();
                let engine = me.engine().await?;
                let record = engine
                    .get_run(id)
                    .await?
                    .filter(|r| me.owns(r))
                    .ok_or(EngineError::RunNotFound(id))?;
                let events = engine.subscribe(id, after).await?;
                Ok((record, events.map(|e| e.map(|e| e.payload)).boxed()))
            }
            .boxed()
        });
        Ok(EventStream::new(StreamState::NotStarted(start)))
    }

    /// Continues a paused run of this component with `decisions` (the paused tool executions
    /// with `confirmed`, user input values or `result`), then waits until it settles again
    /// (completed, failed, cancelled, or paused once more). Awaitable → record dict.
    fn continue_run<'py>(
        self_: Py<Self>,
        py: Python<'py>,
        run_id: &str,
        decisions: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (id, decisions) = (self::run_id(run_id)?, to_json(decisions, "the decisions")?);
        awaitable(
            py,
            async move {
                continue_and_wait(self_.get(), id, decisions)
                    .await
                    .map_err(engine_error)
            },
            |py, record| record_to_py(py, &record),
        )
    }

    /// [`continue_run`](Self::continue_run), waiting.
    fn continue_run_sync(
        self_: Py<Self>,
        py: Python<'_>,
        run_id: &str,
        decisions: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let (id, decisions) = (self::run_id(run_id)?, to_json(decisions, "the decisions")?);
        let record = block_on(py, async move {
            continue_and_wait(self_.get(), id, decisions).await
        })?
        .map_err(engine_error)?;
        record_to_py(py, &record)
    }

    /// Continues a paused run and streams its events from `RunContinued` to where it settles.
    fn continue_stream(
        self_: Py<Self>,
        run_id: &str,
        decisions: &Bound<'_, PyAny>,
    ) -> PyResult<EventStream> {
        let (id, decisions) = (self::run_id(run_id)?, to_json(decisions, "the decisions")?);
        let start: StartFn = Box::new(move || {
            async move {
                let me = self_.get();
                let engine = me.engine().await?;
                let run = engine
                    .get_run(id)
                    .await?
                    .filter(|r| me.owns(r))
                    .ok_or(EngineError::RunNotFound(id))?;
                let from = run.event_count;
                let record = engine.continue_run(id, decisions).await?;
                let events = engine.subscribe(id, from.checked_sub(1)).await?;
                Ok((record, events.map(|e| e.map(|e| e.payload)).boxed()))
            }
            .boxed()
        });
        Ok(EventStream::new(StreamState::NotStarted(start)))
    }

    /// One run of this component as a dict, or None (unknown id, or another component's).
    fn get_run_sync(self_: Py<Self>, py: Python<'_>, run_id: &str) -> PyResult<Py<PyAny>> {
        let id = self::run_id(run_id)?;
        let record = block_on(py, async move {
            let me = self_.get();
            let engine = me.engine().await?;
            Ok::<_, EngineError>(engine.get_run(id).await?.filter(|r| me.owns(r)))
        })?
        .map_err(engine_error)?;
        optional_record(py, record)
    }

    /// [`get_run_sync`](Self::get_run_sync), awaitable.
    fn get_run<'py>(self_: Py<Self>, py: Python<'py>, run_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let id = self::run_id(run_id)?;
        awaitable(
            py,
            async move {
                let me = self_.get();
                let engine = me.engine().await.map_err(engine_error)?;
                Ok(engine
                    .get_run(id)
                    .await
                    .map_err(engine_error)?
                    .filter(|r| me.owns(r)))
            },
            optional_record,
        )
    }

    /// Waits until run `run_id` has finished; awaitable → record dict.
    fn wait<'py>(self_: Py<Self>, py: Python<'py>, run_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let id = self::run_id(run_id)?;
        awaitable(
            py,
            async move {
                let me = self_.get();
                let engine = me.engine().await.map_err(engine_error)?;
                engine.wait(id).await.map_err(engine_error)
            },
            |py, record| record_to_py(py, &record),
        )
    }

    /// Cancels a run of this component: `"cancelled"` (it had not started), `"requested"`
    /// (its executor is stopping it) or `"finished:<status>"` (nothing to do).
    fn cancel_run_sync(self_: Py<Self>, py: Python<'_>, run_id: &str) -> PyResult<String> {
        let id = self::run_id(run_id)?;
        let outcome =
            block_on(py, async move { cancel(self_.get(), id).await })?.map_err(engine_error)?;
        Ok(outcome)
    }

    /// [`cancel_run_sync`](Self::cancel_run_sync), awaitable.
    fn cancel_run<'py>(
        self_: Py<Self>,
        py: Python<'py>,
        run_id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = self::run_id(run_id)?;
        awaitable(
            py,
            async move { cancel(self_.get(), id).await.map_err(engine_error) },
            |py, outcome| Ok(PyString::new(py, &outcome).into_any().unbind()),
        )
    }

    /// Runs of this component, newest first: `session_id` and `status` filter.
    #[pyo3(signature = (session_id = None, status = None, limit = 100))]
    fn list_runs_sync(
        self_: Py<Self>,
        py: Python<'_>,
        session_id: Option<String>,
        status: Option<String>,
        limit: usize,
    ) -> PyResult<Py<PyAny>> {
        let status = status
            .map(|s| s.to_ascii_lowercase().parse::<RunStatus>())
            .transpose()
            .map_err(|e| PyValueError::new_err(format!("unknown run status: {e}")))?;
        let records = block_on(py, async move {
            let me = self_.get();
            let engine = me.engine().await?;
            let filter = RunFilter {
                session_id,
                status,
                kind: Some(me.inner.kind()),
                component_id: Some(me.inner.id().to_owned()),
                limit: Some(limit),
                newest_first: true,
                ..Default::default()
            };
            engine.list_runs(&filter).await
        })?
        .map_err(engine_error)?;
        let list = PyList::empty(py);
        for r in &records {
            list.append(record_to_py(py, r)?)?;
        }
        Ok(list.into_any().unbind())
    }

    fn __repr__(&self) -> String {
        format!("<kern {} {:?}>", self.inner.kind(), self.inner.id())
    }
}

async fn continue_and_wait(
    me: &Component,
    id: RunId,
    decisions: Value,
) -> Result<RunRecord, EngineError> {
    let engine = me.engine().await?;
    match engine.get_run(id).await? {
        Some(r) if me.owns(&r) => {}
        _ => return Err(EngineError::RunNotFound(id)),
    }
    engine.continue_run(id, decisions).await?;
    engine.wait(id).await
}

async fn cancel(me: &Component, id: RunId) -> Result<String, EngineError> {
    let engine = me.engine().await?;
    match engine.get_run(id).await? {
        Some(r) if me.owns(&r) => {}
        _ => return Err(EngineError::RunNotFound(id)),
    }
    Ok(match engine.cancel_run(id).await? {
        CancelOutcome::Cancelled => "cancelled".into(),
        CancelOutcome::Requested => "requested".into(),
        CancelOutcome::AlreadyFinished(status) => format!("finished:{status}"),
    })
}

type Payloads = BoxStream<'static, Result<Arc<str>, EngineError>>;
type StartFn = Box<
    dyn FnOnce() -> futures::future::BoxFuture<'static, Result<(RunRecord, Payloads), EngineError>>
        + Send,
>;

enum StreamState {
    NotStarted(StartFn),
    Running(Payloads),
    Done,
}

/// The most events one read hands over (whatever is ready, at least one).
const BATCH: usize = 256;

/// A run's events: stored JSON strings, in index order, to the run's terminal event.
#[pyclass(module = "kern._kern", frozen)]
pub struct EventStream {
    state: Arc<AsyncMutex<StreamState>>,
    record: std::sync::Mutex<Option<RunRecord>>,
}

impl EventStream {
    fn new(state: StreamState) -> Self {
        Self {
            state: Arc::new(AsyncMutex::new(state)),
            record: std::sync::Mutex::new(None),
        }
    }
}

/// Reads the next events that are ready (at least one, unless the stream ended).
async fn next_batch(
    state: &AsyncMutex<StreamState>,
) -> Result<(Vec<Arc<str>>, Option<RunRecord>), EngineError> {
    let mut st = state.lock().await;
    let mut started = None;
    if let StreamState::NotStarted(_) = &*st {
        let StreamState::NotStarted(start) = std::mem::replace(&mut *st, StreamState::Done) else {
            unreachable!()
        };
        let (record, events) = start().await?;
        started = Some(record);
        *st = StreamState::Running(events);
    }
    let StreamState::Running(events) = &mut *st else {
        return Ok((Vec::new(), started));
    };
    let mut out = Vec::new();
    match events.next().await {
        None => {
            *st = StreamState::Done;
            return Ok((out, started));
        }
        Some(item) => out.push(item?),
    }
    while out.len() < BATCH {
        match events.next().now_or_never() {
            Some(Some(item)) => out.push(item?),
            Some(None) => {
                *st = StreamState::Done;
                break;
            }
            None => break,
        }
    }
    Ok((out, started))
}

fn batch_to_py(
    py: Python<'_>,
    stream: &EventStream,
    batch: (Vec<Arc<str>>, Option<RunRecord>),
) -> PyResult<Py<PyAny>> {
    let (events, started) = batch;
    if let Some(r) = started {
        *stream.record.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    }
    let list = PyList::empty(py);
    for e in &events {
        list.append(PyString::new(py, e))?;
    }
    Ok(list.into_any().unbind())
}

#[pymethods]
impl EventStream {
    /// Awaitable → a list of the next events' JSON (an empty list once the run ended).
    fn next_batch<'py>(self_: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self_.get().state.clone();
        awaitable(
            py,
            async move { next_batch(&state).await.map_err(engine_error) },
            move |py, batch| batch_to_py(py, self_.get(), batch),
        )
    }

    /// [`next_batch`](Self::next_batch), waiting.
    fn next_batch_sync(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let state = self.state.clone();
        let batch = block_on(py, async move { next_batch(&state).await })?.map_err(engine_error)?;
        batch_to_py(py, self, batch)
    }

    /// The run's record as it was when the stream started (None before the first read).
    fn started_record(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let record = self
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        optional_record(py, record)
    }

    /// Stops reading: a foreground run is cancelled; a background run goes on.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let state = self.state.clone();
        let rt = runtime()?;
        py.detach(|| {
            rt.spawn(async move {
                *state.lock().await = StreamState::Done;
            })
        });
        Ok(())
    }
}
