//! What a realtime session needs from the server, and nothing more: the engines, the limits that
//! shape a session, the counters a session moves, and the shutdown signal. The transport builds
//! one [`SessionContext`] at start-up and hands each session an `Arc` of it; sessions never see
//! the HTTP layer's state (keys, REST counters, the router).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, FinalWindow, PartialDelay};
use crate::engine::Engines;
use crate::engine::metrics::Histogram;
use crate::finalize::SecondPass;
use crate::realtime::degrade::DegradePolicy;
use crate::realtime::tail::TailConfig;
use crate::routing::RoutePolicy;

/// Bucket bounds of [`SessionContext::partial_refresh`], seconds: 50 ms steps up to the 500 ms of
/// issue 15's cadence rule, coarser above.
pub const REFRESH_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// The limits and defaults of a session, taken from the server configuration.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Longest session, seconds.
    pub max_session_s: u64,
    /// Largest decoded `input_audio_buffer.append`, bytes.
    pub max_append_bytes: usize,
    /// Default partial interval, ms (0 = no partials).
    pub partial_interval_ms: u64,
    /// Default `transcription.delay` (sessions that set none).
    pub partial_delay: PartialDelay,
    /// Longest window re-decoded for a partial, seconds.
    pub partial_window_s: f32,
    /// The tail window of partials on engines with CTC word times (`None`: whole re-decodes).
    pub partial_tail: Option<TailConfig>,
    /// Whether engines without CTC word times that take a prompt (Whisper drafts) get a tail
    /// window too, cut at their segments' times (`[realtime] partial_tail_prompted`).
    pub partial_tail_prompted: bool,
    /// The encoder window of finals.
    pub final_window: FinalWindow,
    /// Outbound partial deltas buffered per client before they are dropped.
    pub outbound_queue: usize,
    /// How partials and admission give way under load.
    pub degrade: DegradePolicy,
    /// Start a final in the speaker's pause, before the turn ends (`[realtime] early_finals`).
    pub early_finals: bool,
}

impl From<&Config> for SessionLimits {
    fn from(c: &Config) -> Self {
        Self {
            max_session_s: c.realtime.max_session_s,
            max_append_bytes: c.realtime.max_append_bytes,
            partial_interval_ms: c.realtime.partial_interval_ms,
            partial_delay: c.realtime.partial_delay,
            partial_window_s: c.realtime.partial_window_s,
            partial_tail: (c.realtime.partial_tail_s.is_finite() && c.realtime.partial_tail_s > 0.0).then(|| {
                TailConfig {
                    tail_s: c.realtime.partial_tail_s,
                    context_s: c.realtime.partial_context_s.max(0.0),
                }
            }),
            partial_tail_prompted: c.realtime.partial_tail_prompted,
            final_window: c.realtime.final_window,
            outbound_queue: c.realtime.outbound_queue,
            degrade: DegradePolicy::from(&c.realtime),
            early_finals: c.realtime.early_finals,
        }
    }
}

/// Shared by every realtime session of a server.
pub struct SessionContext {
    /// Loaded engines (VAD, fast and strong recognizers).
    pub engines: Arc<Engines>,
    /// The one router: which engine decodes partials and finals.
    pub routes: RoutePolicy,
    /// The reviewers of finals (and of the stable prefix behind live deltas).
    pub second: Arc<SecondPass>,
    /// Limits and defaults.
    pub limits: SessionLimits,
    /// Partial deltas dropped because a client's outbound queue had no room for them.
    pub partials_dropped: AtomicU64,
    /// Partials run at a stretched cadence (the degradation policy's stretch was above 1).
    pub partials_stretched: AtomicU64,
    /// Partials skipped by the degradation policy because their session was far behind.
    pub partials_skipped_behind: AtomicU64,
    /// Partials skipped by the degradation policy because finals would miss their deadline.
    pub partials_skipped_late: AtomicU64,
    /// Finals started early, in a pause before their turn ended (`crate::realtime::session::early`).
    pub early_finals_started: AtomicU64,
    /// Of those, the ones whose turn did end there, so that their final was the early decode.
    pub early_finals_used: AtomicU64,
    /// How long new speech of an open item waited for a partial that covers it, seconds (the
    /// live caption's refresh interval; [`super::session::turns::TurnEvent::PartialRefreshed`]).
    pub partial_refresh: Histogram,
    /// Cancelled when the server shuts down: sessions end their utterances, deliver their finals
    /// and close with 1001.
    pub shutdown: CancellationToken,
}

impl SessionContext {
    /// A context over `engines` routed by `routes` and reviewed by `second`, with `limits`, ending sessions when
    /// `shutdown` is cancelled.
    pub fn new(
        engines: Arc<Engines>,
        routes: RoutePolicy,
        second: Arc<SecondPass>,
        limits: SessionLimits,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            engines,
            routes,
            second,
            limits,
            partials_dropped: AtomicU64::new(0),
            partials_stretched: AtomicU64::new(0),
            partials_skipped_behind: AtomicU64::new(0),
            partials_skipped_late: AtomicU64::new(0),
            early_finals_started: AtomicU64::new(0),
            early_finals_used: AtomicU64::new(0),
            partial_refresh: Histogram::new(REFRESH_BUCKETS),
            shutdown,
        }
    }
}
