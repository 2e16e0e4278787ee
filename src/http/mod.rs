//! The transport layer: the axum router, the API-key middleware, health and models, and the
//! server's life cycle (TLS, graceful shutdown). One handler file per endpoint family.
//!
//! Invariant: dependencies point down. Handlers here call the domain ([`crate::realtime`],
//! [`crate::batch`]) and read engines through [`crate::engine`]; nothing below imports this
//! module. Every error leaves as an OpenAI-shaped [`ApiError`].

pub mod auth;
pub mod client_secrets;
pub mod demo;
pub mod error;
pub mod meetings;
pub mod metrics;
pub mod realtime_ws;
pub mod state;
pub mod tls;
pub mod transcriptions;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

pub use error::ApiError;
pub use state::{AppState, Shared};

/// The whole HTTP API.
pub fn router(state: Shared) -> Router {
    let upload_limit = state.cfg.batch.max_upload_bytes + 64 * 1024;
    let protected = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/audio/transcriptions", post(transcriptions::transcriptions))
        .route("/v1/audio/translations", post(transcriptions::translations))
        .route("/v1/realtime/client_secrets", post(client_secrets::client_secrets))
        .route(
            "/v1/realtime/transcription_sessions",
            post(client_secrets::transcription_sessions),
        )
        .route("/metrics", get(metrics::metrics))
        .layer(DefaultBodyLimit::max(upload_limit))
        .merge(
            Router::new()
                .route("/v1/meetings", post(meetings::create).get(meetings::list))
                .route("/v1/meetings/{id}", get(meetings::get).delete(meetings::delete))
                .route("/v1/meetings/{id}/outputs/{name}", get(meetings::output))
                .layer(DefaultBodyLimit::max(
                    usize::try_from(state.cfg.meeting.max_upload_bytes)
                        .unwrap_or(usize::MAX)
                        .saturating_add(64 * 1024),
                )),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(protected)
        .route("/v1/realtime", get(realtime_ws::realtime))
        .route("/demo", get(demo::redirect))
        .route("/demo/", get(demo::index))
        .route("/demo/app.js", get(demo::app))
        .route("/demo/pcm-worklet.js", get(demo::worklet))
        .route("/demo/style.css", get(demo::style))
        .route("/demo/meeting", get(demo::meeting))
        .route("/demo/meeting.js", get(demo::meeting_js))
        .route("/demo/meeting.css", get(demo::meeting_css))
        .route("/health", get(|| async { axum::Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .fallback(|| async { ApiError::not_found("Unknown request URL. Please check the URL and method.") })
        .method_not_allowed_fallback(transcriptions::method_not_allowed)
        .with_state(state)
}

async fn require_key(State(st): State<Shared>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/metrics" && st.cfg.server.metrics_open {
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
    // The request body (an upload, perhaps) was never read: ask the client not to reuse this
    // connection, or its next request could meet a socket the server is closing.
    let mut r = ApiError::unauthorized(msg).into_response();
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

async fn ready(State(st): State<Shared>) -> Response {
    let saturated = st.engines.names().iter().filter_map(|n| st.engines.get(n)).any(|h| {
        let (f, _) = h.queue_depth();
        f >= st.cfg.engines.queue_capacity
    });
    if saturated {
        return ApiError::busy("engine queues are full").into_response();
    }
    axum::Json(json!({"status": "ready", "models": st.engines.names()})).into_response()
}

async fn list_models(State(st): State<Shared>) -> Response {
    let created = crate::ids::now_s() - st.started.elapsed().as_secs();
    let mut data = vec![json!({"id": "auto", "object": "model", "created": created, "owned_by": "asr-router"})];
    for m in st.engines.models() {
        data.push(json!({"id": m.id, "object": "model", "created": created, "owned_by": "asr-router", "roles": m.role, "languages": m.languages}));
    }
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Serves the router on the configured address, with TLS when a certificate is configured.
///
/// On SIGTERM or SIGINT the shutdown is graceful and bounded: the listener stops accepting, HTTP
/// requests in flight complete, realtime sessions end their open utterances, deliver every final
/// already committed and close with 1001; after `shutdown_deadline_s` the server returns anyway.
/// The answer says which: [`Shutdown::Clean`], or [`Shutdown::DeadlinePassed`] with work still
/// running (an engine thread may be inside a model run).
pub async fn serve(state: Shared) -> std::io::Result<Shutdown> {
    let cfg = state.cfg.clone();
    let token = state.shutdown.clone();
    let sessions = state.sessions.clone();
    let app = router(state).into_make_service();
    let tcp = tokio::net::TcpListener::bind(cfg.server.listen).await?;
    let addr = tcp.local_addr()?;
    let signal = shutdown_signal()?;
    let stop = token.clone();
    tokio::spawn(async move {
        signal.await;
        stop.cancel();
    });
    let http = async {
        match (&cfg.server.tls_cert, &cfg.server.tls_key) {
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
                return r.map(|()| Shutdown::Clean);
            }
            http_result = Some(r);
        }
        _ = token.cancelled() => {}
    }
    tracing::info!(
        sessions = sessions.len(),
        deadline_s = cfg.server.shutdown_deadline_s,
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
    match tokio::time::timeout(Duration::from_secs(cfg.server.shutdown_deadline_s), drain).await {
        Ok(r) => {
            tracing::info!("shut down cleanly");
            r.map(|()| Shutdown::Clean)
        }
        Err(_) => {
            tracing::warn!(
                sessions = sessions.len(),
                "shutdown deadline of {} s passed: exiting with work unfinished",
                cfg.server.shutdown_deadline_s
            );
            Ok(Shutdown::DeadlinePassed)
        }
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every request and session finished.
    Clean,
    /// The deadline passed with work still running.
    DeadlinePassed,
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
