//! Helpers shared by the protocol's unit tests: parse a frame that must (or must not) parse, take
//! the patch out of a session update, apply a GA `session` object to a configuration.

use serde_json::{Value, json};

use super::{BetaSessionPatch, ClientEvent, GaSessionPatch, ProtocolError, SessionConfig, parse_client_event};

pub(super) fn parse_ok(text: &str) -> ClientEvent {
    match parse_client_event(text) {
        Ok(ev) => ev,
        Err(e) => panic!("unexpected error for {text}: {e:?}"),
    }
}

pub(super) fn parse_err(text: &str) -> ProtocolError {
    match parse_client_event(text) {
        Ok(ev) => panic!("expected error for {text}, got {ev:?}"),
        Err(e) => e,
    }
}

pub(super) fn ga_patch(text: &str) -> GaSessionPatch {
    match parse_ok(text) {
        ClientEvent::SessionUpdate { session, .. } => session,
        other => panic!("not a GA session.update: {other:?}"),
    }
}

pub(super) fn beta_patch(text: &str) -> BetaSessionPatch {
    match parse_ok(text) {
        ClientEvent::TranscriptionSessionUpdate { session, .. } | ClientEvent::LegacySessionUpdate { session, .. } => {
            session
        }
        other => panic!("not a beta update: {other:?}"),
    }
}

pub(super) fn apply_ga(cfg: &mut SessionConfig, session_json: Value) -> Result<(), ProtocolError> {
    let text = json!({"type": "session.update", "session": session_json}).to_string();
    let patch = match parse_client_event(&text)? {
        ClientEvent::SessionUpdate { session, .. } => session,
        other => panic!("unexpected {other:?}"),
    };
    cfg.apply_ga_update(&patch)
}
