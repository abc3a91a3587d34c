//! Where the CPU went during a benchmark, per thread name, from `/proc/self/task/*/stat`, and
//! in a local PostgreSQL server's processes (`/proc/*/stat` of processes named `postgres`): a
//! profiler-free way to see whether one thread (SQLite's single writer, say) or the database
//! server is the bottleneck, or whether everyone is waiting.

use std::collections::BTreeMap;
use std::time::Instant;

/// Clock ticks per second in `/proc` (`USER_HZ`: 100 on every mainstream Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time consumed so far by each live thread of this process, and by each process of a
/// PostgreSQL server on this machine.
pub struct CpuSample {
    at: Instant,
    /// Thread id → (thread name, user + system ticks).
    threads: BTreeMap<u32, (String, u64)>,
    /// Process id → user + system ticks, for processes named `postgres`.
    postgres: BTreeMap<u32, u64>,
}

/// CPU use over an interval, in percent of one core.
pub struct CpuUsage {
    /// This process, by thread name, busiest first.
    pub threads: Vec<(String, f64)>,
    /// All processes named `postgres` on this machine (a local server), summed.
    pub postgres: f64,
}

impl CpuSample {
    /// Reads every thread's counters now (empty where `/proc` is unavailable).
    pub fn now() -> Self {
        let mut threads = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for entry in dir.flatten() {
                let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
                    if let Some(t) = parse_stat(&stat) {
                        threads.insert(tid, t);
                    }
                }
            }
        }
        let mut postgres = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
                    if let Some((name, ticks)) = parse_stat(&stat) {
                        if name == "postgres" {
                            postgres.insert(pid, ticks);
                        }
                    }
                }
            }
        }
        Self {
            at: Instant::now(),
            threads,
            postgres,
        }
    }

    /// CPU use between `self` and `later`. Threads and processes that started in between
    /// count from zero; those that ended in between are missing.
    pub fn usage_until(&self, later: &CpuSample) -> CpuUsage {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let pct = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / wall * 100.0;
        let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
        for (tid, (name, ticks)) in &later.threads {
            let before = self.threads.get(tid).map_or(0, |(_, t)| *t);
            *by_name.entry(name).or_default() += ticks.saturating_sub(before);
        }
        let mut threads: Vec<_> = by_name
            .into_iter()
            .map(|(name, ticks)| (name.to_owned(), pct(ticks)))
            .filter(|(_, pct)| *pct > 0.0)
            .collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        let postgres = later
            .postgres
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(self.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        CpuUsage {
            threads,
            postgres: pct(postgres),
        }
    }
}

/// The name and user + system ticks of a `/proc/<pid>/task/<tid>/stat` line.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    // "tid (name) state ppid … utime stime …": the name may contain spaces and parentheses,
    // so split at the last ')'. utime and stime are fields 14 and 15 (1-based) of the line.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state), so field n is rest[n - 3].
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line() {
        let line = "4242 (kern-sqlite (w)) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(("kern-sqlite (w)".into(), 280)));
    }

    #[test]
    fn samples_this_process() {
        let a = CpuSample::now();
        assert!(!a.threads.is_empty());
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        let b = CpuSample::now();
        let usage = a.usage_until(&b);
        assert!(usage.threads.iter().all(|(_, pct)| *pct >= 0.0));
        assert!(usage.postgres >= 0.0);
    }
}
