//! Distribution summaries (nearest-rank percentiles) of latency samples.

use serde::Serialize;

/// Summary of one set of samples, in the samples' unit (milliseconds throughout this tool).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dist {
    /// Number of samples.
    pub count: usize,
    /// Arithmetic mean (`None` without samples).
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
}

impl Dist {
    /// Summarises `samples` (non-finite values are ignored).
    pub fn of(samples: &[f64]) -> Self {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Self {
            count: v.len(),
            mean: Some(mean),
            p50: Some(percentile(&v, 50.0)),
            p95: Some(percentile(&v, 95.0)),
            p99: Some(percentile(&v, 99.0)),
            max: v.last().copied(),
        }
    }

    /// `p50 / p95 / p99 (n)` for the human summary.
    pub fn brief(&self) -> String {
        match (self.p50, self.p95, self.p99) {
            (Some(a), Some(b), Some(c)) => format!("{a:7.0} {b:7.0} {c:7.0}  (n={})", self.count),
            _ => format!("{:>7} {:>7} {:>7}  (n=0)", "-", "-", "-"),
        }
    }
}

/// Nearest-rank percentile of sorted, non-empty `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let d = Dist::of(&v);
        assert_eq!(d.p50, Some(50.0));
        assert_eq!(d.p95, Some(95.0));
        assert_eq!(d.p99, Some(99.0));
        assert_eq!(Dist::of(&[7.0]).p99, Some(7.0));
        assert_eq!(Dist::of(&[]).count, 0);
    }
}
