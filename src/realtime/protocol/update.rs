//! Session updates: what a `session.update` (GA) or `transcription_session.update` (beta) may
//! change, and how the change is applied to a [`SessionConfig`].
//!
//! The patch types mirror the JSON objects field by field: GA [`GaSessionPatch`] →
//! [`GaAudioPatch`] → [`GaAudioInputPatch`], beta the flat [`BetaSessionPatch`], both built from
//! [`FormatPatch`], [`NoiseReductionPatch`], [`TranscriptionPatch`] and [`TurnDetectionPatch`].
//! Every optional field is a [`Patch`]. The parser (`parse.rs`) builds them; they serialize back
//! to the JSON a client would send.
//!
//! Applying them ([`SessionConfig::apply_ga_update`], [`SessionConfig::apply_beta_update`]):
//! * is atomic: the patch goes onto a copy that replaces the configuration only when every field
//!   is valid, so on error nothing changes;
//! * reports errors with the JSON path of the field in the update's dialect
//!   (`session.audio.input.turn_detection.threshold`, or `session.turn_detection.threshold`);
//! * reads `transcription: null` as "clear language, prompt and hints, keep the model", and
//!   `turn_detection: null` as manual commit. A `turn_detection` of the current type merges onto
//!   the current parameters, one of another type onto that type's defaults, one without `type`
//!   keeps the current VAD type; `null` inside it resets that parameter to its default;
//! * checks ranges: `threshold` 0..=1, durations up to [`MAX_VAD_DURATION_MS`] (`idle_timeout_ms`
//!   at least 1), `partial_interval_ms` 0 or within [`PARTIAL_INTERVAL_RANGE_MS`], `languages`
//!   ISO-639 codes. Any `include` entry is refused (see [`INCLUDE_LOGPROBS`]);
//! * reads the review extensions of `transcription` (`glossary`, `glossary_id`, `review`) like
//!   any other field; an empty `glossary` or `glossary_id` means none. Whether a `glossary_id`
//!   exists or `review: "llm"` can be served is the session's check (it knows the server), not
//!   this module's. So is whether `diarization: true` can be served (a speaker model installed).

use serde::Serialize;

use super::{
    AudioFormat, BetaAudioFormat, Eagerness, ErrorCode, FormatType, INCLUDE_LOGPROBS, InlineGlossary, NoiseReduction,
    OpusContainer, Patch, ProtocolError, SemanticVad, ServerVad, SessionConfig, SessionType, TranscriptionConfig,
    TranscriptionDelay, TurnDetection, TurnDetectionType,
};
use crate::batch::request::check_languages;
use crate::config::ReviewMode;

/// Inclusive bounds of `partial_interval_ms` (0 disables partial deltas).
pub const PARTIAL_INTERVAL_RANGE_MS: (u32, u32) = (50, 60_000);

/// Upper bound accepted for `prefix_padding_ms`, `silence_duration_ms` and `idle_timeout_ms`
/// (a local choice: OpenAI's limits are not known).
pub const MAX_VAD_DURATION_MS: u32 = 60_000;

/// GA `audio.input.format` as sent (validated when applied).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatPatch {
    /// `type`.
    #[serde(rename = "type")]
    pub format_type: FormatType,
    /// `rate` (only meaningful for `audio/pcm`; absent ⇒ 24000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// Extension `container` for `audio/opus` (absent ⇒ `raw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<OpusContainer>,
}

impl FormatPatch {
    /// A format of the given type with no rate/container (tests build GA patches with it).
    #[cfg(test)]
    pub(crate) fn of(format_type: FormatType) -> Self {
        FormatPatch {
            format_type,
            rate: None,
            container: None,
        }
    }

    /// Validates and converts to an [`AudioFormat`]; `path` is the JSON path of this object.
    pub fn resolve(&self, path: &str) -> Result<AudioFormat, ProtocolError> {
        Ok(match self.format_type {
            FormatType::Pcm => {
                let rate = self.rate.unwrap_or(24_000);
                match AudioFormat::PCM_RATES.iter().find(|&&r| u64::from(r) == rate) {
                    Some(&rate) => AudioFormat::Pcm16 { rate },
                    None => {
                        return Err(ProtocolError::new(
                            ErrorCode::InvalidValue,
                            format!("Invalid value: {rate}. Supported values are: 24000 and 16000."),
                        )
                        .with_param(format!("{path}.rate")));
                    }
                }
            }
            FormatType::Pcmu => AudioFormat::Pcmu,
            FormatType::Pcma => AudioFormat::Pcma,
            FormatType::Opus => AudioFormat::Opus {
                container: self.container.unwrap_or(OpusContainer::Raw),
            },
        })
    }
}

/// `noise_reduction` / `input_audio_noise_reduction` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseReductionPatch {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: NoiseReduction,
}

/// `transcription` / `input_audio_transcription` object; each field is a [`Patch`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TranscriptionPatch {
    /// `model`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub model: Patch<String>,
    /// `language`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub language: Patch<String>,
    /// `prompt`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub prompt: Patch<String>,
    /// `languages`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub languages: Patch<Vec<String>>,
    /// `keywords`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub keywords: Patch<Vec<String>>,
    /// `delay`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub delay: Patch<TranscriptionDelay>,
    /// Extension `glossary` (inline, parsed when the event is).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub glossary: Patch<InlineGlossary>,
    /// Extension `glossary_id`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub glossary_id: Patch<String>,
    /// Extension `review`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub review: Patch<ReviewMode>,
    /// Extension `diarization`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub diarization: Patch<bool>,
    /// Extension `glossary_prompt`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub glossary_prompt: Patch<bool>,
}

/// `turn_detection` object; each field is a [`Patch`] (`null` ⇒ default value).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TurnDetectionPatch {
    /// `type`; absent ⇒ keep the current VAD type (server_vad if currently manual).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<TurnDetectionType>,
    /// `threshold` (server_vad).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub threshold: Patch<f64>,
    /// `prefix_padding_ms` (server_vad).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub prefix_padding_ms: Patch<u64>,
    /// `silence_duration_ms` (server_vad).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub silence_duration_ms: Patch<u64>,
    /// `idle_timeout_ms` (server_vad).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub idle_timeout_ms: Patch<u64>,
    /// `eagerness` (semantic_vad).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub eagerness: Patch<Eagerness>,
    /// `create_response` (echoed only).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub create_response: Patch<bool>,
    /// `interrupt_response` (echoed only).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub interrupt_response: Patch<bool>,
}

/// GA `session.audio.input` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GaAudioInputPatch {
    /// `format`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub format: Patch<FormatPatch>,
    /// `noise_reduction`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub noise_reduction: Patch<NoiseReductionPatch>,
    /// `transcription`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub transcription: Patch<TranscriptionPatch>,
    /// `turn_detection` (`null` ⇒ manual commit).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub turn_detection: Patch<TurnDetectionPatch>,
}

/// GA `session.audio` object (`null` is treated like absent).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GaAudioPatch {
    /// `input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<GaAudioInputPatch>,
}

/// GA `session.update` `session` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GaSessionPatch {
    /// `type`; `None` only when the client omitted it but sent GA fields (lenient).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
    /// `audio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<GaAudioPatch>,
    /// `include`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub include: Patch<Vec<String>>,
    /// Extension `partial_interval_ms`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub partial_interval_ms: Patch<u64>,
    /// JSON paths of fields that were present but ignored (unknown or conversation-only).
    #[serde(skip)]
    pub ignored: Vec<String>,
}

/// Beta `transcription_session.update` `session` object (flat fields).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct BetaSessionPatch {
    /// `input_audio_format`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub input_audio_format: Patch<BetaAudioFormat>,
    /// `input_audio_transcription`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub input_audio_transcription: Patch<TranscriptionPatch>,
    /// `turn_detection` (`null` ⇒ manual commit).
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub turn_detection: Patch<TurnDetectionPatch>,
    /// `input_audio_noise_reduction`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub input_audio_noise_reduction: Patch<NoiseReductionPatch>,
    /// `include`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub include: Patch<Vec<String>>,
    /// Extension `partial_interval_ms`.
    #[serde(skip_serializing_if = "Patch::is_absent")]
    pub partial_interval_ms: Patch<u64>,
    /// JSON paths of fields that were present but ignored.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

impl SessionConfig {
    /// Applies a GA `session.update` patch. Atomic: on error `self` is unchanged and the
    /// error's `param` is the GA JSON path (e.g. `session.audio.input.format.rate`).
    ///
    /// `transcription: null` clears language/prompt/hints but keeps the model;
    /// `turn_detection: null` selects manual commit; `format: null` resets to PCM 24 kHz.
    pub fn apply_ga_update(&mut self, patch: &GaSessionPatch) -> Result<(), ProtocolError> {
        let mut next = self.clone();
        if let Some(input) = patch.audio.as_ref().and_then(|a| a.input.as_ref()) {
            const P: &str = "session.audio.input";
            match &input.format {
                Patch::Absent => {}
                Patch::Null => next.format = AudioFormat::default(),
                Patch::Value(f) => next.format = f.resolve(&format!("{P}.format"))?,
            }
            input
                .noise_reduction
                .clone()
                .map(|n| n.kind)
                .apply_to(&mut next.noise_reduction);
            apply_transcription(
                &mut next.transcription,
                &input.transcription,
                &format!("{P}.transcription"),
            )?;
            apply_turn_detection(
                &mut next.turn_detection,
                &input.turn_detection,
                &format!("{P}.turn_detection"),
            )?;
        }
        apply_common(&mut next, &patch.include, &patch.partial_interval_ms)?;
        *self = next;
        Ok(())
    }

    /// Applies a beta `transcription_session.update` (or legacy flat `session.update`) patch.
    /// Atomic; params are beta paths (e.g. `session.turn_detection.threshold`).
    pub fn apply_beta_update(&mut self, patch: &BetaSessionPatch) -> Result<(), ProtocolError> {
        let mut next = self.clone();
        match patch.input_audio_format {
            Patch::Absent => {}
            Patch::Null | Patch::Value(BetaAudioFormat::Pcm16) => next.format = AudioFormat::Pcm16 { rate: 24_000 },
            Patch::Value(BetaAudioFormat::G711Ulaw) => next.format = AudioFormat::Pcmu,
            Patch::Value(BetaAudioFormat::G711Alaw) => next.format = AudioFormat::Pcma,
        }
        patch
            .input_audio_noise_reduction
            .clone()
            .map(|n| n.kind)
            .apply_to(&mut next.noise_reduction);
        apply_transcription(
            &mut next.transcription,
            &patch.input_audio_transcription,
            "session.input_audio_transcription",
        )?;
        apply_turn_detection(
            &mut next.turn_detection,
            &patch.turn_detection,
            "session.turn_detection",
        )?;
        apply_common(&mut next, &patch.include, &patch.partial_interval_ms)?;
        *self = next;
        Ok(())
    }
}

fn non_empty(s: &str) -> Option<String> {
    if s.is_empty() { None } else { Some(s.to_owned()) }
}

/// Applies a `transcription` patch; `path` is its JSON path. `languages` must be ISO-639 codes
/// (as for REST, see [`check_languages`]).
fn apply_transcription(
    cfg: &mut TranscriptionConfig,
    patch: &Patch<TranscriptionPatch>,
    path: &str,
) -> Result<(), ProtocolError> {
    match patch {
        Patch::Absent => {}
        Patch::Null => {
            *cfg = TranscriptionConfig {
                model: cfg.model.take(),
                ..TranscriptionConfig::default()
            }
        }
        Patch::Value(t) => {
            // A `null` model means "server default".
            t.model.clone().apply_to(&mut cfg.model);
            if let Some(m) = &cfg.model
                && m.is_empty()
            {
                cfg.model = None;
            }
            t.language
                .as_ref()
                .map(|s| non_empty(s))
                .apply_to_flat(&mut cfg.language);
            t.prompt.as_ref().map(|s| non_empty(s)).apply_to_flat(&mut cfg.prompt);
            if let Some(languages) = t.languages.value() {
                for (i, l) in languages.iter().enumerate() {
                    if check_languages(vec![l.clone()]).is_err() {
                        return Err(ProtocolError::new(
                            ErrorCode::InvalidValue,
                            format!("Invalid value: '{l}'. Expected an ISO-639 language code such as 'en' or 'zh'."),
                        )
                        .with_param(format!("{path}.languages[{i}]")));
                    }
                }
            }
            t.languages.clone().apply_to(&mut cfg.languages);
            t.keywords.clone().apply_to(&mut cfg.keywords);
            t.delay.clone().apply_to(&mut cfg.delay);
            // An empty glossary or id is no glossary.
            t.glossary
                .as_ref()
                .map(|g| Some(g.clone()).filter(|g| !g.parsed.is_empty()))
                .apply_to_flat(&mut cfg.glossary);
            t.glossary_id
                .as_ref()
                .map(|s| non_empty(s.trim()))
                .apply_to_flat(&mut cfg.glossary_id);
            t.review.clone().apply_to(&mut cfg.review);
            t.diarization.clone().apply_to(&mut cfg.diarization);
            t.glossary_prompt.clone().apply_to(&mut cfg.glossary_prompt);
        }
    }
    Ok(())
}

fn check_ms(value: u64, param: &str, min: u32) -> Result<u32, ProtocolError> {
    if value < u64::from(min) || value > u64::from(MAX_VAD_DURATION_MS) {
        return Err(ProtocolError::integer_out_of_range(
            param,
            i128::from(value),
            i128::from(min),
            i128::from(MAX_VAD_DURATION_MS),
        ));
    }
    Ok(value as u32)
}

fn apply_turn_detection(
    current: &mut TurnDetection,
    patch: &Patch<TurnDetectionPatch>,
    path: &str,
) -> Result<(), ProtocolError> {
    let td = match patch {
        Patch::Absent => return Ok(()),
        Patch::Null => {
            *current = TurnDetection::Manual;
            return Ok(());
        }
        Patch::Value(td) => td,
    };
    // Same type ⇒ merge onto the current parameters; a new type ⇒ merge onto its defaults.
    // Without `type`, keep the current VAD type (server_vad when coming from manual).
    let kind = td.kind.unwrap_or(match current {
        TurnDetection::SemanticVad(_) => TurnDetectionType::SemanticVad,
        _ => TurnDetectionType::ServerVad,
    });
    match kind {
        TurnDetectionType::ServerVad => {
            let mut v = match current {
                TurnDetection::ServerVad(v) => v.clone(),
                _ => ServerVad::default(),
            };
            let d = ServerVad::default();
            match td.threshold {
                Patch::Absent => {}
                Patch::Null => v.threshold = d.threshold,
                Patch::Value(t) => {
                    if !(0.0..=1.0).contains(&t) {
                        return Err(ProtocolError::decimal_out_of_range(
                            &format!("{path}.threshold"),
                            t,
                            0.0,
                            1.0,
                        ));
                    }
                    v.threshold = t;
                }
            }
            match td.prefix_padding_ms {
                Patch::Absent => {}
                Patch::Null => v.prefix_padding_ms = d.prefix_padding_ms,
                Patch::Value(ms) => v.prefix_padding_ms = check_ms(ms, &format!("{path}.prefix_padding_ms"), 0)?,
            }
            match td.silence_duration_ms {
                Patch::Absent => {}
                Patch::Null => v.silence_duration_ms = d.silence_duration_ms,
                Patch::Value(ms) => v.silence_duration_ms = check_ms(ms, &format!("{path}.silence_duration_ms"), 0)?,
            }
            match td.idle_timeout_ms {
                Patch::Absent => {}
                Patch::Null => v.idle_timeout_ms = None,
                Patch::Value(ms) => v.idle_timeout_ms = Some(check_ms(ms, &format!("{path}.idle_timeout_ms"), 1)?),
            }
            td.create_response.clone().apply_to(&mut v.create_response);
            td.interrupt_response.clone().apply_to(&mut v.interrupt_response);
            *current = TurnDetection::ServerVad(v);
        }
        TurnDetectionType::SemanticVad => {
            let mut s = match current {
                TurnDetection::SemanticVad(s) => s.clone(),
                _ => SemanticVad::default(),
            };
            match td.eagerness {
                Patch::Absent => {}
                Patch::Null => s.eagerness = Eagerness::Auto,
                Patch::Value(e) => s.eagerness = e,
            }
            td.create_response.clone().apply_to(&mut s.create_response);
            td.interrupt_response.clone().apply_to(&mut s.interrupt_response);
            *current = TurnDetection::SemanticVad(s);
        }
    }
    Ok(())
}

fn apply_common(
    next: &mut SessionConfig,
    include: &Patch<Vec<String>>,
    partial_interval_ms: &Patch<u64>,
) -> Result<(), ProtocolError> {
    match include {
        Patch::Absent => {}
        Patch::Null => next.include.clear(),
        Patch::Value(list) => {
            // OpenAI's only entry asks for token logprobs, which no engine here reports: refuse it
            // rather than accept it and never send them.
            if let Some(item) = list.first() {
                let message = if item == INCLUDE_LOGPROBS {
                    format!(
                        "Invalid value: '{item}'. This server does not return logprobs, so no 'include' values are supported."
                    )
                } else {
                    format!("Invalid value: '{item}'. No 'include' values are supported.")
                };
                return Err(ProtocolError::new(ErrorCode::InvalidValue, message).with_param("session.include[0]"));
            }
            next.include.clear();
        }
    }
    match partial_interval_ms {
        Patch::Absent => {}
        Patch::Null => next.partial_interval_ms = None,
        Patch::Value(0) => next.partial_interval_ms = Some(0),
        Patch::Value(ms) => {
            let (lo, hi) = PARTIAL_INTERVAL_RANGE_MS;
            if *ms < u64::from(lo) || *ms > u64::from(hi) {
                return Err(ProtocolError::integer_out_of_range(
                    "session.partial_interval_ms",
                    i128::from(*ms),
                    i128::from(lo),
                    i128::from(hi),
                ));
            }
            next.partial_interval_ms = Some(*ms as u32);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::ClientEvent;
    use crate::realtime::protocol::test_support::*;
    use serde_json::{Value, json};

    #[test]
    fn parses_full_ga_example() {
        let text = r#"{"type":"session.update","event_id":"evt_client_1",
         "session":{"type":"transcription",
          "audio":{"input":{
            "format":{"type":"audio/pcm","rate":24000},
            "noise_reduction":{"type":"near_field"},
            "transcription":{"model":"gpt-4o-transcribe","language":"en","prompt":"Kubernetes, gRPC, Tokio"},
            "turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500}}},
          "include":[]}}"#;
        let ev = parse_ok(text);
        assert_eq!(ev.event_id(), Some("evt_client_1"));
        assert_eq!(ev.event_type(), "session.update");
        let ClientEvent::SessionUpdate { session, .. } = ev else {
            panic!()
        };
        assert_eq!(session.session_type, Some(SessionType::Transcription));
        assert!(session.ignored.is_empty(), "{:?}", session.ignored);
        let mut c = SessionConfig::default();
        c.apply_ga_update(&session).unwrap();
        assert_eq!(c.noise_reduction, Some(NoiseReduction::NearField));
        assert_eq!(c.transcription.model.as_deref(), Some("gpt-4o-transcribe"));
        assert_eq!(c.transcription.language.as_deref(), Some("en"));
        assert_eq!(c.transcription.prompt.as_deref(), Some("Kubernetes, gRPC, Tokio"));
        assert!(!c.include_logprobs());

        let js = c.to_ga_json("sess_X", 1_760_000_000);
        assert_eq!(js["type"], "transcription");
        assert_eq!(js["object"], "realtime.transcription_session");
        assert_eq!(js["id"], "sess_X");
        assert_eq!(js["expires_at"], 1_760_000_000u64);
        assert_eq!(js["audio"]["input"]["format"], json!({"type":"audio/pcm","rate":24000}));
        assert_eq!(js["audio"]["input"]["noise_reduction"], json!({"type":"near_field"}));
        assert_eq!(js["audio"]["input"]["turn_detection"]["type"], "server_vad");
        assert_eq!(js["audio"]["input"]["turn_detection"]["threshold"], 0.5);
        assert!(
            js["audio"]["input"]["turn_detection"].get("idle_timeout_ms").is_none(),
            "an unset idle timeout is omitted"
        );
        assert_eq!(js["include"], Value::Null);
        assert!(js.get("partial_interval_ms").is_none());
    }

    #[test]
    fn patch_semantics_absent_null_value() {
        let mut c = SessionConfig::with_model("m1");
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{
                "transcription":{"language":"de","prompt":"p"},
                "noise_reduction":{"type":"far_field"}}}}),
        )
        .unwrap();
        assert_eq!(c.transcription.model.as_deref(), Some("m1"));
        assert_eq!(c.transcription.language.as_deref(), Some("de"));
        assert_eq!(c.noise_reduction, Some(NoiseReduction::FarField));

        // Absent fields stay; explicit null clears.
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{
                "transcription":{"language":null},"noise_reduction":null}}}),
        )
        .unwrap();
        assert_eq!(c.transcription.language, None);
        assert_eq!(c.transcription.prompt.as_deref(), Some("p"));
        assert_eq!(c.noise_reduction, None);

        // turn_detection: null ⇒ manual commit; then a partial server_vad re-enables with defaults.
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":null}}}),
        )
        .unwrap();
        assert_eq!(c.turn_detection, TurnDetection::Manual);
        assert_eq!(c.turn_detection.effective_vad(), None);
        assert_eq!(c.to_ga_json("s", 0)["audio"]["input"]["turn_detection"], Value::Null);
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":
                {"type":"server_vad","silence_duration_ms":700}}}}),
        )
        .unwrap();
        let TurnDetection::ServerVad(v) = &c.turn_detection else {
            panic!()
        };
        assert_eq!(
            (v.threshold, v.prefix_padding_ms, v.silence_duration_ms),
            (0.5, 300, 700)
        );

        // Same type merges with the current values.
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":
                {"type":"server_vad","threshold":0.7,"idle_timeout_ms":6000}}}}),
        )
        .unwrap();
        let TurnDetection::ServerVad(v) = &c.turn_detection else {
            panic!()
        };
        assert_eq!(
            (v.threshold, v.silence_duration_ms, v.idle_timeout_ms),
            (0.7, 700, Some(6000))
        );

        // transcription: null keeps the model only.
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":null}}}),
        )
        .unwrap();
        assert_eq!(
            c.transcription,
            TranscriptionConfig {
                model: Some("m1".into()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn semantic_vad_mapping() {
        let mut c = SessionConfig::default();
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":
                {"type":"semantic_vad","eagerness":"low"}}}}),
        )
        .unwrap();
        let vad = c.turn_detection.effective_vad().unwrap();
        assert_eq!(vad.silence_duration_ms, 1500);
        assert_eq!(vad.threshold, 0.5);
        assert_eq!(Eagerness::High.silence_duration_ms(), 400);
        assert_eq!(Eagerness::Medium.silence_duration_ms(), 800);
        assert_eq!(Eagerness::Auto.silence_duration_ms(), 800);
        assert_eq!(
            c.turn_detection.to_json(),
            json!({"type":"semantic_vad","eagerness":"low"})
        );
        // Without `type`, the current VAD type is kept.
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":{"eagerness":"high"}}}}),
        )
        .unwrap();
        assert_eq!(c.turn_detection.effective_vad().unwrap().silence_duration_ms, 400);
    }

    #[test]
    fn formats_and_rates() {
        let mut c = SessionConfig::default();
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}),
        )
        .unwrap();
        assert_eq!(c.sample_rate(), 16_000);
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm"}}}}),
        )
        .unwrap();
        assert_eq!(c.sample_rate(), 24_000);
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"format":{"type":"audio/pcmu"}}}}),
        )
        .unwrap();
        assert_eq!(c.format, AudioFormat::Pcmu);
        assert_eq!(c.sample_rate(), 8_000);
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"format":{"type":"audio/opus","container":"webm"}}}}),
        )
        .unwrap();
        assert_eq!(
            c.format,
            AudioFormat::Opus {
                container: OpusContainer::Webm
            }
        );
        assert_eq!(c.format.to_ga_json(), json!({"type":"audio/opus","container":"webm"}));
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"format":{"type":"audio/opus"}}}}),
        )
        .unwrap();
        assert_eq!(
            c.format,
            AudioFormat::Opus {
                container: OpusContainer::Raw
            }
        );

        let before = c.clone();
        let e = apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{
                "transcription":{"language":"fr"},
                "format":{"type":"audio/pcm","rate":44100}}}}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("session.audio.input.format.rate"));
        assert_eq!(c, before, "failed update must not change anything");

        let e = parse_err(
            r#"{"type":"session.update","event_id":"e9","session":{"type":"transcription","audio":{"input":{"format":{"type":"audio/wav"}}}}}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("session.audio.input.format.type"));
        assert_eq!(e.event_id.as_deref(), Some("e9"));
        assert!(
            e.message
                .starts_with("Invalid value: 'audio/wav'. Supported values are: 'audio/pcm'")
        );
    }

    #[test]
    fn range_validation_errors() {
        let mut c = SessionConfig::default();
        let e = apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":{"type":"server_vad","threshold":1.5}}}}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::DecimalAboveMaxValue);
        assert_eq!(e.param.as_deref(), Some("session.audio.input.turn_detection.threshold"));
        assert_eq!(
            e.message,
            "Invalid 'session.audio.input.turn_detection.threshold': decimal above maximum value. Expected a value <= 1, but got 1.5 instead."
        );
        let e = apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"turn_detection":{"threshold":-0.1}}}}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::DecimalBelowMinValue);

        let e = parse_err(
            r#"{"type":"session.update","session":{"type":"transcription","audio":{"input":{"turn_detection":{"silence_duration_ms":-5}}}}}"#,
        );
        assert_eq!(e.code, ErrorCode::IntegerBelowMinValue);
        let e = apply_ga(&mut c, json!({"type":"transcription","partial_interval_ms":10})).unwrap_err();
        assert_eq!(e.code, ErrorCode::IntegerBelowMinValue);
        assert_eq!(e.param.as_deref(), Some("session.partial_interval_ms"));
        apply_ga(&mut c, json!({"type":"transcription","partial_interval_ms":0})).unwrap();
        assert_eq!(c.partial_interval_ms, Some(0));
        apply_ga(&mut c, json!({"type":"transcription","partial_interval_ms":250.0})).unwrap();
        assert_eq!(c.partial_interval_ms, Some(250));
        assert_eq!(c.to_ga_json("s", 0)["partial_interval_ms"], 250);
        apply_ga(&mut c, json!({"type":"transcription","partial_interval_ms":null})).unwrap();
        assert_eq!(c.partial_interval_ms, None);

        let e = apply_ga(&mut c, json!({"type":"transcription","include":["foo"]})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("session.include[0]"));
    }

    #[test]
    fn logprobs_are_refused_not_promised() {
        // No engine reports logprobs: asking for them is an error (GA and beta), and nothing
        // of the session changes.
        let mut c = SessionConfig::default();
        let e = apply_ga(&mut c, json!({"type":"transcription","include":[INCLUDE_LOGPROBS]})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("session.include[0]"));
        assert!(e.message.contains("logprobs"), "{}", e.message);
        assert_eq!(c, SessionConfig::default());
        let p = beta_patch(
            r#"{"type":"transcription_session.update","session":{"include":["item.input_audio_transcription.logprobs"]}}"#,
        );
        let e = c.apply_beta_update(&p).unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            (ErrorCode::InvalidValue, Some("session.include[0]"))
        );
        // An empty list or null is fine.
        apply_ga(&mut c, json!({"type":"transcription","include":[]})).unwrap();
        apply_ga(&mut c, json!({"type":"transcription","include":null})).unwrap();
        assert!(!c.include_logprobs());
        assert_eq!(c.to_ga_json("s", 0)["include"], Value::Null);
    }

    #[test]
    fn beta_update_and_legacy_session_update() {
        let text = r#"{"type":"transcription_session.update",
         "session":{"input_audio_format":"g711_ulaw",
          "input_audio_transcription":{"model":"gpt-4o-transcribe","language":"en","prompt":""},
          "turn_detection":{"type":"server_vad","threshold":0.6,"prefix_padding_ms":200,"silence_duration_ms":400},
          "input_audio_noise_reduction":{"type":"near_field"},
          "include":[],
          "modalities":["text"], "partial_interval_ms": 300}}"#;
        let p = beta_patch(text);
        assert_eq!(p.ignored, vec!["session.modalities".to_string()]);
        let mut c = SessionConfig::default();
        c.apply_beta_update(&p).unwrap();
        assert_eq!(c.format, AudioFormat::Pcmu);
        assert_eq!(c.transcription.prompt, None, "empty prompt is stored as None");
        assert_eq!(c.partial_interval_ms, Some(300));
        let js = c.to_beta_json("sess_b", 9);
        assert_eq!(js["input_audio_format"], "g711_ulaw");
        assert_eq!(js["object"], "realtime.transcription_session");
        assert_eq!(js["input_audio_transcription"]["model"], "gpt-4o-transcribe");
        assert!(js["input_audio_transcription"].get("router_model").is_none());
        assert_eq!(js["client_secret"], json!({"value": "", "expires_at": 0}));
        assert_eq!(js["turn_detection"]["threshold"], 0.6);
        assert_eq!(js["turn_detection"]["silence_duration_ms"], 400);
        assert_eq!(js["input_audio_noise_reduction"]["type"], "near_field");
        assert_eq!(js["modalities"], json!(["text"]));

        let e = parse_err(r#"{"type":"transcription_session.update","session":{"input_audio_format":"pcm24"}}"#);
        assert_eq!(e.param.as_deref(), Some("session.input_audio_format"));
        assert_eq!(
            e.message,
            "Invalid value: 'pcm24'. Supported values are: 'pcm16', 'g711_ulaw', and 'g711_alaw'."
        );
        let mut c2 = c.clone();
        let p = beta_patch(r#"{"type":"transcription_session.update","session":{"turn_detection":{"threshold":2}}}"#);
        let e = c2.apply_beta_update(&p).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("session.turn_detection.threshold"));
        assert_eq!(c2, c);

        // Legacy beta: plain session.update with flat fields and no type.
        let ev = parse_ok(
            r#"{"type":"session.update","session":{"input_audio_transcription":{"model":"whisper-1"},"turn_detection":null}}"#,
        );
        let ClientEvent::LegacySessionUpdate { session, .. } = ev else {
            panic!("expected legacy")
        };
        let mut c3 = SessionConfig::default();
        c3.apply_beta_update(&session).unwrap();
        assert_eq!(c3.transcription.model.as_deref(), Some("whisper-1"));
        assert_eq!(c3.turn_detection, TurnDetection::Manual);
    }

    #[test]
    fn review_extensions_parse_apply_and_echo_without_the_inline_glossary() {
        let mut c = SessionConfig::default();
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{
                "keywords":["Grafana"],
                "glossary":["Tokio", {"term":"Kubernetes","aliases":["k8s"],"misrecognitions":["cube netties"],"lang":"en"}],
                "glossary_id":"team","review":"llm"}}}}),
        )
        .unwrap();
        let t = &c.transcription;
        let terms: Vec<&str> = t
            .glossary
            .as_ref()
            .unwrap()
            .parsed
            .entries()
            .iter()
            .map(|e| e.term.as_str())
            .collect();
        assert_eq!(terms, ["Tokio", "Kubernetes"]);
        let f = t.review_fields();
        assert_eq!(
            (f.mode, f.glossary_id.as_deref(), f.keywords.as_slice()),
            (Some(ReviewMode::Llm), Some("team"), &["Grafana".to_string()][..])
        );
        let echoed = &c.to_ga_json("s", 0)["audio"]["input"]["transcription"];
        assert_eq!(
            (echoed["glossary_id"].as_str(), echoed["review"].as_str()),
            (Some("team"), Some("llm"))
        );
        assert!(echoed.get("glossary").is_none(), "the inline glossary is not echoed");
        let beta = &c.to_beta_json("s", 0)["input_audio_transcription"];
        assert_eq!(
            (beta["glossary_id"].as_str(), beta["review"].as_str()),
            (Some("team"), Some("llm"))
        );

        // null clears; an empty id or glossary is none; `transcription: null` clears them all
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"review":null,"glossary_id":" "}}}}),
        )
        .unwrap();
        assert_eq!(
            (c.transcription.review, c.transcription.glossary_id.as_deref()),
            (None, None)
        );
        assert!(c.transcription.glossary.is_some());
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"glossary":[]}}}}),
        )
        .unwrap();
        assert!(c.transcription.glossary.is_none());
        let p = beta_patch(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"glossary":["Tokio"],"review":"none"}}}"#,
        );
        c.apply_beta_update(&p).unwrap();
        assert_eq!(c.transcription.review, Some(ReviewMode::None));
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":null}}}),
        )
        .unwrap();
        assert_eq!(
            (c.transcription.glossary.is_none(), c.transcription.review),
            (true, None)
        );

        // bad values name the full path, in the dialect of the update
        const T: &str = "session.audio.input.transcription";
        for (transcription, code, param) in [
            (json!({"review":"gpt"}), ErrorCode::InvalidValue, format!("{T}.review")),
            (
                json!({"languages":["zh","english"]}),
                ErrorCode::InvalidValue,
                format!("{T}.languages[1]"),
            ),
            (json!({"review":1}), ErrorCode::InvalidType, format!("{T}.review")),
            (
                json!({"glossary_id":7}),
                ErrorCode::InvalidType,
                format!("{T}.glossary_id"),
            ),
            (
                json!({"glossary":"Tokio"}),
                ErrorCode::InvalidType,
                format!("{T}.glossary"),
            ),
            (
                json!({"glossary":["a", 3]}),
                ErrorCode::InvalidType,
                format!("{T}.glossary[1]"),
            ),
            (
                json!({"glossary":[{"aliases":["x"]}]}),
                ErrorCode::MissingRequiredParameter,
                format!("{T}.glossary[0].term"),
            ),
            (
                json!({"glossary":[{"term":5}]}),
                ErrorCode::InvalidType,
                format!("{T}.glossary[0].term"),
            ),
            (
                json!({"glossary":[{"term":"--"}]}),
                ErrorCode::InvalidValue,
                format!("{T}.glossary[0].term"),
            ),
            (
                json!({"glossary":[{"term":"x","aliases":"y"}]}),
                ErrorCode::InvalidValue,
                format!("{T}.glossary"),
            ),
        ] {
            let e = apply_ga(
                &mut c,
                json!({"type":"transcription","audio":{"input":{"transcription":transcription}}}),
            )
            .unwrap_err();
            assert_eq!(
                (e.code, e.param.as_deref()),
                (code, Some(param.as_str())),
                "{transcription}"
            );
        }
        let e = parse_err(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"review":"all"}}}"#,
        );
        assert_eq!(e.param.as_deref(), Some("session.input_audio_transcription.review"));
        assert_eq!(
            e.message,
            "Invalid value: 'all'. Supported values are: 'none', 'glossary', and 'llm'."
        );
    }

    #[test]
    fn the_diarization_extension_parses_applies_and_echoes_in_both_dialects() {
        let mut c = SessionConfig::default();
        assert!(!c.transcription.diarization());
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"diarization":true}}}}),
        )
        .unwrap();
        assert!(c.transcription.diarization());
        let echoed = &c.to_ga_json("s", 0)["audio"]["input"]["transcription"];
        assert_eq!(echoed["diarization"], true);
        assert_eq!(c.to_beta_json("s", 0)["input_audio_transcription"]["diarization"], true);
        // an update without it keeps it; false and null turn it off; `transcription: null` too
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"language":"en"}}}}),
        )
        .unwrap();
        assert!(c.transcription.diarization());
        let p = beta_patch(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"diarization":false}}}"#,
        );
        c.apply_beta_update(&p).unwrap();
        assert!(!c.transcription.diarization());
        assert_eq!(
            c.to_ga_json("s", 0)["audio"]["input"]["transcription"]["diarization"],
            false
        );
        let p = beta_patch(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"diarization":true}}}"#,
        );
        c.apply_beta_update(&p).unwrap();
        assert!(c.transcription.diarization());
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":null}}}),
        )
        .unwrap();
        assert_eq!(c.transcription.diarization, None);
        assert!(
            c.to_ga_json("s", 0)["audio"]["input"]["transcription"]
                .get("diarization")
                .is_none()
        );
        // not a boolean: the full path, in the update's dialect
        let e = apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"diarization":"yes"}}}}),
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            (
                ErrorCode::InvalidType,
                Some("session.audio.input.transcription.diarization")
            )
        );
        let e = parse_err(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"diarization":1}}}"#,
        );
        assert_eq!(
            e.param.as_deref(),
            Some("session.input_audio_transcription.diarization")
        );
    }

    #[test]
    fn the_glossary_prompt_extension_reaches_the_review_fields_and_echoes() {
        let mut c = SessionConfig::default();
        assert_eq!(
            c.transcription.review_fields().glossary_prompt,
            None,
            "the server's default"
        );
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"glossary_prompt":false}}}}),
        )
        .unwrap();
        assert_eq!(c.transcription.review_fields().glossary_prompt, Some(false));
        assert_eq!(
            c.to_ga_json("s", 0)["audio"]["input"]["transcription"]["glossary_prompt"],
            false
        );
        let p = beta_patch(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"glossary_prompt":true}}}"#,
        );
        c.apply_beta_update(&p).unwrap();
        assert_eq!(c.transcription.review_fields().glossary_prompt, Some(true));
        assert_eq!(
            c.to_beta_json("s", 0)["input_audio_transcription"]["glossary_prompt"],
            true
        );
        // null: back to the server's default, and no longer echoed
        apply_ga(
            &mut c,
            json!({"type":"transcription","audio":{"input":{"transcription":{"glossary_prompt":null}}}}),
        )
        .unwrap();
        assert_eq!(c.transcription.glossary_prompt, None);
        assert!(
            c.to_ga_json("s", 0)["audio"]["input"]["transcription"]
                .get("glossary_prompt")
                .is_none()
        );
        let e = parse_err(
            r#"{"type":"transcription_session.update","session":{"input_audio_transcription":{"glossary_prompt":"on"}}}"#,
        );
        assert_eq!(
            e.param.as_deref(),
            Some("session.input_audio_transcription.glossary_prompt")
        );
    }
}
