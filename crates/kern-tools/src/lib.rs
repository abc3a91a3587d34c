//! Tools for Kern's agents: functions a model can call.
//!
//! - [`Tool`]: a name, a description, a JSON Schema of the arguments ([`Tool::parameters`]) and
//!   an async [`call`](Tool::call) taking the model's arguments and a [`ToolContext`] (the run's
//!   cancellation token and ids), returning a [`ToolOutput`] (text) or a [`ToolError`] whose
//!   message is written for the model.
//! - [`tool_fn`] and [`blocking_tool_fn`]: tools from Rust functions, the schema generated from
//!   the argument type (`serde::Deserialize` + `schemars::JsonSchema`). Synchronous functions run
//!   on blocking threads; bad arguments, panics and cancellation become [`ToolError`]s.
//! - [`Toolkit`]: a named set of tools; ready-made ones are [`HackerNewsTools`],
//!   [`YFinanceTools`], [`DuckDuckGoTools`], [`GoogleSearchTools`] and [`ExaTools`], like
//!   Agno's (the last two read their API keys from the environment when called).
//! - [`ToolSpec`]: a tool as model providers want it (name, description, self-contained
//!   parameters schema, see [`schema`]).
//!
//! ```
//! use kern_tools::{tool_fn, HackerNewsTools, Tool, ToolContext, ToolError, ToolSet, Toolkit};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// The arguments of `get_weather`; doc comments become the schema's descriptions.
//! #[derive(Deserialize, JsonSchema)]
//! struct WeatherArgs {
//!     /// The city, e.g. "Paris".
//!     city: String,
//!     /// Celsius (default) or Fahrenheit.
//!     #[serde(default)]
//!     fahrenheit: bool,
//! }
//!
//! let weather = tool_fn(
//!     "get_weather",
//!     "Get the weather for a city",
//!     |args: WeatherArgs, _ctx: ToolContext| async move {
//!         let unit = if args.fahrenheit { "F" } else { "C" };
//!         Ok::<_, ToolError>(format!("21°{unit} and sunny in {}", args.city))
//!     },
//! );
//!
//! // What an agent gives the model:
//! let tools = ToolSet::new("assistant")
//!     .with(weather)
//!     .with_toolkit(&HackerNewsTools::new());
//! let specs = tools.specs();
//! assert_eq!(specs[0].name, "get_weather");
//! assert_eq!(specs[0].parameters["properties"]["city"]["type"], "string");
//!
//! // What an agent does with the model's call:
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let tool = tools.get("get_weather").unwrap();
//! let out = tool.call(serde_json::json!({"city": "Paris"}), ToolContext::new("run-1", "session-1")).await?;
//! assert_eq!(out.as_str(), "21°C and sunny in Paris");
//!
//! let err = tool.call(serde_json::json!({"town": "Paris"}), ToolContext::default()).await.unwrap_err();
//! assert!(matches!(err, ToolError::InvalidArguments { .. }));
//! assert!(err.to_string().contains("missing field `city`"));
//! # Ok::<_, ToolError>(()) }).unwrap();
//! ```
//!
//! With the `testing` feature, [`testing::FakeToolServer`] serves the toolkits' APIs on
//! 127.0.0.1, so tests and examples run without the network.

mod error;
mod function;
mod html;
mod http;
pub mod schema;
mod secret;
mod time;
mod tool;
pub mod toolkits;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::ToolError;
pub use function::{blocking_tool_fn, tool_fn, FunctionTool, NoArgs};
pub use tool::{
    HumanInLoop, Tool, ToolContext, ToolOutput, ToolSet, ToolSpec, Toolkit, UserInputField,
};
pub use toolkits::{
    DuckDuckGoTools, ExaTools, GoogleSearchTools, HackerNewsTools, HttpSettings, HttpToolkit,
    YFinanceTools,
};

/// The `schemars` this crate builds schemas with. Argument types derive its `JsonSchema`;
/// without a direct `schemars` dependency, add `#[schemars(crate = "kern_tools::schemars")]`
/// next to the derive.
pub use schemars;
