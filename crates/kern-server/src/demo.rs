//! Built-in demo workflows, so `kern serve --demo` has something to serve without Rust code.
//!
//! | id | what it does |
//! |---|---|
//! | `echo` | one step that returns its input |
//! | `count` | counts to N, one `StepOutput` event per number, sleeping between them; then a summary step. Input: `"N"` or `"N DELAY_MS"` or `{"count": N, "delay_ms": D}` (defaults 10 and 200 ms) |
//! | `fail` | a step that fails (the run ends `ERROR`) |
//! | `pipeline` | two parallel research steps, then a step combining them |
//! | `bench3` | three trivial function steps in a row (the load generator's workload; the Python reference serves the same workflow in `bench/agno_reference.py`) |
//! | `approval` | drafts from its input, then pauses for a person's confirmation before publishing (continue with `step_requirements`; a rejection cancels the run) |

use kern_core::engine::Engine;
use kern_core::workflow::{OnReject, Parallel, Step, StepError, StepInput, StepOutput, Workflow};
use kern_core::EngineResult;
use serde_json::Value;
use std::time::Duration;

/// The ids of the demo workflows.
pub const WORKFLOWS: &[&str] = &["echo", "count", "fail", "pipeline", "bench3", "approval"];

/// Parses the `count` workflow's input into (count, delay).
pub fn count_args(input: &Value) -> (u64, Duration) {
    let (mut n, mut delay) = (10u64, 200u64);
    match input {
        Value::Object(m) => {
            if let Some(c) = m.get("count").and_then(Value::as_u64) {
                n = c;
            }
            if let Some(d) = m.get("delay_ms").and_then(Value::as_u64) {
                delay = d;
            }
        }
        Value::Number(c) => n = c.as_u64().unwrap_or(n),
        Value::String(s) => {
            let mut parts = s.split_whitespace();
            if let Some(c) = parts.next().and_then(|p| p.parse().ok()) {
                n = c;
            }
            if let Some(d) = parts.next().and_then(|p| p.parse().ok()) {
                delay = d;
            }
        }
        _ => {}
    }
    (n.min(100_000), Duration::from_millis(delay.min(60_000)))
}

async fn count(input: StepInput) -> Result<StepOutput, StepError> {
    let (n, delay) = count_args(&input.input);
    for i in 1..=n {
        input.emit_output(Value::from(i));
        if i < n {
            tokio::time::sleep(delay).await;
        }
    }
    Ok(StepOutput::json(Value::from(n)))
}

/// Registers the demo workflows on `engine`.
pub fn register(engine: &Engine) -> EngineResult<Vec<Workflow>> {
    let echo = Workflow::builder("echo")
        .name("Echo")
        .description("Returns its input.")
        .step(Step::new("echo", |input| async move {
            Ok(StepOutput::text(input.input_str()))
        }))
        .db(engine)
        .build()?;
    let counter = Workflow::builder("count")
        .name("Count")
        .description(
            "Counts to N with a delay, one StepOutput event per number. Input: \"N\", \"N DELAY_MS\" or {\"count\": N, \"delay_ms\": D}.",
        )
        .step(Step::new("count", count))
        .step(Step::new("summary", |input| async move {
            Ok(StepOutput::text(format!(
                "counted to {}",
                input.previous_content_str()
            )))
        }))
        .db(engine)
        .build()?;
    let fail = Workflow::builder("fail")
        .name("Fail")
        .description("A step that fails: the run ends with status ERROR.")
        .step(Step::new("explode", |input| async move {
            Err::<StepOutput, _>(StepError::msg(format!(
                "this workflow always fails (input: {})",
                input.input_str()
            )))
        }))
        .db(engine)
        .build()?;
    let pipeline = Workflow::builder("pipeline")
        .name("Research pipeline")
        .description("Two research steps in parallel, then a step that combines them.")
        .step(Parallel::new(
            "research",
            [
                Step::new("news", |input| async move {
                    Ok(StepOutput::text(format!(
                        "news about {}",
                        input.input_str()
                    )))
                }),
                Step::new("papers", |input| async move {
                    Ok(StepOutput::text(format!(
                        "papers about {}",
                        input.input_str()
                    )))
                }),
            ],
        ))
        .step(Step::new("combine", |input| async move {
            let news = input
                .get_step_content("news")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let papers = input
                .get_step_content("papers")
                .map(|v| v.to_string())
                .unwrap_or_default();
            Ok(StepOutput::text(format!("report: {news} + {papers}")))
        }))
        .db(engine)
        .build()?;
    let bench3 = Workflow::builder("bench3")
        .name("Bench 3 steps")
        .description("Three trivial function steps in a row: the load generator's workload.")
        .step(Step::new("one", |input| async move {
            Ok(StepOutput::text(format!("one: {}", input.input_str())))
        }))
        .step(Step::new("two", |input| async move {
            Ok(StepOutput::text(format!(
                "two: {}",
                input.previous_content_str()
            )))
        }))
        .step(Step::new("three", |input| async move {
            Ok(StepOutput::text(format!(
                "three: {}",
                input.previous_content_str()
            )))
        }))
        .db(engine)
        .build()?;
    let approval = Workflow::builder("approval")
        .name("Approval")
        .description("Drafts from its input, then waits for a person to confirm before publishing.")
        .step(Step::new("draft", |input| async move {
            Ok(StepOutput::text(format!("draft: {}", input.input_str())))
        }))
        .step(
            Step::new("publish", |input| async move {
                Ok(StepOutput::text(format!(
                    "published {}",
                    input.previous_content_str()
                )))
            })
            .requires_confirmation(Some("Publish this draft?".into()), OnReject::Cancel),
        )
        .db(engine)
        .build()?;
    Ok(vec![echo, counter, fail, pipeline, bench3, approval])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn count_args_parse_every_form() {
        assert_eq!(count_args(&json!("3")), (3, Duration::from_millis(200)));
        assert_eq!(count_args(&json!("4 10")), (4, Duration::from_millis(10)));
        assert_eq!(
            count_args(&json!({"count": 5, "delay_ms": 1})),
            (5, Duration::from_millis(1))
        );
        assert_eq!(count_args(&json!(7)), (7, Duration::from_millis(200)));
        assert_eq!(count_args(&json!("x")), (10, Duration::from_millis(200)));
    }
}
