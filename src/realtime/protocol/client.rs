//! [`ClientEvent`]: the events a client sends, as typed values.
//!
//! A transcription session implements `session.update` (GA, or its legacy beta form),
//! `transcription_session.update` (beta) and `input_audio_buffer.append|commit|clear`. The other
//! client events of the Realtime API are recognised as [`UnsupportedEvent`]s, so each gets the
//! answer OpenAI gives a transcription session rather than an unknown-type error.
//! [`CLIENT_EVENT_TYPES`] lists every `type` the parser recognises.
//!
//! Events come from [`parse_client_event`](super::parse_client_event); [`ClientEvent::to_json`]
//! writes one as a client sends it (audio base64-encoded). The two are inverse:
//! `parse_client_event(&ev.to_json())` returns `ev` (the patches' `ignored` lists aside).

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::wire::wire_enum;
use super::{BetaSessionPatch, ErrorCode, GaSessionPatch, ProtocolError};

wire_enum! {
    /// Client events that a transcription session does not implement.
    pub enum UnsupportedEvent {
        /// `conversation.item.create`.
        ConversationItemCreate => "conversation.item.create",
        /// `conversation.item.delete`.
        ConversationItemDelete => "conversation.item.delete",
        /// `conversation.item.retrieve`.
        ConversationItemRetrieve => "conversation.item.retrieve",
        /// `conversation.item.truncate`.
        ConversationItemTruncate => "conversation.item.truncate",
        /// `response.create`.
        ResponseCreate => "response.create",
        /// `response.cancel`.
        ResponseCancel => "response.cancel",
        /// `output_audio_buffer.clear`.
        OutputAudioBufferClear => "output_audio_buffer.clear",
    }
}

impl UnsupportedEvent {
    /// How to answer this event: `None` ⇒ ignore silently (`output_audio_buffer.clear`: there
    /// is never output audio in a transcription session, so clearing it is a no-op);
    /// otherwise the recoverable error to send (`response.cancel` ⇒
    /// `response_cancel_not_active`; conversation/response creation ⇒ `invalid_value` with
    /// param `type`, the shape OpenAI uses for event types a session does not accept).
    pub fn reply_error(&self, event_id: Option<&str>) -> Option<ProtocolError> {
        let err = match self {
            UnsupportedEvent::OutputAudioBufferClear => return None,
            UnsupportedEvent::ResponseCancel => ProtocolError::new(
                ErrorCode::ResponseCancelNotActive,
                "Cancellation failed: no active response found.",
            ),
            other => ProtocolError::new(
                ErrorCode::InvalidValue,
                format!(
                    "Invalid value: '{}'. This event is not supported in transcription sessions.",
                    other.as_str()
                ),
            )
            .with_param("type"),
        };
        Some(err.with_event_id(event_id))
    }
}

/// A parsed client event. Every variant carries the client's optional `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// GA `session.update` (reply `session.updated` with
    /// [`SessionConfig::to_ga_json`](super::SessionConfig::to_ga_json)).
    SessionUpdate {
        /// Client `event_id`.
        event_id: Option<String>,
        /// The patch.
        session: GaSessionPatch,
    },
    /// Legacy beta: a plain `session.update` whose `session` has flat beta fields
    /// (`input_audio_transcription`, `input_audio_format`, …) and no `type`.
    LegacySessionUpdate {
        /// Client `event_id`.
        event_id: Option<String>,
        /// The patch.
        session: BetaSessionPatch,
    },
    /// Beta `transcription_session.update` (reply `transcription_session.updated` with
    /// [`SessionConfig::to_beta_json`](super::SessionConfig::to_beta_json)).
    TranscriptionSessionUpdate {
        /// Client `event_id`.
        event_id: Option<String>,
        /// The patch.
        session: BetaSessionPatch,
    },
    /// `input_audio_buffer.append`, base64 already decoded.
    InputAudioBufferAppend {
        /// Client `event_id`.
        event_id: Option<String>,
        /// Decoded audio bytes in the session's format.
        audio: Vec<u8>,
    },
    /// `input_audio_buffer.commit`.
    InputAudioBufferCommit {
        /// Client `event_id`.
        event_id: Option<String>,
    },
    /// `input_audio_buffer.clear`.
    InputAudioBufferClear {
        /// Client `event_id`.
        event_id: Option<String>,
    },
    /// A known event a transcription session does not implement; answer with
    /// [`UnsupportedEvent::reply_error`].
    Unsupported {
        /// Client `event_id`.
        event_id: Option<String>,
        /// Which event.
        event: UnsupportedEvent,
    },
}

/// Every client event `type` the parser recognises.
pub const CLIENT_EVENT_TYPES: &[&str] = &[
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
];

impl ClientEvent {
    /// The client's `event_id`, if any.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            ClientEvent::SessionUpdate { event_id, .. }
            | ClientEvent::LegacySessionUpdate { event_id, .. }
            | ClientEvent::TranscriptionSessionUpdate { event_id, .. }
            | ClientEvent::InputAudioBufferAppend { event_id, .. }
            | ClientEvent::InputAudioBufferCommit { event_id }
            | ClientEvent::InputAudioBufferClear { event_id }
            | ClientEvent::Unsupported { event_id, .. } => event_id.as_deref(),
        }
    }

    /// The wire `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            ClientEvent::SessionUpdate { .. } | ClientEvent::LegacySessionUpdate { .. } => "session.update",
            ClientEvent::TranscriptionSessionUpdate { .. } => "transcription_session.update",
            ClientEvent::InputAudioBufferAppend { .. } => "input_audio_buffer.append",
            ClientEvent::InputAudioBufferCommit { .. } => "input_audio_buffer.commit",
            ClientEvent::InputAudioBufferClear { .. } => "input_audio_buffer.clear",
            ClientEvent::Unsupported { event, .. } => event.as_str(),
        }
    }

    /// An `input_audio_buffer.append` event without `event_id`.
    pub fn append(audio: impl Into<Vec<u8>>) -> Self {
        ClientEvent::InputAudioBufferAppend {
            event_id: None,
            audio: audio.into(),
        }
    }

    /// Serializes the event as a client would send it (audio base64-encoded).
    /// `parse_client_event(&ev.to_json())` returns an equal event (minus `ignored`).
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.event_type()));
        if let Some(id) = self.event_id() {
            m.insert("event_id".into(), json!(id));
        }
        match self {
            ClientEvent::SessionUpdate { session, .. } => {
                m.insert("session".into(), to_value(session));
            }
            ClientEvent::LegacySessionUpdate { session, .. }
            | ClientEvent::TranscriptionSessionUpdate { session, .. } => {
                m.insert("session".into(), to_value(session));
            }
            ClientEvent::InputAudioBufferAppend { audio, .. } => {
                m.insert(
                    "audio".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(audio)),
                );
            }
            _ => {}
        }
        Value::Object(m).to_string()
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReviewMode;
    use crate::realtime::protocol::test_support::*;
    use crate::realtime::protocol::{
        AudioFormat, BetaAudioFormat, Eagerness, FormatPatch, FormatType, GaAudioInputPatch, GaAudioPatch,
        InlineGlossary, NoiseReduction, NoiseReductionPatch, OpusContainer, Patch, SemanticVad, ServerVad,
        SessionConfig, SessionType, TranscriptionDelay, TranscriptionPatch, TurnDetection, TurnDetectionPatch,
        TurnDetectionType, parse_client_event,
    };

    /// A GA patch that sets every field to `cfg`:
    /// `SessionConfig::default().apply_ga_update(&ga_patch_of(&c))` yields `c`.
    fn ga_patch_of(cfg: &SessionConfig) -> GaSessionPatch {
        let t = &cfg.transcription;
        let format = match cfg.format {
            AudioFormat::Pcm16 { rate } => FormatPatch {
                format_type: FormatType::Pcm,
                rate: Some(u64::from(rate)),
                container: None,
            },
            AudioFormat::Pcmu => FormatPatch::of(FormatType::Pcmu),
            AudioFormat::Pcma => FormatPatch::of(FormatType::Pcma),
            AudioFormat::Opus { container } => FormatPatch {
                container: Some(container),
                ..FormatPatch::of(FormatType::Opus)
            },
        };
        let turn_detection = match &cfg.turn_detection {
            TurnDetection::Manual => Patch::Null,
            TurnDetection::ServerVad(v) => Patch::Value(TurnDetectionPatch {
                kind: Some(TurnDetectionType::ServerVad),
                threshold: Patch::Value(v.threshold),
                prefix_padding_ms: Patch::Value(u64::from(v.prefix_padding_ms)),
                silence_duration_ms: Patch::Value(u64::from(v.silence_duration_ms)),
                idle_timeout_ms: Patch::from_option(v.idle_timeout_ms.map(u64::from)),
                create_response: Patch::from_option(v.create_response),
                interrupt_response: Patch::from_option(v.interrupt_response),
                ..TurnDetectionPatch::default()
            }),
            TurnDetection::SemanticVad(s) => Patch::Value(TurnDetectionPatch {
                kind: Some(TurnDetectionType::SemanticVad),
                eagerness: Patch::Value(s.eagerness),
                create_response: Patch::from_option(s.create_response),
                interrupt_response: Patch::from_option(s.interrupt_response),
                ..TurnDetectionPatch::default()
            }),
        };
        GaSessionPatch {
            session_type: Some(SessionType::Transcription),
            audio: Some(GaAudioPatch {
                input: Some(GaAudioInputPatch {
                    format: Patch::Value(format),
                    noise_reduction: Patch::from_option(cfg.noise_reduction.map(|kind| NoiseReductionPatch { kind })),
                    transcription: Patch::Value(TranscriptionPatch {
                        model: Patch::from_option(t.model.clone()),
                        language: Patch::from_option(t.language.clone()),
                        prompt: Patch::from_option(t.prompt.clone()),
                        languages: Patch::from_option(t.languages.clone()),
                        keywords: Patch::from_option(t.keywords.clone()),
                        delay: Patch::from_option(t.delay),
                        glossary: Patch::from_option(t.glossary.clone()),
                        glossary_id: Patch::from_option(t.glossary_id.clone()),
                        review: Patch::from_option(t.review),
                        diarization: Patch::from_option(t.diarization),
                        glossary_prompt: Patch::from_option(t.glossary_prompt),
                    }),
                    turn_detection,
                }),
            }),
            include: Patch::Value(cfg.include.clone()),
            partial_interval_ms: Patch::from_option(cfg.partial_interval_ms.map(u64::from)),
            ignored: Vec::new(),
        }
    }

    #[test]
    fn unsupported_events() {
        let ev = parse_ok(r#"{"type":"response.create","event_id":"r1","response":{}}"#);
        let ClientEvent::Unsupported { event, event_id } = &ev else {
            panic!()
        };
        assert_eq!(*event, UnsupportedEvent::ResponseCreate);
        let err = event.reply_error(event_id.as_deref()).unwrap();
        assert_eq!(err.code, ErrorCode::InvalidValue);
        assert_eq!(err.param.as_deref(), Some("type"));
        assert_eq!(err.event_id.as_deref(), Some("r1"));
        let ev = parse_ok(r#"{"type":"output_audio_buffer.clear"}"#);
        let ClientEvent::Unsupported { event, .. } = ev else {
            panic!()
        };
        assert_eq!(event.reply_error(None), None);
        assert_eq!(
            UnsupportedEvent::ResponseCancel.reply_error(None).unwrap().code,
            ErrorCode::ResponseCancelNotActive
        );
        for t in CLIENT_EVENT_TYPES {
            // Every listed type is recognised (not an unknown-type error).
            let r = parse_client_event(&json!({"type": t}).to_string());
            if let Err(e) = r {
                assert_ne!(e.param.as_deref(), Some("type"), "{t}");
            }
        }
    }

    #[test]
    fn client_event_round_trip_through_json() {
        let mut c = SessionConfig::with_model("sensevoice-small");
        c.format = AudioFormat::Pcm16 { rate: 16_000 };
        c.transcription.language = Some("zh".into());
        c.transcription.keywords = Some(vec!["Tokio".into()]);
        c.transcription.delay = Some(TranscriptionDelay::Low);
        c.transcription.glossary = Some(
            InlineGlossary::from_json(json!(["Tokio", {"term": "Kubernetes", "misrecognitions": ["cube netties"]}]))
                .unwrap(),
        );
        c.transcription.glossary_id = Some("team".into());
        c.transcription.review = Some(ReviewMode::Llm);
        c.turn_detection = TurnDetection::ServerVad(ServerVad {
            threshold: 0.3,
            idle_timeout_ms: Some(5000),
            create_response: Some(false),
            ..ServerVad::default()
        });
        c.noise_reduction = Some(NoiseReduction::FarField);
        c.partial_interval_ms = Some(200);
        for cfg in [
            c.clone(),
            SessionConfig::default(),
            SessionConfig {
                turn_detection: TurnDetection::Manual,
                format: AudioFormat::Pcma,
                ..SessionConfig::default()
            },
            SessionConfig {
                turn_detection: TurnDetection::SemanticVad(SemanticVad {
                    eagerness: Eagerness::High,
                    ..SemanticVad::default()
                }),
                format: AudioFormat::Opus {
                    container: OpusContainer::Ogg,
                },
                ..SessionConfig::default()
            },
        ] {
            let ev = ClientEvent::SessionUpdate {
                event_id: Some("e".into()),
                session: ga_patch_of(&cfg),
            };
            let back = parse_ok(&ev.to_json());
            assert_eq!(back, ev);
            let ClientEvent::SessionUpdate { session, .. } = back else {
                panic!()
            };
            let mut applied = SessionConfig::default();
            applied.apply_ga_update(&session).unwrap();
            assert_eq!(applied, cfg);
        }
        let ev = ClientEvent::append((0..=255u8).collect::<Vec<_>>());
        assert_eq!(parse_ok(&ev.to_json()), ev);
        let ev = ClientEvent::TranscriptionSessionUpdate {
            event_id: None,
            session: BetaSessionPatch {
                input_audio_format: Patch::Value(BetaAudioFormat::G711Alaw),
                turn_detection: Patch::Null,
                ..Default::default()
            },
        };
        assert_eq!(parse_ok(&ev.to_json()), ev);
    }
}
