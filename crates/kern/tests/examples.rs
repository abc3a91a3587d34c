//! The examples run end to end: the quick-start one on SQLite, the agent one against a local
//! fake OpenAI-compatible server (no network).

use kern_models::testing::{FakeOpenAi, Scripted};
use std::path::PathBuf;
use std::process::Command;

/// The built example binary (`cargo test` builds examples next to the test binaries).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug_dir = exe.parent().unwrap().parent().unwrap();
    let path = debug_dir.join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "example failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

#[test]
fn background_workflow_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run(Command::new(example("background_workflow"))
        .env("KERN_DATABASE_URL", dir.path().join("workflow.db")));
    assert!(stdout.contains("Initial response: pending"), "{stdout}");
    assert!(stdout.contains("Final result (completed)"), "{stdout}");
    assert!(stdout.contains("Week 4:"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_workflow_runs_against_an_openai_compatible_server() {
    // The leader delegates to both members, then writes the research; members and the
    // planner answer directly.
    let fake = FakeOpenAi::with_handler(|req, _| {
        let delegates = req.to_string().contains("delegate_task_to_member");
        let answered = req["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        match (delegates, answered) {
            (true, false) => Scripted::new()
                .tool_call(
                    "d1",
                    "delegate_task_to_member",
                    r#"{"member_id":"hackernews-agent","task":"AI stories"}"#,
                )
                .tool_call(
                    "d2",
                    "delegate_task_to_member",
                    r#"{"member_id":"finance-agent","task":"AI stocks"}"#,
                )
                .into(),
            (true, true) => {
                Scripted::text("Research: AI agents trend on HN; chip stocks up").into()
            }
            _ => Scripted::text("Week 1: three posts on AI agents").into(),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let exe = example("content_workflow");
    let spec = format!("openai-compatible:{}#fake-model", fake.base_url());
    let db = dir.path().join("content.db");
    let stdout = tokio::task::spawn_blocking(move || {
        run(Command::new(exe)
            .env("KERN_MODEL", spec)
            .env("KERN_DATABASE_URL", db)
            .env_remove("OPENAI_API_KEY"))
    })
    .await
    .unwrap();
    assert!(stdout.contains("Final result (completed)"), "{stdout}");
    assert!(
        stdout.contains("Week 1: three posts on AI agents"),
        "{stdout}"
    );
    // The planner got the team's research as its input.
    let planner_saw_research = fake
        .requests()
        .iter()
        .any(|r| r.to_string().contains("Research: AI agents trend on HN"));
    assert!(planner_saw_research);
}

#[test]
fn content_workflow_says_when_no_provider_is_configured() {
    let out = Command::new(example("content_workflow"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("KERN_MODEL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("No model provider configured"), "{stderr}");
}
