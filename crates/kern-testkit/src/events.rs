//! Checks on a run's log, given as its events' JSON (as stored, or as served over HTTP).

use serde_json::Value;

/// The events that void earlier events of their log: every event with a `voided` list —
/// `RunRestarted` (the interrupted work a resumed run redoes), `StepRetried` (a step's failed
/// try) and `RunRequeued` (a requeued run's old terminal event).
fn voids(e: &Value) -> bool {
    e["voided"].is_array()
}

/// The events of a log (in index order) that still count once the voids of its
/// `RunRestarted`, `StepRetried` and `RunRequeued` events are applied (design invariant 10).
pub fn kept_events(events: &[Value]) -> Vec<Value> {
    let mut kept: Vec<Value> = Vec::with_capacity(events.len());
    for e in events {
        if let Some(voided) = e["voided"].as_array().filter(|_| voids(e)) {
            let ranges: Vec<(u64, u64)> = voided
                .iter()
                .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
                .collect();
            kept.retain(|k| {
                let i = k["event_index"].as_u64().unwrap();
                !ranges.iter().any(|(a, b)| (*a..=*b).contains(&i))
            });
        }
        kept.push(e.clone());
    }
    kept
}

/// Asserts design invariant 10 on a run's log: once the voids are applied, the joined
/// content deltas (`RunContent`, `TeamRunContent`) of every run that completed in the log
/// (the run itself, its members, its agent steps) equal that run's final content, and no
/// voided range reaches past its `RunRestarted` event or voids an index twice. Returns how
/// many `RunRestarted` events the log holds. (`RunRequeued` events are checked the same way.)
pub fn assert_joined_content(events: &[Value]) -> usize {
    let mut restarts = 0;
    let mut voided_so_far: Vec<u64> = Vec::new();
    for e in events.iter().filter(|e| voids(e)) {
        if e["event"] == "RunRestarted" {
            restarts += 1;
        }
        let own = e["event_index"].as_u64().unwrap();
        for r in e["voided"].as_array().unwrap() {
            let (a, b) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
            assert!(a <= b && b < own, "bad voided range {r} at {own}");
            for i in a..=b {
                assert!(!voided_so_far.contains(&i), "index {i} voided twice");
                voided_so_far.push(i);
            }
        }
    }
    let kept = kept_events(events);
    for done in kept
        .iter()
        .filter(|e| e["event"] == "RunCompleted" || e["event"] == "TeamRunCompleted")
    {
        let Some(content) = done["content"].as_str() else {
            continue;
        };
        let run_id = &done["run_id"];
        let joined: String = kept
            .iter()
            .filter(|e| &e["run_id"] == run_id)
            .filter(|e| e["event"] == "RunContent" || e["event"] == "TeamRunContent")
            .filter_map(|e| e["content"].as_str())
            .collect();
        assert_eq!(
            joined, content,
            "run {run_id}: the joined streamed content differs from the final content"
        );
    }
    restarts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delta(i: u64, s: &str) -> Value {
        json!({"event": "RunContent", "run_id": "r", "event_index": i, "content": s})
    }

    #[test]
    fn voided_deltas_are_not_joined() {
        let log = vec![
            delta(0, "a "),
            delta(1, "b "),
            json!({"event": "RunRestarted", "run_id": "r", "event_index": 2, "voided": [[1, 1]]}),
            delta(3, "b"),
            json!({"event": "RunCompleted", "run_id": "r", "event_index": 4, "content": "a b"}),
        ];
        assert_eq!(assert_joined_content(&log), 1);
        assert_eq!(kept_events(&log).len(), 4);
    }

    #[test]
    #[should_panic(expected = "differs from the final content")]
    fn a_doubled_answer_is_caught() {
        let log = vec![
            delta(0, "a "),
            delta(1, "a "),
            json!({"event": "RunCompleted", "run_id": "r", "event_index": 2, "content": "a "}),
        ];
        assert_joined_content(&log);
    }
}
