//! The reference's content workflow: a research team (a Hacker News agent and a finance agent)
//! then a content-planner agent, started in the background and polled to the end.
//!
//! ```text
//! OPENAI_API_KEY=sk-… cargo run -p kern --example content_workflow
//! KERN_MODEL=ollama:llama3.1 cargo run -p kern --example content_workflow        # local Ollama
//! KERN_MODEL=openai-compatible:http://localhost:8000/v1#qwen2.5 cargo run -p kern --example content_workflow
//! ```
//!
//! `KERN_MODEL` takes any spec of `kern::models::model_from_spec`; without it, OpenAI is used
//! when `OPENAI_API_KEY` is set. Runs are stored in `tmp/content.db` (or `KERN_DATABASE_URL`).

use anyhow::Result;
use kern::agent::{Agent, Team};
use kern::models::model_from_spec;
use kern::prelude::*;
use kern::tools::{HackerNewsTools, YFinanceTools};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<()> {
    let spec = match std::env::var("KERN_MODEL") {
        Ok(spec) => spec,
        Err(_) if std::env::var("OPENAI_API_KEY").is_ok() => "openai:gpt-4o-mini".to_owned(),
        Err(_) => {
            eprintln!("No model provider configured: set OPENAI_API_KEY, or KERN_MODEL (e.g. ollama:llama3.1 or openai-compatible:http://host/v1#model).");
            std::process::exit(2);
        }
    };
    let model = model_from_spec(&spec)?;
    let url = std::env::var("KERN_DATABASE_URL").unwrap_or_else(|_| "tmp/content.db".into());
    let engine = Engine::open(&url).await?;

    let hackernews_agent = Agent::builder("hackernews-agent")
        .name("Hackernews Agent")
        .model(model.clone())
        .toolkit(&HackerNewsTools::new())
        .role("Extract key insights and content from Hackernews posts")
        .db(&engine)
        .build()?;
    let finance_agent = Agent::builder("finance-agent")
        .name("Finance Agent")
        .model(model.clone())
        .toolkit(&YFinanceTools::new())
        .role("Get stock prices and financial data")
        .db(&engine)
        .build()?;
    let research_team = Team::builder("research-team")
        .name("Research Team")
        .model(model.clone())
        .member(&hackernews_agent)
        .member(&finance_agent)
        .instruction("Research tech topics and related stocks")
        .db(&engine)
        .build()?;
    let content_planner = Agent::builder("content-planner")
        .name("Content Planner")
        .model(Arc::clone(&model))
        .instructions([
            "Plan a content schedule over 4 weeks for the provided topic and research content",
            "Ensure that I have posts for 3 posts per week",
        ])
        .db(&engine)
        .build()?;

    let content_creation_workflow = Workflow::builder("content-creation")
        .name("Content Creation Workflow")
        .description("Automated content creation from blog posts to social media")
        .step(research_team.step("Research Step"))
        .step(content_planner.step("Content Planning Step"))
        .db(&engine)
        .build()?;

    println!("Starting background workflow with {spec}");
    let bg = content_creation_workflow
        .run_background("AI trends in 2024")
        .await?;
    println!("Initial response: {} — run_id {}", bg.status, bg.run_id);

    let mut poll = 0;
    let result = loop {
        poll += 1;
        let run = content_creation_workflow
            .get_run(bg.run_id)
            .await?
            .expect("stored before run_background returned");
        println!("Poll #{poll}: {}", run.status);
        if run.has_completed() {
            break run;
        }
        anyhow::ensure!(poll <= 600, "timeout after {poll} polls");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    println!("\nFinal result ({}):\n{}", result.status, "=".repeat(50));
    match result.content() {
        Some(content) if result.status == RunStatus::Completed => {
            println!("{}", content.as_str().unwrap_or(&content.to_string()))
        }
        _ => println!("error: {}", result.error.as_deref().unwrap_or("none")),
    }
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
