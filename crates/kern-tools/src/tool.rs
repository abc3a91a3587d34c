//! The [`Tool`] trait and what goes in and out of a call.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::ToolError;

/// A function a model can call.
///
/// Most tools are made from Rust functions with [`tool_fn`](crate::tool_fn) or
/// [`blocking_tool_fn`](crate::blocking_tool_fn); implement the trait directly for tools whose
/// schema is only known at run time.
///
/// A call must not block the async runtime (run synchronous work with
/// `tokio::task::spawn_blocking`) and should stop soon after `ctx.cancel` is cancelled,
/// returning [`ToolError::Cancelled`].
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The name the model calls the tool by: letters, digits, `_` and `-`, unique among the
    /// tools given to one agent.
    fn name(&self) -> &str;

    /// What the tool does and when to use it, for the model.
    fn description(&self) -> &str;

    /// The JSON Schema of the arguments object (`"type": "object"`), self-contained: no `$ref`,
    /// no `$schema` (see [`schema::normalize`](crate::schema::normalize)).
    fn parameters(&self) -> Value;

    /// Runs the tool with the arguments the model gave.
    async fn call(&self, args: Value, ctx: ToolContext) -> Result<ToolOutput, ToolError>;

    /// What a call needs from a human first (human in the loop): nothing (the default), a
    /// confirmation, input for some arguments, or to be run outside (the caller runs it and
    /// sends the result). An agent whose model calls such a tool pauses its run until the run
    /// is continued with the decision.
    fn human_in_loop(&self) -> HumanInLoop {
        HumanInLoop::None
    }

    /// Delivered at most once (false by default: at least once). An agent writes a durable
    /// mark before calling such a tool; a run interrupted during the call (its process
    /// stopped) fails, saying so, instead of calling it again, until an operator requeues it.
    /// For tools with effects that must not happen twice.
    fn at_most_once(&self) -> bool {
        false
    }

    /// The tool as model providers want it described.
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            parameters: self.parameters(),
        }
    }
}

#[async_trait]
impl<T: Tool + ?Sized> Tool for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn description(&self) -> &str {
        (**self).description()
    }

    fn parameters(&self) -> Value {
        (**self).parameters()
    }

    async fn call(&self, args: Value, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        (**self).call(args, ctx).await
    }

    fn spec(&self) -> ToolSpec {
        (**self).spec()
    }

    fn human_in_loop(&self) -> HumanInLoop {
        (**self).human_in_loop()
    }

    fn at_most_once(&self) -> bool {
        (**self).at_most_once()
    }
}

/// What a tool call needs from a human before it runs (see [`Tool::human_in_loop`]); the
/// names follow Agno's (`requires_confirmation`, `requires_user_input`,
/// `external_execution`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum HumanInLoop {
    /// Nothing: the call runs as soon as the model asks.
    #[default]
    None,
    /// Someone confirms (or rejects) the call first.
    Confirmation,
    /// Someone gives the values of these arguments first (the model's are replaced).
    UserInput(Vec<UserInputField>),
    /// The call is not run here: someone runs it and sends its result.
    ExternalExecution,
}

/// An argument a human gives (see [`HumanInLoop::UserInput`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserInputField {
    /// The argument's name.
    pub name: String,
    /// Its type, as Agno names it (`"str"`, `"int"`, `"float"`, `"bool"`, `"list"`, `"dict"`).
    pub field_type: String,
    /// What to give.
    #[serde(default)]
    pub description: Option<String>,
    /// The value, once given.
    #[serde(default)]
    pub value: Option<Value>,
}

/// A tool's description in the shape model providers take (OpenAI's `function`, Anthropic's
/// `tools[]` with `input_schema`, Gemini's `functionDeclarations`): a name, a description and
/// the JSON Schema of the arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// The JSON Schema of the arguments object, without `$ref`s or `$schema`.
    pub parameters: Value,
}

/// What a tool call knows about the run it belongs to. The agent layer fills it in.
///
/// Cloning is cheap; clones share the cancellation token.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ToolContext {
    /// Cancelled when the run is cancelled (or the call must stop for another reason).
    pub cancel: CancellationToken,
    /// The id of the run making the call (empty outside a run).
    pub run_id: String,
    /// The session the run belongs to (empty outside a run).
    pub session_id: String,
    /// The user the run is for, when known.
    pub user_id: Option<String>,
    /// The model's id for this call (OpenAI's `tool_call_id`, Anthropic's `tool_use_id`).
    pub tool_call_id: Option<String>,
}

impl ToolContext {
    /// A context for a call in the run `run_id` of session `session_id`, with a fresh
    /// cancellation token.
    pub fn new(run_id: impl Into<String>, session_id: impl Into<String>) -> Self {
        ToolContext {
            run_id: run_id.into(),
            session_id: session_id.into(),
            ..ToolContext::default()
        }
    }

    /// This context with the run's cancellation token.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// This context with the user id.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// This context with the model's id for the call.
    pub fn with_tool_call_id(mut self, tool_call_id: impl Into<String>) -> Self {
        self.tool_call_id = Some(tool_call_id.into());
        self
    }

    /// Whether the call should stop. Synchronous tools check it now and then.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs `future` until it finishes or the context is cancelled, whichever comes first; on
    /// cancellation the future is dropped and [`ToolError::Cancelled`] returned.
    pub async fn cancellable<T>(
        &self,
        future: impl Future<Output = Result<T, ToolError>>,
    ) -> Result<T, ToolError> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(ToolError::Cancelled),
            result = future => result,
        }
    }
}

/// What a tool gives back to the model: text (JSON is serialised to text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ToolOutput {
    content: String,
}

impl ToolOutput {
    /// Text given back as is.
    pub fn text(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
        }
    }

    /// A value serialised to compact JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, ToolError> {
        serde_json::to_string(value)
            .map(ToolOutput::text)
            .map_err(|e| ToolError::failed(format!("the result is not serialisable to JSON: {e}")))
    }

    /// A value serialised to indented JSON (easier for people to read in logs, a few more
    /// tokens for the model).
    pub fn json_pretty<T: Serialize + ?Sized>(value: &T) -> Result<Self, ToolError> {
        serde_json::to_string_pretty(value)
            .map(ToolOutput::text)
            .map_err(|e| ToolError::failed(format!("the result is not serialisable to JSON: {e}")))
    }

    /// The content.
    pub fn as_str(&self) -> &str {
        &self.content
    }

    /// The content, owned.
    pub fn into_string(self) -> String {
        self.content
    }
}

impl fmt::Display for ToolOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.content)
    }
}

impl From<String> for ToolOutput {
    fn from(content: String) -> Self {
        ToolOutput::text(content)
    }
}

impl From<&str> for ToolOutput {
    fn from(content: &str) -> Self {
        ToolOutput::text(content)
    }
}

impl From<Value> for ToolOutput {
    /// Strings are given as is, other values as compact JSON.
    fn from(value: Value) -> Self {
        match value {
            Value::String(text) => ToolOutput::text(text),
            other => ToolOutput::text(other.to_string()),
        }
    }
}

impl From<ToolOutput> for String {
    fn from(output: ToolOutput) -> Self {
        output.content
    }
}

/// A named set of tools given to an agent together, like Agno's toolkits:
/// `HackerNewsTools::new()`, `YFinanceTools::new()`, `DuckDuckGoTools::new()`.
pub trait Toolkit: Send + Sync {
    /// The toolkit's name (for logs and listings; models see the tools' names).
    fn name(&self) -> &str;

    /// The toolkit's enabled tools.
    fn tools(&self) -> Vec<Arc<dyn Tool>>;
}

/// A [`Toolkit`] made of any tools.
///
/// ```
/// use kern_tools::{tool_fn, NoArgs, ToolContext, ToolError, ToolSet, Toolkit};
///
/// let set = ToolSet::new("clock").with(tool_fn(
///     "now",
///     "The current Unix time in seconds",
///     |_: NoArgs, _ctx: ToolContext| async move {
///         let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
///         Ok::<_, ToolError>(now.as_secs().to_string())
///     },
/// ));
/// assert_eq!(set.tools().len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct ToolSet {
    name: String,
    tools: Vec<Arc<dyn Tool>>,
}

impl ToolSet {
    /// An empty set called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ToolSet {
            name: name.into(),
            tools: Vec::new(),
        }
    }

    /// This set with `tool` added.
    pub fn with(mut self, tool: impl Tool) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// This set with a shared tool added.
    pub fn with_arc(mut self, tool: Arc<dyn Tool>) -> Self {
        self.tools.push(tool);
        self
    }

    /// This set with every tool of `toolkit` added.
    pub fn with_toolkit(mut self, toolkit: &dyn Toolkit) -> Self {
        self.tools.extend(toolkit.tools());
        self
    }

    /// The tool called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.iter().find(|tool| tool.name() == name)
    }

    /// The specs of all tools, in order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|tool| tool.spec()).collect()
    }
}

impl fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolSet")
            .field("name", &self.name)
            .field(
                "tools",
                &self.tools.iter().map(|t| t.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Toolkit for ToolSet {
    fn name(&self) -> &str {
        &self.name
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        self.tools.clone()
    }
}
