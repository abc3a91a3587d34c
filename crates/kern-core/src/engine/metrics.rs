//! The engine's metrics: counters, gauges and histograms that the executor and the run log
//! update as they work, and that a server renders (kern-server's `GET /metrics`).
//!
//! Each [`Engine`](super::Engine) owns its registry (no global state: several engines in one
//! process keep separate figures). Updates are atomic adds on fixed cells: a histogram has a
//! fixed set of bucket bounds, chosen here, and a run's counters live in one cell per
//! component, found under a read lock once per run. Nothing here knows an output format:
//! [`EngineMetrics::snapshot`] copies the figures out as plain numbers.

use kern_store::{ComponentKind, RunStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Bucket bounds (seconds) of the start latency histogram: from a run's creation to the
/// start of its first execution (how long it waited in the queue).
pub const START_LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Bucket bounds (seconds) of the run duration histogram: one execution, from its start in
/// this process to its finishing write.
pub const RUN_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Bucket bounds (events) of the event write batch size histogram: events in one write of a
/// run's log.
pub const WRITE_BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Bucket bounds (seconds) of the event write latency histogram: one write of a run's log,
/// from its submission to the store until it is durable (group commit included).
pub const WRITE_LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A histogram with fixed bucket bounds, updated with atomic adds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One cell per bound, plus the `+Inf` cell (not cumulative: a value lands in one cell).
    cells: Box<[AtomicU64]>,
    /// The sum of observed values, in millionths of the unit.
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (increasing upper bounds).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            cells: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one value (negative values count as 0).
    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.cells[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// The histogram's figures now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.cells[i].load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.cells[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            count,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// A histogram's figures at one moment, Prometheus-style.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count of values <= bound)`, bounds increasing (no `+Inf`:
    /// that is `count`).
    pub buckets: Vec<(f64, u64)>,
    /// How many values were observed.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

/// The statuses a run's execution can end with, in [`RunCounters::finished`]'s order.
pub const FINISH_STATUSES: [RunStatus; 4] = [
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::Paused,
];

fn finish_slot(status: RunStatus) -> Option<usize> {
    FINISH_STATUSES.iter().position(|s| *s == status)
}

/// One component's run counters.
#[derive(Debug, Default)]
pub struct RunCounters {
    started: AtomicU64,
    finished: [AtomicU64; 4],
}

/// The engine's registry. Reached through [`Engine::metrics`](super::Engine::metrics).
#[derive(Debug)]
pub struct EngineMetrics {
    per_component: RwLock<HashMap<(ComponentKind, String), Arc<RunCounters>>>,
    in_flight: AtomicI64,
    recovered: AtomicU64,
    handed_back: AtomicU64,
    lost: AtomicU64,
    start_latency: Histogram,
    /// Per finish status, in [`FINISH_STATUSES`] order.
    duration: [Histogram; 4],
    write_batch: Histogram,
    write_latency: Histogram,
    write_errors: AtomicU64,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self {
            per_component: RwLock::new(HashMap::new()),
            in_flight: AtomicI64::new(0),
            recovered: AtomicU64::new(0),
            handed_back: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            start_latency: Histogram::new(START_LATENCY_BUCKETS),
            duration: std::array::from_fn(|_| Histogram::new(RUN_DURATION_BUCKETS)),
            write_batch: Histogram::new(WRITE_BATCH_BUCKETS),
            write_latency: Histogram::new(WRITE_LATENCY_BUCKETS),
            write_errors: AtomicU64::new(0),
        }
    }
}

impl EngineMetrics {
    /// The counters of one component (made on first use).
    pub(crate) fn component(&self, kind: ComponentKind, id: &str) -> Arc<RunCounters> {
        let key = (kind, id.to_owned());
        if let Some(c) = self
            .per_component
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return c.clone();
        }
        self.per_component
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    /// An execution of a run starts here: counted as started and in flight until the
    /// returned guard is dropped. `start_latency` is given for a run's first execution only.
    pub(crate) fn run_started(
        self: &Arc<Self>,
        counters: &RunCounters,
        start_latency: Option<Duration>,
        recovered: bool,
    ) -> InFlight {
        counters.started.fetch_add(1, Ordering::Relaxed);
        if let Some(l) = start_latency {
            self.start_latency.observe_duration(l);
        }
        if recovered {
            self.recovered.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// An execution ended with a durable status (`completed`, `failed`, `cancelled` or
    /// `paused`) after `duration`.
    pub(crate) fn run_finished(&self, counters: &RunCounters, status: RunStatus, d: Duration) {
        if let Some(i) = finish_slot(status) {
            counters.finished[i].fetch_add(1, Ordering::Relaxed);
            self.duration[i].observe_duration(d);
        }
    }

    /// A run was handed back to the queue (graceful stop).
    pub(crate) fn run_handed_back(&self) {
        self.handed_back.fetch_add(1, Ordering::Relaxed);
    }

    /// A run stopped here without finishing because another executor owns it now, or its
    /// writes failed for good.
    pub(crate) fn run_lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// One durable write of a run's log: how many events it carried and how long it took.
    pub(crate) fn event_write(&self, events: usize, latency: Duration) {
        self.write_batch.observe(events as f64);
        self.write_latency.observe_duration(latency);
    }

    /// A write of a run's log failed (fenced, or the store gave up).
    pub(crate) fn event_write_failed(&self) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Every figure now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut components: Vec<ComponentRuns> = self
            .per_component
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((kind, id), c)| ComponentRuns {
                kind: *kind,
                component_id: id.clone(),
                started: c.started.load(Ordering::Relaxed),
                finished: FINISH_STATUSES
                    .iter()
                    .zip(&c.finished)
                    .map(|(s, n)| (*s, n.load(Ordering::Relaxed)))
                    .collect(),
            })
            .collect();
        components.sort_by(|a, b| {
            (a.kind.as_str(), &a.component_id).cmp(&(b.kind.as_str(), &b.component_id))
        });
        MetricsSnapshot {
            components,
            in_flight: self.in_flight.load(Ordering::Relaxed).max(0) as u64,
            recovered: self.recovered.load(Ordering::Relaxed),
            handed_back: self.handed_back.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            start_latency: self.start_latency.snapshot(),
            duration: FINISH_STATUSES
                .iter()
                .zip(&self.duration)
                .map(|(s, h)| (*s, h.snapshot()))
                .collect(),
            write_batch: self.write_batch.snapshot(),
            write_latency: self.write_latency.snapshot(),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }
}

/// Counts a run as in flight until dropped.
pub(crate) struct InFlight(Arc<EngineMetrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One component's run counts.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentRuns {
    /// The component's kind.
    pub kind: ComponentKind,
    /// Its id.
    pub component_id: String,
    /// Executions started in this process (a run resumed after a crash or a hand-back
    /// counts again).
    pub started: u64,
    /// Executions that ended with each status (`completed`, `failed`, `cancelled`, `paused`).
    pub finished: Vec<(RunStatus, u64)>,
}

/// The engine's figures at one moment (see [`EngineMetrics::snapshot`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// Run counts per component that ran here (top-level and child runs).
    pub components: Vec<ComponentRuns>,
    /// Runs executing in this process now.
    pub in_flight: u64,
    /// Executions that resumed a run whose previous owner died (claimed after its lease
    /// expired).
    pub recovered: u64,
    /// Runs handed back to the queue by a graceful stop.
    pub handed_back: u64,
    /// Runs stopped here without a finish: another executor took them over, or their log
    /// could not be written.
    pub lost: u64,
    /// Seconds from a run's creation to its first execution's start.
    pub start_latency: HistogramSnapshot,
    /// Seconds of one execution, by how it ended.
    pub duration: Vec<(RunStatus, HistogramSnapshot)>,
    /// Events per durable write of a run's log.
    pub write_batch: HistogramSnapshot,
    /// Seconds per durable write of a run's log (retries included).
    pub write_latency: HistogramSnapshot,
    /// Writes of a run's log that failed for good (fenced, or the store gave up).
    pub write_errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0, 5.0]);
        for v in [0.5, 1.0, 1.5, 4.0, 9.0, -1.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 3), (2.0, 4), (5.0, 5)]);
        assert_eq!(s.count, 6);
        assert!((s.sum - 16.0).abs() < 1e-9);
    }

    #[test]
    fn runs_are_counted_per_component_and_in_flight_returns_to_zero() {
        let m = Arc::new(EngineMetrics::default());
        let c = m.component(ComponentKind::Workflow, "echo");
        let guard = m.run_started(&c, Some(Duration::from_millis(3)), false);
        assert_eq!(m.snapshot().in_flight, 1);
        m.run_finished(&c, RunStatus::Failed, Duration::from_millis(20));
        drop(guard);
        let s = m.snapshot();
        assert_eq!(s.in_flight, 0);
        assert_eq!(s.components[0].started, 1);
        assert!(s.components[0].finished.contains(&(RunStatus::Failed, 1)));
        assert_eq!(s.start_latency.count, 1);
        let failed = &s
            .duration
            .iter()
            .find(|(st, _)| *st == RunStatus::Failed)
            .unwrap()
            .1;
        assert_eq!(failed.count, 1);
    }
}
