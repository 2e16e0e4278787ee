//! Audio in: container and codec decoding, channel mixing and resampling to 16 kHz mono `f32`.
//!
//! Everything downstream (VAD, recognizers) sees only 16 kHz mono samples in `[-1, 1]`; this module
//! is the only place that knows about containers, codecs and sample rates.

pub mod decode;
pub mod g711;
pub mod opus_decode;
pub mod quiet;
pub mod resample;

pub use decode::{DecodedAudio, decode_bytes};
pub use resample::{StreamResampler, resample_to_16k};

/// The sample rate every engine works at.
pub const SAMPLE_RATE: u32 = 16_000;

/// Why a piece of audio could not be turned into samples.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Zero bytes, or a container with no audio frames.
    #[error("the audio file is empty")]
    Empty,
    /// The bytes are not a container or codec we can read.
    #[error("unsupported or unrecognized audio format: {0}")]
    Unsupported(String),
    /// The container was recognized but its contents are damaged or truncated.
    #[error("the audio file is corrupt or truncated: {0}")]
    Corrupt(String),
    /// The audio is longer than the configured limit.
    #[error("audio duration {got_s:.1} s exceeds the limit of {max_s:.0} s")]
    TooLong {
        /// Measured duration in seconds.
        got_s: f64,
        /// Configured limit in seconds.
        max_s: f64,
    },
    /// The audio is shorter than anything worth transcribing (OpenAI's `audio_too_short`).
    #[error("audio duration {got_s:.3} s is below the minimum of {min_s} s")]
    TooShort {
        /// Measured duration in seconds.
        got_s: f64,
        /// The minimum, seconds.
        min_s: f64,
    },
    /// Resampler set-up or processing failed.
    #[error("resampling failed: {0}")]
    Resample(String),
}

/// Converts little-endian PCM16 bytes to `f32` samples in `[-1, 1]`. A trailing odd byte is ignored.
pub fn pcm16le_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect()
}
