//! [`RunHandle`]: a background run just started, and what its starter can do with it.

use super::{CancelOutcome, Engine, RunStream};
use crate::error::EngineResult;
use kern_store::{RunId, RunRecord};

/// A background run as started (status `pending`), bound to the engine that stores it: wait
/// for its end, cancel it, or follow its events. It dereferences to the [`RunRecord`] as it was
/// when created, so `handle.run_id` and `handle.status` read as on the record; call
/// [`get`](Self::get) for the run as it is now. Dropping the handle does nothing to the run.
///
/// ```
/// # use kern_core::engine::Engine;
/// # use kern_core::workflow::{Step, StepOutput, Workflow};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let engine = Engine::open(dir.path().join("kern.db")).await?;
/// # let workflow = Workflow::builder("w").step(Step::new("s", |_| async { Ok(StepOutput::text("done")) })).db(&engine).build()?;
/// let run = workflow.run_background("x").await?;     // returns at once
/// assert_eq!(run.status, kern_store::RunStatus::Pending);
/// let done = run.wait().await?;                       // the finished record
/// assert_eq!(done.content().unwrap(), "done");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RunHandle {
    record: RunRecord,
    engine: Engine,
}

impl RunHandle {
    pub(crate) fn new(record: RunRecord, engine: Engine) -> Self {
        Self { record, engine }
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.record.run_id
    }

    /// The run as it was when started.
    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// The run as it is now (from the database: any process may be running it).
    pub async fn get(&self) -> EngineResult<RunRecord> {
        self.engine
            .get_run(self.record.run_id)
            .await?
            .ok_or(crate::EngineError::RunNotFound(self.record.run_id))
    }

    /// Waits for the run's end (without polling) and returns its final record.
    pub async fn wait(&self) -> EngineResult<RunRecord> {
        self.engine.wait(self.record.run_id).await
    }

    /// Cancels the run (see [`Engine::cancel_run`]).
    pub async fn cancel(&self) -> EngineResult<CancelOutcome> {
        self.engine.cancel_run(self.record.run_id).await
    }

    /// Its events after `last_event_index` (all when `None`), typed, then live to its end.
    /// Dropping the stream does not stop the run.
    pub async fn events(&self, last_event_index: Option<u64>) -> EngineResult<RunStream> {
        let events = self
            .engine
            .subscribe(self.record.run_id, last_event_index)
            .await?;
        Ok(RunStream::detached(
            self.record.clone(),
            events,
            &self.engine,
        ))
    }

    /// The record as it was when started, without the engine.
    pub fn into_record(self) -> RunRecord {
        self.record
    }
}

impl std::ops::Deref for RunHandle {
    type Target = RunRecord;
    fn deref(&self) -> &RunRecord {
        &self.record
    }
}
