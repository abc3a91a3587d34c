//! What the toolkit tests share: finding a tool by name, calling it, and checking the
//! errors every toolkit reports the same way.

#![allow(dead_code)] // each test binary uses a part of it

use std::sync::Arc;

use kern_tools::{Tool, ToolContext, ToolError};
use serde_json::Value;

/// The tool called `name` among `tools`.
pub fn tool(tools: &[Arc<dyn Tool>], name: &str) -> Arc<dyn Tool> {
    tools
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
        .clone()
}

/// The names of `tools`, in order.
pub fn tool_names(tools: &[Arc<dyn Tool>]) -> Vec<String> {
    tools.iter().map(|t| t.name().to_owned()).collect()
}

/// Calls `tool` with a default context; its output as text.
pub async fn call_text(tool: &Arc<dyn Tool>, args: Value) -> Result<String, ToolError> {
    Ok(tool.call(args, ToolContext::default()).await?.into_string())
}

/// Calls `tool` with a default context; its output, which must be JSON.
pub async fn call(tool: &Arc<dyn Tool>, args: Value) -> Result<Value, ToolError> {
    let text = call_text(tool, args).await?;
    Ok(serde_json::from_str(&text).expect("the output is JSON"))
}

/// Asserts that `err` is an `InvalidArguments` error pointing at `path`.
#[track_caller]
pub fn assert_invalid_at(err: &ToolError, path: &str) {
    assert!(
        matches!(err, ToolError::InvalidArguments { path: Some(p), .. } if p == path),
        "expected invalid arguments at `{path}`: {err:?}"
    );
}

/// Calls `tool`, which must succeed with a JSON array; its items.
pub async fn call_list(tool: &Arc<dyn Tool>, args: Value) -> Vec<Value> {
    match call(tool, args).await {
        Ok(Value::Array(items)) => items,
        other => panic!("expected a JSON array, got {other:?}"),
    }
}

/// Asserts that calling `tool` with `args` is refused as invalid at `path`, with a message
/// that contains `says`.
pub async fn assert_refused(tool: &Arc<dyn Tool>, args: Value, path: &str, says: &str) {
    let err = call(tool, args).await.unwrap_err();
    assert_invalid_at(&err, path);
    assert!(err.to_string().contains(says), "{err}");
}

/// The URL and body of `err`, which must be an `Http` error with `status`.
#[track_caller]
pub fn http_error(err: &ToolError, status: u16) -> (&str, &str) {
    match err {
        ToolError::Http {
            url,
            status: Some(got),
            body,
        } if *got == status => (url, body),
        other => panic!("expected an Http error with status {status}, got {other:?}"),
    }
}
