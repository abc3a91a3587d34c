//! Workflow steps that wait for a person (confirmation or input): the run pauses before the
//! step, holding nothing; continued, it goes on under the same run id from its checkpoints
//! (earlier steps do not run again); a rejection skips the step or cancels the run.

use kern_core::engine::Engine;
use kern_core::store::RunStatus;
use kern_core::workflow::*;
use kern_testkit::{
    assert_gapless, both_backends, engine, finished, names, stored, Backend, TestDb,
};
use serde_json::json;
use std::sync::{Arc, Mutex};

type Calls = Arc<Mutex<Vec<String>>>;

fn step(name: &'static str, calls: &Calls) -> Step {
    let calls = calls.clone();
    Step::new(name, move |input: StepInput| {
        let calls = calls.clone();
        async move {
            let extra = input
                .additional_data
                .as_ref()
                .and_then(|d| d.get("user_input"))
                .map(|u| format!(" {u}"))
                .unwrap_or_default();
            calls.lock().unwrap().push(format!("{name}{extra}"));
            Ok(StepOutput::text(format!("{name} done")))
        }
    })
}

fn workflow(engine: &Engine, id: &str, calls: &Calls, review: Step) -> Workflow {
    Workflow::builder(id)
        .step(step("draft", calls))
        .step(review)
        .step(step("archive", calls))
        .db(engine)
        .build()
        .unwrap()
}

async fn confirmation_pauses_before_the_step(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let e = engine(&db);
    let calls: Calls = Arc::default();
    let publish =
        step("publish", &calls).requires_confirmation(Some("Publish now?".into()), OnReject::Skip);
    let wf = workflow(&e, "confirm", &calls, publish);
    let run = wf.run_background("x").await.unwrap();
    let paused = run.wait().await.unwrap();
    assert_eq!(paused.status, RunStatus::Paused);
    let req = &paused.output.as_ref().unwrap()["step_requirements"][0];
    assert_eq!(req["step_name"], "publish");
    assert_eq!(req["requires_confirmation"], true);
    assert_eq!(req["confirmation_message"], "Publish now?");
    assert_eq!(*calls.lock().unwrap(), ["draft"]);
    e.continue_run(
        run.run_id,
        json!({"step_requirements": [{"step_name": "publish", "confirmed": true}]}),
    )
    .await
    .unwrap();
    let done = finished(&e, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(*calls.lock().unwrap(), ["draft", "publish", "archive"]);
    let log = stored(&e, run.run_id).await;
    assert_gapless(&log, 0);
    let n = names(&log);
    assert_eq!(n.iter().filter(|x| *x == "StepStarted").count(), 3, "{n:?}");
    assert!(n.contains(&"RunPaused".to_owned()) && n.contains(&"RunContinued".to_owned()));

    // Rejected with on_reject = skip: the workflow goes on without it.
    calls.lock().unwrap().clear();
    let run = wf.run_background("y").await.unwrap();
    assert_eq!(run.wait().await.unwrap().status, RunStatus::Paused);
    e.continue_run(
        run.run_id,
        json!({"step_requirements": [{"step_name": "publish", "confirmed": false}]}),
    )
    .await
    .unwrap();
    let done = finished(&e, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(*calls.lock().unwrap(), ["draft", "archive"]);
    let results = &done.output.unwrap()["step_results"];
    assert!(results[1]["error"].as_str().unwrap().contains("rejected"));
}

async fn rejection_can_cancel_and_input_reaches_the_step(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let e = engine(&db);
    let calls: Calls = Arc::default();
    let strict = step("publish", &calls).requires_confirmation(None, OnReject::Cancel);
    let wf = workflow(&e, "strict", &calls, strict);
    let run = wf.run_background("x").await.unwrap();
    assert_eq!(run.wait().await.unwrap().status, RunStatus::Paused);
    e.continue_run(
        run.run_id,
        json!({"step_requirements": [{"step_name": "publish", "confirmed": false, "rejection_feedback": "not ready"}]}),
    )
    .await
    .unwrap();
    let done = finished(&e, run.run_id).await;
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(done.error.unwrap().contains("not ready"));

    calls.lock().unwrap().clear();
    let field = InputField {
        name: "audience".into(),
        field_type: "str".into(),
        description: Some("Who reads it".into()),
    };
    let asking = step("publish", &calls).requires_user_input(Some("For whom?".into()), vec![field]);
    let wf = workflow(&e, "asking", &calls, asking);
    let run = wf.run_background("x").await.unwrap();
    let paused = run.wait().await.unwrap();
    let req = &paused.output.as_ref().unwrap()["step_requirements"][0];
    assert_eq!(req["user_input_schema"][0]["name"], "audience");
    e.continue_run(
        run.run_id,
        json!({"step_requirements": [{"step_name": "publish", "user_input": {"audience": "devs"}}]}),
    )
    .await
    .unwrap();
    assert_eq!(finished(&e, run.run_id).await.status, RunStatus::Completed);
    assert_eq!(
        *calls.lock().unwrap(),
        ["draft", "publish {\"audience\":\"devs\"}", "archive"]
    );
}

both_backends!(
    confirmation_pauses_before_the_step,
    rejection_can_cancel_and_input_reaches_the_step,
);
