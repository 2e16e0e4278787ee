//! The `embed` and `cluster` stages: who spoke when.
//!
//! `embed` runs the speaker embedder over the speech (and over the known speakers' reference
//! clips); `cluster` groups the embeddings into speakers (an exact count, bounds, or the tuned
//! threshold), names the speakers whose reference clips match, and writes the speaker turns.
//! Without a speaker model every speech span is one speaker's turn (`SPEAKER_00`).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::checkpoint::{read_json, read_wav, stages_dir, write_json};
use super::pieces::Turn;
use super::{PipelineError, Progress, SpeechSpans, blocking};
use crate::engine::speaker::SpeakerEmbedder;
use crate::meeting::params::MeetingParams;

/// A speaker as the outputs name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerLabel {
    /// `SPEAKER_00` …, in order of first appearance.
    pub id: String,
    /// The known speaker's name, when a reference clip matched.
    pub name: Option<String>,
}

/// `cluster.json`: the speakers and their turns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Diarized {
    /// Speakers; a turn's `speaker` indexes this list.
    pub speakers: Vec<SpeakerLabel>,
    /// Turns in time order.
    pub turns: Vec<Turn>,
}

/// `embed.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Embedded {
    /// Whether a speaker model ran.
    pub model: Option<String>,
    /// `[start, end)` seconds of each embedded window.
    pub windows: Vec<(f64, f64)>,
    /// One embedding per window.
    pub vectors: Vec<Vec<f32>>,
    /// One embedding per known speaker's reference clip, in the order of the parameters.
    pub references: Vec<Vec<f32>>,
}

/// The `embed` stage.
pub async fn embed(
    embedder: Option<Arc<dyn SpeakerEmbedder>>,
    dir: &Path,
    params: &MeetingParams,
    progress: Progress,
) -> Result<(), PipelineError> {
    let dir = dir.to_path_buf();
    let known = params.known_speakers.len();
    blocking(move || {
        let stages = stages_dir(&dir);
        let Some(embedder) = embedder else {
            return write_json(&stages.join("embed.json"), &Embedded::default());
        };
        let speech: SpeechSpans = read_json(&stages.join("segment.json"))?;
        let samples = read_wav(&stages.join("audio.wav"))?;
        let (windows, vectors) = embed_windows(embedder.as_ref(), &samples, &speech.spans, &|f| progress(f))
            .map_err(|e| PipelineError::Diarize(e.to_string()))?;
        let mut references = Vec::new();
        for i in 0..known {
            let clip = read_wav(&stages.join(format!("ref{i}.wav")))?;
            references.push(
                embedder
                    .embed(&clip)
                    .map_err(|e| PipelineError::Diarize(format!("reference clip {i}: {e}")))?,
            );
        }
        let out = Embedded {
            model: Some(embedder.name().to_string()),
            windows,
            vectors,
            references,
        };
        write_json(&stages.join("embed.json"), &out)
    })
    .await
}

/// The `cluster` stage.
pub async fn cluster(dir: &Path, params: &MeetingParams) -> Result<(), PipelineError> {
    let dir = dir.to_path_buf();
    let params = params.clone();
    blocking(move || {
        let stages = stages_dir(&dir);
        let speech: SpeechSpans = read_json(&stages.join("segment.json"))?;
        let emb: Embedded = read_json(&stages.join("embed.json"))?;
        let (turns, names) = if emb.model.is_none() {
            let turns = speech
                .spans
                .iter()
                .map(|&(start, end)| Turn { start, end, speaker: 0 })
                .collect();
            (turns, vec![None])
        } else {
            cluster_turns(&emb, &params).map_err(|e| PipelineError::Diarize(e.to_string()))?
        };
        write_json(&stages.join("cluster.json"), &relabel(turns, &names))
    })
    .await
}

// STOPGAP until `crate::meeting::diarize` lands (helper work in progress): fixed windows and
// average-linkage clustering.
const WIN_S: f64 = 1.5;
const STEP_S: f64 = 0.75;
const THRESHOLD: f32 = 0.75;

fn embed_windows(
    e: &dyn SpeakerEmbedder,
    samples: &[f32],
    spans: &[(f64, f64)],
    progress: &dyn Fn(f32),
) -> Result<(Vec<(f64, f64)>, Vec<Vec<f32>>), crate::engine::recognizer::EngineError> {
    let mut windows = Vec::new();
    for &(a, b) in spans {
        let mut t = a;
        loop {
            let end = (t + WIN_S).min(b);
            windows.push((t, end));
            if end >= b {
                break;
            }
            t += STEP_S;
        }
    }
    let sr = crate::audio::SAMPLE_RATE as f64;
    let mut vectors = Vec::with_capacity(windows.len());
    for (i, &(a, b)) in windows.iter().enumerate() {
        let s = ((a * sr) as usize).min(samples.len());
        let t = ((b * sr) as usize).clamp(s, samples.len());
        vectors.push(e.embed(&samples[s..t])?);
        progress((i + 1) as f32 / windows.len() as f32);
    }
    Ok((windows, vectors))
}

fn cluster_turns(emb: &Embedded, params: &MeetingParams) -> Result<(Vec<Turn>, Vec<Option<String>>), String> {
    let n = emb.vectors.len();
    let cos = |a: &[f32], b: &[f32]| crate::engine::speaker::cosine(a, b);
    let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let lo = params.speakers.or(params.min_speakers).unwrap_or(1);
    let hi = params.speakers.or(params.max_speakers).unwrap_or(usize::MAX);
    loop {
        if clusters.len() <= lo.max(1) {
            break;
        }
        let mut best = (f32::MIN, 0, 0);
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                let mut sum = 0.0;
                for &a in &clusters[i] {
                    for &b in &clusters[j] {
                        sum += cos(&emb.vectors[a], &emb.vectors[b]);
                    }
                }
                let avg = sum / (clusters[i].len() * clusters[j].len()) as f32;
                if avg > best.0 {
                    best = (avg, i, j);
                }
            }
        }
        if best.0 < THRESHOLD && clusters.len() <= hi {
            break;
        }
        let merged = clusters.remove(best.2);
        clusters[best.1].extend(merged);
    }
    let mut label = vec![0usize; n];
    for (c, members) in clusters.iter().enumerate() {
        for &m in members {
            label[m] = c;
        }
    }
    let mut turns: Vec<Turn> = Vec::new();
    for (i, &(a, b)) in emb.windows.iter().enumerate() {
        match turns.last_mut() {
            Some(t) if t.speaker == label[i] && a <= t.end + 0.01 => t.end = t.end.max(b),
            Some(t) if a < t.end => {
                let mid = (a + t.end) / 2.0;
                t.end = mid;
                turns.push(Turn {
                    start: mid,
                    end: b,
                    speaker: label[i],
                });
            }
            _ => turns.push(Turn {
                start: a,
                end: b,
                speaker: label[i],
            }),
        }
    }
    let names = (0..clusters.len()).map(|_| None).collect();
    Ok((turns, names))
}

/// Renumbers speakers in order of first appearance (`SPEAKER_00` speaks first) and drops those
/// without a turn; `names[i]` is speaker `i`'s known name.
pub fn relabel(mut turns: Vec<Turn>, names: &[Option<String>]) -> Diarized {
    turns.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut order: Vec<usize> = Vec::new();
    for t in &turns {
        if !order.contains(&t.speaker) {
            order.push(t.speaker);
        }
    }
    for t in &mut turns {
        t.speaker = order.iter().position(|&s| s == t.speaker).unwrap_or(0);
    }
    let speakers = order
        .iter()
        .enumerate()
        .map(|(i, &s)| SpeakerLabel {
            id: format!("SPEAKER_{i:02}"),
            name: names.get(s).cloned().flatten(),
        })
        .collect();
    Diarized { speakers, turns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers_are_numbered_by_first_appearance_and_keep_their_names() {
        let t = |start: f64, speaker| Turn {
            start,
            end: start + 1.0,
            speaker,
        };
        let d = relabel(vec![t(2.0, 0), t(0.0, 2), t(4.0, 2)], &[Some("Ana".into()), None, None]);
        assert_eq!(d.turns.iter().map(|t| t.speaker).collect::<Vec<_>>(), vec![0, 1, 0]);
        assert_eq!(
            d.speakers,
            vec![
                SpeakerLabel {
                    id: "SPEAKER_00".into(),
                    name: None
                },
                SpeakerLabel {
                    id: "SPEAKER_01".into(),
                    name: Some("Ana".into())
                },
            ]
        );
    }
}
