//! [`ComponentHandle`]: a component bound to the engine that runs it, with the four execution
//! modes. `Workflow`, `Agent` and `Team` dereference to it.

use super::{CancelOutcome, Component, Engine, RunHandle, RunRequest, RunStream};
use crate::error::{EngineError, EngineResult};
use kern_store::{RunFilter, RunId, RunRecord, RunStatus};
use std::sync::Arc;

/// A component and its engine. Built with a database, the component is registered on that
/// engine and runs in all four modes; built without, it runs in the foreground only (on a
/// throwaway in-process store), and the background modes fail with
/// [`EngineError::NoDatabase`] before anything runs.
///
/// | method | background | stream | behaviour |
/// |---|---|---|---|
/// | [`run`](Self::run) | no | no | runs inline, returns the finished run |
/// | [`run_stream`](Self::run_stream) | no | yes | runs inline, yields events; dropping the stream cancels the run |
/// | [`run_background`](Self::run_background) | yes | no | returns a [`RunHandle`] at once (status `pending`): wait, cancel, follow its events |
/// | [`run_background_stream`](Self::run_background_stream) | yes | yes | returns the run's typed events at once; dropping them does not stop the run |
///
/// Every streaming mode yields typed [`Event`](crate::event::Event)s; the stored JSON frames
/// only through [`RunStream::into_raw`].
#[derive(Clone)]
pub struct ComponentHandle {
    inner: Arc<Inner>,
}

struct Inner {
    component: Arc<dyn Component>,
    engine: tokio::sync::OnceCell<Engine>,
    durable: bool,
}

impl ComponentHandle {
    /// Binds `component` to `engine` (registering it there), or to a throwaway engine created
    /// on first use when `engine` is `None`.
    pub fn new(component: Arc<dyn Component>, engine: Option<&Engine>) -> EngineResult<Self> {
        let cell = tokio::sync::OnceCell::new();
        if let Some(e) = engine {
            e.register(component.clone())?;
            let _ = cell.set(e.clone());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                component,
                engine: cell,
                durable: engine.is_some(),
            }),
        })
    }

    /// The component.
    pub fn component(&self) -> &Arc<dyn Component> {
        &self.inner.component
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        self.inner.component.id()
    }

    /// The engine running this component's runs (created on first use when it has none).
    pub async fn engine(&self) -> EngineResult<&Engine> {
        self.inner
            .engine
            .get_or_try_init(|| async {
                let engine = Engine::ephemeral().await?;
                engine.register(self.inner.component.clone())?;
                Ok(engine)
            })
            .await
    }

    fn durable_engine(&self) -> EngineResult<&Engine> {
        match (self.inner.durable, self.inner.engine.get()) {
            (true, Some(e)) => Ok(e),
            _ => Err(EngineError::NoDatabase(self.inner.component.kind())),
        }
    }

    fn kind(&self) -> kern_store::ComponentKind {
        self.inner.component.kind()
    }

    /// Runs in the foreground and returns the finished run (check its `status`).
    pub async fn run(&self, req: impl Into<RunRequest>) -> EngineResult<RunRecord> {
        self.engine().await?.run(self.kind(), self.id(), req).await
    }

    /// Runs in the foreground, streaming events; dropping the stream cancels the run.
    pub async fn run_stream(&self, req: impl Into<RunRequest>) -> EngineResult<RunStream> {
        self.engine()
            .await?
            .run_stream(self.kind(), self.id(), req)
            .await
    }

    /// Starts a background run and returns at once with its record (status `pending`).
    pub async fn run_background(&self, req: impl Into<RunRequest>) -> EngineResult<RunHandle> {
        let engine = self.durable_engine()?;
        let record = engine.start(self.kind(), self.id(), req).await?;
        Ok(RunHandle::new(record, engine.clone()))
    }

    /// Starts a background run and returns its typed events from the first; dropping the
    /// stream does not stop the run ([`RunStream::record`] is the run as started).
    pub async fn run_background_stream(
        &self,
        req: impl Into<RunRequest>,
    ) -> EngineResult<RunStream> {
        let engine = self.durable_engine()?;
        let (record, events) = engine.start_stream(self.kind(), self.id(), req).await?;
        Ok(RunStream::detached(record, events, engine))
    }

    /// One of this component's runs, or `None`.
    pub async fn get_run(&self, run_id: RunId) -> EngineResult<Option<RunRecord>> {
        let run = self.engine().await?.get_run(run_id).await?;
        Ok(run.filter(|r| r.kind == self.kind() && r.component_id == self.id()))
    }

    /// Cancels one of this component's runs (see [`Engine::cancel_run`]).
    pub async fn cancel_run(&self, run_id: RunId) -> EngineResult<CancelOutcome> {
        if self.get_run(run_id).await?.is_none() {
            return Err(EngineError::RunNotFound(run_id));
        }
        self.engine().await?.cancel_run(run_id).await
    }

    /// This component's runs, oldest first, optionally of one session and one status.
    pub async fn list_runs(
        &self,
        session_id: Option<&str>,
        status: Option<RunStatus>,
    ) -> EngineResult<Vec<RunRecord>> {
        let filter = RunFilter {
            session_id: session_id.map(str::to_owned),
            status,
            kind: Some(self.kind()),
            component_id: Some(self.id().to_owned()),
            limit: Some(10_000),
            ..Default::default()
        };
        self.engine().await?.list_runs(&filter).await
    }

    /// A run's typed events after `last_event_index` (all when `None`), then live to its end
    /// (see [`Engine::subscribe`]); dropping the stream leaves the run alone.
    pub async fn subscribe(
        &self,
        run_id: RunId,
        last_event_index: Option<u64>,
    ) -> EngineResult<RunStream> {
        let record = self
            .get_run(run_id)
            .await?
            .ok_or(EngineError::RunNotFound(run_id))?;
        let engine = self.engine().await?;
        let events = engine.subscribe(run_id, last_event_index).await?;
        Ok(RunStream::detached(record, events, engine))
    }
}
