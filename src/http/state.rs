//! The state every handler shares: configuration, engines, the key checker, counters, and the
//! shutdown signal. Realtime sessions get only [`SessionContext`], never this whole state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::Auth;
use crate::batch::service::BatchService;
use crate::config::Config;
use crate::engine::Engines;
use crate::finalize::SecondPass;
use crate::meeting::service::MeetingService;
use crate::realtime::context::{SessionContext, SessionLimits};
use crate::routing::RoutePolicy;

/// State shared by every handler.
pub struct AppState {
    /// The configuration in force.
    pub cfg: Config,
    /// Loaded engines.
    pub engines: Arc<Engines>,
    /// File transcription: routing, the finalizer chain, the reviewers.
    pub batch: BatchService,
    /// Key checks and ephemeral secrets.
    pub auth: Auth,
    /// Open realtime sessions.
    pub live_sessions: AtomicUsize,
    /// Realtime sessions refused at capacity.
    pub sessions_refused: AtomicU64,
    /// Realtime sessions refused because finals would miss their deadline
    /// (`crate::realtime::degrade`).
    pub sessions_refused_deadline: AtomicU64,
    /// HTTP transcription requests served.
    pub requests: AtomicU64,
    /// What realtime sessions get of the server: engines, limits, their counters, the shutdown.
    pub realtime: Arc<SessionContext>,
    /// Process start.
    pub started: Instant,
    /// Cancelled when the server begins a graceful shutdown: sessions end their open utterances,
    /// deliver their finals and close with 1001.
    pub shutdown: CancellationToken,
    /// Every running realtime session; the shutdown waits for them (up to its deadline).
    pub sessions: TaskTracker,
    /// Meeting jobs (`None` when `[meeting] enabled = false`).
    pub meetings: Option<Arc<MeetingService>>,
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

impl AppState {
    /// Builds the state from loaded engines, the reviewers and the meeting service.
    pub fn new(
        cfg: Config,
        engines: Arc<Engines>,
        second: Arc<SecondPass>,
        meetings: Option<Arc<MeetingService>>,
        shutdown: CancellationToken,
    ) -> Shared {
        let auth = Auth::new(cfg.server.api_key.clone());
        let realtime = Arc::new(SessionContext::new(
            engines.clone(),
            RoutePolicy::new(&engines, &cfg),
            second.clone(),
            SessionLimits::from(&cfg),
            shutdown.clone(),
        ));
        Arc::new(Self {
            batch: BatchService::new(&engines, &cfg, second),
            cfg,
            engines,
            auth,
            live_sessions: AtomicUsize::new(0),
            sessions_refused: AtomicU64::new(0),
            sessions_refused_deadline: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            realtime,
            started: Instant::now(),
            shutdown,
            sessions: TaskTracker::new(),
            meetings,
        })
    }
}
