//! Diarization with the real GE2E model and Silero VAD on a meeting composed from the committed
//! fixtures (three real voices: a LibriVox reader, JFK, an AISHELL speaker): the speaker count,
//! turn boundaries within tolerance (a change with a pause and one with no pause inside a single
//! VAD span), exact-count and bounds requests, naming by a reference clip, and the online
//! clusterer keeping labels stable.

mod common;

use asr_router::engine::speaker::{Ge2e, SpeakerEmbedder};
use asr_router::engine::vad::SileroModel;
use asr_router::engine::vad::segmenter::{SegmenterConfig, segments};
use asr_router::meeting::diarize::known::name_clusters;
use asr_router::meeting::diarize::{
    DEFAULT_KNOWN_THRESHOLD, DEFAULT_ONLINE_THRESHOLD, DiarizeOptions, OnlineClusterer, Turn, diarize, diarize_full,
};

const SR: f64 = 16_000.0;

fn wav(name: &str) -> Vec<f32> {
    let mut r = hound::WavReader::open(common::fixture(name)).expect("fixture");
    r.samples::<i16>()
        .map(|s| s.expect("sample") as f32 / 32768.0)
        .collect()
}

struct Meeting {
    samples: Vec<f32>,
    /// (start s, end s, voice) of each clip as placed.
    truth: Vec<(f64, f64, usize)>,
}

/// Clips placed one after another; `gap` seconds of silence before each (0: none).
fn compose(parts: &[(&str, usize, f64)]) -> Meeting {
    let mut samples = Vec::new();
    let mut truth = Vec::new();
    for &(name, voice, gap) in parts {
        samples.extend(std::iter::repeat_n(0.0f32, (gap * SR) as usize));
        let start = samples.len() as f64 / SR;
        samples.extend(wav(name));
        truth.push((start, samples.len() as f64 / SR, voice));
    }
    samples.extend(std::iter::repeat_n(0.0f32, SR as usize));
    Meeting { samples, truth }
}

fn models() -> (Ge2e, SileroModel) {
    // load_silero sets up ONNX Runtime, which the speaker model needs too
    let v = common::load_silero();
    let e = Ge2e::load(&common::models_dir().join("speaker/ge2e.onnx"), 2)
        .expect("speaker/ge2e.onnx (scripts/fetch-models)");
    (e, v)
}

fn speech(vad: &SileroModel, samples: &[f32]) -> Vec<(usize, usize)> {
    let probs = vad.stream().push(samples).expect("vad");
    let cfg = SegmenterConfig {
        threshold: 0.25,
        min_silence_ms: 300,
        padding_ms: 100,
        ..Default::default()
    };
    segments(&probs, &cfg)
        .into_iter()
        .map(|(s, e)| (s.min(samples.len()), e.min(samples.len())))
        .filter(|(s, e)| e > s)
        .collect()
}

/// The defaults, except that a voice with less than 8 s of speech is kept: the AISHELL speaker
/// says 4.3 s here (by default such a voice is folded into its nearest neighbour).
fn opts() -> DiarizeOptions {
    DiarizeOptions {
        min_cluster_s: 3.0,
        ..Default::default()
    }
}

/// The speaker of the turn covering time `t`.
fn speaker_at(turns: &[Turn], t: f64) -> Option<usize> {
    turns.iter().find(|x| x.start <= t && t < x.end).map(|x| x.speaker)
}

fn meeting() -> Meeting {
    // voice 0: LibriVox reader, 1: JFK, 2: AISHELL speaker. The JFK clip follows the first
    // LibriVox clip with no pause, so that change lies inside one VAD span.
    compose(&[
        ("en_librivox_sense_0870.wav", 0, 0.5),
        ("en_jfk.wav", 1, 0.0),
        ("zh_aishell_BAC009S0724W0121.wav", 2, 1.0),
        ("en_librivox_sense_0880.wav", 0, 1.0),
        ("en_jfk.wav", 1, 1.0),
    ])
}

#[test]
fn composed_meeting_speakers_and_boundaries() {
    let (e, vad) = models();
    let m = meeting();
    let sp = speech(&vad, &m.samples);
    let turns = diarize(&e, &m.samples, &sp, &opts()).expect("diarize");
    let n = turns.iter().map(|t| t.speaker).max().map_or(0, |x| x + 1);
    assert_eq!(n, 3, "speakers found: {turns:?}");
    // Each clip's middle belongs to one speaker, and the mapping voice -> speaker is 1:1.
    let mut map = [None; 3];
    for &(s, e_, voice) in &m.truth {
        let got = speaker_at(&turns, (s + e_) / 2.0).expect("speech at the clip's middle");
        match map[voice] {
            None => map[voice] = Some(got),
            Some(prev) => assert_eq!(prev, got, "voice {voice} got two speakers: {turns:?}"),
        }
    }
    let mut ids: Vec<_> = map.iter().flatten().collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    // The no-pause change LibriVox -> JFK is found within 1 s.
    let change = m.truth[0].1;
    let cut = turns
        .iter()
        .find(|t| t.speaker == map[1].unwrap() && (t.start - change).abs() < 3.0)
        .map(|t| t.start)
        .expect("a JFK turn starts near the change");
    assert!(
        (cut - change).abs() <= 1.0,
        "change at {change:.2} s, cut at {cut:.2} s"
    );
    // Every change with a pause is within 0.5 s of the truth.
    for w in m.truth.windows(2).skip(1) {
        let t = w[1].0;
        let near = turns.iter().map(|x| (x.start - t).abs()).fold(f64::MAX, f64::min);
        assert!(near <= 0.5, "no turn starts near {t:.2} s: {turns:?}");
    }
    // Invariants: ordered, non-overlapping.
    for p in turns.windows(2) {
        assert!(p[0].end <= p[1].start + 1e-9);
    }
}

#[test]
fn counts_bounds_and_known_speakers() {
    let (e, vad) = models();
    let m = meeting();
    let sp = speech(&vad, &m.samples);
    let count = |opts: DiarizeOptions| {
        let t = diarize(&e, &m.samples, &sp, &opts).expect("diarize");
        t.iter().map(|x| x.speaker).max().map_or(0, |x| x + 1)
    };
    assert_eq!(
        count(DiarizeOptions {
            speakers: Some(2),
            ..opts()
        }),
        2
    );
    assert_eq!(
        count(DiarizeOptions {
            max_speakers: Some(2),
            ..opts()
        }),
        2
    );
    assert!(
        count(DiarizeOptions {
            min_speakers: Some(3),
            ..opts()
        }) >= 3
    );
    // Naming: a 2 s reference clip of the LibriVox reader names the speaker of the LibriVox
    // turns, and nobody else.
    let d = diarize_full(&e, &m.samples, &sp, &opts()).expect("diarize");
    let reference = e.embed(&wav("en_librivox_sense_0880.wav")[..16_000 * 2]).expect("ref");
    let names = name_clusters(
        &d.centroids,
        &[reference],
        &["Reader".to_string()],
        DEFAULT_KNOWN_THRESHOLD,
    );
    let reader = speaker_at(&d.turns, (m.truth[0].0 + m.truth[0].1) / 2.0).expect("reader");
    assert_eq!(names[reader].as_deref(), Some("Reader"), "{names:?}");
    assert_eq!(names.iter().flatten().count(), 1);
}

#[test]
fn online_clusterer_keeps_labels_across_a_session() {
    let (e, _) = models();
    let mut o = OnlineClusterer::new(e.dim(), DEFAULT_ONLINE_THRESHOLD, 8);
    let clips = [
        ("en_librivox_sense_0870.wav", 0),
        ("en_jfk.wav", 1),
        ("en_librivox_sense_0880.wav", 0),
        ("zh_aishell_BAC009S0724W0121.wav", 2),
    ];
    let mut seen = Vec::new();
    for (name, voice) in clips {
        let a = wav(name);
        let v = e.embed(&a).expect("embed");
        let got = o.assign(&v, a.len() as f32 / 16_000.0).expect("assign").speaker;
        seen.push((voice, got));
    }
    assert_eq!(seen[0].1, seen[2].1, "same reader, same label: {seen:?}");
    assert_ne!(seen[0].1, seen[1].1);
    assert_ne!(seen[3].1, seen[0].1);
    assert_ne!(seen[3].1, seen[1].1);
    assert_eq!(o.len(), 3);
}
