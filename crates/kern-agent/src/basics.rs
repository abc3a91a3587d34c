//! What [`AgentBuilder`](crate::AgentBuilder) and [`TeamBuilder`](crate::TeamBuilder) share:
//! [`Basics`], the settings both take, and `basic_setters!`, the builder methods that set them
//! (written once, documented for the builder they are on).

use kern_core::engine::Engine;
use kern_core::{EngineError, EngineResult};
use kern_models::Model;
use kern_tools::Tool;
use std::sync::Arc;
use std::time::Duration;

/// The settings an agent and a team (its leader) share, as their builders hold them.
pub(crate) struct Basics {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) instructions: Vec<String>,
    pub(crate) model: Option<Arc<dyn Model>>,
    pub(crate) tools: Vec<Arc<dyn Tool>>,
    pub(crate) max_tool_rounds: u32,
    pub(crate) history_runs: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) engine: Option<Engine>,
}

impl Basics {
    /// The defaults: no model or tools, 10 tool rounds, 3 earlier runs in the context.
    pub(crate) fn new(id: String) -> Self {
        Basics {
            id,
            name: None,
            description: None,
            instructions: Vec::new(),
            model: None,
            tools: Vec::new(),
            max_tool_rounds: 10,
            history_runs: 3,
            timeout: None,
            engine: None,
        }
    }

    /// The model, or the definition error `missing` (e.g. `needs a model`) for `kind` (`agent`
    /// or `team`).
    pub(crate) fn take_model(&mut self, kind: &str, missing: &str) -> EngineResult<Arc<dyn Model>> {
        self.model.take().ok_or_else(|| {
            EngineError::InvalidDefinition(format!("{kind} {:?} {missing}", self.id))
        })
    }

    /// The display name: the one given, else the id.
    pub(crate) fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// The builder methods setting a builder's [`Basics`] (its field `basics`) that read the same
/// on both builders: `name`, `description`, `instructions`, `timeout` and `db`; `$whose` is
/// what the instructions are for in their docs (`"the agent"`, `"the leader"`), `$runs` the
/// runs `db` stores (`"agent"`, `"team"`).
macro_rules! basic_setters {
    ($builder:ty, whose = $whose:literal, runs = $runs:literal) => {
        impl $builder {
            /// Sets the display name (defaults to the id).
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.basics.name = Some(name.into());
                self
            }
            /// Sets the description.
            pub fn description(mut self, d: impl Into<String>) -> Self {
                self.basics.description = Some(d.into());
                self
            }
            #[doc = concat!("Adds an instruction for ", $whose, " (call repeatedly for a list).")]
            pub fn instruction(mut self, i: impl Into<String>) -> Self {
                self.basics.instructions.push(i.into());
                self
            }
            #[doc = concat!("Adds instructions for ", $whose, ".")]
            pub fn instructions<I, S>(mut self, list: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.basics
                    .instructions
                    .extend(list.into_iter().map(Into::into));
                self
            }
            /// The longest a run may take.
            pub fn timeout(mut self, d: std::time::Duration) -> Self {
                self.basics.timeout = Some(d);
                self
            }
            #[doc = concat!("The engine (and database) that stores and runs this ", $runs, "'s runs.")]
            pub fn db(mut self, engine: &kern_core::engine::Engine) -> Self {
                self.basics.engine = Some(engine.clone());
                self
            }
        }
    };
}
pub(crate) use basic_setters;
