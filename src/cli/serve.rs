//! `asr-router serve`: load the models and run the HTTP and WebSocket server.

use std::sync::Arc;

use anyhow::Context;

use asr_router::config::Config;
use asr_router::engine::Engines;
use asr_router::meeting::pipeline::MeetingPipeline;
use asr_router::meeting::service::MeetingService;

/// Serves until SIGTERM/SIGINT and the graceful shutdown.
/// `cfg` already holds `serve`'s flags (`Cli::config`).
pub fn run(cfg: Config) -> anyhow::Result<()> {
    if cfg.server.api_key.is_none() {
        tracing::warn!(
            "NO API KEY CONFIGURED: every endpoint is open to anyone who can reach {}. Set ASR_ROUTER_API_KEY.",
            cfg.server.listen
        );
    }
    let rt = super::runtime()?;
    let engines = Arc::new(Engines::load(&cfg).context("loading models (run scripts/fetch-models)")?);
    for m in engines.models() {
        tracing::info!(model = %m.id, roles = ?m.role, "loaded");
    }
    let second = Arc::new(asr_router::finalize::SecondPass::from_config(
        &cfg.review,
        &cfg.engines.models_dir,
    )?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let meetings = if cfg.meeting.enabled {
        let pipeline = Arc::new(MeetingPipeline::new(&engines, &cfg, second.clone()));
        if !pipeline.diarizes() {
            tracing::warn!("no speaker model installed (scripts/fetch-models): meetings get one speaker per turn");
        }
        let svc = rt
            .block_on(MeetingService::start(pipeline, &cfg.meeting, shutdown.clone()))
            .with_context(|| format!("starting meeting jobs in {}", cfg.meeting.jobs_dir.display()))?;
        Some(Arc::new(svc))
    } else {
        None
    };
    let state = asr_router::http::AppState::new(cfg, engines, second, meetings.clone(), shutdown);
    let ended = rt.block_on(asr_router::http::serve(state))?;
    if let Some(m) = &meetings {
        // The shutdown token is cancelled by now: running meeting stages are handed back.
        // (the timer is created inside the runtime: `timeout` needs its reactor)
        let _ = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), m.join()).await });
    }
    if ended == asr_router::http::Shutdown::DeadlinePassed {
        // An engine thread may be inside a native model run: a normal exit would run the C++
        // runtime's static destructors, which can wait on it (seen: a process alive 90 s after
        // the deadline on a loaded box). The deadline is a promise to exit, so exit now.
        use std::io::Write;
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
        // SAFETY: `_exit` ends the process without running destructors or atexit handlers;
        // nothing after this point needs them (logs are flushed above, no file is half-written).
        unsafe { libc::_exit(0) };
    }
    // Whatever is left (a blocking VAD call) must not keep the process alive; the idle engine
    // threads end with the process.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}
