//! The HTTP layer: axum router, API-key middleware, shared state, health, models and metrics.
//! Handlers translate between HTTP and the engine layer; they know nothing of model internals.

pub mod auth;
pub mod demo;
pub mod error;
pub mod tls;

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::engine::Engines;
use auth::Auth;
pub use error::ApiError;

/// State shared by every handler.
pub struct AppState {
    /// The configuration in force.
    pub cfg: Config,
    /// Loaded engines.
    pub engines: Arc<Engines>,
    /// Key checks and ephemeral secrets.
    pub auth: Auth,
    /// Open realtime sessions.
    pub live_sessions: AtomicUsize,
    /// Realtime sessions refused at capacity.
    pub sessions_refused: AtomicU64,
    /// HTTP transcription requests served.
    pub requests: AtomicU64,
    /// Realtime partial deltas dropped because a client's outbound queue had no room for them.
    pub partials_dropped: AtomicU64,
    /// Process start.
    pub started: Instant,
    /// Cancelled when the server begins a graceful shutdown: sessions end their open utterances,
    /// deliver their finals and close with 1001.
    pub shutdown: CancellationToken,
    /// Every running realtime session; the shutdown waits for them (up to its deadline).
    pub sessions: TaskTracker,
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

impl AppState {
    /// Builds the state from loaded engines.
    pub fn new(cfg: Config, engines: Arc<Engines>) -> Shared {
        let auth = Auth::new(cfg.api_key.clone());
        Arc::new(Self {
            cfg,
            engines,
            auth,
            live_sessions: AtomicUsize::new(0),
            sessions_refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            partials_dropped: AtomicU64::new(0),
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        })
    }
}

/// The whole HTTP API.
pub fn router(state: Shared) -> Router {
    let upload_limit = state.cfg.max_upload_bytes + 64 * 1024;
    let protected = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/audio/transcriptions", post(crate::batch::http::transcriptions))
        .route("/v1/audio/translations", post(crate::batch::http::translations))
        .route(
            "/v1/realtime/client_secrets",
            post(crate::realtime::secrets::client_secrets),
        )
        .route(
            "/v1/realtime/transcription_sessions",
            post(crate::realtime::secrets::transcription_sessions),
        )
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(upload_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(protected)
        .route("/v1/realtime", get(crate::realtime::ws::realtime))
        .route("/demo", get(demo::redirect))
        .route("/demo/", get(demo::index))
        .route("/demo/app.js", get(demo::app))
        .route("/demo/pcm-worklet.js", get(demo::worklet))
        .route("/demo/style.css", get(demo::style))
        .route("/health", get(|| async { axum::Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .fallback(|| async { ApiError::not_found("Unknown request URL. Please check the URL and method.") })
        .method_not_allowed_fallback(crate::batch::http::method_not_allowed)
        .with_state(state)
}

async fn require_key(State(st): State<Shared>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/metrics" && st.cfg.metrics_open {
        return next.run(req).await;
    }
    // Only the `Authorization`/`X-API-Key` value is read: no other client-supplied header
    // (`Origin`, `Referer`, `Sec-Fetch-*`, `Host`, forwarding headers) can authorize a request,
    // since any non-browser client can send whatever it likes. The demo page asks its user for the
    // key instead (docs/api.md, "The demo page and the key").
    let token = auth::bearer(req.headers());
    // Ephemeral secrets open realtime sessions only (as OpenAI's do): a secret handed to a
    // browser must not transcribe over REST, read metrics, or mint itself a successor.
    if st.auth.accepts_main(token.as_deref()) {
        return next.run(req).await;
    }
    let msg = match token {
        None => {
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        }
        Some(t) if st.auth.is_ephemeral(&t) => {
            "Ephemeral client secrets (ek_...) only open realtime sessions (/v1/realtime); this endpoint needs the API key."
        }
        Some(_) => "Incorrect API key provided.",
    };
    ApiError::unauthorized(msg).into_response()
}

async fn ready(State(st): State<Shared>) -> Response {
    let saturated = st.engines.names().iter().filter_map(|n| st.engines.get(n)).any(|h| {
        let (f, _) = h.queue_depth();
        f >= st.cfg.queue_capacity
    });
    if saturated {
        return ApiError::busy("engine queues are full").into_response();
    }
    axum::Json(json!({"status": "ready", "models": st.engines.names()})).into_response()
}

async fn list_models(State(st): State<Shared>) -> Response {
    let created = auth::now_s() - st.started.elapsed().as_secs();
    let mut data = vec![json!({"id": "auto", "object": "model", "created": created, "owned_by": "asr-router"})];
    for m in st.engines.models() {
        data.push(json!({"id": m.id, "object": "model", "created": created, "owned_by": "asr-router", "roles": m.role, "languages": m.languages}));
    }
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn metrics(State(st): State<Shared>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# TYPE asr_router_live_sessions gauge\nasr_router_live_sessions {}",
        st.live_sessions.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE asr_router_sessions_refused_total counter\nasr_router_sessions_refused_total {}",
        st.sessions_refused.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE asr_router_http_transcriptions_total counter\nasr_router_http_transcriptions_total {}",
        st.requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE asr_router_realtime_partials_dropped_total counter\nasr_router_realtime_partials_dropped_total {}",
        st.partials_dropped.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE asr_router_queue_depth gauge");
    for name in st.engines.names() {
        if let Some(h) = st.engines.get(&name) {
            let (f, p) = h.queue_depth();
            let _ = writeln!(out, "asr_router_queue_depth{{engine=\"{name}\",queue=\"final\"}} {f}");
            let _ = writeln!(out, "asr_router_queue_depth{{engine=\"{name}\",queue=\"partial\"}} {p}");
        }
    }
    let _ = writeln!(out, "# TYPE asr_router_engine_audio_seconds_total counter");
    let _ = writeln!(out, "# TYPE asr_router_engine_compute_seconds_total counter");
    for name in st.engines.names() {
        if let Some(h) = st.engines.get(&name) {
            let m = h.metrics();
            let audio = m.audio_ms.load(Ordering::Relaxed) as f64 / 1000.0;
            let compute = m.compute_ms.load(Ordering::Relaxed) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "asr_router_engine_audio_seconds_total{{engine=\"{name}\"}} {audio}"
            );
            let _ = writeln!(
                out,
                "asr_router_engine_compute_seconds_total{{engine=\"{name}\"}} {compute}"
            );
        }
    }
    for (metric, kind) in [
        ("batches", "counter"),
        ("utterances", "counter"),
        ("refused", "counter"),
        ("stale_dropped", "counter"),
        ("cancelled", "counter"),
        ("abandoned", "counter"),
        ("rtf", "gauge"),
        ("decode_seconds", "histogram"),
        ("queue_wait_seconds", "histogram"),
        ("batch_size", "counter"),
    ] {
        let _ = writeln!(out, "# TYPE asr_router_engine_{metric} {kind}");
        for name in st.engines.names() {
            let Some(h) = st.engines.get(&name) else { continue };
            let m = h.metrics();
            let l = format!("engine=\"{name}\"");
            let line = match metric {
                "batches" => Some(m.batches.load(Ordering::Relaxed) as f64),
                "utterances" => Some(m.utterances.load(Ordering::Relaxed) as f64),
                "refused" => Some(m.refused.load(Ordering::Relaxed) as f64),
                "stale_dropped" => Some(m.stale_dropped.load(Ordering::Relaxed) as f64),
                "cancelled" => Some(m.cancelled.load(Ordering::Relaxed) as f64),
                "abandoned" => Some(m.abandoned.load(Ordering::Relaxed) as f64),
                "rtf" => Some(m.rtf()),
                "decode_seconds" => {
                    m.decode_time.render(&mut out, "asr_router_engine_decode_seconds", &l);
                    None
                }
                "queue_wait_seconds" => {
                    m.queue_wait
                        .render(&mut out, "asr_router_engine_queue_wait_seconds", &l);
                    None
                }
                _ => {
                    for (i, c) in m.batch_sizes.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "asr_router_engine_batch_size{{{l},size=\"{}\"}} {}",
                            i + 1,
                            c.load(Ordering::Relaxed)
                        );
                    }
                    None
                }
            };
            if let Some(v) = line {
                let _ = writeln!(out, "asr_router_engine_{metric}{{{l}}} {v}");
            }
        }
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Serves the router on the configured address, with TLS when a certificate is configured.
///
/// On SIGTERM or SIGINT the shutdown is graceful and bounded: the listener stops accepting, HTTP
/// requests in flight complete, realtime sessions end their open utterances, deliver every final
/// already committed and close with 1001; after `shutdown_deadline_s` the server returns anyway.
pub async fn serve(state: Shared) -> std::io::Result<()> {
    let cfg = state.cfg.clone();
    let token = state.shutdown.clone();
    let sessions = state.sessions.clone();
    let app = router(state).into_make_service();
    let tcp = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = tcp.local_addr()?;
    let signal = shutdown_signal()?;
    let stop = token.clone();
    tokio::spawn(async move {
        signal.await;
        stop.cancel();
    });
    let http = async {
        match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(cert), Some(key)) => {
                let acc = tls::acceptor(cert, key).map_err(std::io::Error::other)?;
                tracing::info!("listening on https://{addr} (wss:// for realtime)");
                axum::serve(tls::TlsListener::new(tcp, acc)?, app)
                    .with_graceful_shutdown(token.clone().cancelled_owned())
                    .await
            }
            _ => {
                tracing::info!("listening on http://{addr}");
                axum::serve(tcp, app)
                    .with_graceful_shutdown(token.clone().cancelled_owned())
                    .await
            }
        }
    };
    tokio::pin!(http);
    // Before the signal, `http` only ends on an error. After it, axum may finish first (no
    // request in flight): the sessions must still be waited for.
    let mut http_result = None;
    tokio::select! {
        r = &mut http => {
            if !token.is_cancelled() {
                return r;
            }
            http_result = Some(r);
        }
        _ = token.cancelled() => {}
    }
    tracing::info!(
        sessions = sessions.len(),
        deadline_s = cfg.shutdown_deadline_s,
        "shutting down: finishing requests and sessions"
    );
    // Upgraded WebSockets are not connections axum waits for; the tracker counts them.
    sessions.close();
    let drain = async {
        let r = match http_result {
            Some(r) => r,
            None => http.await,
        };
        sessions.wait().await;
        r
    };
    match tokio::time::timeout(Duration::from_secs(cfg.shutdown_deadline_s), drain).await {
        Ok(r) => {
            tracing::info!("shut down cleanly");
            r
        }
        Err(_) => {
            tracing::warn!(
                sessions = sessions.len(),
                "shutdown deadline of {} s passed: exiting with work unfinished",
                cfg.shutdown_deadline_s
            );
            Ok(())
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives right after start-up is not lost
/// (nor does it kill the process with the default action).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
