//! Batch transcription: the file pipeline (decode → VAD windows → recognizer → stitched
//! transcript), output formats, and the REST handlers that expose it.

pub mod formats;
pub mod http;
pub mod pipeline;
