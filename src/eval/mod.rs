//! Accuracy of the whole finalizer chain on an eval manifest (`asr-router eval`, issue 13): WER for
//! English, CER for Chinese and code-switched speech, and term recall, per language group, for the
//! recognizer's text and the reviewed text **of the same decode**, with the relative cut.
//!
//! * [`normalize`]: the eval set's normalization (`../shared/eval/README.md`, traditional folded
//!   to simplified, the terminology README's term matching);
//! * [`score`]: per-item counts, corpus-level rates, the relative cut, percentiles;
//! * [`report`]: per-item results, group summaries, the table and the JSON;
//! * this file: the manifest.
//!
//! The command itself (`src/cli/eval.rs`) sends every item through the batch service exactly as
//! a REST request with the same fields (`glossary` inline, `review`, `languages`), so what is
//! measured is what a client gets.
//!
//! # Invariants
//!
//! * Raw and reviewed text are scored by the same [`normalize::Normalizer`], built from the
//!   manifest's terms only: the glossary under test never changes how anything is scored.
//! * Rows without a reference are skipped and counted, never scored as empty; so are rows tagged
//!   `possible-training-data` (sanity checks, not accuracy figures, per the eval README).
//! * Meetings (rows with `segments`) are their own groups (`meeting:<lang>`), scored whole text
//!   against whole hypothesis.

pub mod normalize;
pub mod report;
pub mod score;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use normalize::Normalizer;
pub use report::{GroupSummary, ItemResult, Report};
pub use score::{Counts, Metric};

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("reading manifest {path}: {source}")]
    Read {
        /// The manifest.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a manifest row.
    #[error("manifest {path}, line {line}: {source}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
    /// Nothing in it can be scored.
    #[error("manifest {path} has no row with a reference text")]
    Empty {
        /// The manifest.
        path: PathBuf,
    },
}

/// One row of a manifest, as the eval READMEs define it (unknown keys are ignored); the
/// `bench transcribe` command reads the same rows.
#[derive(Debug, Deserialize)]
pub struct ManifestRow {
    /// The row's id.
    pub id: String,
    /// The audio file, relative to the manifest.
    pub path: String,
    /// `en`, `zh`, `zh+en` …
    pub lang: String,
    /// The reference, `None` when the row has none.
    pub text: Option<String>,
    /// Glossary terms spoken in the row.
    #[serde(default)]
    pub terms: Vec<String>,
    /// Audio duration, seconds.
    #[serde(default)]
    pub duration_s: f64,
    /// Tags such as `possible-training-data`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Speaker turns of a multi-speaker recording.
    #[serde(default)]
    pub segments: Option<serde_json::Value>,
}

/// A scorable recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The row's id.
    pub id: String,
    /// The audio file (the row's `path` joined to the manifest's folder).
    pub audio: PathBuf,
    /// `en`, `zh`, `zh+en`, …
    pub lang: String,
    /// The reference transcript.
    pub text: String,
    /// Glossary terms that occur in `text` (empty outside the terminology set).
    pub terms: Vec<String>,
    /// Duration the manifest states, seconds (0 when absent).
    pub duration_s: f64,
    /// A multi-speaker meeting (a row with `segments`).
    pub meeting: bool,
    /// A meeting's reference by speaker: each speaker's turns joined, in order of first turn
    /// (for the speaker-attributed error, [`score::speaker_attributed`]); empty otherwise.
    pub speaker_texts: Vec<String>,
}

impl Item {
    /// The group the item is reported in: its language, or `meeting:<lang>` for meetings.
    pub fn group(&self) -> String {
        if self.meeting {
            format!("meeting:{}", self.lang)
        } else {
            self.lang.clone()
        }
    }

    /// Whether the item is spoken in more than one language (`zh+en`).
    pub fn code_switched(&self) -> bool {
        self.lang.contains('+')
    }
}

/// The scorable rows of a manifest, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Rows with a reference, in file order.
    pub items: Vec<Item>,
    /// Rows without a reference (`text: null`).
    pub without_reference: usize,
    /// Rows tagged `possible-training-data`.
    pub training_data: usize,
}

impl Manifest {
    /// Reads a JSON-lines manifest; audio paths are relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: ManifestRow = serde_json::from_str(line).map_err(|source| ManifestError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
            let Some(reference) = row.text.filter(|t| !t.trim().is_empty()) else {
                m.without_reference += 1;
                continue;
            };
            if row.tags.iter().any(|t| t == "possible-training-data") {
                m.training_data += 1;
                continue;
            }
            m.items.push(Item {
                id: row.id,
                audio: base.join(&row.path),
                lang: row.lang,
                text: reference,
                terms: row.terms,
                duration_s: row.duration_s,
                meeting: row.segments.is_some(),
                speaker_texts: row.segments.as_ref().map(speaker_texts).unwrap_or_default(),
            });
        }
        if m.items.is_empty() {
            return Err(ManifestError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(m)
    }

    /// Every term the manifest lists (for [`Normalizer::new`]).
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.items.iter().flat_map(|i| i.terms.iter().map(String::as_str))
    }
}

/// Each speaker's text from a row's `segments` (`[{"speaker": …, "text": …}, …]`), joined in
/// time order, speakers in order of first appearance; segments without both fields are skipped.
fn speaker_texts(segments: &serde_json::Value) -> Vec<String> {
    let mut by: Vec<(String, String)> = Vec::new();
    for seg in segments.as_array().into_iter().flatten() {
        let (Some(who), Some(text)) = (seg["speaker"].as_str(), seg["text"].as_str()) else {
            continue;
        };
        match by.iter_mut().find(|b| b.0 == who) {
            Some(b) => {
                b.1.push(' ');
                b.1.push_str(text);
            }
            None => by.push((who.to_string(), text.to_string())),
        }
    }
    by.into_iter().map(|b| b.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_keep_scorable_rows_and_say_what_they_left_out() {
        let dir = std::env::temp_dir().join(format!("asr-router-eval-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.jsonl");
        let rows = [
            r#"{"id": "a", "path": "audio/a.wav", "lang": "en", "text": "Run kubectl.", "terms": ["kubectl"], "extra": 1}"#,
            r#"{"id": "b", "path": "b.wav", "lang": "zh", "text": null}"#,
            r#"{"id": "c", "path": "c.wav", "lang": "zh", "text": "你好", "tags": ["possible-training-data"]}"#,
            "",
            r#"{"id": "m", "path": "meetings/m.wav", "lang": "zh+en", "text": "先过 PR 好 提了", "segments": [{"speaker": "A", "text": "先过 PR"}, {"speaker": "B", "text": "好"}, {"speaker": "A", "text": "提了"}, {"start": 1.0}]}"#,
        ];
        std::fs::write(&path, rows.join("\n")).unwrap();
        let m = Manifest::load(&path).unwrap();
        assert_eq!((m.without_reference, m.training_data), (1, 1));
        let ids: Vec<(&str, String)> = m.items.iter().map(|i| (i.id.as_str(), i.group())).collect();
        assert_eq!(ids, [("a", "en".to_string()), ("m", "meeting:zh+en".to_string())]);
        assert_eq!(m.items[0].audio, dir.join("audio/a.wav"));
        assert!(m.items[0].speaker_texts.is_empty());
        assert_eq!(m.items[1].speaker_texts, ["先过 PR 提了", "好"]);
        assert!(m.items[1].code_switched() && !m.items[0].code_switched());
        assert_eq!(m.terms().collect::<Vec<_>>(), ["kubectl"]);

        std::fs::write(&path, format!("{}\nnot json\n", rows[0])).unwrap();
        let e = Manifest::load(&path).unwrap_err();
        assert!(matches!(e, ManifestError::Parse { line: 2, .. }), "{e}");
        std::fs::write(&path, rows[1]).unwrap();
        assert!(matches!(Manifest::load(&path), Err(ManifestError::Empty { .. })));
        let e = Manifest::load(&dir.join("missing.jsonl")).unwrap_err();
        assert!(e.to_string().starts_with("reading manifest "), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
