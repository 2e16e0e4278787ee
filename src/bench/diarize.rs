//! `bench diarize`: speaker diarization of recordings into RTTM files, for scoring with a
//! third-party scorer (`tools/der.py`, pyannote.metrics).
//!
//! Each recording goes through Silero VAD (the segmenter settings below) and
//! [`crate::meeting::diarize`] with the GE2E embedder; embeddings are computed once per file and
//! clustered at every `--threshold` given, each into its own folder (`OUT/th-0.725/ID.rttm`), so a
//! threshold sweep costs one embedding pass. `OUT/summary.json` holds per-file speaker counts and
//! wall time per stage.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::engine::speaker::{Ge2e, SAMPLE_RATE, SpeakerEmbedder};
use crate::engine::vad::SileroModel;
use crate::engine::vad::segmenter::{SegmenterConfig, segments};
use crate::meeting::diarize::{DiarizeOptions, Turn, cluster_windows, turns};

/// Arguments of `bench diarize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A manifest (JSON lines; rows with an `rttm` key are taken, `path` relative to the file).
    #[arg(long)]
    pub manifest: Vec<PathBuf>,
    /// A recording (16 kHz or any rate/format the decoder reads); its id is the file stem.
    #[arg(long)]
    pub wav: Vec<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Cosine thresholds to cluster at (default: the tuned one).
    #[arg(long, value_delimiter = ',')]
    pub threshold: Vec<f32>,
    /// Window length, seconds.
    #[arg(long, default_value_t = DiarizeOptions::default().window_s)]
    pub window: f64,
    /// Step between windows, seconds.
    #[arg(long, default_value_t = DiarizeOptions::default().step_s)]
    pub step: f64,
    /// Clusters standing for less speech are folded into their nearest neighbour, seconds.
    #[arg(long, default_value_t = DiarizeOptions::default().min_cluster_s)]
    pub min_cluster: f64,
    /// Cluster recording-centred embeddings.
    #[arg(long)]
    pub center: bool,
    /// Nearest-centroid refinement passes.
    #[arg(long, default_value_t = 0)]
    pub refine: usize,
    /// Exact speaker count (otherwise the threshold decides).
    #[arg(long)]
    pub speakers: Option<usize>,
    /// VAD: speech probability at which speech starts (Silero).
    #[arg(long, default_value_t = 0.25)]
    pub vad_threshold: f32,
    /// VAD: silence that ends a speech span, ms.
    #[arg(long, default_value_t = 300)]
    pub vad_min_silence_ms: u32,
    /// VAD: padding around each speech span, ms.
    #[arg(long, default_value_t = 100)]
    pub vad_padding_ms: u32,
    /// Run the VAD frame by frame as a live stream does, instead of in lanes (to compare
    /// their cost and spans).
    #[arg(long)]
    pub vad_stream: bool,
    /// Also write each recording's speech spans, windows and embeddings to
    /// `OUT/vectors/ID.json` (seconds), for offline study of the clustering.
    #[arg(long)]
    pub vectors: bool,
}

#[derive(serde::Serialize)]
struct FileReport {
    id: String,
    duration_s: f64,
    speech_s: f64,
    windows: usize,
    speakers: Vec<(String, usize)>,
    vad_s: f64,
    embed_s: f64,
    cluster_s: f64,
}

/// The recordings to run: `(id, path)`.
fn inputs(a: &Args) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for m in &a.manifest {
        let text = std::fs::read_to_string(m).with_context(|| format!("reading {}", m.display()))?;
        let base = m.parent().unwrap_or(Path::new("."));
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{} line {}", m.display(), n + 1))?;
            if row.get("rttm").is_none() {
                continue;
            }
            let (Some(id), Some(path)) = (row["id"].as_str(), row["path"].as_str()) else {
                bail!(
                    "{} line {}: a row with `rttm` needs `id` and `path`",
                    m.display(),
                    n + 1
                );
            };
            out.push((id.to_string(), base.join(path)));
        }
    }
    for w in &a.wav {
        let id = w
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("no file name in {}", w.display()))?;
        out.push((id.to_string(), w.clone()));
    }
    if out.is_empty() {
        bail!("nothing to diarize: give --manifest (rows with `rttm`) or --wav");
    }
    Ok(out)
}

/// RTTM lines for `turns` of recording `id`, speakers named `SPK00`….
pub fn rttm(id: &str, turns: &[Turn]) -> String {
    turns
        .iter()
        .map(|t| {
            format!(
                "SPEAKER {id} 1 {:.3} {:.3} <NA> <NA> SPK{:02} <NA> <NA>\n",
                t.start,
                t.end - t.start,
                t.speaker
            )
        })
        .collect()
}

/// Runs `bench diarize`.
pub async fn run(a: Args, cfg: &Config) -> anyhow::Result<()> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || run_blocking(a, &cfg)).await?
}

fn run_blocking(a: Args, cfg: &Config) -> anyhow::Result<()> {
    let files = inputs(&a)?;
    let dir = &cfg.engines.models_dir;
    crate::engine::ort_runtime::init(dir)?;
    let vad = SileroModel::load(&dir.join("silero-vad/silero_vad.onnx"))?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    let embedder = Ge2e::load(&dir.join(crate::engine::SPEAKER_MODEL), threads)
        .context("the speaker model (scripts/fetch-models installs models/speaker/ge2e.onnx)")?;
    let thresholds = if a.threshold.is_empty() {
        vec![crate::meeting::diarize::DEFAULT_THRESHOLD]
    } else {
        a.threshold.clone()
    };
    std::fs::create_dir_all(&a.out)?;
    let sr = SAMPLE_RATE as f64;
    let vad_cfg = SegmenterConfig {
        min_silence_ms: a.vad_min_silence_ms,
        padding_ms: a.vad_padding_ms,
        min_speech_ms: 250,
        threshold: a.vad_threshold,
        ..Default::default()
    };
    let mut reports = Vec::new();
    let (mut total_audio, mut total_embed, mut total_vad, mut total_cluster) = (0.0, 0.0, 0.0, 0.0);
    for (id, path) in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let audio = crate::audio::decode::decode_bytes(bytes, 4.0 * 3600.0)
            .with_context(|| format!("decoding {}", path.display()))?;
        let samples = audio.samples;
        let t0 = Instant::now();
        let probs = if a.vad_stream {
            vad.stream().push(&samples)?
        } else {
            vad.probabilities(&samples)?
        };
        let speech: Vec<(usize, usize)> = segments(&probs, &vad_cfg)
            .into_iter()
            .map(|(s, e)| (s.min(samples.len()), e.min(samples.len())))
            .filter(|(s, e)| e > s)
            .collect();
        let vad_s = t0.elapsed().as_secs_f64();
        let base = DiarizeOptions {
            window_s: a.window,
            step_s: a.step,
            min_cluster_s: a.min_cluster,
            speakers: a.speakers,
            center: a.center,
            refine: a.refine,
            ..Default::default()
        };
        let t1 = Instant::now();
        let windows = turns::plan_windows(&speech, (a.window * sr) as usize, (a.step * sr) as usize);
        let clips: Vec<&[f32]> = windows.iter().map(|w| &samples[w.start..w.end]).collect();
        let mut vectors = Vec::with_capacity(clips.len());
        for chunk in clips.chunks(32) {
            vectors.extend(embedder.embed_batch(chunk)?);
        }
        let embed_s = t1.elapsed().as_secs_f64();
        if a.vectors {
            let secs = |(s, e): (usize, usize)| (s as f64 / sr, e as f64 / sr);
            let dump = serde_json::json!({
                "speech": speech.iter().map(|&r| secs(r)).collect::<Vec<_>>(),
                "windows": windows.iter().map(|w| secs((w.start, w.end))).collect::<Vec<_>>(),
                "vectors": vectors,
            });
            let sub = a.out.join("vectors");
            std::fs::create_dir_all(&sub)?;
            std::fs::write(sub.join(format!("{id}.json")), serde_json::to_string(&dump)?)?;
        }
        let t2 = Instant::now();
        let mut speakers = Vec::new();
        for &th in &thresholds {
            let opts = DiarizeOptions {
                threshold: th,
                ..base.clone()
            };
            let d = cluster_windows(&speech, &windows, &vectors, &opts)?;
            let sub = a.out.join(format!("th-{th}"));
            std::fs::create_dir_all(&sub)?;
            std::fs::write(sub.join(format!("{id}.rttm")), rttm(&id, &d.turns))?;
            speakers.push((format!("{th}"), d.centroids.len()));
        }
        let cluster_s = t2.elapsed().as_secs_f64() / thresholds.len() as f64;
        let duration_s = samples.len() as f64 / sr;
        let speech_s = speech.iter().map(|(s, e)| (e - s) as f64 / sr).sum();
        eprintln!(
            "{id}: {duration_s:.1} s, speech {speech_s:.1} s, {} windows, speakers {:?}, vad {vad_s:.2} s, embed {embed_s:.2} s",
            windows.len(),
            speakers
        );
        total_audio += duration_s;
        total_vad += vad_s;
        total_embed += embed_s;
        total_cluster += cluster_s;
        reports.push(FileReport {
            id,
            duration_s,
            speech_s,
            windows: windows.len(),
            speakers,
            vad_s,
            embed_s,
            cluster_s,
        });
    }
    let summary = serde_json::json!({
        "embedder": embedder.name(),
        "vad": {"lanes": !a.vad_stream, "threshold": a.vad_threshold, "min_silence_ms": a.vad_min_silence_ms, "padding_ms": a.vad_padding_ms},
        "window_s": a.window,
        "step_s": a.step,
        "min_cluster_s": a.min_cluster,
        "center": a.center,
        "refine": a.refine,
        "thresholds": thresholds,
        "audio_s": total_audio,
        "vad_s": total_vad,
        "embed_s": total_embed,
        "cluster_s_per_threshold": total_cluster,
        "peak_rss_bytes": super::peak_rss_bytes(),
        "files": reports,
    });
    std::fs::write(a.out.join("summary.json"), serde_json::to_string_pretty(&summary)?)?;
    eprintln!(
        "{} files, {total_audio:.0} s of audio: vad {total_vad:.1} s, embed {total_embed:.1} s, cluster {total_cluster:.2} s; RTTMs in {}",
        reports.len(),
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rttm_lines() {
        let t = [Turn {
            start: 1.0,
            end: 2.5,
            speaker: 3,
        }];
        assert_eq!(rttm("m1", &t), "SPEAKER m1 1 1.000 1.500 <NA> <NA> SPK03 <NA> <NA>\n");
    }
}
