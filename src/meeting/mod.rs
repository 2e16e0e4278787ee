//! Meeting mode: a recording in, five outputs out, durably.
//!
//! A meeting is a *job* ([`jobs`]) that runs a fixed list of *stages* ([`STAGES`]) in order:
//! decode → VAD segments → speaker embeddings → clustering → transcription → review → outputs.
//! Each stage reads the checkpoints of the stages before it from the job's directory and writes
//! its own checkpoint there atomically (write to a temporary file, then rename) before the job
//! store records it as done. So after a crash a job resumes at its first unfinished stage, and a
//! stage's published result is never replaced by a second run.
//!
//! Layering: `meeting` is domain. It uses `engine` (recognizers, VAD, the speaker embedder),
//! `finalize` (the second pass) and `audio`; the transports (`http/meetings.rs`, `cli/meeting.rs`)
//! call into it, never the other way.

pub mod diarize;
pub mod jobs;
pub mod outputs;
pub mod params;
pub mod pipeline;
pub mod service;
pub mod summary;
pub mod timeline;

/// The stages of a meeting job, in the order they run. Stage names are stable: they are stored
/// in the job store and in checkpoint file names.
pub const STAGES: &[&str] = &[
    "decode",
    "segment",
    "embed",
    "cluster",
    "transcribe",
    "review",
    "outputs",
];
