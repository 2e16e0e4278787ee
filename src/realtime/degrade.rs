//! The degradation policy: how realtime work gives way under load, as one pure decision over a
//! few numbers (engine load, a session's caption lag, the configured cadence), so that it can be
//! read, configured (`[realtime] degrade_max_stretch`, `degrade_skip_lag_ms`,
//! `final_deadline_ms`) and tested without sockets or engines.
//!
//! ```text
//!   engine queues ─► EngineLoad { finals queued, partials queued, est. final wait }
//!                        │
//!   session lag ─────────┼─► DegradePolicy::partial ─► cadence now (base × stretch) | skip | off
//!   base cadence ────────┘
//!   every engine's load ───► DegradePolicy::admit   ─► admit | refuse (close 1013)
//! ```
//!
//! # Invariants
//!
//! * **Partials give way first.** The stretch of the partial cadence grows with the fast engine's
//!   queues (a queued final weighs four times a queued partial) up to `max_stretch`; with idle
//!   queues it is 1 and the session's own cadence holds.
//! * **Far-behind sessions skip partials under load.** A session whose captions trail its live
//!   audio by `skip_lag_s` or more skips its partials while the engine is loaded (stretch > 1):
//!   its item's final will soon say more than a late partial would. Without load nobody skips.
//! * **Finals keep priority.** When a final submitted now would wait past `final_deadline_s`,
//!   every partial on that engine is skipped, and new sessions are refused (close 1013); finals
//!   of accepted sessions are never dropped or refused (the scheduler makes them wait for room).
//! * **Admission refuses only for the finals' deadline** (besides `max_sessions`): a loaded
//!   server whose finals still meet it admits. `final_deadline_s = 0` never refuses.

use std::time::Duration;

use crate::config::RealtimeConfig;
use crate::engine::scheduler::EngineHandle;

/// The policy's settings (from `[realtime]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DegradePolicy {
    /// Largest factor by which the partial cadence stretches (1: never stretch).
    pub max_stretch: u32,
    /// Caption lag at or beyond which a session skips its partials under load, seconds.
    pub skip_lag_s: f32,
    /// How long a final may wait in its engine's queue before the server counts it late,
    /// seconds (0: no deadline; partials still stretch and skip, admission never refuses).
    pub final_deadline_s: f64,
}

impl Default for DegradePolicy {
    fn default() -> Self {
        Self::from(&RealtimeConfig::default())
    }
}

impl From<&RealtimeConfig> for DegradePolicy {
    fn from(c: &RealtimeConfig) -> Self {
        Self {
            max_stretch: c.degrade_max_stretch.max(1),
            skip_lag_s: c.degrade_skip_lag_ms as f32 / 1000.0,
            final_deadline_s: c.final_deadline_ms as f64 / 1000.0,
        }
    }
}

/// What the policy reads of one engine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineLoad {
    /// Finals (and batch jobs) queued, not yet running.
    pub finals_queued: usize,
    /// Partials queued, not yet running.
    pub partials_queued: usize,
    /// Estimated wait of a final submitted now before its run starts, seconds.
    pub final_wait_s: f64,
}

impl EngineLoad {
    /// The load of `engine` now.
    pub fn of(engine: &EngineHandle) -> Self {
        let (finals_queued, partials_queued) = engine.queue_depth();
        Self {
            finals_queued,
            partials_queued,
            final_wait_s: engine.final_wait_estimate(),
        }
    }

    /// The worst of several engines' loads (finals may go to any of them).
    pub fn worst(loads: impl IntoIterator<Item = EngineLoad>) -> Self {
        loads.into_iter().fold(Self::default(), |a, b| Self {
            finals_queued: a.finals_queued.max(b.finals_queued),
            partials_queued: a.partials_queued.max(b.partials_queued),
            final_wait_s: a.final_wait_s.max(b.final_wait_s),
        })
    }
}

/// What a session does about its next partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialPlan {
    /// Partials are off for this session.
    Off,
    /// A partial may run once `cadence` has passed since the last one; `stretch` is the factor
    /// applied to the session's base cadence (1: not stretched).
    Run {
        /// The cadence now.
        cadence: Duration,
        /// Factor over the base cadence.
        stretch: u32,
    },
    /// The partial that would be due at `cadence` is skipped.
    Skip {
        /// The cadence now (a skip is counted once per cadence).
        cadence: Duration,
        /// Why.
        why: SkipReason,
    },
}

/// Why a partial is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The session's captions trail its audio by `skip_lag_s` or more while the engine is loaded.
    FarBehind,
    /// Finals on the engine would miss their deadline.
    FinalsLate,
}

/// Whether a new session may open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Open it.
    Admit,
    /// Refuse it (close 1013): a final submitted now would wait `final_wait_s`, past the deadline.
    Refuse {
        /// Estimated wait of a final, seconds.
        final_wait_s: f64,
    },
}

impl DegradePolicy {
    /// The factor by which partials stretch at `load`: 1 with idle queues, growing by 2 per
    /// queued final and 1 per two queued partials, at most `max_stretch`.
    pub fn stretch(&self, load: &EngineLoad) -> u32 {
        let raw = 1usize
            .saturating_add(load.finals_queued.saturating_mul(2))
            .saturating_add(load.partials_queued / 2);
        raw.min(self.max_stretch.max(1) as usize) as u32
    }

    /// Whether finals on an engine at `load` would miss their deadline.
    pub fn finals_late(&self, load: &EngineLoad) -> bool {
        self.final_deadline_s > 0.0 && load.final_wait_s > self.final_deadline_s
    }

    /// A session's next partial: `base` is its own cadence (`None`: partials off), `load` that of
    /// its fast engine, `lag_s` how far its captions trail its live audio (seconds).
    pub fn partial(&self, base: Option<Duration>, load: &EngineLoad, lag_s: f32) -> PartialPlan {
        let Some(base) = base.filter(|b| !b.is_zero()) else {
            return PartialPlan::Off;
        };
        let stretch = self.stretch(load);
        let cadence = base.saturating_mul(stretch);
        if self.finals_late(load) {
            return PartialPlan::Skip {
                cadence,
                why: SkipReason::FinalsLate,
            };
        }
        if stretch > 1 && lag_s >= self.skip_lag_s {
            return PartialPlan::Skip {
                cadence,
                why: SkipReason::FarBehind,
            };
        }
        PartialPlan::Run { cadence, stretch }
    }

    /// Whether a new session may open, given the worst load of the engines its finals may use.
    pub fn admit(&self, load: &EngineLoad) -> Admission {
        if self.finals_late(load) {
            Admission::Refuse {
                final_wait_s: load.final_wait_s,
            }
        } else {
            Admission::Admit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> DegradePolicy {
        DegradePolicy {
            max_stretch: 8,
            skip_lag_s: 3.0,
            final_deadline_s: 2.0,
        }
    }

    fn load(finals: usize, partials: usize, wait: f64) -> EngineLoad {
        EngineLoad {
            finals_queued: finals,
            partials_queued: partials,
            final_wait_s: wait,
        }
    }

    #[test]
    fn idle_engines_keep_the_base_cadence_and_never_skip() {
        let p = policy();
        let idle = EngineLoad::default();
        let run = PartialPlan::Run {
            cadence: 200 * MS,
            stretch: 1,
        };
        assert_eq!(p.partial(Some(200 * MS), &idle, 0.0), run);
        // far behind, but nothing is waiting: no reason to skip
        assert_eq!(p.partial(Some(200 * MS), &idle, 60.0), run);
        assert_eq!(p.partial(None, &idle, 0.0), PartialPlan::Off);
        assert_eq!(p.partial(Some(Duration::ZERO), &load(9, 9, 9.0), 9.0), PartialPlan::Off);
    }

    #[test]
    fn the_cadence_stretches_with_the_queues_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.stretch(&load(0, 1, 0.0)), 1, "one queued partial is no pressure");
        assert_eq!(p.stretch(&load(0, 2, 0.0)), 2);
        assert_eq!(p.stretch(&load(1, 0, 0.0)), 3, "a queued final weighs four partials");
        assert_eq!(p.stretch(&load(2, 4, 0.0)), 7);
        assert_eq!(p.stretch(&load(50, 50, 0.0)), 8, "capped at max_stretch");
        assert_eq!(p.stretch(&load(usize::MAX, usize::MAX, 0.0)), 8, "no overflow");
        assert_eq!(
            p.partial(Some(200 * MS), &load(1, 0, 0.5), 0.5),
            PartialPlan::Run {
                cadence: 600 * MS,
                stretch: 3
            }
        );
        let never = DegradePolicy { max_stretch: 1, ..p };
        assert_eq!(never.stretch(&load(5, 5, 0.0)), 1);
        let zero = DegradePolicy { max_stretch: 0, ..p };
        assert_eq!(zero.stretch(&load(5, 5, 0.0)), 1, "0 reads as 1");
    }

    #[test]
    fn far_behind_sessions_skip_only_under_load() {
        let p = policy();
        let busy = load(0, 4, 0.0);
        assert_eq!(
            p.partial(Some(200 * MS), &busy, 3.0),
            PartialPlan::Skip {
                cadence: 600 * MS,
                why: SkipReason::FarBehind
            }
        );
        assert_eq!(
            p.partial(Some(200 * MS), &busy, 2.9),
            PartialPlan::Run {
                cadence: 600 * MS,
                stretch: 3
            },
            "a session keeping up still gets (slower) partials"
        );
    }

    #[test]
    fn late_finals_stop_every_partial_and_refuse_new_sessions() {
        let p = policy();
        let late = load(3, 0, 2.5);
        assert_eq!(
            p.partial(Some(200 * MS), &late, 0.0),
            PartialPlan::Skip {
                cadence: 1400 * MS,
                why: SkipReason::FinalsLate
            }
        );
        assert_eq!(p.admit(&late), Admission::Refuse { final_wait_s: 2.5 });
        // loaded, but finals still meet their deadline: admit
        assert_eq!(p.admit(&load(3, 40, 2.0)), Admission::Admit);
        assert_eq!(p.admit(&EngineLoad::default()), Admission::Admit);
        // no deadline: never refuse, never skip for it
        let none = DegradePolicy {
            final_deadline_s: 0.0,
            ..p
        };
        assert_eq!(none.admit(&load(60, 60, 100.0)), Admission::Admit);
        assert!(matches!(
            none.partial(Some(200 * MS), &load(60, 60, 100.0), 0.0),
            PartialPlan::Run { stretch: 8, .. }
        ));
    }

    #[test]
    fn the_worst_load_decides_admission() {
        let w = EngineLoad::worst([load(1, 5, 0.4), load(4, 0, 2.4), EngineLoad::default()]);
        assert_eq!(w, load(4, 5, 2.4));
        assert!(matches!(policy().admit(&w), Admission::Refuse { .. }));
        assert_eq!(EngineLoad::worst([]), EngineLoad::default());
    }

    #[test]
    fn settings_come_from_the_realtime_section() {
        let c = RealtimeConfig {
            degrade_max_stretch: 4,
            degrade_skip_lag_ms: 2500,
            final_deadline_ms: 1500,
            ..Default::default()
        };
        let p = DegradePolicy::from(&c);
        assert_eq!((p.max_stretch, p.skip_lag_s, p.final_deadline_s), (4, 2.5, 1.5));
        let d = DegradePolicy::default();
        assert_eq!((d.max_stretch, d.skip_lag_s, d.final_deadline_s), (8, 3.0, 3.0));
    }
}
