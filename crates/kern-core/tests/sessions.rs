//! The engine's sessions API (`engine/sessions.rs`), the server's only way to sessions: the
//! edge cases its documentation promises, on both databases.

use kern_core::engine::{Engine, RunRequest};
use kern_core::store::{ComponentKind, SessionFilter, StoreError};
use kern_core::workflow::{Step, StepOutput, Workflow};
use kern_core::EngineError;
use kern_testkit::{both_backends, Backend, TestDb};
use serde_json::json;

/// A workflow answering its input.
fn echo(engine: &Engine) {
    Workflow::builder("echo")
        .step(Step::new("echo", |input| async move {
            Ok(StepOutput::text(input.input_str()))
        }))
        .db(engine)
        .build()
        .unwrap();
}

async fn sessions_through_the_engine(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // A client engine (no executor): started runs stay pending, so a delete can be refused.
    let engine = Engine::builder(db.store.clone()).executor(false).build();
    echo(&engine);
    let wf = ComponentKind::Workflow;

    assert_eq!(engine.get_session("none").await.unwrap(), None);
    assert!(engine.first_inputs(&[]).await.unwrap().is_empty());
    let empty = engine
        .list_sessions(&SessionFilter::default())
        .await
        .unwrap();
    assert_eq!((empty.sessions.len(), empty.total), (0, 0));

    // Two foreground runs in "a" (finished), one background run in "b" (left pending).
    for m in ["first", "second"] {
        engine
            .run(wf, "echo", RunRequest::new(m).session_id("a"))
            .await
            .unwrap();
    }
    engine
        .start(wf, "echo", RunRequest::new(json!({"q": 1})).session_id("b"))
        .await
        .unwrap();

    let a = engine.get_session("a").await.unwrap().unwrap();
    assert_eq!((a.kind, a.component_id.as_str()), (wf, "echo"));
    assert_eq!(
        engine.get_session("A").await.unwrap(),
        None,
        "ids are exact"
    );
    let page = engine
        .list_sessions(&SessionFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.sessions.len(), page.total), (1, 2));
    let past = engine
        .list_sessions(&SessionFilter {
            offset: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((past.sessions.len(), past.total), (0, 2));

    let ids = ["a", "b", "nope"].map(String::from);
    let firsts = engine.first_inputs(&ids).await.unwrap();
    assert_eq!(firsts.len(), 2);
    assert_eq!(firsts["a"], json!("first"));
    assert_eq!(firsts["b"], json!({"q": 1}));

    let renamed = engine.rename_session("a", "").await.unwrap();
    assert_eq!(renamed.session_name.as_deref(), Some(""), "kept as given");
    assert!(renamed.updated_at >= a.updated_at);
    let unknown = engine.rename_session("nope", "x").await.unwrap_err();
    assert!(matches!(
        unknown,
        EngineError::Store(StoreError::SessionNotFound(_))
    ));

    let busy = engine.delete_session("b").await.unwrap_err();
    assert!(matches!(
        busy,
        EngineError::Store(StoreError::SessionBusy(_))
    ));
    assert!(
        engine.get_session("b").await.unwrap().is_some(),
        "nothing deleted"
    );
    assert_eq!(engine.delete_session("a").await.unwrap(), 2);
    assert_eq!(engine.get_session("a").await.unwrap(), None);
    let gone = engine.delete_session("a").await.unwrap_err();
    assert!(matches!(
        gone,
        EngineError::Store(StoreError::SessionNotFound(_))
    ));
}

both_backends!(sessions_through_the_engine);
