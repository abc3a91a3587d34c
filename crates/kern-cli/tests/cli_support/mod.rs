//! Support for the tests of `kern`'s client commands (`runs list`, `get`, `watch`, `db`):
//! an in-process engine executing test workflows on a fresh database (either backend), the
//! `kern` binary run against the same database as another process would, and the
//! normalisation of its output (ids, durations, ages and times vary) for snapshots.
#![allow(dead_code)]

use kern::engine::Engine;
use kern::workflow::{OnReject, Step, StepError, StepOutput, Workflow};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a test waits for anything.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The report's markdown answer.
pub const REPORT: &str = "# Report\n\nKern is **durable**: runs survive `kill -9`.\n\n- one\n- two";

/// The `kern` binary with `args` on `db`, standard streams captured, in a stable setting:
/// 100 columns, no colour, no inherited database URL, no backtraces unless asked.
pub fn kern_cmd(db: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kern"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("KERN_DATABASE_URL")
        .env_remove("RUST_BACKTRACE")
        .env_remove("KERN_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `kern` to its end: (exit code, stdout, stderr).
pub fn kern(db: &str, args: &[&str]) -> (i32, String, String) {
    let out: Output = kern_cmd(db, args).output().expect("run kern");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// An executing engine on the test database, with short leases and fast polling.
pub use kern_testkit::engine;

/// The test workflows, registered on `engine`.
pub struct Flows {
    /// `report`: `draft` (emits "drafting", waits for the gate, answers [`REPORT`]), then
    /// `polish` (passes it on).
    pub report: Workflow,
    /// Opens `report`'s gate, one permit per run.
    pub gate: Arc<Semaphore>,
    /// `fail`: `explode` fails with "boom: <input>".
    pub fail: Workflow,
    /// `approval`: `draft`, then `publish`, which waits for a person's confirmation.
    pub approval: Workflow,
    /// `echo`: answers its input.
    pub echo: Workflow,
    /// `flaky`: `write` emits an output and fails on its first try, then answers "done"
    /// (one retry).
    pub flaky: Workflow,
}

pub fn flows(engine: &Engine) -> Flows {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let report = Workflow::builder("report")
        .name("Report")
        .step(Step::new("draft", move |input| {
            let g = g.clone();
            async move {
                input.emit_output("drafting");
                g.acquire().await.unwrap().forget();
                Ok(StepOutput::text(REPORT))
            }
        }))
        .step(Step::new("polish", |input| async move {
            Ok(StepOutput::text(input.previous_content_str()))
        }))
        .db(engine)
        .build()
        .unwrap();
    let fail = Workflow::builder("fail")
        .name("Fail")
        .step(Step::new("explode", |input| async move {
            Err::<StepOutput, _>(StepError::msg(format!("boom: {}", input.input_str())))
        }))
        .db(engine)
        .build()
        .unwrap();
    let approval = Workflow::builder("approval")
        .name("Approval")
        .step(Step::new("draft", |input| async move {
            Ok(StepOutput::text(format!("draft: {}", input.input_str())))
        }))
        .step(
            Step::new("publish", |input| async move {
                Ok(StepOutput::text(input.previous_content_str()))
            })
            .requires_confirmation(Some("Publish this draft?".into()), OnReject::Cancel),
        )
        .db(engine)
        .build()
        .unwrap();
    let echo = Workflow::builder("echo")
        .name("Echo")
        .step(Step::new("echo", |input| async move {
            Ok(StepOutput::text(input.input_str()))
        }))
        .db(engine)
        .build()
        .unwrap();
    let tries = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let flaky = Workflow::builder("flaky")
        .name("Flaky")
        .step(
            Step::new("write", move |input| {
                let tries = tries.clone();
                async move {
                    let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    input.emit_output(format!("try {}", n + 1));
                    if n == 0 {
                        return Err(StepError::msg("flaky network"));
                    }
                    Ok(StepOutput::text("done"))
                }
            })
            .max_retries(1),
        )
        .db(engine)
        .build()
        .unwrap();
    Flows {
        report,
        gate,
        fail,
        approval,
        echo,
        flaky,
    }
}

/// `s` with what varies from run to run replaced: the `(text, name)` pairs first (known ids),
/// then any other UUID (`<id>`), UTC times (`<time>`), ages (`<age>`) and durations
/// (`<dur>`); runs of spaces and of `─` (their lengths follow the replaced widths) are
/// collapsed, and trailing spaces removed.
pub fn normalise(s: &str, known: &[(&str, &str)]) -> String {
    let mut s = s.to_owned();
    for (text, name) in known {
        s = s.replace(text, name);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let prev_alnum = i > 0 && chars[i - 1].is_ascii_alphanumeric();
        let matched = [
            (uuid_at(&chars, i), "<id>"),
            (time_at(&chars, i), "<time>"),
            (age_at(&chars, i), "<age>"),
            (duration_at(&chars, i), "<dur>"),
        ]
        .into_iter()
        .find_map(|(len, name)| len.filter(|_| !prev_alnum).map(|len| (len, name)));
        match matched {
            Some((len, name)) => {
                out.push_str(name);
                i += len;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    let mut collapsed = String::new();
    for line in out.lines() {
        let mut prev = ' ';
        let mut run = 0;
        for c in line.chars() {
            run = if c == prev { run + 1 } else { 1 };
            prev = c;
            if (c == ' ' || c == '─') && run > 2 {
                continue;
            }
            collapsed.push(c);
        }
        let trimmed = collapsed.trim_end_matches(' ').len();
        collapsed.truncate(trimmed);
        collapsed.push('\n');
    }
    collapsed
}

fn digits(chars: &[char], i: usize) -> usize {
    chars[i.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

fn uuid_at(chars: &[char], i: usize) -> Option<usize> {
    let groups = [8, 4, 4, 4, 12];
    let mut j = i;
    for (n, len) in groups.iter().enumerate() {
        for _ in 0..*len {
            chars.get(j).filter(|c| c.is_ascii_hexdigit())?;
            j += 1;
        }
        if n < 4 {
            chars.get(j).filter(|c| **c == '-')?;
            j += 1;
        }
    }
    Some(j - i)
}

fn time_at(chars: &[char], i: usize) -> Option<usize> {
    let pattern = "dddd-dd-dd dd:dd:dd UTC";
    let ok = pattern
        .chars()
        .enumerate()
        .all(|(k, p)| match chars.get(i + k) {
            Some(c) if p == 'd' => c.is_ascii_digit(),
            Some(c) => *c == p,
            None => false,
        });
    ok.then_some(pattern.len())
}

fn age_at(chars: &[char], i: usize) -> Option<usize> {
    let n = digits(chars, i);
    if n == 0 || !matches!(chars.get(i + n), Some('s' | 'm' | 'h' | 'd')) {
        return None;
    }
    let rest: String = chars.iter().skip(i + n + 1).take(4).collect();
    (rest == " ago").then_some(n + 5)
}

fn duration_at(chars: &[char], i: usize) -> Option<usize> {
    let n = digits(chars, i);
    if n == 0 || chars.get(i + n) != Some(&'.') {
        return None;
    }
    let m = digits(chars, i + n + 1);
    (m == 2 && chars.get(i + n + 1 + m) == Some(&'s')).then_some(n + 1 + m + 1)
}

#[test]
fn normalise_replaces_what_varies() {
    let s = "run 0190e5b8-51a4-7cc0-8f6a-6b7a1c1e2d3f took 12.34s, 3m ago at 2025-06-10 12:00:00 UTC   x──────y  \n";
    assert_eq!(
        normalise(s, &[]),
        "run <id> took <dur>, <age> at <time>  x──y\n"
    );
}
