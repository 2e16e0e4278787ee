//! Ephemeral client secrets for browsers: `POST /v1/realtime/client_secrets` (GA) and
//! `POST /v1/realtime/transcription_sessions` (beta). A secret is an `ek_…` token that opens
//! realtime sessions until it expires (nothing else: REST takes the main key); it never reveals
//! the main key. Sessions opened with a secret start with the configuration it was minted with.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, AppState, Shared};
use crate::meeting::diarize::SPEAKER_MODEL_MISSING;
use crate::realtime::protocol::{self, SessionConfig};
use crate::realtime::session::events::check_preset;

fn ttl(v: &Value, path: &str) -> Result<u64, ApiError> {
    match v.pointer(path) {
        None | Some(Value::Null) => Ok(600),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s) if (10..=7200).contains(&s) => Ok(s),
            _ => Err(ApiError::invalid(
                "expires_after.seconds must be between 10 and 7200",
                Some("expires_after.seconds"),
                Some("invalid_value"),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            "expires_after.seconds must be an integer",
            Some("expires_after.seconds"),
            Some("invalid_type"),
        )),
    }
}

/// Refuses to mint a secret whose sessions could not run as configured (a review or live
/// speakers this server cannot do), naming the field as the mint body spells it: under
/// `session.` for GA, at the top level for beta (whose body is the session itself).
fn check_servable(st: &AppState, cfg: &SessionConfig, beta: bool) -> Result<(), ApiError> {
    check_preset(&st.realtime, cfg, beta).map_err(|e| {
        let code = if e.code.as_str() == SPEAKER_MODEL_MISSING {
            SPEAKER_MODEL_MISSING
        } else {
            "invalid_value"
        };
        let param = e
            .param
            .as_deref()
            .map(|p| if beta { p.trim_start_matches("session.") } else { p });
        ApiError::invalid(e.message, param, Some(code))
    })
}

fn body_json(body: &str) -> Result<Value, ApiError> {
    if body.trim().is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| {
        ApiError::invalid(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
            Some("invalid_json"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::invalid(
            "The request body must be a JSON object",
            None,
            Some("invalid_type"),
        ));
    }
    Ok(v)
}

/// GA: `{"expires_after":{"anchor":"created_at","seconds":600},"session":{…}}` →
/// `{"value":"ek_…","expires_at":…,"session":{…}}`.
pub async fn client_secrets(State(st): State<Shared>, body: String) -> Response {
    let run = || -> Result<Value, ApiError> {
        let v = body_json(&body)?;
        if v.get("expires_after").is_some_and(|e| !e.is_object() && !e.is_null()) {
            return Err(ApiError::invalid(
                "expires_after must be an object like {\"anchor\":\"created_at\",\"seconds\":600}",
                Some("expires_after"),
                Some("invalid_type"),
            ));
        }
        let secs = ttl(&v, "/expires_after/seconds")?;
        let mut cfg = SessionConfig::with_model("auto");
        let session = v.get("session").filter(|s| s.is_object());
        if let Some(s) = session {
            let text = json!({"type": "session.update", "session": s}).to_string();
            match protocol::parse_client_event(&text) {
                Ok(protocol::ClientEvent::SessionUpdate { session, .. }) => cfg
                    .apply_ga_update(&session)
                    .map_err(|e| ApiError::invalid(e.message, e.param.as_deref(), Some("invalid_value")))?,
                Ok(_) => {}
                Err(e) => return Err(ApiError::invalid(e.message, e.param.as_deref(), Some("invalid_value"))),
            }
        }
        if session.is_some() {
            check_servable(&st, &cfg, false)?;
        }
        // Sessions opened with the secret start with the session it was minted with.
        let preset = session.is_some().then(|| cfg.clone());
        let (value, expires_at) = st.auth.mint_with_session(Duration::from_secs(secs), preset);
        Ok(
            json!({"value": value, "expires_at": expires_at, "session": cfg.to_ga_json(&protocol::new_session_id(), expires_at)}),
        )
    };
    match run() {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Beta: returns a transcription session object with `client_secret: {value, expires_at}`.
pub async fn transcription_sessions(State(st): State<Shared>, body: String) -> Response {
    let run = || -> Result<Value, ApiError> {
        let v = body_json(&body)?;
        let secs = ttl(&v, "/client_secret/expires_at/seconds")?;
        let mut cfg = SessionConfig::with_model("auto");
        let text = json!({"type": "transcription_session.update", "session": v}).to_string();
        if let Ok(protocol::ClientEvent::TranscriptionSessionUpdate { session, .. }) =
            protocol::parse_client_event(&text)
        {
            cfg.apply_beta_update(&session)
                .map_err(|e| ApiError::invalid(e.message, e.param.as_deref(), Some("invalid_value")))?;
        }
        check_servable(&st, &cfg, true)?;
        let (value, expires_at) = st.auth.mint_with_session(Duration::from_secs(secs), Some(cfg.clone()));
        let mut s = cfg.to_beta_json(&protocol::new_session_id(), expires_at);
        s["client_secret"] = json!({"value": value, "expires_at": expires_at});
        Ok(s)
    };
    match run() {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
