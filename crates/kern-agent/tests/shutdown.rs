//! A stop is not a failure (design invariant 9), in-process: `Engine::shutdown` called at
//! random moments, with random graces, while background workflows of a team step then an
//! agent step are in flight. Each stop hands the unfinished runs back; a new engine on the
//! same database finishes them. Every run completes, its log stays gapless, and the work each
//! stop interrupted is voided in the log (a client joining the streamed answers gets the final
//! ones, never doubled ones).

use kern_agent::{Agent, Team, TeamMode};
use kern_core::engine::Engine;
use kern_core::workflow::Workflow;
use kern_models::testing::{FakeOpenAi, Scripted};
use kern_store::{RunId, RunStatus};
use kern_testkit::{
    assert_gapless, both_backends, engine_on, finished, json, stored, Backend, TestDb,
};
use std::sync::Arc;
use std::time::Duration;

const RUNS: usize = 20;
const STOPS: usize = 6;

/// The components, registered on `engine`: a collaborating team of two, then a writer.
fn content_workflow(engine: &Engine, model: Arc<dyn kern_models::Model>) -> Workflow {
    let agent = |id: &str| {
        Agent::builder(id)
            .model(model.clone())
            .db(engine)
            .build()
            .unwrap()
    };
    let (researcher, critic, writer) = (agent("researcher"), agent("critic"), agent("writer"));
    let team = Team::builder("research")
        .model(model.clone())
        .member(&researcher)
        .member(&critic)
        .mode(TeamMode::Collaborate)
        .db(engine)
        .build()
        .unwrap();
    Workflow::builder("content")
        .step(team.step("Research"))
        .step(writer.step("Write"))
        .db(engine)
        .build()
        .unwrap()
}

async fn shutdown_at_random_moments(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let fake = FakeOpenAi::start([Scripted::tokens(8, Duration::from_millis(25)).into()]).await;
    let model: Arc<dyn kern_models::Model> = Arc::new(fake.model("fake"));
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    eprintln!("seed {seed}");

    let mut engine = engine_on(db.store.clone());
    let mut workflow = content_workflow(&engine, model.clone());
    let mut runs: Vec<RunId> = Vec::new();
    for i in 0..RUNS {
        runs.push(
            workflow
                .run_background(format!("topic {i}"))
                .await
                .unwrap()
                .run_id,
        );
    }
    for _ in 0..STOPS {
        tokio::time::sleep(Duration::from_millis(rng.u64(50..600))).await;
        engine
            .shutdown(Duration::from_millis(rng.u64(0..400)))
            .await;
        assert_eq!(engine.local_run_count(), 0, "seed {seed}");
        for id in &runs {
            let run = engine.get_run(*id).await.unwrap().unwrap();
            assert!(
                matches!(run.status, RunStatus::Pending | RunStatus::Completed),
                "seed {seed}: after a stop, run {id} is {:?}: {:?}",
                run.status,
                run.error
            );
        }
        engine = engine_on(db.reopen().await);
        workflow = content_workflow(&engine, model.clone());
    }
    drop(workflow);
    let (mut restarts, mut voided) = (0, 0);
    for id in &runs {
        let done = finished(&engine, *id).await;
        assert_eq!(
            done.status,
            RunStatus::Completed,
            "seed {seed}: run {id}: {:?}",
            done.error
        );
        let events = stored(&engine, *id).await;
        assert_gapless(&events, 0);
        // A restart is visible in the log, and a client joining the streamed answers gets
        // the final ones: the writer's deltas equal the workflow's content.
        let log: Vec<_> = events.iter().map(json).collect();
        restarts += kern_testkit::assert_joined_content(&log);
        voided += log
            .iter()
            .filter(|e| e["event"] == "RunRestarted")
            .map(|e| e["voided"].as_array().unwrap().len())
            .sum::<usize>();
        let kept = kern_testkit::kept_events(&log);
        let writer_answer: String = kept
            .iter()
            .filter(|e| e["event"] == "RunContent" && e["agent_id"] == "writer")
            .filter_map(|e| e["content"].as_str())
            .collect();
        assert_eq!(
            Some(writer_answer.as_str()),
            done.content().and_then(|c| c.as_str()),
            "seed {seed}: run {id}"
        );
    }
    assert!(
        restarts > 0 && voided > 0,
        "seed {seed}: no stop interrupted work in flight ({restarts} restarts)"
    );
}

both_backends!(shutdown_at_random_moments);
