//! The GE2E speaker embedder on real speech, with the converted model from `scripts/fetch-models`
//! (`models/speaker/ge2e.onnx`): the same LibriVox reader's two clips are closer than either is to
//! other voices; the Rust front end (volume, partials, power mel) reproduces the numpy/librosa
//! reference embeddings that `tools/check_ge2e.py --dump-reference` wrote; batching changes
//! nothing; bad input is refused.

mod common;

use std::collections::BTreeMap;

use asr_router::engine::ort_runtime;
use asr_router::engine::speaker::{Ge2e, SpeakerEmbedder, cosine};

fn embedder() -> Ge2e {
    let models = common::models_dir();
    ort_runtime::init(&models).expect("onnxruntime (scripts/fetch-models)");
    Ge2e::load(&models.join("speaker/ge2e.onnx"), 2).expect("speaker/ge2e.onnx (scripts/fetch-models)")
}

fn wav(name: &str) -> Vec<f32> {
    let mut r = hound::WavReader::open(common::fixture(name)).expect("fixture");
    assert_eq!(r.spec().sample_rate, 16_000);
    r.samples::<i16>()
        .map(|s| s.expect("sample") as f32 / 32768.0)
        .collect()
}

const CLIPS: [&str; 4] = [
    "en_librivox_sense_0870.wav",
    "en_librivox_sense_0880.wav",
    "en_jfk.wav",
    "zh_aishell_BAC009S0724W0121.wav",
];

#[test]
fn same_speaker_is_closer_than_other_speakers() {
    let e = embedder();
    assert_eq!(e.dim(), 256);
    let audio: Vec<Vec<f32>> = CLIPS.iter().map(|c| wav(c)).collect();
    let embs: Vec<Vec<f32>> = audio.iter().map(|a| e.embed(a).expect("embed")).collect();
    for v in &embs {
        assert_eq!(v.len(), 256);
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "norm {n}");
        assert!(v.iter().all(|x| *x >= 0.0), "GE2E vectors are non-negative");
    }
    let same = cosine(&embs[0], &embs[1]);
    for (i, j) in [(0, 2), (0, 3), (1, 2), (1, 3), (2, 3)] {
        let cross = cosine(&embs[i], &embs[j]);
        assert!(
            same > cross + 0.1,
            "same-speaker {same:.3} vs {} / {}: {cross:.3}",
            CLIPS[i],
            CLIPS[j]
        );
    }

    // Batched: the same vectors in one call.
    let refs: Vec<&[f32]> = audio.iter().map(|a| a.as_slice()).collect();
    let batched = e.embed_batch(&refs).expect("batch");
    for (a, b) in batched.iter().zip(&embs) {
        assert!(cosine(a, b) > 0.99999);
    }
}

#[test]
fn front_end_reproduces_the_librosa_reference() {
    let text =
        std::fs::read_to_string(common::root().join("tests/fixtures/speaker/ge2e_reference.json")).expect("reference");
    let reference: BTreeMap<String, Vec<f32>> = serde_json::from_str(&text).expect("json");
    let e = embedder();
    for clip in CLIPS {
        let want = &reference[clip];
        let got = e.embed(&wav(clip)).expect("embed");
        let max = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max < 2e-3, "{clip}: max |rust - reference| = {max}");
        assert!(cosine(&got, want) > 0.9999, "{clip}");
    }
}

#[test]
fn bad_input_is_refused_and_short_clips_work() {
    let e = embedder();
    assert!(e.embed(&[]).is_err());
    assert!(e.embed(&[0.1, f32::NAN, 0.2]).is_err());
    assert!(e.embed_batch(&[&[0.1; 1600], &[]]).is_err());
    assert!(e.embed_batch(&[]).expect("empty batch").is_empty());
    // A clip shorter than one partial is zero-padded: still a unit vector.
    let short = &wav("en_librivox_sense_0880.wav")[16_000..20_000];
    let v = e.embed(short).expect("short clip");
    let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((n - 1.0).abs() < 1e-4);
}
