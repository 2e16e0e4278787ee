//! What one upstream has done: plain atomics written by its worker threads, read by `/metrics`
//! (`asr_router_upstream_*`) and by tests.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::metrics::Histogram;

/// How one attempt (one HTTP request, or one refusal by the breaker) ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx with a readable transcription.
    Ok,
    /// No complete answer within the timeout.
    Timeout,
    /// An HTTP error status (4xx or 5xx).
    HttpError,
    /// No connection (refused, reset, DNS) or the connection broke.
    ConnectError,
    /// A 2xx whose body is not a transcription (HTML, JSON without `text`).
    BadAnswer,
    /// Refused by the open circuit breaker without a request.
    BreakerOpen,
}

impl Outcome {
    /// Every outcome, in the order of [`UpstreamMetrics::outcomes`].
    pub const ALL: [Outcome; 6] = [
        Self::Ok,
        Self::Timeout,
        Self::HttpError,
        Self::ConnectError,
        Self::BadAnswer,
        Self::BreakerOpen,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "timeout",
            Self::HttpError => "http_error",
            Self::ConnectError => "connect_error",
            Self::BadAnswer => "bad_answer",
            Self::BreakerOpen => "breaker_open",
        }
    }
}

/// Counters of one upstream.
#[derive(Debug)]
pub struct UpstreamMetrics {
    name: String,
    outcomes: [AtomicU64; 6],
    /// Attempts made after a failed one.
    pub retries: AtomicU64,
    /// 1 while the breaker is open or half-open, else 0.
    pub breaker_open: AtomicU64,
    /// Duration of each HTTP attempt, whatever its outcome (refusals not included).
    pub latency: Histogram,
}

impl UpstreamMetrics {
    /// Zeroed counters for the upstream called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            outcomes: Default::default(),
            retries: AtomicU64::new(0),
            breaker_open: AtomicU64::new(0),
            latency: Histogram::default(),
        }
    }

    /// The upstream's engine name (the `upstream` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts one attempt.
    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts that ended with `outcome` so far.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Ordering::Relaxed)
    }

    /// Every outcome with its count.
    pub fn outcomes(&self) -> [(Outcome, u64); 6] {
        Outcome::ALL.map(|o| (o, self.outcome(o)))
    }

    /// Retries so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Whether the breaker is open (or half-open) now.
    pub fn breaker_is_open(&self) -> bool {
        self.breaker_open.load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_separately_under_their_labels() {
        let m = UpstreamMetrics::new("qwen");
        m.count(Outcome::Timeout);
        m.count(Outcome::Timeout);
        m.count(Outcome::BreakerOpen);
        let got: Vec<(&str, u64)> = m.outcomes().iter().map(|(o, n)| (o.label(), *n)).collect();
        assert_eq!(
            got,
            [
                ("ok", 0),
                ("timeout", 2),
                ("http_error", 0),
                ("connect_error", 0),
                ("bad_answer", 0),
                ("breaker_open", 1)
            ]
        );
        assert_eq!(m.name(), "qwen");
    }
}
