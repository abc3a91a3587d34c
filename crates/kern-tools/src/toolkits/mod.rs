//! Ready-made toolkits, like Agno's: [`HackerNewsTools`], [`YFinanceTools`],
//! [`DuckDuckGoTools`], [`GoogleSearchTools`] and [`ExaTools`].
//!
//! Each is configured with builder methods (base URLs, timeouts, which tools to offer) and
//! turned into tools with [`Toolkit::tools`](crate::Toolkit::tools). HTTP failures become
//! [`ToolError::Http`](crate::ToolError::Http) (with the status and the start of the body),
//! slow requests [`ToolError::Timeout`](crate::ToolError::Timeout). Toolkits that need an API
//! key (Google, Exa) read it when a tool is called, so building one never fails; a missing key
//! is a [`ToolError::Failed`](crate::ToolError::Failed) naming the environment variable.

mod common;
pub mod duckduckgo;
pub mod exa;
pub mod google_search;
pub mod hackernews;
pub mod yfinance;

pub use common::{HttpSettings, HttpToolkit};
pub use duckduckgo::DuckDuckGoTools;
pub use exa::ExaTools;
pub use google_search::GoogleSearchTools;
pub use hackernews::HackerNewsTools;
pub use yfinance::YFinanceTools;
