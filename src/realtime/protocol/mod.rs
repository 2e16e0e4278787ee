//! OpenAI Realtime *transcription* wire protocol: the JSON text frames of `/v1/realtime`, and the
//! session configuration they read and change.
//!
//! # The protocol
//!
//! A client opens a WebSocket and both sides exchange JSON objects, each naming its `type`. The
//! client sends [`ClientEvent`]s: a session update, then `input_audio_buffer.append` frames of
//! base64 audio, and `input_audio_buffer.commit` / `clear` when it detects turns itself. The
//! server sends [`ServerEvent`]s: the session object after each update, VAD notifications
//! (`speech_started`, `speech_stopped`, `committed`) and, per item, the transcription `delta`s
//! followed by one authoritative `completed` (or `failed`). A bad client event is answered by an
//! `error` event built from a [`ProtocolError`]; most errors leave the session open.
//!
//! # Two dialects
//!
//! OpenAI has shipped two forms of the transcription session and clients in use speak both, so
//! every session accepts both and answers each update in its own dialect:
//!
//! * **GA**: `session.update` with `session.type` = `"transcription"` (or `"realtime"`, whose
//!   conversation-only fields are ignored) and the settings nested under
//!   `session.audio.input.{format, noise_reduction, transcription, turn_detection}`; answered by
//!   `session.created|updated` carrying [`SessionConfig::to_ga_json`].
//! * **beta**: `transcription_session.update` with flat fields (`input_audio_format`,
//!   `input_audio_transcription`, `input_audio_noise_reduction`, `turn_detection`); answered by
//!   `transcription_session.created|updated` carrying [`SessionConfig::to_beta_json`]. A plain
//!   `session.update` with those flat fields and no `session.type` is the older beta form and is
//!   read the same way ([`ClientEvent::LegacySessionUpdate`]).
//!
//! The `input_audio_buffer.*` events and the transcription events are the same in both.
//!
//! # Invariants
//!
//! * **PATCH semantics.** Every updatable field is a [`Patch`]: absent leaves it unchanged, `null`
//!   clears it or resets it to its default (`turn_detection: null` selects manual commit), a value
//!   sets it.
//! * **Atomic updates.** [`SessionConfig::apply_ga_update`] and
//!   [`SessionConfig::apply_beta_update`] apply the whole patch, or change nothing and return the
//!   error.
//! * **Errors name the field.** A [`ProtocolError`] from [`parse_client_event`] or from an update
//!   has OpenAI's `type`, `code` and message, the JSON path of the offending field as `param`, and
//!   the client's `event_id` when it could be read.
//! * **The parser never panics**, whatever the text, and `parse_client_event(&ev.to_json())`
//!   gives back `ev` for every [`ClientEvent`].
//! * **OpenAI's defaults.** [`SessionConfig::default`] is PCM16 at 24 kHz and `server_vad` with
//!   threshold 0.5, 300 ms prefix padding and 500 ms silence.
//!
//! # Leniency and extensions
//!
//! Deliberate deviations from api.openai.com, which rejects these: unknown fields are ignored
//! (their JSON paths are reported in the patches' `ignored` so the caller can log them), because
//! GA `session.type: "realtime"` clients send many conversation-only fields; `audio/pcm` also
//! accepts `rate: 16000`; numbers such as `500.0` are accepted where an integer is expected.
//!
//! Extensions on the wire (the full list, checked against the SDK's models, is in `docs/api.md`,
//! "Strict clients"): `audio/opus` input with an optional `container`;
//! `session.partial_interval_ms` (GA and beta, session level); the beta session's
//! `input_audio_transcription.router_model` (the configured model when it is not one of the beta
//! enum's); the second pass's fields of the transcription settings ([`InlineGlossary`]
//! `glossary`, `glossary_id`, `review`; the last two echoed when set); and, on
//! `…input_audio_transcription.completed`, the optional fields `language`, `speaker`,
//! `latency_ms`, `raw_transcript` and `edits` (omitted when unset; python and node clients ignore
//! unknown fields).
//! `include: ["item.input_audio_transcription.logprobs"]` is refused: no engine reports logprobs.
//!
//! # Layout
//!
//! Everything public is re-exported here; the files are private:
//!
//! * `error.rs`: [`ProtocolError`] and its wire parts ([`ErrorType`], [`ErrorCode`],
//!   [`ErrorDetail`]);
//! * `ids.rs`: random `event_…`, `item_…` and `sess_…` ids;
//! * `patch.rs`: [`Patch`], the tri-state field of an update;
//! * `wire.rs`: the enumerated strings of the configuration ([`FormatType`], [`Eagerness`], …);
//! * `config.rs`: [`SessionConfig`], its defaults and its GA and beta session objects;
//! * `update.rs`: the update patches ([`GaSessionPatch`], [`BetaSessionPatch`], …) and how they
//!   apply to a [`SessionConfig`];
//! * `client.rs`: [`ClientEvent`] and [`UnsupportedEvent`];
//! * `parse.rs`: [`parse_client_event`], from a text frame to a [`ClientEvent`];
//! * `server.rs`: [`ServerEvent`] and its payloads.

mod client;
mod config;
mod error;
mod ids;
mod parse;
mod patch;
mod server;
#[cfg(test)]
mod test_support;
mod update;
mod wire;

pub use client::{CLIENT_EVENT_TYPES, ClientEvent, UnsupportedEvent};
pub use config::{
    AudioFormat, BETA_TRANSCRIPTION_MODELS, INCLUDE_LOGPROBS, InlineGlossary, SemanticVad, ServerVad, SessionConfig,
    TranscriptionConfig, TurnDetection,
};
pub use error::{ErrorCode, ErrorDetail, ErrorType, ProtocolError, TranscriptionErrorDetail};
pub use ids::{new_event_id, new_item_id, new_session_id};
pub use parse::parse_client_event;
pub use patch::Patch;
pub use server::{
    CompletedExtras, ConversationItem, ItemContent, LanguageCode, LogProb, ServerEvent, ServerEventBody, Usage,
};
pub use update::{
    BetaSessionPatch, FormatPatch, GaAudioInputPatch, GaAudioPatch, GaSessionPatch, MAX_VAD_DURATION_MS,
    NoiseReductionPatch, PARTIAL_INTERVAL_RANGE_MS, TranscriptionPatch, TurnDetectionPatch,
};
pub use wire::{
    BetaAudioFormat, Eagerness, FormatType, NoiseReduction, OpusContainer, SessionType, TranscriptionDelay,
    TurnDetectionType,
};
