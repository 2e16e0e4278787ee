//! The acoustic check of loosely matched glossary terms (`asr_router::finalize::verify`), with
//! the real `whisper-base` model on code-switched clips of the shared terminology set: Whisper
//! scores candidate transcripts of the audio, and over REST a term the recognizer misheard is
//! written once the audio supports it, counted in `/metrics`.

mod common;

use std::sync::Arc;

use asr_router::config::ComputeType;
use asr_router::engine::recognizer::{DecodeOptions, Recognizer, Utterance};
use asr_router::engine::whisper::{WhisperEngine, WhisperSettings};
use common::{KEY, Server};

fn clip(id: &str) -> std::path::PathBuf {
    common::shared_eval(&format!("terminology/audio/zh-en/{id}.wav"))
}

#[test]
fn whisper_scores_the_spoken_terms_above_what_it_misheard_and_a_wrong_term_below() {
    let dir = common::models_dir().join("whisper-base");
    let engine = WhisperEngine::load(
        &dir,
        WhisperSettings {
            name: "whisper-base".into(),
            compute_type: ComputeType::Int8,
            threads: 2,
            beam_size: 5,
            max_batch: 1,
        },
    )
    .unwrap_or_else(|e| panic!("whisper-base must be installed (scripts/fetch-models): {e}"));
    // "Whisper 的 WER 在中英混说的场景下还是偏高。", heard by whisper-base as below
    let bytes = std::fs::read(clip("term_mx07_fs2+pico")).unwrap();
    let samples: Arc<[f32]> = asr_router::audio::decode_bytes(bytes, 60.0).unwrap().samples.into();
    let utterance = Utterance {
        samples,
        options: DecodeOptions {
            language: Some("zh".into()),
            prompt: Some("Whisper, WER, CPU".into()),
            ..Default::default()
        },
    };
    let texts = [
        "Whisperden，WR，在中英混说的场景下还是天高？",
        "Whisper，WER，在中英混说的场景下还是天高？",
        "Whisperden，CPU，在中英混说的场景下还是天高？",
    ]
    .map(String::from);
    let scores = engine.score_texts(&utterance, &texts).expect("scores");
    assert_eq!(scores.len(), 3);
    assert!(scores.iter().all(|s| s.is_finite() && *s < 0.0), "{scores:?}");
    assert!(scores[1] > scores[0], "the spoken terms score higher: {scores:?}");
    assert!(
        scores[2] < scores[0],
        "a term that was not spoken scores lower: {scores:?}"
    );
    // an engine that cannot score says so
    assert!(engine.abilities().scores_texts);
}

#[tokio::test]
async fn a_misheard_term_the_audio_supports_is_written_and_counted() {
    let s = Server::start("", &[]);
    // "OKR 这周五之前要对齐，每个人写清楚 owner 和 deadline。" — with the terminology set's
    // glossary as its prompt, whisper-base writes "that line" for "deadline", which only a loose
    // sound-alike match reaches
    let glossary = std::fs::read_to_string(common::shared_eval("terminology/glossary.json")).unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(clip("term_mx13_fs2+pico")).unwrap()).file_name("mx13.wav"),
        )
        .text("model", "whisper-base")
        .text("response_format", "verbose_json")
        .text("glossary", glossary);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/audio/transcriptions", s.base))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(text.contains("deadline"), "{v}");
    // the segments carry the same text
    let segments: String = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(segments.contains("deadline"), "{v}");
    let accepted = r#"asr_router_glossary_term_checks_total{outcome="accepted"}"#;
    assert!(s.metric(accepted).await >= 1.0, "{}", s.log());
}
