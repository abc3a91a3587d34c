//! Ready-made toolkits, like Agno's: [`HackerNewsTools`], [`YFinanceTools`] and
//! [`DuckDuckGoTools`].
//!
//! Each is configured with builder methods (base URLs, timeouts, which tools to offer) and
//! turned into tools with [`Toolkit::tools`](crate::Toolkit::tools). HTTP failures become
//! [`ToolError::Http`](crate::ToolError::Http) (with the status and the start of the body),
//! slow requests [`ToolError::Timeout`](crate::ToolError::Timeout).

pub mod duckduckgo;
pub mod hackernews;
pub mod yfinance;

pub use duckduckgo::DuckDuckGoTools;
pub use hackernews::HackerNewsTools;
pub use yfinance::YFinanceTools;
