//! Counters and histograms of one engine: lock-free atomics on the hot path, read by the
//! server's `/metrics` handler, which renders them with the `prometheus` crate.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed-bucket histogram of seconds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    inner: Mutex<(Vec<u64>, f64, u64)>,
}

/// Bucket bounds, in seconds, used for every latency histogram.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];

impl Default for Histogram {
    fn default() -> Self {
        Self::new(LATENCY_BUCKETS)
    }
}

impl Histogram {
    /// A histogram with the given upper bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            inner: Mutex::new((vec![0; bounds.len()], 0.0, 0)),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        if let Ok(mut g) = self.inner.lock() {
            for (i, b) in self.bounds.iter().enumerate() {
                if v <= *b {
                    g.0[i] += 1;
                }
            }
            g.1 += v;
            g.2 += 1;
        }
    }

    /// The buckets (cumulative counts, one per bound), sum and count so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let (cumulative, sum, count) = match self.inner.lock() {
            Ok(g) => (g.0.clone(), g.1, g.2),
            Err(_) => (vec![0; self.bounds.len()], 0.0, 0),
        };
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            sum,
            count,
        }
    }
}

/// A histogram's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds of the buckets.
    pub bounds: &'static [f64],
    /// Observations at or below each bound.
    pub cumulative: Vec<u64>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// What one engine has done.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// Model runs.
    pub batches: AtomicU64,
    /// Utterances decoded.
    pub utterances: AtomicU64,
    /// Requests refused because a queue was full.
    pub refused: AtomicU64,
    /// Partials dropped unrun because a newer one superseded them.
    pub stale_dropped: AtomicU64,
    /// Jobs skipped unrun because their caller had gone (client disconnected).
    pub cancelled: AtomicU64,
    /// Jobs decoded whose caller left while they ran; the result was discarded.
    pub abandoned: AtomicU64,
    /// Audio decoded, in microseconds (partial re-decodes included).
    pub audio_us: AtomicU64,
    /// Wall time of the model runs, in microseconds.
    pub compute_us: AtomicU64,
    /// Time from enqueue to the start of the run.
    pub queue_wait: Histogram,
    /// Duration of each model run.
    pub decode_time: Histogram,
    /// Histogram of batch sizes (as counts per size, 1..=16).
    pub batch_sizes: [AtomicU64; 16],
    /// Model runs that held at least one final (or batch job).
    pub final_runs: AtomicU64,
    /// Wall time of those runs, in microseconds.
    pub final_run_us: AtomicU64,
    /// Recent wall time of those runs, microseconds: an exponential moving average giving each
    /// new run a quarter of the weight, so it follows the engine's current speed (a machine that
    /// got busier, longer utterances) where the lifetime mean would lag for hours. Updated
    /// without a lock: two runs ending together may lose one update, which only delays the
    /// average by a run.
    pub final_run_recent_us: AtomicU64,
    /// Runs holding a final in progress now.
    pub final_runs_running: AtomicU64,
}

impl EngineMetrics {
    /// Records one run of `size` utterances that took `secs` for `audio_s` seconds of audio.
    pub fn record_batch(&self, size: usize, secs: f64, audio_s: f64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.utterances.fetch_add(size as u64, Ordering::Relaxed);
        self.audio_us
            .fetch_add((audio_s * 1e6).round() as u64, Ordering::Relaxed);
        self.compute_us
            .fetch_add((secs * 1e6).round() as u64, Ordering::Relaxed);
        self.decode_time.observe(secs);
        if size >= 1 {
            self.batch_sizes[(size - 1).min(15)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records that a run holding at least one final took `secs`.
    pub fn record_final_run(&self, secs: f64) {
        self.final_runs.fetch_add(1, Ordering::Relaxed);
        self.final_run_us
            .fetch_add((secs * 1e6).round() as u64, Ordering::Relaxed);
        let us = secs * 1e6;
        let recent = match self.final_run_recent_us.load(Ordering::Relaxed) {
            0 => us,
            old => 0.75 * old as f64 + 0.25 * us,
        };
        self.final_run_recent_us
            .store(recent.round().max(1.0) as u64, Ordering::Relaxed);
    }

    /// The recent wall time of a run holding a final, seconds (0 before the first).
    pub fn recent_final_run_s(&self) -> f64 {
        self.final_run_recent_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Mean wall time of the runs that held a final, seconds (0 before the first).
    pub fn mean_final_run_s(&self) -> f64 {
        match self.final_runs.load(Ordering::Relaxed) {
            0 => 0.0,
            n => self.final_run_us.load(Ordering::Relaxed) as f64 / 1e6 / n as f64,
        }
    }

    /// Real-time factor so far: compute time over audio time.
    pub fn rtf(&self) -> f64 {
        let a = self.audio_us.load(Ordering::Relaxed);
        if a == 0 {
            0.0
        } else {
            self.compute_us.load(Ordering::Relaxed) as f64 / a as f64
        }
    }

    /// Audio decoded so far, seconds (exact to the microsecond).
    pub fn audio_seconds(&self) -> f64 {
        self.audio_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Model compute so far, seconds (exact to the microsecond).
    pub fn compute_seconds(&self) -> f64 {
        self.compute_us.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::EngineMetrics;

    #[test]
    fn compute_and_audio_are_counted_below_a_millisecond() {
        let m = EngineMetrics::default();
        // a thousand 0.4 ms runs of 20 ms of audio: whole milliseconds would count nothing
        for _ in 0..1000 {
            m.record_batch(1, 0.0004, 0.02);
        }
        assert!((m.compute_seconds() - 0.4).abs() < 1e-9, "{}", m.compute_seconds());
        assert!((m.audio_seconds() - 20.0).abs() < 1e-9, "{}", m.audio_seconds());
        assert!((m.rtf() - 0.02).abs() < 1e-9);
        assert_eq!(EngineMetrics::default().rtf(), 0.0);
    }

    #[test]
    fn the_mean_final_run_counts_only_runs_with_finals() {
        let m = EngineMetrics::default();
        assert_eq!(m.mean_final_run_s(), 0.0);
        m.record_final_run(0.5);
        m.record_final_run(1.5);
        assert!((m.mean_final_run_s() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_recent_final_run_follows_a_change_of_speed() {
        let m = EngineMetrics::default();
        assert_eq!(m.recent_final_run_s(), 0.0);
        m.record_final_run(0.4);
        assert!((m.recent_final_run_s() - 0.4).abs() < 1e-6, "the first run sets it");
        for _ in 0..100 {
            m.record_final_run(0.4);
        }
        // the engine gets three times slower: after a few runs the recent time is near the new
        // speed while the lifetime mean still says the old one
        for _ in 0..12 {
            m.record_final_run(1.2);
        }
        let recent = m.recent_final_run_s();
        assert!(recent > 1.15 && recent <= 1.2, "{recent}");
        assert!(m.mean_final_run_s() < 0.5, "{}", m.mean_final_run_s());
    }
}
