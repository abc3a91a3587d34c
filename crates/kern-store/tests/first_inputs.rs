//! `Store::first_inputs`, run against every backend: for a list of sessions, in one read, the
//! input of each one's first top-level run (what a nameless session is shown by).

use kern_store::*;
use kern_testkit::{both_backends, Backend, TestDb};
use serde_json::{json, Value};
use std::time::Duration;

/// Lets the millisecond clock move on, so that runs created after it are later.
async fn tick() {
    let start = now_millis();
    while now_millis() <= start + 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn run(s: &dyn Store, session: &str, input: Value, parent: Option<RunId>) -> RunId {
    let mut new = NewRun::new(ComponentKind::Workflow, "wf", session, input);
    new.parent_run_id = parent;
    let id = s.create_run(new).await.unwrap().run_id;
    tick().await;
    id
}

async fn first_top_level_inputs_in_one_read(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = &*db.store;
    // "a": a top-level run, its child, then a later top-level run: the first one counts.
    let first = run(s, "a", json!({"input": "first"}), None).await;
    run(s, "a", json!({"input": "child"}), Some(first)).await;
    run(s, "a", json!({"input": "second"}), None).await;
    // "b": only a child run (its parent lives in "a"): nothing to show.
    run(s, "b", json!({"input": "orphan"}), Some(first)).await;
    // "c": an input document without `input`: nothing to show.
    run(s, "c", json!({"message": "hi"}), None).await;
    // "d" and "e": JSON inputs cross as JSON, `null` included.
    run(s, "d", json!({"input": {"x": [1, 2]}}), None).await;
    run(s, "e", json!({"input": null}), None).await;

    let ids: Vec<String> = ["a", "b", "c", "d", "e", "unknown", "a"]
        .map(String::from)
        .to_vec();
    let got = s.first_inputs(&ids).await.unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got["a"], json!("first"));
    assert_eq!(got["d"], json!({"x": [1, 2]}));
    assert_eq!(got["e"], Value::Null);
    assert!(s.first_inputs(&[]).await.unwrap().is_empty());

    // A long list (a thousand ids, past SQLite's old limit of 999 bound parameters) works alike.
    let many: Vec<String> = (0..1000).map(|i| format!("s{i}")).chain(ids).collect();
    assert_eq!(s.first_inputs(&many).await.unwrap(), got);
}

both_backends!(first_top_level_inputs_in_one_read);
