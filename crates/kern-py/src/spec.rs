//! Compiling the Python package's definitions (plain dicts, built by `kern.agent`, `kern.team`,
//! `kern.workflow`, `kern.models`, `kern.tools`) into engine components.
//!
//! The dict shapes are private to the package (see `python/kern/_spec.py`, which builds them);
//! a malformed one is a bug there, reported as a `DefinitionError` naming the field. User code
//! inside them (step executors, tools, evaluators, selectors, end conditions) arrives as
//! adapters: callables of one JSON argument, wrapped in [`PyCallable`].

use crate::callable::PyCallable;
use crate::component::Component as PyComponent;
use crate::errors::DefinitionError;
use async_trait::async_trait;
use kern_agent::{Agent, Team, TeamMode};
use kern_core::engine::Component;
use kern_core::workflow::{
    Condition, InputField, Loop, OnReject, Parallel, Router, Step, StepError, StepExecutor,
    StepInput, StepOutput, Steps, Workflow, WorkflowStep,
};
use kern_models::{
    Anthropic, ChatRequest, Gemini, Model, ModelError, ModelStream, Ollama, OpenAiChat,
    OpenAiCompatible, OpenAiResponses,
};
use kern_tools::{
    DuckDuckGoTools, ExaTools, FunctionTool, GoogleSearchTools, HackerNewsTools, HttpSettings,
    HttpToolkit, HumanInLoop, ToolError, Toolkit, UserInputField, YFinanceTools,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

type Spec<'py> = Bound<'py, PyDict>;

fn field<'py, T: FromPyObjectOwned<'py>>(spec: &Spec<'py>, key: &str) -> PyResult<Option<T>> {
    match spec.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.extract::<T>().map(Some).map_err(|e| {
            let e: PyErr = e.into();
            DefinitionError::new_err(format!("field {key:?} of a definition: {e}"))
        }),
    }
}

fn required<'py, T: FromPyObjectOwned<'py>>(spec: &Spec<'py>, key: &str) -> PyResult<T> {
    field(spec, key)?
        .ok_or_else(|| DefinitionError::new_err(format!("a definition lacks field {key:?}")))
}

fn list<'py>(spec: &Spec<'py>, key: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    match spec.get_item(key)? {
        None => Ok(Vec::new()),
        Some(v) if v.is_none() => Ok(Vec::new()),
        Some(v) => Ok(v
            .cast::<PyList>()
            .map_err(|_| DefinitionError::new_err(format!("field {key:?} must be a list")))?
            .iter()
            .collect()),
    }
}

fn secs(spec: &Spec<'_>, key: &str) -> PyResult<Option<Duration>> {
    Ok(field::<f64>(spec, key)?
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64))
}

fn user_fn(spec: &Spec<'_>, key: &str, what: String) -> PyResult<Option<Arc<PyCallable>>> {
    let Some(func) = spec.get_item(key)?.filter(|f| !f.is_none()) else {
        return Ok(None);
    };
    let is_async = field::<bool>(spec, "is_async")?.unwrap_or(false);
    Ok(Some(Arc::new(PyCallable::new(
        func.unbind(),
        is_async,
        what,
    ))))
}

// ---------------------------------------------------------------------------------------------
// Workflows

/// Compiles a workflow spec: `{id, name, description, timeout, steps: [node]}`.
pub fn workflow(spec: &Spec<'_>) -> PyResult<Arc<dyn Component>> {
    let id: String = required(spec, "id")?;
    let mut builder = Workflow::builder(&id);
    if let Some(name) = field::<String>(spec, "name")? {
        builder = builder.name(name);
    }
    if let Some(d) = field::<String>(spec, "description")? {
        builder = builder.description(d);
    }
    if let Some(t) = secs(spec, "timeout")? {
        builder = builder.timeout(t);
    }
    for node in list(spec, "steps")? {
        builder = builder.step(self::node(node.cast()?)?);
    }
    let workflow = builder.build().map_err(crate::errors::engine_error)?;
    Ok(workflow.def().clone())
}

fn nodes(spec: &Spec<'_>, key: &str) -> PyResult<Vec<WorkflowStep>> {
    list(spec, key)?.iter().map(|n| node(n.cast()?)).collect()
}

fn node(spec: &Spec<'_>) -> PyResult<WorkflowStep> {
    let kind: String = required(spec, "type")?;
    let name: String = required(spec, "name")?;
    Ok(match kind.as_str() {
        "step" => WorkflowStep::Step(step(spec, name)?),
        "steps" => Steps::new(name, nodes(spec, "steps")?).into(),
        "parallel" => Parallel::new(name, nodes(spec, "steps")?).into(),
        "condition" => {
            let evaluator =
                user_fn(spec, "evaluator", format!("condition '{name}'"))?.ok_or_else(|| {
                    DefinitionError::new_err(format!("condition {name:?} has no evaluator"))
                })?;
            Condition::new_async(
                name,
                move |input: StepInput| {
                    let evaluator = evaluator.clone();
                    async move { decision(&evaluator, &input).await }
                },
                nodes(spec, "steps")?,
            )
            .otherwise(nodes(spec, "else_steps")?)
            .into()
        }
        "router" => {
            let selector =
                user_fn(spec, "selector", format!("router '{name}'"))?.ok_or_else(|| {
                    DefinitionError::new_err(format!("router {name:?} has no selector"))
                })?;
            Router::new_async(
                name,
                move |input: StepInput| {
                    let selector = selector.clone();
                    async move { decision(&selector, &input).await }
                },
                nodes(spec, "choices")?,
            )
            .into()
        }
        "loop" => {
            let mut l = Loop::new(name.clone(), nodes(spec, "steps")?);
            if let Some(n) = field::<u32>(spec, "max_iterations")? {
                l = l.max_iterations(n);
            }
            if let Some(end) = user_fn(
                spec,
                "end_condition",
                format!("the end condition of loop '{name}'"),
            )? {
                l = l.end_condition_async(move |outputs: Vec<StepOutput>| {
                    let end = end.clone();
                    async move {
                        let arg = serde_json::to_value(&outputs)
                            .map_err(|e| StepError::msg(e.to_string()))?;
                        let answer = end.call(arg).await.map_err(|e| StepError::msg(e.0))?;
                        Ok(truthy(&answer))
                    }
                });
            }
            l.into()
        }
        other => {
            return Err(DefinitionError::new_err(format!(
                "unknown workflow node type {other:?}"
            )))
        }
    })
}

/// Calls a decision function (evaluator, selector) with the step input as JSON.
async fn decision<T: serde::de::DeserializeOwned>(
    f: &PyCallable,
    input: &StepInput,
) -> Result<T, StepError> {
    let answer = f
        .call(step_input_json(input))
        .await
        .map_err(|e| StepError::msg(e.0))?;
    serde_json::from_value(answer).map_err(|e| StepError::msg(format!("unexpected answer: {e}")))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn step(spec: &Spec<'_>, name: String) -> PyResult<Step> {
    let mut step = if let Some(agent) = spec.get_item("agent")?.filter(|a| !a.is_none()) {
        let agent: PyRef<'_, PyComponent> = agent.extract()?;
        Step::component(name.clone(), agent.inner().clone())
    } else if let Some(team) = spec.get_item("team")?.filter(|t| !t.is_none()) {
        let team: PyRef<'_, PyComponent> = team.extract()?;
        Step::component(name.clone(), team.inner().clone())
    } else if let Some(executor) = user_fn(spec, "executor", format!("step '{name}'"))? {
        Step::with_executor(name.clone(), PyStep(executor))
    } else {
        return Err(DefinitionError::new_err(format!(
            "step {name:?} needs an agent, a team or an executor"
        )));
    };
    if let Some(id) = field::<String>(spec, "id")? {
        step = step.id(id);
    }
    if let Some(d) = field::<String>(spec, "description")? {
        step = step.description(d);
    }
    if let Some(n) = field::<u32>(spec, "max_retries")? {
        step = step.max_retries(n);
    }
    if let Some(b) = secs(spec, "retry_backoff")? {
        step = step.retry_backoff(b);
    }
    if field::<bool>(spec, "skip_on_failure")?.unwrap_or(false) {
        step = step.skip_on_failure(true);
    }
    if field::<bool>(spec, "at_most_once")?.unwrap_or(false) {
        step = step.at_most_once(true);
    }
    if let Some(review) = spec.get_item("review")?.filter(|r| !r.is_none()) {
        let review = crate::convert::to_json(&review, "a step's review")?;
        let message = review
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        step = match review.get("type").and_then(Value::as_str) {
            Some("confirmation") => {
                let on_reject = match review.get("on_reject").and_then(Value::as_str) {
                    None | Some("cancel") => OnReject::Cancel,
                    Some("skip") => OnReject::Skip,
                    Some(other) => {
                        return Err(DefinitionError::new_err(format!(
                            "step {name:?}: on_reject must be 'cancel' or 'skip', got {other:?}"
                        )))
                    }
                };
                step.requires_confirmation(message, on_reject)
            }
            Some("user_input") => {
                let fields: Vec<InputField> =
                    serde_json::from_value(review.get("fields").cloned().unwrap_or_default())
                        .map_err(|e| {
                            DefinitionError::new_err(format!(
                                "step {name:?}: user_input_schema: {e}"
                            ))
                        })?;
                step.requires_user_input(message, fields)
            }
            other => {
                return Err(DefinitionError::new_err(format!(
                    "step {name:?}: unknown review type {other:?}"
                )))
            }
        };
    }
    Ok(step)
}

/// The JSON the package's adapters turn into a `StepInput`.
fn step_input_json(input: &StepInput) -> Value {
    json!({
        "input": input.input,
        "previous_step_content": input.previous_step_content,
        "previous_step_outputs": &*input.previous_step_outputs,
        "additional_data": input.additional_data,
        "session_state": input.session_state.snapshot(),
        "run_id": input.run_id().to_string(),
        "session_id": input.session_id(),
        "step_name": input.step_name(),
        "attempt": input.attempt(),
    })
}

/// A function step written in Python.
struct PyStep(Arc<PyCallable>);

#[async_trait]
impl StepExecutor for PyStep {
    fn executor_type(&self) -> &'static str {
        "function"
    }

    async fn execute(&self, input: StepInput) -> Result<StepOutput, StepError> {
        let result = self
            .0
            .call(step_input_json(&input))
            .await
            .map_err(|e| StepError::msg(e.0))?;
        // The adapter answers {"output": StepOutput as JSON, "state_set": {key: value},
        // "state_deleted": [key]}: only the keys the step changed, so that parallel steps
        // changing different keys do not overwrite each other.
        let set = result.get("state_set").and_then(Value::as_object);
        let deleted = result.get("state_deleted").and_then(Value::as_array);
        if set.is_some_and(|s| !s.is_empty()) || deleted.is_some_and(|d| !d.is_empty()) {
            input.session_state.update(|state| {
                for (k, v) in set.into_iter().flatten() {
                    state.insert(k.clone(), v.clone());
                }
                for k in deleted.into_iter().flatten().filter_map(Value::as_str) {
                    state.remove(k);
                }
            });
        }
        let output = result.get("output").cloned().unwrap_or(Value::Null);
        serde_json::from_value(output).map_err(|e| {
            StepError::msg(format!("the step's output does not fit a StepOutput: {e}"))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Agents and teams

/// Compiles an agent spec: `{id, name, role, description, instructions, model, tools, …}`.
pub fn agent(spec: &Spec<'_>) -> PyResult<Arc<dyn Component>> {
    let id: String = required(spec, "id")?;
    let model_spec = spec
        .get_item("model")?
        .ok_or_else(|| DefinitionError::new_err(format!("agent {id:?} has no model")))?;
    let mut b = Agent::builder(&id).model(model(model_spec.cast()?)?);
    if let Some(n) = field::<String>(spec, "name")? {
        b = b.name(n);
    }
    if let Some(r) = field::<String>(spec, "role")? {
        b = b.role(r);
    }
    if let Some(d) = field::<String>(spec, "description")? {
        b = b.description(d);
    }
    b = b.instructions(field::<Vec<String>>(spec, "instructions")?.unwrap_or_default());
    for tool in list(spec, "tools")? {
        for t in tools_of(tool.cast()?, &format!("agent {id:?}"))? {
            b = b.shared_tool(t);
        }
    }
    if let Some(n) = field::<u32>(spec, "max_tool_rounds")? {
        b = b.max_tool_rounds(n);
    }
    if let Some(n) = field::<usize>(spec, "history_runs")? {
        b = b.history_runs(n);
    }
    if let Some(schema) = spec.get_item("output_schema")?.filter(|s| !s.is_none()) {
        b = b.output_schema(crate::convert::to_json(&schema, "an output schema")?);
    }
    if let Some(t) = secs(spec, "timeout")? {
        b = b.timeout(t);
    }
    let agent = b.build().map_err(crate::errors::engine_error)?;
    Ok(agent.def().clone())
}

/// Compiles a team spec: `{id, name, description, instructions, model, members, mode, …}`.
pub fn team(spec: &Spec<'_>) -> PyResult<Arc<dyn Component>> {
    let id: String = required(spec, "id")?;
    let model_spec = spec
        .get_item("model")?
        .ok_or_else(|| DefinitionError::new_err(format!("team {id:?} has no model")))?;
    let mut b = Team::builder(&id).model(model(model_spec.cast()?)?);
    if let Some(n) = field::<String>(spec, "name")? {
        b = b.name(n);
    }
    if let Some(d) = field::<String>(spec, "description")? {
        b = b.description(d);
    }
    b = b.instructions(field::<Vec<String>>(spec, "instructions")?.unwrap_or_default());
    for member in list(spec, "members")? {
        let member: PyRef<'_, PyComponent> = member.extract()?;
        b = b.member_component(member.inner().clone());
    }
    for tool in list(spec, "tools")? {
        for t in tools_of(tool.cast()?, &format!("team {id:?}"))? {
            b = b.shared_tool(t);
        }
    }
    b = b.mode(match field::<String>(spec, "mode")?.as_deref() {
        None | Some("coordinate") => TeamMode::Coordinate,
        Some("route") => TeamMode::Route,
        Some("collaborate") => TeamMode::Collaborate,
        Some(other) => {
            return Err(DefinitionError::new_err(format!(
                "team {id:?}: unknown mode {other:?} (coordinate, route or collaborate)"
            )))
        }
    });
    if let Some(n) = field::<u32>(spec, "max_tool_rounds")? {
        b = b.max_tool_rounds(n);
    }
    if let Some(n) = field::<usize>(spec, "history_runs")? {
        b = b.history_runs(n);
    }
    if let Some(t) = secs(spec, "timeout")? {
        b = b.timeout(t);
    }
    let team = b.build().map_err(crate::errors::engine_error)?;
    Ok(team.def().clone())
}

// ---------------------------------------------------------------------------------------------
// Models

/// Compiles a model spec: `{provider, id, api_key, base_url, missing_key}`. A model whose API
/// key is missing is built anyway and fails when used, naming the variable (as Agno's do).
pub fn model(spec: &Spec<'_>) -> PyResult<Arc<dyn Model>> {
    let provider: String = required(spec, "provider")?;
    let id: String = required(spec, "id")?;
    let key: Option<String> = field(spec, "api_key")?;
    let base_url: Option<String> = field(spec, "base_url")?;
    if let Some(env_var) = field::<String>(spec, "missing_key")? {
        return Ok(Arc::new(Unconfigured {
            provider,
            id,
            env_var,
        }));
    }
    let key = key.unwrap_or_default();
    Ok(match provider.as_str() {
        "openai" => {
            let mut m = OpenAiChat::new(id, key);
            if let Some(url) = base_url {
                m = m.base_url(url);
            }
            Arc::new(m)
        }
        "openai-responses" => {
            let mut m = OpenAiResponses::new(id, key);
            if let Some(url) = base_url {
                m = m.base_url(url);
            }
            Arc::new(m)
        }
        "openai-like" => {
            let url = base_url.ok_or_else(|| {
                DefinitionError::new_err(format!("OpenAILike model {id:?} needs a base_url"))
            })?;
            let mut m = OpenAiCompatible::new(url, id);
            if !key.is_empty() {
                m = m.api_key(key);
            }
            Arc::new(m)
        }
        "anthropic" => {
            let mut m = Anthropic::new(id, key);
            if let Some(url) = base_url {
                m = m.base_url(url);
            }
            Arc::new(m)
        }
        "gemini" => {
            let mut m = Gemini::new(id, key);
            if let Some(url) = base_url {
                m = m.base_url(url);
            }
            Arc::new(m)
        }
        "ollama" => {
            let mut m = Ollama::new(id);
            if let Some(host) = base_url {
                m = m.host(host);
            }
            if !key.is_empty() {
                m = m.api_key(key);
            }
            Arc::new(m)
        }
        other => {
            return Err(DefinitionError::new_err(format!(
                "unknown model provider {other:?}"
            )))
        }
    })
}

/// A model whose API key was not set: every request fails with the variable's name.
struct Unconfigured {
    provider: String,
    id: String,
    env_var: String,
}

#[async_trait]
impl Model for Unconfigured {
    fn id(&self) -> &str {
        &self.id
    }

    fn provider(&self) -> &str {
        &self.provider
    }

    async fn stream(&self, _: ChatRequest) -> Result<ModelStream, ModelError> {
        Err(ModelError::MissingApiKey {
            provider: self.provider.clone(),
            env_var: self.env_var.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Tools

/// The tools a Python tool spec stands for: one function tool, or a toolkit's tools. `owner`
/// names the agent or team, for errors.
fn tools_of(spec: &Spec<'_>, owner: &str) -> PyResult<Vec<Arc<dyn kern_tools::Tool>>> {
    let kind: String = required(spec, "type")?;
    match kind.as_str() {
        "function" => {
            let name: String = required(spec, "name")?;
            let description: String = field(spec, "description")?.unwrap_or_default();
            let parameters = match spec.get_item("parameters")? {
                Some(p) if !p.is_none() => crate::convert::to_json(&p, "a tool's parameters")?,
                _ => json!({"type": "object", "properties": {}}),
            };
            if parameters.get("type").and_then(Value::as_str) != Some("object") {
                return Err(DefinitionError::new_err(format!(
                    "tool {name:?} of {owner}: its parameters must be a JSON schema of type object"
                )));
            }
            let call = user_fn(spec, "callable", format!("tool '{name}'"))?.ok_or_else(|| {
                DefinitionError::new_err(format!("tool {name:?} has no callable"))
            })?;
            let gate = human_in_loop(spec)?;
            let tool =
                FunctionTool::from_json_fn(name, description, parameters, move |args, _ctx| {
                    let call = call.clone();
                    async move {
                        let result = call.call(args).await.map_err(|e| ToolError::Failed(e.0))?;
                        Ok::<_, ToolError>(match result {
                            Value::String(s) => s,
                            other => other.to_string(),
                        })
                    }
                });
            let tool = tool.with_human_in_loop(gate);
            let tool = if field::<bool>(spec, "at_most_once")?.unwrap_or(false) {
                tool.at_most_once()
            } else {
                tool
            };
            Ok(vec![Arc::new(tool)])
        }
        "toolkit" => {
            let name: String = required(spec, "toolkit")?;
            let options = spec
                .get_item("options")?
                .map(|o| crate::convert::to_json(&o, "toolkit options"))
                .transpose()?
                .unwrap_or(Value::Null);
            Ok(toolkit(&name, &options)?.tools())
        }
        other => Err(DefinitionError::new_err(format!(
            "unknown tool type {other:?}"
        ))),
    }
}

/// A Python tool's human-in-the-loop setting: `{"type": "confirmation" | "user_input" |
/// "external", "fields": [{name, field_type, description}]}`, or absent.
fn human_in_loop(spec: &Spec<'_>) -> PyResult<HumanInLoop> {
    let Some(h) = spec.get_item("human_in_loop")?.filter(|h| !h.is_none()) else {
        return Ok(HumanInLoop::None);
    };
    let h = crate::convert::to_json(&h, "a tool's human_in_loop")?;
    Ok(match h.get("type").and_then(Value::as_str) {
        Some("confirmation") => HumanInLoop::Confirmation,
        Some("external") => HumanInLoop::ExternalExecution,
        Some("user_input") => HumanInLoop::UserInput(
            serde_json::from_value::<Vec<UserInputField>>(
                h.get("fields").cloned().unwrap_or_default(),
            )
            .map_err(|e| DefinitionError::new_err(format!("user_input_fields: {e}")))?,
        ),
        other => {
            return Err(DefinitionError::new_err(format!(
                "unknown human_in_loop type {other:?}"
            )))
        }
    })
}

fn opt_str<'a>(options: &'a Value, key: &str) -> Option<&'a str> {
    options.get(key).and_then(Value::as_str)
}

fn opt_bool(options: &Value, key: &str) -> Option<bool> {
    options.get(key).and_then(Value::as_bool)
}

/// A built-in toolkit by name, configured from the Python toolkit's options.
fn toolkit(name: &str, o: &Value) -> PyResult<Box<dyn Toolkit>> {
    let settings = HttpSettings {
        base_url: opt_str(o, "base_url").map(str::to_owned),
        timeout: o
            .get("timeout")
            .and_then(Value::as_f64)
            .filter(|t| *t > 0.0)
            .map(Duration::from_secs_f64),
    };
    Ok(match name {
        "hackernews" => {
            let mut t = HackerNewsTools::new().http_settings(settings);
            if let Some(b) = opt_bool(o, "enable_get_top_stories") {
                t = t.enable_get_top_stories(b);
            }
            if let Some(b) = opt_bool(o, "enable_get_user_details") {
                t = t.enable_get_user_details(b);
            }
            Box::new(t)
        }
        "yfinance" => {
            let mut t = YFinanceTools::new().http_settings(settings);
            if let Some(b) = opt_bool(o, "enable_stock_price") {
                t = t.enable_stock_price(b);
            }
            if let Some(b) = opt_bool(o, "enable_company_info") {
                t = t.enable_company_info(b);
            }
            if let Some(b) = opt_bool(o, "enable_historical_prices") {
                t = t.enable_historical_prices(b);
            }
            Box::new(t)
        }
        "duckduckgo" => {
            let mut t = DuckDuckGoTools::new().http_settings(settings);
            if let Some(url) = opt_str(o, "html_url") {
                t = t.html_url(url);
            }
            if let Some(b) = opt_bool(o, "enable_search") {
                t = t.enable_search(b);
            }
            if let Some(b) = opt_bool(o, "enable_news") {
                t = t.enable_news(b);
            }
            Box::new(t)
        }
        "google_search" => {
            let mut t = GoogleSearchTools::new().http_settings(settings);
            if let Some(key) = opt_str(o, "api_key") {
                t = t.api_key(key);
            }
            if let Some(cx) = opt_str(o, "cse_id") {
                t = t.cse_id(cx);
            }
            Box::new(t)
        }
        "exa" => {
            let mut t = ExaTools::new().http_settings(settings);
            if let Some(key) = opt_str(o, "api_key") {
                t = t.api_key(key);
            }
            Box::new(t)
        }
        other => {
            return Err(DefinitionError::new_err(format!(
                "unknown toolkit {other:?}"
            )))
        }
    })
}
