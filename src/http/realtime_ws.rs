//! `GET /v1/realtime`: WebSocket upgrade, authentication (bearer header, the browser's
//! `openai-insecure-api-key.<key>` subprotocol, or an ephemeral `ek_` secret), dialect detection
//! (GA or beta), and admission control: close 1013 "try again later" beyond `max_sessions`, and
//! when the degradation policy says finals would miss their deadline
//! (`crate::realtime::degrade::DegradePolicy::admit`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared, auth};
use crate::realtime::degrade::{Admission, EngineLoad};
use crate::realtime::session::{self, SessionParams};

const KEY_PROTOCOL: &str = "openai-insecure-api-key.";
const BETA_PROTOCOL: &str = "openai-beta.realtime-v1";

/// Counts a live session for as long as it exists.
struct LiveGuard(Shared);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live_sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the degradation policy admits a session now, from the worst load of the engines.
fn admission(st: &Shared) -> Admission {
    let loads = st
        .engines
        .names()
        .into_iter()
        .filter_map(|n| st.engines.get(&n).map(EngineLoad::of));
    st.realtime.limits.degrade.admit(&EngineLoad::worst(loads))
}

fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The upgrade handler.
pub async fn realtime(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if st.shutdown.is_cancelled() {
        return ApiError::unavailable("The server is shutting down; reconnect to another instance or retry shortly.")
            .into_response();
    }
    let protocols = offered_protocols(&headers);
    let token = auth::bearer(&headers)
        .or_else(|| {
            protocols
                .iter()
                .find_map(|p| p.strip_prefix(KEY_PROTOCOL).map(str::to_string))
        })
        .or_else(|| q.get("api_key").cloned());
    if !st.auth.accepts(token.as_deref()) {
        return ApiError::unauthorized(if token.is_some() {
            "Incorrect API key provided."
        } else {
            "Missing bearer or basic authentication in header"
        })
        .into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::invalid(
                format!("Expected a WebSocket upgrade: {e}"),
                None,
                Some("invalid_request"),
            )
            .into_response();
        }
    };
    let beta = headers
        .get("openai-beta")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("realtime=v1"))
        || protocols.iter().any(|p| p == BETA_PROTOCOL);
    let params = SessionParams {
        beta,
        url_model: q.get("model").cloned(),
        preset: token.as_deref().and_then(|t| st.auth.session_of(t)),
    };
    // Answer with exactly the `realtime` subprotocol when offered, never the key-bearing one.
    let ws = if protocols.iter().any(|p| p == "realtime") {
        ws.protocols(["realtime"])
    } else {
        ws
    };
    let max_frame = st.cfg.realtime.max_append_bytes * 4 / 3 + 64 * 1024;
    let ws = ws.max_message_size(max_frame).max_frame_size(max_frame);

    let live = st.live_sessions.fetch_add(1, Ordering::SeqCst) + 1;
    let guard = LiveGuard(st.clone());
    let refusal = if live > st.cfg.realtime.max_sessions {
        st.sessions_refused.fetch_add(1, Ordering::Relaxed);
        Some("try again later: the server is at its session limit")
    } else if let Admission::Refuse { final_wait_s } = admission(&st) {
        st.sessions_refused_deadline.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            final_wait_s,
            "realtime session refused: finals would miss their deadline"
        );
        Some("try again later: the server is too busy to finalize speech in time")
    } else {
        None
    };
    if let Some(reason) = refusal {
        return ws
            .on_upgrade(move |mut socket| async move {
                let _g = guard;
                let frame = CloseFrame {
                    code: 1013,
                    reason: Utf8Bytes::from_static(reason),
                };
                let _ = socket.send(Message::Close(Some(frame))).await;
            })
            .into_response();
    }
    // The tracker lets a graceful shutdown wait for the session (and its finals) to end.
    let tracker = st.sessions.clone();
    ws.on_upgrade(move |socket| {
        tracker.track_future(async move {
            let _g = guard;
            session::run(socket, st.realtime.clone(), params, max_frame).await;
        })
    })
    .into_response()
}
