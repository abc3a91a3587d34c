//! Tools made from Rust functions: [`tool_fn`] (async) and [`blocking_tool_fn`] (synchronous,
//! run on a blocking thread), with the parameters schema generated from the argument type.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::FutureExt;
use schemars::JsonSchema;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::schema::{self, schema_for};
use crate::tool::{HumanInLoop, Tool, ToolContext, ToolOutput, UserInputField};

type Handler =
    dyn Fn(Value, ToolContext) -> BoxFuture<'static, Result<ToolOutput, ToolError>> + Send + Sync;

/// A tool backed by a function: made by [`tool_fn`], [`blocking_tool_fn`] or
/// [`FunctionTool::from_json_fn`].
///
/// Calls are stopped when the context's token is cancelled (the future is dropped; a blocking
/// function's thread runs on, see [`blocking_tool_fn`]), and a panicking function becomes
/// [`ToolError::Failed`] instead of unwinding into the caller.
#[derive(Clone)]
pub struct FunctionTool {
    name: String,
    description: String,
    parameters: Value,
    timeout: Option<Duration>,
    handler: Arc<Handler>,
    human_in_loop: HumanInLoop,
    at_most_once: bool,
}

impl FunctionTool {
    /// A tool taking its arguments as raw JSON, for tools whose schema is only known at run time
    /// (a schema from a config file, an MCP server). `parameters` is [`schema::normalize`]d;
    /// the function validates the arguments itself.
    ///
    /// # Panics
    /// If `parameters` does not describe a JSON object (`"type": "object"`).
    pub fn from_json_fn<F, Fut, O>(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        function: F,
    ) -> Self
    where
        F: Fn(Value, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
        O: Into<ToolOutput>,
    {
        let name = name.into();
        let parameters = checked_parameters(&name, schema::normalize(parameters));
        let handler = move |args: Value, ctx: ToolContext| -> BoxFuture<'static, _> {
            let args = match args {
                Value::Null => Value::Object(Map::new()),
                other => other,
            };
            guarded(ctx.clone(), || function(args, ctx))
        };
        FunctionTool {
            name,
            description: description.into(),
            parameters,
            timeout: None,
            handler: Arc::new(handler),
            human_in_loop: HumanInLoop::None,
            at_most_once: false,
        }
    }

    /// This tool with a time limit per call: a call still running after `timeout` is stopped
    /// and fails with [`ToolError::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// This tool under another name (to avoid a clash between two toolkits, say).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// This tool with another description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// This tool needing a human first (see [`HumanInLoop`]): an agent calling it pauses
    /// until its run is continued with the decision.
    pub fn with_human_in_loop(mut self, gate: HumanInLoop) -> Self {
        self.human_in_loop = gate;
        self
    }

    /// Calls need a human's confirmation first.
    pub fn requires_confirmation(self) -> Self {
        self.with_human_in_loop(HumanInLoop::Confirmation)
    }

    /// Calls need a human to give these arguments first.
    pub fn requires_user_input(self, fields: Vec<UserInputField>) -> Self {
        self.with_human_in_loop(HumanInLoop::UserInput(fields))
    }

    /// Calls are run by someone outside, who sends the result.
    pub fn external_execution(self) -> Self {
        self.with_human_in_loop(HumanInLoop::ExternalExecution)
    }

    /// Calls are delivered at most once (see [`Tool::at_most_once`]).
    pub fn at_most_once(mut self) -> Self {
        self.at_most_once = true;
        self
    }
}

impl fmt::Debug for FunctionTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Tool for FunctionTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> Value {
        self.parameters.clone()
    }

    fn human_in_loop(&self) -> HumanInLoop {
        self.human_in_loop.clone()
    }

    fn at_most_once(&self) -> bool {
        self.at_most_once
    }

    async fn call(&self, args: Value, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let call = (self.handler)(args, ctx);
        match self.timeout {
            None => call.await,
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(ToolError::Timeout {
                    what: format!("tool `{}`", self.name),
                    after: limit,
                }),
            },
        }
    }
}

/// A tool from an async function taking its arguments as a typed struct.
///
/// The parameters schema is generated from `A` (its doc comments become descriptions; see
/// [`schema::schema_for`]). Arguments that do not deserialise into `A` fail with
/// [`ToolError::InvalidArguments`] naming the offending field; the function is not called. A
/// `null` or empty-string argument is taken as `{}`. For a tool without arguments use
/// [`NoArgs`].
///
/// ```
/// use kern_tools::{tool_fn, Tool, ToolContext, ToolError};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct WeatherArgs {
///     /// The city, e.g. "Paris".
///     city: String,
/// }
///
/// let weather = tool_fn(
///     "get_weather",
///     "Get the weather for a city",
///     |args: WeatherArgs, _ctx: ToolContext| async move {
///         if args.city.is_empty() {
///             return Err(ToolError::failed("no city given"));
///         }
///         Ok(format!("Sunny in {}", args.city))
///     },
/// );
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let out = weather.call(serde_json::json!({"city": "Paris"}), ToolContext::default()).await?;
/// assert_eq!(out.as_str(), "Sunny in Paris");
/// assert_eq!(weather.parameters()["required"], serde_json::json!(["city"]));
/// # Ok::<_, ToolError>(()) }).unwrap();
/// ```
///
/// # Panics
/// If `A`'s schema does not describe a JSON object (tool arguments are always an object: use a
/// struct).
pub fn tool_fn<A, F, Fut, O>(
    name: impl Into<String>,
    description: impl Into<String>,
    function: F,
) -> FunctionTool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
    O: Into<ToolOutput>,
{
    let name = name.into();
    let parameters = checked_parameters(&name, schema_for::<A>());
    let tool = name.clone();
    let handler = move |args: Value, ctx: ToolContext| -> BoxFuture<'static, _> {
        match parse_args::<A>(&tool, args) {
            Ok(args) => guarded(ctx.clone(), || function(args, ctx)),
            Err(error) => futures::future::ready(Err(error)).boxed(),
        }
    };
    FunctionTool {
        name,
        description: description.into(),
        parameters,
        timeout: None,
        handler: Arc::new(handler),
        human_in_loop: HumanInLoop::None,
        at_most_once: false,
    }
}

/// A tool from a synchronous function, run on Tokio's blocking thread pool
/// (`spawn_blocking`), so that slow or blocking code never stalls the async runtime.
///
/// Arguments and schema work as in [`tool_fn`]. When the call is cancelled, the caller gets
/// [`ToolError::Cancelled`] at once, but a thread cannot be interrupted: a long function should
/// check [`ToolContext::is_cancelled`] now and then and return early.
///
/// ```
/// use kern_tools::{blocking_tool_fn, Tool, ToolContext, ToolError};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct ReadArgs {
///     /// The file to read.
///     path: String,
/// }
///
/// let read = blocking_tool_fn(
///     "read_file",
///     "Read a text file",
///     |args: ReadArgs, _ctx: ToolContext| {
///         std::fs::read_to_string(&args.path).map_err(|e| ToolError::failed(format!("{}: {e}", args.path)))
///     },
/// );
/// assert_eq!(read.name(), "read_file");
/// ```
///
/// # Panics
/// If `A`'s schema does not describe a JSON object.
pub fn blocking_tool_fn<A, F, O>(
    name: impl Into<String>,
    description: impl Into<String>,
    function: F,
) -> FunctionTool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(A, ToolContext) -> Result<O, ToolError> + Send + Sync + 'static,
    O: Into<ToolOutput> + Send + 'static,
{
    let name = name.into();
    let parameters = checked_parameters(&name, schema_for::<A>());
    let tool = name.clone();
    let function = Arc::new(function);
    let handler = move |args: Value, ctx: ToolContext| -> BoxFuture<'static, _> {
        let args = match parse_args::<A>(&tool, args) {
            Ok(args) => args,
            Err(error) => return futures::future::ready(Err(error)).boxed(),
        };
        let function = Arc::clone(&function);
        async move {
            let thread_ctx = ctx.clone();
            let task =
                tokio::task::spawn_blocking(move || function(args, thread_ctx).map(Into::into));
            ctx.cancellable(async move {
                match task.await {
                    Ok(result) => result,
                    Err(error) if error.is_panic() => Err(panicked(error.into_panic())),
                    Err(error) => Err(ToolError::failed(format!("tool task failed: {error}"))),
                }
            })
            .await
        }
        .boxed()
    };
    FunctionTool {
        name,
        description: description.into(),
        parameters,
        timeout: None,
        handler: Arc::new(handler),
        human_in_loop: HumanInLoop::None,
        at_most_once: false,
    }
}

/// The arguments of a tool that takes none: accepts any arguments (`{}`, `null`, anything) and
/// its schema is an object without properties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoArgs;

impl<'de> Deserialize<'de> for NoArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(NoArgs)
    }
}

impl JsonSchema for NoArgs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoArgs".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "properties": {}})
    }
}

/// Deserialises a model's arguments into `A`, or says precisely what is wrong.
pub(crate) fn parse_args<A: DeserializeOwned>(tool: &str, args: Value) -> Result<A, ToolError> {
    let args = match args {
        Value::Null => Value::Object(Map::new()),
        // Some providers hand the arguments over as a JSON-encoded string.
        Value::String(text) if text.trim().is_empty() => Value::Object(Map::new()),
        Value::String(text) if text.trim_start().starts_with('{') => serde_json::from_str(&text)
            .map_err(|error| ToolError::InvalidArguments {
                tool: tool.to_owned(),
                path: None,
                message: format!("the arguments are not valid JSON: {error}"),
                source: Some(error),
            })?,
        other => other,
    };
    serde_path_to_error::deserialize(args).map_err(|error| {
        let path = error.path().to_string();
        let source = error.into_inner();
        ToolError::InvalidArguments {
            tool: tool.to_owned(),
            path: (path != ".").then_some(path),
            message: source.to_string(),
            source: Some(source),
        }
    })
}

fn checked_parameters(tool: &str, parameters: Value) -> Value {
    assert!(
        schema::is_object_schema(&parameters),
        "the arguments of tool `{tool}` must be a JSON object (use a struct, or NoArgs), \
         but their schema is {parameters}"
    );
    parameters
}

/// Calls `start` and drives the future it returns, turning panics (when starting or while
/// running) into `ToolError::Failed` and stopping at cancellation.
fn guarded<Fut, O>(
    ctx: ToolContext,
    start: impl FnOnce() -> Fut,
) -> BoxFuture<'static, Result<ToolOutput, ToolError>>
where
    Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
    O: Into<ToolOutput>,
{
    let future = match std::panic::catch_unwind(AssertUnwindSafe(start)) {
        Ok(future) => future,
        Err(payload) => return futures::future::ready(Err(panicked(payload))).boxed(),
    };
    async move {
        ctx.cancellable(async {
            match AssertUnwindSafe(future).catch_unwind().await {
                Ok(result) => result.map(Into::into),
                Err(payload) => Err(panicked(payload)),
            }
        })
        .await
    }
    .boxed()
}

fn panicked(payload: Box<dyn Any + Send>) -> ToolError {
    let message = if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "unknown panic payload".to_owned()
    };
    ToolError::Failed(format!("tool panicked: {message}"))
}
