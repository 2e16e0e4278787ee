//! Identifiers and wall-clock stamps shared by every layer: random, prefixed ids (`sess_…`,
//! `ek_…`) and Unix-epoch seconds (OpenAI's `expires_at`, `created`).

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

/// Seconds since the Unix epoch.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random identifier of `len` alphanumerics after `prefix`, e.g. `sess_3fa9…`.
pub fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let s: String = (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_length() {
        let a = random_id("ek_", 40);
        assert!(a.starts_with("ek_") && a.len() == 43 && a[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_id("ek_", 40));
    }
}
