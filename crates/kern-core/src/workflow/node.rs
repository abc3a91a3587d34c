//! The composite steps: named groups, parallel branches, conditions, loops and routers.

use super::step::{Step, StepError, StepInput, StepOutput};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// One node of a workflow: a step, or a composite of steps.
#[derive(Clone, Debug)]
pub enum WorkflowStep {
    /// A single step.
    Step(Step),
    /// A named group run in sequence.
    Steps(Steps),
    /// Branches run concurrently.
    Parallel(Parallel),
    /// Steps run if an evaluator says so (else other steps).
    Condition(Condition),
    /// Steps run repeatedly.
    Loop(Loop),
    /// A choice among named steps.
    Router(Router),
}

impl WorkflowStep {
    /// The node's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Step(s) => &s.name,
            Self::Steps(s) => &s.name,
            Self::Parallel(s) => &s.name,
            Self::Condition(s) => &s.name,
            Self::Loop(s) => &s.name,
            Self::Router(s) => &s.name,
        }
    }

    /// The node's type as AgentOS names it in step results.
    pub fn step_type(&self) -> &'static str {
        match self {
            Self::Step(_) => "Step",
            Self::Steps(_) => "Steps",
            Self::Parallel(_) => "Parallel",
            Self::Condition(_) => "Condition",
            Self::Loop(_) => "Loop",
            Self::Router(_) => "Router",
        }
    }

    /// Every node's name in this subtree, depth first (for validation).
    pub(crate) fn visit_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        out.push(self.name());
        let children: Vec<&WorkflowStep> = match self {
            Self::Step(_) => vec![],
            Self::Steps(s) => s.steps.iter().collect(),
            Self::Parallel(s) => s.steps.iter().collect(),
            Self::Condition(s) => s.steps.iter().chain(&s.else_steps).collect(),
            Self::Loop(s) => s.steps.iter().collect(),
            Self::Router(s) => s.choices.iter().collect(),
        };
        for c in children {
            c.visit_names(out);
        }
    }
}

macro_rules! into_node {
    ($($t:ident),*) => {$(
        impl From<$t> for WorkflowStep {
            fn from(s: $t) -> Self {
                Self::$t(s)
            }
        }
    )*};
}
into_node!(Step, Steps, Parallel, Condition, Loop, Router);

fn nodes<I, S>(steps: I) -> Vec<WorkflowStep>
where
    I: IntoIterator<Item = S>,
    S: Into<WorkflowStep>,
{
    steps.into_iter().map(Into::into).collect()
}

/// A named group of steps, run in sequence.
#[derive(Clone, Debug)]
pub struct Steps {
    pub(crate) name: String,
    pub(crate) steps: Vec<WorkflowStep>,
}

impl Steps {
    /// A group of `steps` called `name`.
    pub fn new<I, S>(name: impl Into<String>, steps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        Self {
            name: name.into(),
            steps: nodes(steps),
        }
    }
}

/// Branches that run concurrently; it completes when all have. The first branch to fail
/// (without `skip_on_failure`) cancels the others and fails the parallel step. Its content is
/// a JSON object of each branch's content by branch name.
#[derive(Clone, Debug)]
pub struct Parallel {
    pub(crate) name: String,
    pub(crate) steps: Vec<WorkflowStep>,
}

impl Parallel {
    /// Branches `steps` called `name`.
    pub fn new<I, S>(name: impl Into<String>, steps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        Self {
            name: name.into(),
            steps: nodes(steps),
        }
    }
}

/// What user code deciding a workflow's path returns: a future, so that the code may be async,
/// or run on a blocking thread (Python callables do), without blocking the runtime. An error
/// fails the run with its message.
pub type Decision<T> = BoxFuture<'static, Result<T, StepError>>;

/// Decides whether a condition's steps run.
pub type Evaluator = Arc<dyn Fn(StepInput) -> Decision<bool> + Send + Sync>;

/// Runs `steps` when the evaluator returns true, else `else_steps` (possibly none).
///
/// The evaluator's answer is checkpointed: a run recovered after a crash takes the same branch.
#[derive(Clone)]
pub struct Condition {
    pub(crate) name: String,
    pub(crate) evaluator: Evaluator,
    pub(crate) steps: Vec<WorkflowStep>,
    pub(crate) else_steps: Vec<WorkflowStep>,
}

impl Condition {
    /// A condition called `name` running `steps` when `evaluator` returns true.
    pub fn new<I, S>(
        name: impl Into<String>,
        evaluator: impl Fn(&StepInput) -> bool + Send + Sync + 'static,
        steps: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        let evaluator = Arc::new(evaluator);
        Self::new_async(
            name,
            move |input: StepInput| {
                let answer = evaluator(&input);
                async move { Ok(answer) }
            },
            steps,
        )
    }

    /// A condition whose evaluator is async (or fallible): `steps` run when it resolves to
    /// true; an error fails the run.
    pub fn new_async<F, Fut, I, S>(name: impl Into<String>, evaluator: F, steps: I) -> Self
    where
        F: Fn(StepInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, StepError>> + Send + 'static,
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        Self {
            name: name.into(),
            evaluator: Arc::new(move |input| evaluator(input).boxed()),
            steps: nodes(steps),
            else_steps: Vec::new(),
        }
    }

    /// Steps to run when the evaluator returns false.
    pub fn otherwise<I, S>(mut self, steps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        self.else_steps = nodes(steps);
        self
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("name", &self.name)
            .field("steps", &self.steps)
            .field("else_steps", &self.else_steps)
            .finish()
    }
}

/// Decides whether a loop stops, given the outputs of the iteration that just ended.
pub type EndCondition = Arc<dyn Fn(Vec<StepOutput>) -> Decision<bool> + Send + Sync>;

/// Runs `steps` repeatedly: at most `max_iterations` times (default 3), stopping early when
/// the end condition returns true after an iteration.
#[derive(Clone)]
pub struct Loop {
    pub(crate) name: String,
    pub(crate) steps: Vec<WorkflowStep>,
    pub(crate) max_iterations: u32,
    pub(crate) end_condition: Option<EndCondition>,
}

impl Loop {
    /// A loop called `name` over `steps`.
    pub fn new<I, S>(name: impl Into<String>, steps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        Self {
            name: name.into(),
            steps: nodes(steps),
            max_iterations: 3,
            end_condition: None,
        }
    }

    /// The iteration limit (default 3).
    pub fn max_iterations(mut self, n: u32) -> Self {
        self.max_iterations = n;
        self
    }

    /// Stops the loop after an iteration whose outputs satisfy `f`.
    pub fn end_condition(self, f: impl Fn(&[StepOutput]) -> bool + Send + Sync + 'static) -> Self {
        self.end_condition_async(move |outputs: Vec<StepOutput>| {
            let end = f(&outputs);
            async move { Ok(end) }
        })
    }

    /// Like [`end_condition`](Self::end_condition), with an async (or fallible) `f`; an error
    /// fails the run.
    pub fn end_condition_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Vec<StepOutput>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, StepError>> + Send + 'static,
    {
        self.end_condition = Some(Arc::new(move |outputs| f(outputs).boxed()));
        self
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loop")
            .field("name", &self.name)
            .field("steps", &self.steps)
            .field("max_iterations", &self.max_iterations)
            .finish()
    }
}

/// Picks which choices a router runs, by name, in order.
pub type Selector = Arc<dyn Fn(StepInput) -> Decision<Vec<String>> + Send + Sync>;

/// Runs the choices a selector names, in sequence. Naming an unknown choice fails the step.
///
/// The selection is checkpointed: a run recovered after a crash runs the same choices.
#[derive(Clone)]
pub struct Router {
    pub(crate) name: String,
    pub(crate) selector: Selector,
    pub(crate) choices: Vec<WorkflowStep>,
}

impl Router {
    /// A router called `name` choosing among `choices` with `selector`.
    pub fn new<I, S>(
        name: impl Into<String>,
        selector: impl Fn(&StepInput) -> Vec<String> + Send + Sync + 'static,
        choices: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        let selector = Arc::new(selector);
        Self::new_async(
            name,
            move |input: StepInput| {
                let chosen = selector(&input);
                async move { Ok(chosen) }
            },
            choices,
        )
    }

    /// A router whose selector is async (or fallible); an error fails the run.
    pub fn new_async<F, Fut, I, S>(name: impl Into<String>, selector: F, choices: I) -> Self
    where
        F: Fn(StepInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<String>, StepError>> + Send + 'static,
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        Self {
            name: name.into(),
            selector: Arc::new(move |input| selector(input).boxed()),
            choices: nodes(choices),
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("name", &self.name)
            .field("choices", &self.choices)
            .finish()
    }
}
