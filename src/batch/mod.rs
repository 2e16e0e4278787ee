//! Batch transcription: checked requests ([`request`]), the one service that turns a request and
//! decoded audio into a transcript ([`service`]: route → options → the windowed [`pipeline`]),
//! and output formats. REST, the `transcribe` command and `bench transcribe` all go through the
//! service; the REST handlers are in `crate::http::transcriptions`.

pub mod formats;
pub mod pipeline;
pub mod request;
pub mod service;
