//! The stored form of an event's payload: the payload without the fields that the event's own
//! row already holds.
//!
//! An event's payload, as the engine makes it and as clients receive it, is compact JSON that
//! starts with the event's type and carries the run's id, the event's index and its time:
//!
//! ```text
//! {"event":"StepStarted","step_name":"one","run_id":"0190…","session_id":"s","event_index":1,"created_at":1796119707,"workflow_id":"wf"}
//! ```
//!
//! `event`, `run_id`, `event_index` and `created_at` (the row's milliseconds, in seconds) repeat
//! the row's `event_type`, `run_id`, `event_index` and `created_at` columns: about 110 bytes of
//! every event, a third of a small one. So the stores keep
//!
//! ```text
//! {"step_name":"one","session_id":"s","workflow_id":"wf"}
//! ```
//!
//! with the byte offset of `"session_id"` in the `envelope` column, and [`expand`] puts the
//! fields back exactly where they were: the payload read back is the payload written, byte for
//! byte (what SSE and the run document serve). The stored form stays a JSON object, readable
//! with SQL.
//!
//! Exactly when it applies: the payload starts with `{"event":<event_type>,`, and contains
//! `"run_id":"<the row's run id>","session_id":<a JSON string>,"event_index":<the row's
//! index>,"created_at":<the row's seconds>` followed by `,` or the closing `}`. Any other
//! payload (another shape, a child run's event copied into its parent's log, whose `run_id` is
//! the child's) is stored whole with a `NULL` envelope. This module knows the shape of Kern's
//! envelope, nothing of what events mean.

use crate::model::{NewEvent, RunId};
use std::borrow::Cow;
use std::sync::Arc;

/// The parts of a row an event's envelope repeats.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row<'a> {
    /// The event's type (`event_type`).
    pub(crate) event_type: &'a str,
    /// The run whose log holds the event.
    pub(crate) run_id: RunId,
    /// The event's index.
    pub(crate) event_index: u64,
    /// The event's time, milliseconds since the epoch.
    pub(crate) created_at: i64,
}

const SESSION_KEY: &str = "\"session_id\":";

/// What a backend stores for `event` at `event_index` of `run_id`: the payload column and the
/// envelope column.
pub(crate) fn to_row(
    event: &NewEvent,
    run_id: RunId,
    event_index: u64,
) -> (Cow<'_, str>, Option<i64>) {
    let row = Row {
        event_type: &event.event_type,
        run_id,
        event_index,
        created_at: event.created_at,
    };
    match compact(&event.payload, row) {
        Some((stored, offset)) => (Cow::Owned(stored), Some(offset)),
        None => (Cow::Borrowed(&*event.payload), None),
    }
}

/// The payload a stored row stands for; an error message when its columns do not fit
/// together.
pub(crate) fn from_row(
    stored: &str,
    envelope: Option<i64>,
    row: Row<'_>,
) -> Result<Arc<str>, String> {
    match envelope {
        None => Ok(stored.into()),
        Some(offset) => expand(stored, offset, row).map(Into::into).ok_or_else(|| {
            format!(
                "event {} of run {}: its payload does not fit its envelope offset {offset}",
                row.event_index, row.run_id
            )
        }),
    }
}

/// The stored form of `payload` and the offset to store beside it; `None` when the payload is
/// to be stored whole.
pub(crate) fn compact(payload: &str, row: Row<'_>) -> Option<(String, i64)> {
    let head = head(row.event_type);
    let rest = payload.strip_prefix(head.as_str())?;
    let run = format!("\"run_id\":\"{}\",{SESSION_KEY}", row.run_id);
    let at = rest.find(run.as_str())?;
    let (before, session) = (&rest[..at], &rest[at + run.len()..]);
    // `before` is the event's own fields and their comma, or nothing.
    if !(before.is_empty() || before.ends_with(',')) || before == "," {
        return None;
    }
    let session_len = json_string_len(session)?;
    let after = session[session_len..].strip_prefix(tail(row).as_str())?;
    if !(after.starts_with(',') || after == "}") {
        return None;
    }
    let mut stored = String::with_capacity(payload.len() - head.len() - run.len() + 16);
    stored.push('{');
    stored.push_str(before);
    let offset = stored.len();
    stored.push_str(SESSION_KEY);
    stored.push_str(&session[..session_len]);
    stored.push_str(after);
    Some((stored, offset as i64))
}

/// The payload a stored form and its offset stand for; `None` when they do not fit together
/// (a corrupt row).
pub(crate) fn expand(stored: &str, offset: i64, row: Row<'_>) -> Option<String> {
    let offset = usize::try_from(offset).ok()?;
    let before = stored.get(1..offset)?;
    let session = stored.get(offset..)?.strip_prefix(SESSION_KEY)?;
    let session_len = json_string_len(session)?;
    let (session, after) = session.split_at(session_len);
    let head = head(row.event_type);
    let tail = tail(row);
    let mut payload = String::with_capacity(stored.len() + head.len() + tail.len() + 60);
    payload.push_str(&head);
    payload.push_str(before);
    payload.push_str("\"run_id\":\"");
    payload.push_str(&row.run_id.to_string());
    payload.push_str("\",");
    payload.push_str(SESSION_KEY);
    payload.push_str(session);
    payload.push_str(&tail);
    payload.push_str(after);
    Some(payload)
}

/// `{"event":"<type>",`
fn head(event_type: &str) -> String {
    // Serialising a string cannot fail.
    let name = serde_json::to_string(event_type).expect("a string serialises");
    format!("{{\"event\":{name},")
}

/// `,"event_index":<i>,"created_at":<seconds>`, the seconds as the engine writes them.
fn tail(row: Row<'_>) -> String {
    format!(
        ",\"event_index\":{},\"created_at\":{}",
        row.event_index,
        row.created_at / 1000
    )
}

/// The length of the JSON string literal `s` starts with (quotes included); `None` if it does
/// not start with one.
fn json_string_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run_id: RunId) -> Row<'static> {
        Row {
            event_type: "StepStarted",
            run_id,
            event_index: 7,
            created_at: 1_796_119_707_626,
        }
    }

    fn envelope(run_id: RunId, session: &str) -> String {
        format!(
            "\"run_id\":\"{run_id}\",\"session_id\":{},\"event_index\":7,\"created_at\":1796119707",
            serde_json::to_string(session).unwrap()
        )
    }

    #[test]
    fn strips_the_row_fields_and_gives_them_back_byte_for_byte() {
        let id = RunId::now_v7();
        let env = envelope(id, "s-1");
        let cases = [
            format!("{{\"event\":\"StepStarted\",\"step_name\":\"one\",\"step_index\":0,{env},\"workflow_id\":\"wf\",\"workflow_name\":\"W\"}}"),
            format!("{{\"event\":\"StepStarted\",{env},\"agent_id\":\"a\"}}"),
            format!("{{\"event\":\"StepStarted\",\"x\":1,{env}}}"),
            format!("{{\"event\":\"StepStarted\",{env}}}"),
        ];
        for payload in cases {
            let (stored, offset) = compact(&payload, row(id)).expect(&payload);
            assert!(stored.len() + 100 < payload.len(), "{stored}");
            let v: serde_json::Value = serde_json::from_str(&stored).expect(&stored);
            assert_eq!(v["session_id"], "s-1");
            assert!(v.get("run_id").is_none() && v.get("event").is_none());
            assert_eq!(expand(&stored, offset, row(id)).as_deref(), Some(&*payload));
        }
    }

    #[test]
    fn sessions_with_escapes_round_trip() {
        let id = RunId::now_v7();
        for session in [r#"a"b"#, r"back\slash", "\\\"", "ünï", ""] {
            let payload = format!(
                "{{\"event\":\"StepStarted\",\"k\":\"v\",{},\"team_id\":\"t\"}}",
                envelope(id, session)
            );
            let (stored, offset) = compact(&payload, row(id)).expect(&payload);
            assert_eq!(expand(&stored, offset, row(id)).as_deref(), Some(&*payload));
        }
    }

    #[test]
    fn anything_else_is_stored_whole() {
        let id = RunId::now_v7();
        let other = RunId::now_v7();
        let env = envelope(id, "s");
        for payload in [
            // Another run's event (a child's, copied into its parent's log).
            format!("{{\"event\":\"StepStarted\",{}}}", envelope(other, "s")),
            // Another type, index or time than the row's.
            format!("{{\"event\":\"StepCompleted\",{env}}}"),
            env.replace("\"event_index\":7", "\"event_index\":8"),
            format!(
                "{{\"event\":\"StepStarted\",{}}}",
                env.replace("1796119707", "1796119708")
            ),
            // Not followed by the end of a member.
            format!("{{\"event\":\"StepStarted\",{env}0}}"),
            // No envelope, or not Kern's shape.
            r#"{"event":"StepStarted","n":4}"#.to_string(),
            r#"{"n":4,"event":"StepStarted"}"#.to_string(),
            "not json".to_string(),
        ] {
            assert_eq!(compact(&payload, row(id)), None, "{payload}");
        }
    }

    #[test]
    fn a_stored_form_that_does_not_fit_its_offset_is_refused() {
        let id = RunId::now_v7();
        let payload = format!(
            "{{\"event\":\"StepStarted\",\"k\":1,{}}}",
            envelope(id, "s")
        );
        let (stored, offset) = compact(&payload, row(id)).unwrap();
        for bad in [-1, 0, offset - 1, offset + 1, stored.len() as i64, 10_000] {
            assert_eq!(expand(&stored, bad, row(id)), None, "offset {bad}");
        }
        assert_eq!(expand("{\"session_id\":\"s", 1, row(id)), None);
    }
}
