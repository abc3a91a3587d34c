//! Teams in their three modes, member runs as child runs, agents and teams as workflow steps.

use kern_agent::{Agent, Team, TeamMode};
use kern_core::workflow::{Step, StepOutput, Workflow};
use kern_models::testing::{FakeOpenAi, Scripted};
use kern_store::RunStatus;
use kern_testkit::{
    assert_gapless, both_backends, children, engine, finished, json, names, stored, wait_until,
    Backend, TestDb,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

async fn member(
    engine: &kern_core::engine::Engine,
    id: &str,
    role: &str,
    answer: &str,
) -> (Agent, FakeOpenAi) {
    let fake = FakeOpenAi::start([Scripted::text(answer).into()]).await;
    let agent = Agent::builder(id)
        .role(role)
        .model(Arc::new(fake.model("member-model")))
        .db(engine)
        .build()
        .unwrap();
    (agent, fake)
}

fn last_user_text(req: &Value) -> String {
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn coordinate_delegates_in_parallel_and_composes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let (hn, hn_fake) = member(
        &engine,
        "hn",
        "Hacker News research",
        "HN says: Rust is trending",
    )
    .await;
    let (fin, fin_fake) = member(&engine, "finance", "Stock prices", "NVDA is up 3%").await;
    let leader = FakeOpenAi::start([
        Scripted::new()
            .tool_call(
                "d1",
                "delegate_task_to_member",
                r#"{"member_id":"hn","task":"find AI stories"}"#,
            )
            .tool_call(
                "d2",
                "delegate_task_to_member",
                r#"{"member_id":"finance","task":"AI stock prices"}"#,
            )
            .into(),
        Scripted::text("Report: Rust trending, NVDA up").into(),
    ])
    .await;
    let team = Team::builder("research")
        .name("Research Team")
        .model(Arc::new(leader.model("leader-model")))
        .member(&hn)
        .member(&fin)
        .instruction("Research tech topics and related stocks")
        .db(&engine)
        .build()
        .unwrap();
    let run = team.run_background("AI trends").await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "Report: Rust trending, NVDA up");
    assert_eq!(last_user_text(&hn_fake.requests()[0]), "find AI stories");
    assert_eq!(last_user_text(&fin_fake.requests()[0]), "AI stock prices");
    // The leader saw both members' answers.
    let second = leader.requests()[1].to_string();
    assert!(second.contains("HN says: Rust is trending") && second.contains("NVDA is up 3%"));
    // Members ran as child runs, their events are in the team's stream.
    let children = children(&engine, run.run_id).await;
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.status == RunStatus::Completed));
    let log = stored(&engine, run.run_id).await;
    assert_gapless(&log, 0);
    let n = names(&log);
    assert_eq!(n.first().unwrap(), "TeamRunStarted");
    assert_eq!(n.last().unwrap(), "TeamRunCompleted");
    assert_eq!(n.iter().filter(|e| *e == "TeamToolCallStarted").count(), 2);
    let member_events: Vec<_> = log
        .iter()
        .map(json)
        .filter(|e| e["agent_id"] == "hn")
        .collect();
    assert!(member_events.iter().any(|e| e["event"] == "RunCompleted"));
    assert!(member_events
        .iter()
        .all(|e| e["run_id"] != run.run_id.to_string()));
    let completed = log
        .iter()
        .filter(|e| e.event_type == "TeamToolCallCompleted")
        .map(json)
        .collect::<Vec<_>>();
    assert!(completed
        .iter()
        .all(|e| e["tool"]["child_run_id"].is_string()));
}

async fn route_answers_with_the_chosen_member(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let (en, _) = member(&engine, "english", "Answers in English", "Hello!").await;
    let (fr, fr_fake) = member(&engine, "french", "Answers in French", "Bonjour !").await;
    let leader = FakeOpenAi::start([Scripted::new()
        .tool_call("r1", "forward_task_to_member", r#"{"member_id":"french"}"#)
        .into()])
    .await;
    let team = Team::builder("router")
        .model(Arc::new(leader.model("leader-model")))
        .member(&en)
        .member(&fr)
        .mode(TeamMode::Route)
        .db(&engine)
        .build()
        .unwrap();
    let done = team.run("Salut, ça va ?").await.unwrap();
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "Bonjour !");
    assert_eq!(
        leader.requests().len(),
        1,
        "the leader does not rewrite the member's answer"
    );
    assert_eq!(last_user_text(&fr_fake.requests()[0]), "Salut, ça va ?");
}

async fn collaborate_asks_everyone_then_synthesises(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let (a, a_fake) = member(&engine, "optimist", "Sees the upside", "It will go well").await;
    let (b, b_fake) = member(&engine, "pessimist", "Sees the risks", "It may fail").await;
    let leader = FakeOpenAi::start([Scripted::text("Balanced: promising but risky").into()]).await;
    let team = Team::builder("panel")
        .model(Arc::new(leader.model("leader-model")))
        .member(&a)
        .member(&b)
        .mode(TeamMode::Collaborate)
        .db(&engine)
        .build()
        .unwrap();
    let done = team.run("Should we launch?").await.unwrap();
    assert_eq!(done.content().unwrap(), "Balanced: promising but risky");
    assert_eq!(last_user_text(&a_fake.requests()[0]), "Should we launch?");
    assert_eq!(last_user_text(&b_fake.requests()[0]), "Should we launch?");
    let synthesis = last_user_text(&leader.requests()[0]);
    assert!(synthesis.contains("It will go well") && synthesis.contains("It may fail"));
    assert!(leader.requests()[0].get("tools").is_none());
}

async fn cancelling_a_team_cancels_its_members(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let slow = FakeOpenAi::start([Scripted::tokens(1000, Duration::from_millis(20)).into()]).await;
    let worker = Agent::builder("worker")
        .model(Arc::new(slow.model("member-model")))
        .db(&engine)
        .build()
        .unwrap();
    let leader = FakeOpenAi::start([Scripted::new()
        .tool_call(
            "d1",
            "delegate_task_to_member",
            r#"{"member_id":"worker","task":"write a novel"}"#,
        )
        .into()])
    .await;
    let team = Team::builder("t")
        .model(Arc::new(leader.model("leader-model")))
        .member(&worker)
        .db(&engine)
        .build()
        .unwrap();
    let run = team.run_background("go").await.unwrap();
    wait_until(Duration::from_secs(10), "the member to stream", || async {
        stored(&engine, run.run_id)
            .await
            .iter()
            .any(|e| e.event_type == "RunContent")
    })
    .await;
    engine.cancel_run(run.run_id).await.unwrap();
    assert_eq!(
        finished(&engine, run.run_id).await.status,
        RunStatus::Cancelled
    );
    let children = children(&engine, run.run_id).await;
    assert_eq!(children.len(), 1);
    assert_eq!(
        finished(&engine, children[0].run_id).await.status,
        RunStatus::Cancelled
    );
}

async fn agents_and_teams_are_workflow_steps(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let (researcher, _) = member(&engine, "researcher", "Research", "three findings").await;
    let leader = FakeOpenAi::start([
        Scripted::new()
            .tool_call(
                "d1",
                "delegate_task_to_member",
                r#"{"member_id":"researcher","task":"research it"}"#,
            )
            .into(),
        Scripted::text("research summary").into(),
    ])
    .await;
    let team = Team::builder("research-team")
        .model(Arc::new(leader.model("leader-model")))
        .member(&researcher)
        .db(&engine)
        .build()
        .unwrap();
    let planner_fake = FakeOpenAi::start([Scripted::text("4-week plan").into()]).await;
    let planner = Agent::builder("planner")
        .model(Arc::new(planner_fake.model("planner-model")))
        .db(&engine)
        .build()
        .unwrap();
    let wf = Workflow::builder("content")
        .step(team.step("Research Step"))
        .step(planner.step("Content Planning Step"))
        .step(Step::new("shout", |i| async move {
            Ok(StepOutput::text(i.previous_content_str().to_uppercase()))
        }))
        .db(&engine)
        .build()
        .unwrap();
    let run = wf.run_background("AI trends in 2024").await.unwrap();
    let done = finished(&engine, run.run_id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.content().unwrap(), "4-WEEK PLAN");
    // The planner got the research step's content as its input.
    assert_eq!(
        last_user_text(&planner_fake.requests()[0]),
        "research summary"
    );
    let results = &done.output.as_ref().unwrap()["step_results"];
    assert_eq!(results[0]["executor_type"], "team");
    assert_eq!(results[1]["executor_type"], "agent");
    let log = stored(&engine, run.run_id).await;
    assert_gapless(&log, 0);
    let n = names(&log);
    assert!(n.contains(&"TeamRunCompleted".to_string()) && n.contains(&"RunCompleted".to_string()));
    assert_eq!(n.last().unwrap(), "WorkflowCompleted");
}

both_backends!(
    coordinate_delegates_in_parallel_and_composes,
    route_answers_with_the_chosen_member,
    collaborate_asks_everyone_then_synthesises,
    cancelling_a_team_cancels_its_members,
    agents_and_teams_are_workflow_steps,
);
