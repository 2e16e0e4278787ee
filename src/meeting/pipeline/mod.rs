//! The meeting pipeline: the stages of [`crate::meeting::STAGES`], each a function from the
//! checkpoints before it to its own checkpoint (see [`checkpoint`]).
//!
//! | stage | reads | writes (`stages/`) |
//! |---|---|---|
//! | `decode` | the upload, reference clips | `audio.wav` (16 kHz mono PCM16), `ref<i>.wav` |
//! | `segment` | `audio.wav` | `segment.json`: VAD speech spans |
//! | `embed` | `audio.wav`, `segment.json`, `ref<i>.wav` | `embed.json`: window embeddings, reference embeddings |
//! | `cluster` | `embed.json`, `segment.json` | `cluster.json`: speaker turns and speakers |
//! | `transcribe` | `audio.wav`, `segment.json`, `cluster.json` | `transcribe.json` (and a per-window journal) |
//! | `review` | `transcribe.json` | `timeline.json` (the reviewed [`Timeline`]) |
//! | `outputs` | `timeline.json` | the five files of `outputs/` |
//!
//! Invariants: a stage reads only checkpoints of earlier stages and the job's inputs, so running
//! it again (after a crash before it was recorded as done) gives the same result, except where a
//! model is not deterministic (an upstream or LLM reviewer); its checkpoint is published in one
//! rename. `transcribe` additionally journals each finished window, so a crash in a long meeting
//! costs at most the windows in flight.

pub mod attribute;
pub mod checkpoint;
pub mod pieces;
pub mod speakers;
pub mod transcribe;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::outputs;
use super::params::MeetingParams;
use super::summary::{SummaryKind, summarize};
use super::timeline::Timeline;
use crate::audio::SAMPLE_RATE;
use crate::config::{Config, ReviewMode};
use crate::engine::Engines;
use crate::engine::recognizer::EngineError;
use crate::engine::scheduler::SchedError;
use crate::engine::speaker::SpeakerEmbedder;
use crate::engine::vad::{SileroModel, segmenter};
use crate::finalize::{PlanError, ReviewFields, ReviewPlan, SecondPass};
use crate::review::llm::LlmReviewer;
use crate::routing::{RouteError, RoutePolicy};
use checkpoint::{outputs_dir, read_json, read_wav, stages_dir, write_atomic, write_json, write_wav};

/// Why a stage failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A checkpoint is unreadable (written by another version, or damaged).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The recording or a reference clip cannot be decoded.
    #[error("{what}: {source}")]
    Audio {
        /// Which upload.
        what: String,
        /// Cause.
        source: crate::audio::AudioError,
    },
    /// No engine can transcribe it.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The review cannot be done.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The recognizer or VAD failed.
    #[error("transcription failed: {0}")]
    Engine(#[from] SchedError),
    /// Speaker embeddings or clustering failed.
    #[error("diarization failed: {0}")]
    Diarize(String),
    /// The stage name is not one of [`crate::meeting::STAGES`].
    #[error("unknown stage {0:?}")]
    UnknownStage(String),
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl PipelineError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Progress within a stage, 0–1.
pub type Progress = Arc<dyn Fn(f32) + Send + Sync>;

/// VAD speech spans of the recording (`segment.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SpeechSpans {
    /// Recording length, seconds.
    pub duration_s: f64,
    /// `[start, end)` seconds, in order.
    pub spans: Vec<(f64, f64)>,
}

impl SpeechSpans {
    /// Runs the VAD over `samples` (16 kHz mono) and cuts speech at pauses of 300 ms, padded by
    /// 100 ms, into spans of at most 20 s (the `segment` stage, and batch's `diarized_json`).
    /// Blocking: call from a blocking thread.
    pub fn detect(vad: &SileroModel, samples: &[f32]) -> Result<Self, EngineError> {
        let probs = vad.probabilities(samples)?;
        // the settings `bench diarize` measured DER with (docs/benchmarks.md): a low
        // threshold keeps quiet far speakers
        let cfg = segmenter::SegmenterConfig {
            threshold: 0.25,
            min_speech_ms: 250,
            min_silence_ms: 300,
            padding_ms: 100,
            ..Default::default()
        };
        let sr = SAMPLE_RATE as f64;
        let spans = segmenter::segments(&probs, &cfg)
            .into_iter()
            .map(|(s, e)| (s as f64 / sr, e.min(samples.len()) as f64 / sr))
            .collect();
        Ok(Self {
            duration_s: samples.len() as f64 / sr,
            spans,
        })
    }

    /// The spans as sample ranges `[start, end)` within `len` samples.
    pub fn sample_ranges(&self, len: usize) -> Vec<(usize, usize)> {
        let sr = SAMPLE_RATE as f64;
        self.spans
            .iter()
            .map(|&(a, b)| {
                (
                    ((a * sr).round() as usize).min(len),
                    ((b * sr).round() as usize).min(len),
                )
            })
            .filter(|(a, b)| b > a)
            .collect()
    }
}

/// What runs meeting stages: the engines, the reviewers and the summarizer.
pub struct MeetingPipeline {
    policy: RoutePolicy,
    vad: SileroModel,
    speaker: Option<Arc<dyn SpeakerEmbedder>>,
    second: Arc<SecondPass>,
    summarizer: Option<Arc<(LlmReviewer, String)>>,
    max_audio_s: f64,
}

impl MeetingPipeline {
    /// The pipeline over `engines` with the routing of `cfg` and the reviewers of `second`. The
    /// summary uses `[review.llm]` when it is configured, with a longer time limit than reviews.
    pub fn new(engines: &Engines, cfg: &Config, second: Arc<SecondPass>) -> Self {
        let summarizer = cfg.review.llm.as_ref().and_then(|l| {
            let mut l = l.clone();
            l.timeout_ms = l.timeout_ms.max(120_000);
            LlmReviewer::new(&l).ok().map(|r| Arc::new((r, l.model.clone())))
        });
        Self {
            policy: RoutePolicy::new(engines, cfg),
            vad: engines.vad.clone(),
            speaker: engines.speaker.clone(),
            second,
            summarizer,
            max_audio_s: cfg.meeting.max_audio_s,
        }
    }

    /// Whether speakers can be told apart (a speaker embedder is installed).
    pub fn diarizes(&self) -> bool {
        self.speaker.is_some()
    }

    /// The review a meeting asks for, checked (unknown glossary id, `review=llm` without an LLM).
    pub fn plan(&self, params: &MeetingParams) -> Result<ReviewPlan, PipelineError> {
        let glossary = match &params.glossary {
            None => None,
            Some(v) => Some(Arc::new(
                crate::review::Glossary::from_json_str(&v.to_string()).map_err(|e| PipelineError::Checkpoint {
                    path: "glossary".into(),
                    reason: e.to_string(),
                })?,
            )),
        };
        let fields = ReviewFields {
            mode: params.review,
            glossary,
            glossary_id: params.glossary_id.clone(),
            keywords: params.keywords.clone(),
            glossary_prompt: params.glossary_prompt,
        };
        Ok(self.second.plan(&fields, params.language.as_deref())?)
    }

    /// Whether `stage`'s checkpoint is in `dir` (the CLI resumes by it; the job store records
    /// finished stages itself).
    pub fn is_done(&self, dir: &Path, stage: &str) -> bool {
        let file = match stage {
            "decode" => "audio.wav",
            "segment" => "segment.json",
            "embed" => "embed.json",
            "cluster" => "cluster.json",
            "transcribe" => "transcribe.json",
            "review" => "timeline.json",
            "outputs" => return outputs_dir(dir).join("summary.md").is_file(),
            _ => return false,
        };
        stages_dir(dir).join(file).is_file()
    }

    /// Runs one stage of the job in `dir`.
    pub async fn run_stage(
        &self,
        dir: &Path,
        params: &MeetingParams,
        stage: &str,
        progress: Progress,
    ) -> Result<(), PipelineError> {
        match stage {
            "decode" => self.decode(dir, params).await,
            "segment" => self.segment(dir).await,
            "embed" => speakers::embed(self.speaker.clone(), dir, params, progress).await,
            "cluster" => speakers::cluster(dir, params).await,
            "transcribe" => transcribe::transcribe(self, dir, params, progress).await,
            "review" => self.review(dir, params, progress).await,
            "outputs" => self.outputs(dir).await,
            other => Err(PipelineError::UnknownStage(other.into())),
        }
    }

    async fn decode(&self, dir: &Path, params: &MeetingParams) -> Result<(), PipelineError> {
        let dir = dir.to_path_buf();
        let params = params.clone();
        let max = self.max_audio_s;
        blocking(move || {
            let load = |name: &str, what: String, max_s: f64| -> Result<Vec<f32>, PipelineError> {
                let path = dir.join(name);
                let bytes = std::fs::read(&path).map_err(|e| PipelineError::io(&path, e))?;
                crate::audio::decode::decode_bytes(bytes, max_s)
                    .map(|a| a.samples)
                    .map_err(|source| PipelineError::Audio { what, source })
            };
            let audio = load(&params.input, "the recording".into(), max)?;
            for (i, k) in params.known_speakers.iter().enumerate() {
                let clip = load(&k.reference, format!("the reference clip of {:?}", k.name), 60.0)?;
                write_wav(&stages_dir(&dir).join(format!("ref{i}.wav")), &clip)?;
            }
            write_wav(&stages_dir(&dir).join("audio.wav"), &audio)
        })
        .await
    }

    async fn segment(&self, dir: &Path) -> Result<(), PipelineError> {
        let dir = dir.to_path_buf();
        let vad = self.vad.clone();
        blocking(move || {
            let samples = read_wav(&stages_dir(&dir).join("audio.wav"))?;
            let out = SpeechSpans::detect(&vad, &samples).map_err(|e| PipelineError::Engine(SchedError::Engine(e)))?;
            write_json(&stages_dir(&dir).join("segment.json"), &out)
        })
        .await
    }

    async fn review(&self, dir: &Path, params: &MeetingParams, progress: Progress) -> Result<(), PipelineError> {
        let plan = self.plan(params)?;
        let heard: transcribe::Transcribed = read_json(&stages_dir(dir).join("transcribe.json"))?;
        let timeline = transcribe::review(&self.second, &plan, heard, progress).await;
        write_json(&stages_dir(dir).join("timeline.json"), &timeline)
    }

    async fn outputs(&self, dir: &Path) -> Result<(), PipelineError> {
        let timeline: Timeline = read_json(&stages_dir(dir).join("timeline.json"))?;
        let out = outputs_dir(dir);
        let files = [
            ("transcript.txt", outputs::transcript_txt(&timeline)),
            ("transcript.md", outputs::transcript_md(&timeline)),
            ("timeline.json", outputs::timeline_json(&timeline)),
            ("subtitles.srt", outputs::subtitles_srt(&timeline)),
        ];
        for (name, body) in &files {
            write_atomic(&out.join(name), body.as_bytes())?;
        }
        let llm = self.summarizer.clone();
        let (summary, kind) = blocking(move || {
            Ok(summarize(
                &timeline,
                llm.as_deref().map(|(r, model)| (r, model.as_str())),
            ))
        })
        .await?;
        if let SummaryKind::Extractive { reason } = &kind {
            tracing::info!(%reason, "meeting summary is extractive");
        }
        write_atomic(&out.join("summary.md"), summary.as_bytes())
    }
}

/// The review a meeting's timeline records.
pub fn review_name(mode: ReviewMode) -> &'static str {
    match mode {
        ReviewMode::None => "none",
        ReviewMode::Glossary => "glossary",
        ReviewMode::Llm => "llm",
    }
}

/// Runs blocking work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PipelineError::Diarize(format!("worker thread: {e}")))?
}
