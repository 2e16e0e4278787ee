//! A transcription request checked before any audio is decoded or any engine runs (in the manner
//! of TGI's `validation.rs`): the raw fields a client sent ([`TranscriptionParams`], strings as
//! they arrived) become a [`TranscriptionRequest`] with typed values, or a [`ValidationError`]
//! that names the field at fault. REST, the CLI and the bench all build requests this way.

use std::sync::Arc;

use crate::batch::formats::ResponseFormat;
use crate::config::ReviewMode;
use crate::engine::recognizer::Task;
use crate::finalize::ReviewFields;
use crate::review::Glossary;

/// The fields of a request as a client sent them, unchecked.
#[derive(Debug, Clone, Default)]
pub struct TranscriptionParams {
    /// Name of the audio file (the upload's file name, or the CLI's path); `None` when no file
    /// was sent.
    pub file: Option<String>,
    /// Model name or alias.
    pub model: Option<String>,
    /// ISO-639-1 language code.
    pub language: Option<String>,
    /// Text that biases the decoder.
    pub prompt: Option<String>,
    /// `json`, `text`, `srt`, `verbose_json` or `vtt` (default `json`).
    pub response_format: Option<String>,
    /// Sampling temperature, 0 to 1 (default 0).
    pub temperature: Option<String>,
    /// `word` and/or `segment`.
    pub timestamp_granularities: Vec<String>,
    /// OpenAI's `include[]` (`logprobs`): not supported.
    pub include: Vec<String>,
    /// Answer as server-sent events.
    pub stream: bool,
    /// `high` sends even short clips to the strong engine.
    pub quality: Option<String>,
    /// OpenAI's `keywords[]`: terms the review writes as given.
    pub keywords: Vec<String>,
    /// OpenAI's `languages[]`: the languages the audio may be in (detection picks among them).
    pub languages: Vec<String>,
    /// Extension: an inline glossary, JSON (the eval glossary schema, or a list of strings).
    pub glossary: Option<String>,
    /// Extension: a named glossary of the server's glossary folder.
    pub glossary_id: Option<String>,
    /// Extension: `none`, `glossary` or `llm`.
    pub review: Option<String>,
    /// Extension: `true`/`false`: decode Chinese finals again with the glossary as the
    /// decoder prompt (default: the server's `[review] glossary_prompt`).
    pub glossary_prompt: Option<String>,
    /// OpenAI's `known_speaker_names[]` (with `diarized_json`).
    pub known_speaker_names: Vec<String>,
    /// OpenAI's `known_speaker_references[]`: one audio clip per name, already taken out of its
    /// data URL (or upload) by the transport.
    pub known_speaker_references: Vec<Vec<u8>>,
}

/// Why a request was refused before any work was done. The message is OpenAI's where OpenAI
/// has one; [`ValidationError::param`] and [`ValidationError::code`] give its error fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A required field is missing (`model`, `file`).
    #[error("you must provide a {0} parameter")]
    Missing(&'static str),
    /// An unknown `response_format`.
    #[error(
        "Invalid value: '{0}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', 'vtt', and 'diarized_json'."
    )]
    ResponseFormat(String),
    /// A `temperature` that is no number in [0, 1].
    #[error("Invalid temperature '{0}': expected a number between 0 and 1.")]
    Temperature(String),
    /// A timestamp granularity other than `word` or `segment`.
    #[error("Invalid value: '{0}'. Supported values are: 'word' and 'segment'.")]
    TimestampGranularity(String),
    /// Any `include` value: no engine here reports logprobs.
    #[error("Invalid value: '{0}'. This server does not return logprobs, so no 'include' values are supported.")]
    Include(String),
    /// Timestamp granularities without `response_format=verbose_json`.
    #[error("timestamp_granularities requires response_format=verbose_json")]
    GranularitiesNeedVerboseJson,
    /// A `review` other than `none`, `glossary` or `llm`.
    #[error("Invalid value: '{0}'. Supported values are: 'none', 'glossary' and 'llm'.")]
    Review(String),
    /// A `glossary` that does not parse.
    #[error("Invalid glossary: {0}")]
    Glossary(String),
    /// A `glossary_prompt` other than `true` or `false`.
    #[error("Invalid value: '{0}'. Supported values are: 'true' and 'false'.")]
    GlossaryPrompt(String),
    /// A `languages` entry that is no language code.
    #[error("Invalid value: '{0}'. languages takes ISO-639-1 codes such as 'en' or 'zh'.")]
    Languages(String),
    /// `diarized_json` where it cannot be answered: a translation, or a stream.
    #[error("response_format=diarized_json {0}")]
    DiarizedJson(&'static str),
    /// Known speakers that are not one name per reference clip, or not `diarized_json`.
    #[error("{0}")]
    KnownSpeakers(String),
}

impl ValidationError {
    /// The request field at fault.
    pub fn param(&self) -> &'static str {
        match self {
            Self::Missing(field) => field,
            Self::ResponseFormat(_) => "response_format",
            Self::Temperature(_) => "temperature",
            Self::TimestampGranularity(_) | Self::GranularitiesNeedVerboseJson => "timestamp_granularities",
            Self::Include(_) => "include",
            Self::Review(_) => "review",
            Self::Glossary(_) => "glossary",
            Self::GlossaryPrompt(_) => "glossary_prompt",
            Self::Languages(_) => "languages",
            Self::DiarizedJson(_) => "response_format",
            Self::KnownSpeakers(_) => "known_speaker_names",
        }
    }

    /// OpenAI's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_required_parameter",
            _ => "invalid_value",
        }
    }
}

/// A checked request: every field typed and within range.
#[derive(Debug, Clone)]
pub struct TranscriptionRequest {
    file: String,
    model: String,
    language: Option<String>,
    prompt: Option<String>,
    task: Task,
    response_format: ResponseFormat,
    temperature: f32,
    word_timestamps: bool,
    stream: bool,
    quality_high: bool,
    languages: Vec<String>,
    review: ReviewFields,
    known_speakers: Vec<KnownSpeakerClip>,
}

/// A known speaker of a `diarized_json` request: the name the answer uses, and the bytes of a
/// short clip of their voice (any format the decoder reads).
#[derive(Debug, Clone)]
pub struct KnownSpeakerClip {
    /// The name.
    pub name: String,
    /// The encoded clip.
    pub audio: Arc<[u8]>,
}

/// Most known speakers a transcription may name (OpenAI's limit).
pub const MAX_KNOWN_SPEAKERS: usize = 4;

impl TranscriptionRequest {
    /// Checks `params` for `task`, fields in the order OpenAI reports them: model, file,
    /// response_format, temperature, timestamp_granularities, include. A translation has no
    /// source language (Whisper detects it).
    pub fn validate(params: TranscriptionParams, task: Task) -> Result<Self, ValidationError> {
        let model = params
            .model
            .filter(|m| !m.is_empty())
            .ok_or(ValidationError::Missing("model"))?;
        let file = params.file.ok_or(ValidationError::Missing("file"))?;
        let response_format = match params.response_format.as_deref() {
            None | Some("") => ResponseFormat::Json,
            Some(f) => ResponseFormat::parse(f).ok_or_else(|| ValidationError::ResponseFormat(f.to_string()))?,
        };
        let temperature = match params.temperature.as_deref() {
            None | Some("") => 0.0,
            Some(t) => t
                .parse::<f32>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| ValidationError::Temperature(t.to_string()))?,
        };
        if let Some(g) = params
            .timestamp_granularities
            .iter()
            .find(|g| *g != "word" && *g != "segment")
        {
            return Err(ValidationError::TimestampGranularity(g.clone()));
        }
        // OpenAI's only `include` value is `logprobs`, which no engine here reports: refuse it
        // rather than accept it and never send any.
        if let Some(i) = params.include.first() {
            return Err(ValidationError::Include(i.clone()));
        }
        if !params.timestamp_granularities.is_empty() && response_format != ResponseFormat::VerboseJson {
            return Err(ValidationError::GranularitiesNeedVerboseJson);
        }
        if response_format == ResponseFormat::DiarizedJson {
            if task == Task::Translate {
                return Err(ValidationError::DiarizedJson(
                    "is for transcriptions; translations have no speakers",
                ));
            }
            if params.stream {
                return Err(ValidationError::DiarizedJson(
                    "cannot be streamed: send stream=false (the answer comes whole)",
                ));
            }
        }
        let known_speakers = check_known_speakers(
            params.known_speaker_names,
            params.known_speaker_references,
            response_format,
        )?;
        let languages = check_languages(params.languages)?;
        let review = ReviewFields {
            mode: match params.review.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(r) => Some(parse_review(r).ok_or_else(|| ValidationError::Review(r.to_string()))?),
            },
            glossary: match params.glossary.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(g) => Some(Arc::new(
                    Glossary::from_json_str(g).map_err(|e| ValidationError::Glossary(e.to_string()))?,
                )),
            },
            glossary_id: params.glossary_id.filter(|g| !g.trim().is_empty()),
            keywords: params.keywords.into_iter().filter(|k| !k.trim().is_empty()).collect(),
            glossary_prompt: crate::finalize::bias::parse_switch(params.glossary_prompt.as_deref().unwrap_or(""))
                .map_err(ValidationError::GlossaryPrompt)?,
        };
        Ok(Self {
            file,
            model,
            language: match task {
                Task::Translate => None,
                Task::Transcribe => params.language.filter(|l| !l.is_empty()),
            },
            prompt: params.prompt,
            task,
            response_format,
            temperature,
            word_timestamps: params.timestamp_granularities.iter().any(|g| g == "word"),
            stream: params.stream,
            quality_high: params.quality.as_deref() == Some("high"),
            languages,
            review,
            known_speakers,
        })
    }

    /// The known speakers of a `diarized_json` request.
    pub fn known_speakers(&self) -> &[KnownSpeakerClip] {
        &self.known_speakers
    }

    /// The languages the audio may be in (empty: any).
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// The review asked for.
    pub fn review(&self) -> &ReviewFields {
        &self.review
    }

    /// The audio file's name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The requested model or alias.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The language asked for (`None`: the configured default, else detection).
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// The decoder prompt.
    pub fn prompt(&self) -> Option<&str> {
        self.prompt.as_deref()
    }

    /// Transcribe or translate.
    pub fn task(&self) -> Task {
        self.task
    }

    /// How the answer is written.
    pub fn response_format(&self) -> ResponseFormat {
        self.response_format
    }

    /// Sampling temperature, 0 to 1.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Whether word timestamps were asked for.
    pub fn word_timestamps(&self) -> bool {
        self.word_timestamps
    }

    /// Whether the answer streams as server-sent events.
    pub fn stream(&self) -> bool {
        self.stream
    }

    /// `quality=high`.
    pub fn quality_high(&self) -> bool {
        self.quality_high
    }
}

/// Known speakers: one reference clip per name, distinct printable names of at most 64
/// characters, at most [`MAX_KNOWN_SPEAKERS`], and only with `diarized_json`.
fn check_known_speakers(
    names: Vec<String>,
    clips: Vec<Vec<u8>>,
    format: ResponseFormat,
) -> Result<Vec<KnownSpeakerClip>, ValidationError> {
    let bad = |m: String| Err(ValidationError::KnownSpeakers(m));
    if names.is_empty() && clips.is_empty() {
        return Ok(Vec::new());
    }
    if format != ResponseFormat::DiarizedJson {
        return bad("known_speaker_names[] and known_speaker_references[] need response_format=diarized_json".into());
    }
    if names.len() != clips.len() {
        return bad(format!(
            "{} known_speaker_names[] but {} known_speaker_references[]: give one clip per name",
            names.len(),
            clips.len()
        ));
    }
    if names.len() > MAX_KNOWN_SPEAKERS {
        return bad(format!(
            "at most {MAX_KNOWN_SPEAKERS} known speakers, got {}",
            names.len()
        ));
    }
    let mut out: Vec<KnownSpeakerClip> = Vec::new();
    for (name, audio) in names.into_iter().zip(clips) {
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return bad(format!("speaker name {name:?} must be 1 to 64 printable characters"));
        }
        if out.iter().any(|k| k.name.to_lowercase() == name.to_lowercase()) {
            return bad(format!("speaker name {name:?} is given twice"));
        }
        if audio.is_empty() {
            return bad(format!("the reference clip of {name:?} is empty"));
        }
        out.push(KnownSpeakerClip {
            name,
            audio: audio.into(),
        });
    }
    Ok(out)
}

/// `none` | `glossary` | `llm`.
pub fn parse_review(s: &str) -> Option<ReviewMode> {
    Some(match s {
        "none" => ReviewMode::None,
        "glossary" => ReviewMode::Glossary,
        "llm" => ReviewMode::Llm,
        _ => return None,
    })
}

/// `languages[]`: ISO-639 codes (2–3 letters, an optional region), lower-cased, duplicates dropped.
pub fn check_languages(languages: Vec<String>) -> Result<Vec<String>, ValidationError> {
    let mut out: Vec<String> = Vec::new();
    for l in languages {
        let t = l.trim();
        let primary = t.split(['-', '_']).next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ValidationError::Languages(l));
        }
        let code = primary.to_ascii_lowercase();
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(fields: &[(&str, &str)]) -> TranscriptionParams {
        let mut p = TranscriptionParams {
            file: Some("a.wav".into()),
            ..Default::default()
        };
        for (k, v) in fields {
            let v = v.to_string();
            match *k {
                "file" => p.file = None,
                "model" => p.model = Some(v),
                "language" => p.language = Some(v),
                "prompt" => p.prompt = Some(v),
                "response_format" => p.response_format = Some(v),
                "temperature" => p.temperature = Some(v),
                "timestamp_granularities" => p.timestamp_granularities.push(v),
                "include" => p.include.push(v),
                "stream" => p.stream = true,
                "quality" => p.quality = Some(v),
                "keywords" => p.keywords.push(v),
                "languages" => p.languages.push(v),
                "glossary" => p.glossary = Some(v),
                "glossary_id" => p.glossary_id = Some(v),
                "review" => p.review = Some(v),
                "glossary_prompt" => p.glossary_prompt = Some(v),
                "known_speaker_names" => p.known_speaker_names.push(v),
                "known_speaker_references" => p.known_speaker_references.push(v.into_bytes()),
                other => panic!("no field {other}"),
            }
        }
        p
    }

    fn refused(fields: &[(&str, &str)]) -> ValidationError {
        TranscriptionRequest::validate(params(fields), Task::Transcribe).unwrap_err()
    }

    #[test]
    fn refusals_name_the_field_in_openais_order() {
        // no model and no file: the model is reported first
        let e = refused(&[("file", "")]);
        assert_eq!((e.param(), e.code()), ("model", "missing_required_parameter"));
        assert_eq!(e.to_string(), "you must provide a model parameter");
        assert_eq!(refused(&[("model", "")]), ValidationError::Missing("model"));
        let e = refused(&[("model", "auto"), ("file", ""), ("response_format", "xml")]);
        assert_eq!((e.param(), e.code()), ("file", "missing_required_parameter"));

        for (fields, param, message) in [
            (
                &[("response_format", "xml"), ("temperature", "hot")][..],
                "response_format",
                "Invalid value: 'xml'. Supported values are: 'json', 'text', 'srt', 'verbose_json', 'vtt', and 'diarized_json'.",
            ),
            (
                &[("temperature", "hot")][..],
                "temperature",
                "Invalid temperature 'hot': expected a number between 0 and 1.",
            ),
            (
                &[("temperature", "1.5")][..],
                "temperature",
                "Invalid temperature '1.5': expected a number between 0 and 1.",
            ),
            (
                &[("timestamp_granularities", "char"), ("include", "logprobs")][..],
                "timestamp_granularities",
                "Invalid value: 'char'. Supported values are: 'word' and 'segment'.",
            ),
            (
                &[("include", "logprobs")][..],
                "include",
                "Invalid value: 'logprobs'. This server does not return logprobs, so no 'include' values are supported.",
            ),
            (
                &[("timestamp_granularities", "word"), ("response_format", "json")][..],
                "timestamp_granularities",
                "timestamp_granularities requires response_format=verbose_json",
            ),
            (
                &[("review", "gpt")][..],
                "review",
                "Invalid value: 'gpt'. Supported values are: 'none', 'glossary' and 'llm'.",
            ),
            (
                &[("languages", "english")][..],
                "languages",
                "Invalid value: 'english'. languages takes ISO-639-1 codes such as 'en' or 'zh'.",
            ),
            (
                &[("languages", "z1")][..],
                "languages",
                "Invalid value: 'z1'. languages takes ISO-639-1 codes such as 'en' or 'zh'.",
            ),
        ] {
            let mut all = vec![("model", "auto")];
            all.extend_from_slice(fields);
            let e = refused(&all);
            assert_eq!(
                (e.param(), e.code(), e.to_string().as_str()),
                (param, "invalid_value", message)
            );
        }
    }

    #[test]
    fn a_valid_request_has_typed_fields_and_defaults() {
        let r = TranscriptionRequest::validate(params(&[("model", "whisper-1")]), Task::Transcribe).unwrap();
        assert_eq!((r.model(), r.file()), ("whisper-1", "a.wav"));
        assert_eq!(r.response_format(), ResponseFormat::Json);
        assert_eq!(r.temperature(), 0.0);
        assert!(!r.word_timestamps() && !r.stream() && !r.quality_high());
        assert_eq!((r.language(), r.prompt()), (None, None));

        let r = TranscriptionRequest::validate(
            params(&[
                ("model", "auto"),
                ("language", "de"),
                ("prompt", "Hallo"),
                ("response_format", "verbose_json"),
                ("temperature", "0.4"),
                ("timestamp_granularities", "segment"),
                ("timestamp_granularities", "word"),
                ("stream", ""),
                ("quality", "high"),
            ]),
            Task::Transcribe,
        )
        .unwrap();
        assert_eq!((r.language(), r.prompt()), (Some("de"), Some("Hallo")));
        assert_eq!(r.response_format(), ResponseFormat::VerboseJson);
        assert_eq!(r.temperature(), 0.4);
        assert!(r.word_timestamps() && r.stream() && r.quality_high());
        assert_eq!(r.task(), Task::Transcribe);

        // segments alone are no word timestamps; other quality values are the default
        let r = TranscriptionRequest::validate(
            params(&[
                ("model", "auto"),
                ("response_format", "verbose_json"),
                ("timestamp_granularities", "segment"),
                ("quality", "best"),
            ]),
            Task::Transcribe,
        )
        .unwrap();
        assert!(!r.word_timestamps() && !r.quality_high());

        // a translation has no source language
        let r =
            TranscriptionRequest::validate(params(&[("model", "auto"), ("language", "de")]), Task::Translate).unwrap();
        assert_eq!((r.task(), r.language()), (Task::Translate, None));
    }

    #[test]
    fn diarized_json_is_for_whole_transcriptions_and_known_speakers_pair_up() {
        let d = [("model", "auto"), ("response_format", "diarized_json")];
        let r = TranscriptionRequest::validate(params(&d), Task::Transcribe).unwrap();
        assert_eq!(r.response_format(), ResponseFormat::DiarizedJson);
        assert!(r.known_speakers().is_empty());
        let e = TranscriptionRequest::validate(params(&d), Task::Translate).unwrap_err();
        assert_eq!(e.param(), "response_format");
        assert!(e.to_string().contains("translations have no speakers"), "{e}");
        let e = refused(&[d[0], d[1], ("stream", "")]);
        assert_eq!(e.param(), "response_format");
        assert!(e.to_string().contains("cannot be streamed"), "{e}");
        let e = refused(&[d[0], d[1], ("timestamp_granularities", "word")]);
        assert_eq!(e.param(), "timestamp_granularities");

        let r = TranscriptionRequest::validate(
            params(&[
                d[0],
                d[1],
                ("known_speaker_names", " agent "),
                ("known_speaker_references", "RIFF"),
            ]),
            Task::Transcribe,
        )
        .unwrap();
        assert_eq!(r.known_speakers().len(), 1);
        assert_eq!(
            (r.known_speakers()[0].name.as_str(), &r.known_speakers()[0].audio[..]),
            ("agent", &b"RIFF"[..])
        );
        for (fields, says) in [
            (
                &[("known_speaker_names", "a"), ("known_speaker_references", "x")][..],
                "need response_format=diarized_json",
            ),
            (
                &[d[1], ("known_speaker_names", "a")][..],
                "1 known_speaker_names[] but 0",
            ),
            (
                &[
                    d[1],
                    ("known_speaker_names", "Ana"),
                    ("known_speaker_names", "ana"),
                    ("known_speaker_references", "x"),
                    ("known_speaker_references", "y"),
                ][..],
                "given twice",
            ),
            (
                &[d[1], ("known_speaker_names", " "), ("known_speaker_references", "x")][..],
                "printable",
            ),
            (
                &[d[1], ("known_speaker_names", "a"), ("known_speaker_references", "")][..],
                "is empty",
            ),
        ] {
            let mut all = vec![("model", "auto")];
            all.extend_from_slice(fields);
            let e = refused(&all);
            assert_eq!((e.param(), e.code()), ("known_speaker_names", "invalid_value"), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn review_fields_are_checked_before_any_audio() {
        let e = refused(&[("model", "auto"), ("glossary", "{\"term\": ")]);
        assert_eq!((e.param(), e.code()), ("glossary", "invalid_value"));
        assert!(e.to_string().starts_with("Invalid glossary: "), "{e}");

        let r = TranscriptionRequest::validate(
            params(&[
                ("model", "auto"),
                ("review", "llm"),
                ("glossary", r#"[{"term": "Kubernetes", "aliases": ["k8s"]}, "Grafana"]"#),
                ("glossary_id", "team"),
                ("keywords", "SenseVoice"),
                ("keywords", " "),
                ("languages", "zh"),
                ("languages", "EN-us"),
                ("languages", "zh"),
            ]),
            Task::Transcribe,
        )
        .unwrap();
        assert_eq!(r.languages(), ["zh", "en"]);
        let f = r.review();
        assert_eq!(f.mode, Some(ReviewMode::Llm));
        assert_eq!(f.glossary.as_ref().map(|g| g.len()), Some(2));
        assert_eq!(
            (f.glossary_id.as_deref(), f.keywords.as_slice()),
            (Some("team"), &["SenseVoice".to_string()][..])
        );

        let r = TranscriptionRequest::validate(params(&[("model", "auto")]), Task::Transcribe).unwrap();
        assert!(r.review().mode.is_none() && r.review().glossary.is_none() && r.languages().is_empty());
        assert_eq!(r.review().glossary_prompt, None, "the server's default");

        let r = TranscriptionRequest::validate(
            params(&[("model", "auto"), ("glossary_prompt", "false")]),
            Task::Transcribe,
        );
        assert_eq!(r.unwrap().review().glossary_prompt, Some(false));
        let e = refused(&[("model", "auto"), ("glossary_prompt", "maybe")]);
        assert_eq!((e.param(), e.code()), ("glossary_prompt", "invalid_value"));
    }
}
