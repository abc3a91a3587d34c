//! Workflows: steps that run in sequence, in parallel, conditionally, in loops or routed.
//!
//! A [`Workflow`] is a definition plus the engine that runs it. Built with
//! [`db`](WorkflowBuilder::db), it is registered on that engine and can run in all four modes
//! of [`ComponentHandle`]; built without, it runs in the foreground only (on a throwaway
//! in-process store), and the background modes fail with [`EngineError::NoDatabase`] before
//! anything runs.

mod exec;
mod node;
pub mod review;
mod step;

pub use node::{
    Condition, Decision, EndCondition, Evaluator, Loop, Parallel, Router, Selector, Steps,
    WorkflowStep,
};
pub use review::{HumanReview, InputField, OnReject};
pub use step::{SessionState, Step, StepError, StepExecutor, StepInput, StepOutput};

use crate::engine::{Component, ComponentHandle, ComponentOutput, Engine, RunContext, RunFailure};
use crate::error::{EngineError, EngineResult};
use crate::event::EventKind;
use crate::step_output::content_type;
use async_trait::async_trait;
use kern_store::ComponentKind;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// A workflow's definition (what the engine registers and runs).
pub struct WorkflowDef {
    id: String,
    name: String,
    description: Option<String>,
    steps: Vec<WorkflowStep>,
    timeout: Option<Duration>,
}

impl WorkflowDef {
    /// The workflow's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The workflow's description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The top-level steps.
    pub fn steps(&self) -> &[WorkflowStep] {
        &self.steps
    }
}

#[async_trait]
impl Component for WorkflowDef {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Workflow
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn info(&self) -> serde_json::Value {
        fn describe(s: &WorkflowStep) -> serde_json::Value {
            let children: Vec<&WorkflowStep> = match s {
                WorkflowStep::Step(_) => vec![],
                WorkflowStep::Steps(g) => g.steps.iter().collect(),
                WorkflowStep::Parallel(p) => p.steps.iter().collect(),
                WorkflowStep::Condition(c) => c.steps.iter().chain(&c.else_steps).collect(),
                WorkflowStep::Loop(l) => l.steps.iter().collect(),
                WorkflowStep::Router(r) => r.choices.iter().collect(),
            };
            let mut v = json!({ "name": s.name(), "type": s.step_type() });
            if let WorkflowStep::Step(step) = s {
                v["executor_type"] = json!(step.executor.executor_type());
                if let Some(d) = &step.description {
                    v["description"] = json!(d);
                }
            }
            if !children.is_empty() {
                v["steps"] = children.into_iter().map(describe).collect();
            }
            v
        }
        json!({ "steps": self.steps.iter().map(describe).collect::<Vec<_>>() })
    }

    fn fingerprint(&self) -> Option<String> {
        Some(fingerprint(&self.steps))
    }

    fn start_event(&self) -> Option<EventKind> {
        Some(EventKind::WorkflowStarted {})
    }

    // `execute` builds its output and its `WorkflowCompleted` from the same values.
    fn output_is_completion(&self) -> bool {
        true
    }

    async fn execute(&self, ctx: RunContext) -> Result<ComponentOutput, RunFailure> {
        let interpreter = exec::Interpreter {
            input: ctx.input().clone(),
            additional_data: ctx.input_field("additional_data").cloned(),
            ctx: ctx.clone(),
        };
        let mut history = exec::History::default();
        let outputs = match interpreter
            .sequence(&self.steps, &exec::Path::root(), &mut history)
            .await
        {
            Ok((outputs, _stopped)) => outputs,
            Err(exec::Failure::Failed(message)) => return Err(RunFailure(message)),
            Err(exec::Failure::Paused(requirements)) => {
                // Steps wait for a person: the run pauses (see `review`).
                let output = json!({
                    "content": null,
                    "content_type": "str",
                    "step_requirements": requirements,
                    "requirements": requirements,
                    "step_results": history.outputs,
                });
                let event = EventKind::RunPaused {
                    tools: Vec::new(),
                    requirements,
                    expires_at: None,
                };
                return Ok(ComponentOutput::paused(output, event, Default::default()));
            }
            Err(exec::Failure::Cancelled(why)) => {
                // A person rejected a step whose rejection cancels the run: cancel it as any
                // cancel does (durably), and let the engine finish it.
                ctx.cancel_self(why).await;
                return std::future::pending().await;
            }
        };
        let content = history.previous_content;
        let metrics = json!({ "duration": ctx.elapsed_secs(), "steps": step_metrics(&outputs) });
        let content_type = content_type(content.as_ref());
        Ok(ComponentOutput {
            output: json!({
                "content": content,
                "content_type": content_type,
                "step_results": outputs,
                "metrics": metrics,
            }),
            completed: EventKind::WorkflowCompleted {
                content,
                content_type: content_type.into(),
                step_results: outputs,
                metrics,
            },
            pause: None,
        })
    }
}

/// Per-step metrics by step name, as AgentOS reports them (`metrics.steps`), nested steps
/// included.
fn step_metrics(outputs: &[StepOutput]) -> serde_json::Value {
    fn collect(outputs: &[StepOutput], into: &mut serde_json::Map<String, serde_json::Value>) {
        for o in outputs {
            if let Some(name) = &o.step_name {
                into.insert(
                    name.clone(),
                    json!({
                        "step_name": name,
                        "executor_type": o.executor_type.as_deref().unwrap_or(o.step_type.as_deref().unwrap_or("")),
                        "executor_name": o.executor_name.as_deref().unwrap_or(name),
                        "metrics": o.metrics.clone().unwrap_or_else(|| json!({})),
                    }),
                );
            }
            if let Some(children) = &o.steps {
                collect(children, into);
            }
        }
    }
    let mut map = serde_json::Map::new();
    collect(outputs, &mut map);
    serde_json::Value::Object(map)
}

/// Builds a [`Workflow`].
pub struct WorkflowBuilder {
    id: String,
    name: Option<String>,
    description: Option<String>,
    steps: Vec<WorkflowStep>,
    timeout: Option<Duration>,
    engine: Option<Engine>,
}

impl WorkflowBuilder {
    /// Sets the display name (defaults to the id).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Appends a step (a [`Step`] or any composite).
    pub fn step(mut self, step: impl Into<WorkflowStep>) -> Self {
        self.steps.push(step.into());
        self
    }

    /// Appends steps.
    pub fn steps<I, S>(mut self, steps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<WorkflowStep>,
    {
        self.steps.extend(steps.into_iter().map(Into::into));
        self
    }

    /// The longest a run may take (from its first start, recoveries included); it then fails
    /// with a timeout error.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The engine (and so the database) that stores and runs this workflow's runs.
    pub fn db(mut self, engine: &Engine) -> Self {
        self.engine = Some(engine.clone());
        self
    }

    /// Validates the definition and, with a database, registers it on its engine.
    pub fn build(self) -> EngineResult<Workflow> {
        if self.id.trim().is_empty() {
            return Err(EngineError::InvalidDefinition(
                "a workflow needs an id".into(),
            ));
        }
        if self.steps.is_empty() {
            return Err(EngineError::InvalidDefinition(format!(
                "workflow {:?} has no steps",
                self.id
            )));
        }
        validate(&self.steps)?;
        let def = Arc::new(WorkflowDef {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id: self.id,
            description: self.description,
            steps: self.steps,
            timeout: self.timeout,
        });
        let handle = ComponentHandle::new(def.clone(), self.engine.as_ref())?;
        Ok(Workflow { def, handle })
    }
}

/// A digest of the step tree: every node's type and name, in order and nesting, which is
/// what checkpoints are keyed by. FNV-1a, so that it is the same in every build.
fn fingerprint(steps: &[WorkflowStep]) -> String {
    fn group(nodes: &[WorkflowStep], out: &mut String) {
        out.push('(');
        for node in nodes {
            walk(node, out);
        }
        out.push(')');
    }
    fn walk(s: &WorkflowStep, out: &mut String) {
        out.push_str(s.step_type());
        out.push(':');
        out.push_str(s.name());
        match s {
            WorkflowStep::Step(_) => {}
            WorkflowStep::Steps(g) => group(&g.steps, out),
            WorkflowStep::Parallel(p) => group(&p.steps, out),
            WorkflowStep::Condition(c) => {
                group(&c.steps, out);
                group(&c.else_steps, out);
            }
            WorkflowStep::Loop(l) => group(&l.steps, out),
            WorkflowStep::Router(r) => group(&r.choices, out),
        }
        out.push(';');
    }
    let mut text = String::new();
    group(steps, &mut text);
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("v1:{hash:016x}")
}

fn validate(steps: &[WorkflowStep]) -> EngineResult<()> {
    let mut names = Vec::new();
    for s in steps {
        s.visit_names(&mut names);
    }
    if let Some(empty) = names.iter().find(|n| n.trim().is_empty()) {
        return Err(EngineError::InvalidDefinition(format!(
            "every step needs a name (found {empty:?})"
        )));
    }
    fn check(s: &WorkflowStep) -> EngineResult<()> {
        match s {
            WorkflowStep::Router(r) => {
                let mut seen = HashSet::new();
                for c in &r.choices {
                    if !seen.insert(c.name()) {
                        return Err(EngineError::InvalidDefinition(format!(
                            "router {:?} has two choices named {:?}",
                            r.name,
                            c.name()
                        )));
                    }
                    check(c)?;
                }
            }
            WorkflowStep::Loop(l) if l.max_iterations == 0 => {
                return Err(EngineError::InvalidDefinition(format!(
                    "loop {:?} needs max_iterations >= 1",
                    l.name
                )))
            }
            WorkflowStep::Loop(l) => l.steps.iter().try_for_each(check)?,
            WorkflowStep::Steps(g) => g.steps.iter().try_for_each(check)?,
            WorkflowStep::Parallel(p) => p.steps.iter().try_for_each(check)?,
            WorkflowStep::Condition(c) => {
                c.steps.iter().chain(&c.else_steps).try_for_each(check)?
            }
            WorkflowStep::Step(_) => {}
        }
        Ok(())
    }
    steps.iter().try_for_each(check)
}

/// A workflow bound to the engine that runs it. Cheap to clone. The execution modes are
/// those of [`ComponentHandle`], which it dereferences to.
#[derive(Clone)]
pub struct Workflow {
    def: Arc<WorkflowDef>,
    handle: ComponentHandle,
}

impl std::ops::Deref for Workflow {
    type Target = ComponentHandle;
    fn deref(&self) -> &ComponentHandle {
        &self.handle
    }
}

impl Workflow {
    /// A builder for a workflow with this id.
    pub fn builder(id: impl Into<String>) -> WorkflowBuilder {
        WorkflowBuilder {
            id: id.into(),
            name: None,
            description: None,
            steps: Vec::new(),
            timeout: None,
            engine: None,
        }
    }

    /// The definition.
    pub fn def(&self) -> &Arc<WorkflowDef> {
        &self.def
    }
}
