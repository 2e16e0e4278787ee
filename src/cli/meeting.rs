//! `asr-router meeting FILE --out DIR`: a recording through the meeting pipeline offline — the
//! same stages, checkpoints and outputs as a `/v1/meetings` job, without a server or a job store.
//!
//! The job folder is `DIR/.meeting/` (the recording is linked or copied in, checkpoints in
//! `stages/`); the five outputs are copied into `DIR` at the end. Run again with the same
//! arguments and the stages already checkpointed are skipped (an interrupted run resumes); with
//! other arguments everything runs again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use asr_router::config::{Config, ReviewMode};
use asr_router::engine::Engines;
use asr_router::finalize::SecondPass;
use asr_router::meeting::STAGES;
use asr_router::meeting::outputs::OUTPUTS;
use asr_router::meeting::params::{KnownSpeaker, MeetingParams};
use asr_router::meeting::pipeline::{MeetingPipeline, checkpoint};

/// `meeting`.
#[derive(Args)]
pub struct MeetingArgs {
    /// The recording (wav, flac, mp3, ogg, m4a, opus, webm).
    pub file: PathBuf,
    /// Folder for the outputs (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Language code (default: detect per speaker turn).
    #[arg(long)]
    pub language: Option<String>,
    /// The languages the meeting may be in, comma-separated (`zh,en`).
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
    /// Exactly this many speakers.
    #[arg(long)]
    pub speakers: Option<usize>,
    /// At least this many speakers.
    #[arg(long)]
    pub min_speakers: Option<usize>,
    /// At most this many speakers.
    #[arg(long)]
    pub max_speakers: Option<usize>,
    /// A glossary file (JSON, the eval glossary schema).
    #[arg(long)]
    pub glossary: Option<PathBuf>,
    /// A named glossary of `[review] glossary_dir`.
    #[arg(long)]
    pub glossary_id: Option<String>,
    /// Review: none, glossary or llm (default: the configured default).
    #[arg(long, value_parser = ["none", "glossary", "llm"])]
    pub review: Option<String>,
    /// Decode Chinese turns again with the glossary as the decoder prompt (`true`) or not
    /// (`false`); unset: the configured default (`[review] glossary_prompt`).
    #[arg(long)]
    pub glossary_prompt: Option<bool>,
    /// Model name or `auto`.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// A known speaker: `NAME=CLIP` (a few seconds of their voice); repeatable.
    #[arg(long = "known-speaker", value_name = "NAME=CLIP")]
    pub known_speakers: Vec<String>,
}

/// Runs the pipeline and writes the outputs into `--out`.
pub fn run(args: MeetingArgs, cfg: &Config) -> anyhow::Result<()> {
    let job = args.out.join(".meeting");
    std::fs::create_dir_all(&job).with_context(|| format!("creating {}", job.display()))?;
    let params = params(&args)?;
    params
        .check()
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.param.replace('_', "-")))?;

    // Resume only a run with the same parameters and the same recording.
    let stamp_path = job.join("params.json");
    let stamp = serde_json::to_string_pretty(&serde_json::json!({
        "params": params,
        "recording": fingerprint(&args.file)?,
    }))?;
    let resume = std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp);
    if !resume {
        let _ = std::fs::remove_dir_all(checkpoint::stages_dir(&job));
        let _ = std::fs::remove_dir_all(checkpoint::outputs_dir(&job));
        link_or_copy(&args.file, &job.join(&params.input))?;
        for (k, (_, clip)) in params.known_speakers.iter().zip(known(&args.known_speakers)?) {
            link_or_copy(&clip, &job.join(&k.reference))?;
        }
        checkpoint::write_atomic(&stamp_path, stamp.as_bytes())?;
    }

    let engines = Engines::load(cfg).context("loading models (run scripts/fetch-models)")?;
    let second = Arc::new(SecondPass::from_config(&cfg.review, &cfg.engines.models_dir)?);
    let pipeline = MeetingPipeline::new(&engines, cfg, second);
    if !pipeline.diarizes() {
        eprintln!("no speaker model installed (scripts/fetch-models): every turn is one speaker");
    }
    pipeline.plan(&params)?;

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>10} {bar:30} {percent:>3}% {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let rt = super::runtime()?;
    let started = Instant::now();
    let mut timings = Vec::new();
    for &stage in STAGES {
        let bar = bars.add(ProgressBar::new(1000).with_style(style.clone()).with_prefix(stage));
        if resume && pipeline.is_done(&job, stage) {
            bar.finish_with_message("(resumed)");
            eprintln!("{stage}: resumed from its checkpoint");
            continue;
        }
        let b = bar.clone();
        let progress = Arc::new(move |f: f32| b.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64));
        let t = Instant::now();
        rt.block_on(pipeline.run_stage(&job, &params, stage, progress))
            .with_context(|| format!("meeting stage {stage}"))?;
        timings.push((stage, t.elapsed().as_secs_f64()));
        bar.set_position(1000);
        bar.finish();
    }
    let stages: Vec<String> = timings.iter().map(|(s, t)| format!("{s} {t:.2}")).collect();
    eprintln!(
        "stage seconds: {}; peak RSS {} MiB",
        stages.join(", "),
        asr_router::bench::peak_rss_bytes().map_or("?".into(), |b| (b >> 20).to_string())
    );
    for name in OUTPUTS {
        let from = checkpoint::outputs_dir(&job).join(name);
        let to = args.out.join(name);
        std::fs::copy(&from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    eprintln!(
        "{} outputs in {} ({:.1} s)",
        OUTPUTS.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The job's parameters; the recording and clips get fixed names inside the job folder.
fn params(args: &MeetingArgs) -> anyhow::Result<MeetingParams> {
    let ext = |p: &Path| {
        p.extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default()
    };
    if !args.file.is_file() {
        bail!("{} is not a file", args.file.display());
    }
    let glossary = match &args.glossary {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))?)
        }
    };
    let review = match args.review.as_deref() {
        None => None,
        Some("none") => Some(ReviewMode::None),
        Some("glossary") => Some(ReviewMode::Glossary),
        Some(_) => Some(ReviewMode::Llm),
    };
    let known_speakers = known(&args.known_speakers)?
        .into_iter()
        .enumerate()
        .map(|(i, (name, clip))| KnownSpeaker {
            name,
            reference: format!("ref{i}{}", ext(&clip)),
        })
        .collect();
    Ok(MeetingParams {
        input: format!("input{}", ext(&args.file)),
        language: args.language.clone(),
        languages: args.languages.clone(),
        glossary,
        glossary_id: args.glossary_id.clone(),
        keywords: Vec::new(),
        review,
        glossary_prompt: args.glossary_prompt,
        model: args.model.clone(),
        speakers: args.speakers,
        min_speakers: args.min_speakers,
        max_speakers: args.max_speakers,
        known_speakers,
    })
}

/// `NAME=CLIP` pairs.
fn known(specs: &[String]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    specs
        .iter()
        .map(|s| match s.split_once('=') {
            Some((name, clip)) if !name.trim().is_empty() && Path::new(clip).is_file() => {
                Ok((name.trim().to_string(), PathBuf::from(clip)))
            }
            _ => bail!("--known-speaker {s:?}: expected NAME=CLIP with an existing audio file"),
        })
        .collect()
}

/// Size and modification time: enough to tell that the recording changed between runs.
fn fingerprint(p: &Path) -> anyhow::Result<String> {
    let m = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{}:{}:{mtime}", std::fs::canonicalize(p)?.display(), m.len()))
}

fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}
