//! Long recordings, cut where they are quiet.
//!
//! - The offline VAD pass in lanes (`SileroModel::probabilities`) against the streaming detector
//!   it replaces for files: on real recordings, one probability per frame, the first lane exactly
//!   the streaming values, and the same speech spans (to a frame) at the thresholds the batch
//!   service and the meeting pipeline cut with.
//! - Whisper given more than 30 s at once (a long manual commit) cuts its windows in pauses, so
//!   the words spoken across the 30 s mark survive.

mod common;

use asr_router::engine::recognizer::{DecodeOptions, Recognizer, Utterance};
use asr_router::engine::vad::FRAME;
use asr_router::engine::vad::segmenter::{SegmenterConfig, segments};
use asr_router::engine::vad::silero::LANE_MIN_S;

/// The three terminology meetings (real TTS voices, 71–74 s each) one after another, then
/// `tail` samples of the first fixture, so the last lane ends on a partial frame.
fn recording(tail: usize) -> Vec<f32> {
    let mut samples = Vec::new();
    for m in ["mtg_en_a", "mtg_zh_a", "mtg_mx_a"] {
        let (s, rate) = common::read_wav(&common::shared_eval(&format!("terminology/meetings/{m}.wav")));
        assert_eq!(rate, 16_000);
        samples.extend(s);
    }
    let (jfk, _) = common::read_wav(&common::fixture("en_jfk.wav"));
    samples.extend(&jfk[..tail]);
    samples
}

/// Each span of `a` matched by one of `b` whose ends lie within `tol` samples.
fn same_spans(a: &[(usize, usize)], b: &[(usize, usize)], tol: usize) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0.abs_diff(y.0) <= tol && x.1.abs_diff(y.1) <= tol)
}

#[test]
fn lanes_give_the_streaming_probabilities_and_spans_of_a_long_recording() {
    let vad = common::load_silero();
    let samples = recording(1000);
    let frames = samples.len() / FRAME;
    let lane_frames = (LANE_MIN_S * 16_000.0) as usize / FRAME;
    assert!(frames >= 6 * lane_frames, "the recording must make several lanes");

    let streamed = vad.stream().push(&samples).expect("stream");
    let laned = vad.probabilities(&samples).expect("lanes");
    assert_eq!(laned.len(), streamed.len(), "one probability per whole frame");
    assert_eq!(laned.len(), frames);
    // the first lane is the stream itself (cuts move by at most 5 s)
    let first = lane_frames - 5 * 32;
    assert_eq!(laned[..first], streamed[..first]);
    // elsewhere the state differs only by what it remembers from before the warm-up
    let far = laned
        .iter()
        .zip(&streamed)
        .filter(|(a, b)| (*a - *b).abs() > 0.1)
        .count();
    assert!(
        far * 200 <= frames,
        "{far} of {frames} frames differ by more than 0.1 from the stream"
    );
    // the spans the batch service (0.5) and the meeting pipeline (0.25) cut
    for threshold in [0.5, 0.25] {
        let cfg = SegmenterConfig {
            threshold,
            min_silence_ms: 300,
            padding_ms: 100,
            ..Default::default()
        };
        let a = segments(&streamed, &cfg);
        let b = segments(&laned, &cfg);
        assert!(a.len() > 20, "a real recording has many speech spans: {}", a.len());
        assert!(
            same_spans(&a, &b, FRAME),
            "threshold {threshold}: streamed {a:?}\nlaned {b:?}"
        );
    }
}

#[test]
fn short_recordings_and_silence_run_as_one_stream() {
    let vad = common::load_silero();
    // shorter than two lanes: exactly the streaming values
    let samples = recording(0)[..(50 * 16_000)].to_vec();
    assert_eq!(
        vad.probabilities(&samples).expect("short"),
        vad.stream().push(&samples).expect("stream")
    );
    // long silence: no speech anywhere, every lane (warm-up included) stays quiet
    let silence = vec![0.0f32; (LANE_MIN_S as usize * 5) * 16_000 + 300];
    let p = vad.probabilities(&silence).expect("silence");
    assert_eq!(p.len(), silence.len() / FRAME);
    assert!(p.iter().all(|&x| x < 0.1), "silence scored as speech");
    // fewer samples than one frame: nothing
    assert!(vad.probabilities(&samples[..FRAME - 1]).expect("tiny").is_empty());
}

#[test]
fn whisper_cuts_audio_longer_than_30_s_between_words() {
    // 11.0 + 7.1 + 11.0 s, then "he was not an ill disposed young man" from 29.1 s: a cut at
    // exactly 30 s would fall inside it
    let parts = [
        "en_jfk.wav",
        "en_librivox_sense_0870.wav",
        "en_jfk.wav",
        "en_librivox_sense_0880.wav",
        "en_librivox_sense_0870.wav",
    ];
    let mut samples = Vec::new();
    let mut reference = Vec::new();
    for p in parts {
        samples.extend(common::read_wav(&common::fixture(p)).0);
        reference.push(common::reference(p.trim_end_matches(".wav")));
    }
    let duration = samples.len() as f32 / 16_000.0;
    assert!(duration > 35.0);
    let engine = common::load_whisper_base();
    let u = Utterance {
        samples: samples.into(),
        options: DecodeOptions {
            language: Some("en".into()),
            ..Default::default()
        },
    };
    let h = engine.recognize(&[u]).remove(0).expect("decode");
    let reference = reference.join(" ");
    let wer = common::wer(&reference, &h.text);
    assert!(wer <= 0.1, "WER {wer:.3}: {}", h.text);
    let norm = |t: &str| {
        t.to_lowercase()
            .replace('-', " ")
            .chars()
            .filter(|c| c.is_alphanumeric() || c.is_whitespace())
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        norm(&h.text).contains("he was not an ill disposed young man"),
        "the sentence across the 30 s mark is lost: {}",
        h.text
    );
    // segments in time order, inside the audio
    for w in h.segments.windows(2) {
        assert!(w[0].start <= w[1].start, "{:?}", h.segments);
    }
    assert!(h.segments.iter().all(|s| s.end <= duration + 0.5));
}
