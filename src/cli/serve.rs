//! `asr-router serve`: load the models and run the HTTP and WebSocket server.

use std::sync::Arc;

use anyhow::Context;

use super::ServeArgs;
use asr_router::config::Config;
use asr_router::engine::Engines;

/// Serves until SIGTERM/SIGINT and the graceful shutdown.
pub fn run(args: ServeArgs, mut cfg: Config) -> anyhow::Result<()> {
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    cfg.tls_cert = args.tls_cert.or(cfg.tls_cert);
    cfg.tls_key = args.tls_key.or(cfg.tls_key);
    if cfg.api_key.is_none() {
        tracing::warn!(
            "NO API KEY CONFIGURED: every endpoint is open to anyone who can reach {}. Set ASR_ROUTER_API_KEY.",
            cfg.listen
        );
    }
    let rt = super::runtime()?;
    let engines = Arc::new(Engines::load(&cfg).context("loading models (run scripts/fetch-models)")?);
    for m in engines.models() {
        tracing::info!(model = %m.id, roles = ?m.role, "loaded");
    }
    let state = asr_router::http::AppState::new(cfg, engines);
    rt.block_on(asr_router::http::serve(state))?;
    // Whatever is left (a task past the shutdown deadline, a blocking VAD call) must not
    // keep the process alive; the engine threads end with the process.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}
