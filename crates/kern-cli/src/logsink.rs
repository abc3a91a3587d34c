//! Log lines written to stderr by a thread of their own, gathered into batches.
//!
//! A loaded server logs a line per request (`kern_server::access_log`), several per run.
//! Written straight to stderr, every line was a `write` system call on the async worker that
//! handled the request (about five per background run, with polling). Here a line is appended
//! to a shared buffer, and the `kern-log` thread writes whatever has gathered with one call:
//! under load, many lines per call and no system call on the workers at all.
//!
//! Exactly:
//! - A line is never split or interleaved with another: the formatter hands each event's text
//!   to [`Line::write`] whole (one `write_all` of its buffer), and it is appended under the
//!   lock in one piece.
//! - Lines keep the order they were appended in; nothing is dropped while the process lives.
//! - When stderr blocks (a full pipe nobody reads) the buffer grows to [`MAX_PENDING`] bytes,
//!   then appending waits for the thread, as a direct write would have waited.
//! - A worker wakes the thread only when it sleeps for want of lines: while it writes, new
//!   lines only gather.
//! - After each write the thread lingers for [`LINGER`] (unless [`LINGER_BYTES`] have gathered
//!   or the guard is dropped) before taking the next batch. The first line after a quiet spell
//!   goes out at once; under load, lines leave at most [`LINGER`] after they were appended, in
//!   at most one write and one wake-up per [`LINGER`], where a thread woken for every batch
//!   cost a loaded server about 3 % of its CPU in wake-ups and lock contention.
//! - [`Guard`] writes what is left when dropped (at the end of `main`), before the command's
//!   own error report. A process killed outright loses what the thread had not written yet:
//!   lines appended in the last moment, as in any buffered log.
//! - A failing write (stderr closed) discards the batch, as the formatter ignores write errors.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;

/// The most bytes gathered before appending waits for the thread.
pub const MAX_PENDING: usize = 1 << 20;

/// How long the thread lets lines gather after a write.
pub const LINGER: Duration = Duration::from_millis(5);

/// Gathered bytes that end a linger early.
pub const LINGER_BYTES: usize = 64 << 10;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// The thread waits on `wake` for lines.
    sleeping: bool,
    /// Appenders wait on `room` for the buffer to drain.
    full: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, bytes: &[u8]) {
        let mut st = self.lock();
        while st.buf.len() >= MAX_PENDING && !st.closed {
            st.full = true;
            self.wake.notify_one(); // ends a linger
            st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let before = st.buf.len();
        st.buf.extend_from_slice(bytes);
        // Asleep for want of lines, or lingering while a batch worth writing gathered.
        if st.sleeping || (before < LINGER_BYTES && st.buf.len() >= LINGER_BYTES) {
            st.sleeping = false;
            self.wake.notify_one();
        }
    }

    /// The thread: takes everything gathered, writes it, until closed and drained.
    fn run(&self, out: &mut impl Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut st = self.lock();
                while st.buf.is_empty() && !st.closed {
                    st.sleeping = true;
                    st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.buf.is_empty() {
                    return; // closed and drained
                }
                std::mem::swap(&mut st.buf, &mut batch);
                if std::mem::take(&mut st.full) {
                    self.room.notify_all();
                }
            }
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            self.linger();
        }
    }

    /// Lets lines gather for [`LINGER`] after a write: appenders do not wake the thread
    /// meanwhile (it is not `sleeping`); the guard's drop and a full buffer end it early.
    fn linger(&self) {
        let until = Instant::now() + LINGER;
        let mut st = self.lock();
        while !st.closed && !st.full && st.buf.len() < LINGER_BYTES {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            st = self
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Where the formatter writes (a [`MakeWriter`]); cheap to clone. Without a thread (it could
/// not be started), lines go straight to stderr.
#[derive(Clone)]
pub struct Sink(Option<Arc<Shared>>);

/// Writes what is left and stops the thread when dropped.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the thread that writes to `out` (stderr for the `kern` command).
pub fn start<W: Write + Send + 'static>(mut out: W) -> std::io::Result<(Sink, Guard)> {
    let shared = Arc::new(Shared::default());
    let theirs = shared.clone();
    let thread = std::thread::Builder::new()
        .name("kern-log".into())
        .spawn(move || theirs.run(&mut out))?;
    let guard = Guard {
        shared: shared.clone(),
        thread: Some(thread),
    };
    Ok((Sink(Some(shared)), guard))
}

/// The `kern` command's sink: to stderr from its thread, or straight to stderr (and no guard)
/// if the thread cannot start.
pub fn stderr() -> (Sink, Option<Guard>) {
    match start(std::io::stderr()) {
        Ok((sink, guard)) => (sink, Some(guard)),
        Err(_) => (Sink(None), None),
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.closed = true;
            self.shared.wake.notify_one();
            self.shared.room.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's writer: appends what it is given to the shared buffer.
pub struct Line<'a>(Option<&'a Shared>);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.0 {
            Some(shared) => shared.append(bytes),
            None => std::io::stderr().write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self.0.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A `Write` that keeps what it is given and counts its writes.
    #[derive(Clone, Default)]
    struct Kept {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
    }

    impl Write for Kept {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.bytes.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output that blocks until opened, like a full pipe.
    #[derive(Clone, Default)]
    struct Gate(Arc<(Mutex<bool>, Condvar)>, Kept);

    impl Gate {
        fn open(&self) {
            *self.0 .0.lock().unwrap() = true;
            self.0 .1.notify_all();
        }
    }

    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.1.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_and_lines_gather() {
        // Held shut until every line is appended: whatever the thread did not take in its
        // first batch gathers behind it.
        let gate = Gate::default();
        let kept = gate.1.clone();
        let (sink, guard) = start(gate.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let line = format!("thread {t} line {i:05}\n");
                        sink.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        gate.open();
        drop(guard); // writes what is left
        let text = String::from_utf8(kept.bytes.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000);
        for t in 0..4 {
            let own: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..2_000)
                .map(|i| format!("thread {t} line {i:05}"))
                .collect();
            assert_eq!(own, expected, "thread {t}'s lines, whole and in order");
        }
        // The first batch, then everything else in one write.
        let writes = kept.writes.load(Ordering::Relaxed);
        assert!(writes <= 2, "{writes} writes");
    }

    #[test]
    fn lines_appended_while_it_lingers_leave_together() {
        // Appended steadily, well under LINGER_BYTES in all: every write but the guard's
        // last is followed by a linger of LINGER, so there are at most that many writes
        // (plus the first and the last) however many lines came.
        let kept = Kept::default();
        let (sink, guard) = start(kept.clone()).unwrap();
        let began = Instant::now();
        for i in 0..2_000 {
            writeln!(sink.make_writer(), "line {i:05}").unwrap();
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let elapsed = began.elapsed();
        drop(guard);
        let writes = kept.writes.load(Ordering::Relaxed) as u128;
        let bound = elapsed.as_millis() / LINGER.as_millis() + 3;
        assert!(writes <= bound, "{writes} writes in {elapsed:?}");
        let text = String::from_utf8(kept.bytes.lock().unwrap().clone()).unwrap();
        let expected: String = (0..2_000).map(|i| format!("line {i:05}\n")).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_blocked_output_holds_appenders_at_the_bound_without_losing_lines() {
        let gate = Gate::default();
        let (sink, guard) = start(gate.clone()).unwrap();
        let line = vec![b'x'; 1024];
        let appended = Arc::new(AtomicUsize::new(0));
        let appender = {
            let (sink, appended) = (sink.clone(), appended.clone());
            std::thread::spawn(move || {
                for _ in 0..3 * MAX_PENDING / 1024 {
                    sink.make_writer().write_all(&line).unwrap();
                    appended.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // The thread holds its first batch (at least a line) in the blocked write; the
        // buffer fills to the bound behind it, and the appender waits there.
        let bound = MAX_PENDING / 1024;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while appended.load(Ordering::Relaxed) < bound {
            assert!(
                std::time::Instant::now() < deadline,
                "the buffer never filled"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let held = appended.load(Ordering::Relaxed);
        assert!(held <= 2 * bound, "{held} lines appended past the bound");
        gate.open();
        appender.join().unwrap();
        drop(guard);
        assert_eq!(gate.1.bytes.lock().unwrap().len(), 3 * MAX_PENDING);
    }
}
