//! Child runs: a component run inside another run (nested workflow here; agents and teams use
//! the same path), with its own record and log, mirrored events, and cancellation.

use kern_core::store::RunStatus;
use kern_core::workflow::*;
use kern_testkit::{
    assert_gapless, both_backends, children, collect, engine, finished, json, stored, wait_for,
    Backend, TestDb,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn inner_workflow(hang: Arc<AtomicBool>, dropped: Arc<AtomicBool>) -> Workflow {
    Workflow::builder("inner")
        .name("Inner")
        .step(Step::new("double", |i| async move {
            Ok(StepOutput::text(format!("{0}{0}", i.input_str())))
        }))
        .step(Step::new("maybe_hang", move |i| {
            let hang = hang.load(Ordering::SeqCst);
            let guard = DropFlag(dropped.clone());
            async move {
                let _guard = guard;
                if hang {
                    std::future::pending::<()>().await;
                }
                Ok(StepOutput::text(format!("[{}]", i.previous_content_str())))
            }
        }))
        .build()
        .unwrap()
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn outer(engine: &kern_core::engine::Engine, inner: &Workflow) -> Workflow {
    Workflow::builder("outer")
        .step(Step::new("prep", |i| async move {
            Ok(StepOutput::text(i.input_str().to_uppercase()))
        }))
        .step(Step::component("nested", inner.def().clone()))
        .db(engine)
        .build()
        .unwrap()
}

async fn child_runs_have_their_own_record_and_mirror_their_events(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let inner = inner_workflow(
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let wf = outer(&engine, &inner);
    let run = wf.run_background("ab").await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "[ABAB]");
    let children = children(&engine, run.run_id).await;
    assert_eq!(children.len(), 1);
    let child = &children[0];
    assert_eq!(child.status, RunStatus::Completed);
    assert_eq!(child.component_id, "inner");
    assert_eq!(child.session_id, done.session_id);
    let child_log = stored(&engine, child.run_id).await;
    assert_gapless(&child_log, 0);
    let parent_log = stored(&engine, run.run_id).await;
    assert_gapless(&parent_log, 0);
    // Every child event appears in the parent's log, in order, with the child's run id.
    let mirrored: Vec<_> = parent_log
        .iter()
        .filter(|e| json(e)["run_id"] == child.run_id.to_string())
        .map(|e| (e.event_type.clone(), json(e)["workflow_id"].clone()))
        .collect();
    let own: Vec<_> = child_log
        .iter()
        .map(|e| (e.event_type.clone(), json(e)["workflow_id"].clone()))
        .collect();
    assert_eq!(mirrored, own);
    assert_eq!(parent_log.last().unwrap().event_type, "WorkflowCompleted");
    assert_eq!(
        json(parent_log.last().unwrap())["run_id"],
        run.run_id.to_string()
    );
    // A subscription to the parent does not stop at the child's terminal event.
    assert_eq!(
        collect(engine.subscribe(run.run_id, None).await.unwrap()).await,
        parent_log
    );
}

async fn cancelling_the_parent_cancels_the_child(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let dropped = Arc::new(AtomicBool::new(false));
    let inner = inner_workflow(Arc::new(AtomicBool::new(true)), dropped.clone());
    let wf = outer(&engine, &inner);
    let run = wf.run_background("x").await.unwrap();
    let child = wait_for(
        Duration::from_secs(10),
        "the child to reach its hanging step",
        || async {
            let kids = children(&engine, run.run_id).await;
            match kids.first() {
                Some(c)
                    if stored(&engine, c.run_id)
                        .await
                        .iter()
                        .any(|e| e.payload.contains("maybe_hang")) =>
                {
                    Ok(c.clone())
                }
                _ => Err(format!("{} child runs", kids.len())),
            }
        },
    )
    .await;
    engine.cancel_run(run.run_id).await.unwrap();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Cancelled
    );
    let child_done = finished(&engine, child.run_id).await;
    assert_eq!(child_done.status, RunStatus::Cancelled);
    assert!(dropped.load(Ordering::SeqCst));
    assert_gapless(&stored(&engine, child.run_id).await, 0);
}

both_backends!(
    child_runs_have_their_own_record_and_mirror_their_events,
    cancelling_the_parent_cancels_the_child,
);
