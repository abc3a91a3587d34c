//! What a model may call during a run: an agent's tools, or a team leader's members.

use async_trait::async_trait;
use futures::FutureExt;
use kern_core::engine::RunContext;
use kern_models::{ToolCall, ToolSpec};
use kern_store::RunId;
use kern_tools::{HumanInLoop, Tool, ToolContext};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The outcome of one call, as given back to the model.
#[derive(Debug, Clone)]
pub(crate) struct CallResult {
    /// The result text (an error message when `error`).
    pub content: String,
    /// True when the call failed; the model sees the message and may try again.
    pub error: bool,
    /// The child run the call started (a team member's run).
    pub child_run_id: Option<RunId>,
    /// The result is the run's final answer (a routing team answers with its member's).
    pub final_answer: bool,
}

impl CallResult {
    pub(crate) fn ok(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            error: false,
            child_run_id: None,
            final_answer: false,
        }
    }

    pub(crate) fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            error: true,
            child_run_id: None,
            final_answer: false,
        }
    }
}

/// Something that answers a model's tool calls.
#[async_trait]
pub(crate) trait Toolbox: Send + Sync {
    /// The tools as the model sees them.
    fn specs(&self) -> Vec<ToolSpec>;
    /// Answers one call. Never fails: failures become error results for the model.
    async fn call(&self, ctx: &RunContext, call: &ToolCall, args: Value) -> CallResult;
    /// What a call of the tool `name` needs from a person first.
    fn human_in_loop(&self, _name: &str) -> HumanInLoop {
        HumanInLoop::None
    }
    /// Whether calls of the tool `name` are delivered at most once.
    fn at_most_once(&self, _name: &str) -> bool {
        false
    }
}

/// An agent's tools (or a team leader's own).
pub(crate) struct Tools(pub Vec<Arc<dyn Tool>>);

impl Tools {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|t| t.name() == name)
    }
}

/// A team leader's toolbox: its members (delegation) and its own tools. A call goes to the
/// leader's tool of that name, else to the delegation; names cannot clash (the team's builder
/// refuses a tool named like a delegation tool).
pub(crate) struct WithTools<'a> {
    /// Delegation (or nothing, for a collaborating leader).
    pub base: &'a dyn Toolbox,
    /// The leader's own tools.
    pub tools: &'a Tools,
}

#[async_trait]
impl Toolbox for WithTools<'_> {
    fn specs(&self) -> Vec<ToolSpec> {
        let mut specs = self.base.specs();
        specs.extend(self.tools.specs());
        specs
    }

    async fn call(&self, ctx: &RunContext, call: &ToolCall, args: Value) -> CallResult {
        if self.tools.has(&call.name) {
            self.tools.call(ctx, call, args).await
        } else {
            self.base.call(ctx, call, args).await
        }
    }

    fn human_in_loop(&self, name: &str) -> HumanInLoop {
        if self.tools.has(name) {
            self.tools.human_in_loop(name)
        } else {
            self.base.human_in_loop(name)
        }
    }

    fn at_most_once(&self, name: &str) -> bool {
        if self.tools.has(name) {
            self.tools.at_most_once(name)
        } else {
            self.base.at_most_once(name)
        }
    }
}

#[async_trait]
impl Toolbox for Tools {
    fn specs(&self) -> Vec<ToolSpec> {
        self.0
            .iter()
            .map(|t| ToolSpec::new(t.name(), t.description(), t.parameters()))
            .collect()
    }

    fn human_in_loop(&self, name: &str) -> HumanInLoop {
        self.0
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.human_in_loop())
            .unwrap_or_default()
    }

    fn at_most_once(&self, name: &str) -> bool {
        self.0
            .iter()
            .find(|t| t.name() == name)
            .is_some_and(|t| t.at_most_once())
    }

    async fn call(&self, ctx: &RunContext, call: &ToolCall, args: Value) -> CallResult {
        let Some(tool) = self.0.iter().find(|t| t.name() == call.name) else {
            let known: Vec<&str> = self.0.iter().map(|t| t.name()).collect();
            return CallResult::error(format!(
                "Error: there is no tool named {:?}. Available tools: {}",
                call.name,
                known.join(", ")
            ));
        };
        let mut tool_ctx = ToolContext::new(ctx.run_id().to_string(), ctx.session_id())
            .with_cancel(ctx.cancellation_token().clone())
            .with_tool_call_id(call.id.clone());
        if let Some(user) = &ctx.record().user_id {
            tool_ctx = tool_ctx.with_user_id(user.clone());
        }
        match AssertUnwindSafe(tool.call(args, tool_ctx))
            .catch_unwind()
            .await
        {
            Ok(Ok(out)) => CallResult::ok(out.into_string()),
            Ok(Err(e)) => CallResult::error(format!("Error: {e}")),
            Err(_) => CallResult::error(format!("Error: the tool {:?} crashed", call.name)),
        }
    }
}
