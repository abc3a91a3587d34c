//! A restart is visible in the log (design invariant 10).
//!
//! When a run resumes on a new executor, the work that was in flight (a workflow step, a model
//! turn, tool calls) runs again and emits its events again. Its earlier events stay in the log
//! (the log is append-only and gapless), so the engine appends one `RunRestarted` event that
//! lists them as void, before anything else the resumed run emits.
//!
//! Which events are void: every event is stored with the unit of work it belongs to (its
//! *scope*, see [`RunContext::scoped`](super::RunContext::scoped)), named by the checkpoint
//! key that marks the unit done. A unit without that checkpoint was interrupted, so all its
//! events are void, wherever they sit in the log (parallel branches and concurrent tool calls
//! interleave; a finished sibling's events are kept). Events without a scope are never void.
//!
//! Voided ranges are remembered in the checkpoint [`VOIDED_KEY`], written with the
//! `RunRestarted` event, so a run restarted twice voids the events of its second attempt only:
//! no index is ever voided twice.
//!
//! Edge cases:
//! - a run whose log is empty when it resumes emits no `RunRestarted` (nothing was seen);
//! - a unit that reuses its key after a restart (the same step, redone) is voided again only for
//!   the events of the later attempt;
//! - child runs are never resumed (their parent redoes them), so their events are voided in the
//!   parent's log through the parent's unit that started them;
//! - a workflow step retried within one execution voids its failed try's events itself, with a
//!   `StepRetried` event that also records them under [`VOIDED_KEY`]
//!   ([`RunContext::void_unit_since`](super::RunContext::void_unit_since)), so a restart during
//!   a later try does not void them again.

use serde_json::Value;
use std::collections::HashMap;

/// The checkpoint that holds every range voided so far, as `[[first, last], …]`.
pub(crate) const VOIDED_KEY: &str = "voided";

/// What a resumed run voids.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Restart {
    /// The ranges to announce now: events of interrupted units not voided before.
    pub voided: Vec<[u64; 2]>,
    /// Every range voided so far, these included (the new value of [`VOIDED_KEY`]).
    pub all: Vec<[u64; 2]>,
}

/// Works out what a resumed run voids from its scoped events (`(index, scope)`, ascending) and
/// its checkpoints.
pub(crate) fn plan(scopes: &[(u64, String)], checkpoints: &HashMap<String, Value>) -> Restart {
    let before: Vec<[u64; 2]> = checkpoints
        .get(VOIDED_KEY)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let voided_before = |i: u64| before.iter().any(|[a, b]| (*a..=*b).contains(&i));
    let indices = scopes
        .iter()
        .filter(|(i, scope)| !checkpoints.contains_key(scope.as_str()) && !voided_before(*i))
        .map(|(i, _)| *i);
    let voided = ranges(indices);
    let mut all = before.clone();
    all.extend(voided.iter().copied());
    all.sort_unstable();
    Restart {
        voided,
        all: merge(all),
    }
}

/// Ascending indices → inclusive ranges of consecutive ones.
pub(crate) fn ranges(indices: impl IntoIterator<Item = u64>) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for i in indices {
        match out.last_mut() {
            Some([_, last]) if *last + 1 == i => *last = i,
            _ => out.push([i, i]),
        }
    }
    out
}

/// Sorted ranges → the same set with touching ranges joined.
pub(crate) fn merge(sorted: Vec<[u64; 2]>) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::with_capacity(sorted.len());
    for [a, b] in sorted {
        match out.last_mut() {
            Some([_, last]) if a <= *last + 1 => *last = (*last).max(b),
            _ => out.push([a, b]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|(i, s)| (*i, s.to_string())).collect()
    }

    fn done(keys: &[(&str, Value)]) -> HashMap<String, Value> {
        keys.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn an_interrupted_unit_is_voided_and_a_finished_one_kept() {
        // Two parallel branches interleave; step:0.0 finished, step:0.1 did not.
        let s = scopes(&[
            (3, "step:0.0"),
            (4, "step:0.1"),
            (5, "step:0.0"),
            (6, "step:0.1"),
            (7, "step:0.1"),
            (9, "final"),
        ]);
        let r = plan(&s, &done(&[("step:0.0", json!({}))]));
        assert_eq!(r.voided, vec![[4, 4], [6, 7], [9, 9]]);
        assert_eq!(r.all, r.voided);
    }

    #[test]
    fn nothing_in_flight_voids_nothing() {
        let s = scopes(&[(1, "step:0"), (2, "step:0")]);
        let r = plan(&s, &done(&[("step:0", json!({}))]));
        assert!(r.voided.is_empty());
        assert!(plan(&[], &HashMap::new()).voided.is_empty());
    }

    #[test]
    fn a_second_restart_voids_only_the_second_attempts_events() {
        // Attempt 1 emitted 2..=4 for step:1 and was voided at 5; attempt 2 emitted 6..=7.
        let s = scopes(&[
            (2, "step:1"),
            (3, "step:1"),
            (4, "step:1"),
            (6, "step:1"),
            (7, "step:1"),
        ]);
        let r = plan(&s, &done(&[(VOIDED_KEY, json!([[2, 4]]))]));
        assert_eq!(r.voided, vec![[6, 7]]);
        assert_eq!(r.all, vec![[2, 4], [6, 7]]);
        let r = plan(
            &s,
            &done(&[(VOIDED_KEY, json!([[2, 4]])), ("step:1", json!({}))]),
        );
        assert!(r.voided.is_empty());
        assert_eq!(r.all, vec![[2, 4]]);
    }

    #[test]
    fn ranges_join_touching_voids() {
        let s = scopes(&[(5, "tool:0:1"), (6, "tool:0:1")]);
        let r = plan(&s, &done(&[(VOIDED_KEY, json!([[3, 4]]))]));
        assert_eq!(r.voided, vec![[5, 6]]);
        assert_eq!(r.all, vec![[3, 6]]);
    }
}
