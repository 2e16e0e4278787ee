//! A circuit breaker for one upstream server, as a pure state machine.
//!
//! ```text
//!            failure × threshold                cooldown passed: one probe
//!   Closed ──────────────────────► Open ─────────────────────────────► HalfOpen
//!     ▲                             ▲  refuses at once                    │ │
//!     │                             └──────────── probe failed ───────────┘ │
//!     └────────────────────────────── probe succeeded ──────────────────────┘
//! ```
//!
//! Invariants:
//! * The breaker never reads a clock: every call takes `now`, so tests drive it with made-up
//!   instants (no sleeps) and the caller decides what time is.
//! * While half-open exactly one request (the probe) is let through; others are refused until it
//!   reports. A probe that never reports (its caller vanished) is given up after one cooldown, so
//!   the breaker cannot stay half-open forever.
//! * A success closes the breaker from any state and clears the failure count; a failure while
//!   open changes nothing (it was admitted before the breaker opened).
//! * A threshold of 0 disables the breaker: it always admits.

use std::time::{Duration, Instant};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Requests pass; `failures` consecutive failures so far.
    Closed {
        /// Consecutive failures since the last success.
        failures: u32,
    },
    /// Requests are refused at once until `until`.
    Open {
        /// When the cooldown ends.
        until: Instant,
    },
    /// One probe request is in flight since `probe_since`; others are refused.
    HalfOpen {
        /// When the probe was let through.
        probe_since: Instant,
    },
}

/// What the breaker says to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allow,
    /// Go ahead as the half-open probe: its outcome decides whether the breaker closes.
    Probe,
    /// Refused without trying; the breaker may let a probe through after `retry_after`.
    Refuse {
        /// Time left until a probe may be tried.
        retry_after: Duration,
    },
}

/// A consecutive-failure circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: State,
}

impl Breaker {
    /// A closed breaker that opens after `threshold` consecutive failures (0: never) and stays
    /// open for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: State::Closed { failures: 0 },
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether requests are being refused or probed (open or half-open): the `breaker_open` gauge.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }

    /// Asks to send a request at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Allow,
            State::Open { until } if now < until => Admission::Refuse {
                retry_after: until - now,
            },
            State::Open { .. } => {
                self.state = State::HalfOpen { probe_since: now };
                Admission::Probe
            }
            State::HalfOpen { probe_since } if now.saturating_duration_since(probe_since) >= self.cooldown => {
                // the probe never reported: let another one try
                self.state = State::HalfOpen { probe_since: now };
                Admission::Probe
            }
            State::HalfOpen { probe_since } => Admission::Refuse {
                retry_after: (probe_since + self.cooldown).saturating_duration_since(now),
            },
        }
    }

    /// An admitted request succeeded (the upstream answered sanely).
    pub fn record_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    /// An admitted request failed at `now` (unreachable, timed out, 5xx, garbage).
    pub fn record_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if self.threshold > 0 && failures >= self.threshold {
                    State::Open {
                        until: now + self.cooldown,
                    }
                } else {
                    State::Closed { failures }
                }
            }
            State::HalfOpen { .. } => State::Open {
                until: now + self.cooldown,
            },
            open @ State::Open { .. } => open,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        for _ in 0..2 {
            assert_eq!(b.admit(t0), Admission::Allow);
            b.record_failure(t0);
        }
        // a success in between resets the count
        b.record_success();
        assert_eq!(b.state(), State::Closed { failures: 0 });
        for i in 1..=2 {
            b.record_failure(t0);
            assert_eq!(b.state(), State::Closed { failures: i });
            assert!(!b.is_open());
        }
        b.record_failure(at(t0, 1));
        assert_eq!(b.state(), State::Open { until: at(t0, 31) });
        assert!(b.is_open());
    }

    #[test]
    fn open_refuses_until_cooldown_then_lets_exactly_one_probe() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.record_failure(t0);
        assert_eq!(
            b.admit(at(t0, 10)),
            Admission::Refuse {
                retry_after: Duration::from_secs(20)
            }
        );
        assert_eq!(b.admit(at(t0, 30)), Admission::Probe);
        assert_eq!(
            b.state(),
            State::HalfOpen {
                probe_since: at(t0, 30)
            }
        );
        // a second caller while the probe is out is refused
        assert!(matches!(b.admit(at(t0, 31)), Admission::Refuse { .. }));
        assert!(b.is_open());
    }

    #[test]
    fn probe_success_closes_and_probe_failure_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, COOL);
        b.record_failure(t0);
        b.record_failure(t0);
        assert_eq!(b.admit(at(t0, 30)), Admission::Probe);
        b.record_failure(at(t0, 32));
        assert_eq!(b.state(), State::Open { until: at(t0, 62) });
        assert!(matches!(b.admit(at(t0, 61)), Admission::Refuse { .. }));

        assert_eq!(b.admit(at(t0, 62)), Admission::Probe);
        b.record_success();
        assert_eq!(b.state(), State::Closed { failures: 0 });
        assert_eq!(b.admit(at(t0, 62)), Admission::Allow);
        // closed again: it takes the full threshold to reopen
        b.record_failure(at(t0, 63));
        assert!(!b.is_open());
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.record_failure(t0);
        assert_eq!(b.admit(at(t0, 30)), Admission::Probe);
        assert!(matches!(b.admit(at(t0, 59)), Admission::Refuse { .. }));
        assert_eq!(b.admit(at(t0, 60)), Admission::Probe);
    }

    #[test]
    fn late_failure_while_open_does_not_extend_the_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        b.record_failure(t0);
        b.record_failure(at(t0, 20));
        assert_eq!(b.state(), State::Open { until: at(t0, 30) });
    }

    #[test]
    fn zero_threshold_never_opens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(0, COOL);
        for _ in 0..100 {
            b.record_failure(t0);
        }
        assert_eq!(b.admit(t0), Admission::Allow);
        assert!(!b.is_open());
    }
}
