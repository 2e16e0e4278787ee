//! A meeting job's checked parameters: what the request asked for, validated before the job is
//! accepted (TGI's `validation.rs` idea), and stored with the job so that a resumed job runs
//! exactly as it was asked to.
//!
//! Invariant: a [`MeetingParams`] that [`MeetingParams::check`] accepted is runnable as far as
//! the request can tell (speaker bounds consistent, names and reference clips paired, review mode
//! known); what only the server knows (an unknown `glossary_id`, `review=llm` without an LLM) is
//! checked by the pipeline's [`plan`](crate::finalize::SecondPass::plan) at submission too.

use serde::{Deserialize, Serialize};

use crate::config::ReviewMode;

/// Most speakers a meeting may be asked for.
pub const MAX_SPEAKERS: usize = 32;
/// Most known speakers with reference clips.
pub const MAX_KNOWN_SPEAKERS: usize = 8;

/// What a meeting job is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeetingParams {
    /// The recording's file name inside the job folder.
    pub input: String,
    /// The language (ISO-639-1), `None` to detect it per turn.
    pub language: Option<String>,
    /// The languages the meeting may be in (OpenAI's `languages`): detection picks among them.
    pub languages: Vec<String>,
    /// Inline glossary (the eval glossary schema), as given.
    pub glossary: Option<serde_json::Value>,
    /// A named glossary of the server's glossary folder.
    pub glossary_id: Option<String>,
    /// OpenAI's `keywords`: terms without aliases.
    pub keywords: Vec<String>,
    /// The review; `None` takes the server's default.
    pub review: Option<ReviewMode>,
    /// Whether Chinese pieces are decoded again with the glossary as the decoder prompt
    /// (`crate::finalize::bias`); `None` takes the server's `[review] glossary_prompt`.
    pub glossary_prompt: Option<bool>,
    /// The model to transcribe with (`auto`: the strong engine for the language).
    pub model: String,
    /// Exactly this many speakers.
    pub speakers: Option<usize>,
    /// At least this many speakers.
    pub min_speakers: Option<usize>,
    /// At most this many speakers.
    pub max_speakers: Option<usize>,
    /// Known speakers: a name and the file name of its reference clip inside the job folder.
    pub known_speakers: Vec<KnownSpeaker>,
}

/// A speaker the caller can name, with a short reference clip of their voice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownSpeaker {
    /// The name used in the outputs.
    pub name: String,
    /// The clip's file name inside the job folder.
    pub reference: String,
}

/// A parameter the request got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// The request field at fault.
    pub param: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ParamError {
    fn new(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            param,
            message: message.into(),
        }
    }
}

impl MeetingParams {
    /// Checks what the request alone can tell.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.input.is_empty() {
            return Err(ParamError::new("file", "a meeting needs a recording in 'file'"));
        }
        let bound = |param, v: Option<usize>| match v {
            Some(0) => Err(ParamError::new(param, format!("'{param}' must be at least 1"))),
            Some(n) if n > MAX_SPEAKERS => Err(ParamError::new(
                param,
                format!("'{param}' is {n}; at most {MAX_SPEAKERS} speakers are supported"),
            )),
            _ => Ok(()),
        };
        bound("speakers", self.speakers)?;
        bound("min_speakers", self.min_speakers)?;
        bound("max_speakers", self.max_speakers)?;
        if let (Some(lo), Some(hi)) = (self.min_speakers, self.max_speakers)
            && lo > hi
        {
            return Err(ParamError::new(
                "min_speakers",
                format!("'min_speakers' ({lo}) is above 'max_speakers' ({hi})"),
            ));
        }
        if let Some(n) = self.speakers
            && (self.min_speakers.is_some_and(|lo| n < lo) || self.max_speakers.is_some_and(|hi| n > hi))
        {
            return Err(ParamError::new(
                "speakers",
                format!("'speakers' ({n}) is outside 'min_speakers'..'max_speakers'"),
            ));
        }
        if self.known_speakers.len() > MAX_KNOWN_SPEAKERS {
            return Err(ParamError::new(
                "known_speaker_names",
                format!(
                    "at most {MAX_KNOWN_SPEAKERS} known speakers, got {}",
                    self.known_speakers.len()
                ),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for k in &self.known_speakers {
            let name = k.name.trim();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(ParamError::new(
                    "known_speaker_names",
                    format!("speaker name {:?} must be 1 to 64 printable characters", k.name),
                ));
            }
            if !names.insert(name.to_lowercase()) {
                return Err(ParamError::new(
                    "known_speaker_names",
                    format!("speaker name {name:?} is given twice"),
                ));
            }
        }
        if let Some(n) = self.speakers
            && self.known_speakers.len() > n
        {
            return Err(ParamError::new(
                "known_speaker_names",
                format!("{} known speakers but 'speakers' is {n}", self.known_speakers.len()),
            ));
        }
        for l in self.language.iter().chain(&self.languages) {
            if l.len() < 2 || l.len() > 3 || !l.chars().all(|c| c.is_ascii_lowercase()) {
                let param = if Some(l) == self.language.as_ref() {
                    "language"
                } else {
                    "languages"
                };
                return Err(ParamError::new(
                    param,
                    format!("{l:?} is not an ISO-639-1 language code such as 'en' or 'zh'"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> MeetingParams {
        MeetingParams {
            input: "input.wav".into(),
            ..Default::default()
        }
    }

    #[test]
    fn speaker_bounds_are_checked_against_each_other() {
        type Case = (Option<usize>, Option<usize>, Option<usize>, Option<&'static str>);
        let cases: &[Case] = &[
            (None, None, None, None),
            (Some(3), None, None, None),
            (Some(0), None, None, Some("speakers")),
            (Some(33), None, None, Some("speakers")),
            (None, Some(2), Some(4), None),
            (None, Some(5), Some(4), Some("min_speakers")),
            (Some(5), Some(2), Some(4), Some("speakers")),
            (Some(1), Some(2), None, Some("speakers")),
            (None, None, Some(0), Some("max_speakers")),
        ];
        for &(speakers, min_speakers, max_speakers, want) in cases {
            let p = MeetingParams {
                speakers,
                min_speakers,
                max_speakers,
                ..params()
            };
            assert_eq!(
                p.check().err().map(|e| e.param),
                want,
                "{speakers:?} {min_speakers:?} {max_speakers:?}"
            );
        }
    }

    #[test]
    fn known_speakers_need_distinct_printable_names_within_the_count() {
        let known = |names: &[&str]| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| KnownSpeaker {
                    name: n.to_string(),
                    reference: format!("ref{i}.wav"),
                })
                .collect::<Vec<_>>()
        };
        let ok = MeetingParams {
            known_speakers: known(&["Ana", "Bo"]),
            ..params()
        };
        assert_eq!(ok.check(), Ok(()));
        for (names, speakers) in [
            (&["Ana", "ana"][..], None),
            (&[" "][..], None),
            (&["a\u{7}"][..], None),
            (&["Ana", "Bo", "Cy"][..], Some(2)),
        ] {
            let p = MeetingParams {
                known_speakers: known(names),
                speakers,
                ..params()
            };
            assert_eq!(p.check().unwrap_err().param, "known_speaker_names", "{names:?}");
        }
    }

    #[test]
    fn a_recording_and_language_codes_are_required_forms() {
        assert_eq!(MeetingParams::default().check().unwrap_err().param, "file");
        let p = MeetingParams {
            language: Some("English".into()),
            ..params()
        };
        assert_eq!(p.check().unwrap_err().param, "language");
        let p = MeetingParams {
            languages: vec!["zh".into(), "EN".into()],
            ..params()
        };
        assert_eq!(p.check().unwrap_err().param, "languages");
    }

    #[test]
    fn stored_params_round_trip_and_refuse_unknown_keys() {
        let p = MeetingParams {
            speakers: Some(2),
            review: Some(ReviewMode::Glossary),
            known_speakers: vec![KnownSpeaker {
                name: "Ana".into(),
                reference: "ref0.wav".into(),
            }],
            ..params()
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(serde_json::from_value::<MeetingParams>(v).unwrap(), p);
        assert!(serde_json::from_value::<MeetingParams>(serde_json::json!({"input": "x", "speaker": 2})).is_err());
    }
}
