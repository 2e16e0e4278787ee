//! Named glossaries for `glossary_id`: `<dir>/<id>.json` files in the glossary schema of
//! [`crate::review::glossary`], read on first use and re-read when the file changes.
//!
//! # Invariants
//!
//! * **Hot reload without a restart.** Every lookup compares the file's modification time and
//!   length with the cached copy's and re-reads it when either moved, so an edited glossary is in
//!   force from the next request on. A file that became unreadable or invalid keeps answering
//!   with an error (never with the stale copy), so a broken edit is noticed at once.
//! * **Ids are names, not paths.** An id is `[A-Za-z0-9_.-]`, 1–128 characters, not starting with
//!   a dot; nothing outside the folder can be named.
//! * Lookups are a `stat` and a map read; a changed file is parsed and indexed once, on the
//!   caller's thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::review::{Glossary, GlossaryError};

/// Why a named glossary is not available.
#[derive(Debug, thiserror::Error)]
pub enum GlossaryLookupError {
    /// No folder is configured (`[review] glossary_dir`).
    #[error("no glossary folder is configured on this server ([review] glossary_dir), so glossary_id cannot be used")]
    NoFolder,
    /// The id has characters outside `[A-Za-z0-9_.-]` or the wrong length.
    #[error("invalid glossary_id '{0}': use 1-128 letters, digits, '_', '-' or '.'")]
    BadId(String),
    /// No `<id>.json` in the folder.
    #[error("no glossary named '{0}'")]
    Unknown(String),
    /// The file is there but does not parse.
    #[error("glossary '{id}' is invalid: {source}")]
    Invalid {
        /// The id.
        id: String,
        /// Why.
        source: GlossaryError,
    },
}

/// A file's identity for change detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// The folder of named glossaries and the parsed copies.
#[derive(Debug, Default)]
pub struct GlossaryStore {
    dir: Option<PathBuf>,
    cache: RwLock<HashMap<String, (Stamp, Arc<Glossary>)>>,
}

impl GlossaryStore {
    /// A store over `dir` (`None`: every lookup answers [`GlossaryLookupError::NoFolder`]).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            cache: RwLock::default(),
        }
    }

    /// The glossary named `id`, re-read if its file changed since the last lookup.
    pub fn get(&self, id: &str) -> Result<Arc<Glossary>, GlossaryLookupError> {
        let dir = self.dir.as_deref().ok_or(GlossaryLookupError::NoFolder)?;
        if !valid_id(id) {
            return Err(GlossaryLookupError::BadId(id.to_string()));
        }
        let path = dir.join(format!("{id}.json"));
        let stamp = stamp(&path).ok_or_else(|| GlossaryLookupError::Unknown(id.to_string()))?;
        if let Some((s, g)) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(id)
            && *s == stamp
        {
            return Ok(g.clone());
        }
        let glossary = match Glossary::from_json_file(&path) {
            Ok(g) => Arc::new(g),
            Err(source) => {
                self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(id);
                return Err(GlossaryLookupError::Invalid {
                    id: id.to_string(),
                    source,
                });
            }
        };
        tracing::info!(id, terms = glossary.len(), path = %path.display(), "glossary loaded");
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), (stamp, glossary.clone()));
        Ok(glossary)
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_glossaries_load_reload_and_refuse_bad_names() {
        let dir = std::env::temp_dir().join(format!("asr-router-glossaries-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = GlossaryStore::new(Some(dir.clone()));
        std::fs::write(dir.join("team.json"), r#"[{"term": "Kubernetes"}]"#).unwrap();

        let g = store.get("team").unwrap();
        assert_eq!(g.entries()[0].term, "Kubernetes");
        assert!(
            Arc::ptr_eq(&g, &store.get("team").unwrap()),
            "unchanged file: the cached copy"
        );

        // a different length is a change even within the file system's time resolution
        std::fs::write(dir.join("team.json"), r#"["Kubernetes", "Grafana"]"#).unwrap();
        assert_eq!(store.get("team").unwrap().len(), 2);

        std::fs::write(dir.join("team.json"), "{not json").unwrap();
        assert!(matches!(store.get("team"), Err(GlossaryLookupError::Invalid { .. })));

        assert!(matches!(store.get("nobody"), Err(GlossaryLookupError::Unknown(_))));
        for bad in ["../etc/passwd", "a/b", "", ".hidden", "x y"] {
            assert!(matches!(store.get(bad), Err(GlossaryLookupError::BadId(_))), "{bad}");
        }
        assert!(matches!(
            GlossaryStore::new(None).get("team"),
            Err(GlossaryLookupError::NoFolder)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
