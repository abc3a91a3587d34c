//! The engine: starts, executes, recovers, cancels and streams runs of registered components.
//!
//! An [`Engine`] wraps a [`Store`] and, unless built as a client only, an executor: background
//! tasks that claim pending runs from the store (the runs table is the queue), renew their
//! leases, deliver cancels, and drive each run to a terminal status. Any number of engines in
//! any number of processes may share one database; the store's fencing keeps them from
//! stepping on each other.
//!
//! ```
//! use kern_core::engine::{Engine, RunRequest};
//! use kern_core::workflow::{Step, StepOutput, Workflow};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path().join("kern.db").to_str().unwrap()).await?;
//! let workflow = Workflow::builder("greet")
//!     .step(Step::new("hello", |input| async move {
//!         Ok(StepOutput::text(format!("hello, {}", input.input_str())))
//!     }))
//!     .db(&engine)
//!     .build()?;
//! let started = workflow.run_background("world").await?; // returns at once, status pending
//! let done = engine.wait(started.run_id).await?;
//! assert_eq!(done.content().unwrap(), "hello, world");
//! # Ok(()) }
//! ```

mod bus;
mod context;
mod executor;
mod handle;
mod log;
pub mod metrics;
mod reads;
mod restart;
mod run_handle;
mod sessions;
mod views;

pub use bus::EventStream;
pub use context::{RunContext, FINAL_SCOPE};
pub use handle::ComponentHandle;
pub use metrics::{EngineMetrics, MetricsSnapshot};
pub use run_handle::RunHandle;
pub use sessions::SessionPage;

use crate::error::{EngineError, EngineResult};
use crate::event::{Event, EventKind};
use async_trait::async_trait;
use futures::{Stream, StreamExt};
use kern_store::{
    checkpoint_json, new_run_id, ComponentKind, Lease, NewEvent, NewRun, RunFilter, RunId,
    RunRecord, RunStatus, Store, StoreError,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// The field of a run's stored input document that holds its component's
/// [`fingerprint`](Component::fingerprint) when the run was created.
pub(crate) const DEFINITION_KEY: &str = "definition";

/// Something the engine can run: a workflow, an agent or a team.
#[async_trait]
pub trait Component: Send + Sync + 'static {
    /// The kind of component.
    fn kind(&self) -> ComponentKind;
    /// Its id (unique per kind within an engine).
    fn id(&self) -> &str;
    /// Its display name.
    fn name(&self) -> &str;
    /// What it does, for listings.
    fn description(&self) -> Option<&str> {
        None
    }
    /// Extra facts for listings and `/config` (a workflow's steps, an agent's model and
    /// tools, a team's members), as a JSON object.
    fn info(&self) -> Value {
        Value::Object(Map::new())
    }
    /// The longest a run may take, from its first start (recoveries included); `None` for the
    /// engine's default.
    fn timeout(&self) -> Option<Duration> {
        None
    }
    /// A digest of the parts of the definition that a run's checkpoints depend on (a
    /// workflow's tree of step names and types), stored with each run. A run resumed after a
    /// crash by a process whose definition has another digest fails with an error that says
    /// so, instead of resuming from checkpoints that no longer fit. `None` (the default): no
    /// check.
    fn fingerprint(&self) -> Option<String> {
        None
    }
    /// The event a run of this component begins with (a workflow's `WorkflowStarted`, an
    /// agent's `RunStarted`). The engine emits it, not [`execute`](Self::execute): before
    /// `execute` is called on a run that starts afresh (never on a resumed one), and for a
    /// foreground run in the same transaction as the run's insert, so that its stream's first
    /// event is durable with one commit instead of two. `None` (the default): no such event.
    fn start_event(&self) -> Option<EventKind> {
        None
    }
    /// Whether a completed run's [`ComponentOutput::output`] is always exactly the own fields
    /// of its [`completed`](ComponentOutput::completed) event, both serialized from the same
    /// values (a workflow's are). The store then keeps that text once, as the output, without
    /// parsing it to compare the two ([`RunFinish::output_in_event`](kern_store::RunFinish)).
    /// Default `false`: the store compares. Debug builds check the claim on every write.
    fn output_is_completion(&self) -> bool {
        false
    }
    /// Executes one run to its outcome. The engine writes the start event (see
    /// [`start_event`](Self::start_event)), the terminal status and event; the component
    /// emits everything between. A cancelled run's future is dropped.
    async fn execute(&self, ctx: RunContext) -> Result<ComponentOutput, RunFailure>;
}

/// What a successful run produced.
#[derive(Clone, Debug)]
pub struct ComponentOutput {
    /// Stored as the run's output (an object with at least `content`; for a pause, what the
    /// run waits for).
    pub output: Value,
    /// The terminal event announcing success (`WorkflowCompleted`, `RunCompleted`, …), or for
    /// a pause its `RunPaused` event.
    pub completed: EventKind,
    /// `Some` when the run pauses for a human instead of completing (see [`Pause`]).
    pub pause: Option<Pause>,
}

impl ComponentOutput {
    /// A run that paused: it waits, holding no executor, until
    /// [`Engine::continue_run`] queues it again; it then resumes from its checkpoints, where
    /// the decisions are (under [`CONTINUE_KEY`]). `event` is its `RunPaused`.
    pub fn paused(output: Value, event: EventKind, pause: Pause) -> Self {
        Self {
            output,
            completed: event,
            pause: Some(pause),
        }
    }
}

/// How a paused run waits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pause {
    /// How long it may wait before it fails (not continued in time); `None`: as long as it
    /// takes.
    pub expires_after: Option<Duration>,
}

/// The checkpoint that holds the decisions of the latest continuation of a paused run (the
/// JSON given to [`Engine::continue_run`]).
pub const CONTINUE_KEY: &str = "continue";

/// The checkpoint written with a pause (`{"expires_at": ms}`) and cleared (null) by its
/// continuation: a run claimed while it is set was claimed because its pause expired.
pub(crate) const PAUSE_KEY: &str = "pause";

/// The checkpoint an operator's requeue ([`Engine::requeue`]) writes: the run's attempt when
/// it was requeued. Work delivered at most once (an at-most-once step or tool call) whose
/// durable mark was written at or before that attempt may run again: the operator decided so.
pub const REQUEUED_ATTEMPT_KEY: &str = "requeued_attempt";

/// The checkpoint holding the index of the latest `RunContinued` event.
pub(crate) const CONTINUED_AT_KEY: &str = "continued_at";

/// Why a run failed: recorded on the run and in its terminal error event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFailure(pub String);

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Settings of an engine's executor.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Whether this engine claims and executes background runs (false: a client that only
    /// starts, inspects and cancels runs). Default true.
    pub executor: bool,
    /// How many claimed runs execute at once in this process; further runs wait as `pending`
    /// in the database. Default 1024.
    pub max_concurrent_runs: usize,
    /// Backpressure for the whole database: a background start ([`Engine::start`]) is
    /// refused with [`EngineError::QueueFull`] while this many runs are `pending` (waiting
    /// for an executor), counted over every process sharing the database. Foreground and
    /// child runs never wait in the queue and are not limited. `None` (the default): no
    /// limit; `Some(0)` refuses every background start.
    ///
    /// The count and the insert are not one transaction, so concurrent starts that all
    /// passed the check may overshoot the limit by at most their number (starts in flight
    /// at the same moment); the limit never lets the queue grow without bound.
    pub max_pending: Option<usize>,
    /// Like [`max_pending`](Self::max_pending), for each component (kind and id) on its own.
    pub max_pending_per_component: Option<usize>,
    /// How long a claim lasts without renewal. A crashed owner's runs are recovered about one
    /// lease after its last heartbeat. Default 15 s.
    pub lease: Duration,
    /// How often leases are renewed. Default a third of the lease.
    pub heartbeat_interval: Duration,
    /// How often the executor looks for claimable runs when nothing woke it (runs started by
    /// other processes without push notifications, expired leases). Default 500 ms.
    pub poll_interval: Duration,
    /// How often the executor checks the database for cancels issued by other processes while
    /// it has runs (cancels issued in-process act at once). Default 25 ms.
    pub cancel_poll_interval: Duration,
    /// How often an idle subscription to a run executing in this process re-checks the store
    /// (live events arrive pushed; this is a safety net). Default 1 s.
    pub subscription_poll_interval: Duration,
    /// How often an idle subscription to a run executing in another process re-checks the
    /// store when the backend has no push notifications (SQLite). Default 100 ms.
    pub remote_poll_interval: Duration,
    /// How many times a run may be claimed after crashes of its owner before it is failed
    /// instead of resumed. Default 5.
    pub max_recoveries: u32,
    /// The default run timeout (`None`: no limit). Components may set their own.
    pub run_timeout: Option<Duration>,
    /// Retention: finished runs (with their events and checkpoints) older than this are
    /// deleted by the executor, checked every tenth of the period (at most hourly). `None`
    /// (the default) keeps everything; nothing else ever deletes events.
    pub retention: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            executor: true,
            max_concurrent_runs: 1024,
            max_pending: None,
            max_pending_per_component: None,
            lease: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
            cancel_poll_interval: Duration::from_millis(25),
            subscription_poll_interval: Duration::from_secs(1),
            remote_poll_interval: Duration::from_millis(100),
            max_recoveries: 5,
            run_timeout: None,
            retention: None,
        }
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    store: Arc<dyn Store>,
    config: EngineConfig,
}

impl EngineBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// See [`EngineConfig::executor`].
    pub fn executor(mut self, on: bool) -> Self {
        self.config.executor = on;
        self
    }

    /// See [`EngineConfig::max_concurrent_runs`].
    pub fn max_concurrent_runs(mut self, n: usize) -> Self {
        self.config.max_concurrent_runs = n.max(1);
        self
    }

    /// See [`EngineConfig::max_pending`].
    pub fn max_pending(mut self, n: usize) -> Self {
        self.config.max_pending = Some(n);
        self
    }

    /// See [`EngineConfig::max_pending_per_component`].
    pub fn max_pending_per_component(mut self, n: usize) -> Self {
        self.config.max_pending_per_component = Some(n);
        self
    }

    /// Sets the lease (see [`EngineConfig::lease`]) and a heartbeat of a third of it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self.config.heartbeat_interval = lease / 3;
        self
    }

    /// See [`EngineConfig::poll_interval`].
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.config.poll_interval = d;
        self
    }

    /// See [`EngineConfig::max_recoveries`].
    pub fn max_recoveries(mut self, n: u32) -> Self {
        self.config.max_recoveries = n;
        self
    }

    /// See [`EngineConfig::retention`].
    pub fn retention(mut self, keep: Duration) -> Self {
        self.config.retention = Some(keep);
        self
    }

    /// See [`EngineConfig::run_timeout`].
    pub fn run_timeout(mut self, d: Duration) -> Self {
        self.config.run_timeout = Some(d);
        self
    }

    /// Starts the engine (its executor tasks run on the current tokio runtime).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn build(self) -> Engine {
        let inner = Arc::new(EngineInner {
            owner: format!(
                "{}-{}",
                std::process::id(),
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
            permits: Arc::new(Semaphore::new(self.config.max_concurrent_runs)),
            store: self.store,
            config: self.config,
            registry: RwLock::new(HashMap::new()),
            local: Mutex::new(HashMap::new()),
            bus: Arc::new(bus::Bus::default()),
            views: Arc::new(views::Views::default()),
            wake_claimer: Arc::new(Notify::new()),
            shutdown: CancellationToken::new(),
            idle: Arc::new(Notify::new()),
            starved: AtomicBool::new(false),
            finished_recently: Mutex::new(HashMap::new()),
            metrics: Arc::new(EngineMetrics::default()),
        });
        let engine = Engine { inner };
        executor::spawn_background_tasks(&engine);
        engine
    }
}

/// Runs components durably. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    store: Arc<dyn Store>,
    config: EngineConfig,
    /// Identifies this executor in leases.
    owner: String,
    registry: RwLock<HashMap<(ComponentKind, String), Arc<dyn Component>>>,
    /// Runs this process is executing.
    local: Mutex<HashMap<RunId, executor::LocalRun>>,
    bus: Arc<bus::Bus>,
    /// What this engine committed for the runs it executes (see `views.rs`).
    views: Arc<views::Views>,
    permits: Arc<Semaphore>,
    wake_claimer: Arc<Notify>,
    shutdown: CancellationToken,
    /// Notified whenever a local run ends (for shutdown).
    idle: Arc<Notify>,
    /// Set when a claim was limited by free permits: pending runs may be waiting, so the
    /// next run to finish wakes the claimer.
    starved: AtomicBool,
    /// Backpressure's throughput readings (runs finished in the last [`RATE_WINDOW`], all or
    /// per component), each kept for a second so that a burst of refused starts reads the
    /// store once.
    finished_recently: Mutex<FinishedRecently>,
    /// This engine's metrics (see [`Engine::metrics`]).
    metrics: Arc<EngineMetrics>,
}

/// Runs finished recently (all: `None`, or one component's), and when that was read.
type FinishedRecently = HashMap<Option<(ComponentKind, String)>, (std::time::Instant, u64)>;

/// How far back the `Retry-After` estimate of a full queue looks for finished runs.
const RATE_WINDOW: Duration = Duration::from_secs(30);

/// What starting a run needs besides the component.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// The input (text or JSON).
    pub input: Value,
    /// The session; a new one is made when `None`.
    pub session_id: Option<String>,
    /// The user.
    pub user_id: Option<String>,
    /// A caller-chosen run id (must be fresh); a UUID v7 is made when `None`.
    pub run_id: Option<RunId>,
    /// The run that starts this one.
    pub parent_run_id: Option<RunId>,
    /// Extra data for steps ([`StepInput::additional_data`](crate::workflow::StepInput)).
    pub additional_data: Option<Value>,
    /// Session state to merge over the session's stored state.
    pub session_state: Option<Value>,
    /// Anything to keep with the run.
    pub metadata: Option<Value>,
    /// Values for the component's context (AgentOS `dependencies`), kept in the input.
    pub dependencies: Option<Value>,
    /// A URL to notify when the run reaches a terminal status (delivered from the store's
    /// durable outbox by the server's webhook dispatcher).
    pub webhook_url: Option<String>,
    /// An idempotency key: starting the same request again with the same key returns the
    /// first run instead of a new one; another request with the same key is refused with
    /// [`EngineError::IdempotencyConflict`].
    pub idempotency: Option<kern_store::Idempotency>,
}

impl RunRequest {
    /// A request with this input.
    pub fn new(input: impl Into<Value>) -> Self {
        Self {
            input: input.into(),
            ..Default::default()
        }
    }

    /// Sets the session.
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Sets the user.
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Sets the additional data.
    pub fn additional_data(mut self, v: Value) -> Self {
        self.additional_data = Some(v);
        self
    }

    /// Sets the initial session state.
    pub fn session_state(mut self, v: Value) -> Self {
        self.session_state = Some(v);
        self
    }

    /// Sets the run id.
    pub fn run_id(mut self, id: RunId) -> Self {
        self.run_id = Some(id);
        self
    }

    /// The stored input document.
    fn input_document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("input".into(), self.input.clone());
        for (k, v) in [
            ("additional_data", &self.additional_data),
            ("session_state", &self.session_state),
            ("metadata", &self.metadata),
            ("dependencies", &self.dependencies),
        ] {
            if let Some(v) = v {
                doc.insert(k.into(), v.clone());
            }
        }
        Value::Object(doc)
    }
}

impl From<&str> for RunRequest {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for RunRequest {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<Value> for RunRequest {
    fn from(v: Value) -> Self {
        Self::new(v)
    }
}

/// What a cancel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The run was still pending: it is now `cancelled` and will never start.
    Cancelled,
    /// The run is running: the request is recorded and its owner is stopping it (at once if
    /// it runs in this process; within the cancel poll interval or a push notification
    /// otherwise).
    Requested,
    /// The run had already finished with this status; nothing changed.
    AlreadyFinished(RunStatus),
}

/// A run's events, typed ([`Event`]), in index order to its terminal event. For a foreground
/// streaming run, dropping the stream before the end cancels the run; for a background run (or
/// a subscription) it only stops reading. [`into_raw`](Self::into_raw) gives the stored JSON
/// frames instead.
pub struct RunStream {
    record: RunRecord,
    events: EventStream,
    guard: CancelOnDrop,
}

impl RunStream {
    /// A stream whose dropping leaves the run alone (background runs, subscriptions).
    pub(crate) fn detached(record: RunRecord, events: EventStream, engine: &Engine) -> Self {
        Self {
            guard: CancelOnDrop {
                engine: engine.clone(),
                run_id: record.run_id,
                armed: false,
            },
            record,
            events,
        }
    }

    /// The run as it was when the stream started.
    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.record.run_id
    }

    /// The stored events as they are (raw JSON payloads, for serving them unchanged), still
    /// cancelling a foreground run if dropped before its end.
    pub fn into_raw(self) -> EventStream {
        let RunStream { events, guard, .. } = self;
        Box::pin(futures::stream::unfold(
            (events, guard),
            |(mut events, mut guard)| async move {
                match events.next().await {
                    Some(item) => Some((item, (events, guard))),
                    None => {
                        guard.disarm();
                        None
                    }
                }
            },
        ))
    }
}

impl Stream for RunStream {
    type Item = EngineResult<Event>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.events.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.guard.disarm();
        }
        polled.map(|o| o.map(|r| r.and_then(parse_event)))
    }
}

fn parse_event(e: kern_store::StoredEvent) -> EngineResult<Event> {
    Event::from_json(&e.payload).map_err(|err| {
        EngineError::Store(StoreError::Corrupt(format!(
            "event {} is not valid: {err}",
            e.event_index
        )))
    })
}

/// Cancels a local run when dropped, unless disarmed.
struct CancelOnDrop {
    engine: Engine,
    run_id: RunId,
    armed: bool,
}

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.engine.cancel_local(
                self.run_id,
                executor::StopReason::Cancelled(Some("the caller went away".into())),
            );
        }
    }
}

/// What [`Engine::start_foreground`] started.
struct Foreground {
    record: RunRecord,
    /// Cancels the run if dropped armed: armed when the run is ours to drive.
    guard: CancelOnDrop,
    /// The task driving the run; `None` when an idempotency key returned someone else's run.
    handle: Option<tokio::task::JoinHandle<()>>,
    /// The run's events from the first, when asked for.
    events: Option<EventStream>,
}

impl Engine {
    /// A builder for an engine over `store`.
    pub fn builder(store: Arc<dyn Store>) -> EngineBuilder {
        EngineBuilder {
            store,
            config: EngineConfig::default(),
        }
    }

    /// An engine with default settings over the database at `location`: a SQLite path (a
    /// `&str` or a [`Path`](std::path::Path)) or a PostgreSQL URL (see
    /// [`kern_store::Location`]).
    pub async fn open(location: impl Into<kern_store::Location>) -> EngineResult<Self> {
        Ok(Self::builder(kern_store::connect(location).await?).build())
    }

    /// An engine over a throwaway store: foreground runs only.
    pub async fn ephemeral() -> EngineResult<Self> {
        let store = kern_store::sqlite::SqliteStore::ephemeral().await?;
        Ok(Self::builder(Arc::new(store)).build())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// This engine's metrics: runs started and finished per component, runs in flight,
    /// start latency and run duration, event writes. Each engine has its own.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.inner.metrics
    }

    /// This executor's id in leases.
    pub fn owner_id(&self) -> &str {
        &self.inner.owner
    }

    /// Registers a component so this engine can run (and recover) its runs.
    pub fn register(&self, component: Arc<dyn Component>) -> EngineResult<()> {
        let key = (component.kind(), component.id().to_owned());
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if registry.contains_key(&key) {
            return Err(EngineError::DuplicateComponent {
                kind: key.0,
                id: key.1,
            });
        }
        registry.insert(key, component);
        drop(registry);
        // Runs of this component may already be waiting (recovery after a restart).
        self.inner.wake_claimer.notify_one();
        Ok(())
    }

    /// Registers a component, replacing one of the same kind and id if there is one (a
    /// program that defines it again, as Python scripts do). Runs started or claimed from now
    /// on use the new definition; runs already executing keep the one they started with.
    /// Returns the replaced component.
    pub fn register_replacing(&self, component: Arc<dyn Component>) -> Option<Arc<dyn Component>> {
        let key = (component.kind(), component.id().to_owned());
        let old = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, component);
        self.inner.wake_claimer.notify_one();
        old
    }

    /// A registered component.
    pub fn component(&self, kind: ComponentKind, id: &str) -> EngineResult<Arc<dyn Component>> {
        self.inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(kind, id.to_owned()))
            .cloned()
            .ok_or_else(|| EngineError::UnknownComponent {
                kind,
                id: id.to_owned(),
            })
    }

    /// All registered components of a kind, sorted by id.
    pub fn components(&self, kind: ComponentKind) -> Vec<Arc<dyn Component>> {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = registry
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, c)| c.clone())
            .collect();
        out.sort_by(|a, b| a.id().cmp(b.id()));
        out
    }

    fn new_run(
        &self,
        component: &dyn Component,
        req: &RunRequest,
        background: bool,
    ) -> EngineResult<NewRun> {
        // A stopping engine takes no new runs, but the runs it still executes (for the
        // shutdown grace) go on as usual, and that includes starting their child runs (a
        // team's members, a workflow's agent step): refusing those would fail a run because
        // the process is stopping (invariant 9).
        if self.inner.shutdown.is_cancelled() && req.parent_run_id.is_none() {
            return Err(EngineError::ShuttingDown);
        }
        let mut input = req.input_document();
        if let (Some(fingerprint), Value::Object(doc)) = (component.fingerprint(), &mut input) {
            doc.insert(DEFINITION_KEY.into(), Value::String(fingerprint));
        }
        Ok(NewRun {
            run_id: req.run_id.unwrap_or_else(new_run_id),
            session_id: req
                .session_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            user_id: req.user_id.clone(),
            kind: component.kind(),
            component_id: component.id().to_owned(),
            parent_run_id: req.parent_run_id,
            input,
            background,
            claim: (!background).then(|| Lease {
                owner: self.inner.owner.clone(),
                duration_ms: self.inner.config.lease.as_millis() as i64,
                first_events: Vec::new(),
            }),
            idempotency: req.idempotency.clone(),
            webhook_url: req.webhook_url.clone(),
        })
    }

    /// Starts a run in the background: one durable insert (status `pending`), then returns.
    /// An executor sharing the database (this one, if registered) claims and runs it.
    ///
    /// Fails with [`EngineError::NoDatabase`] on a non-durable store, before anything runs,
    /// and with [`EngineError::QueueFull`] when the queue holds as many pending runs as
    /// [`EngineConfig::max_pending`] or [`EngineConfig::max_pending_per_component`] allows.
    pub async fn start(
        &self,
        kind: ComponentKind,
        id: &str,
        req: impl Into<RunRequest>,
    ) -> EngineResult<RunRecord> {
        let req = req.into();
        let component = self.component(kind, id)?;
        if !self.inner.store.is_durable() {
            return Err(EngineError::NoDatabase(kind));
        }
        self.admit(kind, id).await?;
        // The first poll queues the insert on the store's writer; the claimer, woken then,
        // usually queues its claim while that insert still waits for its batch, and a batch
        // runs its claims after its creates (`kern-store/src/batch.rs`): the run is claimed in
        // its insert's transaction instead of a commit later, and its first poll finds it done
        // more often. A claim that comes first finds nothing: the wake after the commit then
        // claims the run, as before.
        let mut create = self
            .inner
            .store
            .create_run(self.new_run(&*component, &req, true)?);
        let first = futures::poll!(&mut create);
        self.inner.wake_claimer.notify_one();
        let record = match first {
            std::task::Poll::Ready(created) => created,
            std::task::Poll::Pending => create.await,
        }?;
        self.inner.wake_claimer.notify_one();
        Ok(record)
    }

    /// Backpressure: refuses a background start while the queue holds as many pending runs as
    /// a configured limit (the whole database's, then the component's).
    async fn admit(&self, kind: ComponentKind, id: &str) -> EngineResult<()> {
        let config = &self.inner.config;
        let store = &self.inner.store;
        if let Some(limit) = config.max_pending {
            let pending = store.count_pending(None).await?;
            if pending >= limit as u64 {
                return Err(self.queue_full("server".into(), None, pending, limit).await);
            }
        }
        if let Some(limit) = config.max_pending_per_component {
            let pending = store.count_pending(Some((kind, id))).await?;
            if pending >= limit as u64 {
                let scope = format!("{kind}:{id}");
                return Err(self
                    .queue_full(scope, Some((kind, id)), pending, limit)
                    .await);
            }
        }
        Ok(())
    }

    /// The refusal of a start to a full queue, with its `Retry-After` estimate: the time the
    /// runs that finished recently (all, or the component's) took to free as many places as
    /// the queue is over its limit plus one, clamped to 1..=60 s; 1 s without recent finishes.
    async fn queue_full(
        &self,
        scope: String,
        component: Option<(ComponentKind, &str)>,
        pending: u64,
        limit: usize,
    ) -> EngineError {
        let limit = limit as u64;
        let finished = self.finished_recently(component).await;
        let retry_after = match finished {
            Some(n) if n > 0 => {
                let places = (pending + 1).saturating_sub(limit).max(1);
                let secs = (places as f64 * RATE_WINDOW.as_secs_f64() / n as f64).ceil();
                Duration::from_secs(secs.clamp(1.0, 60.0) as u64)
            }
            _ => Duration::from_secs(1),
        };
        EngineError::QueueFull {
            scope,
            pending,
            limit,
            retry_after,
        }
    }

    /// How many runs (all, or the component's) finished in the last [`RATE_WINDOW`], read at
    /// most once a second; `None` when the store could not say.
    async fn finished_recently(&self, component: Option<(ComponentKind, &str)>) -> Option<u64> {
        let key = component.map(|(k, id)| (k, id.to_owned()));
        let fresh = |at: &std::time::Instant| at.elapsed() < Duration::from_secs(1);
        if let Some((at, n)) = self.lock_finished().get(&key) {
            if fresh(at) {
                return Some(*n);
            }
        }
        let since = kern_store::now_millis() - RATE_WINDOW.as_millis() as i64;
        let n = self
            .inner
            .store
            .count_finished_since(since, component)
            .await
            .ok()?;
        let mut cache = self.lock_finished();
        cache.retain(|_, (at, _)| fresh(at));
        cache.insert(key, (std::time::Instant::now(), n));
        Some(n)
    }

    fn lock_finished(&self) -> std::sync::MutexGuard<'_, FinishedRecently> {
        self.inner
            .finished_recently
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a run in the background and subscribes to its events from the first. Dropping
    /// the stream does not stop the run.
    pub async fn start_stream(
        &self,
        kind: ComponentKind,
        id: &str,
        req: impl Into<RunRequest>,
    ) -> EngineResult<(RunRecord, EventStream)> {
        let record = self.start(kind, id, req).await?;
        let events = self.subscribe_from(record.run_id, 0, false);
        Ok((record, events))
    }

    /// Creates a foreground run and drives it in a task. `None` for the task when an
    /// idempotency key returned an existing run: that run is someone else's to drive.
    ///
    /// With `subscribe`, also the run's events from the first: for a run of ours, subscribed
    /// before its driver is spawned, so they all come live and the store is not read for them
    /// (see `bus`); for someone else's, a subscription like any other.
    ///
    /// The create and the spawn happen in a task of their own, so that a caller who goes away
    /// meanwhile (a dropped request) cannot leave a created run undriven: it would stay
    /// `running` under this process's lease until the lease expired, then be recovered and
    /// failed as if the process had stopped. A run whose caller left during its create is
    /// driven and cancelled at once instead, with its event and the reason.
    async fn start_foreground(
        &self,
        kind: ComponentKind,
        id: &str,
        req: RunRequest,
        subscribe: bool,
    ) -> EngineResult<Foreground> {
        let component = self.component(kind, id)?;
        let new = self.new_run(&*component, &req, false)?;
        let engine = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            // Unsent (the caller left), the run's guard is dropped here and cancels it; so it
            // is if the caller drops what was sent before taking it.
            let _ = tx.send(engine.create_foreground(component, new, subscribe).await);
        });
        match rx.await {
            Ok(started) => started,
            // The task sends unless it panicked, and the panic was reported where it happened.
            Err(_) => panic!("creating a foreground run panicked"),
        }
    }

    /// [`start_foreground`](Self::start_foreground)'s create and spawn.
    async fn create_foreground(
        &self,
        component: Arc<dyn Component>,
        mut new: NewRun,
        subscribe: bool,
    ) -> EngineResult<Foreground> {
        let proposed = new.run_id;
        let start = executor::start_event_of(&*component, &new);
        if let (Some(lease), Some(event)) = (new.claim.as_mut(), &start) {
            lease.first_events.push(event.clone());
        }
        let run = self.inner.store.create_starting(new).await?;
        let record = run.record.clone();
        let ours = record.run_id == proposed;
        let events = subscribe.then(|| self.subscribe_from(record.run_id, 0, ours));
        // The create wrote the start event (unless it returned someone else's run): it is
        // committed, so it goes to subscribers now, as a log's write would.
        let begun: Vec<NewEvent> = start.filter(|_| ours).into_iter().collect();
        if !begun.is_empty() {
            self.inner.bus.publish(record.run_id, 0, begun.clone());
        }
        let handle = ours.then(|| executor::spawn_drive(self.clone(), component, run, begun, None));
        Ok(Foreground {
            guard: CancelOnDrop {
                engine: self.clone(),
                run_id: record.run_id,
                // A replayed idempotent request does not own the run it returns.
                armed: ours,
            },
            record,
            handle,
            events,
        })
    }

    /// Runs in the foreground and returns the finished run. The run is recorded like any
    /// other; dropping this future cancels it.
    pub async fn run(
        &self,
        kind: ComponentKind,
        id: &str,
        req: impl Into<RunRequest>,
    ) -> EngineResult<RunRecord> {
        let Foreground {
            record,
            handle,
            mut guard,
            ..
        } = self.start_foreground(kind, id, req.into(), false).await?;
        let Some(handle) = handle else {
            return self.wait(record.run_id).await;
        };
        let _ = handle.await;
        guard.disarm();
        self.get_run(record.run_id)
            .await?
            .ok_or(EngineError::RunNotFound(record.run_id))
    }

    /// Runs in the foreground, streaming its events. Dropping the stream before its end
    /// cancels the run.
    pub async fn run_stream(
        &self,
        kind: ComponentKind,
        id: &str,
        req: impl Into<RunRequest>,
    ) -> EngineResult<RunStream> {
        let Foreground {
            record,
            guard,
            events,
            ..
        } = self.start_foreground(kind, id, req.into(), true).await?;
        // Always there when asked for; a plain subscription otherwise, rather than a panic.
        let events = events.unwrap_or_else(|| self.subscribe_from(record.run_id, 0, false));
        Ok(RunStream {
            guard,
            record,
            events,
        })
    }

    /// One run, or `None`.
    pub async fn get_run(&self, run_id: RunId) -> EngineResult<Option<RunRecord>> {
        Ok(self.inner.store.get_run(run_id).await?)
    }

    /// Runs matching `filter`, oldest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> EngineResult<Vec<RunRecord>> {
        Ok(self.inner.store.list_runs(filter).await?)
    }

    /// Subscribes to a run's events after `last_event_index` (`None`: from the first). The
    /// stream yields missed events from the store, then live ones, without gaps or
    /// duplicates, and ends after the run's terminal event.
    pub async fn subscribe(
        &self,
        run_id: RunId,
        last_event_index: Option<u64>,
    ) -> EngineResult<EventStream> {
        let run = self
            .inner
            .store
            .get_run(run_id)
            .await?
            .ok_or(EngineError::RunNotFound(run_id))?;
        let from = last_event_index.map_or(0, |i| i + 1);
        if run.status.is_terminal() && from >= run.event_count {
            // Nothing was missed and nothing will come.
            return Ok(Box::pin(futures::stream::empty()));
        }
        Ok(self.subscribe_from(run_id, from, false))
    }

    /// Like [`subscribe`](Self::subscribe), with events parsed.
    pub async fn subscribe_events(
        &self,
        run_id: RunId,
        last_event_index: Option<u64>,
    ) -> EngineResult<impl Stream<Item = EngineResult<Event>> + Send> {
        Ok(self
            .subscribe(run_id, last_event_index)
            .await?
            .map(|r| r.and_then(parse_event)))
    }

    /// The run's events from `from`; `fresh` as `bus::subscribe` says.
    fn subscribe_from(&self, run_id: RunId, from: u64, fresh: bool) -> EventStream {
        let config = &self.inner.config;
        let weak = Arc::downgrade(&self.inner);
        let remote = if self.inner.store.notifications().is_some() {
            config.subscription_poll_interval
        } else {
            config.remote_poll_interval
        };
        let poll = bus::PollPolicy {
            local: config.subscription_poll_interval,
            remote,
            is_local: Arc::new(move |id| {
                weak.upgrade().is_some_and(|inner| {
                    inner
                        .local
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains_key(&id)
                })
            }),
        };
        bus::subscribe(
            self.inner.store.clone(),
            self.inner.bus.clone(),
            run_id,
            from,
            poll,
            fresh,
        )
    }

    /// Waits until the run reaches a terminal status and returns it.
    pub async fn wait(&self, run_id: RunId) -> EngineResult<RunRecord> {
        let run = self
            .get_run(run_id)
            .await?
            .ok_or(EngineError::RunNotFound(run_id))?;
        // A paused run waits for a human: it is as far as it goes until continued.
        if !run.has_completed() && run.status != RunStatus::Paused {
            let mut events = self.subscribe_from(run_id, run.event_count, false);
            while let Some(e) = events.next().await {
                e?;
            }
        }
        self.get_run(run_id)
            .await?
            .ok_or(EngineError::RunNotFound(run_id))
    }

    /// Cancels a run, from any process sharing the database.
    ///
    /// A pending run becomes `cancelled` at once; a running one is stopped by its owner (its
    /// current step's future is dropped) and ends `cancelled` with its event. Cancelling a
    /// finished run changes nothing and says so; an unknown run is
    /// [`EngineError::RunNotFound`].
    pub async fn cancel_run(&self, run_id: RunId) -> EngineResult<CancelOutcome> {
        loop {
            let run = self
                .inner
                .store
                .get_run(run_id)
                .await?
                .ok_or(EngineError::RunNotFound(run_id))?;
            if run.status.is_terminal() {
                return Ok(CancelOutcome::AlreadyFinished(run.status));
            }
            if matches!(run.status, RunStatus::Pending | RunStatus::Paused) {
                let reason = Some(
                    if run.status == RunStatus::Paused {
                        "cancelled while paused"
                    } else {
                        "cancelled before it started"
                    }
                    .to_owned(),
                );
                let event = executor::event_for_queued_run(
                    self,
                    &run,
                    EventKind::cancelled(run.kind, reason.clone()),
                );
                match self
                    .inner
                    .store
                    .cancel_pending(run_id, run.event_count, event, reason)
                    .await
                {
                    Ok(()) => {
                        self.inner.views.forget(run_id);
                        self.inner.bus.wake(Some(&[run_id]));
                        return Ok(CancelOutcome::Cancelled);
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            match self.inner.store.request_cancel(run_id).await {
                Ok(kern_store::CancelRequest::Requested) => {
                    self.cancel_local(run_id, executor::StopReason::Cancelled(None));
                    self.cancel_children(run_id).await?;
                    return Ok(CancelOutcome::Requested);
                }
                Ok(kern_store::CancelRequest::AlreadyFinished(s)) => {
                    return Ok(CancelOutcome::AlreadyFinished(s))
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Continues a paused run with the human's `decisions` (for an agent, the paused tool
    /// calls with `confirmed`, user input values or `result`; kept under [`CONTINUE_KEY`]):
    /// appends `RunContinued` and queues the run again, atomically; any executor of the
    /// component (this one, another process, another replica) claims it and it goes on from
    /// its checkpoints under the same `run_id`. Returns the run as queued (`pending`).
    ///
    /// Fails with [`EngineError::NotPaused`] for a run that is not paused (including one a
    /// concurrent continue already queued) and [`EngineError::RunNotFound`] for an unknown
    /// one.
    pub async fn continue_run(&self, run_id: RunId, decisions: Value) -> EngineResult<RunRecord> {
        loop {
            let run = self
                .inner
                .store
                .get_run(run_id)
                .await?
                .ok_or(EngineError::RunNotFound(run_id))?;
            if run.status != RunStatus::Paused {
                return Err(EngineError::NotPaused {
                    run_id,
                    status: run.status,
                });
            }
            let tools = match &decisions {
                Value::Array(items) => items.clone(),
                other => other
                    .get("tools")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            };
            let event =
                executor::event_for_queued_run(self, &run, EventKind::RunContinued { tools });
            let req = kern_store::ContinueRequest {
                run_id,
                event_count: run.event_count,
                event,
                checkpoints: vec![
                    (PAUSE_KEY.to_owned(), checkpoint_json(&Value::Null)),
                    (CONTINUE_KEY.to_owned(), checkpoint_json(&decisions)),
                    (
                        CONTINUED_AT_KEY.to_owned(),
                        checkpoint_json(&Value::from(run.event_count)),
                    ),
                ],
            };
            match self.inner.store.continue_run(req).await {
                Ok(record) => {
                    self.inner.views.forget(run_id);
                    self.inner.bus.wake(Some(&[run_id]));
                    self.inner.wake_claimer.notify_one();
                    return Ok(record);
                }
                // Its log changed meanwhile (another continue, a cancel): read it again.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Requeues a run that failed or was cancelled (an operator's remedy: the dead-letter
    /// list's "try again"): appends `RunRequeued` (which voids the old terminal event) and
    /// queues the run again, atomically; any executor of its component claims it, and it
    /// resumes from its checkpoints under the same `run_id`, so the steps that completed
    /// before do not run again. It resumes as a background run (a foreground run's caller is
    /// gone), with a fresh recovery budget and run timeout; the attempt number keeps growing,
    /// so a stale owner of an earlier attempt stays fenced. Returns the run as queued
    /// (`pending`). Not subject to [`EngineConfig::max_pending`]: the operator decides. Work
    /// delivered at most once that an interruption stopped (the reason such a run failed)
    /// runs again ([`REQUEUED_ATTEMPT_KEY`]).
    ///
    /// This is the one deliberate exception to "a terminal status never changes".
    ///
    /// Fails with [`EngineError::NotRequeueable`] for a run that is not failed or cancelled
    /// (including one a concurrent requeue already queued) or that is a child run, and
    /// [`EngineError::RunNotFound`] for an unknown one.
    pub async fn requeue(&self, run_id: RunId) -> EngineResult<RunRecord> {
        loop {
            let run = self
                .inner
                .store
                .get_run(run_id)
                .await?
                .ok_or(EngineError::RunNotFound(run_id))?;
            let requeueable = matches!(run.status, RunStatus::Failed | RunStatus::Cancelled);
            if !requeueable || run.parent_run_id.is_some() {
                return Err(EngineError::NotRequeueable {
                    run_id,
                    status: run.status,
                    child: requeueable,
                });
            }
            // A terminal run's terminal event is the last of its log.
            let voided = match run.event_count {
                0 => Vec::new(),
                n => vec![[n - 1, n - 1]],
            };
            let event = executor::event_for_queued_run(
                self,
                &run,
                EventKind::RunRequeued {
                    previous_status: run.status.as_str().to_owned(),
                    voided,
                },
            );
            let req = kern_store::RequeueRequest {
                run_id,
                event_count: run.event_count,
                event,
                checkpoints: vec![
                    // A run cancelled while paused is not waiting for its pause to expire:
                    // it resumes, and pauses again if it still needs a person.
                    (PAUSE_KEY.to_owned(), checkpoint_json(&Value::Null)),
                    // At-most-once work interrupted before now may run again.
                    (
                        REQUEUED_ATTEMPT_KEY.to_owned(),
                        checkpoint_json(&Value::from(run.attempt)),
                    ),
                ],
            };
            match self.inner.store.requeue(req).await {
                Ok(record) => {
                    self.inner.views.forget(run_id);
                    self.inner.bus.wake(Some(&[run_id]));
                    self.inner.wake_claimer.notify_one();
                    return Ok(record);
                }
                // Its log changed meanwhile (another requeue): read it again.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Cancels the unfinished child runs of `run_id` (team members, agent steps).
    async fn cancel_children(&self, run_id: RunId) -> EngineResult<()> {
        let children = self
            .inner
            .store
            .list_runs(&RunFilter {
                parent_run_id: Some(run_id),
                limit: Some(10_000),
                ..Default::default()
            })
            .await?;
        for child in children.into_iter().filter(|c| !c.status.is_terminal()) {
            Box::pin(self.cancel_run(child.run_id)).await?;
        }
        Ok(())
    }

    /// Stops taking runs and waits up to `grace` for local runs to finish; runs still going
    /// then are stopped and released to the queue, so another executor (or this process after
    /// a restart) resumes them from their last checkpoint at once, without waiting for lease
    /// expiry.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.inner.idle.notified();
            if self.local_run_count() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let running: Vec<RunId> = self.local_runs();
        for run_id in running {
            self.cancel_local(run_id, executor::StopReason::Shutdown);
        }
        loop {
            let idle = self.inner.idle.notified();
            if self.local_run_count() == 0 {
                break;
            }
            if tokio::time::timeout(Duration::from_secs(5), idle)
                .await
                .is_err()
            {
                tracing::warn!("runs still stopping after shutdown; giving up waiting");
                break;
            }
        }
    }

    fn local_runs(&self) -> Vec<RunId> {
        self.inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// How many runs this process is executing now.
    pub fn local_run_count(&self) -> usize {
        self.inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn cancel_local(&self, run_id: RunId, reason: executor::StopReason) {
        executor::stop_local(&self.inner, run_id, reason);
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.inner.store.backend())
            .field("owner", &self.inner.owner)
            .finish()
    }
}
