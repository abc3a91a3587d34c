//! Start a workflow in the background, poll it until it completes, print the result — the
//! reference's background-execution example, with Rust function steps.
//!
//! ```text
//! cargo run -p kern --example background_workflow                # SQLite at tmp/workflow.db
//! KERN_DATABASE_URL=postgres://… cargo run -p kern --example background_workflow
//! ```
//!
//! Kill it with Ctrl-C in the middle and run it again: the unfinished run is resumed from its
//! last completed step (after its lease expires) and finishes.

use anyhow::Result;
use kern::prelude::*;
use serde_json::json;
use std::time::Duration;

/// Stands in for a research agent: takes a moment, returns findings about the topic.
async fn research(source: &'static str, input: StepInput) -> Result<StepOutput, StepError> {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let topic = input.input_str();
    Ok(StepOutput::json(json!({
        "source": source,
        "findings": [
            format!("{source}: three widely discussed threads about {topic}"),
            format!("{source}: one contrarian take on {topic}"),
        ],
    })))
}

/// A blocking step (runs on a blocking thread): plans 4 weeks of 3 posts.
fn plan(input: StepInput) -> Result<StepOutput, StepError> {
    let research = input
        .get_step_content("Research Step")
        .ok_or_else(|| StepError::msg("no research to plan from"))?;
    let sources = research.as_object().map(|o| o.len()).unwrap_or(0);
    let topic = input.input_str();
    let mut schedule = String::new();
    for week in 1..=4 {
        schedule.push_str(&format!("Week {week}:\n"));
        for (day, kind) in ["Mon", "Wed", "Fri"]
            .iter()
            .zip(["deep dive", "thread", "recap"])
        {
            schedule.push_str(&format!("  {day}: {kind} on {topic}\n"));
        }
    }
    schedule.push_str(&format!("(based on research from {sources} sources)"));
    Ok(StepOutput::text(schedule))
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::var("KERN_DATABASE_URL").unwrap_or_else(|_| "tmp/workflow.db".into());
    let engine = Engine::open(&url).await?;

    let content_creation = Workflow::builder("content-creation")
        .name("Content Creation Workflow")
        .description("Automated content creation from research to a posting schedule")
        .step(Parallel::new(
            "Research Step",
            [
                Step::new("Hacker News", |i| research("hackernews", i)),
                Step::new("Finance", |i| research("finance", i)),
            ],
        ))
        .step(Step::blocking("Content Planning Step", plan).max_retries(2))
        .db(&engine)
        .build()?;

    println!(
        "Starting background workflow on {} ({url})",
        engine.store().backend()
    );
    let started = content_creation.run_background("AI trends in 2024").await?;
    println!(
        "Initial response: {} — run_id {}",
        started.status, started.run_id
    );

    let mut polls = 0;
    let result = loop {
        polls += 1;
        let run = content_creation
            .get_run(started.run_id)
            .await?
            .expect("the run exists: it was stored before run_background returned");
        println!("Poll #{polls}: {}", run.status);
        if run.has_completed() {
            break run;
        }
        anyhow::ensure!(polls < 600, "gave up after {polls} polls");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    println!("\nFinal result ({}):\n{}", result.status, "=".repeat(50));
    match (&result.status, result.content()) {
        (RunStatus::Completed, Some(content)) => {
            println!("{}", content.as_str().unwrap_or(&content.to_string()))
        }
        _ => println!("error: {}", result.error.as_deref().unwrap_or("none")),
    }
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
