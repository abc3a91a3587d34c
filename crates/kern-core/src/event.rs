//! Run events: what a run's log holds and what subscribers receive.
//!
//! Every event of a run has an `event_index` (0, 1, 2, … with no gaps), the run's `run_id` and
//! `session_id`, a `created_at` (Unix seconds, as AgentOS sends it) and the fields of its
//! [`EventKind`]. It is stored as compact JSON exactly as served on the wire:
//!
//! ```
//! use kern_core::event::{Event, EventKind};
//! let json = r#"{"event":"StepStarted","step_name":"fetch","step_index":0,"run_id":"0190e5b8-51a4-7cc0-8f6a-6b7a1c1e2d3f","session_id":"s","event_index":1,"created_at":1795321279,"workflow_id":"wf"}"#;
//! let event = Event::from_json(json).unwrap();
//! assert_eq!(event.event_index, 1);
//! assert!(matches!(event.kind, EventKind::StepStarted { ref step_name, .. } if step_name == "fetch"));
//! ```

use crate::step_output::StepOutput;
use kern_store::{ComponentKind, RunId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of a run, with its position in the run's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// The run whose log holds the event.
    pub run_id: RunId,
    /// The run's session.
    pub session_id: String,
    /// The event's position in the run's log.
    pub event_index: u64,
    /// When it happened (Unix seconds).
    pub created_at: i64,
    /// The workflow the run executes, for workflow runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// The workflow's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_name: Option<String>,
    /// The agent the run executes, for agent runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The agent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// The team the run executes, for team runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The team's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
}

impl Event {
    /// Parses an event from its stored JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// True if this is the terminal event of the run whose log holds it.
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }
}

/// What an event says. The `event` field on the wire names the variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
#[non_exhaustive]
pub enum EventKind {
    /// A workflow run began (not repeated when a recovered run resumes).
    WorkflowStarted {},
    /// A step began.
    StepStarted {
        /// The step's name.
        step_name: String,
        /// The step's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
        /// The step's position: a number at the top level, a list of numbers when nested.
        step_index: Value,
    },
    /// A step produced intermediate output.
    StepOutput {
        /// The step's name.
        step_name: String,
        /// The step's position.
        step_index: Value,
        /// The output.
        content: Value,
    },
    /// A step failed (after its retries).
    StepError {
        /// The step's name.
        step_name: String,
        /// The step's position.
        step_index: Value,
        /// Why.
        error: String,
        /// How many times the step was tried.
        attempts: u32,
    },
    /// A step's try failed and the step is tried again (`max_retries`): the events the failed
    /// try emitted (its outputs, its agent's streamed content) are void, listed in `voided` as
    /// for `RunRestarted`, and the next try emits its own. (**Kern**: AgentOS has no such
    /// event.)
    StepRetried {
        /// The step's name.
        step_name: String,
        /// The step's position.
        step_index: Value,
        /// The try that failed (1 for the first).
        attempt: u32,
        /// Why it failed.
        error: String,
        /// The failed try's events, as inclusive ranges of `event_index`, ascending; empty
        /// when it emitted none.
        voided: Vec<[u64; 2]>,
    },
    /// A step finished (successfully, or failed but skipped).
    StepCompleted {
        /// The step's name.
        step_name: String,
        /// The step's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
        /// The step's position.
        step_index: Value,
        /// The step's output content.
        #[serde(default)]
        content: Option<Value>,
        /// `"str"` for text content, `"json"` otherwise.
        content_type: String,
        /// The step's full result.
        step_response: Box<StepOutput>,
    },
    /// A named group of steps began.
    StepsExecutionStarted {
        /// The group's name.
        step_name: String,
        /// The group's position.
        step_index: Value,
        /// How many steps the group has.
        steps_count: usize,
    },
    /// A named group of steps finished.
    StepsExecutionCompleted {
        /// The group's name.
        step_name: String,
        /// The group's position.
        step_index: Value,
        /// How many steps the group has.
        steps_count: usize,
        /// How many ran.
        executed_steps: usize,
        /// Their results.
        step_results: Vec<StepOutput>,
    },
    /// Parallel branches began.
    ParallelExecutionStarted {
        /// The parallel step's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// How many branches.
        parallel_step_count: usize,
    },
    /// All parallel branches finished.
    ParallelExecutionCompleted {
        /// The parallel step's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// How many branches.
        parallel_step_count: usize,
        /// The branches' results.
        step_results: Vec<StepOutput>,
    },
    /// A condition was evaluated and its branch began.
    ConditionExecutionStarted {
        /// The condition's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// What the evaluator returned.
        condition_result: bool,
    },
    /// A condition's branch finished.
    ConditionExecutionCompleted {
        /// The condition's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// What the evaluator returned.
        condition_result: bool,
        /// `"if"` or `"else"`.
        branch: String,
        /// How many steps ran.
        executed_steps: usize,
        /// Their results.
        step_results: Vec<StepOutput>,
    },
    /// A loop began.
    LoopExecutionStarted {
        /// The loop's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// The iteration limit.
        max_iterations: u32,
    },
    /// A loop iteration began.
    LoopIterationStarted {
        /// The loop's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// The iteration (1-based).
        iteration: u32,
        /// The iteration limit.
        max_iterations: u32,
    },
    /// A loop iteration finished.
    LoopIterationCompleted {
        /// The loop's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// The iteration (1-based).
        iteration: u32,
        /// The iteration limit.
        max_iterations: u32,
        /// The iteration's results.
        iteration_results: Vec<StepOutput>,
        /// Whether another iteration follows.
        should_continue: bool,
    },
    /// A loop finished.
    LoopExecutionCompleted {
        /// The loop's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// How many iterations ran.
        total_iterations: u32,
        /// The iteration limit.
        max_iterations: u32,
        /// Every iteration's results.
        all_results: Vec<Vec<StepOutput>>,
    },
    /// A router chose its steps and began them.
    RouterExecutionStarted {
        /// The router's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// The names of the chosen steps.
        selected_steps: Vec<String>,
    },
    /// A router's chosen steps finished.
    RouterExecutionCompleted {
        /// The router's name.
        step_name: String,
        /// Its position.
        step_index: Value,
        /// The names of the chosen steps.
        selected_steps: Vec<String>,
        /// How many ran.
        executed_steps: usize,
        /// Their results.
        step_results: Vec<StepOutput>,
    },
    /// A workflow run finished successfully. Terminal.
    WorkflowCompleted {
        /// The final content (the last step's).
        #[serde(default)]
        content: Option<Value>,
        /// `"str"` for text content, `"json"` otherwise.
        content_type: String,
        /// Every top-level step's result.
        step_results: Vec<StepOutput>,
        /// Timings.
        metrics: Value,
    },
    /// A workflow run failed. Terminal.
    WorkflowError {
        /// Why.
        error: String,
    },
    /// A workflow run was cancelled. Terminal.
    WorkflowCancelled {
        /// Why, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An agent run began (not repeated when a recovered run resumes).
    RunStarted {
        /// The model's id.
        model: String,
        /// The model's provider.
        model_provider: String,
    },
    /// A request to the model began.
    ModelRequestStarted {
        /// The model's id.
        model: String,
        /// The model's provider.
        model_provider: String,
    },
    /// A piece of the answer (a token delta while streaming).
    RunContent {
        /// The delta.
        content: String,
        /// `"str"`.
        content_type: String,
    },
    /// The agent called a tool.
    ToolCallStarted {
        /// The call.
        tool: ToolExecution,
    },
    /// A tool call returned (its error, if any, went back to the model as its result).
    ToolCallCompleted {
        /// The call, with its result.
        tool: ToolExecution,
        /// The result.
        #[serde(default)]
        content: Option<String>,
    },
    /// A request to the model finished.
    ModelRequestCompleted {
        /// The model's id.
        model: String,
        /// The model's provider.
        model_provider: String,
        /// Prompt tokens.
        input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
        /// Both.
        total_tokens: u64,
        /// Seconds from the request to the first streamed token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_to_first_token: Option<f64>,
    },
    /// The answer's content is complete.
    RunContentCompleted {},
    /// An agent run finished successfully. Terminal for agent runs.
    RunCompleted {
        /// The answer.
        #[serde(default)]
        content: Option<Value>,
        /// `"str"` or `"json"` (structured output).
        content_type: String,
        /// Tokens, time to first token, duration.
        metrics: Value,
    },
    /// A team run began (not repeated when a recovered run resumes).
    TeamRunStarted {
        /// The model's id.
        model: String,
        /// The model's provider.
        model_provider: String,
    },
    /// A request to the model began.
    TeamModelRequestStarted {
        /// The model's id.
        model: String,
        /// The model's provider.
        model_provider: String,
    },
    /// A piece of the answer (a token delta while streaming).
    TeamRunContent {
        /// The delta.
        content: String,
        /// `"str"`.
        content_type: String,
    },
    /// The team leader called a tool.
    TeamToolCallStarted {
        /// The call.
        tool: ToolExecution,
    },
    /// A tool call returned (its error, if any, went back to the model as its result).
    TeamToolCallCompleted {
        /// The call, with its result.
        tool: ToolExecution,
        /// The result.
        #[serde(default)]
        content: Option<String>,
    },
    /// A request to the model finished.
    TeamModelRequestCompleted {
        /// The model's id.
        model: String,
        /// The model's provider.
        model_provider: String,
        /// Prompt tokens.
        input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
        /// Both.
        total_tokens: u64,
        /// Seconds from the request to the first streamed token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_to_first_token: Option<f64>,
    },
    /// The answer's content is complete.
    TeamRunContentCompleted {},
    /// A team run finished successfully. Terminal for team runs.
    TeamRunCompleted {
        /// The answer.
        #[serde(default)]
        content: Option<Value>,
        /// `"str"` or `"json"` (structured output).
        content_type: String,
        /// Tokens, time to first token, duration.
        metrics: Value,
    },
    /// An agent run failed. Terminal for agent runs.
    RunError {
        /// Why.
        content: String,
    },
    /// An agent run was cancelled. Terminal for agent runs.
    RunCancelled {
        /// Why, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A team run failed. Terminal for team runs.
    TeamRunError {
        /// Why.
        content: String,
    },
    /// A team run was cancelled. Terminal for team runs.
    TeamRunCancelled {
        /// Why, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The run paused: it waits for a human (a tool call to confirm, input to give, a tool to
    /// run elsewhere). It holds no executor meanwhile; continuing it (the `/continue` route,
    /// `Engine::continue_run`) appends `RunContinued` and it goes on under the same `run_id`.
    /// Ends a stream of the run, as a terminal event does, without ending the run.
    RunPaused {
        /// What it waits for, in Agno's shape: one entry per paused tool call (its
        /// `tool_call_id`, `tool_name`, `tool_args`, and `requires_confirmation`,
        /// `requires_user_input` with `user_input_schema`, or `external_execution_required`).
        #[serde(default)]
        tools: Vec<Value>,
        /// The same, as Agno's run requirements (`{"id", "tool_execution"}` each).
        #[serde(default)]
        requirements: Vec<Value>,
        /// When the pause expires (Unix seconds), if it does: the run then fails.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    },
    /// A paused run was continued with the human's decisions; it goes on after this.
    RunContinued {
        /// The decisions, as given (the paused tool calls with `confirmed`, `user_input`
        /// values or `result`).
        #[serde(default)]
        tools: Vec<Value>,
    },
    /// The run resumed on a new executor after the one running it stopped (a crash, or a
    /// hand-back by a graceful stop): work that was in flight then (a step, a model turn, tool
    /// calls) runs again, and the events it had emitted are void. A client showing or joining
    /// the run's output drops the events whose indices fall in `voided`, and keeps the rest;
    /// the redone work emits its events again after this one. Every voided index is below
    /// this event's own, and no index is voided twice. (**Kern**: AgentOS has no such event.)
    RunRestarted {
        /// The run's attempt now (2 for its first restart).
        attempt: u32,
        /// The voided events, as inclusive ranges of `event_index`: `[[first, last], …]`,
        /// ascending. Empty when nothing was in flight.
        voided: Vec<[u64; 2]>,
    },
    /// An operator requeued the run after it failed or was cancelled (`POST
    /// /queue/jobs/{run_id}/requeue`, `kern runs requeue`, `Engine::requeue`): it goes on from
    /// its checkpoints under the same `run_id`, and its log goes on after this event. The old
    /// terminal event (`WorkflowError`, `RunCancelled`, …) is void: `voided` lists it (as
    /// `[[index, index]]`), so a client joining the run's output or looking for its outcome
    /// drops it, as it drops what a `RunRestarted` voids. Every voided index is below this
    /// event's own. (**Kern**: AgentOS has no such event.)
    RunRequeued {
        /// The status the run had (`failed` or `cancelled`).
        previous_status: String,
        /// The voided events (the old terminal event), as inclusive ranges of `event_index`.
        voided: Vec<[u64; 2]>,
    },
    /// An application-defined event.
    CustomEvent {
        /// Anything.
        #[serde(default)]
        data: Value,
    },
}

/// One tool call of an agent or team leader, as AgentOS reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolExecution {
    /// The model's id for the call.
    pub tool_call_id: String,
    /// The tool's name.
    pub tool_name: String,
    /// The arguments the model gave.
    #[serde(default)]
    pub tool_args: Value,
    /// True when the tool failed (its error went back to the model as the result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_error: Option<bool>,
    /// The result given back to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The child run the call started (a team member's run), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_run_id: Option<String>,
    /// `{"duration": seconds}` once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
}

/// The `event` names of terminal events. An event ends its run's stream when its name is here
/// *and* its `run_id` is the run's own (a team's log also carries its members' events).
pub const TERMINAL_EVENTS: &[&str] = &[
    "WorkflowCompleted",
    "WorkflowError",
    "WorkflowCancelled",
    "RunCompleted",
    "RunError",
    "RunCancelled",
    "TeamRunCompleted",
    "TeamRunError",
    "TeamRunCancelled",
];

impl EventKind {
    /// The variant's wire name (the `event` field).
    pub fn name(&self) -> &'static str {
        match self {
            Self::WorkflowStarted {} => "WorkflowStarted",
            Self::StepStarted { .. } => "StepStarted",
            Self::StepOutput { .. } => "StepOutput",
            Self::StepError { .. } => "StepError",
            Self::StepCompleted { .. } => "StepCompleted",
            Self::StepRetried { .. } => "StepRetried",
            Self::StepsExecutionStarted { .. } => "StepsExecutionStarted",
            Self::StepsExecutionCompleted { .. } => "StepsExecutionCompleted",
            Self::ParallelExecutionStarted { .. } => "ParallelExecutionStarted",
            Self::ParallelExecutionCompleted { .. } => "ParallelExecutionCompleted",
            Self::ConditionExecutionStarted { .. } => "ConditionExecutionStarted",
            Self::ConditionExecutionCompleted { .. } => "ConditionExecutionCompleted",
            Self::LoopExecutionStarted { .. } => "LoopExecutionStarted",
            Self::LoopIterationStarted { .. } => "LoopIterationStarted",
            Self::LoopIterationCompleted { .. } => "LoopIterationCompleted",
            Self::LoopExecutionCompleted { .. } => "LoopExecutionCompleted",
            Self::RouterExecutionStarted { .. } => "RouterExecutionStarted",
            Self::RouterExecutionCompleted { .. } => "RouterExecutionCompleted",
            Self::WorkflowCompleted { .. } => "WorkflowCompleted",
            Self::WorkflowError { .. } => "WorkflowError",
            Self::WorkflowCancelled { .. } => "WorkflowCancelled",
            Self::RunStarted { .. } => "RunStarted",
            Self::TeamRunStarted { .. } => "TeamRunStarted",
            Self::ModelRequestStarted { .. } => "ModelRequestStarted",
            Self::TeamModelRequestStarted { .. } => "TeamModelRequestStarted",
            Self::RunContent { .. } => "RunContent",
            Self::TeamRunContent { .. } => "TeamRunContent",
            Self::ToolCallStarted { .. } => "ToolCallStarted",
            Self::TeamToolCallStarted { .. } => "TeamToolCallStarted",
            Self::ToolCallCompleted { .. } => "ToolCallCompleted",
            Self::TeamToolCallCompleted { .. } => "TeamToolCallCompleted",
            Self::ModelRequestCompleted { .. } => "ModelRequestCompleted",
            Self::TeamModelRequestCompleted { .. } => "TeamModelRequestCompleted",
            Self::RunContentCompleted { .. } => "RunContentCompleted",
            Self::TeamRunContentCompleted { .. } => "TeamRunContentCompleted",
            Self::RunCompleted { .. } => "RunCompleted",
            Self::TeamRunCompleted { .. } => "TeamRunCompleted",
            Self::RunError { .. } => "RunError",
            Self::RunCancelled { .. } => "RunCancelled",
            Self::TeamRunError { .. } => "TeamRunError",
            Self::TeamRunCancelled { .. } => "TeamRunCancelled",
            Self::RunRestarted { .. } => "RunRestarted",
            Self::RunPaused { .. } => "RunPaused",
            Self::RunContinued { .. } => "RunContinued",
            Self::RunRequeued { .. } => "RunRequeued",
            Self::CustomEvent { .. } => "CustomEvent",
        }
    }

    /// The team-run form of an agent-run event (`RunContent` → `TeamRunContent`, …); other
    /// events are returned unchanged. Team leaders emit through this so one code path serves
    /// agents and teams.
    pub fn for_team(self) -> Self {
        match self {
            Self::RunStarted {
                model,
                model_provider,
            } => Self::TeamRunStarted {
                model,
                model_provider,
            },
            Self::ModelRequestStarted {
                model,
                model_provider,
            } => Self::TeamModelRequestStarted {
                model,
                model_provider,
            },
            Self::RunContent {
                content,
                content_type,
            } => Self::TeamRunContent {
                content,
                content_type,
            },
            Self::ToolCallStarted { tool } => Self::TeamToolCallStarted { tool },
            Self::ToolCallCompleted { tool, content } => {
                Self::TeamToolCallCompleted { tool, content }
            }
            Self::ModelRequestCompleted {
                model,
                model_provider,
                input_tokens,
                output_tokens,
                total_tokens,
                time_to_first_token,
            } => Self::TeamModelRequestCompleted {
                model,
                model_provider,
                input_tokens,
                output_tokens,
                total_tokens,
                time_to_first_token,
            },
            Self::RunContentCompleted {} => Self::TeamRunContentCompleted {},
            Self::RunCompleted {
                content,
                content_type,
                metrics,
            } => Self::TeamRunCompleted {
                content,
                content_type,
                metrics,
            },
            other => other,
        }
    }

    /// True for events that end a run.
    pub fn is_terminal(&self) -> bool {
        TERMINAL_EVENTS.contains(&self.name())
    }

    /// The terminal event of a failed run of this kind of component.
    pub fn failed(kind: ComponentKind, error: String) -> Self {
        match kind {
            ComponentKind::Workflow => Self::WorkflowError { error },
            ComponentKind::Agent => Self::RunError { content: error },
            ComponentKind::Team => Self::TeamRunError { content: error },
        }
    }

    /// The terminal event of a cancelled run of this kind of component.
    pub fn cancelled(kind: ComponentKind, reason: Option<String>) -> Self {
        match kind {
            ComponentKind::Workflow => Self::WorkflowCancelled { reason },
            ComponentKind::Agent => Self::RunCancelled { reason },
            ComponentKind::Team => Self::TeamRunCancelled { reason },
        }
    }
}

/// Who a run belongs to: stamped on each of its events.
#[derive(Clone, Debug)]
pub struct EventSource {
    /// The component's kind.
    pub kind: ComponentKind,
    /// The component's id.
    pub id: String,
    /// The component's display name.
    pub name: String,
}

/// The stored form of an event: its kind's fields, then the common fields. Serialised
/// directly (no intermediate `serde_json::Value`): this runs once per event, token deltas
/// included.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(flatten)]
    kind: &'a EventKind,
    run_id: RunId,
    session_id: &'a str,
    event_index: u64,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team_name: Option<&'a str>,
}

/// Serialises an event as its stored JSON (compact, fields of the kind first).
pub(crate) fn to_payload(
    kind: &EventKind,
    source: &EventSource,
    run_id: RunId,
    session_id: &str,
    event_index: u64,
    created_at_ms: i64,
) -> String {
    let (id, name) = (Some(source.id.as_str()), Some(source.name.as_str()));
    let mut payload = Payload {
        kind,
        run_id,
        session_id,
        event_index,
        created_at: created_at_ms / 1000,
        workflow_id: None,
        workflow_name: None,
        agent_id: None,
        agent_name: None,
        team_id: None,
        team_name: None,
    };
    match source.kind {
        ComponentKind::Workflow => (payload.workflow_id, payload.workflow_name) = (id, name),
        ComponentKind::Agent => (payload.agent_id, payload.agent_name) = (id, name),
        ComponentKind::Team => (payload.team_id, payload.team_name) = (id, name),
    }
    // Serialising plain data into a String cannot fail.
    serde_json::to_string(&payload).expect("event payloads serialise")
}

/// True if a stored event may end a stream of the run `run_id`: the run's own terminal event,
/// or its `RunPaused` (the run waits for a human; a new stream follows its continuation). A
/// subscription ends there only when the event is also the last of the log: a requeued run's
/// log goes on after its old terminal event (`RunRequeued`), a continued run's after its
/// `RunPaused`.
pub fn is_terminal_for(run_id: RunId, event_type: &str, payload: &str) -> bool {
    if !TERMINAL_EVENTS.contains(&event_type) && event_type != "RunPaused" {
        return false;
    }
    #[derive(Deserialize)]
    struct Owner {
        run_id: Option<RunId>,
    }
    match serde_json::from_str::<Owner>(payload) {
        Ok(o) => o.run_id.is_none_or(|id| id == run_id),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_carries_common_fields_and_round_trips() {
        let run_id = kern_store::new_run_id();
        let source = EventSource {
            kind: ComponentKind::Workflow,
            id: "wf".into(),
            name: "My WF".into(),
        };
        let kind = EventKind::StepStarted {
            step_name: "a".into(),
            step_id: None,
            step_index: Value::from(2),
        };
        let json = to_payload(&kind, &source, run_id, "s", 7, 1_700_000_000_123);
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["event"], "StepStarted");
        assert_eq!(v["event_index"], 7);
        assert_eq!(v["created_at"], 1_700_000_000);
        assert_eq!(v["workflow_id"], "wf");
        assert_eq!(v["workflow_name"], "My WF");
        assert_eq!(v["run_id"], run_id.to_string());
        let back = Event::from_json(&json).unwrap();
        assert_eq!(back.kind, kind);
        assert_eq!(back.event_index, 7);
        assert!(!back.is_terminal());
    }

    #[test]
    fn terminal_only_for_the_runs_own_terminal_events() {
        let run = kern_store::new_run_id();
        let member = kern_store::new_run_id();
        let own = format!(r#"{{"event":"RunCompleted","run_id":"{run}"}}"#);
        let other = format!(r#"{{"event":"RunCompleted","run_id":"{member}"}}"#);
        assert!(is_terminal_for(run, "RunCompleted", &own));
        assert!(!is_terminal_for(run, "RunCompleted", &other));
        assert!(!is_terminal_for(run, "StepCompleted", &own));
        assert!(EventKind::failed(ComponentKind::Workflow, "x".into()).is_terminal());
        assert!(EventKind::cancelled(ComponentKind::Agent, None).is_terminal());
    }
}
