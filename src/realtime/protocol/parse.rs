//! [`parse_client_event`]: one WebSocket text frame to a [`ClientEvent`], or to an OpenAI-shaped
//! [`ProtocolError`].
//!
//! The parser walks a `serde_json::Value` by hand instead of deriving `Deserialize`, for the
//! errors: each carries OpenAI's code and message, the JSON path of the offending field in
//! `param` (`session.audio.input.format.rate`, `….keywords[1]`) and the frame's `event_id`
//! when it could be read.
//!
//! Dispatch on `type`: `session.update` with a `session.type` is a GA update; without one, flat
//! beta fields make it a legacy beta update, GA fields a GA update with no type (lenient), and
//! anything else is `missing_required_parameter` `session.type`. `transcription_session.update`
//! is a beta update; `input_audio_buffer.append` decodes its base64 leniently (padding optional);
//! an unknown `type` is `invalid_value` with param `type`.
//!
//! Invariants: it never panics, whatever the text. Unknown fields are not errors: their JSON
//! paths go into the patch's `ignored`. Fields are checked for type and enum membership only
//! (integers must be non-negative; an integral float such as `500.0` counts as an integer);
//! value ranges are checked when the patch is applied (`update.rs`).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use super::{
    BetaAudioFormat, BetaSessionPatch, CLIENT_EVENT_TYPES, ClientEvent, Eagerness, ErrorCode, FormatPatch, FormatType,
    GaAudioInputPatch, GaAudioPatch, GaSessionPatch, InlineGlossary, NoiseReduction, NoiseReductionPatch,
    OpusContainer, Patch, ProtocolError, SessionType, TranscriptionDelay, TranscriptionPatch, TurnDetectionPatch,
    TurnDetectionType, UnsupportedEvent,
};
use crate::batch::request::parse_review;
use crate::review::GlossaryError;

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

// ── reading JSON values, with errors that carry the path ──

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
        &[
            "model",
            "language",
            "prompt",
            "languages",
            "keywords",
            "delay",
            "glossary",
            "glossary_id",
            "review",
            "diarization",
            "glossary_prompt",
        ],
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
        glossary: patch_field(m, "glossary", path, parse_glossary)?,
        glossary_id: patch_field(m, "glossary_id", path, parse_string)?,
        review: patch_field(m, "review", path, |v, p| {
            parse_enum(v, p, parse_review, || REVIEW_MODES.to_vec())
        })?,
        diarization: patch_field(m, "diarization", path, parse_bool)?,
        glossary_prompt: patch_field(m, "glossary_prompt", path, parse_bool)?,
    })
}

/// The values of the `review` extension.
const REVIEW_MODES: [&str; 3] = ["none", "glossary", "llm"];

/// The inline `glossary` extension: an array of rows, each a string (a term without aliases)
/// or an object with a string `term` (see [`crate::review::Glossary`] for the schema).
fn parse_glossary(v: &Value, path: &str) -> PResult<InlineGlossary> {
    let rows = v
        .as_array()
        .ok_or_else(|| ProtocolError::invalid_type(path, "an array", v))?;
    for (i, row) in rows.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match row {
            Value::String(_) => {}
            Value::Object(o) => match o.get("term") {
                None | Some(Value::Null) => return Err(ProtocolError::missing(&join(&at, "term"))),
                Some(t) => {
                    parse_string(t, &join(&at, "term"))?;
                }
            },
            other => return Err(ProtocolError::invalid_type(&at, "a string or an object", other)),
        }
    }
    InlineGlossary::from_json(v.clone()).map_err(|e| {
        let param = match e {
            GlossaryError::EmptyTerm(i) => format!("{path}[{i}].term"),
            _ => path.to_owned(),
        };
        ProtocolError::new(ErrorCode::InvalidValue, format!("Invalid glossary: {e}.")).with_param(param)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::test_support::*;
    use crate::realtime::protocol::{ErrorCode, ErrorType, SessionConfig};

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
