//! Voice activity detection: a streaming Silero detector (frames in, speech probabilities out,
//! state carried between calls) and a segmenter that turns probabilities into speech segments.
//! The batch path and the realtime sessions use the same two pieces.

pub mod segmenter;
pub mod silero;

pub use segmenter::{Segmenter, SegmenterConfig, VadEvent};
pub use silero::{SileroModel, SileroStream};

/// Samples per VAD frame at 16 kHz (32 ms).
pub const FRAME: usize = 512;
