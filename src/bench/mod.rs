//! Benchmarks that produce the numbers in `docs/benchmarks.md`: accuracy (WER/CER), real-time
//! factor and peak memory of each engine on an evaluation manifest, with a peer measured in the
//! same run; speaker diarization into RTTM files for a third-party DER scorer.

pub mod diarize;
pub mod transcribe;
pub mod wer;

use crate::config::Config;

/// `asr-router bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// Batch transcription over a manifest (JSON lines with `path`, `lang`, `text`).
    Transcribe(transcribe::Args),
    /// Speaker diarization into RTTM files (score them with tools/der.py).
    Diarize(diarize::Args),
}

/// Runs a benchmark command.
pub async fn run(cmd: BenchCmd, cfg: &Config) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Transcribe(a) => transcribe::run(a, cfg).await,
        BenchCmd::Diarize(a) => diarize::run(a, cfg).await,
    }
}

/// Peak resident memory of this process, bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
