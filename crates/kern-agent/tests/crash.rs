//! Recovery after SIGKILL during a tool round: a child process runs an agent whose model asks
//! for two tools at once; one completes, the other is still running when the child is killed.
//! A new process finishes the run without executing the completed tool again.
//!
//! The child is this test binary, re-run with `KERN_AGENT_CRASH_URL` set.

use kern_agent::Agent;
use kern_core::engine::Engine;
use kern_models::testing::{FakeOpenAi, Scripted};
use kern_store::RunStatus;
use kern_testkit::crash::{self, mark, marks, CrashChild};
use kern_testkit::{
    assert_gapless, both_backends, finished, names, stored, wait_until, Backend, TestDb,
};
use kern_tools::{tool_fn, NoArgs, ToolContext, ToolError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const CHILD_URL: &str = "KERN_AGENT_CRASH_URL";
const MARKS: &str = "KERN_AGENT_CRASH_MARKS";
/// Set for the child: the slow tool is at-most-once (the parent marks it with a file in the
/// marks directory, so that tests running at once do not share the setting).
const AT_MOST_ONCE: &str = "KERN_AGENT_CRASH_AT_MOST_ONCE";

/// An agent with a fast tool and a slow one (which hangs in the child).
fn agent(engine: &Engine, model: Arc<dyn kern_models::Model>, dir: PathBuf, hang: bool) -> Agent {
    let at_most_once = std::env::var(AT_MOST_ONCE).is_ok() || dir.join("at-most-once").exists();
    let (d1, d2) = (dir.clone(), dir);
    Agent::builder("crashy")
        .model(model)
        .tool(tool_fn(
            "fast",
            "fast tool",
            move |_: NoArgs, _: ToolContext| {
                let d = d1.clone();
                async move {
                    mark(&d, "fast");
                    Ok::<_, ToolError>("fast result")
                }
            },
        ))
        .tool({
            let slow = tool_fn("slow", "slow tool", move |_: NoArgs, _: ToolContext| {
                let d = d2.clone();
                async move {
                    mark(&d, "slow");
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, ToolError>("slow result")
                }
            });
            if at_most_once {
                slow.at_most_once()
            } else {
                slow
            }
        })
        .db(engine)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_crash_child() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(MARKS).unwrap());
    let fake = FakeOpenAi::start([Scripted::new()
        .tool_call("c1", "fast", "{}")
        .tool_call("c2", "slow", "{}")
        .into()])
    .await;
    let store = kern_store::connect(&url).await.unwrap();
    let engine = Engine::builder(store).lease(Duration::from_secs(1)).build();
    let a = agent(&engine, Arc::new(fake.model("m")), dir.clone(), true);
    let run = a.run_background("use both tools").await.unwrap();
    crash::report_run(run.run_id);
    // Ready once the fast tool's completion is durable and the slow one is running.
    wait_until(
        Duration::from_secs(30),
        "the child's tool round",
        || async {
            let done = stored(&engine, run.run_id)
                .await
                .iter()
                .any(|e| e.event_type == "ToolCallCompleted");
            done && marks(&dir, "slow") == 1
        },
    )
    .await;
    crash::report_ready_and_wait().await
}

async fn sigkill_during_a_tool_round(backend: Backend) {
    sigkill_during_a_tool_round_with(backend, false).await
}

/// An at-most-once tool interrupted by a crash is not called again: the run fails, saying so.
async fn sigkill_during_an_at_most_once_tool_call(backend: Backend) {
    sigkill_during_a_tool_round_with(backend, true).await
}

async fn sigkill_during_a_tool_round_with(backend: Backend, at_most_once: bool) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    if at_most_once {
        std::fs::write(dir.path().join("at-most-once"), "").unwrap();
    }
    let mut cmd = crash::child_test("agent_crash_child");
    cmd.env(CHILD_URL, &db.url).env(MARKS, dir.path());
    let mut child = CrashChild::spawn(cmd);
    let ids = child.wait_ready();
    child.kill();
    let [run_id] = ids[..] else {
        panic!("the child reports one run, not {ids:?}")
    };

    // The survivor's model answers the next turn; the conversation resumes at the tool round.
    let fake = FakeOpenAi::start([Scripted::text("both tools done").into()]).await;
    let engine = Engine::builder(db.reopen().await)
        .lease(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(50))
        .build();
    let _agent = agent(
        &engine,
        Arc::new(fake.model("m")),
        dir.path().to_owned(),
        false,
    );
    let done = finished(&engine, run_id).await;
    if at_most_once {
        assert_eq!(done.status, RunStatus::Failed);
        let error = done.error.unwrap();
        assert!(
            error.contains("at-most-once") && error.contains("slow"),
            "{error}"
        );
        assert_eq!(
            marks(dir.path(), "slow"),
            1,
            "the at-most-once call was not made again"
        );
        assert!(fake.requests().is_empty(), "the model was not asked again");
        return;
    }
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    assert_eq!(done.attempt, 2);
    assert_eq!(done.content().unwrap(), "both tools done");
    assert_eq!(
        marks(dir.path(), "fast"),
        1,
        "a completed tool call ran again"
    );
    assert_eq!(
        marks(dir.path(), "slow"),
        2,
        "the interrupted call ran once more"
    );
    // One model request after recovery, carrying both results.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let tool_results: Vec<String> = requests[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tool_results, ["fast result", "slow result"]);
    let log = stored(&engine, run_id).await;
    assert_gapless(&log, 0);
    let n = names(&log);
    assert_eq!(n.iter().filter(|e| *e == "RunStarted").count(), 1);
    assert_eq!(n.last().unwrap(), "RunCompleted");
}

both_backends!(
    sigkill_during_a_tool_round,
    sigkill_during_an_at_most_once_tool_call
);
