//! A single step: its input, its output, and the executor seam that function steps (and later
//! agent and team steps) plug into.

use crate::engine::RunContext;
use crate::event::EventKind;
pub use crate::session_state::SessionState;
use crate::step_output::content_to_string;
pub use crate::step_output::StepOutput;
use async_trait::async_trait;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a step receives.
#[derive(Clone)]
pub struct StepInput {
    /// The workflow run's input.
    pub input: Value,
    /// The content of the step that ran just before (the workflow input for the first step).
    pub previous_step_content: Option<Value>,
    /// Outputs of the steps that completed before this one, by step name, in order.
    pub previous_step_outputs: Arc<Vec<StepOutput>>,
    /// Extra data the caller passed with the run.
    pub additional_data: Option<Value>,
    /// State shared by every step of the run and persisted on the session.
    pub session_state: SessionState,
    pub(crate) ctx: StepContext,
}

impl StepInput {
    /// The input as text: strings as they are, other JSON compact.
    pub fn input_str(&self) -> String {
        content_to_string(&self.input)
    }

    /// The previous step's content as text (empty if none).
    pub fn previous_content_str(&self) -> String {
        self.previous_step_content
            .as_ref()
            .map(content_to_string)
            .unwrap_or_default()
    }

    /// The output of an earlier step by name (searching nested groups), if it ran.
    pub fn get_step_output(&self, name: &str) -> Option<&StepOutput> {
        fn find<'a>(outs: &'a [StepOutput], name: &str) -> Option<&'a StepOutput> {
            outs.iter().rev().find_map(|o| {
                if o.step_name.as_deref() == Some(name) {
                    Some(o)
                } else {
                    o.steps.as_deref().and_then(|s| find(s, name))
                }
            })
        }
        find(&self.previous_step_outputs, name)
    }

    /// The content of an earlier step by name.
    pub fn get_step_content(&self, name: &str) -> Option<&Value> {
        self.get_step_output(name).and_then(|o| o.content.as_ref())
    }

    /// True once the run has been cancelled. Blocking steps should check it between units of
    /// work; async steps are dropped at their next `.await` and need not.
    pub fn is_cancelled(&self) -> bool {
        self.ctx.cancel.is_cancelled()
    }

    /// The run's cancellation token (to pass to libraries that take one).
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.ctx.cancel
    }

    /// The run this step belongs to.
    pub fn run_id(&self) -> kern_store::RunId {
        self.ctx.run.run_id()
    }

    /// The session of the run.
    pub fn session_id(&self) -> &str {
        self.ctx.run.session_id()
    }

    /// The step's name.
    pub fn step_name(&self) -> &str {
        &self.ctx.step_name
    }

    /// Which try this is: 1 for the first, 2 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.ctx.attempt
    }

    /// Streams intermediate output of this step as a `StepOutput` event.
    pub fn emit_output(&self, content: impl Into<Value>) {
        self.ctx.run.emit(EventKind::StepOutput {
            step_name: self.ctx.step_name.clone(),
            step_index: self.ctx.step_index.clone(),
            content: content.into(),
        });
    }

    /// The run's context, for executors that start child runs or emit their own events
    /// (agent and team steps).
    pub fn run_context(&self) -> &RunContext {
        &self.ctx.run
    }
}

/// What a running step knows about its surroundings.
#[derive(Clone)]
pub(crate) struct StepContext {
    pub(crate) run: RunContext,
    pub(crate) cancel: CancellationToken,
    pub(crate) step_name: String,
    pub(crate) step_index: Value,
    pub(crate) attempt: u32,
}

/// The error a step returns. Carries a message (and the source error when built from one);
/// it is recorded on the run and in the `StepError` / `WorkflowError` events.
///
/// Any `std::error::Error` converts into it, so `?` works in step functions:
///
/// ```
/// use kern_core::workflow::{StepError, StepInput, StepOutput};
/// async fn parse(input: StepInput) -> Result<StepOutput, StepError> {
///     let n: i64 = input.input_str().trim().parse()?; // ParseIntError -> StepError
///     if n < 0 {
///         return Err(StepError::msg("negative input"));
///     }
///     Ok(StepOutput::json(n * 2))
/// }
/// ```
pub struct StepError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StepError {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            source: None,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error this one was made from, if any.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> Self {
        Self {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StepError({:?})", self.message)
    }
}

/// Runs one step. The seam between the workflow engine and whatever does the work: function
/// steps implement it here; agent and team steps implement it in their crates.
///
/// An executor may be called more than once for one step (retries; recovery after a crash
/// before the step's completion was recorded), so its side effects should be idempotent or
/// keyed by [`StepInput::run_id`] and step name.
#[async_trait]
pub trait StepExecutor: Send + Sync + 'static {
    /// What kind of executor this is (`"function"`, `"agent"`, `"team"`), for step results.
    fn executor_type(&self) -> &'static str;

    /// Runs the step once.
    async fn execute(&self, input: StepInput) -> Result<StepOutput, StepError>;
}

struct AsyncFn<F>(F);

#[async_trait]
impl<F, Fut> StepExecutor for AsyncFn<F>
where
    F: Fn(StepInput) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<StepOutput, StepError>> + Send + 'static,
{
    fn executor_type(&self) -> &'static str {
        "function"
    }

    async fn execute(&self, input: StepInput) -> Result<StepOutput, StepError> {
        (self.0)(input).await
    }
}

struct BlockingFn<F>(Arc<F>);

#[async_trait]
impl<F> StepExecutor for BlockingFn<F>
where
    F: Fn(StepInput) -> Result<StepOutput, StepError> + Send + Sync + 'static,
{
    fn executor_type(&self) -> &'static str {
        "function"
    }

    async fn execute(&self, input: StepInput) -> Result<StepOutput, StepError> {
        let f = self.0.clone();
        // Invariant 8: user code that blocks runs on tokio's blocking pool. If the run is
        // cancelled, this future is dropped at once; the thread finishes on its own and can
        // watch `input.is_cancelled()` to stop early.
        match tokio::task::spawn_blocking(move || f(input)).await {
            Ok(out) => out,
            Err(e) if e.is_panic() => Err(StepError::msg(format!(
                "step panicked: {}",
                crate::panic_message(e.into_panic().as_ref())
            ))),
            Err(e) => Err(StepError::msg(format!("step task failed: {e}"))),
        }
    }
}

/// Runs a component (an agent, a team, another workflow) as a child run of the workflow run.
/// Its input is the previous step's content (the workflow's input for the first step).
struct ComponentStep {
    component: Arc<dyn crate::engine::Component>,
}

#[async_trait]
impl StepExecutor for ComponentStep {
    fn executor_type(&self) -> &'static str {
        self.component.kind().as_str()
    }

    async fn execute(&self, input: StepInput) -> Result<StepOutput, StepError> {
        let message = input
            .previous_step_content
            .clone()
            .unwrap_or_else(|| input.input.clone());
        let mut req = crate::engine::RunRequest::new(message);
        req.additional_data = input.additional_data.clone();
        let child = input
            .run_context()
            .run_child(self.component.clone(), req)
            .await
            .map_err(|e| StepError::msg(format!("could not start {}: {e}", self.component.id())))?;
        match child.status {
            kern_store::RunStatus::Completed => Ok(StepOutput {
                content: child.content().cloned(),
                success: true,
                executor_name: Some(self.component.name().to_owned()),
                ..Default::default()
            }),
            status => Err(StepError::msg(format!(
                "{} {:?} {status}: {}",
                self.component.kind(),
                self.component.id(),
                child.error.as_deref().unwrap_or("no error recorded")
            ))),
        }
    }
}

/// A step that runs an executor, with its retry policy.
#[derive(Clone)]
pub struct Step {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) executor: Arc<dyn StepExecutor>,
    pub(crate) max_retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) skip_on_failure: bool,
    pub(crate) review: Option<super::review::HumanReview>,
    pub(crate) at_most_once: bool,
}

impl Step {
    /// A step running an async function.
    ///
    /// ```
    /// use kern_core::workflow::{Step, StepOutput};
    /// let step = Step::new("shout", |input| async move {
    ///     Ok(StepOutput::text(input.input_str().to_uppercase()))
    /// });
    /// ```
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(StepInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<StepOutput, StepError>> + Send + 'static,
    {
        Self::with_executor(name, AsyncFn(f))
    }

    /// A step running a synchronous (blocking) function on tokio's blocking thread pool, so a
    /// slow step never stalls other runs.
    pub fn blocking<F>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(StepInput) -> Result<StepOutput, StepError> + Send + Sync + 'static,
    {
        Self::with_executor(name, BlockingFn(Arc::new(f)))
    }

    /// A step running a component (an agent, a team, another workflow) as a child run: its
    /// events appear in the workflow's stream, its run record has `parent_run_id` set, and
    /// cancelling the workflow cancels it.
    pub fn component(
        name: impl Into<String>,
        component: Arc<dyn crate::engine::Component>,
    ) -> Self {
        Self::with_executor(name, ComponentStep { component })
    }

    /// A step running any [`StepExecutor`] (agents and teams plug in here).
    pub fn with_executor(name: impl Into<String>, executor: impl StepExecutor) -> Self {
        Self {
            name: name.into(),
            id: None,
            description: None,
            executor: Arc::new(executor),
            max_retries: 0,
            retry_backoff: Duration::from_millis(200),
            skip_on_failure: false,
            review: None,
            at_most_once: false,
        }
    }

    /// Sets the step's id (defaults to its name).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets a description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Retries a failing step up to `n` more times (default 0), waiting
    /// [`retry_backoff`](Self::retry_backoff) × 2^(try − 1) between tries.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The first wait between tries (default 200 ms); it doubles each retry, capped at 30 s.
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.retry_backoff = d;
        self
    }

    /// When the step still fails after its retries, record the failure and go on with the next
    /// step instead of failing the run.
    pub fn skip_on_failure(mut self, skip: bool) -> Self {
        self.skip_on_failure = skip;
        self
    }

    /// Delivery at most once, for a step with effects that must not happen twice (a payment,
    /// an email). By default a step is delivered *at least once*: if the process running it
    /// stops mid-step, the resumed run runs it again (right for the idempotent or cheap steps
    /// most workflows have, and nothing is lost). An at-most-once step writes a durable mark
    /// before it runs; a run interrupted inside it fails, saying so, instead of running it
    /// again, until an operator requeues the run. Retries after the step's own errors still
    /// apply (the step ran to an error; it was not interrupted).
    pub fn at_most_once(mut self, on: bool) -> Self {
        self.at_most_once = on;
        self
    }

    /// The step waits for a person's confirmation before it runs (see
    /// [`review`](super::review)): the run pauses there until continued.
    pub fn requires_confirmation(
        mut self,
        message: Option<String>,
        on_reject: super::OnReject,
    ) -> Self {
        self.review = Some(super::HumanReview::Confirmation { message, on_reject });
        self
    }

    /// The step waits for a person to give `fields` before it runs; the values reach it in
    /// `StepInput::additional_data["user_input"]`.
    pub fn requires_user_input(
        mut self,
        message: Option<String>,
        fields: Vec<super::InputField>,
    ) -> Self {
        self.review = Some(super::HumanReview::UserInput { message, fields });
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("executor", &self.executor.executor_type())
            .field("max_retries", &self.max_retries)
            .field("skip_on_failure", &self.skip_on_failure)
            .finish()
    }
}
