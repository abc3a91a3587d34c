//! [`Team`]: agents (or teams) that cooperate under a leader model.
//!
//! Every member's work is a child run (`parent_run_id` = the team's run) executed inline: its
//! events appear in the team's stream, and cancelling the team cancels it. A member's result is
//! checkpointed in the team's run, so a team recovered after a crash does not ask a member
//! again for work that completed.

use crate::agent::{session_history, text};
use crate::basics::{basic_setters, Basics};
use crate::toolbox::{CallResult, Toolbox, Tools, WithTools};
use crate::turns::{self, Turns, TurnsEnd};
use async_trait::async_trait;
use kern_core::engine::{
    Component, ComponentHandle, ComponentOutput, RunContext, RunFailure, RunRequest, FINAL_SCOPE,
};
use kern_core::event::EventKind;
use kern_core::workflow::Step;
use kern_core::{EngineError, EngineResult};
use kern_models::{IntoModel, Message, Model, ToolCall, ToolSpec};
use kern_store::{ComponentKind, RunStatus};
use kern_tools::{Tool, Toolkit};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How a team works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TeamMode {
    /// The leader delegates tasks to members (as tool calls) and composes the answer.
    #[default]
    Coordinate,
    /// The leader picks one member; that member's answer is the team's.
    Route,
    /// Every member gets the task; the leader synthesises their answers.
    Collaborate,
}

impl TeamMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Coordinate => "coordinate",
            Self::Route => "route",
            Self::Collaborate => "collaborate",
        }
    }
}

/// A team's definition: what the engine registers and runs.
pub struct TeamDef {
    id: String,
    name: String,
    description: Option<String>,
    instructions: Vec<String>,
    model: Arc<dyn Model>,
    members: Vec<Arc<dyn Component>>,
    mode: TeamMode,
    max_tool_rounds: u32,
    history_runs: usize,
    timeout: Option<Duration>,
    /// The leader's own tools (besides delegating): a tool that needs a person pauses the
    /// team's run as it pauses an agent's.
    tools: Tools,
}

const DELEGATE: &str = "delegate_task_to_member";
const FORWARD: &str = "forward_task_to_member";

impl TeamDef {
    /// The members.
    pub fn members(&self) -> &[Arc<dyn Component>] {
        &self.members
    }

    /// The mode.
    pub fn mode(&self) -> TeamMode {
        self.mode
    }

    fn roster(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let about = m
                    .description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                format!("- member_id {:?} ({}){about}", m.id(), m.name())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn system_message(&self) -> Message {
        let mut parts = vec![format!(
            "You lead the team {:?}.{}",
            self.name,
            self.description
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default()
        )];
        parts.push(format!(
            "<team_members>\n{}\n</team_members>",
            self.roster()
        ));
        parts.push(match self.mode {
            TeamMode::Coordinate => format!(
                "Break the task down and give each part to the member best suited for it with the `{DELEGATE}` tool (several calls may run in parallel). Then compose the final answer from their results."
            ),
            TeamMode::Route => format!(
                "Pick the single member best suited for the task and forward it with the `{FORWARD}` tool. Their answer is the team's answer."
            ),
            TeamMode::Collaborate => {
                "Every member worked on the task; synthesise their answers into one.".to_owned()
            }
        });
        if !self.instructions.is_empty() {
            let list: Vec<String> = self.instructions.iter().map(|i| format!("- {i}")).collect();
            parts.push(format!(
                "<instructions>\n{}\n</instructions>",
                list.join("\n")
            ));
        }
        Message::system(parts.join("\n\n"))
    }

    fn member(&self, id: &str) -> Option<&Arc<dyn Component>> {
        self.members.iter().find(|m| m.id() == id)
    }
}

/// Runs a member as a child run and turns its outcome into a tool result.
async fn ask_member(ctx: &RunContext, member: &Arc<dyn Component>, task: String) -> CallResult {
    match ctx.run_child(member.clone(), RunRequest::new(task)).await {
        Ok(run) => {
            let mut result = match run.status {
                RunStatus::Completed => CallResult::ok(run.content().map(text).unwrap_or_default()),
                status => CallResult::error(format!(
                    "Error: member {:?} {status}: {}",
                    member.id(),
                    run.error.as_deref().unwrap_or("no error recorded")
                )),
            };
            result.child_run_id = Some(run.run_id);
            result
        }
        Err(e) => CallResult::error(format!(
            "Error: member {:?} could not start: {e}",
            member.id()
        )),
    }
}

/// The leader's tool: hand a task to a member.
struct Delegation<'a> {
    team: &'a TeamDef,
}

#[async_trait]
impl Toolbox for Delegation<'_> {
    fn specs(&self) -> Vec<ToolSpec> {
        let ids: Vec<&str> = self.team.members.iter().map(|m| m.id()).collect();
        match self.team.mode {
            TeamMode::Route => vec![ToolSpec::new(
                FORWARD,
                "Forward the task to the one member best suited to answer it; their answer is the team's answer.",
                json!({
                    "type": "object",
                    "properties": {
                        "member_id": {"type": "string", "enum": ids, "description": "The member to forward to."},
                        "task": {"type": "string", "description": "The task, as the member should see it (defaults to the original input)."}
                    },
                    "required": ["member_id"]
                }),
            )],
            _ => vec![ToolSpec::new(
                DELEGATE,
                "Give a task to a team member and get their answer.",
                json!({
                    "type": "object",
                    "properties": {
                        "member_id": {"type": "string", "enum": ids, "description": "The member to delegate to."},
                        "task": {"type": "string", "description": "A clear, self-contained task for the member."}
                    },
                    "required": ["member_id", "task"]
                }),
            )],
        }
    }

    async fn call(&self, ctx: &RunContext, call: &ToolCall, args: Value) -> CallResult {
        let expected = match self.team.mode {
            TeamMode::Route => FORWARD,
            _ => DELEGATE,
        };
        if call.name != expected {
            return CallResult::error(format!(
                "Error: there is no tool named {:?}; use {expected:?}",
                call.name
            ));
        }
        let member_id = args
            .get("member_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(member) = self.team.member(member_id) else {
            return CallResult::error(format!(
                "Error: no member has member_id {member_id:?}. Members:\n{}",
                self.team.roster()
            ));
        };
        let task = match args.get("task").and_then(Value::as_str) {
            Some(t) if !t.trim().is_empty() => t.to_owned(),
            _ if self.team.mode == TeamMode::Route => text(ctx.input()),
            _ => {
                return CallResult::error(
                    "Error: `task` is required: say what the member should do",
                )
            }
        };
        let mut result = ask_member(ctx, member, task).await;
        result.final_answer = self.team.mode == TeamMode::Route && !result.error;
        result
    }
}

/// No tools (the collaborate leader only synthesises).
struct NoTools;

#[async_trait]
impl Toolbox for NoTools {
    fn specs(&self) -> Vec<ToolSpec> {
        Vec::new()
    }
    async fn call(&self, _: &RunContext, call: &ToolCall, _: Value) -> CallResult {
        CallResult::error(format!("Error: there is no tool named {:?}", call.name))
    }
}

impl TeamDef {
    /// Collaborate mode: every member answers (concurrently, each answer checkpointed), then
    /// the leader synthesises.
    async fn collaborate_messages(
        &self,
        ctx: &RunContext,
        task: &str,
    ) -> Result<Vec<Message>, RunFailure> {
        let asks = self
            .members
            .iter()
            .enumerate()
            .map(|(i, member)| async move {
                let key = format!("member:{i}");
                if let Some(done) = ctx.checkpoint(&key) {
                    return Ok::<_, RunFailure>(text(done));
                }
                // The member's run belongs to its answer's checkpoint: if the team is
                // interrupted before that, the member is asked again and its events voided.
                let result = ask_member(&ctx.scoped(key.as_str()), member, task.to_owned()).await;
                let answer = if result.error {
                    format!("(no answer: {})", result.content)
                } else {
                    result.content
                };
                ctx.checkpoint_with(&[], vec![(key, Value::String(answer.clone()))])
                    .await
                    .map_err(|e| RunFailure(e.to_string()))?;
                Ok(answer)
            });
        let answers = futures::future::try_join_all(asks).await?;
        let mut body = format!("Task: {task}\n\nThe members' answers:");
        for (member, answer) in self.members.iter().zip(answers) {
            body.push_str(&format!(
                "\n\n## {} ({})\n{answer}",
                member.name(),
                member.id()
            ));
        }
        Ok(vec![self.system_message(), Message::user(body)])
    }
}

#[async_trait]
impl Component for TeamDef {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Team
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn info(&self) -> Value {
        json!({
            "mode": self.mode.as_str(),
            "model": { "id": self.model.id(), "provider": self.model.provider(), "name": self.model.id() },
            "instructions": self.instructions,
            "members": self.members.iter().map(|m| json!({
                "id": m.id(), "name": m.name(), "kind": m.kind().as_str(), "description": m.description(),
            })).collect::<Vec<_>>(),
            "tools": self.tools.0.iter().map(|t| json!({"name": t.name(), "description": t.description()})).collect::<Vec<_>>(),
        })
    }

    fn start_event(&self) -> Option<EventKind> {
        Some(
            EventKind::RunStarted {
                model: self.model.id().to_owned(),
                model_provider: self.model.provider().to_owned(),
            }
            .for_team(),
        )
    }

    async fn execute(&self, ctx: RunContext) -> Result<ComponentOutput, RunFailure> {
        let task = text(ctx.input());
        let resumed = ctx.checkpoint(turns::CONVERSATION_KEY).is_some();
        let delegation = Delegation { team: self };
        let (initial, base): (Vec<Message>, &dyn Toolbox) = match self.mode {
            TeamMode::Collaborate if !resumed => {
                (self.collaborate_messages(&ctx, &task).await?, &NoTools)
            }
            TeamMode::Collaborate => (Vec::new(), &NoTools),
            _ if resumed => (Vec::new(), &delegation),
            _ => {
                let mut messages = vec![self.system_message()];
                messages.extend(
                    session_history(&ctx, ComponentKind::Team, &self.id, self.history_runs).await?,
                );
                messages.push(Message::user(task));
                (messages, &delegation)
            }
        };
        let toolbox = WithTools {
            base,
            tools: &self.tools,
        };
        let loop_ = Turns {
            ctx: &ctx,
            model: &*self.model,
            toolbox: &toolbox,
            max_tool_rounds: self.max_tool_rounds,
            team: true,
            response_format: None,
        };
        let (answer, conv) = match loop_.run(initial).await? {
            TurnsEnd::Answer(answer, conv) => (answer, conv),
            TurnsEnd::Paused(waiting) => {
                return crate::agent::paused(&ctx, waiting, true, &*self.model, None)
            }
        };
        let content = Value::String(answer.unwrap_or_default());
        let metrics = turns::metrics(&conv, ctx.elapsed_secs());
        ctx.scoped(FINAL_SCOPE)
            .emit(EventKind::RunContentCompleted {}.for_team());
        Ok(ComponentOutput {
            output: json!({
                "content": content,
                "content_type": "str",
                "metrics": metrics,
                "model": self.model.id(),
                "model_provider": self.model.provider(),
                "mode": self.mode.as_str(),
                "tools": conv.tools,
            }),
            completed: EventKind::RunCompleted {
                content: Some(content),
                content_type: "str".into(),
                metrics,
            }
            .for_team(),
            pause: None,
        })
    }
}

/// Anything that can be a team's member: an agent, a team, or any engine component.
pub trait IntoMember {
    /// The member as an engine component.
    fn into_member(self) -> Arc<dyn Component>;
}

impl IntoMember for &crate::Agent {
    fn into_member(self) -> Arc<dyn Component> {
        self.def().clone()
    }
}

impl IntoMember for crate::Agent {
    fn into_member(self) -> Arc<dyn Component> {
        self.def().clone()
    }
}

impl IntoMember for &Team {
    fn into_member(self) -> Arc<dyn Component> {
        self.def().clone()
    }
}

impl IntoMember for Team {
    fn into_member(self) -> Arc<dyn Component> {
        self.def().clone()
    }
}

impl IntoMember for Arc<dyn Component> {
    fn into_member(self) -> Arc<dyn Component> {
        self
    }
}

/// Builds a [`Team`].
pub struct TeamBuilder {
    basics: Basics,
    members: Vec<Arc<dyn Component>>,
    mode: TeamMode,
}

basic_setters!(TeamBuilder, whose = "the leader", runs = "team");

impl TeamBuilder {
    /// Sets the leader's model (required): a provider value, an `Arc` of one, or a shared
    /// `Arc<dyn Model>`.
    pub fn model(mut self, model: impl IntoModel) -> Self {
        self.basics.model = Some(model.into_model());
        self
    }
    /// Adds a member: an [`Agent`](crate::Agent), a [`Team`], or any engine component.
    pub fn member(mut self, member: impl IntoMember) -> Self {
        self.members.push(member.into_member());
        self
    }
    /// Adds a member team (the same as [`member`](Self::member)).
    pub fn member_team(self, team: &Team) -> Self {
        self.member(team)
    }
    /// Adds any component as a member (the same as [`member`](Self::member)).
    pub fn member_component(self, component: Arc<dyn Component>) -> Self {
        self.member(component)
    }
    /// Gives the leader a tool of its own (besides delegating to members), as Agno's
    /// `Team(tools=[...])`. A tool that needs a person (confirmation, input, external
    /// execution) pauses the team's run, which continues like an agent's.
    pub fn tool(mut self, tool: impl Tool) -> Self {
        self.basics.tools.push(Arc::new(tool));
        self
    }
    /// Gives the leader a shared tool (see [`tool`](Self::tool)).
    pub fn shared_tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.basics.tools.push(tool);
        self
    }
    /// Gives the leader every tool of a toolkit (see [`tool`](Self::tool)).
    pub fn toolkit(mut self, toolkit: &dyn Toolkit) -> Self {
        self.basics.tools.extend(toolkit.tools());
        self
    }
    /// Sets the mode (default [`TeamMode::Coordinate`]).
    pub fn mode(mut self, mode: TeamMode) -> Self {
        self.mode = mode;
        self
    }
    /// How many rounds of delegation the leader may make (default 10).
    pub fn max_tool_rounds(mut self, n: u32) -> Self {
        self.basics.max_tool_rounds = n;
        self
    }
    /// How many earlier completed team runs of the session go into the leader's context
    /// (default 3).
    pub fn history_runs(mut self, n: usize) -> Self {
        self.basics.history_runs = n;
        self
    }

    /// Checks the definition and, with a database, registers it on its engine.
    pub fn build(self) -> EngineResult<Team> {
        let mut basics = self.basics;
        let model = basics.take_model("team", "needs a leader model")?;
        if self.members.is_empty() {
            return Err(EngineError::InvalidDefinition(format!(
                "team {:?} has no members",
                basics.id
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.members {
            if !seen.insert(m.id().to_owned()) {
                return Err(EngineError::InvalidDefinition(format!(
                    "team {:?} has two members with id {:?}",
                    basics.id,
                    m.id()
                )));
            }
        }
        for t in &basics.tools {
            if [DELEGATE, FORWARD].contains(&t.name()) {
                return Err(EngineError::InvalidDefinition(format!(
                    "team {:?}: a leader's tool cannot be named {:?} (the name of its delegation tool)",
                    basics.id,
                    t.name()
                )));
            }
        }
        let def = Arc::new(TeamDef {
            name: basics.display_name(),
            id: basics.id,
            description: basics.description,
            instructions: basics.instructions,
            model,
            members: self.members,
            mode: self.mode,
            max_tool_rounds: basics.max_tool_rounds,
            history_runs: basics.history_runs,
            timeout: basics.timeout,
            tools: Tools(basics.tools),
        });
        let handle = ComponentHandle::new(def.clone(), basics.engine.as_ref())?;
        Ok(Team { def, handle })
    }
}

/// A team bound to the engine that runs it. Cheap to clone. The execution modes are those of
/// [`ComponentHandle`], which it dereferences to.
#[derive(Clone)]
pub struct Team {
    def: Arc<TeamDef>,
    handle: ComponentHandle,
}

impl std::ops::Deref for Team {
    type Target = ComponentHandle;
    fn deref(&self) -> &ComponentHandle {
        &self.handle
    }
}

impl Team {
    /// A builder for a team with this id.
    pub fn builder(id: impl Into<String>) -> TeamBuilder {
        TeamBuilder {
            basics: Basics::new(id.into()),
            members: Vec::new(),
            mode: TeamMode::Coordinate,
        }
    }

    /// The definition.
    pub fn def(&self) -> &Arc<TeamDef> {
        &self.def
    }

    /// A workflow step running this team as a child run of the workflow's run; its input is
    /// the previous step's content.
    pub fn step(&self, name: impl Into<String>) -> Step {
        Step::component(name, self.def.clone())
    }
}
