//! Batch transcription: the file pipeline (decode → VAD windows → recognizer → stitched
//! transcript) and output formats. The REST handlers are in `crate::http::transcriptions`.

pub mod formats;
pub mod pipeline;
