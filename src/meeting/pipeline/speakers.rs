//! The `embed` and `cluster` stages: who spoke when.
//!
//! `embed` runs the speaker embedder over the speech (and over the known speakers' reference
//! clips); `cluster` groups the embeddings into speakers (an exact count, bounds, or the tuned
//! threshold; the smallest speaker scaled to a short recording, [`diarize_options`]), names the
//! speakers whose reference clips match, and writes the speaker turns.
//! Without a speaker model every speech span is one speaker's turn (`SPEAKER_00`).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::checkpoint::{read_json, read_wav, stages_dir, write_json};
use super::pieces::Turn;
use super::{PipelineError, Progress, SpeechSpans, blocking};
use crate::engine::speaker::SpeakerEmbedder;
use crate::meeting::diarize::{self, DEFAULT_KNOWN_THRESHOLD, DiarizeOptions};
use crate::meeting::params::MeetingParams;

/// A short recording's smallest speaker, as a share of its speech: clusters holding less are
/// folded into their nearest neighbour. The default floor ([`DiarizeOptions::min_cluster_s`],
/// seconds, tuned on meetings of minutes) would fold a person who says one sentence in a 20 s
/// clip; so the floor is the smaller of the default and this share of the speech (the default
/// applies from `min_cluster_s / MIN_CLUSTER_SHARE` seconds of speech on).
pub const MIN_CLUSTER_SHARE: f64 = 0.2;

/// The diarization options for a recording with `talk_s` seconds of speech (the `cluster` stage,
/// and batch's `diarized_json`): the defaults, with the smallest speaker scaled by
/// [`MIN_CLUSTER_SHARE`].
pub fn diarize_options(talk_s: f64) -> DiarizeOptions {
    let defaults = DiarizeOptions::default();
    DiarizeOptions {
        min_cluster_s: defaults.min_cluster_s.min(talk_s.max(0.0) * MIN_CLUSTER_SHARE),
        ..defaults
    }
}

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
        let (windows, vectors) = diarize::embed_windows(embedder.as_ref(), &samples, &speech.spans, &|f| progress(f))
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
            let talk_s: f64 = speech.spans.iter().map(|(a, b)| b - a).sum();
            let opts = DiarizeOptions {
                speakers: params.speakers,
                min_speakers: params.min_speakers,
                max_speakers: params.max_speakers,
                ..diarize_options(talk_s)
            };
            let d = diarize::cluster_turns(&emb.windows, &emb.vectors, &speech.spans, &opts)
                .map_err(|e| PipelineError::Diarize(e.to_string()))?;
            let names: Vec<String> = params.known_speakers.iter().map(|k| k.name.clone()).collect();
            let named = diarize::known::name_clusters(&d.centroids, &emb.references, &names, DEFAULT_KNOWN_THRESHOLD);
            (d.turns, named)
        };
        write_json(&stages.join("cluster.json"), &relabel(turns, &names))
    })
    .await
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
    fn the_smallest_speaker_shrinks_with_a_short_recording() {
        let default = DiarizeOptions::default().min_cluster_s;
        assert_eq!(diarize_options(20.0).min_cluster_s, default.min(4.0));
        assert_eq!(diarize_options(3600.0).min_cluster_s, default);
        assert_eq!(diarize_options(-1.0).min_cluster_s, 0.0);
        assert_eq!(diarize_options(20.0).threshold, DiarizeOptions::default().threshold);
    }

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
