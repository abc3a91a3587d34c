//! `kern runs list` (newest first, filters, paging, none) and `kern runs get` (the readable
//! summary, and `--json` equal to what the HTTP API answers for the run), as separate
//! processes on the database of an in-process engine, on SQLite and PostgreSQL.

mod cli_support;

use cli_support::*;
use kern::engine::Engine;
use kern::store::RunStatus;
use kern_testkit::{both_backends, Backend, TestDb};
use serde_json::Value;

const HEADER: &str = "RUN ID  COMPONENT  STATUS  AGE  DURATION  INPUT";

async fn list_is_newest_first_filtered_and_paged(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (code, stdout, _) = kern(&db.url, &["runs", "list"]);
    assert_eq!((code, stdout.as_str()), (0, "no runs\n"));

    let engine = engine(&db);
    let f = flows(&engine);
    let mut ids = Vec::new();
    for input in ["first", "second", "third"] {
        ids.push(f.echo.run(input).await.unwrap().run_id.to_string());
    }
    let failed = f.fail.run_background("oops").await.unwrap();
    failed.wait().await.unwrap();
    ids.push(failed.run_id().to_string());
    // A session and a user of their own.
    let req = kern::engine::RunRequest::new("mine")
        .session_id("s-42")
        .user_id("ada");
    ids.push(f.echo.run(req).await.unwrap().run_id.to_string());
    let known: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), format!("<run{i}>")))
        .collect();
    let known: Vec<(&str, &str)> = known
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let list = |args: &[&str]| {
        let mut all = vec!["runs", "list"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = kern(&db.url, &all);
        assert_eq!(code, 0, "{stderr}");
        normalise(&stdout, &known)
    };

    assert_eq!(
        list(&[]),
        format!(
            "{HEADER}
<run4>  workflow:echo  completed  <age>  <dur>  mine
<run3>  workflow:fail  failed  <age>  <dur>  oops
<run2>  workflow:echo  completed  <age>  <dur>  third
<run1>  workflow:echo  completed  <age>  <dur>  second
<run0>  workflow:echo  completed  <age>  <dur>  first
5 runs
"
        )
    );
    assert_eq!(
        list(&["--limit", "2"]),
        format!(
            "{HEADER}
<run4>  workflow:echo  completed  <age>  <dur>  mine
<run3>  workflow:fail  failed  <age>  <dur>  oops
runs 1–2 of 5; 3 more: --page 2
"
        )
    );
    assert_eq!(
        list(&["--limit", "2", "--page", "3"]),
        format!(
            "{HEADER}
<run0>  workflow:echo  completed  <age>  <dur>  first
runs 5–5 of 5
"
        )
    );
    assert_eq!(
        list(&["--limit", "2", "--page", "4"]),
        "no runs on page 4: 5 runs on 3 pages of 2\n"
    );
    assert_eq!(
        list(&["--status", "failed", "--status", "cancelled"]),
        format!("{HEADER}\n<run3>  workflow:fail  failed  <age>  <dur>  oops\n1 run\n")
    );
    assert_eq!(
        list(&["--component", "workflow:echo", "--limit", "1"]),
        format!(
            "{HEADER}\n<run4>  workflow:echo  completed  <age>  <dur>  mine\nruns 1–1 of 4; 3 more: --page 2\n"
        )
    );
    assert_eq!(list(&["--component", "fail"]).lines().count(), 3);
    assert_eq!(
        list(&["--session", "s-42", "--user", "ada"]),
        format!("{HEADER}\n<run4>  workflow:echo  completed  <age>  <dur>  mine\n1 run\n")
    );
    assert_eq!(
        list(&["--status", "paused", "--component", "echo"]),
        "no runs match status=paused component=echo\n"
    );
    let (code, _, stderr) = kern(&db.url, &["runs", "list", "--status", "nope"]);
    assert_eq!(code, 2, "usage error: {stderr}");
}

async fn get_is_readable_and_its_json_is_the_http_document(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let engine = engine(&db);
    let f = flows(&engine);
    f.gate.add_permits(1);
    let done = f.report.run("topic").await.unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    let id = done.run_id.to_string();
    let (code, stdout, stderr) = kern(&db.url, &["runs", "get", &id]);
    assert_eq!(code, 0, "{stderr}");
    let session = done.session_id.clone();
    assert_eq!(
        normalise(&stdout, &[(&id, "<run>"), (&session, "<session>")]),
        "\
╭─ Workflow · Report ──╮
│ Status  ✓ completed  │
│ Run  <run>  │
│ Component workflow:report  │
│ Session  <session>  │
│ Created  <time> (<age>)  │
│ Started  <time> (<age>)  │
│ Finished  <time> (<age>)  │
│ Duration  <dur>  │
│ Attempts  1  │
│ Events  7  │
│ Mode  foreground  │
╰──╯
╭─ Input ──╮
│ topic  │
╰──╯
╭─ ✓ Step 1/2 · draft (Step) · <dur> ──╮
│ Report  │
│ ──  │
│  │
│ Kern is durable: runs survive kill -9.  │
│  │
│ • one  │
│ • two  │
╰──╯
╭─ ✓ Step 2/2 · polish (Step) · <dur> ──╮
│ Report  │
│ ──  │
│  │
│ Kern is durable: runs survive kill -9.  │
│  │
│ • one  │
│ • two  │
╰──╯
╭─ Workflow · Report · ✓ completed · <dur> ──╮
│ Report  │
│ ──  │
│  │
│ Kern is durable: runs survive kill -9.  │
│  │
│ • one  │
│ • two  │
╰──╯
"
    );

    // --json: what `GET /workflows/report/runs/{run_id}` answers, from a server on the same
    // database.
    let (code, stdout, _) = kern(&db.url, &["runs", "get", &id, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 1);
    let cli: Value = serde_json::from_str(&stdout).unwrap();
    let http = http_get(&engine, &format!("/workflows/report/runs/{id}")).await;
    assert_eq!(cli, http);
    assert_eq!(cli["workflow_name"], "Report");
    assert_eq!(cli["status"], "COMPLETED");

    let unknown = kern::store::new_run_id().to_string();
    let (code, _, stderr) = kern(&db.url, &["runs", "get", &unknown, "--json"]);
    assert_eq!(
        (code, stderr),
        (1, format!("error: run {unknown} not found\n"))
    );
}

/// GET `path` from an AgentOS server over `engine`, served in this process.
async fn http_get(engine: &Engine, path: &str) -> Value {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let os = kern_server::AgentOs::builder(engine.clone()).build();
    let server = tokio::spawn(async move {
        os.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let _ = stop.send(());
    let _ = server.await;
    body
}

both_backends!(
    list_is_newest_first_filtered_and_paged,
    get_is_readable_and_its_json_is_the_http_document,
);
