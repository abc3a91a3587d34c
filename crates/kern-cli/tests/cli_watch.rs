//! `kern runs watch`, run as a separate process on the database of an in-process engine, on
//! SQLite and PostgreSQL: the human view (live and caught up), `--json`, `--content`,
//! `--after`, member runs labelled, the exit status of each outcome (completed 0, failed 3,
//! cancelled 4, paused 5), and the notice for a pending run nobody executes.

mod cli_support;

use cli_support::*;
use kern::engine::Engine;
use kern::store::{RunId, RunStatus};
use kern_testkit::{both_backends, wait_until, Backend, TestDb};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;

/// The human view of a completed `report` run, normalised.
const REPORT_VIEW: &str = "\
workflow:report · run <run>
▸ draft
  drafting
✓ draft (<dur>)
▸ polish
✓ polish (<dur>)

╭─ Workflow · Report · ✓ completed · <dur> ──╮
│ Report  │
│ ──  │
│  │
│ Kern is durable: runs survive kill -9.  │
│  │
│ • one  │
│ • two  │
╰──╯
";

/// A `kern` process whose output is read as it comes.
struct Live {
    child: tokio::process::Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Live {
    fn start(db: &str, args: &[&str]) -> Self {
        let mut cmd = tokio::process::Command::from(kern_cmd(db, args));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kern");
        let mut readers = Vec::new();
        let mut read = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let t = text.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    t.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
            text
        };
        let stdout = read(Box::new(child.stdout.take().unwrap()));
        let stderr = read(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    async fn wait_for(&self, what: &str, on_stderr: bool) {
        let text = if on_stderr {
            &self.stderr
        } else {
            &self.stdout
        };
        wait_until(TIMEOUT, what, || async {
            text.lock().unwrap().contains(what)
        })
        .await;
    }

    /// Waits for the exit: (code, stdout, stderr).
    async fn finish(mut self) -> (i32, String, String) {
        let status = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("kern runs watch ends")
            .unwrap();
        for reader in self.readers.drain(..) {
            reader.await.unwrap();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        (status.code().unwrap_or(-1), stdout, stderr)
    }
}

async fn status_of(engine: &Engine, id: RunId) -> RunStatus {
    engine.get_run(id).await.unwrap().unwrap().status
}

async fn a_completed_run_live_caught_up_json_content_and_after(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let f = flows(&engine);
    let run = f.report.run_background("topic").await.unwrap();
    let id = run.run_id();
    let known = [(id.to_string(), "<run>".to_owned())];
    let known: Vec<(&str, &str)> = known
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();

    // Live: the step's output shows while the step waits at its gate; the rest follows.
    let live = Live::start(&db.url, &["runs", "watch", &id.to_string()]);
    live.wait_for("drafting", false).await;
    f.gate.add_permits(1);
    let (code, stdout, stderr) = live.finish().await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(normalise(&stdout, &known), REPORT_VIEW);
    assert!(!stdout.contains('\x1b'), "no colour when not a terminal");

    // Caught up, after the run ended: the same view.
    let (code, stdout, _) = kern(&db.url, &["runs", "watch", &id.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(normalise(&stdout, &known), REPORT_VIEW);

    // --json: the stored events, byte for byte; --after N: those after N.
    let stored = engine.store().read_events(id, 0, 1000).await.unwrap();
    let lines: Vec<String> = stored.iter().map(|e| e.payload.to_string()).collect();
    let (code, stdout, _) = kern(&db.url, &["runs", "watch", &id.to_string(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, format!("{}\n", lines.join("\n")));
    let (code, stdout, _) = kern(
        &db.url,
        &["runs", "watch", &id.to_string(), "--json", "--after", "2"],
    );
    assert_eq!(code, 0);
    assert_eq!(stdout, format!("{}\n", lines[3..].join("\n")));

    // --after in the human view: only what came after (here: the `polish` step onwards).
    let polish = stored
        .iter()
        .position(|e| e.event_type == "StepStarted" && e.payload.contains("\"polish\""))
        .unwrap();
    let after = (polish - 1).to_string();
    let (code, stdout, _) = kern(
        &db.url,
        &["runs", "watch", &id.to_string(), "--after", &after],
    );
    assert_eq!(code, 0);
    let expected = REPORT_VIEW.replace("▸ draft\n  drafting\n✓ draft (<dur>)\n", "");
    assert_eq!(normalise(&stdout, &known), expected);

    // --content: the steps' content only.
    let (code, stdout, _) = kern(&db.url, &["runs", "watch", &id.to_string(), "--content"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!("## draft\n{REPORT}\n\n## polish\n{REPORT}\n\n\n")
    );
}

async fn a_step_retry_says_so(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let f = flows(&engine);
    let done = f.flaky.run("x").await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    let id = done.run_id.to_string();
    let (code, stdout, stderr) = kern(&db.url, &["runs", "watch", &id]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        normalise(&stdout, &[(&id, "<run>")]),
        "\
workflow:flaky · run <run>
▸ write
  try 1
↻ write: try 1 failed: flaky network
  try 2
✓ write (<dur>)

╭─ Workflow · Flaky · ✓ completed · <dur> ──╮
│ done  │
╰──╯
"
    );
    // --content: the retried step's content once.
    let (code, stdout, _) = kern(&db.url, &["runs", "watch", &id, "--content"]);
    assert_eq!((code, stdout.as_str()), (0, "## write\ndone\n\n\n"));
}

async fn exit_statuses_say_how_the_run_ended(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let f = flows(&engine);

    // Failed: 3, the error in the outcome panel.
    let failed = f.fail.run_background("x").await.unwrap();
    assert_eq!(failed.wait().await.unwrap().status, RunStatus::Failed);
    let fid = failed.run_id().to_string();
    let (code, stdout, _) = kern(&db.url, &["runs", "watch", &fid]);
    assert_eq!(code, 3, "{stdout}");
    assert_eq!(
        normalise(&stdout, &[(&fid, "<run>")]),
        "\
workflow:fail · run <run>
▸ explode
✗ explode: boom: x

╭─ Workflow · Fail · ✗ failed · <dur> ──╮
│ step 'explode' failed after 1 attempt: boom: x  │
╰──╯
"
    );
    let (code, stdout, stderr) = kern(&db.url, &["runs", "watch", &fid, "--json"]);
    assert_eq!(code, 3);
    assert!(stdout.lines().all(|l| l.starts_with('{')), "{stdout}");
    assert_eq!(
        stderr,
        format!("kern: run {fid} failed: step 'explode' failed after 1 attempt: boom: x\n")
    );

    // Cancelled: 4.
    let stuck = f.report.run_background("never").await.unwrap();
    let sid = stuck.run_id();
    wait_until(TIMEOUT, "the run to start", || async {
        status_of(&engine, sid).await == RunStatus::Running
    })
    .await;
    let live = Live::start(&db.url, &["runs", "watch", &sid.to_string()]);
    live.wait_for("drafting", false).await;
    stuck.cancel().await.unwrap();
    let (code, stdout, stderr) = live.finish().await;
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(
        normalise(&stdout, &[]).contains("╭─ Workflow · Report · ⊘ cancelled · <dur> ──╮"),
        "{stdout}"
    );

    // Paused: 5, saying what it waits for and how to continue it.
    let paused = f.approval.run_background("post").await.unwrap();
    let pid = paused.run_id();
    wait_until(TIMEOUT, "the run to pause", || async {
        status_of(&engine, pid).await == RunStatus::Paused
    })
    .await;
    let p = pid.to_string();
    let (code, stdout, _) = kern(&db.url, &["runs", "watch", &p]);
    assert_eq!(code, 5, "{stdout}");
    assert_eq!(
        normalise(&stdout, &[(&p, "<run>")]),
        "\
workflow:approval · run <run>
▸ draft
✓ draft (<dur>)

╭─ Workflow · Approval · ⏸ paused ──╮
│ It waits for a person:  │
│ • a confirmation of step \"publish\": Publish this draft?  │
│  │
│ Continue it with POST /workflows/approval/runs/<run>/continue  │
│ (Agno's continue_run), then watch it again.  │
╰──╯
"
    );
    let (code, _, stderr) = kern(&db.url, &["runs", "watch", &p, "--content"]);
    assert_eq!(code, 5);
    assert!(
        stderr.contains("is paused: it waits for a person"),
        "{stderr}"
    );
    // Resumed past the pause: nothing more to show, the same status.
    let last = (engine.get_run(pid).await.unwrap().unwrap().event_count - 1).to_string();
    let (code, _, _) = kern(&db.url, &["runs", "watch", &p, "--json", "--after", &last]);
    assert_eq!(code, 5);

    // Not found: 1.
    let unknown = kern::store::new_run_id().to_string();
    let (code, _, stderr) = kern(&db.url, &["runs", "watch", &unknown]);
    assert_eq!(
        (code, stderr),
        (1, format!("error: run {unknown} not found\n"))
    );
}

async fn a_pending_run_nobody_executes_is_said_to_wait(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // The workflow is registered on an engine that executes nothing: its run stays pending.
    let client = Engine::builder(db.store.clone()).executor(false).build();
    let f = flows(&client);
    let run = f.echo.run_background("hello").await.unwrap();
    let id = run.run_id().to_string();
    let live = Live::start(&db.url, &["runs", "watch", &id, "--waiting-notice", "1s"]);
    live.wait_for("no executor has picked it up yet", true)
        .await;
    // It keeps waiting: cancelling the pending run ends the watch.
    run.cancel().await.unwrap();
    let (code, stdout, stderr) = live.finish().await;
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(
        stderr.contains("workflow:echo is up on this database"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("no executor").count(),
        1,
        "said once: {stderr}"
    );
}

async fn member_runs_are_labelled(backend: Backend) {
    use kern::agent::{Agent, Team, TeamMode};
    use kern_models::testing::{FakeOpenAi, Scripted};
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let member_model = FakeOpenAi::start([Scripted::text("It will go well").into()]).await;
    let member = Agent::builder("optimist")
        .name("Optimist")
        .role("Sees the upside")
        .model(Arc::new(member_model.model("m")))
        .db(&engine)
        .build()
        .unwrap();
    let leader_model = FakeOpenAi::start([Scripted::new()
        .chunks(["Promising", " **but** risky"])
        .into()])
    .await;
    let team = Team::builder("panel")
        .name("Panel")
        .model(Arc::new(leader_model.model("l")))
        .member(&member)
        .mode(TeamMode::Collaborate)
        .db(&engine)
        .build()
        .unwrap();
    let done = team.run("Should we launch?").await.unwrap();
    let id = done.run_id.to_string();
    let (code, stdout, stderr) = kern(&db.url, &["runs", "watch", &id]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        normalise(&stdout, &[(&id, "<run>")]),
        "\
team:panel · run <run>
  ▸ Optimist
── Optimist ──
It will go well
  ✓ Optimist (<dur>)
── Panel ──
Promising **but** risky

╭─ Team · Panel · ✓ completed · <dur> ──╮
│ Promising but risky  │
╰──╯
"
    );
}

both_backends!(
    a_completed_run_live_caught_up_json_content_and_after,
    a_step_retry_says_so,
    exit_statuses_say_how_the_run_ended,
    a_pending_run_nobody_executes_is_said_to_wait,
    member_runs_are_labelled,
);
