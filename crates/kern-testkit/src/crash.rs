//! Crash tests: the test binary re-runs itself as a child process that starts runs, reports
//! them on its standard output, says when it is ready to die, and is killed with SIGKILL;
//! the parent then recovers the runs from the same database. Side effects that must survive
//! the kill are counted in files ([`mark`], [`marks`]), since the child's memory does not.

use kern_store::RunId;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// How long the parent waits for the child to report ready: the child builds an engine and
/// drives its runs to the kill point, on a machine that may be running other suites.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A command that re-runs this test binary executing only the test `test` (which should do
/// nothing unless an environment variable the caller sets names its database), its standard
/// output piped to the parent and its standard error shown.
pub fn child_test(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// A child process of a crash test. Dropping it kills and reaps the child, so that a test that
/// fails early leaves no process running.
pub struct CrashChild {
    child: Child,
    lines: Receiver<String>,
}

impl CrashChild {
    /// Starts `cmd` (see [`child_test`]) and reads its standard output on a thread, so that a
    /// silent child cannot block the parent past its deadline.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn the crash test's child");
        let stdout = child.stdout.take().expect("the child's stdout is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits until the child reports ready ([`report_ready_and_wait`]) and returns the runs it
    /// reported before ([`report_run`]), in order.
    ///
    /// # Panics
    /// When the child exits or stays silent for a minute before it is ready.
    pub fn wait_ready(&mut self) -> Vec<RunId> {
        let mut ids = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(READY_TIMEOUT)
                .expect("the child reports READY");
            // The test harness may print "test <name> ... " on the same line.
            if let Some((_, id)) = line.split_once("RUN ") {
                ids.push(id.trim().parse().expect("a run id after RUN"));
            } else if line.ends_with("READY") {
                return ids;
            }
        }
    }

    /// Kills the child with SIGKILL (no destructor, no release, no final write) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the child");
        self.child.wait().expect("reap the child");
    }
}

impl Drop for CrashChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In the child: reports a run for the parent to check after the kill.
pub fn report_run(run_id: RunId) {
    println!("RUN {run_id}");
}

/// In the child: tells the parent that the kill may land now, then waits for it (this never
/// returns).
pub async fn report_ready_and_wait() {
    println!("READY");
    std::io::stdout().flush().expect("flush stdout");
    std::future::pending::<()>().await
}

/// Appends one line to `<dir>/<name>`, synced to disk: a side effect that counts executions
/// and survives a SIGKILL.
pub fn mark(dir: &Path, name: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("open the marks file");
    writeln!(f, "ran").expect("write a mark");
    f.sync_all().expect("sync the marks file");
}

/// How many times [`mark`] was called for `name` in `dir` (0 when never).
pub fn marks(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(name))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
