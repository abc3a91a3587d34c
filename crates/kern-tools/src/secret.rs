//! API keys of the toolkits that need one: given to the builder, or read from the environment
//! when a tool is called (so building a toolkit never fails), and never shown by `Debug`.

use std::fmt;
use std::sync::Arc;

use crate::error::ToolError;

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where a toolkit reads the keys it was not given: the process environment, or a function
/// (tests, configuration that keeps secrets elsewhere).
#[derive(Clone, Default)]
pub(crate) struct Env(Option<Arc<Lookup>>);

impl Env {
    /// Keys looked up through `lookup` instead of the process environment.
    pub(crate) fn custom(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Env(Some(Arc::new(lookup)))
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    fn var(&self, name: &str) -> Option<String> {
        let value = match &self.0 {
            Some(lookup) => lookup(name),
            None => std::env::var(name).ok(),
        };
        value
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "Env(custom)",
            None => "Env(process)",
        })
    }
}

/// A key a toolkit needs: the value given to its builder, else the environment variable `var`.
#[derive(Clone)]
pub(crate) struct Credential {
    value: Option<String>,
    var: &'static str,
    setter: &'static str,
}

impl Credential {
    /// A key read from `var` unless [`set`](Self::set); `setter` names the builder method in
    /// the error a missing key gives, e.g. `ExaTools::api_key`.
    pub(crate) fn new(var: &'static str, setter: &'static str) -> Self {
        Credential {
            value: None,
            var,
            setter,
        }
    }

    /// Uses `value` instead of the environment (a blank value is ignored).
    pub(crate) fn set(&mut self, value: impl Into<String>) {
        let value = value.into().trim().to_owned();
        self.value = (!value.is_empty()).then_some(value);
    }

    /// The key, or a [`ToolError::Failed`] for `tool` naming the environment variable.
    pub(crate) fn resolve(&self, env: &Env, tool: &str) -> Result<String, ToolError> {
        if let Some(value) = &self.value {
            return Ok(value.clone());
        }
        env.var(self.var).ok_or_else(|| {
            ToolError::failed(format!(
                "`{tool}` is not configured: the environment variable {var} is not set (and no \
                 value was given with {setter}). This tool cannot work until {var} is set; do \
                 not call it again, tell the user instead",
                var = self.var,
                setter = self.setter,
            ))
        })
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match self.value {
            Some(_) => "<redacted>".to_owned(),
            None => format!("${}", self.var),
        };
        f.write_str(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_values_win_and_missing_ones_name_the_variable() {
        let env = Env::custom(|name| (name == "SET").then(|| " from-env ".to_owned()));
        let mut key = Credential::new("SET", "Kit::key");
        assert_eq!(key.resolve(&env, "tool").unwrap(), "from-env");
        key.set("given");
        assert_eq!(key.resolve(&env, "tool").unwrap(), "given");
        assert_eq!(format!("{key:?}"), "<redacted>");
        key.set("  ");
        assert_eq!(key.resolve(&env, "tool").unwrap(), "from-env");

        let missing = Credential::new("UNSET", "Kit::key");
        assert_eq!(format!("{missing:?}"), "$UNSET");
        let err = missing.resolve(&env, "tool").unwrap_err().to_string();
        assert!(err.contains("`tool` is not configured"), "{err}");
        assert!(
            err.contains("environment variable UNSET is not set"),
            "{err}"
        );
        assert!(err.contains("Kit::key"), "{err}");

        let blank = Env::custom(|_| Some("   ".to_owned()));
        assert!(Credential::new("SET", "Kit::key")
            .resolve(&blank, "tool")
            .is_err());
    }
}
