//! [`SessionConfig`]: the effective configuration of one transcription session, with OpenAI's
//! defaults, and the session objects that report it to the client.
//!
//! A session starts from [`SessionConfig::default`] (or [`SessionConfig::with_model`]): PCM16 at
//! 24 kHz, `server_vad` with threshold 0.5, 300 ms prefix padding and 500 ms silence, no noise
//! reduction, no `include`. It changes only through the updates of `update.rs`. The session reads
//! its audio format, transcription settings and VAD parameters from it;
//! [`TurnDetection::effective_vad`] maps `semantic_vad` onto the server VAD.
//!
//! After every update the server echoes the whole configuration as a session object, in the
//! dialect of the update:
//! * GA, for `session.created|updated`: [`SessionConfig::to_ga_json`], nested `audio.input.*`;
//! * beta, for `transcription_session.created|updated`: [`SessionConfig::to_beta_json`], flat
//!   `input_audio_*` fields, a `client_secret` placeholder, and a `model` limited to the beta
//!   schema's enum (any other configured name travels in the extension `router_model`).
//!
//! The transcription settings also hold the second pass's extensions (`glossary`, `glossary_id`,
//! `review`); [`TranscriptionConfig::review_fields`] hands them, with OpenAI's `keywords`, to
//! the finalizer. `glossary_id` and `review` are echoed when set, the inline glossary never.
//! The extensions `diarization` (live speaker labels) and `glossary_prompt` are echoed when set.
//!
//! Invariants: both objects fit the official SDKs' session models (an unset optional field is
//! omitted or `null` where the schema says so); an echoed beta transcription object sent back as
//! an update keeps the configured model; `include` is always empty (see [`INCLUDE_LOGPROBS`]).

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Eagerness, NoiseReduction, OpusContainer, TranscriptionDelay};
use crate::config::ReviewMode;
use crate::finalize::ReviewFields;
use crate::review::{Glossary, GlossaryError};

/// Effective input audio format of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// PCM16 little-endian mono at `rate` Hz (24000, or 16000 as an extension).
    Pcm16 {
        /// Sample rate in Hz.
        rate: u32,
    },
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// Opus (extension), decoded at 48 kHz.
    Opus {
        /// Framing of the appended bytes.
        container: OpusContainer,
    },
}

impl Default for AudioFormat {
    fn default() -> Self {
        AudioFormat::Pcm16 { rate: 24_000 }
    }
}

impl AudioFormat {
    /// PCM sample rates accepted for `audio/pcm` (24000 is OpenAI's; 16000 is our extension).
    pub const PCM_RATES: [u32; 2] = [24_000, 16_000];

    /// Sample rate of the decoded audio in Hz.
    pub fn sample_rate(&self) -> u32 {
        match self {
            AudioFormat::Pcm16 { rate } => *rate,
            AudioFormat::Pcmu | AudioFormat::Pcma => 8_000,
            AudioFormat::Opus { .. } => 48_000,
        }
    }

    /// GA `format` object, e.g. `{"type":"audio/pcm","rate":24000}`.
    pub fn to_ga_json(&self) -> Value {
        match self {
            AudioFormat::Pcm16 { rate } => json!({"type": "audio/pcm", "rate": rate}),
            AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
            AudioFormat::Pcma => json!({"type": "audio/pcma"}),
            AudioFormat::Opus { container } => {
                json!({"type": "audio/opus", "container": container.as_str()})
            }
        }
    }

    /// Beta `input_audio_format` string (`pcm16` for any PCM rate; `opus` for the extension).
    pub fn beta_name(&self) -> &'static str {
        match self {
            AudioFormat::Pcm16 { .. } => "pcm16",
            AudioFormat::Pcmu => "g711_ulaw",
            AudioFormat::Pcma => "g711_alaw",
            AudioFormat::Opus { .. } => "opus",
        }
    }
}

/// Transcription settings (`audio.input.transcription` / beta `input_audio_transcription`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TranscriptionConfig {
    /// Model name; `None` ⇒ the server's default.
    pub model: Option<String>,
    /// ISO-639-1 language hint; `None` ⇒ auto-detect. An empty string is stored as `None`.
    pub language: Option<String>,
    /// Prompt / context text. An empty string is stored as `None`.
    pub prompt: Option<String>,
    /// Newer `languages[]` hint list.
    pub languages: Option<Vec<String>>,
    /// Newer `keywords[]` (hotwords) list.
    pub keywords: Option<Vec<String>>,
    /// `delay` knob (gpt-realtime-whisper).
    pub delay: Option<TranscriptionDelay>,
    /// Extension `glossary`: terms for the review, inline (not echoed).
    pub glossary: Option<InlineGlossary>,
    /// Extension `glossary_id`: a named glossary of the server's glossary folder.
    pub glossary_id: Option<String>,
    /// Extension `review`: which reviewers run (`None` ⇒ the server's default).
    pub review: Option<ReviewMode>,
    /// Extension `diarization`: label each completed item with a speaker, kept consistent
    /// across the session (`conversation.item.input_audio_transcription.segment` events).
    /// `None` ⇒ off.
    pub diarization: Option<bool>,
    /// Extension `glossary_prompt`: decode a final once more with the glossary's Latin terms as
    /// the decoder prompt (`crate::finalize::bias`).
    /// `None` ⇒ the server's `[review] glossary_prompt`.
    pub glossary_prompt: Option<bool>,
}

impl TranscriptionConfig {
    /// Whether the session labels its items with speakers (the `diarization` extension).
    pub fn diarization(&self) -> bool {
        self.diarization == Some(true)
    }

    /// The review these settings ask for, for [`crate::finalize::SecondPass::plan`]: the
    /// extensions, and OpenAI's `keywords` as terms without aliases.
    pub fn review_fields(&self) -> ReviewFields {
        ReviewFields {
            mode: self.review,
            glossary: self.glossary.as_ref().map(|g| g.parsed.clone()),
            glossary_id: self.glossary_id.clone(),
            keywords: self
                .keywords
                .iter()
                .flatten()
                .filter(|k| !k.trim().is_empty())
                .cloned()
                .collect(),
            glossary_prompt: self.glossary_prompt,
        }
    }
}

/// An inline `glossary` as the client sent it (the eval glossary schema: objects with `term`,
/// `aliases`, `misrecognitions`, `lang`, or plain strings) and parsed. Two are equal when their
/// JSON is; it serializes back to that JSON, so an update survives a round trip.
#[derive(Clone)]
pub struct InlineGlossary {
    /// The array as sent.
    pub json: Value,
    /// The parsed glossary.
    pub parsed: Arc<Glossary>,
}

impl InlineGlossary {
    /// Parses `json`, an array of glossary rows.
    pub fn from_json(json: Value) -> Result<Self, GlossaryError> {
        let parsed = Arc::new(Glossary::from_json_str(&json.to_string())?);
        Ok(Self { json, parsed })
    }
}

impl PartialEq for InlineGlossary {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl std::fmt::Debug for InlineGlossary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InlineGlossary({} terms)", self.parsed.len())
    }
}

impl Serialize for InlineGlossary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

/// `server_vad` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerVad {
    /// Speech probability threshold, 0..=1 (default 0.5).
    pub threshold: f64,
    /// Audio kept before detected speech start, ms (default 300).
    pub prefix_padding_ms: u32,
    /// Silence that ends a turn, ms (default 500).
    pub silence_duration_ms: u32,
    /// Commit + `timeout_triggered` after this much silence without speech, ms.
    pub idle_timeout_ms: Option<u32>,
    /// Echoed only; transcription sessions never create responses.
    pub create_response: Option<bool>,
    /// Echoed only.
    pub interrupt_response: Option<bool>,
}

impl Default for ServerVad {
    fn default() -> Self {
        ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            idle_timeout_ms: None,
            create_response: None,
            interrupt_response: None,
        }
    }
}

/// `semantic_vad` parameters (mapped onto a silence timeout, see [`Eagerness`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticVad {
    /// Eagerness (default `auto`).
    pub eagerness: Eagerness,
    /// Echoed only.
    pub create_response: Option<bool>,
    /// Echoed only.
    pub interrupt_response: Option<bool>,
}

impl Default for SemanticVad {
    fn default() -> Self {
        SemanticVad {
            eagerness: Eagerness::Auto,
            create_response: None,
            interrupt_response: None,
        }
    }
}

/// Turn detection mode.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnDetection {
    /// Energy/neural VAD with explicit parameters.
    ServerVad(ServerVad),
    /// "Semantic" VAD; we run the server VAD with threshold 0.5, prefix 300 ms and the
    /// silence timeout from [`Eagerness::silence_duration_ms`].
    SemanticVad(SemanticVad),
    /// `turn_detection: null`: the client commits turns with `input_audio_buffer.commit`.
    Manual,
}

impl Default for TurnDetection {
    fn default() -> Self {
        TurnDetection::ServerVad(ServerVad::default())
    }
}

impl TurnDetection {
    /// The VAD parameters to run (`None` for manual commit). Semantic VAD is mapped to
    /// server VAD defaults with the eagerness-derived silence timeout.
    pub fn effective_vad(&self) -> Option<ServerVad> {
        match self {
            TurnDetection::ServerVad(v) => Some(v.clone()),
            TurnDetection::SemanticVad(s) => Some(ServerVad {
                silence_duration_ms: s.eagerness.silence_duration_ms(),
                ..ServerVad::default()
            }),
            TurnDetection::Manual => None,
        }
    }

    /// Wire object (`null` for manual).
    pub fn to_json(&self) -> Value {
        match self {
            TurnDetection::ServerVad(v) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("server_vad"));
                m.insert("threshold".into(), json!(v.threshold));
                m.insert("prefix_padding_ms".into(), json!(v.prefix_padding_ms));
                m.insert("silence_duration_ms".into(), json!(v.silence_duration_ms));
                if let Some(ms) = v.idle_timeout_ms {
                    m.insert("idle_timeout_ms".into(), json!(ms));
                }
                if let Some(b) = v.create_response {
                    m.insert("create_response".into(), json!(b));
                }
                if let Some(b) = v.interrupt_response {
                    m.insert("interrupt_response".into(), json!(b));
                }
                Value::Object(m)
            }
            TurnDetection::SemanticVad(s) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("semantic_vad"));
                m.insert("eagerness".into(), json!(s.eagerness.as_str()));
                if let Some(b) = s.create_response {
                    m.insert("create_response".into(), json!(b));
                }
                if let Some(b) = s.interrupt_response {
                    m.insert("interrupt_response".into(), json!(b));
                }
                Value::Object(m)
            }
            TurnDetection::Manual => Value::Null,
        }
    }
}

/// OpenAI's only `include` entry. Refused (`invalid_value`): our engines do not report token
/// logprobs, and accepting it would promise `logprobs` that never come.
pub const INCLUDE_LOGPROBS: &str = "item.input_audio_transcription.logprobs";

/// The models the beta `input_audio_transcription.model` enumerates (the SDK's
/// `TranscriptionSession` rejects any other string).
pub const BETA_TRANSCRIPTION_MODELS: [&str; 3] = ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1"];

/// Effective configuration of one transcription session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionConfig {
    /// Input audio format.
    pub format: AudioFormat,
    /// Transcription settings.
    pub transcription: TranscriptionConfig,
    /// Turn detection mode.
    pub turn_detection: TurnDetection,
    /// Noise reduction (`None` = off, OpenAI's default).
    pub noise_reduction: Option<NoiseReduction>,
    /// `include` entries. Always empty: [`INCLUDE_LOGPROBS`], OpenAI's only entry, is refused.
    pub include: Vec<String>,
    /// Extension: interval between partial decodes of the open utterance, ms.
    /// `None` ⇒ server default; `Some(0)` ⇒ no partial deltas.
    pub partial_interval_ms: Option<u32>,
}

impl SessionConfig {
    /// Default configuration with the given default transcription model.
    pub fn with_model(model: impl Into<String>) -> Self {
        let mut c = SessionConfig::default();
        c.transcription.model = Some(model.into());
        c
    }

    /// Sample rate of the decoded input audio in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.format.sample_rate()
    }

    /// True if the client asked for logprobs (never, since the option is refused).
    pub fn include_logprobs(&self) -> bool {
        self.include.iter().any(|s| s == INCLUDE_LOGPROBS)
    }

    fn transcription_json(&self) -> Value {
        let t = &self.transcription;
        let mut m = Map::new();
        m.insert("model".into(), json!(t.model));
        m.insert("language".into(), json!(t.language));
        m.insert("prompt".into(), json!(t.prompt.as_deref().unwrap_or("")));
        if let Some(l) = &t.languages {
            m.insert("languages".into(), json!(l));
        }
        if let Some(k) = &t.keywords {
            m.insert("keywords".into(), json!(k));
        }
        if let Some(d) = t.delay {
            m.insert("delay".into(), json!(d.as_str()));
        }
        // The inline glossary is not echoed (it can be large, and the client has it).
        if let Some(g) = &t.glossary_id {
            m.insert("glossary_id".into(), json!(g));
        }
        if let Some(r) = t.review {
            m.insert("review".into(), json!(r));
        }
        if let Some(d) = t.diarization {
            m.insert("diarization".into(), json!(d));
        }
        if let Some(g) = t.glossary_prompt {
            m.insert("glossary_prompt".into(), json!(g));
        }
        Value::Object(m)
    }

    fn include_json(&self) -> Value {
        if self.include.is_empty() {
            Value::Null
        } else {
            json!(self.include)
        }
    }

    fn noise_reduction_json(&self) -> Value {
        match self.noise_reduction {
            Some(n) => json!({"type": n.as_str()}),
            None => Value::Null,
        }
    }

    /// GA session object for `session.created` / `session.updated`:
    /// `{"type":"transcription","id":…,"object":"realtime.transcription_session",
    /// "expires_at":…,"audio":{"input":{format,noise_reduction,transcription,turn_detection}},
    /// "include":…}` (+ `partial_interval_ms` when set).
    pub fn to_ga_json(&self, session_id: &str, expires_at: u64) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!("transcription"));
        m.insert("id".into(), json!(session_id));
        m.insert("object".into(), json!("realtime.transcription_session"));
        m.insert("expires_at".into(), json!(expires_at));
        m.insert(
            "audio".into(),
            json!({"input": {
                "format": self.format.to_ga_json(),
                "noise_reduction": self.noise_reduction_json(),
                "transcription": self.transcription_json(),
                "turn_detection": self.turn_detection.to_json(),
            }}),
        );
        m.insert("include".into(), self.include_json());
        if let Some(p) = self.partial_interval_ms {
            m.insert("partial_interval_ms".into(), json!(p));
        }
        Value::Object(m)
    }

    /// Beta `input_audio_transcription`: `model` is one of [`BETA_TRANSCRIPTION_MODELS`] or
    /// `null`; any other configured name (`auto`, an engine, another OpenAI alias) is `null` there
    /// and goes in the extension `router_model`, so the object stays valid for the beta schema and
    /// sending it back unchanged keeps the configuration.
    fn beta_transcription_json(&self) -> Value {
        let mut v = self.transcription_json();
        if let Some(m) = self.transcription.model.as_deref()
            && !BETA_TRANSCRIPTION_MODELS.contains(&m)
        {
            v["model"] = Value::Null;
            v["router_model"] = json!(m);
        }
        v
    }

    /// Beta (flat) session object for `transcription_session.created|updated`.
    ///
    /// `client_secret` is required by the beta schema but only exists for sessions minted over
    /// REST (`POST /v1/realtime/transcription_sessions` overwrites it with the real one); a socket
    /// session has none, which is written `{"value": "", "expires_at": 0}`.
    pub fn to_beta_json(&self, session_id: &str, expires_at: u64) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(session_id));
        m.insert("object".into(), json!("realtime.transcription_session"));
        m.insert("expires_at".into(), json!(expires_at));
        m.insert("modalities".into(), json!(["text"]));
        m.insert("client_secret".into(), json!({"value": "", "expires_at": 0}));
        m.insert("input_audio_format".into(), json!(self.format.beta_name()));
        m.insert("input_audio_transcription".into(), self.beta_transcription_json());
        m.insert("turn_detection".into(), self.turn_detection.to_json());
        m.insert("input_audio_noise_reduction".into(), self.noise_reduction_json());
        m.insert("include".into(), self.include_json());
        if let Some(p) = self.partial_interval_ms {
            m.insert("partial_interval_ms".into(), json!(p));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::test_support::*;

    #[test]
    fn defaults_match_openai() {
        let c = SessionConfig::default();
        assert_eq!(c.format, AudioFormat::Pcm16 { rate: 24_000 });
        assert_eq!(c.sample_rate(), 24_000);
        let TurnDetection::ServerVad(v) = &c.turn_detection else {
            panic!("default must be server_vad")
        };
        assert_eq!(
            (v.threshold, v.prefix_padding_ms, v.silence_duration_ms),
            (0.5, 300, 500)
        );
        assert_eq!(c.noise_reduction, None);
        assert!(c.include.is_empty());
        assert!(!c.include_logprobs());
    }

    #[test]
    fn default_ga_session_object_shape() {
        let js = SessionConfig::default().to_ga_json("sess_1", 5);
        assert_eq!(js["audio"]["input"]["noise_reduction"], Value::Null);
        assert_eq!(
            js["audio"]["input"]["transcription"],
            json!({"model": null, "language": null, "prompt": ""})
        );
        assert_eq!(js["include"], Value::Null);
        let td = &js["audio"]["input"]["turn_detection"];
        assert_eq!(td["prefix_padding_ms"], 300);
        assert_eq!(td["silence_duration_ms"], 500);
    }

    #[test]
    fn beta_session_object_fits_the_beta_schema() {
        // `model` is the beta enum or null; other names go in `router_model`.
        for (configured, model, router_model) in [
            (Some("whisper-1"), json!("whisper-1"), None),
            (Some("gpt-4o-mini-transcribe"), json!("gpt-4o-mini-transcribe"), None),
            (Some("auto"), Value::Null, Some("auto")),
            (Some("sensevoice-small"), Value::Null, Some("sensevoice-small")),
            (
                Some("gpt-4o-transcribe-diarize"),
                Value::Null,
                Some("gpt-4o-transcribe-diarize"),
            ),
            (None, Value::Null, None),
        ] {
            let mut c = SessionConfig::default();
            c.transcription.model = configured.map(str::to_owned);
            let js = c.to_beta_json("sess_b", 9);
            let t = &js["input_audio_transcription"];
            assert_eq!(t["model"], model, "{configured:?}");
            assert_eq!(
                t.get("router_model").and_then(Value::as_str),
                router_model,
                "{configured:?}"
            );
            // Sending the echoed object back keeps the configuration.
            let back = json!({"type": "transcription_session.update", "session": {"input_audio_transcription": {
                "model": t.get("router_model").unwrap_or(&t["model"]), "language": t["language"], "prompt": t["prompt"]}}});
            let mut again = SessionConfig::default();
            again.apply_beta_update(&beta_patch(&back.to_string())).unwrap();
            assert_eq!(again.transcription.model, c.transcription.model, "{configured:?}");
        }
        // A socket session has no ephemeral key: the required object says so.
        let js = SessionConfig::default().to_beta_json("sess_b", 9);
        assert_eq!(js["client_secret"], json!({"value": "", "expires_at": 0}));
        assert!(js["turn_detection"].get("idle_timeout_ms").is_none());
    }
}
