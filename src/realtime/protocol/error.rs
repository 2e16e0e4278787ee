//! Protocol errors, shaped like OpenAI's `error` object.
//!
//! A [`ProtocolError`] is anything the client should hear about: a frame that is not JSON, a field
//! of the wrong type or out of range, a commit with too little audio, an engine failure. It
//! carries OpenAI's `error.type` ([`ErrorType`]) and `error.code` ([`ErrorCode`]), a message in
//! OpenAI's wording where that is known, `param` (the JSON path of the offending field, e.g.
//! `session.audio.input.format.rate`) and `event_id` (the client event that caused it). On the
//! wire it becomes the `error` of an `error` event ([`ErrorDetail`]) or of a
//! `…input_audio_transcription.failed` event ([`TranscriptionErrorDetail`]).
//!
//! Invariants: [`ErrorType`] and [`ErrorCode`] serialize to OpenAI's strings, and any other string
//! parses into their `Other` variant, so error events of other servers still deserialize. Most
//! errors are recoverable: the session stays open after sending one (OpenAI: "Most errors are
//! recoverable and the session will stay open").

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

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
/// Where each code and message comes from:
/// * `invalid_value`, param `type`, for an unknown client event type (since api.openai.com
///   removed the beta API in 2026-05 it answers `transcription_session.update` with "Invalid
///   value: 'transcription_session.update'" (y0sif/whisrs#34); a live GA probe recorded in
///   swigerb/SonicAIDriveThru's conformance README gives code `invalid_value`, param `type`);
/// * `invalid_value`, param `audio`, for bad base64 in `input_audio_buffer.append`
///   (Azure-Samples/aoai-realtime-audio-sdk#95: "Invalid 'audio'. Expected base64-encoded
///   audio bytes (mono PCM16 at 24kHz) but got an invalid value.");
/// * `missing_required_parameter` ("Missing required parameter: 'session.type'.") and
///   `unknown_parameter` — same live probe;
/// * `input_audio_buffer_commit_empty` — OpenAI refuses to commit less than 100 ms of audio;
///   the code is the one clients receive, the message the one the speaches server reproduces;
/// * `invalid_type`, `decimal_below_min_value`, `decimal_above_max_value`,
///   `integer_below_min_value`, `integer_above_max_value` — OpenAI's REST validation codes
///   and message templates (not observed on the realtime socket; unverified there);
/// * `invalid_json` — chosen for frames that are not JSON (OpenAI's exact realtime code for
///   this case is not known; unverified);
/// * `response_cancel_not_active` — OpenAI's code for `response.cancel` without an active
///   response (recalled, unverified);
/// * `session_expired` — api.openai.com's code when a session reaches its maximum duration
///   ("Your session hit the maximum duration of 15 minutes.";
///   fuwei007/OpenAIIOSRealtimeAPIDemo#4);
/// * `invalid_model` — api.openai.com's code when a transcription `session.update` names a
///   model the session cannot serve (livekit/agents-js#1756: "Model \"gpt-4o-mini-transcribe\"
///   is not supported in transcription mode.").
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

/// A protocol error, shaped like OpenAI's `error` object; send it with
/// [`ServerEvent::error`](super::ServerEvent::error).
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
        let below = got < min;
        let code = if below {
            ErrorCode::DecimalBelowMinValue
        } else {
            ErrorCode::DecimalAboveMaxValue
        };
        Self::out_of_range(code, "decimal", param, below, got, min, max)
    }

    /// `integer_below_min_value` / `integer_above_max_value` for an integer outside `min..=max`.
    pub fn integer_out_of_range(param: &str, got: i128, min: i128, max: i128) -> Self {
        let below = got < min;
        let code = if below {
            ErrorCode::IntegerBelowMinValue
        } else {
            ErrorCode::IntegerAboveMaxValue
        };
        Self::out_of_range(code, "integer", param, below, got, min, max)
    }

    /// OpenAI's wording for a `kind` (decimal, integer) value outside `min..=max`.
    fn out_of_range<T: std::fmt::Display>(
        code: ErrorCode,
        kind: &str,
        param: &str,
        below: bool,
        got: T,
        min: T,
        max: T,
    ) -> Self {
        let (what, bound) = if below {
            ("below minimum", format!(">= {min}"))
        } else {
            ("above maximum", format!("<= {max}"))
        };
        ProtocolError::new(
            code,
            format!("Invalid '{param}': {kind} {what} value. Expected a value {bound}, but got {got} instead."),
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
