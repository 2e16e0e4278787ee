//! Batch transcription: checked requests ([`request`]), the one service that turns a request and
//! decoded audio into a transcript ([`service`]: route → options → the windowed [`pipeline`]),
//! and output formats. REST, the `transcribe` command and `bench transcribe` all go through the
//! service; the REST handlers are in `crate::http::transcriptions`. `diarized_json` ([`diarized`])
//! runs the meeting pipeline's diarization and piece decoding in memory (batch imports `meeting`,
//! never the reverse).

pub mod diarized;
pub mod formats;
pub mod pipeline;
pub mod request;
pub mod service;
