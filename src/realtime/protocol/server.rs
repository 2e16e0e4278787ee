//! [`ServerEvent`]: the events the server sends, `{"event_id":"event_…","type":…, …}`.
//!
//! The payload is a [`ServerEventBody`], tagged by `type` and flattened into the event, so serde
//! writes exactly OpenAI's shape. Constructors such as [`ServerEvent::delta`] and
//! [`ServerEvent::completed`] add a fresh event id and the fixed fields (`content_index` 0, `usage`
//! in seconds of audio). For each item a session sends `…input_audio_transcription.delta` events,
//! whose texts only ever append, then either one `completed`, whose `transcript` is authoritative
//! (it may differ from the concatenated deltas), or one `failed`.
//!
//! Invariants: optional fields that OpenAI omits (`logprobs`, the extensions `language`,
//! `speaker`, `latency_ms`, `processing_ms`) are omitted when unset, while nullable ones (`previous_item_id`,
//! `param`, `event_id` of an error) are written as `null`; [`ServerEvent::to_json`] never fails.
//! Events also deserialize (for tests and clients); a `type` this server never sends reads as
//! [`ServerEventBody::Unknown`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ErrorDetail, ProtocolError, TranscriptionErrorDetail, new_event_id};

/// `usage` of a `completed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Usage {
    /// `{"type":"duration","seconds":…}`: billed audio duration.
    Duration {
        /// Seconds of audio.
        seconds: f64,
    },
    /// `{"type":"tokens",…}` (token-billed models; only produced when parsing).
    Tokens {
        /// Input tokens.
        #[serde(default)]
        input_tokens: u64,
        /// Output tokens.
        #[serde(default)]
        output_tokens: u64,
        /// Total tokens.
        #[serde(default)]
        total_tokens: u64,
    },
}

/// One token log-probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogProb {
    /// Token text.
    pub token: String,
    /// Natural-log probability.
    pub logprob: f64,
    /// UTF-8 bytes of the token.
    #[serde(default)]
    pub bytes: Vec<u8>,
}

/// One entry of `completed.languages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageCode {
    /// ISO-639-1 code.
    pub code: String,
}

/// One content part of a [`ConversationItem`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemContent {
    /// `input_audio`.
    #[serde(rename = "type")]
    pub content_type: String,
    /// Transcript, once known.
    #[serde(default)]
    pub transcript: Option<String>,
}

/// The user audio item in `conversation.item.created|added|done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationItem {
    /// `item_…`.
    pub id: String,
    /// `realtime.item`.
    pub object: String,
    /// `message`.
    #[serde(rename = "type")]
    pub item_type: String,
    /// `in_progress` or `completed`.
    pub status: String,
    /// `user`.
    pub role: String,
    /// One `input_audio` part.
    pub content: Vec<ItemContent>,
}

impl ConversationItem {
    /// A user `input_audio` message item; `transcript: None` ⇒ still in progress (only the
    /// tests build items; the server does not emit `conversation.item.*` for them yet).
    #[cfg(test)]
    pub(crate) fn user_audio(item_id: &str, transcript: Option<&str>) -> Self {
        ConversationItem {
            id: item_id.to_owned(),
            object: "realtime.item".into(),
            item_type: "message".into(),
            status: if transcript.is_some() {
                "completed".into()
            } else {
                "in_progress".into()
            },
            role: "user".into(),
            content: vec![ItemContent {
                content_type: "input_audio".into(),
                transcript: transcript.map(str::to_owned),
            }],
        }
    }
}

/// The payload of a server event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEventBody {
    /// `session.created` (GA); `session` from
    /// [`SessionConfig::to_ga_json`](super::SessionConfig::to_ga_json).
    #[serde(rename = "session.created")]
    SessionCreated {
        /// Session object.
        session: Value,
    },
    /// `session.updated` (GA).
    #[serde(rename = "session.updated")]
    SessionUpdated {
        /// Session object.
        session: Value,
    },
    /// `transcription_session.created` (beta); `session` from
    /// [`SessionConfig::to_beta_json`](super::SessionConfig::to_beta_json).
    #[serde(rename = "transcription_session.created")]
    TranscriptionSessionCreated {
        /// Session object.
        session: Value,
    },
    /// `transcription_session.updated` (beta).
    #[serde(rename = "transcription_session.updated")]
    TranscriptionSessionUpdated {
        /// Session object.
        session: Value,
    },
    /// `input_audio_buffer.speech_started`.
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        /// Ms since session audio start, including prefix padding.
        audio_start_ms: u64,
        /// Item that will be created when speech stops.
        item_id: String,
    },
    /// `input_audio_buffer.speech_stopped`.
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        /// Ms since session audio start, including trailing silence.
        audio_end_ms: u64,
        /// Item id.
        item_id: String,
    },
    /// `input_audio_buffer.committed`.
    #[serde(rename = "input_audio_buffer.committed")]
    Committed {
        /// Previous item (serialized as `null` for the first).
        previous_item_id: Option<String>,
        /// Item id.
        item_id: String,
    },
    /// `input_audio_buffer.cleared`.
    #[serde(rename = "input_audio_buffer.cleared")]
    Cleared,
    /// `input_audio_buffer.timeout_triggered` (server_vad `idle_timeout_ms`).
    #[serde(rename = "input_audio_buffer.timeout_triggered")]
    TimeoutTriggered {
        /// Item id.
        item_id: String,
        /// Start of the committed audio, ms.
        audio_start_ms: u64,
        /// End of the committed audio, ms.
        audio_end_ms: u64,
    },
    /// `conversation.item.created` (beta; optional for transcription sessions).
    #[serde(rename = "conversation.item.created")]
    ConversationItemCreated {
        /// Previous item.
        previous_item_id: Option<String>,
        /// The item.
        item: ConversationItem,
    },
    /// `conversation.item.added` (GA; optional for transcription sessions).
    #[serde(rename = "conversation.item.added")]
    ConversationItemAdded {
        /// Previous item.
        previous_item_id: Option<String>,
        /// The item.
        item: ConversationItem,
    },
    /// `conversation.item.done` (GA; optional for transcription sessions).
    #[serde(rename = "conversation.item.done")]
    ConversationItemDone {
        /// Previous item.
        previous_item_id: Option<String>,
        /// The item.
        item: ConversationItem,
    },
    /// `conversation.item.input_audio_transcription.delta` (append-only text).
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    TranscriptionDelta {
        /// Item id.
        item_id: String,
        /// Always 0.
        content_index: u32,
        /// Text to append.
        delta: String,
        /// Optional logprobs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logprobs: Option<Vec<LogProb>>,
    },
    /// `conversation.item.input_audio_transcription.completed` (authoritative transcript).
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    TranscriptionCompleted {
        /// Item id.
        item_id: String,
        /// Always 0.
        content_index: u32,
        /// Final transcript (may differ from the concatenated deltas).
        transcript: String,
        /// Usage.
        usage: Usage,
        /// Optional logprobs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logprobs: Option<Vec<LogProb>>,
        /// Detected languages (OpenAI's gpt-transcribe field).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        languages: Option<Vec<LanguageCode>>,
        /// Extension: detected language.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        /// Extension: speaker label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speaker: Option<String>,
        /// Extension: ms from end of utterance audio to this event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_ms: Option<u64>,
        /// Extension: model compute spent on this final, ms (its share of the batched run that
        /// decoded it); `processing_ms / (usage.seconds × 1000)` is the final's real-time factor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        processing_ms: Option<f64>,
        /// Extension: the recognizer's text before review (when a review ran).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raw_transcript: Option<String>,
        /// Extension: the review's edits from `raw_transcript` to `transcript` (when a review
        /// ran): `start`/`end` in characters of `raw_transcript`, `from`, `to`, `reviewer`, `term`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edits: Option<Value>,
    },
    /// `conversation.item.input_audio_transcription.segment` (diarized segment).
    #[serde(rename = "conversation.item.input_audio_transcription.segment")]
    TranscriptionSegment {
        /// Item id.
        item_id: String,
        /// Always 0.
        content_index: u32,
        /// Segment id (`seg_…`).
        id: String,
        /// Speaker label.
        speaker: String,
        /// Start, seconds.
        start: f64,
        /// End, seconds.
        end: f64,
        /// Segment text.
        text: String,
    },
    /// `conversation.item.input_audio_transcription.failed`.
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    TranscriptionFailed {
        /// Item id.
        item_id: String,
        /// Always 0.
        content_index: u32,
        /// The failure.
        error: TranscriptionErrorDetail,
    },
    /// `error`.
    #[serde(rename = "error")]
    Error {
        /// The error.
        error: ErrorDetail,
    },
    /// Any other type (only produced when parsing server events; never send it).
    #[serde(other)]
    Unknown,
}

/// Optional extras of a `completed` event (see [`ServerEvent::completed_with`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompletedExtras {
    /// Extension `language` (also emitted as OpenAI's `languages: [{code}]`).
    pub language: Option<String>,
    /// Extension `speaker`.
    pub speaker: Option<String>,
    /// Extension `latency_ms`.
    pub latency_ms: Option<u64>,
    /// Extension `processing_ms` (rounded to 0.01 ms; non-finite or negative values are omitted).
    pub processing_ms: Option<f64>,
    /// `logprobs`.
    pub logprobs: Option<Vec<LogProb>>,
    /// Extension `raw_transcript`: the recognizer's text, when a review ran.
    pub raw_transcript: Option<String>,
    /// Extension `edits`: the review's audit trail (`crate::finalize::edits_json`), when
    /// a review ran.
    pub edits: Option<Value>,
}

/// One server event: `{"event_id":"event_…","type":…, …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerEvent {
    /// Unique `event_…` id.
    pub event_id: String,
    /// `type` and payload.
    #[serde(flatten)]
    pub body: ServerEventBody,
}

impl ServerEvent {
    /// Wraps a body with a fresh event id.
    pub fn new(body: ServerEventBody) -> Self {
        ServerEvent {
            event_id: new_event_id(),
            body,
        }
    }

    /// `session.created` with a GA session object.
    pub fn session_created(session: Value) -> Self {
        Self::new(ServerEventBody::SessionCreated { session })
    }

    /// `session.updated` with a GA session object.
    pub fn session_updated(session: Value) -> Self {
        Self::new(ServerEventBody::SessionUpdated { session })
    }

    /// `transcription_session.created` with a beta session object.
    pub fn transcription_session_created(session: Value) -> Self {
        Self::new(ServerEventBody::TranscriptionSessionCreated { session })
    }

    /// `transcription_session.updated` with a beta session object.
    pub fn transcription_session_updated(session: Value) -> Self {
        Self::new(ServerEventBody::TranscriptionSessionUpdated { session })
    }

    /// `input_audio_buffer.speech_started`.
    pub fn speech_started(item_id: impl Into<String>, audio_start_ms: u64) -> Self {
        Self::new(ServerEventBody::SpeechStarted {
            audio_start_ms,
            item_id: item_id.into(),
        })
    }

    /// `input_audio_buffer.speech_stopped`.
    pub fn speech_stopped(item_id: impl Into<String>, audio_end_ms: u64) -> Self {
        Self::new(ServerEventBody::SpeechStopped {
            audio_end_ms,
            item_id: item_id.into(),
        })
    }

    /// `input_audio_buffer.committed`.
    pub fn committed(item_id: impl Into<String>, previous_item_id: Option<String>) -> Self {
        Self::new(ServerEventBody::Committed {
            previous_item_id,
            item_id: item_id.into(),
        })
    }

    /// `input_audio_buffer.cleared`.
    pub fn cleared() -> Self {
        Self::new(ServerEventBody::Cleared)
    }

    /// `input_audio_buffer.timeout_triggered`.
    pub fn timeout_triggered(item_id: impl Into<String>, audio_start_ms: u64, audio_end_ms: u64) -> Self {
        Self::new(ServerEventBody::TimeoutTriggered {
            item_id: item_id.into(),
            audio_start_ms,
            audio_end_ms,
        })
    }

    /// `…input_audio_transcription.delta` (`content_index` 0, no logprobs).
    pub fn delta(item_id: impl Into<String>, delta: impl Into<String>) -> Self {
        Self::new(ServerEventBody::TranscriptionDelta {
            item_id: item_id.into(),
            content_index: 0,
            delta: delta.into(),
            logprobs: None,
        })
    }

    /// `…input_audio_transcription.completed` with `usage: {"type":"duration","seconds"}`.
    pub fn completed(item_id: impl Into<String>, transcript: impl Into<String>, audio_seconds: f64) -> Self {
        Self::completed_with(item_id, transcript, audio_seconds, CompletedExtras::default())
    }

    /// `…input_audio_transcription.completed` with extension fields.
    pub fn completed_with(
        item_id: impl Into<String>,
        transcript: impl Into<String>,
        audio_seconds: f64,
        extras: CompletedExtras,
    ) -> Self {
        let seconds = if audio_seconds.is_finite() {
            audio_seconds.max(0.0)
        } else {
            0.0
        };
        Self::new(ServerEventBody::TranscriptionCompleted {
            item_id: item_id.into(),
            content_index: 0,
            transcript: transcript.into(),
            usage: Usage::Duration { seconds },
            logprobs: extras.logprobs,
            languages: extras.language.as_ref().map(|l| vec![LanguageCode { code: l.clone() }]),
            language: extras.language,
            speaker: extras.speaker,
            latency_ms: extras.latency_ms,
            processing_ms: extras
                .processing_ms
                .filter(|p| p.is_finite() && *p >= 0.0)
                .map(|p| (p * 100.0).round() / 100.0),
            raw_transcript: extras.raw_transcript,
            edits: extras.edits,
        })
    }

    /// `…input_audio_transcription.segment`: the speaker of `text`, from `start` to `end`
    /// seconds into the item's audio (non-finite times are written as 0).
    pub fn segment(
        item_id: impl Into<String>,
        id: impl Into<String>,
        speaker: impl Into<String>,
        start: f64,
        end: f64,
        text: impl Into<String>,
    ) -> Self {
        let secs = |t: f64| {
            if t.is_finite() {
                (t.max(0.0) * 1000.0).round() / 1000.0
            } else {
                0.0
            }
        };
        Self::new(ServerEventBody::TranscriptionSegment {
            item_id: item_id.into(),
            content_index: 0,
            id: id.into(),
            speaker: speaker.into(),
            start: secs(start),
            end: secs(end),
            text: text.into(),
        })
    }

    /// `…input_audio_transcription.failed`.
    pub fn failed(item_id: impl Into<String>, error: &ProtocolError) -> Self {
        Self::new(ServerEventBody::TranscriptionFailed {
            item_id: item_id.into(),
            content_index: 0,
            error: error.to_failure_detail(),
        })
    }

    /// `error`.
    pub fn error(error: &ProtocolError) -> Self {
        Self::new(ServerEventBody::Error {
            error: error.to_detail(),
        })
    }

    /// The wire `type` of this event.
    pub fn event_type(&self) -> &'static str {
        match &self.body {
            ServerEventBody::SessionCreated { .. } => "session.created",
            ServerEventBody::SessionUpdated { .. } => "session.updated",
            ServerEventBody::TranscriptionSessionCreated { .. } => "transcription_session.created",
            ServerEventBody::TranscriptionSessionUpdated { .. } => "transcription_session.updated",
            ServerEventBody::SpeechStarted { .. } => "input_audio_buffer.speech_started",
            ServerEventBody::SpeechStopped { .. } => "input_audio_buffer.speech_stopped",
            ServerEventBody::Committed { .. } => "input_audio_buffer.committed",
            ServerEventBody::Cleared => "input_audio_buffer.cleared",
            ServerEventBody::TimeoutTriggered { .. } => "input_audio_buffer.timeout_triggered",
            ServerEventBody::ConversationItemCreated { .. } => "conversation.item.created",
            ServerEventBody::ConversationItemAdded { .. } => "conversation.item.added",
            ServerEventBody::ConversationItemDone { .. } => "conversation.item.done",
            ServerEventBody::TranscriptionDelta { .. } => "conversation.item.input_audio_transcription.delta",
            ServerEventBody::TranscriptionCompleted { .. } => "conversation.item.input_audio_transcription.completed",
            ServerEventBody::TranscriptionSegment { .. } => "conversation.item.input_audio_transcription.segment",
            ServerEventBody::TranscriptionFailed { .. } => "conversation.item.input_audio_transcription.failed",
            ServerEventBody::Error { .. } => "error",
            ServerEventBody::Unknown => "unknown",
        }
    }

    /// Serializes to a JSON text frame (never fails; non-finite floats become `null`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            json!({"type": "error", "event_id": self.event_id, "error": {
                "type": "server_error", "code": null,
                "message": format!("failed to serialize event: {e}"), "param": null, "event_id": null}})
            .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::{ErrorCode, SessionConfig};

    #[test]
    fn server_event_shapes() {
        let ev = ServerEvent::delta("item_1", "Hello");
        assert!(ev.event_id.starts_with("event_"));
        assert_eq!(ev.event_id.len(), "event_".len() + 21);
        let v: Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"event_id": ev.event_id, "type": "conversation.item.input_audio_transcription.delta",
                   "item_id": "item_1", "content_index": 0, "delta": "Hello"})
        );

        let ev = ServerEvent::completed("item_1", "Hello world.", 2.89);
        let v: Value = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["type"], "conversation.item.input_audio_transcription.completed");
        assert_eq!(v["usage"], json!({"type":"duration","seconds":2.89}));
        assert_eq!(v["content_index"], 0);
        for k in [
            "language",
            "speaker",
            "latency_ms",
            "processing_ms",
            "logprobs",
            "languages",
            "raw_transcript",
            "edits",
        ] {
            assert!(v.get(k).is_none(), "{k} must be omitted when unset");
        }
        let ev = ServerEvent::completed_with(
            "item_2",
            "你好",
            f64::NAN,
            CompletedExtras {
                language: Some("zh".into()),
                speaker: Some("A".into()),
                latency_ms: Some(120),
                processing_ms: Some(31.41592),
                logprobs: None,
                raw_transcript: Some("你好吗".into()),
                edits: Some(json!([{"start": 2, "end": 3, "from": "吗", "to": "", "reviewer": "llm", "term": null}])),
            },
        );
        let v: Value = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["language"], "zh");
        assert_eq!(v["languages"], json!([{"code":"zh"}]));
        assert_eq!(v["speaker"], "A");
        assert_eq!(v["latency_ms"], 120);
        assert_eq!(v["processing_ms"], 31.42);
        assert_eq!(v["raw_transcript"], "你好吗");
        assert_eq!(v["edits"][0]["from"], "吗");
        assert_eq!(v["usage"]["seconds"], 0.0);

        let ev = ServerEvent::segment("item_1", "seg_1", "B", 0.0, 1.4004, "Hello");
        let v: Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"event_id": ev.event_id, "type": "conversation.item.input_audio_transcription.segment",
                   "item_id": "item_1", "content_index": 0, "id": "seg_1", "speaker": "B",
                   "start": 0.0, "end": 1.4, "text": "Hello"})
        );

        let v = serde_json::to_value(ServerEvent::committed("item_1", None)).unwrap();
        assert_eq!(v["previous_item_id"], Value::Null);
        assert_eq!(v["type"], "input_audio_buffer.committed");
        let v = serde_json::to_value(ServerEvent::cleared()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2);
        assert_eq!(v["type"], "input_audio_buffer.cleared");
        let v = serde_json::to_value(ServerEvent::speech_started("item_9", 1320)).unwrap();
        assert_eq!(v["audio_start_ms"], 1320);
        assert_eq!(v["item_id"], "item_9");
        let v = serde_json::to_value(ServerEvent::speech_stopped("item_9", 4210)).unwrap();
        assert_eq!(v["audio_end_ms"], 4210);
        let v = serde_json::to_value(ServerEvent::timeout_triggered("item_9", 1, 2)).unwrap();
        assert_eq!(v["type"], "input_audio_buffer.timeout_triggered");

        let err = ProtocolError::commit_empty(40.0).with_event_id(Some("evt_client_7"));
        let v = serde_json::to_value(ServerEvent::error(&err)).unwrap();
        assert_eq!(
            v["error"],
            json!({"type":"invalid_request_error","code":"input_audio_buffer_commit_empty",
                   "message":"Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 40.00ms of audio.",
                   "param":null,"event_id":"evt_client_7"})
        );
        let v = serde_json::to_value(ServerEvent::failed(
            "item_3",
            &ProtocolError::server_error(ErrorCode::Other("engine_error".into()), "boom"),
        ))
        .unwrap();
        assert_eq!(
            v["error"],
            json!({"type":"server_error","code":"engine_error","message":"boom","param":null})
        );
        assert_eq!(v["content_index"], 0);

        let cfg = SessionConfig::default();
        let v = serde_json::to_value(ServerEvent::session_created(cfg.to_ga_json("sess_1", 1))).unwrap();
        assert_eq!(v["type"], "session.created");
        assert_eq!(v["session"]["type"], "transcription");
        let v = serde_json::to_value(ServerEvent::transcription_session_updated(
            cfg.to_beta_json("sess_1", 1),
        ))
        .unwrap();
        assert_eq!(v["type"], "transcription_session.updated");
        assert_eq!(v["session"]["input_audio_format"], "pcm16");

        let done = ServerEvent::new(ServerEventBody::ConversationItemDone {
            previous_item_id: None,
            item: ConversationItem::user_audio("item_1", Some("hi")),
        });
        let v = serde_json::to_value(done).unwrap();
        assert_eq!(v["type"], "conversation.item.done");
        assert_eq!(v["item"]["content"][0]["transcript"], "hi");
        assert_eq!(v["item"]["status"], "completed");
        assert_eq!(v["item"]["role"], "user");
    }

    #[test]
    fn server_events_round_trip_and_unknown_types_parse() {
        let events = vec![
            ServerEvent::delta("i", "x"),
            ServerEvent::completed("i", "x", 1.5),
            ServerEvent::committed("i", Some("h".into())),
            ServerEvent::segment("i", "seg_1", "A", 0.0, 1.25, "x"),
            ServerEvent::cleared(),
            ServerEvent::error(&ProtocolError::missing("type")),
            ServerEvent::new(ServerEventBody::ConversationItemAdded {
                previous_item_id: None,
                item: ConversationItem::user_audio("i", None),
            }),
            ServerEvent::session_updated(SessionConfig::default().to_ga_json("s", 1)),
        ];
        for ev in events {
            let text = ev.to_json();
            let back: ServerEvent = serde_json::from_str(&text).unwrap();
            assert_eq!(back, ev, "{text}");
            assert_eq!(back.event_type(), ev.event_type());
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], ev.event_type());
        }
        let ev: ServerEvent =
            serde_json::from_str(r#"{"event_id":"e","type":"rate_limits.updated","rate_limits":[]}"#).unwrap();
        assert_eq!(ev.body, ServerEventBody::Unknown);
    }
}
