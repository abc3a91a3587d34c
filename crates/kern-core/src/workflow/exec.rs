//! The workflow interpreter: walks the step tree, emits events, checkpoints each completion,
//! and on a recovered run skips whatever its checkpoints say is done.
//!
//! Every node has a path (`"2"`, `"2.0"`, `"3.i2.1"` for iteration 2 of a loop at 3). A node's
//! result is checkpointed under `step:<path>` atomically with its completion event, so a
//! completed node is never executed again. Decisions that user code makes (a condition's
//! answer, a router's choice) are checkpointed under `decision:<path>` with the event that
//! announces them, so a recovered run takes the same branch. Composite start events are
//! written with a `started:<path>` marker so a recovered run does not announce them twice.

use super::node::*;
use super::review::Verdict;
use super::step::{StepContext, StepError, StepInput, StepOutput};
use crate::engine::{RunContext, CONTINUE_KEY};
use crate::event::EventKind;
use crate::step_output::content_type;
use futures::FutureExt;
use serde_json::{Map, Value};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the interpreter stopped before the end.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A step failed and was not skipped: the message fails the run.
    Failed(String),
    /// Steps wait for a person (see `review`): the run pauses with these requirements.
    Paused(Vec<Value>),
    /// A person rejected a step whose rejection cancels the run.
    Cancelled(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Failed(message)
    }
}

/// The checkpoint an operator's requeue writes: the run's attempt when it was requeued. An
/// at-most-once step marked at or before that attempt may run again.
pub(crate) const REQUEUED_KEY: &str = "requeued_attempt";

/// What earlier steps left for later ones.
#[derive(Clone, Default)]
pub(crate) struct History {
    pub outputs: Vec<StepOutput>,
    pub previous_content: Option<Value>,
}

impl History {
    fn record(&mut self, out: &StepOutput) {
        if out.content.is_some() {
            self.previous_content = out.content.clone();
        }
        self.outputs.push(out.clone());
    }
}

/// Where a node sits: its checkpoint key and its `step_index` in events.
#[derive(Clone)]
pub(crate) struct Path {
    key: String,
    index: Vec<u64>,
}

impl Path {
    pub(crate) fn root() -> Self {
        Self {
            key: String::new(),
            index: Vec::new(),
        }
    }

    fn child(&self, i: usize) -> Self {
        let key = if self.key.is_empty() {
            i.to_string()
        } else {
            format!("{}.{i}", self.key)
        };
        let mut index = self.index.clone();
        index.push(i as u64);
        Self { key, index }
    }

    fn iteration(&self, it: u32) -> Self {
        Self {
            key: format!("{}.i{it}", self.key),
            index: self.index.clone(),
        }
    }

    fn step_index(&self) -> Value {
        match self.index.as_slice() {
            [i] => Value::from(*i),
            many => Value::from(many.to_vec()),
        }
    }
}

pub(crate) struct Interpreter {
    pub ctx: RunContext,
    pub input: Value,
    pub additional_data: Option<Value>,
}

type NodeResult = Result<StepOutput, Failure>;

impl Interpreter {
    /// Runs `nodes` in order; stops after a node whose output says `stop`.
    pub(crate) async fn sequence(
        &self,
        nodes: &[WorkflowStep],
        parent: &Path,
        history: &mut History,
    ) -> Result<(Vec<StepOutput>, bool), Failure> {
        let mut outputs = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let out = Box::pin(self.node(node, parent.child(i), history.clone())).await?;
            history.record(&out);
            let stop = out.stop;
            outputs.push(out);
            if stop {
                return Ok((outputs, true));
            }
        }
        Ok((outputs, false))
    }

    async fn node(&self, node: &WorkflowStep, path: Path, history: History) -> NodeResult {
        let key = format!("step:{}", path.key);
        if let Some(done) = self.ctx.checkpoint(&key) {
            return serde_json::from_value(done.clone())
                .map_err(|e| Failure::Failed(format!("checkpoint {key} is unreadable: {e}")));
        }
        let started = Instant::now();
        // Each kind's future is boxed: this future would otherwise be as large as the largest
        // of them whatever the node is, and a run's tree of nodes stays in memory as long as
        // its current step runs.
        let mut out = match node {
            WorkflowStep::Step(s) => {
                // A span per step (inside the run's span): logs and traces nest under it.
                let span = tracing::info_span!("step", step = %s.name, path = %path.key);
                let step = Box::pin(self.step(s, &path, &history, &key));
                return tracing::Instrument::instrument(step, span).await;
            }
            WorkflowStep::Steps(s) => Box::pin(self.steps(s, &path, history)).await?,
            WorkflowStep::Parallel(p) => Box::pin(self.parallel(p, &path, history)).await?,
            WorkflowStep::Condition(c) => Box::pin(self.condition(c, &path, history)).await?,
            WorkflowStep::Loop(l) => Box::pin(self.looped(l, &path, history)).await?,
            WorkflowStep::Router(r) => Box::pin(self.router(r, &path, history)).await?,
        };
        out.step_name = Some(node.name().to_owned());
        out.step_type = Some(node.step_type().to_owned());
        out.metrics = Some(duration_metrics(started.elapsed()));
        Ok(out)
    }

    fn step_input(
        &self,
        ctx: &RunContext,
        history: &History,
        name: &str,
        path: &Path,
        attempt: u32,
    ) -> StepInput {
        StepInput {
            input: self.input.clone(),
            previous_step_content: history.previous_content.clone(),
            previous_step_outputs: Arc::new(history.outputs.clone()),
            additional_data: self.additional_data.clone(),
            session_state: self.ctx.session_state().clone(),
            ctx: StepContext {
                run: ctx.clone(),
                cancel: ctx.cancellation_token().clone(),
                step_name: name.to_owned(),
                step_index: path.step_index(),
                attempt,
            },
        }
    }

    async fn step(
        &self,
        step: &super::Step,
        path: &Path,
        history: &History,
        key: &str,
    ) -> NodeResult {
        let step_index = path.step_index();
        // A step that needs a person first: decided by the latest continuation, or the run
        // pauses here before the step starts.
        let mut user_input = None;
        if let Some(review) = &step.review {
            let at = super::review::At {
                name: &step.name,
                id: step.id.as_deref(),
                path: &path.key,
                index: step_index.clone(),
            };
            match super::review::verdict(review, &at, self.ctx.checkpoint(CONTINUE_KEY)) {
                Verdict::Run(values) => user_input = values,
                Verdict::Wait(requirement) => return Err(Failure::Paused(vec![requirement])),
                Verdict::Cancel(why) => return Err(Failure::Cancelled(why)),
                Verdict::Skip(why) => {
                    let mut out = StepOutput {
                        content: None,
                        error: Some(why),
                        ..Default::default()
                    };
                    self.describe(&mut out, step, Instant::now());
                    self.complete(key, &step_index, &step.name, step.id.clone(), &out)
                        .await?;
                    return Ok(out);
                }
            }
        }
        // Everything the step emits (its start, its outputs, its child runs' events) belongs
        // to it: if the run is interrupted before its checkpoint, it runs again and those
        // events are voided.
        let ctx = self.ctx.scoped(key);
        let start = EventKind::StepStarted {
            step_name: step.name.clone(),
            step_id: step.id.clone(),
            step_index: step_index.clone(),
        };
        if step.at_most_once {
            // At most once: a durable mark before the step runs. A resumed run that finds the
            // mark without the step's result was interrupted inside it, so the step may have had
            // its effects: it is not run again (unless an operator requeued the run since).
            let mark = format!("attempting:{}", path.key);
            if let Some(marked) = self.ctx.checkpoint(&mark).and_then(Value::as_u64) {
                let requeued = self
                    .ctx
                    .checkpoint(REQUEUED_KEY)
                    .and_then(Value::as_u64)
                    .is_some_and(|at| at >= marked);
                if !requeued {
                    return Err(Failure::Failed(format!(
                        "step '{}' is at-most-once and was interrupted while it ran (the process running it stopped): it was not run again, since it may already have had its effects; requeue the run to run it again",
                        step.name
                    )));
                }
            }
            let attempt = u64::from(self.ctx.record().attempt);
            // Boxed (as the flushes below): a step's future lives as long as its code runs.
            Box::pin(ctx.checkpoint_with(&[start], vec![(mark, Value::from(attempt))]))
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
        } else {
            ctx.emit(start);
        }
        // Set once the earlier steps' completions are durable (the first settle below): a
        // step's duration is its own work (its tries and the waits between them), not the wait
        // for its predecessors' write, which under load is longer than a trivial step.
        let mut started: Option<Instant> = None;
        let mut attempt = 0;
        let error = loop {
            attempt += 1;
            // Where this try's events start, so that a failed try's can be voided before the
            // next one (only steps that may be retried pay for the flush this takes).
            let from = if step.max_retries > 0 {
                Some(
                    Box::pin(ctx.durable_len())
                        .await
                        .map_err(|e| Failure::Failed(e.to_string()))?,
                )
            } else {
                None
            };
            let mut input = self.step_input(&ctx, history, &step.name, path, attempt);
            if let Some(values) = &user_input {
                let mut data = match input.additional_data.take() {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                data.insert("user_input".into(), Value::Object(values.clone()));
                input.additional_data = Some(Value::Object(data));
            }
            // Earlier steps' completions are durable before this one's code runs.
            ctx.settle()
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            let started = *started.get_or_insert_with(Instant::now);
            let result = AssertUnwindSafe(step.executor.execute(input))
                .catch_unwind()
                .await
                .unwrap_or_else(|p| {
                    Err(StepError::msg(format!(
                        "step panicked: {}",
                        crate::panic_message(p.as_ref())
                    )))
                })
                .and_then(|out| match out.success {
                    true => Ok(out),
                    false => Err(StepError::msg(
                        out.error.unwrap_or_else(|| "step reported failure".into()),
                    )),
                });
            match result {
                Ok(mut out) => {
                    self.describe(&mut out, step, started);
                    self.complete(key, &step_index, &step.name, step.id.clone(), &out)
                        .await?;
                    return Ok(out);
                }
                Err(e) if attempt <= step.max_retries => {
                    let wait = step
                        .retry_backoff
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(Duration::from_secs(30));
                    tracing::debug!(step = %step.name, attempt, error = %e, ?wait, "step failed; retrying");
                    if let Some(from) = from {
                        let (step_name, index, error) =
                            (step.name.clone(), step_index.clone(), e.to_string());
                        Box::pin(
                            ctx.void_unit_since(from, move |voided| EventKind::StepRetried {
                                step_name,
                                step_index: index,
                                attempt,
                                error,
                                voided,
                            }),
                        )
                        .await
                        .map_err(|e| Failure::Failed(e.to_string()))?;
                    }
                    Box::pin(tokio::time::sleep(wait)).await;
                }
                Err(e) => break e,
            }
        };
        ctx.emit(EventKind::StepError {
            step_name: step.name.clone(),
            step_index: step_index.clone(),
            error: error.to_string(),
            attempts: attempt,
        });
        let message = format!(
            "step '{}' failed after {attempt} attempt{}: {error}",
            step.name,
            if attempt == 1 { "" } else { "s" }
        );
        if !step.skip_on_failure {
            return Err(Failure::Failed(message));
        }
        let mut out = StepOutput {
            success: false,
            error: Some(error.to_string()),
            ..Default::default()
        };
        // Every try got past the settle.
        self.describe(&mut out, step, started.unwrap_or_else(Instant::now));
        self.complete(key, &step_index, &step.name, step.id.clone(), &out)
            .await?;
        Ok(out)
    }

    fn describe(&self, out: &mut StepOutput, step: &super::Step, started: Instant) {
        out.step_name = Some(step.name.clone());
        out.step_id = Some(step.id.clone().unwrap_or_else(|| step.name.clone()));
        out.step_type = Some("Step".into());
        out.executor_type = Some(step.executor.executor_type().into());
        if out.executor_name.is_none() {
            out.executor_name = Some(step.name.clone());
        }
        out.metrics = Some(duration_metrics(started.elapsed()));
    }

    /// Queues a step's completion event with its checkpoint, for one atomic write.
    async fn complete(
        &self,
        key: &str,
        step_index: &Value,
        name: &str,
        step_id: Option<String>,
        out: &StepOutput,
    ) -> Result<(), Failure> {
        let event = EventKind::StepCompleted {
            step_name: name.to_owned(),
            step_id,
            step_index: step_index.clone(),
            content: out.content.clone(),
            content_type: content_type(out.content.as_ref()).into(),
            step_response: Box::new(out.clone()),
        };
        self.checkpoint(key, out, event).await
    }

    async fn checkpoint(
        &self,
        key: &str,
        out: &StepOutput,
        event: EventKind,
    ) -> Result<(), Failure> {
        // Straight to text: the value is only written (a resumed run reads it back).
        let value = serde_json::value::to_raw_value(out).map_err(|e| e.to_string())?;
        // Not awaited here: the write is awaited before more user code runs (`settle`), and a
        // run's last step completes in its final write (`RunContext::checkpoint_soon`).
        self.ctx
            .checkpoint_json_soon(&[event], vec![(key.to_owned(), value)])
            .map_err(|e| Failure::Failed(e.to_string()))
    }

    /// Announces a composite's start once, even across recoveries.
    async fn started(&self, path: &Path, event: EventKind) -> Result<(), Failure> {
        let key = format!("started:{}", path.key);
        if self.ctx.checkpoint(&key).is_some() {
            return Ok(());
        }
        self.ctx
            .checkpoint_with(&[event], vec![(key, Value::Bool(true))])
            .await
            .map_err(|e| Failure::Failed(e.to_string()))
    }

    /// A decision of user code, made once per run and remembered across recoveries.
    async fn decide<T, F>(
        &self,
        path: &Path,
        what: &str,
        decide: F,
        announce: impl FnOnce(&T) -> EventKind,
    ) -> Result<T, Failure>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Decision<T>,
    {
        let key = format!("decision:{}", path.key);
        if let Some(v) = self.ctx.checkpoint(&key) {
            return serde_json::from_value(v.clone())
                .map_err(|e| Failure::Failed(format!("checkpoint {key} is unreadable: {e}")));
        }
        self.ctx.settle().await.map_err(|e| e.to_string())?;
        let value = user_decision(what, decide).await?;
        let json = serde_json::to_value(&value).map_err(|e| e.to_string())?;
        self.ctx
            .checkpoint_with(&[announce(&value)], vec![(key, json)])
            .await
            .map_err(|e| e.to_string())?;
        Ok(value)
    }

    async fn steps(&self, s: &Steps, path: &Path, mut history: History) -> NodeResult {
        let idx = path.step_index();
        self.started(
            path,
            EventKind::StepsExecutionStarted {
                step_name: s.name.clone(),
                step_index: idx.clone(),
                steps_count: s.steps.len(),
            },
        )
        .await?;
        let (outputs, stop) = self.sequence(&s.steps, path, &mut history).await?;
        let out = composite(outputs, stop);
        let event = EventKind::StepsExecutionCompleted {
            step_name: s.name.clone(),
            step_index: idx,
            steps_count: s.steps.len(),
            executed_steps: out.steps.as_ref().map_or(0, Vec::len),
            step_results: out.steps.clone().unwrap_or_default(),
        };
        self.checkpoint(
            &format!("step:{}", path.key),
            &with_name(&out, &s.name, "Steps"),
            event,
        )
        .await?;
        Ok(out)
    }

    async fn parallel(&self, p: &Parallel, path: &Path, history: History) -> NodeResult {
        let idx = path.step_index();
        self.started(
            path,
            EventKind::ParallelExecutionStarted {
                step_name: p.name.clone(),
                step_index: idx.clone(),
                parallel_step_count: p.steps.len(),
            },
        )
        .await?;
        // Branches run concurrently inside this run's task: cancelling the run drops them all,
        // and the first failing branch drops its siblings.
        let branches = p
            .steps
            .iter()
            .enumerate()
            .map(|(i, node)| Box::pin(self.node(node, path.child(i), history.clone())));
        let outputs = futures::future::try_join_all(branches).await?;
        let stop = outputs.iter().any(|o| o.stop);
        let mut content = Map::new();
        for (node, out) in p.steps.iter().zip(&outputs) {
            if let Some(c) = &out.content {
                content.insert(node.name().to_owned(), c.clone());
            }
        }
        let out = StepOutput {
            content: Some(Value::Object(content)),
            success: outputs.iter().all(|o| o.success),
            stop,
            steps: Some(outputs.clone()),
            ..Default::default()
        };
        let event = EventKind::ParallelExecutionCompleted {
            step_name: p.name.clone(),
            step_index: idx,
            parallel_step_count: p.steps.len(),
            step_results: outputs,
        };
        self.checkpoint(
            &format!("step:{}", path.key),
            &with_name(&out, &p.name, "Parallel"),
            event,
        )
        .await?;
        Ok(out)
    }

    async fn condition(&self, c: &Condition, path: &Path, mut history: History) -> NodeResult {
        let idx = path.step_index();
        let probe = self.step_input(&self.ctx, &history, &c.name, path, 1);
        let result: bool = self
            .decide(
                path,
                &format!("condition '{}'", c.name),
                || (c.evaluator)(probe),
                |r| EventKind::ConditionExecutionStarted {
                    step_name: c.name.clone(),
                    step_index: idx.clone(),
                    condition_result: *r,
                },
            )
            .await?;
        let (branch, nodes) = if result {
            ("if", &c.steps)
        } else {
            ("else", &c.else_steps)
        };
        let (outputs, stop) = self.sequence(nodes, path, &mut history).await?;
        let out = composite(outputs, stop);
        let event = EventKind::ConditionExecutionCompleted {
            step_name: c.name.clone(),
            step_index: idx,
            condition_result: result,
            branch: branch.into(),
            executed_steps: out.steps.as_ref().map_or(0, Vec::len),
            step_results: out.steps.clone().unwrap_or_default(),
        };
        self.checkpoint(
            &format!("step:{}", path.key),
            &with_name(&out, &c.name, "Condition"),
            event,
        )
        .await?;
        Ok(out)
    }

    async fn looped(&self, l: &Loop, path: &Path, mut history: History) -> NodeResult {
        let idx = path.step_index();
        self.started(
            path,
            EventKind::LoopExecutionStarted {
                step_name: l.name.clone(),
                step_index: idx.clone(),
                max_iterations: l.max_iterations,
            },
        )
        .await?;
        let mut all: Vec<Vec<StepOutput>> = Vec::new();
        let mut stop = false;
        for it in 1..=l.max_iterations {
            let it_path = path.iteration(it);
            let it_key = format!("iteration:{}", it_path.key);
            let (outputs, should_continue) = match self.ctx.checkpoint(&it_key) {
                Some(done) => serde_json::from_value::<(Vec<StepOutput>, bool)>(done.clone())
                    .map_err(|e| format!("checkpoint {it_key} is unreadable: {e}"))?,
                None => {
                    // Announced again if the iteration is interrupted: its unit is the
                    // iteration's checkpoint.
                    self.ctx
                        .scoped(it_key.as_str())
                        .emit(EventKind::LoopIterationStarted {
                            step_name: l.name.clone(),
                            step_index: idx.clone(),
                            iteration: it,
                            max_iterations: l.max_iterations,
                        });
                    let (outputs, stopped) =
                        self.sequence(&l.steps, &it_path, &mut history).await?;
                    let end = match &l.end_condition {
                        Some(f) => {
                            let what = format!("the end condition of loop '{}'", l.name);
                            self.ctx.settle().await.map_err(|e| e.to_string())?;
                            user_decision(&what, || f(outputs.clone())).await?
                        }
                        None => false,
                    };
                    let should_continue = !stopped && !end && it < l.max_iterations;
                    let event = EventKind::LoopIterationCompleted {
                        step_name: l.name.clone(),
                        step_index: idx.clone(),
                        iteration: it,
                        max_iterations: l.max_iterations,
                        iteration_results: outputs.clone(),
                        should_continue,
                    };
                    let value = serde_json::to_value((&outputs, should_continue))
                        .map_err(|e| e.to_string())?;
                    self.ctx
                        .checkpoint_with(&[event], vec![(it_key, value)])
                        .await
                        .map_err(|e| e.to_string())?;
                    (outputs, should_continue)
                }
            };
            for o in &outputs {
                history.record(o);
            }
            stop = outputs.iter().any(|o| o.stop);
            all.push(outputs);
            if !should_continue {
                break;
            }
        }
        let flat: Vec<StepOutput> = all.iter().flatten().cloned().collect();
        let out = composite(flat, stop);
        let event = EventKind::LoopExecutionCompleted {
            step_name: l.name.clone(),
            step_index: idx,
            total_iterations: all.len() as u32,
            max_iterations: l.max_iterations,
            all_results: all,
        };
        self.checkpoint(
            &format!("step:{}", path.key),
            &with_name(&out, &l.name, "Loop"),
            event,
        )
        .await?;
        Ok(out)
    }

    async fn router(&self, r: &Router, path: &Path, mut history: History) -> NodeResult {
        let idx = path.step_index();
        let probe = self.step_input(&self.ctx, &history, &r.name, path, 1);
        let selected: Vec<String> = self
            .decide(
                path,
                &format!("router '{}'", r.name),
                || (r.selector)(probe),
                |s| EventKind::RouterExecutionStarted {
                    step_name: r.name.clone(),
                    step_index: idx.clone(),
                    selected_steps: s.clone(),
                },
            )
            .await?;
        let mut outputs = Vec::with_capacity(selected.len());
        let mut stop = false;
        for name in &selected {
            let Some(i) = r.choices.iter().position(|c| c.name() == name) else {
                return Err(Failure::Failed(format!(
                    "router '{}' selected {name:?}, which is not one of its choices ({})",
                    r.name,
                    r.choices
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let out = Box::pin(self.node(&r.choices[i], path.child(i), history.clone())).await?;
            history.record(&out);
            stop = out.stop;
            outputs.push(out);
            if stop {
                break;
            }
        }
        let out = composite(outputs, stop);
        let event = EventKind::RouterExecutionCompleted {
            step_name: r.name.clone(),
            step_index: idx,
            selected_steps: selected,
            executed_steps: out.steps.as_ref().map_or(0, Vec::len),
            step_results: out.steps.clone().unwrap_or_default(),
        };
        self.checkpoint(
            &format!("step:{}", path.key),
            &with_name(&out, &r.name, "Router"),
            event,
        )
        .await?;
        Ok(out)
    }
}

/// Runs user code that decides the workflow's path (an evaluator, a selector, a loop's end
/// condition): its error or panic fails the run with a message naming it.
async fn user_decision<T>(what: &str, decide: impl FnOnce() -> Decision<T>) -> Result<T, Failure> {
    let panicked = |p: Box<dyn std::any::Any + Send>| {
        format!("{what} panicked: {}", crate::panic_message(p.as_ref()))
    };
    let future = std::panic::catch_unwind(AssertUnwindSafe(decide)).map_err(panicked)?;
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(panicked)?
        .map_err(|e| Failure::Failed(format!("{what} failed: {e}")))
}

/// A composite's result: its children's, with the last child's content.
fn composite(outputs: Vec<StepOutput>, stop: bool) -> StepOutput {
    StepOutput {
        content: outputs.iter().rev().find_map(|o| o.content.clone()),
        success: outputs.iter().all(|o| o.success),
        stop,
        steps: Some(outputs),
        ..Default::default()
    }
}

fn with_name(out: &StepOutput, name: &str, step_type: &str) -> StepOutput {
    let mut out = out.clone();
    out.step_name = Some(name.to_owned());
    out.step_type = Some(step_type.to_owned());
    out
}

pub(crate) fn duration_metrics(d: Duration) -> Value {
    serde_json::json!({ "duration": d.as_secs_f64() })
}
