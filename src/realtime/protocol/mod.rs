//! OpenAI Realtime *transcription* wire protocol: client events, server events, session
//! configuration and the protocol-level errors.
//!
//! This module owns (see `shared/notes/realtime-protocol.md` for the sources):
//!
//! * **Client events** — [`parse_client_event`] turns one JSON text frame into a
//!   [`ClientEvent`] or a [`ProtocolError`] shaped like OpenAI's `error.error` object
//!   (`type`, `code`, `message`, `param` as a JSON path, `event_id` of the offending client
//!   event when it could be recovered). Both dialects are accepted:
//!   GA `session.update` (`session.type` = `"transcription"` or `"realtime"`, nested
//!   `audio.input.*`) and beta `transcription_session.update` (flat `input_audio_*` fields),
//!   plus the legacy beta form of a plain `session.update` carrying flat fields.
//! * **PATCH semantics** — every updatable field is a [`Patch`]: absent (leave unchanged),
//!   `null` (clear / reset to default; `turn_detection: null` ⇒ manual commit), or a value.
//! * **Session configuration** — [`SessionConfig`] with OpenAI's defaults (PCM16 24 kHz,
//!   `server_vad` 0.5 / 300 ms / 500 ms), [`SessionConfig::apply_ga_update`] /
//!   [`SessionConfig::apply_beta_update`] (atomic: on error nothing changes) and the session
//!   objects for `session.created|updated` ([`SessionConfig::to_ga_json`]) and
//!   `transcription_session.created|updated` ([`SessionConfig::to_beta_json`]).
//! * **Server events** — [`ServerEvent`] with constructors such as [`ServerEvent::delta`];
//!   serialize with `serde_json::to_string(&ev)` or [`ServerEvent::to_json`].
//!
//! Leniency choices (deliberate deviations from api.openai.com, which rejects these):
//! unknown fields are ignored (their JSON paths are reported in `ignored` on the patch so
//! the caller can log them) because GA `session.type: "realtime"` clients send many
//! conversation-only fields; `audio/pcm` also accepts `rate: 16000`; `audio/opus` (with an
//! optional `container`) and `partial_interval_ms` are extensions; numbers such as `500.0`
//! are accepted where an integer is expected.
//!
//! Extensions on the wire (the full list, checked against the SDK's models, is in `docs/api.md`,
//! "Strict clients"): `session.partial_interval_ms` (GA and beta, session level), the beta
//! session's `input_audio_transcription.router_model` (the configured model when it is not one of
//! the beta enum's), and, on `…input_audio_transcription.completed`, the optional fields
//! `language`, `speaker`, `latency_ms` (omitted when unset; python and node clients ignore
//! unknown fields). `include: ["item.input_audio_transcription.logprobs"]` is refused: no engine
//! reports logprobs.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::Rng as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

// ───────────────────────────── errors ─────────────────────────────

/// The `error.type` of an OpenAI error object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `invalid_request_error`: the client sent something wrong; the session stays open.
    InvalidRequestError,
    /// `server_error`: something failed on our side.
    ServerError,
    /// Any other type string (only produced when parsing server events).
    Other(String),
}

impl ErrorType {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorType::InvalidRequestError => "invalid_request_error",
            ErrorType::ServerError => "server_error",
            ErrorType::Other(s) => s,
        }
    }

    fn from_wire(s: &str) -> Self {
        match s {
            "invalid_request_error" => ErrorType::InvalidRequestError,
            "server_error" => ErrorType::ServerError,
            other => ErrorType::Other(other.to_owned()),
        }
    }
}

/// The `error.code` of an OpenAI error object.
///
/// Sources (all in `shared/notes/realtime-protocol.md` unless stated otherwise):
/// * `invalid_value`, param `type`, for an unknown client event type ("Invalid value:
///   'transcription_session.update'" after the beta shutdown, §1; a live GA probe recorded in
///   swigerb/SonicAIDriveThru's conformance README gives code `invalid_value`, param `type`);
/// * `invalid_value`, param `audio`, for bad base64 in `input_audio_buffer.append`
///   (Azure-Samples/aoai-realtime-audio-sdk#95: "Invalid 'audio'. Expected base64-encoded
///   audio bytes (mono PCM16 at 24kHz) but got an invalid value.");
/// * `missing_required_parameter` ("Missing required parameter: 'session.type'.") and
///   `unknown_parameter` — same live probe;
/// * `input_audio_buffer_commit_empty` — §4.3 / §5.4;
/// * `invalid_type`, `decimal_below_min_value`, `decimal_above_max_value`,
///   `integer_below_min_value`, `integer_above_max_value` — OpenAI's REST validation codes
///   and message templates (not observed on the realtime socket; unverified there);
/// * `invalid_json` — chosen for frames that are not JSON (OpenAI's exact realtime code for
///   this case is not in the notes; unverified);
/// * `response_cancel_not_active` — OpenAI's code for `response.cancel` without an active
///   response (recalled, unverified);
/// * `session_expired`, `invalid_model` — §5.4 / §1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `invalid_json`: the frame is not valid JSON.
    InvalidJson,
    /// `invalid_type`: a field has the wrong JSON type.
    InvalidType,
    /// `invalid_value`: a field (or the event `type`) has an unsupported value.
    InvalidValue,
    /// `missing_required_parameter`.
    MissingRequiredParameter,
    /// `unknown_parameter` (not produced by the parser, which ignores unknown fields).
    UnknownParameter,
    /// `decimal_below_min_value`.
    DecimalBelowMinValue,
    /// `decimal_above_max_value`.
    DecimalAboveMaxValue,
    /// `integer_below_min_value`.
    IntegerBelowMinValue,
    /// `integer_above_max_value`.
    IntegerAboveMaxValue,
    /// `input_audio_buffer_commit_empty`: commit with (almost) no audio buffered.
    InputAudioBufferCommitEmpty,
    /// `response_cancel_not_active`: `response.cancel` without an active response.
    ResponseCancelNotActive,
    /// `session_expired`: the session hit its maximum duration.
    SessionExpired,
    /// `invalid_model`: the requested transcription model is not available.
    InvalidModel,
    /// Any other code string.
    Other(String),
}

impl ErrorCode {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::MissingRequiredParameter => "missing_required_parameter",
            ErrorCode::UnknownParameter => "unknown_parameter",
            ErrorCode::DecimalBelowMinValue => "decimal_below_min_value",
            ErrorCode::DecimalAboveMaxValue => "decimal_above_max_value",
            ErrorCode::IntegerBelowMinValue => "integer_below_min_value",
            ErrorCode::IntegerAboveMaxValue => "integer_above_max_value",
            ErrorCode::InputAudioBufferCommitEmpty => "input_audio_buffer_commit_empty",
            ErrorCode::ResponseCancelNotActive => "response_cancel_not_active",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::InvalidModel => "invalid_model",
            ErrorCode::Other(s) => s,
        }
    }

    fn from_wire(s: &str) -> Self {
        const KNOWN: &[ErrorCode] = &[
            ErrorCode::InvalidJson,
            ErrorCode::InvalidType,
            ErrorCode::InvalidValue,
            ErrorCode::MissingRequiredParameter,
            ErrorCode::UnknownParameter,
            ErrorCode::DecimalBelowMinValue,
            ErrorCode::DecimalAboveMaxValue,
            ErrorCode::IntegerBelowMinValue,
            ErrorCode::IntegerAboveMaxValue,
            ErrorCode::InputAudioBufferCommitEmpty,
            ErrorCode::ResponseCancelNotActive,
            ErrorCode::SessionExpired,
            ErrorCode::InvalidModel,
        ];
        KNOWN
            .iter()
            .find(|c| c.as_str() == s)
            .cloned()
            .unwrap_or_else(|| ErrorCode::Other(s.to_owned()))
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(<$t>::from_wire(&s))
            }
        }
    };
}
string_serde!(ErrorType);
string_serde!(ErrorCode);

/// A protocol error, shaped like OpenAI's `error` object; send it with [`ServerEvent::error`].
///
/// Most errors are recoverable: the session should stay open after sending them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error_type}/{code}: {message}")]
pub struct ProtocolError {
    /// `error.type`.
    pub error_type: ErrorType,
    /// `error.code`.
    pub code: ErrorCode,
    /// Human-readable `error.message`.
    pub message: String,
    /// `error.param`: JSON path of the offending field, e.g. `session.audio.input.format.type`.
    pub param: Option<String>,
    /// `error.event_id`: the client's `event_id` of the offending event, when known.
    pub event_id: Option<String>,
}

impl ProtocolError {
    /// An `invalid_request_error` with the given code and message, no param, no event id.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            error_type: ErrorType::InvalidRequestError,
            code,
            message: message.into(),
            param: None,
            event_id: None,
        }
    }

    /// A `server_error` with the given code and message (e.g. an engine failure).
    pub fn server_error(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            error_type: ErrorType::ServerError,
            ..ProtocolError::new(code, message)
        }
    }

    /// Sets `param`.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sets `event_id` (the client event that caused the error).
    pub fn with_event_id(mut self, event_id: Option<impl Into<String>>) -> Self {
        self.event_id = event_id.map(Into::into);
        self
    }

    /// `invalid_json`: the frame could not be parsed as JSON.
    pub fn invalid_json(detail: impl fmt::Display) -> Self {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("The event could not be parsed as JSON: {detail}."),
        )
    }

    /// `missing_required_parameter` for `param`.
    pub fn missing(param: &str) -> Self {
        ProtocolError::new(
            ErrorCode::MissingRequiredParameter,
            format!("Missing required parameter: '{param}'."),
        )
        .with_param(param)
    }

    /// `invalid_type` for `param`, e.g. "expected an integer, but got a string instead".
    pub fn invalid_type(param: &str, expected: &str, got: &Value) -> Self {
        let what = if param.is_empty() { "event" } else { param };
        let msg = format!(
            "Invalid type for '{what}': expected {expected}, but got {} instead.",
            json_kind(got)
        );
        let e = ProtocolError::new(ErrorCode::InvalidType, msg);
        if param.is_empty() { e } else { e.with_param(param) }
    }

    /// `invalid_value` for an enumerated string field.
    pub fn invalid_enum(param: &str, got: &str, supported: &[&str]) -> Self {
        ProtocolError::new(
            ErrorCode::InvalidValue,
            format!(
                "Invalid value: '{got}'. Supported values are: {}.",
                english_list(supported)
            ),
        )
        .with_param(param)
    }

    /// `decimal_below_min_value` / `decimal_above_max_value` for a number outside `min..=max`.
    pub fn decimal_out_of_range(param: &str, got: f64, min: f64, max: f64) -> Self {
        let (code, what, bound) = if got < min {
            (ErrorCode::DecimalBelowMinValue, "below minimum", format!(">= {min}"))
        } else {
            (ErrorCode::DecimalAboveMaxValue, "above maximum", format!("<= {max}"))
        };
        ProtocolError::new(
            code,
            format!("Invalid '{param}': decimal {what} value. Expected a value {bound}, but got {got} instead."),
        )
        .with_param(param)
    }

    /// `integer_below_min_value` / `integer_above_max_value` for an integer outside `min..=max`.
    pub fn integer_out_of_range(param: &str, got: i128, min: i128, max: i128) -> Self {
        let (code, what, bound) = if got < min {
            (ErrorCode::IntegerBelowMinValue, "below minimum", format!(">= {min}"))
        } else {
            (ErrorCode::IntegerAboveMaxValue, "above maximum", format!("<= {max}"))
        };
        ProtocolError::new(
            code,
            format!("Invalid '{param}': integer {what} value. Expected a value {bound}, but got {got} instead."),
        )
        .with_param(param)
    }

    /// `invalid_value` for undecodable base64 in `input_audio_buffer.append` (param `audio`),
    /// with OpenAI's message.
    pub fn invalid_audio() -> Self {
        ProtocolError::new(
            ErrorCode::InvalidValue,
            "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value.",
        )
        .with_param("audio")
    }

    /// `input_audio_buffer_commit_empty` with OpenAI's message, for a commit with less than
    /// 100 ms of audio (`buffered_ms` is what the buffer holds).
    pub fn commit_empty(buffered_ms: f64) -> Self {
        ProtocolError::new(
            ErrorCode::InputAudioBufferCommitEmpty,
            format!(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {buffered_ms:.2}ms of audio."
            ),
        )
    }

    /// The `error` object of an `error` server event.
    pub fn to_detail(&self) -> ErrorDetail {
        ErrorDetail {
            error_type: self.error_type.clone(),
            code: Some(self.code.clone()),
            message: self.message.clone(),
            param: self.param.clone(),
            event_id: self.event_id.clone(),
        }
    }

    /// The `error` object of a `…input_audio_transcription.failed` server event.
    pub fn to_failure_detail(&self) -> TranscriptionErrorDetail {
        TranscriptionErrorDetail {
            error_type: self.error_type.clone(),
            code: Some(self.code.clone()),
            message: self.message.clone(),
            param: self.param.clone(),
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn english_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        2 => format!("{} and {}", quoted[0], quoted[1]),
        n => format!("{}, and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

// ───────────────────────────── ids ─────────────────────────────

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

// ───────────────────────────── Patch ─────────────────────────────

/// Tri-state field of a session update: absent (leave unchanged), explicit `null`
/// (clear / reset to default) or a new value.
///
/// With serde, use `#[serde(default, skip_serializing_if = "Patch::is_absent")]`:
/// a missing field deserializes to [`Patch::Absent`], `null` to [`Patch::Null`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    /// The field was not present: keep the current value.
    #[default]
    Absent,
    /// The field was `null`: clear it (or reset it to its default).
    Null,
    /// The field was set.
    Value(T),
}

impl<T> Patch<T> {
    /// True for [`Patch::Absent`].
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// True for [`Patch::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Patch::Null)
    }

    /// The value, if one was set.
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Borrows the contents.
    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(v),
        }
    }

    /// Maps the value, keeping absent/null.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }

    /// `Some(v)` → `Value(v)`, `None` → `Null` (for building updates that always set a field).
    pub fn from_option(v: Option<T>) -> Self {
        v.map_or(Patch::Null, Patch::Value)
    }

    /// Applies the patch to an optional field: absent keeps, null clears, value sets.
    pub fn apply_to(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Value(v) => *target = Some(v),
        }
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Absent | Patch::Null => s.serialize_none(),
            Patch::Value(v) => v.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Patch::from_option(Option::<T>::deserialize(d)?))
    }
}

// ───────────────────────────── wire enums ─────────────────────────────

macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// All variants, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire string.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// Parses the wire string.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }

            #[allow(dead_code)]
            fn wire_names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::from_wire(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} '{}'", stringify!($name), s))
                })
            }
        }
    };
}

wire_enum! {
    /// GA `session.type`. Both are treated as a transcription session.
    pub enum SessionType {
        /// `"transcription"`.
        Transcription => "transcription",
        /// `"realtime"` (accepted; conversation-only fields are ignored).
        Realtime => "realtime",
    }
}

wire_enum! {
    /// GA `audio.input.format.type`.
    pub enum FormatType {
        /// `audio/pcm`: PCM16 LE mono, 24 kHz (16 kHz accepted as an extension).
        Pcm => "audio/pcm",
        /// `audio/pcmu`: G.711 µ-law, 8 kHz.
        Pcmu => "audio/pcmu",
        /// `audio/pcma`: G.711 A-law, 8 kHz.
        Pcma => "audio/pcma",
        /// `audio/opus` (extension; not part of OpenAI's WebSocket protocol).
        Opus => "audio/opus",
    }
}

wire_enum! {
    /// Extension: framing of `audio/opus` input (`format.container`).
    pub enum OpusContainer {
        /// Raw Opus packets, one packet per `append` event (default).
        Raw => "raw",
        /// Ogg/Opus byte stream.
        Ogg => "ogg",
        /// WebM/Matroska byte stream (browser `MediaRecorder`).
        Webm => "webm",
    }
}

wire_enum! {
    /// Beta `input_audio_format`.
    pub enum BetaAudioFormat {
        /// `pcm16`: PCM16 LE mono 24 kHz.
        Pcm16 => "pcm16",
        /// `g711_ulaw`.
        G711Ulaw => "g711_ulaw",
        /// `g711_alaw`.
        G711Alaw => "g711_alaw",
    }
}

wire_enum! {
    /// `noise_reduction.type`.
    pub enum NoiseReduction {
        /// `near_field` (close-talking microphone).
        NearField => "near_field",
        /// `far_field` (laptop / conference-room microphone).
        FarField => "far_field",
    }
}

wire_enum! {
    /// `turn_detection.type`.
    pub enum TurnDetectionType {
        /// `server_vad`.
        ServerVad => "server_vad",
        /// `semantic_vad`.
        SemanticVad => "semantic_vad",
    }
}

wire_enum! {
    /// `semantic_vad.eagerness`. See [`Eagerness::silence_duration_ms`] for our mapping.
    pub enum Eagerness {
        /// `low`: let the speaker take their time.
        Low => "low",
        /// `medium`.
        Medium => "medium",
        /// `high`: end turns as soon as possible.
        High => "high",
        /// `auto` (= medium).
        Auto => "auto",
    }
}

wire_enum! {
    /// `transcription.delay` (gpt-realtime-whisper latency/accuracy knob); stored and echoed.
    pub enum TranscriptionDelay {
        /// `minimal`.
        Minimal => "minimal",
        /// `low`.
        Low => "low",
        /// `medium`.
        Medium => "medium",
        /// `high`.
        High => "high",
        /// `xhigh`.
        Xhigh => "xhigh",
    }
}

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

impl Eagerness {
    /// Our semantic-VAD mapping: end-of-turn silence in milliseconds for a plain energy/neural
    /// VAD (we have no semantic end-of-turn model). OpenAI documents *maximum* timeouts of
    /// 8 s / 4 s / 2 s for low / medium / high; we use the typical pause lengths instead:
    /// `low` → 1500 ms, `medium` and `auto` → 800 ms, `high` → 400 ms.
    pub fn silence_duration_ms(&self) -> u32 {
        match self {
            Eagerness::Low => 1500,
            Eagerness::Medium | Eagerness::Auto => 800,
            Eagerness::High => 400,
        }
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

// ───────────────────────────── session configuration ─────────────────────────────

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

/// Inclusive bounds of `partial_interval_ms` (0 disables partial deltas).
pub const PARTIAL_INTERVAL_RANGE_MS: (u32, u32) = (50, 60_000);

/// Upper bound accepted for `prefix_padding_ms`, `silence_duration_ms` and
/// `idle_timeout_ms` (local choice; OpenAI's limits are not documented in the notes).
pub const MAX_VAD_DURATION_MS: u32 = 60_000;

/// Maximum decoded audio bytes per `input_audio_buffer.append` (OpenAI: "up to 15 MiB").
/// Not enforced by the parser; the session/WebSocket layer should cap frame sizes.
pub const MAX_APPEND_BYTES: usize = 15 * 1024 * 1024;

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
            apply_transcription(&mut next.transcription, &input.transcription);
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
        apply_transcription(&mut next.transcription, &patch.input_audio_transcription);
        apply_turn_detection(
            &mut next.turn_detection,
            &patch.turn_detection,
            "session.turn_detection",
        )?;
        apply_common(&mut next, &patch.include, &patch.partial_interval_ms)?;
        *self = next;
        Ok(())
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

    /// A GA patch that sets every field to this configuration (for clients / load
    /// generators): `SessionConfig::default().apply_ga_update(&c.to_ga_patch())` yields `c`.
    pub fn to_ga_patch(&self) -> GaSessionPatch {
        let t = &self.transcription;
        let format = match self.format {
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
        let turn_detection = match &self.turn_detection {
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
                    noise_reduction: Patch::from_option(self.noise_reduction.map(|kind| NoiseReductionPatch { kind })),
                    transcription: Patch::Value(TranscriptionPatch {
                        model: Patch::from_option(t.model.clone()),
                        language: Patch::from_option(t.language.clone()),
                        prompt: Patch::from_option(t.prompt.clone()),
                        languages: Patch::from_option(t.languages.clone()),
                        keywords: Patch::from_option(t.keywords.clone()),
                        delay: Patch::from_option(t.delay),
                    }),
                    turn_detection,
                }),
            }),
            include: Patch::Value(self.include.clone()),
            partial_interval_ms: Patch::from_option(self.partial_interval_ms.map(u64::from)),
            ignored: Vec::new(),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    if s.is_empty() { None } else { Some(s.to_owned()) }
}

fn apply_transcription(cfg: &mut TranscriptionConfig, patch: &Patch<TranscriptionPatch>) {
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
            t.languages.clone().apply_to(&mut cfg.languages);
            t.keywords.clone().apply_to(&mut cfg.keywords);
            t.delay.clone().apply_to(&mut cfg.delay);
        }
    }
}

impl<T> Patch<Option<T>> {
    fn apply_to_flat(self, target: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *target = None,
            Patch::Value(v) => *target = v,
        }
    }
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

// ───────────────────────────── client event types ─────────────────────────────

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
    /// A format of the given type with no rate/container.
    pub fn of(format_type: FormatType) -> Self {
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

/// A parsed client event. Every variant carries the client's optional `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// GA `session.update` (reply `session.updated` with [`SessionConfig::to_ga_json`]).
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
    /// [`SessionConfig::to_beta_json`]).
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

// ───────────────────────────── parsing ─────────────────────────────

type PResult<T> = Result<T, ProtocolError>;

/// Lenient standard base64: padding optional, trailing bits tolerated.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Parses one client text frame.
///
/// Errors carry OpenAI's `type`/`code`/`message`/`param` and the frame's `event_id` when it
/// could be read. Unknown fields are ignored (reported in the patches' `ignored`).
pub fn parse_client_event(text: &str) -> Result<ClientEvent, ProtocolError> {
    let value: Value = serde_json::from_str(text).map_err(ProtocolError::invalid_json)?;
    let Value::Object(map) = &value else {
        return Err(ProtocolError::invalid_type("", "an object", &value));
    };
    let event_id = match map.get("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(ProtocolError::invalid_type("event_id", "a string", other)),
    };
    parse_event(map, event_id.clone()).map_err(|e| {
        if e.event_id.is_none() {
            e.with_event_id(event_id)
        } else {
            e
        }
    })
}

fn parse_event(map: &Map<String, Value>, event_id: Option<String>) -> PResult<ClientEvent> {
    let ty = match map.get("type") {
        None | Some(Value::Null) => return Err(ProtocolError::missing("type")),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(ProtocolError::invalid_type("type", "a string", other)),
    };
    match ty {
        "session.update" => {
            let session = required_object(map, "session", "")?;
            match session.get("type") {
                None | Some(Value::Null) => {
                    if BETA_SESSION_KEYS.iter().any(|k| session.contains_key(*k)) {
                        Ok(ClientEvent::LegacySessionUpdate {
                            event_id,
                            session: parse_beta_session(session)?,
                        })
                    } else if GA_SESSION_KEYS.iter().any(|k| session.contains_key(*k)) {
                        Ok(ClientEvent::SessionUpdate {
                            event_id,
                            session: parse_ga_session(session, None)?,
                        })
                    } else {
                        Err(ProtocolError::missing("session.type"))
                    }
                }
                Some(t) => {
                    let st = parse_enum(t, "session.type", SessionType::from_wire, SessionType::wire_names)?;
                    Ok(ClientEvent::SessionUpdate {
                        event_id,
                        session: parse_ga_session(session, Some(st))?,
                    })
                }
            }
        }
        "transcription_session.update" => {
            let session = required_object(map, "session", "")?;
            Ok(ClientEvent::TranscriptionSessionUpdate {
                event_id,
                session: parse_beta_session(session)?,
            })
        }
        "input_audio_buffer.append" => {
            let audio = match map.get("audio") {
                None | Some(Value::Null) => return Err(ProtocolError::missing("audio")),
                Some(Value::String(s)) => s,
                Some(other) => return Err(ProtocolError::invalid_type("audio", "a string", other)),
            };
            let audio = BASE64_LENIENT
                .decode(audio.as_bytes())
                .map_err(|_| ProtocolError::invalid_audio())?;
            Ok(ClientEvent::InputAudioBufferAppend { event_id, audio })
        }
        "input_audio_buffer.commit" => Ok(ClientEvent::InputAudioBufferCommit { event_id }),
        "input_audio_buffer.clear" => Ok(ClientEvent::InputAudioBufferClear { event_id }),
        other => match UnsupportedEvent::from_wire(other) {
            Some(event) => Ok(ClientEvent::Unsupported { event_id, event }),
            None => Err(ProtocolError::invalid_enum("type", other, CLIENT_EVENT_TYPES)),
        },
    }
}

const BETA_SESSION_KEYS: &[&str] = &[
    "input_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
];
const GA_SESSION_KEYS: &[&str] = &["audio", "include", "partial_interval_ms"];

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn required_object<'v>(map: &'v Map<String, Value>, key: &str, prefix: &str) -> PResult<&'v Map<String, Value>> {
    let path = join(prefix, key);
    match map.get(key) {
        None | Some(Value::Null) => Err(ProtocolError::missing(&path)),
        Some(v) => as_object(v, &path),
    }
}

fn as_object<'v>(v: &'v Value, path: &str) -> PResult<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| ProtocolError::invalid_type(path, "an object", v))
}

fn note_unknown(map: &Map<String, Value>, known: &[&str], prefix: &str, ignored: &mut Vec<String>) {
    for k in map.keys() {
        if !known.contains(&k.as_str()) {
            ignored.push(join(prefix, k));
        }
    }
}

fn patch_field<T>(
    map: &Map<String, Value>,
    key: &str,
    prefix: &str,
    parse: impl FnOnce(&Value, &str) -> PResult<T>,
) -> PResult<Patch<T>> {
    match map.get(key) {
        None => Ok(Patch::Absent),
        Some(Value::Null) => Ok(Patch::Null),
        Some(v) => parse(v, &join(prefix, key)).map(Patch::Value),
    }
}

fn parse_string(v: &Value, path: &str) -> PResult<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| ProtocolError::invalid_type(path, "a string", v))
}

fn parse_bool(v: &Value, path: &str) -> PResult<bool> {
    v.as_bool()
        .ok_or_else(|| ProtocolError::invalid_type(path, "a boolean", v))
}

fn parse_f64(v: &Value, path: &str) -> PResult<f64> {
    v.as_f64()
        .ok_or_else(|| ProtocolError::invalid_type(path, "a number", v))
}

fn parse_u64(v: &Value, path: &str) -> PResult<u64> {
    let Value::Number(n) = v else {
        return Err(ProtocolError::invalid_type(path, "an integer", v));
    };
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    if let Some(i) = n.as_i64() {
        return Err(ProtocolError::integer_out_of_range(
            path,
            i128::from(i),
            0,
            i128::from(u32::MAX),
        ));
    }
    match n.as_f64() {
        // Lenient: 500.0 is accepted as 500.
        Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(f as u64),
        Some(f) if f < 0.0 && f.fract() == 0.0 => Err(ProtocolError::integer_out_of_range(
            path,
            f as i128,
            0,
            i128::from(u32::MAX),
        )),
        _ => Err(ProtocolError::invalid_type(path, "an integer", v)),
    }
}

fn parse_string_list(v: &Value, path: &str) -> PResult<Vec<String>> {
    let arr = v
        .as_array()
        .ok_or_else(|| ProtocolError::invalid_type(path, "an array", v))?;
    arr.iter()
        .enumerate()
        .map(|(i, item)| parse_string(item, &format!("{path}[{i}]")))
        .collect()
}

fn parse_enum<T>(
    v: &Value,
    path: &str,
    from_wire: impl Fn(&str) -> Option<T>,
    names: impl Fn() -> Vec<&'static str>,
) -> PResult<T> {
    let s = v
        .as_str()
        .ok_or_else(|| ProtocolError::invalid_type(path, "a string", v))?;
    from_wire(s).ok_or_else(|| ProtocolError::invalid_enum(path, s, &names()))
}

macro_rules! enum_parser {
    ($t:ty) => {
        |v: &Value, p: &str| parse_enum(v, p, <$t>::from_wire, <$t>::wire_names)
    };
}

fn parse_ga_session(session: &Map<String, Value>, session_type: Option<SessionType>) -> PResult<GaSessionPatch> {
    let mut ignored = Vec::new();
    note_unknown(
        session,
        &["type", "audio", "include", "partial_interval_ms"],
        "session",
        &mut ignored,
    );
    let audio = match session.get("audio") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let audio = as_object(v, "session.audio")?;
            note_unknown(audio, &["input"], "session.audio", &mut ignored);
            let input = match audio.get("input") {
                None | Some(Value::Null) => None,
                Some(v) => Some(parse_ga_input(as_object(v, "session.audio.input")?, &mut ignored)?),
            };
            Some(GaAudioPatch { input })
        }
    };
    Ok(GaSessionPatch {
        session_type,
        audio,
        include: patch_field(session, "include", "session", parse_string_list)?,
        partial_interval_ms: patch_field(session, "partial_interval_ms", "session", parse_u64)?,
        ignored,
    })
}

fn parse_ga_input(input: &Map<String, Value>, ignored: &mut Vec<String>) -> PResult<GaAudioInputPatch> {
    const P: &str = "session.audio.input";
    note_unknown(
        input,
        &["format", "noise_reduction", "transcription", "turn_detection"],
        P,
        ignored,
    );
    Ok(GaAudioInputPatch {
        format: patch_field(input, "format", P, |v, p| parse_format(v, p, ignored))?,
        noise_reduction: patch_field(input, "noise_reduction", P, |v, p| parse_noise_reduction(v, p, ignored))?,
        transcription: patch_field(input, "transcription", P, |v, p| parse_transcription(v, p, ignored))?,
        turn_detection: patch_field(input, "turn_detection", P, |v, p| parse_turn_detection(v, p, ignored))?,
    })
}

fn parse_beta_session(session: &Map<String, Value>) -> PResult<BetaSessionPatch> {
    const P: &str = "session";
    let mut ignored = Vec::new();
    note_unknown(
        session,
        &[
            "input_audio_format",
            "input_audio_transcription",
            "turn_detection",
            "input_audio_noise_reduction",
            "include",
            "partial_interval_ms",
        ],
        P,
        &mut ignored,
    );
    let ig = &mut ignored;
    let patch = BetaSessionPatch {
        input_audio_format: patch_field(session, "input_audio_format", P, enum_parser!(BetaAudioFormat))?,
        input_audio_transcription: patch_field(session, "input_audio_transcription", P, |v, p| {
            parse_transcription(v, p, ig)
        })?,
        turn_detection: patch_field(session, "turn_detection", P, |v, p| parse_turn_detection(v, p, ig))?,
        input_audio_noise_reduction: patch_field(session, "input_audio_noise_reduction", P, |v, p| {
            parse_noise_reduction(v, p, ig)
        })?,
        include: patch_field(session, "include", P, parse_string_list)?,
        partial_interval_ms: patch_field(session, "partial_interval_ms", P, parse_u64)?,
        ignored: Vec::new(),
    };
    Ok(BetaSessionPatch { ignored, ..patch })
}

fn parse_format(v: &Value, path: &str, ignored: &mut Vec<String>) -> PResult<FormatPatch> {
    let m = as_object(v, path)?;
    note_unknown(m, &["type", "rate", "container"], path, ignored);
    let format_type = match m.get("type") {
        None | Some(Value::Null) => return Err(ProtocolError::missing(&join(path, "type"))),
        Some(t) => parse_enum(t, &join(path, "type"), FormatType::from_wire, || {
            FormatType::wire_names()
        })?,
    };
    let rate = match m.get("rate") {
        None | Some(Value::Null) => None,
        Some(r) => Some(parse_u64(r, &join(path, "rate"))?),
    };
    let container = match m.get("container") {
        None | Some(Value::Null) => None,
        Some(c) => Some(parse_enum(
            c,
            &join(path, "container"),
            OpusContainer::from_wire,
            OpusContainer::wire_names,
        )?),
    };
    Ok(FormatPatch {
        format_type,
        rate,
        container,
    })
}

fn parse_noise_reduction(v: &Value, path: &str, ignored: &mut Vec<String>) -> PResult<NoiseReductionPatch> {
    let m = as_object(v, path)?;
    note_unknown(m, &["type"], path, ignored);
    let kind = match m.get("type") {
        None | Some(Value::Null) => return Err(ProtocolError::missing(&join(path, "type"))),
        Some(t) => parse_enum(
            t,
            &join(path, "type"),
            NoiseReduction::from_wire,
            NoiseReduction::wire_names,
        )?,
    };
    Ok(NoiseReductionPatch { kind })
}

fn parse_transcription(v: &Value, path: &str, ignored: &mut Vec<String>) -> PResult<TranscriptionPatch> {
    let m = as_object(v, path)?;
    note_unknown(
        m,
        &["model", "language", "prompt", "languages", "keywords", "delay"],
        path,
        ignored,
    );
    Ok(TranscriptionPatch {
        model: patch_field(m, "model", path, parse_string)?,
        language: patch_field(m, "language", path, parse_string)?,
        prompt: patch_field(m, "prompt", path, parse_string)?,
        languages: patch_field(m, "languages", path, parse_string_list)?,
        keywords: patch_field(m, "keywords", path, parse_string_list)?,
        delay: patch_field(m, "delay", path, enum_parser!(TranscriptionDelay))?,
    })
}

fn parse_turn_detection(v: &Value, path: &str, ignored: &mut Vec<String>) -> PResult<TurnDetectionPatch> {
    let m = as_object(v, path)?;
    note_unknown(
        m,
        &[
            "type",
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "idle_timeout_ms",
            "eagerness",
            "create_response",
            "interrupt_response",
        ],
        path,
        ignored,
    );
    let kind = match m.get("type") {
        None | Some(Value::Null) => None,
        Some(t) => Some(parse_enum(
            t,
            &join(path, "type"),
            TurnDetectionType::from_wire,
            TurnDetectionType::wire_names,
        )?),
    };
    Ok(TurnDetectionPatch {
        kind,
        threshold: patch_field(m, "threshold", path, parse_f64)?,
        prefix_padding_ms: patch_field(m, "prefix_padding_ms", path, parse_u64)?,
        silence_duration_ms: patch_field(m, "silence_duration_ms", path, parse_u64)?,
        idle_timeout_ms: patch_field(m, "idle_timeout_ms", path, parse_u64)?,
        eagerness: patch_field(m, "eagerness", path, enum_parser!(Eagerness))?,
        create_response: patch_field(m, "create_response", path, parse_bool)?,
        interrupt_response: patch_field(m, "interrupt_response", path, parse_bool)?,
    })
}

// ───────────────────────────── server events ─────────────────────────────

/// `error` object of an `error` server event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `type`.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// `code`.
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// `message`.
    #[serde(default)]
    pub message: String,
    /// `param` (serialized as `null` when unset).
    #[serde(default)]
    pub param: Option<String>,
    /// `event_id` of the offending client event (serialized as `null` when unset).
    #[serde(default)]
    pub event_id: Option<String>,
}

/// `error` object of a `…input_audio_transcription.failed` server event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionErrorDetail {
    /// `type`.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// `code`.
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// `message`.
    #[serde(default)]
    pub message: String,
    /// `param`.
    #[serde(default)]
    pub param: Option<String>,
}

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
    /// A user `input_audio` message item; `transcript: None` ⇒ still in progress.
    pub fn user_audio(item_id: &str, transcript: Option<&str>) -> Self {
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
    /// `session.created` (GA); `session` from [`SessionConfig::to_ga_json`].
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
    /// `transcription_session.created` (beta); `session` from [`SessionConfig::to_beta_json`].
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
    /// `logprobs`.
    pub logprobs: Option<Vec<LogProb>>,
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

    /// `conversation.item.created` (beta) for a user audio item.
    pub fn item_created(item_id: &str, previous_item_id: Option<String>, transcript: Option<&str>) -> Self {
        Self::new(ServerEventBody::ConversationItemCreated {
            previous_item_id,
            item: ConversationItem::user_audio(item_id, transcript),
        })
    }

    /// `conversation.item.added` (GA) for a user audio item.
    pub fn item_added(item_id: &str, previous_item_id: Option<String>) -> Self {
        Self::new(ServerEventBody::ConversationItemAdded {
            previous_item_id,
            item: ConversationItem::user_audio(item_id, None),
        })
    }

    /// `conversation.item.done` (GA) for a user audio item with its final transcript.
    pub fn item_done(item_id: &str, previous_item_id: Option<String>, transcript: &str) -> Self {
        Self::new(ServerEventBody::ConversationItemDone {
            previous_item_id,
            item: ConversationItem::user_audio(item_id, Some(transcript)),
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

    /// Parses a server event (for clients, tests and the load generator).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> ClientEvent {
        match parse_client_event(text) {
            Ok(ev) => ev,
            Err(e) => panic!("unexpected error for {text}: {e:?}"),
        }
    }

    fn parse_err(text: &str) -> ProtocolError {
        match parse_client_event(text) {
            Ok(ev) => panic!("expected error for {text}, got {ev:?}"),
            Err(e) => e,
        }
    }

    fn ga_patch(text: &str) -> GaSessionPatch {
        match parse_ok(text) {
            ClientEvent::SessionUpdate { session, .. } => session,
            other => panic!("not a GA session.update: {other:?}"),
        }
    }

    fn beta_patch(text: &str) -> BetaSessionPatch {
        match parse_ok(text) {
            ClientEvent::TranscriptionSessionUpdate { session, .. }
            | ClientEvent::LegacySessionUpdate { session, .. } => session,
            other => panic!("not a beta update: {other:?}"),
        }
    }

    fn apply_ga(cfg: &mut SessionConfig, session_json: Value) -> Result<(), ProtocolError> {
        let text = json!({"type": "session.update", "session": session_json}).to_string();
        let patch = match parse_client_event(&text)? {
            ClientEvent::SessionUpdate { session, .. } => session,
            other => panic!("unexpected {other:?}"),
        };
        cfg.apply_ga_update(&patch)
    }

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
    fn parses_full_ga_example_from_notes() {
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
    fn default_ga_session_object_matches_notes_shape() {
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
    fn type_errors_carry_paths() {
        let e = parse_err(
            r#"{"type":"session.update","event_id":"x","session":{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm","rate":"24000"}}}}}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidType);
        assert_eq!(e.param.as_deref(), Some("session.audio.input.format.rate"));
        assert_eq!(
            e.message,
            "Invalid type for 'session.audio.input.format.rate': expected an integer, but got a string instead."
        );
        assert_eq!(e.event_id.as_deref(), Some("x"));
        assert_eq!(e.error_type, ErrorType::InvalidRequestError);

        let e = parse_err(
            r#"{"type":"session.update","session":{"type":"transcription","audio":{"input":{"transcription":{"keywords":["a",3]}}}}}"#,
        );
        assert_eq!(
            e.param.as_deref(),
            Some("session.audio.input.transcription.keywords[1]")
        );
        let e = parse_err(
            r#"{"type":"session.update","session":{"type":"transcription","audio":{"input":{"turn_detection":{"create_response":"yes"}}}}}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidType);
        let e = parse_err(
            r#"{"type":"session.update","session":{"type":"transcription","audio":{"input":{"turn_detection":{"threshold":0.5,"prefix_padding_ms":1.5}}}}}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidType);
        let e = parse_err(r#"{"type":"session.update","session":"nope"}"#);
        assert_eq!(e.param.as_deref(), Some("session"));
        assert_eq!(e.code, ErrorCode::InvalidType);
    }

    #[test]
    fn session_type_handling() {
        let p = ga_patch(
            r#"{"type":"session.update","session":{"type":"realtime","model":"gpt-realtime","instructions":"hi","audio":{"input":{"transcription":{"model":"whisper-1"}},"output":{"voice":"alloy"}}}}"#,
        );
        assert_eq!(p.session_type, Some(SessionType::Realtime));
        let mut ignored = p.ignored.clone();
        ignored.sort();
        assert_eq!(
            ignored,
            vec![
                "session.audio.output".to_string(),
                "session.instructions".to_string(),
                "session.model".to_string(),
            ]
        );
        let e = parse_err(r#"{"type":"session.update","event_id":"probe","session":{"totally_made_up_field":1}}"#);
        assert_eq!(e.code, ErrorCode::MissingRequiredParameter);
        assert_eq!(e.param.as_deref(), Some("session.type"));
        assert_eq!(e.message, "Missing required parameter: 'session.type'.");
        assert_eq!(e.event_id.as_deref(), Some("probe"));
        let e = parse_err(r#"{"type":"session.update","session":{"type":"conversation"}}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("session.type"));
        let e = parse_err(r#"{"type":"session.update"}"#);
        assert_eq!(e.param.as_deref(), Some("session"));
        // Lenient: GA fields without type.
        let p = ga_patch(r#"{"type":"session.update","session":{"audio":{"input":{"turn_detection":null}}}}"#);
        assert_eq!(p.session_type, None);
        assert!(p.audio.unwrap().input.unwrap().turn_detection.is_null());
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

    #[test]
    fn append_commit_clear() {
        let ev = parse_ok(r#"{"type":"input_audio_buffer.append","audio":"AAECAw==","event_id":"a1"}"#);
        assert_eq!(
            ev,
            ClientEvent::InputAudioBufferAppend {
                event_id: Some("a1".into()),
                audio: vec![0, 1, 2, 3]
            }
        );
        // Padding optional.
        let ev = parse_ok(r#"{"type":"input_audio_buffer.append","audio":"AAECAw"}"#);
        assert_eq!(ev, ClientEvent::append(vec![0, 1, 2, 3]));
        let ev = parse_ok(r#"{"type":"input_audio_buffer.append","audio":""}"#);
        assert_eq!(ev, ClientEvent::append(Vec::new()));

        let e = parse_err(r#"{"type":"input_audio_buffer.append","audio":"@@not base64@@","event_id":"bad"}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("audio"));
        assert_eq!(e.event_id.as_deref(), Some("bad"));
        assert!(
            e.message
                .starts_with("Invalid 'audio'. Expected base64-encoded audio bytes")
        );
        let e = parse_err(r#"{"type":"input_audio_buffer.append"}"#);
        assert_eq!(e.code, ErrorCode::MissingRequiredParameter);
        assert_eq!(e.param.as_deref(), Some("audio"));
        let e = parse_err(r#"{"type":"input_audio_buffer.append","audio":[1,2]}"#);
        assert_eq!(e.code, ErrorCode::InvalidType);

        assert_eq!(
            parse_ok(r#"{"type":"input_audio_buffer.commit","event_id":"c"}"#),
            ClientEvent::InputAudioBufferCommit {
                event_id: Some("c".into())
            }
        );
        assert_eq!(
            parse_ok(r#"{"type":"input_audio_buffer.clear"}"#),
            ClientEvent::InputAudioBufferClear { event_id: None }
        );
    }

    #[test]
    fn top_level_errors() {
        let e = parse_err("{not json");
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert_eq!(e.param, None);
        assert_eq!(e.event_id, None);
        let e = parse_err("[1,2]");
        assert_eq!(e.code, ErrorCode::InvalidType);
        assert_eq!(e.param, None);
        let e = parse_err(r#"{"event_id":"q"}"#);
        assert_eq!(e.code, ErrorCode::MissingRequiredParameter);
        assert_eq!(e.param.as_deref(), Some("type"));
        assert_eq!(e.event_id.as_deref(), Some("q"));
        let e = parse_err(r#"{"type":"foo","event_id":"q2"}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert_eq!(e.param.as_deref(), Some("type"));
        assert!(
            e.message
                .starts_with("Invalid value: 'foo'. Supported values are: 'session.update', ")
        );
        assert_eq!(e.event_id.as_deref(), Some("q2"));
        let e = parse_err(r#"{"type":7}"#);
        assert_eq!(e.code, ErrorCode::InvalidType);
        let e = parse_err(r#"{"type":"input_audio_buffer.commit","event_id":5}"#);
        assert_eq!(e.param.as_deref(), Some("event_id"));
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
                session: cfg.to_ga_patch(),
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
        for k in ["language", "speaker", "latency_ms", "logprobs", "languages"] {
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
                logprobs: None,
            },
        );
        let v: Value = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["language"], "zh");
        assert_eq!(v["languages"], json!([{"code":"zh"}]));
        assert_eq!(v["speaker"], "A");
        assert_eq!(v["latency_ms"], 120);
        assert_eq!(v["usage"]["seconds"], 0.0);

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

        let v = serde_json::to_value(ServerEvent::item_done("item_1", None, "hi")).unwrap();
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
            ServerEvent::cleared(),
            ServerEvent::error(&ProtocolError::missing("type")),
            ServerEvent::item_added("i", None),
            ServerEvent::session_updated(SessionConfig::default().to_ga_json("s", 1)),
        ];
        for ev in events {
            let text = ev.to_json();
            let back = ServerEvent::from_json(&text).unwrap();
            assert_eq!(back, ev, "{text}");
            assert_eq!(back.event_type(), ev.event_type());
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], ev.event_type());
        }
        let ev = ServerEvent::from_json(r#"{"event_id":"e","type":"rate_limits.updated","rate_limits":[]}"#).unwrap();
        assert_eq!(ev.body, ServerEventBody::Unknown);
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_event_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(new_item_id().starts_with("item_"));
        assert!(new_session_id().starts_with("sess_"));
    }

    #[test]
    fn patch_serde_tri_state() {
        #[derive(Deserialize, Serialize, PartialEq, Debug)]
        struct S {
            #[serde(default, skip_serializing_if = "Patch::is_absent")]
            x: Patch<u32>,
        }
        let absent: S = serde_json::from_str("{}").unwrap();
        assert!(absent.x.is_absent());
        let null: S = serde_json::from_str(r#"{"x":null}"#).unwrap();
        assert!(null.x.is_null());
        let val: S = serde_json::from_str(r#"{"x":3}"#).unwrap();
        assert_eq!(val.x, Patch::Value(3));
        assert_eq!(serde_json::to_string(&absent).unwrap(), "{}");
        assert_eq!(serde_json::to_string(&null).unwrap(), r#"{"x":null}"#);
        assert_eq!(serde_json::to_string(&val).unwrap(), r#"{"x":3}"#);
        let mut target = Some(1);
        Patch::Absent.apply_to(&mut target);
        assert_eq!(target, Some(1));
        Patch::Value(2).apply_to(&mut target);
        assert_eq!(target, Some(2));
        Patch::<i32>::Null.apply_to(&mut target);
        assert_eq!(target, None);
    }

    #[test]
    fn parser_never_panics_on_garbage() {
        // Deterministic pseudo-random mutations of valid frames.
        let seeds = [
            r#"{"type":"session.update","session":{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"turn_detection":{"type":"server_vad","threshold":0.5}}}}}"#,
            r#"{"type":"transcription_session.update","session":{"input_audio_format":"pcm16","turn_detection":null}}"#,
            r#"{"type":"input_audio_buffer.append","audio":"AAAA"}"#,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "{}[]\":,0123456789.-null truefalse abcxyz\\é你".chars().collect();
        for seed in seeds {
            for _ in 0..2000 {
                let mut chars: Vec<char> = seed.chars().collect();
                for _ in 0..(next() % 4 + 1) {
                    let pos = (next() as usize) % (chars.len() + 1);
                    match next() % 3 {
                        0 if pos < chars.len() => {
                            chars.remove(pos);
                        }
                        1 => chars.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
                        _ if pos < chars.len() => chars[pos] = alphabet[(next() as usize) % alphabet.len()],
                        _ => {}
                    }
                }
                let text: String = chars.into_iter().collect();
                if let Ok(ClientEvent::SessionUpdate { session, .. }) = parse_client_event(&text) {
                    let _ = SessionConfig::default().apply_ga_update(&session);
                }
                if let Ok(ClientEvent::TranscriptionSessionUpdate { session, .. }) = parse_client_event(&text) {
                    let _ = SessionConfig::default().apply_beta_update(&session);
                }
            }
        }
    }
}
