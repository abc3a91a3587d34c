//! [`Agent`]: a model, instructions and tools, answering one input per run.

use crate::basics::{basic_setters, Basics};
use crate::output;
use crate::toolbox::Tools;
use crate::turns::{self, Turns, TurnsEnd};
use async_trait::async_trait;
use kern_core::engine::{
    Component, ComponentHandle, ComponentOutput, RunContext, RunFailure, FINAL_SCOPE,
};
use kern_core::event::EventKind;
use kern_core::workflow::Step;
use kern_core::{EngineError, EngineResult};
use kern_models::{IntoModel, Message, Model, ResponseFormat};
use kern_store::{ComponentKind, RunFilter, RunStatus};
use kern_tools::{Tool, Toolkit};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// An agent's definition: what the engine registers and runs.
pub struct AgentDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) role: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) instructions: Vec<String>,
    pub(crate) model: Arc<dyn Model>,
    pub(crate) tools: Vec<Arc<dyn Tool>>,
    pub(crate) max_tool_rounds: u32,
    pub(crate) history_runs: usize,
    pub(crate) output_schema: Option<Value>,
    pub(crate) timeout: Option<Duration>,
    /// How long a run paused for a person may wait before it fails.
    pub(crate) pause_expires_after: Option<Duration>,
}

impl AgentDef {
    /// The agent's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The agent's role in a team.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    /// The model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }
    /// The tools.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }

    /// The system message: description, role, instructions and the expected output.
    fn system_message(&self) -> Option<Message> {
        let mut parts = Vec::new();
        if let Some(d) = &self.description {
            parts.push(d.clone());
        }
        if let Some(r) = &self.role {
            parts.push(format!("<your_role>\n{r}\n</your_role>"));
        }
        if !self.instructions.is_empty() {
            let list: Vec<String> = self.instructions.iter().map(|i| format!("- {i}")).collect();
            parts.push(format!(
                "<instructions>\n{}\n</instructions>",
                list.join("\n")
            ));
        }
        if let Some(schema) = &self.output_schema {
            parts.push(format!(
                "Answer with a single JSON value matching this JSON schema, and nothing else:\n{schema}"
            ));
        }
        (!parts.is_empty()).then(|| Message::system(parts.join("\n\n")))
    }
}

/// Earlier runs of the session, oldest first, as user/assistant message pairs.
pub(crate) async fn session_history(
    ctx: &RunContext,
    kind: ComponentKind,
    component_id: &str,
    runs: usize,
) -> Result<Vec<Message>, RunFailure> {
    if runs == 0 {
        return Ok(Vec::new());
    }
    // Newest first, a few more than needed: runs started after this one (concurrent runs of
    // the session) are skipped below.
    let filter = RunFilter {
        session_id: Some(ctx.session_id().to_owned()),
        kind: Some(kind),
        component_id: Some(component_id.to_owned()),
        status: Some(RunStatus::Completed),
        newest_first: true,
        limit: Some(runs + 16),
        ..Default::default()
    };
    let newest = ctx
        .engine()
        .list_runs(&filter)
        .await
        .map_err(|e| RunFailure(format!("could not load the session's history: {e}")))?;
    let me = ctx.record();
    let mut earlier: Vec<_> = newest
        .into_iter()
        .filter(|r| r.run_id != me.run_id && r.created_at <= me.created_at)
        .take(runs)
        .collect();
    earlier.reverse();
    let mut messages = Vec::new();
    for run in &earlier {
        let input = run.input.get("input").map(text).unwrap_or_default();
        let answer = run.content().map(text).unwrap_or_default();
        messages.push(Message::user(input));
        messages.push(Message::assistant(answer));
    }
    Ok(messages)
}

/// Strings as they are, other JSON compact.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[async_trait]
impl Component for AgentDef {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Agent
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref().or(self.role.as_deref())
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn info(&self) -> Value {
        json!({
            "model": { "id": self.model.id(), "provider": self.model.provider(), "name": self.model.id() },
            "role": self.role,
            "instructions": self.instructions,
            "tools": self.tools.iter().map(|t| json!({"name": t.name(), "description": t.description()})).collect::<Vec<_>>(),
        })
    }

    fn start_event(&self) -> Option<EventKind> {
        Some(EventKind::RunStarted {
            model: self.model.id().to_owned(),
            model_provider: self.model.provider().to_owned(),
        })
    }

    async fn execute(&self, ctx: RunContext) -> Result<ComponentOutput, RunFailure> {
        let initial = if ctx.checkpoint(turns::CONVERSATION_KEY).is_some() {
            Vec::new() // the checkpointed conversation is used
        } else {
            let mut messages: Vec<Message> = self.system_message().into_iter().collect();
            messages.extend(
                session_history(&ctx, ComponentKind::Agent, &self.id, self.history_runs).await?,
            );
            messages.push(Message::user(text(ctx.input())));
            messages
        };
        let toolbox = Tools(self.tools.clone());
        let loop_ = Turns {
            ctx: &ctx,
            model: &*self.model,
            toolbox: &toolbox,
            max_tool_rounds: self.max_tool_rounds,
            team: false,
            response_format: self
                .output_schema
                .as_ref()
                .map(|s| ResponseFormat::json_schema("output", s.clone())),
        };
        let (answer, conv) = match loop_.run(initial).await? {
            TurnsEnd::Answer(answer, conv) => (answer, conv),
            TurnsEnd::Paused(waiting) => {
                return paused(&ctx, waiting, false, &*self.model, self.pause_expires_after)
            }
        };
        let answer = answer.unwrap_or_default();
        let (content, content_type) = match &self.output_schema {
            None => (Value::String(answer), "str"),
            Some(schema) => {
                let parsed: Value = serde_json::from_str(strip_fences(&answer)).map_err(|e| {
                    RunFailure(format!(
                        "structured output is not valid JSON ({e}): {}",
                        excerpt(&answer)
                    ))
                })?;
                output::validate(schema, &parsed).map_err(|e| {
                    RunFailure(format!("structured output does not match the schema: {e}"))
                })?;
                (parsed, "json")
            }
        };
        let metrics = turns::metrics(&conv, ctx.elapsed_secs());
        ctx.scoped(FINAL_SCOPE)
            .emit(EventKind::RunContentCompleted {});
        Ok(ComponentOutput {
            output: json!({
                "content": content,
                "content_type": content_type,
                "metrics": metrics,
                "model": self.model.id(),
                "model_provider": self.model.provider(),
                "tools": conv.tools,
            }),
            completed: EventKind::RunCompleted {
                content: Some(content),
                content_type: content_type.into(),
                metrics,
            },
            pause: None,
        })
    }
}

/// The run pauses: its tool calls wait for a person (see `hitl`). Only a top-level run can
/// pause: a team member's or a workflow step's run fails instead, saying why (its parent would
/// have to pause with it).
pub(crate) fn paused(
    ctx: &RunContext,
    waiting: Vec<Value>,
    team: bool,
    model: &dyn kern_models::Model,
    expires_after: Option<std::time::Duration>,
) -> Result<ComponentOutput, RunFailure> {
    if ctx.record().parent_run_id.is_some() {
        let names: Vec<&str> = waiting
            .iter()
            .filter_map(|w| w["tool_name"].as_str())
            .collect();
        return Err(RunFailure(format!(
            "the tool call(s) {names:?} wait for a person (confirmation, input or external execution), but this run is a team member's or a workflow step's: only a top-level agent run can pause"
        )));
    }
    let (output, event) = crate::hitl::paused(waiting, team, model.id(), model.provider());
    let event = if team { event.for_team() } else { event };
    Ok(ComponentOutput::paused(
        output,
        event,
        kern_core::engine::Pause { expires_after },
    ))
}

/// Models sometimes wrap JSON answers in Markdown code fences; look inside them.
fn strip_fences(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(200).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Builds an [`Agent`].
pub struct AgentBuilder {
    basics: Basics,
    role: Option<String>,
    output_schema: Option<Value>,
    pause_expires_after: Option<Duration>,
}

basic_setters!(AgentBuilder, whose = "the agent", runs = "agent");

impl AgentBuilder {
    /// Sets the role (what the agent does in a team).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }
    /// Sets the model (required): a provider value, an `Arc` of one, or a shared
    /// `Arc<dyn Model>`.
    pub fn model(mut self, model: impl IntoModel) -> Self {
        self.basics.model = Some(model.into_model());
        self
    }
    /// Adds a tool.
    pub fn tool(mut self, tool: impl Tool) -> Self {
        self.basics.tools.push(Arc::new(tool));
        self
    }
    /// Adds a shared tool (one `Arc` held by several agents).
    pub fn shared_tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.basics.tools.push(tool);
        self
    }
    /// Adds every tool of a toolkit.
    pub fn toolkit(mut self, toolkit: &dyn Toolkit) -> Self {
        self.basics.tools.extend(toolkit.tools());
        self
    }
    /// How many rounds of tool calls a run may make before the model must answer without
    /// tools (default 10).
    pub fn max_tool_rounds(mut self, n: u32) -> Self {
        self.basics.max_tool_rounds = n;
        self
    }
    /// How many earlier completed runs of the same session go into the context (default 3;
    /// 0 for none).
    pub fn history_runs(mut self, n: usize) -> Self {
        self.basics.history_runs = n;
        self
    }
    /// Asks for structured output: a JSON value matching `schema`. The answer is validated;
    /// a mismatch fails the run with the reason.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }
    /// How long a run paused for a person (a tool that needs confirmation, input or external
    /// execution) may wait before it fails saying so; by default it waits as long as it takes.
    pub fn pause_expires_after(mut self, d: Duration) -> Self {
        self.pause_expires_after = Some(d);
        self
    }

    /// Checks the definition and, with a database, registers it on its engine.
    pub fn build(self) -> EngineResult<Agent> {
        let mut basics = self.basics;
        let model = basics.take_model("agent", "needs a model")?;
        if basics.id.trim().is_empty() {
            return Err(EngineError::InvalidDefinition(
                "an agent needs an id".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &basics.tools {
            if !seen.insert(t.name().to_owned()) {
                return Err(EngineError::InvalidDefinition(format!(
                    "agent {:?} has two tools named {:?}",
                    basics.id,
                    t.name()
                )));
            }
        }
        let def = Arc::new(AgentDef {
            name: basics.display_name(),
            id: basics.id,
            role: self.role,
            description: basics.description,
            instructions: basics.instructions,
            model,
            tools: basics.tools,
            max_tool_rounds: basics.max_tool_rounds,
            history_runs: basics.history_runs,
            output_schema: self.output_schema,
            timeout: basics.timeout,
            pause_expires_after: self.pause_expires_after,
        });
        let handle = ComponentHandle::new(def.clone(), basics.engine.as_ref())?;
        Ok(Agent { def, handle })
    }
}

/// An agent bound to the engine that runs it. Cheap to clone. The execution modes are those
/// of [`ComponentHandle`], which it dereferences to.
#[derive(Clone)]
pub struct Agent {
    def: Arc<AgentDef>,
    handle: ComponentHandle,
}

impl std::ops::Deref for Agent {
    type Target = ComponentHandle;
    fn deref(&self) -> &ComponentHandle {
        &self.handle
    }
}

impl Agent {
    /// A builder for an agent with this id.
    pub fn builder(id: impl Into<String>) -> AgentBuilder {
        AgentBuilder {
            basics: Basics::new(id.into()),
            role: None,
            output_schema: None,
            pause_expires_after: None,
        }
    }

    /// The definition.
    pub fn def(&self) -> &Arc<AgentDef> {
        &self.def
    }

    /// A workflow step running this agent as a child run of the workflow's run; its input is
    /// the previous step's content.
    pub fn step(&self, name: impl Into<String>) -> Step {
        Step::component(name, self.def.clone())
    }
}
