//! Measurements, their targets, and the printed report (a table, or JSON).

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// How a measured value is compared with its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    /// The value must be strictly below the target.
    Below,
    /// The value must be at least the target.
    AtLeast,
}

/// A target from design.md §5.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The comparison.
    pub cmp: Cmp,
    /// The bound, in the metric's unit.
    pub value: f64,
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met_by(&self, value: f64) -> bool {
        match self.cmp {
            Cmp::Below => value < self.value,
            Cmp::AtLeast => value >= self.value,
        }
    }
}

/// One measured number, with its target (if the design sets one) and verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Metric {
    /// The backend and its variant (`sqlite`, `sqlite (synchronous=NORMAL)`, `postgres`).
    pub backend: String,
    /// The benchmark (`start`, `throughput`, `memory`, `catchup`, `cancel`).
    pub benchmark: String,
    /// What was measured.
    pub metric: String,
    /// The value, in `unit`.
    pub value: f64,
    /// The unit (`ms`, `runs/s`, `MB`, …).
    pub unit: String,
    /// The target, when the design sets one for this metric.
    pub target: Option<Target>,
    /// Whether the target was met (`None` without a target).
    pub pass: Option<bool>,
    /// Anything the reader should know about the figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Metric {
    /// An informational metric (no target); the backend is filled in by the caller.
    pub fn info(benchmark: &str, metric: impl Into<String>, value: f64, unit: &str) -> Self {
        Self {
            backend: String::new(),
            benchmark: benchmark.to_owned(),
            metric: metric.into(),
            value,
            unit: unit.to_owned(),
            target: None,
            pass: None,
            note: None,
        }
    }

    /// Sets a target and judges the value against it.
    pub fn target(mut self, cmp: Cmp, value: f64) -> Self {
        let target = Target { cmp, value };
        self.pass = Some(target.met_by(self.value));
        self.target = Some(target);
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Where the PostgreSQL server came from and how it is configured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PgInfo {
    /// The base URL (each benchmark uses a fresh schema in it).
    pub url: String,
    /// `--pg-url`, `KERN_TEST_PG_URL` or `scripts/pg start`.
    pub source: String,
    /// `SHOW server_version`.
    pub server_version: String,
    /// `SHOW fsync`.
    pub fsync: String,
    /// `SHOW synchronous_commit`.
    pub synchronous_commit: String,
}

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// This crate's version.
    pub kern_version: String,
    /// `release` or `debug`.
    pub profile: String,
    /// Available CPUs.
    pub cpus: usize,
    /// Whether `--quick` sizes were used.
    pub quick: bool,
    /// The directory holding the SQLite files.
    pub sqlite_dir: Option<String>,
    /// The PostgreSQL server, when measured.
    pub postgres: Option<PgInfo>,
    /// The system load averages (1, 5, 15 min) before and after the benchmarks: other work on
    /// the machine skews the figures.
    pub load_average: Vec<String>,
    /// Remarks (skipped backends, errors, how PostgreSQL was obtained).
    pub notes: Vec<String>,
    /// The measurements, in the order taken.
    pub results: Vec<Metric>,
}

impl Report {
    /// How many metrics met and missed their targets.
    pub fn tally(&self) -> (usize, usize) {
        let pass = self.results.iter().filter(|m| m.pass == Some(true)).count();
        let miss = self
            .results
            .iter()
            .filter(|m| m.pass == Some(false))
            .count();
        (pass, miss)
    }

    /// The report as pretty JSON (with a `summary` object).
    pub fn to_json(&self) -> String {
        let (pass, miss) = self.tally();
        let mut v = serde_json::to_value(self).expect("report serializes");
        v["summary"] = serde_json::json!({ "pass": pass, "miss": miss });
        serde_json::to_string_pretty(&v).expect("report serializes")
    }

    /// The report as a human-readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "kern-bench {} ({} build, {} CPUs{})",
            self.kern_version,
            self.profile,
            self.cpus,
            if self.quick { ", --quick sizes" } else { "" }
        );
        if let Some(dir) = &self.sqlite_dir {
            let _ = writeln!(
                out,
                "sqlite:   a fresh file per benchmark in {dir} (synchronous=FULL unless noted)"
            );
        }
        if let Some(pg) = &self.postgres {
            let _ = writeln!(
                out,
                "postgres: {} (from {}), server {}, fsync={}, synchronous_commit={}; a fresh schema per benchmark",
                pg.url, pg.source, pg.server_version, pg.fsync, pg.synchronous_commit
            );
        }
        if !self.load_average.is_empty() {
            let _ = writeln!(
                out,
                "load average (1/5/15 min): {}",
                self.load_average.join(" before, ") + " after"
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out.push('\n');

        let header = [
            "BACKEND",
            "BENCHMARK",
            "METRIC",
            "VALUE",
            "TARGET",
            "RESULT",
        ];
        let rows: Vec<[String; 6]> = self
            .results
            .iter()
            .map(|m| {
                [
                    m.backend.clone(),
                    m.benchmark.clone(),
                    m.metric.clone(),
                    format!("{} {}", fmt_value(m.value), m.unit),
                    m.target
                        .map(|t| {
                            let op = match t.cmp {
                                Cmp::Below => "<",
                                Cmp::AtLeast => ">=",
                            };
                            format!("{op} {} {}", fmt_value(t.value), m.unit)
                        })
                        .unwrap_or_default(),
                    match m.pass {
                        Some(true) => "PASS".into(),
                        Some(false) => "MISS".into(),
                        None => String::new(),
                    },
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 6]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                // Values and targets are right-aligned; the rest left.
                if i == 3 || i == 4 {
                    let _ = write!(s, "{c:>w$}  ");
                } else {
                    let _ = write!(s, "{c:<w$}  ");
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(header));
        let mut previous: Option<(&str, &str)> = None;
        for (r, m) in rows.iter().zip(&self.results) {
            let group = (m.backend.as_str(), m.benchmark.as_str());
            if previous.is_some_and(|p| p != group) {
                out.push('\n');
            }
            previous = Some(group);
            let _ = writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
        }
        let notes: Vec<_> = self
            .results
            .iter()
            .filter_map(|m| {
                m.note
                    .as_ref()
                    .map(|n| format!("{} {} / {}: {n}", m.backend, m.benchmark, m.metric))
            })
            .collect();
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                let _ = writeln!(out, "* {n}");
            }
        }
        let (pass, miss) = self.tally();
        let _ = writeln!(out, "\n{pass} targets met, {miss} missed");
        out
    }
}

/// The system load averages, as `/proc/loadavg` gives them (empty where unavailable).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A count with thousands separators (for metric names).
pub fn count(n: impl Into<u64>) -> String {
    group_thousands(n.into() as i64)
}

/// A number with as many decimals as its size deserves.
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || v.fract() == 0.0 {
        group_thousands(v.round() as i64)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The `p`-th percentile (0 < p <= 100, nearest rank) of `sorted` (ascending, not empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of nothing");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn values_are_formatted_for_reading() {
        assert_eq!(fmt_value(12345.0), "12,345");
        assert_eq!(fmt_value(0.4567), "0.457");
        assert_eq!(fmt_value(1.23456), "1.23");
        assert_eq!(fmt_value(42.42), "42.4");
        assert_eq!(fmt_value(10000.0), "10,000");
    }

    #[test]
    fn targets_judge_values() {
        let m = Metric::info("start", "p99", 9.0, "ms").target(Cmp::Below, 10.0);
        assert_eq!(m.pass, Some(true));
        let m = Metric::info("throughput", "rate", 900.0, "runs/s").target(Cmp::AtLeast, 1000.0);
        assert_eq!(m.pass, Some(false));
    }
}
