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
//! the child's) is stored whole with a `NULL` envelope.
//!
//! Schema v8 leaves out what a run holds once for all its events, in two ways; the envelope
//! column then holds a negative code instead of an offset:
//!
//! - **The run's envelope** ([`RUN_ENVELOPE`], `-2`): what follows the own fields, from
//!   `"session_id"` to the end (the session, and the workflow's, agent's or team's id and name),
//!   is the same in every event of a run. A run's first write that has one sets
//!   `kern_runs.event_envelope` to it as a JSON object (`{"session_id":"s","workflow_id":"wf"}`);
//!   it never changes after. The fenced update of each write returns it, and the events whose
//!   envelope it is are stored as their own fields alone (`{"step_name":"one"}`, or `{}`).
//! - **The run's output** ([`RUN_OUTPUT`], `-1`): a workflow's `WorkflowCompleted` carries the
//!   run's output (content, step results, metrics), which `kern_runs.output` holds too. When
//!   the write that completes a run ends with an event whose own fields, as a JSON object, are
//!   equal to the run's output, `kern_runs.output` keeps exactly that object's text (it parses
//!   to the same value) and the event is stored without those fields. Only a completing write
//!   does this: a completed run's output never changes again (a requeue takes failed and
//!   cancelled runs, a continuation paused ones), and its events go with it. An event whose
//!   fields differ from the output in any way (an agent's `RunCompleted`, whose output also
//!   names the model) keeps them.
//! - Both ([`RUN_OUTPUT_AND_ENVELOPE`], `-3`): the event is stored as `{}`.
//!
//! Reads fetch the run's columns only for rows with such a code, once per read.
//!
//! This module knows the shape of Kern's envelope, nothing of what events mean.

use crate::model::{NewEvent, RunId, RunWrite};
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

/// An event's stored columns: its payload and its envelope.
pub(crate) type StoredRow<'a> = (Cow<'a, str>, Option<i64>);

const SESSION_KEY: &str = "\"session_id\":";

/// The envelope of an event stored without its own fields because they are its run's output
/// (`kern_runs.output`, the text between its braces); the rest is stored as at offset 1.
pub(crate) const RUN_OUTPUT: i64 = -1;

/// The envelope of an event stored as its own fields only (`{…}`, or `{}`): the rest, from
/// `"session_id"` to the end, is its run's (`kern_runs.event_envelope` after its `{`).
pub(crate) const RUN_ENVELOPE: i64 = -2;

/// [`RUN_OUTPUT`] and [`RUN_ENVELOPE`] at once: the event is stored as `{}`.
pub(crate) const RUN_OUTPUT_AND_ENVELOPE: i64 = -3;

/// The columns of its run that an event's stored form may need (see the envelope codes).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RunColumns<'a> {
    /// `kern_runs.output`, for [`RUN_OUTPUT`] and [`RUN_OUTPUT_AND_ENVELOPE`].
    pub(crate) output: Option<&'a str>,
    /// `kern_runs.event_envelope`, for [`RUN_ENVELOPE`] and [`RUN_OUTPUT_AND_ENVELOPE`].
    pub(crate) envelope: Option<&'a str>,
}

/// The part of a row its run may share: from `"session_id"` to the end of the payload; `None`
/// for a row stored whole (or already sharing).
fn shareable<'r>(row: &'r StoredRow<'_>) -> Option<&'r str> {
    match row.1? {
        RUN_OUTPUT => row.0.get(1..),
        offset => row.0.get(usize::try_from(offset).ok()?..),
    }
}

/// The envelope a row would share with its run: `{"session_id":…` to the end of the payload,
/// a JSON object's text; `None` for a row stored whole (or already sharing).
pub(crate) fn envelope_of(row: &StoredRow<'_>) -> Option<String> {
    shareable(row).map(|rest| format!("{{{rest}"))
}

/// The row as stored once its envelope is its run's: its own fields alone.
fn without_envelope(row: &StoredRow<'_>) -> Option<StoredRow<'static>> {
    match row.1? {
        RUN_OUTPUT => Some((Cow::Borrowed("{}"), Some(RUN_OUTPUT_AND_ENVELOPE))),
        offset => {
            let own = own_fields(&row.0, offset)?;
            Some((Cow::Owned(format!("{{{own}}}")), Some(RUN_ENVELOPE)))
        }
    }
}

/// A row's envelope (as [`envelope_of`] gives it) and the row as stored if that envelope is
/// its run's; `None` for a row stored whole.
pub(crate) fn shared_form<'a>(row: &StoredRow<'a>) -> Option<(String, StoredRow<'a>)> {
    Some((envelope_of(row)?, without_envelope(row)?))
}

/// Stores the rows whose envelope is `run_envelope` (their run's, as [`envelope_of`] gives it)
/// without it: [`RUN_ENVELOPE`] or [`RUN_OUTPUT_AND_ENVELOPE`]. Other rows are left as they are.
pub(crate) fn share_envelope(rows: &mut [StoredRow<'_>], run_envelope: &str) {
    let Some(rest) = run_envelope.strip_prefix('{') else {
        return;
    };
    for row in rows {
        if shareable(row) == Some(rest) {
            if let Some(shared) = without_envelope(row) {
                *row = shared;
            }
        }
    }
}

/// What a backend stores for a run's write: the run's output text, if the write finishes the
/// run with one, and each event's payload and envelope columns (see the module's docs).
pub(crate) fn write_rows(w: &RunWrite) -> (Option<String>, Vec<StoredRow<'_>>) {
    let mut events: Vec<_> = (w.first_index..)
        .zip(&w.events)
        .map(|(i, e)| to_row(e, w.run_id, i))
        .collect();
    let output = w.finish.as_ref().and_then(|f| f.output.as_ref());
    let vouched = w.finish.as_ref().is_some_and(|f| f.output_in_event);
    if let (true, Some(output), Some((stored, Some(envelope)))) =
        (w.completes(), output, events.last_mut())
    {
        if let Some((fields, rest)) = split_own_fields(stored, *envelope) {
            debug_assert!(
                !vouched || same_json(&fields, output),
                "the output vouched for is not the terminal event's fields: {fields} against {output}"
            );
            if vouched || crate::json_eq::text_equals(&fields, output) {
                *stored = Cow::Owned(rest);
                *envelope = RUN_OUTPUT;
                return (Some(fields), events);
            }
        }
    }
    (output.map(|v| v.to_string()), events)
}

/// Whether `text` and `value` are the same JSON, both read through text: parsing a float is not
/// always exact, but it is the same for the same text, and a vouched output's floats were
/// written by the same serializer as the event's (see `RunFinish::output_in_event`).
fn same_json(text: &str, value: &serde_json::Value) -> bool {
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
    parse(text).is_some() && parse(text) == parse(&value.to_string())
}

/// A compact stored form (at `offset`) split into its own fields as a JSON object's text and
/// the rest as stored at offset 1; `None` when it has no own fields.
fn split_own_fields(stored: &str, offset: i64) -> Option<(String, String)> {
    let own = own_fields(stored, offset).filter(|own| !own.is_empty())?;
    let rest = stored.get(usize::try_from(offset).ok()?..)?;
    Some((format!("{{{own}}}"), format!("{{{rest}")))
}

/// The own fields of a form stored at `offset` (`{` + the fields and their comma, or nothing,
/// then the envelope), without that comma.
fn own_fields(stored: &str, offset: i64) -> Option<&str> {
    let before = stored.get(1..usize::try_from(offset).ok()?)?;
    Some(before.strip_suffix(',').unwrap_or(before))
}

/// What a backend stores for `event` at `event_index` of `run_id`: the payload column and the
/// envelope column.
pub(crate) fn to_row(event: &NewEvent, run_id: RunId, event_index: u64) -> StoredRow<'_> {
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

/// The payload a stored row stands for, given the columns of its run that its envelope may
/// need; an error message when they do not fit together.
pub(crate) fn from_row(
    stored: &str,
    envelope: Option<i64>,
    run: RunColumns<'_>,
    row: Row<'_>,
) -> Result<Arc<str>, String> {
    let Some(code) = envelope else {
        return Ok(stored.into());
    };
    let fail = |why: &str| {
        format!(
            "event {} of run {}: its payload does not fit its envelope {code}{why}",
            row.event_index, row.run_id
        )
    };
    let missing = |what: &str| fail(&format!(" (the run's {what} is missing)"));
    // Back to the form at an offset: first the run's envelope, then the run's output.
    let (stored, code): (Cow<'_, str>, i64) = match code {
        RUN_ENVELOPE | RUN_OUTPUT_AND_ENVELOPE => {
            let shared = run.envelope.ok_or_else(|| missing("envelope"))?;
            let rest = shared.strip_prefix('{').ok_or_else(|| fail(""))?;
            let own = stored
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or_else(|| fail(""))?;
            if code == RUN_OUTPUT_AND_ENVELOPE {
                if !own.is_empty() {
                    return Err(fail(""));
                }
                (Cow::Owned(format!("{{{rest}")), RUN_OUTPUT)
            } else if own.is_empty() {
                (Cow::Owned(format!("{{{rest}")), 1)
            } else {
                (Cow::Owned(format!("{{{own},{rest}")), own.len() as i64 + 2)
            }
        }
        _ => (Cow::Borrowed(stored), code),
    };
    let (stored, offset): (Cow<'_, str>, i64) = match code {
        RUN_OUTPUT => {
            // `{` + the output's fields + `,` + the rest after its `{`: the form at the offset
            // just past that comma.
            let output = run.output.ok_or_else(|| missing("output"))?;
            let fields = output
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|f| !f.is_empty())
                .ok_or_else(|| fail(""))?;
            let rest = stored.strip_prefix('{').ok_or_else(|| fail(""))?;
            (
                Cow::Owned(format!("{{{fields},{rest}")),
                fields.len() as i64 + 2,
            )
        }
        offset => (stored, offset),
    };
    expand(&stored, offset, row)
        .map(Into::into)
        .ok_or_else(|| fail(""))
}

/// The stored form of `payload` and the offset to store beside it; `None` when the payload is
/// to be stored whole.
pub(crate) fn compact(payload: &str, row: Row<'_>) -> Option<(String, i64)> {
    let rest = strip_head(payload, row.event_type)?;
    let mut id = uuid::Uuid::encode_buffer();
    let id = row.run_id.hyphenated().encode_lower(&mut id);
    let (at, run_len) = find_run(rest, id)?;
    let (before, session) = (&rest[..at], &rest[at + run_len..]);
    // `before` is the event's own fields and their comma, or nothing.
    if !(before.is_empty() || before.ends_with(',')) || before == "," {
        return None;
    }
    let session_len = json_string_len(session)?;
    let after = session[session_len..].strip_prefix(tail(row).as_str())?;
    if !(after.starts_with(',') || after == "}") {
        return None;
    }
    let mut stored = String::with_capacity(rest.len() - run_len + 16);
    stored.push('{');
    stored.push_str(before);
    let offset = stored.len();
    stored.push_str(SESSION_KEY);
    stored.push_str(&session[..session_len]);
    stored.push_str(after);
    Some((stored, offset as i64))
}

/// Where `"run_id":"<id>","session_id":` first occurs in `rest`, and its length. (Found by
/// its constant start and then checked: a searcher built for the whole needle, different for
/// every run, cost more to build than the search itself.)
fn find_run(rest: &str, id: &str) -> Option<(usize, usize)> {
    const KEY: &str = "\"run_id\":\"";
    let mut from = 0;
    loop {
        let at = from + rest[from..].find(KEY)?;
        let follows = rest[at + KEY.len()..]
            .strip_prefix(id)
            .and_then(|r| r.strip_prefix("\","))
            .is_some_and(|r| r.starts_with(SESSION_KEY));
        if follows {
            return Some((at, KEY.len() + id.len() + 2 + SESSION_KEY.len()));
        }
        from = at + 1;
    }
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

/// `payload` after its [`head`], if it starts with it.
fn strip_head<'p>(payload: &'p str, event_type: &str) -> Option<&'p str> {
    let plain = |c: char| c >= ' ' && c != '"' && c != '\\';
    if !event_type.chars().all(plain) {
        return payload.strip_prefix(head(event_type).as_str());
    }
    // A type name that needs no escapes (every name Kern writes) is its own JSON string.
    payload
        .strip_prefix("{\"event\":\"")?
        .strip_prefix(event_type)?
        .strip_prefix("\",")
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
    fn the_envelope_is_found_after_look_alikes_in_the_own_fields() {
        let id = RunId::now_v7();
        let other = RunId::now_v7();
        let env = envelope(id, "s");
        // Own fields that hold the run id key: another run's, and this run's without its
        // session after it. The envelope is the first full match, after both.
        let own = format!(
            "\"content\":{{\"run_id\":\"{other}\",\"session_id\":\"s\"}},\"x\":{{\"run_id\":\"{id}\",\"y\":1}},"
        );
        let payload = format!("{{\"event\":\"StepOutput\",{own}{env},\"workflow_id\":\"wf\"}}");
        let row = Row {
            event_type: "StepOutput",
            ..row(id)
        };
        let (stored, offset) = compact(&payload, row).expect(&payload);
        assert_eq!(&stored[..offset as usize], format!("{{{own}"));
        assert_eq!(expand(&stored, offset, row).as_deref(), Some(&*payload));
    }

    #[test]
    fn event_types_that_need_escapes_round_trip() {
        let id = RunId::now_v7();
        for event_type in ["Custom \"quoted\"", "back\\slash", "tab\there", "ünï"] {
            let name = serde_json::to_string(event_type).unwrap();
            let payload = format!("{{\"event\":{name},\"k\":1,{}}}", envelope(id, "s"));
            let row = Row {
                event_type,
                ..row(id)
            };
            let (stored, offset) = compact(&payload, row).expect(&payload);
            assert_eq!(expand(&stored, offset, row).as_deref(), Some(&*payload));
            // Under another type's name, the payload is not this row's.
            let wrong = Row {
                event_type: "StepStarted",
                ..row
            };
            assert!(compact(&payload, wrong).is_none());
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

    fn completing(id: RunId, payload: &str, output: serde_json::Value) -> RunWrite {
        use crate::model::{RunFinish, RunStatus};
        RunWrite {
            run_id: id,
            first_index: 7,
            events: vec![NewEvent {
                event_type: "StepStarted".into(),
                payload: payload.into(),
                created_at: 1_796_119_707_626,
                scope: None,
            }],
            finish: Some(RunFinish {
                status: RunStatus::Completed,
                output: Some(output),
                error: None,
                pause_expires_at: None,
                output_in_event: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_output_vouched_for_is_the_events_fields_uncompared() {
        let id = RunId::now_v7();
        let fields = r#""content":"abc","metrics":{"duration":0.25}"#;
        let payload = format!(
            "{{\"event\":\"StepStarted\",{fields},{}}}",
            envelope(id, "s")
        );
        let output: serde_json::Value = serde_json::from_str(&format!("{{{fields}}}")).unwrap();
        let mut w = completing(id, &payload, output);
        w.finish.as_mut().unwrap().output_in_event = true;
        let (text, rows) = write_rows(&w);
        assert_eq!(text.as_deref(), Some(&*format!("{{{fields}}}")));
        assert_eq!(rows[0].1, Some(RUN_OUTPUT));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "the output vouched for is not the terminal event's fields")]
    fn a_false_vouch_is_caught_in_debug_builds() {
        let id = RunId::now_v7();
        let payload = format!(
            "{{\"event\":\"StepStarted\",\"content\":\"abc\",{}}}",
            envelope(id, "s")
        );
        let mut w = completing(id, &payload, serde_json::json!({"content": "abd"}));
        w.finish.as_mut().unwrap().output_in_event = true;
        write_rows(&w);
    }

    #[test]
    fn the_completing_event_leaves_out_the_fields_that_are_its_runs_output() {
        let id = RunId::now_v7();
        let fields =
            r#""content":"abc","step_results":[{"b":1.5e-6,"a":null}],"metrics":{"z":1,"a":2}"#;
        let payload = format!(
            "{{\"event\":\"StepStarted\",{fields},{}}}",
            envelope(id, "s")
        );
        let output: serde_json::Value = serde_json::from_str(&format!("{{{fields}}}")).unwrap();
        let w = completing(id, &payload, output.clone());
        let (text, rows) = write_rows(&w);
        // The output is kept as the event had it (its order), and parses to the same value.
        let text = text.unwrap();
        assert_eq!(text, format!("{{{fields}}}"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            output
        );
        let (stored, envelope) = &rows[0];
        assert_eq!(
            (&**stored, *envelope),
            (r#"{"session_id":"s"}"#, Some(RUN_OUTPUT))
        );
        let run = |output| RunColumns {
            output,
            envelope: None,
        };
        let back = from_row(stored, *envelope, run(Some(&text)), row(id)).unwrap();
        assert_eq!(&*back, payload);
        // Without the run's output, or with another, the row is refused, not guessed.
        let err = from_row(stored, *envelope, run(None), row(id)).unwrap_err();
        assert!(err.contains("output is missing"), "{err}");
        assert!(from_row(stored, *envelope, run(Some("{}")), row(id)).is_err());
        assert!(from_row(stored, *envelope, run(Some("[1]")), row(id)).is_err());
    }

    #[test]
    fn an_event_whose_fields_are_not_the_output_keeps_them() {
        let id = RunId::now_v7();
        let payload = format!(
            "{{\"event\":\"StepStarted\",\"content\":\"a\",{}}}",
            envelope(id, "s")
        );
        let stored_alone = compact(&payload, row(id)).unwrap();
        let other = serde_json::json!({ "content": "a", "model": "m" });
        // Another output; a pause or a failure with the same output; no own fields at all.
        let mut paused = completing(id, &payload, serde_json::json!({ "content": "a" }));
        paused.finish.as_mut().unwrap().status = crate::model::RunStatus::Paused;
        let bare = format!("{{\"event\":\"StepStarted\",{}}}", envelope(id, "s"));
        for (w, output) in [
            (completing(id, &payload, other.clone()), other.to_string()),
            (paused, r#"{"content":"a"}"#.to_string()),
        ] {
            let (text, rows) = write_rows(&w);
            assert_eq!(text.as_deref(), Some(output.as_str()));
            assert_eq!(
                (rows[0].0.to_string(), rows[0].1),
                (stored_alone.0.clone(), Some(stored_alone.1))
            );
        }
        let w = completing(id, &bare, serde_json::json!({}));
        let (text, rows) = write_rows(&w);
        assert_eq!(text.as_deref(), Some("{}"));
        assert_ne!(rows[0].1, Some(RUN_OUTPUT));
    }

    #[test]
    fn events_with_their_runs_envelope_are_stored_without_it() {
        let id = RunId::now_v7();
        let env = envelope(id, "s");
        let with = |own: &str| {
            let sep = if own.is_empty() { "" } else { "," };
            format!("{{\"event\":\"StepStarted\",{own}{sep}{env},\"workflow_id\":\"wf\"}}")
        };
        let payloads = [
            with(r#""step_name":"one","n":[1,{"a":"}"}]"#),
            with(""),
            format!(
                "{{\"event\":\"StepStarted\",\"k\":1,{}}}",
                envelope(id, "other")
            ),
            r#"{"event":"StepStarted"}"#.to_string(),
        ];
        let mut rows: Vec<StoredRow<'_>> = payloads
            .iter()
            .map(|p| match compact(p, row(id)) {
                Some((stored, offset)) => (Cow::Owned(stored), Some(offset)),
                None => (Cow::Borrowed(p.as_str()), None),
            })
            .collect();
        let shared = envelope_of(&rows[0]).unwrap();
        assert_eq!(shared, r#"{"session_id":"s","workflow_id":"wf"}"#);
        assert_eq!(envelope_of(&rows[1]).as_deref(), Some(&*shared));
        share_envelope(&mut rows, &shared);
        assert_eq!(
            rows[0],
            (
                Cow::Borrowed(r#"{"step_name":"one","n":[1,{"a":"}"}]}"#),
                Some(RUN_ENVELOPE)
            )
        );
        assert_eq!(rows[1], (Cow::Borrowed("{}"), Some(RUN_ENVELOPE)));
        assert!(
            rows[2].1.unwrap() > 0 && rows[3].1.is_none(),
            "not the run's: as they were"
        );
        let run = RunColumns {
            output: None,
            envelope: Some(&shared),
        };
        for (payload, (stored, code)) in payloads.iter().zip(&rows) {
            assert_eq!(&*from_row(stored, *code, run, row(id)).unwrap(), payload);
        }
        // Without the run's envelope the row is refused, not guessed.
        let err = from_row(&rows[0].0, rows[0].1, RunColumns::default(), row(id)).unwrap_err();
        assert!(err.contains("envelope is missing"), "{err}");
    }

    #[test]
    fn the_completing_event_can_leave_out_both_output_and_envelope() {
        let id = RunId::now_v7();
        let fields = r#""content":"x""#;
        let payload = format!(
            "{{\"event\":\"StepStarted\",{fields},{},\"team_id\":\"t\"}}",
            envelope(id, "s")
        );
        let w = completing(id, &payload, serde_json::json!({ "content": "x" }));
        let (output, mut rows) = write_rows(&w);
        let shared = envelope_of(&rows[0]).unwrap();
        share_envelope(&mut rows, &shared);
        assert_eq!(
            rows[0],
            (Cow::Borrowed("{}"), Some(RUN_OUTPUT_AND_ENVELOPE))
        );
        let run = RunColumns {
            output: output.as_deref(),
            envelope: Some(&shared),
        };
        assert_eq!(&*from_row("{}", rows[0].1, run, row(id)).unwrap(), payload);
        assert!(from_row(r#"{"a":1}"#, rows[0].1, run, row(id)).is_err());
        // A shared form is the form at an offset again for `shared_form`'s caller.
        let fresh = write_rows(&w).1;
        let (env, form) = shared_form(&fresh[0]).unwrap();
        assert_eq!((env, form), (shared, rows[0].clone()));
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
