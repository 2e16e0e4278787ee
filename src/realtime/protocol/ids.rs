//! Server-minted identifiers: `event_…` for server events, `item_…` for conversation items (one
//! per utterance) and `sess_…` for sessions.
//!
//! OpenAI's ids are a type prefix followed by 21 random ASCII alphanumerics; ours have the same
//! shape, so clients that check prefixes or lengths accept them. They are random, not sequential:
//! unique with overwhelming probability (62^21 ≈ 2^125 values per prefix) and meaningless beyond
//! their prefix.

use rand::Rng as _;

fn random_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.extend((0..21).map(|_| char::from(rng.sample(rand::distr::Alphanumeric))));
    id
}

/// A fresh server event id, `event_` + 21 random alphanumerics (OpenAI's shape).
pub fn new_event_id() -> String {
    random_id("event_")
}

/// A fresh conversation item id, `item_` + 21 random alphanumerics.
pub fn new_item_id() -> String {
    random_id("item_")
}

/// A fresh session id, `sess_` + 21 random alphanumerics.
pub fn new_session_id() -> String {
    random_id("sess_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_event_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(new_item_id().starts_with("item_"));
        assert!(new_session_id().starts_with("sess_"));
    }
}
