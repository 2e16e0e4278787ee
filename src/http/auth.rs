//! API-key checks: `Authorization: Bearer`, compared in constant time; ephemeral client secrets
//! (`ek_…`) minted for browsers, valid until they expire and never revealing the main key. A
//! secret opens realtime sessions and nothing else: the REST API (minting further secrets
//! included) takes the main key only.

use std::time::Duration;

use axum::http::HeaderMap;
use dashmap::DashMap;
use subtle::ConstantTimeEq;

use crate::ids::{now_s, random_id};
use crate::realtime::protocol::SessionConfig;

/// Checks keys and mints ephemeral secrets.
pub struct Auth {
    key: Option<String>,
    ephemeral: DashMap<String, Secret>,
}

/// A live ephemeral secret.
struct Secret {
    /// Expiry, epoch seconds.
    expires_at: u64,
    /// The session configuration it was minted with, applied to every session it opens.
    session: Option<SessionConfig>,
}

impl Auth {
    /// `None` means the server is open.
    pub fn new(key: Option<String>) -> Self {
        Self {
            key,
            ephemeral: DashMap::new(),
        }
    }

    /// Whether a key is configured.
    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// Whether `token` is the main key (constant time).
    pub fn is_main_key(&self, token: &str) -> bool {
        match &self.key {
            Some(k) => k.as_bytes().ct_eq(token.as_bytes()).into(),
            None => false,
        }
    }

    /// Whether `token` may open a realtime session: the main key or a live ephemeral secret.
    /// Always true when open.
    pub fn accepts(&self, token: Option<&str>) -> bool {
        if self.key.is_none() {
            return true;
        }
        let Some(t) = token else { return false };
        if self.is_main_key(t) {
            return true;
        }
        self.ephemeral_valid(t)
    }

    /// Whether `token` may use the REST API: the main key only. Always true when open.
    pub fn accepts_main(&self, token: Option<&str>) -> bool {
        match (&self.key, token) {
            (None, _) => true,
            (Some(_), Some(t)) => self.is_main_key(t),
            (Some(_), None) => false,
        }
    }

    /// Whether `token` is a live ephemeral secret.
    pub fn is_ephemeral(&self, token: &str) -> bool {
        self.key.is_some() && self.ephemeral_valid(token)
    }

    fn ephemeral_valid(&self, t: &str) -> bool {
        let now = now_s();
        self.ephemeral.retain(|_, s| s.expires_at > now);
        self.ephemeral.get(t).is_some_and(|s| s.expires_at > now)
    }

    /// Mints an `ek_…` secret valid for `ttl`; returns it and its expiry (epoch seconds).
    pub fn mint(&self, ttl: Duration) -> (String, u64) {
        self.mint_with_session(ttl, None)
    }

    /// Mints an `ek_…` secret valid for `ttl` whose sessions start with `session` (the client may
    /// still change it with session updates); returns it and its expiry (epoch seconds).
    pub fn mint_with_session(&self, ttl: Duration, session: Option<SessionConfig>) -> (String, u64) {
        let secret = random_id("ek_", 40);
        let expires_at = now_s() + ttl.as_secs();
        self.ephemeral.insert(secret.clone(), Secret { expires_at, session });
        (secret, expires_at)
    }

    /// The session configuration a live ephemeral secret was minted with, if any.
    pub fn session_of(&self, token: &str) -> Option<SessionConfig> {
        if !self.is_ephemeral(token) {
            return None;
        }
        self.ephemeral.get(token).and_then(|s| s.session.clone())
    }
}

/// The bearer token of a request, if any (also `X-API-Key`, a common extension).
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_string());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ephemeral_secrets() {
        let a = Auth::new(Some("sk-main".into()));
        assert!(a.accepts(Some("sk-main")));
        assert!(!a.accepts(Some("sk-mai")));
        assert!(!a.accepts(None));
        let (ek, exp) = a.mint(Duration::from_secs(60));
        assert!(ek.starts_with("ek_") && !ek.contains("sk-main"));
        assert!(exp > now_s());
        assert!(a.accepts(Some(&ek)));
        assert!(a.accepts_main(Some("sk-main")) && !a.accepts_main(Some(&ek)) && !a.accepts_main(None));
        assert!(a.is_ephemeral(&ek) && !a.is_ephemeral("sk-main") && !a.is_ephemeral("ek_forged"));
        assert!(a.session_of(&ek).is_none());
        let cfg = SessionConfig::with_model("whisper-base");
        let (with, _) = a.mint_with_session(Duration::from_secs(60), Some(cfg.clone()));
        assert_eq!(a.session_of(&with), Some(cfg));
        assert!(a.session_of("sk-main").is_none());
        let (old, _) = a.mint(Duration::from_secs(0));
        assert!(!a.accepts(Some(&old)), "expired secrets are refused");
        assert!(Auth::new(None).accepts(None) && Auth::new(None).accepts_main(None));
    }
}
