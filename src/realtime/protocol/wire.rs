//! The enumerated strings of the session configuration: `session.type`, the GA and beta audio
//! formats, the Opus container, noise reduction, turn detection type, `semantic_vad` eagerness
//! and the transcription delay.
//!
//! Each is a fieldless enum declared with `wire_enum!`, which derives from the variant → string
//! table: `as_str` (the wire string), `from_wire` (its exact inverse, `None` for any other
//! string), `ALL` (every variant in wire order, which is also the order of "Supported values are:
//! …" in error messages), `Display`, and serde impls that use the wire string.

use crate::config::PartialDelay;

/// Declares a fieldless enum with its wire strings (see the module docs).
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

            /// The wire strings, in wire order (for "Supported values are: …").
            #[allow(dead_code)]
            pub(super) fn wire_names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                $name::from_wire(&s).ok_or_else(|| {
                    ::serde::de::Error::custom(format!("unknown {} '{}'", stringify!($name), s))
                })
            }
        }
    };
}
pub(super) use wire_enum;

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
    /// `transcription.delay` (gpt-realtime-whisper's latency/accuracy knob): how many partials
    /// must agree on a word before it is sent ([`PartialDelay`]).
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

impl From<TranscriptionDelay> for PartialDelay {
    fn from(d: TranscriptionDelay) -> Self {
        match d {
            TranscriptionDelay::Minimal => PartialDelay::Minimal,
            TranscriptionDelay::Low => PartialDelay::Low,
            TranscriptionDelay::Medium => PartialDelay::Medium,
            TranscriptionDelay::High => PartialDelay::High,
            TranscriptionDelay::Xhigh => PartialDelay::Xhigh,
        }
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
