//! [`SessionState`]: the JSON object every step of a run shares, loaded from the session when
//! the run starts and saved on it when the run ends.
//!
//! The engine loads, checkpoints and saves it for any kind of run; workflows hand it to their
//! steps. It lives here, below both, so that the engine never imports the workflow module
//! (see ARCHITECTURE.md, "Layers inside kern-core").

use serde_json::{Map, Value};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The checkpoint key under which the session state is saved with each step.
pub(crate) const SESSION_STATE_KEY: &str = "session_state";

/// State shared by every step of a run: a JSON object behind a lock.
///
/// Loaded from the session when the run starts (merged with any state passed with the run),
/// checkpointed with each completed step, and saved on the session when the run ends.
#[derive(Clone, Default)]
pub struct SessionState(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    map: Map<String, Value>,
    /// Bumped by every change, so writers can skip saving an unchanged state.
    version: u64,
}

impl SessionState {
    pub(crate) fn from_value(v: Option<Value>) -> Self {
        match v {
            Some(Value::Object(map)) => Self(Arc::new(Mutex::new(State { map, version: 0 }))),
            _ => Self::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().map.get(key).cloned()
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: impl Into<String>, value: impl Into<Value>) {
        let mut st = self.lock();
        st.map.insert(key.into(), value.into());
        st.version += 1;
    }

    /// Changes the state under its lock (for read-modify-write across parallel steps).
    pub fn update<R>(&self, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
        let mut st = self.lock();
        st.version += 1;
        f(&mut st.map)
    }

    /// A copy of the whole state.
    pub fn snapshot(&self) -> Value {
        Value::Object(self.lock().map.clone())
    }

    /// A copy of the state if it changed since `version`, with the current version.
    pub(crate) fn snapshot_if_changed(&self, version: u64) -> (Option<Value>, u64) {
        let st = self.lock();
        let copy = (st.version != version).then(|| Value::Object(st.map.clone()));
        (copy, st.version)
    }
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionState({})", self.snapshot())
    }
}
