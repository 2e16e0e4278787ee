//! Speaker diarization: who spoke when, from speaker embeddings of short windows of speech.
//!
//! 1. **Windows** ([`turns::plan_windows`]): inside each VAD speech span, windows of
//!    `window_s` every `step_s` (default 2 s / 1 s); a span shorter than a window is one window.
//! 2. **Embeddings**: one vector per window from a [`SpeakerEmbedder`] (batched).
//! 3. **Clustering** ([`cluster`]): agglomerative, average linkage on cosine similarity, stopped
//!    by the threshold, an exact speaker count, or min/max bounds. Windows shorter than
//!    `min_window_s` do not take part (too little voice to trust); like every window they are
//!    then given the nearest cluster centroid. Clusters holding less than `min_cluster_s` of
//!    windows are folded into the nearest larger one (not under an exact count, and never
//!    below `min_speakers`). Above 4,000 windows (≈ 4.5 h of speech) runs of neighbouring
//!    windows are averaged first, so memory stays bounded (64 MB of similarities).
//! 4. **Turns** ([`turns::turns_from_windows`]): smoothed labels cut each span into turns, so a
//!    speaker change inside one long span is found (to half a step).
//! 5. **Names** ([`known`]): cluster centroids matched one-to-one to known speakers' reference
//!    clips above `known_threshold`.
//!
//! Live sessions use [`online::OnlineClusterer`] instead of steps 3–4.
//!
//! Invariants of [`diarize`]'s result: turns in time order, non-overlapping, each inside one
//! speech span, together covering every non-empty speech span; speakers numbered `0..k` by first
//! appearance, `k` equal to an exact `speakers` request when there are at least that many
//! windows, and within `min_speakers..=max_speakers` when those are given (and enough windows
//! exist). Everything here but the embedder call is pure and deterministic.

pub mod cluster;
pub mod known;
pub mod online;
pub mod turns;

use serde::{Deserialize, Serialize};

use crate::engine::recognizer::EngineError;
use crate::engine::speaker::{SAMPLE_RATE, SpeakerEmbedder};
use cluster::{Stop, agglomerative, centroids, nearest, relabel};
pub use online::OnlineClusterer;
use turns::Window;

/// A speaker turn: `[start, end)` seconds and a speaker index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Speaker index, `0..k` by first appearance.
    pub speaker: usize,
}

/// The GE2E cosine threshold of the offline clustering, tuned on the eval set's AMI excerpts
/// and synthetic meetings (see `docs/benchmarks.md`).
pub const DEFAULT_THRESHOLD: f32 = 0.725;
/// The GE2E threshold for naming a cluster after a known speaker's reference clip.
pub const DEFAULT_KNOWN_THRESHOLD: f32 = 0.75;
/// The GE2E threshold of [`OnlineClusterer`] for whole-utterance embeddings (a live session's
/// completed items): same-voice utterances measured 0.81-0.87 on the eval clips, other voices
/// at most 0.70 (`tools/check_ge2e.py`, docs/benchmarks.md).
pub const DEFAULT_ONLINE_THRESHOLD: f32 = 0.75;

/// OpenAI's label of the `i`-th unnamed speaker (by first appearance): `A`, `B`, … `Z`, `AA`,
/// `AB`, … The one labelling of REST's `diarized_json` and of live sessions' segment events.
pub fn speaker_label(i: usize) -> String {
    let mut n = i + 1;
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
    }
    out.iter().rev().collect()
}

/// The error code of a speaker request (REST's `diarized_json`, a live session's `diarization`)
/// on a server without a speaker model.
pub const SPEAKER_MODEL_MISSING: &str = "speaker_model_missing";

/// How to diarize.
#[derive(Debug, Clone, PartialEq)]
pub struct DiarizeOptions {
    /// Window length, seconds.
    pub window_s: f64,
    /// Step between windows, seconds.
    pub step_s: f64,
    /// Cosine similarity at which clusters still merge (ignored under an exact count).
    pub threshold: f32,
    /// Exactly this many speakers.
    pub speakers: Option<usize>,
    /// At least this many speakers.
    pub min_speakers: Option<usize>,
    /// At most this many speakers.
    pub max_speakers: Option<usize>,
    /// Windows shorter than this are not clustered, only assigned (seconds).
    pub min_window_s: f64,
    /// Clusters standing for less speech than this are folded into their nearest neighbour
    /// (seconds; a window stands for one step; 0 keeps every cluster).
    pub min_cluster_s: f64,
    /// Turns shorter than this inside a span join a neighbour (seconds).
    pub min_turn_s: f64,
    /// Cluster in the recording-centred space (each window's vector minus the recording's mean
    /// vector); the threshold then applies to centred cosines.
    pub center: bool,
    /// Passes of nearest-centroid re-assignment after clustering (k-means refinement; a pass
    /// that would change the speaker count is not taken).
    pub refine: usize,
}

impl Default for DiarizeOptions {
    fn default() -> Self {
        Self {
            window_s: 2.0,
            step_s: 1.0,
            threshold: DEFAULT_THRESHOLD,
            speakers: None,
            min_speakers: None,
            max_speakers: None,
            min_window_s: 0.5,
            min_cluster_s: 8.0,
            min_turn_s: 0.5,
            center: false,
            refine: 0,
        }
    }
}

impl DiarizeOptions {
    fn stop(&self) -> Stop {
        match (self.speakers, self.min_speakers, self.max_speakers) {
            (Some(k), _, _) => Stop::Count(k),
            (None, None, None) => Stop::Threshold(self.threshold),
            (None, lo, hi) => Stop::Bounded {
                threshold: self.threshold,
                min: lo.unwrap_or(1),
                max: hi.unwrap_or(usize::MAX),
            },
        }
    }

    fn check(&self) -> Result<(), DiarizeError> {
        let bad = |m: &str| Err(DiarizeError::Options(m.to_string()));
        if !(self.window_s.is_finite() && self.window_s > 0.0) {
            return bad("window_s must be a positive number of seconds");
        }
        if !(self.step_s.is_finite() && self.step_s > 0.0 && self.step_s <= self.window_s) {
            return bad("step_s must be positive and at most window_s");
        }
        if !self.threshold.is_finite() {
            return bad("threshold must be a number");
        }
        if self.speakers == Some(0) || self.min_speakers == Some(0) || self.max_speakers == Some(0) {
            return bad("speaker counts must be at least 1");
        }
        if let (Some(lo), Some(hi)) = (self.min_speakers, self.max_speakers)
            && lo > hi
        {
            return bad("min_speakers is above max_speakers");
        }
        Ok(())
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum DiarizeError {
    /// The embedder failed.
    #[error("speaker embedding failed: {0}")]
    Embed(#[from] EngineError),
    /// Inconsistent input (spans outside the audio, windows without vectors …).
    #[error("diarization input: {0}")]
    Input(String),
    /// Options that cannot work.
    #[error("diarization options: {0}")]
    Options(String),
}

/// The result of clustering: turns, and one centroid per speaker (unit vectors, indexed by
/// [`Turn::speaker`]) for naming speakers.
#[derive(Debug, Clone, Default)]
pub struct Diarization {
    /// Turns in time order.
    pub turns: Vec<Turn>,
    /// Speaker centroids.
    pub centroids: Vec<Vec<f32>>,
}

/// Windows as `[start, end)` seconds, and one embedding per window.
pub type EmbeddedWindows = (Vec<(f64, f64)>, Vec<Vec<f32>>);

/// Windows embedded per embedder call (also the progress granularity).
const EMBED_CHUNK: usize = 32;

/// Who spoke when. `samples`: 16 kHz mono; `speech`: the VAD's speech spans as sample ranges
/// `[start, end)`, in order (from `crate::engine::vad::segmenter`). Blocking: call from a
/// blocking thread. See the module docs for the invariants.
pub fn diarize(
    embedder: &dyn SpeakerEmbedder,
    samples: &[f32],
    speech: &[(usize, usize)],
    opts: &DiarizeOptions,
) -> Result<Vec<Turn>, DiarizeError> {
    Ok(diarize_full(embedder, samples, speech, opts)?.turns)
}

/// [`diarize`], with the speaker centroids.
pub fn diarize_full(
    embedder: &dyn SpeakerEmbedder,
    samples: &[f32],
    speech: &[(usize, usize)],
    opts: &DiarizeOptions,
) -> Result<Diarization, DiarizeError> {
    opts.check()?;
    check_spans(speech, samples.len())?;
    let windows = plan(speech, opts);
    let vectors = embed_planned(embedder, samples, &windows, &|_| {})?;
    cluster_windows(speech, &windows, &vectors, opts)
}

/// Step 1–2 for the meeting pipeline's `embed` stage, in seconds: the windows (`[start, end)`
/// seconds) and their embeddings. `progress` is told the finished share (0–1).
pub fn embed_windows(
    embedder: &dyn SpeakerEmbedder,
    samples: &[f32],
    speech_s: &[(f64, f64)],
    progress: &dyn Fn(f32),
) -> Result<EmbeddedWindows, DiarizeError> {
    let speech = to_samples(speech_s, samples.len())?;
    let windows = plan(&speech, &DiarizeOptions::default());
    let vectors = embed_planned(embedder, samples, &windows, progress)?;
    let sr = SAMPLE_RATE as f64;
    let secs = windows
        .iter()
        .map(|w| (w.start as f64 / sr, w.end as f64 / sr))
        .collect();
    Ok((secs, vectors))
}

/// Steps 3–4 for the meeting pipeline's `cluster` stage: turns from windows (seconds) and their
/// vectors as [`embed_windows`] returned them, within `speech_s` (seconds).
pub fn cluster_turns(
    windows_s: &[(f64, f64)],
    vectors: &[Vec<f32>],
    speech_s: &[(f64, f64)],
    opts: &DiarizeOptions,
) -> Result<Diarization, DiarizeError> {
    opts.check()?;
    let sr = SAMPLE_RATE as f64;
    let end = speech_s.iter().map(|s| s.1).fold(0.0f64, f64::max);
    let speech = to_samples(speech_s, (end * sr).ceil() as usize)?;
    let mut windows = Vec::with_capacity(windows_s.len());
    for &(a, b) in windows_s {
        let (start, end) = ((a * sr).round() as usize, (b * sr).round() as usize);
        let mid = (start + end) / 2;
        let span = speech
            .iter()
            .position(|&(s, e)| s <= mid && mid < e.max(s + 1))
            .ok_or_else(|| DiarizeError::Input(format!("window {a:.2}-{b:.2} s lies outside the speech")))?;
        windows.push(Window { span, start, end });
    }
    cluster_windows(&speech, &windows, vectors, opts)
}

/// Clusters embedded windows and cuts the turns.
pub fn cluster_windows(
    speech: &[(usize, usize)],
    windows: &[Window],
    vectors: &[Vec<f32>],
    opts: &DiarizeOptions,
) -> Result<Diarization, DiarizeError> {
    if windows.len() != vectors.len() {
        return Err(DiarizeError::Input(format!(
            "{} windows but {} embeddings",
            windows.len(),
            vectors.len()
        )));
    }
    if windows.is_empty() {
        return Ok(Diarization::default());
    }
    let sr = SAMPLE_RATE as f64;
    let labels = label_windows(windows, vectors, opts);
    let turns = turns::turns_from_windows(speech, windows, &labels, sr, opts.min_turn_s);
    // Renumber by first appearance in the turns (smoothing may drop a label).
    let order = relabel(&turns.iter().map(|t| t.speaker).collect::<Vec<_>>());
    let mut old_of_new: Vec<usize> = Vec::new();
    let turns: Vec<Turn> = turns
        .iter()
        .zip(&order)
        .map(|(t, &n)| {
            if n == old_of_new.len() {
                old_of_new.push(t.speaker);
            }
            Turn { speaker: n, ..*t }
        })
        .collect();
    let all = centroids(vectors, &labels);
    let centroids = old_of_new.iter().map(|&o| all[o].clone()).collect();
    Ok(Diarization { turns, centroids })
}

/// One label per window: AHC over the long-enough windows, small clusters folded, then every
/// window given its nearest centroid.
fn label_windows(windows: &[Window], vectors: &[Vec<f32>], opts: &DiarizeOptions) -> Vec<usize> {
    let sr = SAMPLE_RATE as f64;
    let min_len = (opts.min_window_s * sr) as usize;
    let mut core: Vec<usize> = (0..windows.len()).filter(|&i| windows[i].len() >= min_len).collect();
    if core.is_empty() {
        core = (0..windows.len()).collect();
    }
    let space = if opts.center {
        centered(vectors, &core)
    } else {
        vectors.to_vec()
    };
    let core_vecs: Vec<Vec<f32>> = core.iter().map(|&i| space[i].clone()).collect();
    let mut labels = bounded_agglomerative(&core_vecs, opts.stop(), MAX_AHC_ITEMS);
    if opts.speakers.is_none() && opts.min_cluster_s > 0.0 {
        // the time a window stands for: its step (windows overlap), or all of a short one
        let step = opts.step_s * sr;
        let durations: Vec<f64> = core.iter().map(|&i| (windows[i].len() as f64).min(step) / sr).collect();
        labels = fold_small(
            &core_vecs,
            labels,
            &durations,
            opts.min_cluster_s,
            opts.min_speakers.unwrap_or(1),
        );
    }
    for _ in 0..opts.refine {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        let cents = centroids(&core_vecs, &labels);
        let next = relabel(
            &core_vecs
                .iter()
                .map(|v| nearest(&cents, v).map_or(0, |x| x.0))
                .collect::<Vec<_>>(),
        );
        // keep the speaker count a refinement pass would change
        if next.iter().max().map_or(0, |m| m + 1) != k || next == labels {
            break;
        }
        labels = next;
    }
    let cents = centroids(&core_vecs, &labels);
    let mut out = vec![0usize; windows.len()];
    for (k, &i) in core.iter().enumerate() {
        out[i] = labels[k];
    }
    let is_core = {
        let mut m = vec![false; windows.len()];
        core.iter().for_each(|&i| m[i] = true);
        m
    };
    for i in 0..windows.len() {
        if !is_core[i] {
            out[i] = nearest(&cents, &space[i]).map_or(0, |x| x.0);
        }
    }
    out
}

/// Most vectors clustered directly: the similarity matrix of AHC is n² floats (4,000 → 64 MB),
/// about 4.5 hours of continuous speech at the default 1 s step.
const MAX_AHC_ITEMS: usize = 4_000;

/// [`agglomerative`] with memory bounded by `cap` items: above it, runs of `g` consecutive
/// vectors (g = ⌈n / cap⌉, neighbours in time, so mostly one voice) are averaged and clustered,
/// and each vector then takes the label of the nearest resulting centroid.
fn bounded_agglomerative(vectors: &[Vec<f32>], stop: Stop, cap: usize) -> Vec<usize> {
    if vectors.len() <= cap.max(1) {
        return agglomerative(vectors, stop);
    }
    let g = vectors.len().div_ceil(cap.max(1));
    let pooled: Vec<Vec<f32>> = vectors
        .chunks(g)
        .map(|c| {
            let mut m = vec![0f32; c[0].len()];
            for v in c {
                for (a, x) in m.iter_mut().zip(v) {
                    *a += x;
                }
            }
            crate::engine::speaker::l2_normalize(&mut m);
            m
        })
        .collect();
    let group_labels = agglomerative(&pooled, stop);
    let cents = centroids(&pooled, &group_labels);
    let labels: Vec<usize> = vectors.iter().map(|v| nearest(&cents, v).map_or(0, |x| x.0)).collect();
    let fresh = relabel(&labels);
    // an exact count must survive the re-assignment: fall back to the groups' labels
    match stop {
        Stop::Count(k) if fresh.iter().max().map_or(0, |m| m + 1) != k.min(pooled.len()) => {
            (0..vectors.len()).map(|i| group_labels[i / g]).collect::<Vec<_>>()
        }
        _ => fresh,
    }
}

/// The vectors with the mean of the `core` vectors subtracted (each then L2-normalised): what
/// every voice of the recording shares is taken out, so cosines spread over [-1, 1].
fn centered(vectors: &[Vec<f32>], core: &[usize]) -> Vec<Vec<f32>> {
    let dim = vectors.first().map_or(0, |v| v.len());
    let mut mean = vec![0f32; dim];
    for &i in core {
        for (m, x) in mean.iter_mut().zip(&vectors[i]) {
            *m += x / core.len() as f32;
        }
    }
    vectors
        .iter()
        .map(|v| {
            let mut c: Vec<f32> = v.iter().zip(&mean).map(|(x, m)| x - m).collect();
            crate::engine::speaker::l2_normalize(&mut c);
            c
        })
        .collect()
}

/// Folds clusters with less than `min_s` seconds of windows into the most similar larger
/// cluster, smallest first, while more than `floor` clusters remain and a larger one exists.
fn fold_small(vectors: &[Vec<f32>], mut labels: Vec<usize>, durations: &[f64], min_s: f64, floor: usize) -> Vec<usize> {
    loop {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        if k <= floor.max(1) {
            return labels;
        }
        let mut total = vec![0f64; k];
        for (&l, d) in labels.iter().zip(durations) {
            total[l] += d;
        }
        let Some(small) = (0..k)
            .filter(|&c| total[c] < min_s)
            .min_by(|&a, &b| total[a].total_cmp(&total[b]))
        else {
            return labels;
        };
        let cents = centroids(vectors, &labels);
        let target = (0..k).filter(|&c| c != small && total[c] >= min_s).max_by(|&a, &b| {
            crate::engine::speaker::cosine(&cents[small], &cents[a])
                .total_cmp(&crate::engine::speaker::cosine(&cents[small], &cents[b]))
        });
        let Some(target) = target else {
            return labels;
        };
        for l in labels.iter_mut() {
            if *l == small {
                *l = target;
            }
        }
        labels = relabel(&labels);
    }
}

fn plan(speech: &[(usize, usize)], opts: &DiarizeOptions) -> Vec<Window> {
    let sr = SAMPLE_RATE as f64;
    turns::plan_windows(speech, (opts.window_s * sr) as usize, (opts.step_s * sr) as usize)
}

fn embed_planned(
    embedder: &dyn SpeakerEmbedder,
    samples: &[f32],
    windows: &[Window],
    progress: &dyn Fn(f32),
) -> Result<Vec<Vec<f32>>, DiarizeError> {
    let mut out = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(EMBED_CHUNK) {
        let clips: Vec<&[f32]> = chunk.iter().map(|w| &samples[w.start..w.end]).collect();
        out.extend(embedder.embed_batch(&clips)?);
        progress(out.len() as f32 / windows.len() as f32);
    }
    Ok(out)
}

fn check_spans(speech: &[(usize, usize)], n: usize) -> Result<(), DiarizeError> {
    let mut prev = 0;
    for &(s, e) in speech {
        if s > e || e > n {
            return Err(DiarizeError::Input(format!(
                "speech span {s}..{e} is outside the audio (0..{n})"
            )));
        }
        if s < prev {
            return Err(DiarizeError::Input("speech spans overlap or are out of order".into()));
        }
        prev = e;
    }
    Ok(())
}

/// Seconds → sample ranges clamped to `n` samples, checked.
fn to_samples(speech_s: &[(f64, f64)], n: usize) -> Result<Vec<(usize, usize)>, DiarizeError> {
    let sr = SAMPLE_RATE as f64;
    let mut out = Vec::with_capacity(speech_s.len());
    for &(a, b) in speech_s {
        if !(a.is_finite() && b.is_finite() && a >= 0.0 && b >= a) {
            return Err(DiarizeError::Input(format!(
                "speech span {a}..{b} s is not a time range"
            )));
        }
        out.push((((a * sr).round() as usize).min(n), ((b * sr).round() as usize).min(n)));
    }
    check_spans(&out, n)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_labels_are_openais_letters() {
        let got: Vec<String> = [0, 1, 25, 26, 27, 701, 702].map(speaker_label).to_vec();
        assert_eq!(got, ["A", "B", "Z", "AA", "AB", "ZZ", "AAA"]);
    }

    /// A stand-in embedder for the pure logic (the real model is tested in tests/speaker_ge2e.rs
    /// and tests/diarize_real.rs): tests build audio whose sample value encodes the speaker
    /// (speaker / 10), and the "voice" is the median sample's speaker.
    struct ByLevel;
    impl SpeakerEmbedder for ByLevel {
        fn name(&self) -> &str {
            "by-level"
        }
        fn dim(&self) -> usize {
            3
        }
        fn embed(&self, s: &[f32]) -> Result<Vec<f32>, EngineError> {
            crate::engine::speaker::check_input(s)?;
            let mut sorted = s.to_vec();
            sorted.sort_by(f32::total_cmp);
            let m = sorted[sorted.len() / 2];
            let mut v = vec![0.05f32; 3];
            v[((m * 10.0).round() as usize).min(2)] = 1.0;
            Ok(v)
        }
    }

    /// `(seconds, speaker)` stretches → samples whose value is speaker / 10.
    fn audio(parts: &[(f64, usize)]) -> Vec<f32> {
        parts
            .iter()
            .flat_map(|&(d, s)| std::iter::repeat_n(s as f32 / 10.0, (d * 16_000.0) as usize))
            .collect()
    }

    #[test]
    fn finds_a_change_inside_one_speech_span_and_across_spans() {
        let samples = audio(&[(6.0, 0), (6.0, 1), (1.0, 0), (4.0, 0), (3.0, 2)]);
        let speech = [(0, 12 * 16_000), (13 * 16_000, 20 * 16_000)];
        let opts = DiarizeOptions {
            window_s: 1.5,
            step_s: 0.75,
            min_cluster_s: 0.0,
            ..Default::default()
        };
        let t = diarize(&ByLevel, &samples, &speech, &opts).unwrap();
        let spk: Vec<usize> = t.iter().map(|x| x.speaker).collect();
        assert_eq!(spk, vec![0, 1, 0, 2]);
        // the change at 6 s is found within half a step
        assert!((t[0].end - 6.0).abs() <= 0.375 + 1e-9, "{t:?}");
        assert!((t[2].end - 17.0).abs() <= 0.375 + 1e-9, "{t:?}");
        assert_eq!((t[0].start, t[3].end), (0.0, 20.0));
        // an exact count of 2 merges the third voice into one of the others
        let two = diarize(
            &ByLevel,
            &samples,
            &speech,
            &DiarizeOptions {
                speakers: Some(2),
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(two.iter().map(|x| x.speaker).max(), Some(1));
        // min_cluster_s folds the 3 s voice away unless min_speakers keeps it
        let folded = diarize(
            &ByLevel,
            &samples,
            &speech,
            &DiarizeOptions {
                min_cluster_s: 4.0,
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(folded.iter().map(|x| x.speaker).max(), Some(1));
        let kept = diarize(
            &ByLevel,
            &samples,
            &speech,
            &DiarizeOptions {
                min_cluster_s: 4.0,
                min_speakers: Some(3),
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(kept.iter().map(|x| x.speaker).max(), Some(2));
    }

    #[test]
    fn seconds_api_matches_the_sample_api() {
        let samples = audio(&[(5.0, 1), (5.0, 2)]);
        let speech_s = [(0.5, 9.5)];
        let (w, v) = embed_windows(&ByLevel, &samples, &speech_s, &|_| {}).unwrap();
        assert_eq!(w.len(), v.len());
        let opts = DiarizeOptions {
            min_cluster_s: 0.0,
            ..Default::default()
        };
        let a = cluster_turns(&w, &v, &speech_s, &opts).unwrap();
        let b = diarize_full(&ByLevel, &samples, &[(8_000, 152_000)], &opts).unwrap();
        assert_eq!(a.turns, b.turns);
        assert_eq!(a.centroids.len(), 2);
        assert_eq!(a.turns[0].start, 0.5);
    }

    #[test]
    fn clustering_above_the_memory_cap_pools_neighbours() {
        // 60 vectors of three voices in runs of 10, clustered with a cap of 16 items
        let dirs = [[1.0f32, 0.05, 0.0], [0.0, 1.0, 0.05], [0.05, 0.0, 1.0]];
        let voice = |i: usize| [0, 1, 2, 0, 1, 2][i / 10];
        let v: Vec<Vec<f32>> = (0..60).map(|i| dirs[voice(i)].to_vec()).collect();
        let truth = relabel(&(0..60).map(voice).collect::<Vec<_>>());
        assert_eq!(bounded_agglomerative(&v, Stop::Threshold(0.7), 16), truth);
        assert_eq!(bounded_agglomerative(&v, Stop::Count(3), 16), truth);
        assert_eq!(bounded_agglomerative(&v, Stop::Count(2), 16).iter().max(), Some(&1));
        // under the cap it is plain AHC
        assert_eq!(bounded_agglomerative(&v, Stop::Threshold(0.7), 100), truth);
    }

    #[test]
    fn bad_input_is_an_error() {
        let samples = audio(&[(2.0, 0)]);
        let o = DiarizeOptions::default();
        assert!(matches!(
            diarize(&ByLevel, &samples, &[(0, 40_000)], &o),
            Err(DiarizeError::Input(_))
        ));
        assert!(diarize(&ByLevel, &samples, &[(10_000, 20_000), (5_000, 8_000)], &o).is_err());
        assert!(diarize(&ByLevel, &samples, &[(20_000, 10_000)], &o).is_err());
        let bad = DiarizeOptions {
            step_s: 0.0,
            ..o.clone()
        };
        assert!(matches!(
            diarize(&ByLevel, &samples, &[], &bad),
            Err(DiarizeError::Options(_))
        ));
        let bad = DiarizeOptions {
            min_speakers: Some(3),
            max_speakers: Some(2),
            ..o.clone()
        };
        assert!(diarize(&ByLevel, &samples, &[], &bad).is_err());
        assert!(embed_windows(&ByLevel, &samples, &[(f64::NAN, 1.0)], &|_| {}).is_err());
        assert!(cluster_windows(&[(0, 100)], &[], &[vec![1.0]], &o).is_err());
        // no speech: no turns
        assert!(diarize(&ByLevel, &samples, &[], &o).unwrap().is_empty());
    }
}
