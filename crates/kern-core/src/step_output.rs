//! [`StepOutput`]: the result of a workflow step, as recorded on the run and carried by events
//! (`StepCompleted`, `WorkflowCompleted`'s `step_results`, …).
//!
//! A data type of its own, below both the engine's events and the workflow module, so that
//! `event.rs` can name it without depending on the workflow module (which depends on the
//! engine): see ARCHITECTURE.md, "Layers inside kern-core".

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of a step, as recorded on the run and sent in events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    /// The step's name.
    #[serde(default)]
    pub step_name: Option<String>,
    /// The step's id.
    #[serde(default)]
    pub step_id: Option<String>,
    /// `"Step"`, `"Steps"`, `"Parallel"`, `"Condition"`, `"Loop"` or `"Router"`.
    #[serde(default)]
    pub step_type: Option<String>,
    /// What ran the step: `"function"`, `"agent"`, `"team"` or `"workflow"`.
    #[serde(default)]
    pub executor_type: Option<String>,
    /// The name of what ran the step (the step's own name for functions, the component's name
    /// for agents, teams and workflows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_name: Option<String>,
    /// The step's content: a JSON string for text, any JSON otherwise.
    #[serde(default)]
    pub content: Option<Value>,
    /// False when the step failed (and was skipped, or failed the run).
    #[serde(default = "yes")]
    pub success: bool,
    /// Why the step failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Ends the workflow early, successfully, after this step.
    #[serde(default)]
    pub stop: bool,
    /// Results of the steps inside a composite step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepOutput>>,
    /// Timings (`{"duration": seconds}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
}

fn yes() -> bool {
    true
}

impl StepOutput {
    /// A successful output with text content.
    pub fn text(content: impl Into<String>) -> Self {
        Self::json(Value::String(content.into()))
    }

    /// A successful output with JSON content.
    pub fn json(content: impl Into<Value>) -> Self {
        Self {
            content: Some(content.into()),
            success: true,
            ..Default::default()
        }
    }

    /// A successful output with no content.
    pub fn empty() -> Self {
        Self {
            success: true,
            ..Default::default()
        }
    }

    /// Marks the output as the workflow's last: no further step runs, and the run completes.
    pub fn stop(mut self) -> Self {
        self.stop = true;
        self
    }

    /// `"str"` for text content, `"json"` otherwise (AgentOS's `content_type`).
    pub fn content_type(&self) -> &'static str {
        content_type(self.content.as_ref())
    }

    /// The content as text: strings as they are, other JSON compact, empty if none.
    pub fn content_str(&self) -> String {
        self.content
            .as_ref()
            .map(content_to_string)
            .unwrap_or_default()
    }
}

/// `"str"` for text (or no) content, `"json"` otherwise.
pub(crate) fn content_type(content: Option<&Value>) -> &'static str {
    match content {
        None | Some(Value::String(_)) => "str",
        Some(_) => "json",
    }
}

/// Strings as they are, other JSON compact.
pub(crate) fn content_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}
