//! The in-process Whisper engine on real audio with the real `whisper-base` model: language
//! detection restricted by `DecodeOptions.languages`, and the measurements the decoding guards
//! attach to every segment (temperature, compression ratio, average log-probability, no-speech
//! probability), a token cap, the encoder cache of a final decoded again, and the word
//! probabilities of drafts. Clips come from the shared terminology eval set
//! (`../shared/eval/terminology`).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use asr_router::engine::recognizer::{DecodeOptions, Hypothesis, Recognizer, Utterance};
use asr_router::engine::whisper::WhisperEngine;

fn eval_clip(rel: &str) -> PathBuf {
    common::shared_eval(&format!("terminology/{rel}"))
}

fn samples(rel: &str) -> Arc<[f32]> {
    let bytes = std::fs::read(eval_clip(rel)).expect("read clip");
    asr_router::audio::decode_bytes(bytes, 60.0)
        .expect("decode")
        .samples
        .into()
}

fn decode(engine: &WhisperEngine, audio: &Arc<[f32]>, languages: Option<&[&str]>) -> Hypothesis {
    let options = DecodeOptions {
        languages: languages.map(|l| l.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let u = Utterance {
        samples: audio.clone(),
        options,
    };
    engine.recognize(&[u]).remove(0).expect("recognition")
}

#[test]
fn languages_restrict_detection_and_segments_carry_the_guard_measurements() {
    let engine = common::load_whisper_base();
    // Mandarin with one product name: detected as Mandarin when nothing restricts it
    let zh = samples("audio/zh/term_zh01_fs2.wav");
    let free = decode(&engine, &zh, None);
    assert_eq!(free.language.as_deref(), Some("zh"), "{free:?}");

    // restricted to languages that exclude the spoken one, detection must stay inside the set
    let restricted = decode(&engine, &zh, Some(&["en", "ja"]));
    let lang = restricted.language.as_deref().unwrap_or("");
    assert!(["en", "ja"].contains(&lang), "picked {lang:?} outside [en, ja]");

    // a code-switched clip with OpenAI's `languages: ["zh", "en"]`
    let mixed = samples("audio/zh-en/term_mx01_fs2+pico.wav");
    let h = decode(&engine, &mixed, Some(&["zh", "en"]));
    let lang = h.language.as_deref().unwrap_or("");
    assert!(["zh", "en"].contains(&lang), "picked {lang:?} outside [zh, en]");
    assert!(!h.text.is_empty() && !h.segments.is_empty(), "{h:?}");
    for s in &h.segments {
        let t = s.temperature.expect("temperature");
        assert!((0.0..=1.0).contains(&t), "temperature {t}");
        let cr = s.compression_ratio.expect("compression ratio");
        // speech text, not a loop (a loop would have been decoded again, hotter)
        assert!(cr > 0.3 && cr < 4.0, "compression ratio {cr} at T={t}");
        let lp = s.avg_logprob.expect("avg_logprob");
        assert!(lp < 0.0 && lp > -5.0, "avg_logprob {lp}");
        let ns = s.no_speech_prob.expect("no_speech_prob");
        assert!((0.0..=1.0).contains(&ns), "no_speech_prob {ns}");
    }
}

#[test]
fn one_batch_may_mix_prompts_of_different_lengths() {
    // The scheduler batches whatever finals are waiting: here one without a prompt and two with
    // prompts of different lengths (a glossary-prompted second decode beside a user's prompt).
    // CTranslate2 decodes a batch together only when <|startoftranscript|> stands at one
    // position, so the engine must split such a batch rather than fail every item of it.
    let engine = common::load_whisper_base();
    let zh = samples("audio/zh/term_zh01_fs2.wav");
    let with = |prompt: Option<&str>| Utterance {
        samples: zh.clone(),
        options: DecodeOptions {
            language: Some("zh".into()),
            prompt: prompt.map(str::to_string),
            ..Default::default()
        },
    };
    let batch = [
        with(None),
        with(Some("Kubernetes, Prometheus, Grafana")),
        with(Some("会议纪要")),
    ];
    let out = engine.recognize(&batch);
    assert_eq!(out.len(), 3);
    for (i, r) in out.into_iter().enumerate() {
        let h = r.unwrap_or_else(|e| panic!("item {i} of a mixed-prompt batch failed: {e}"));
        assert!(
            h.text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "item {i}: {h:?}"
        );
    }
}

#[test]
fn sampled_decodes_repeat_across_freshly_loaded_models_with_a_fixed_seed() {
    // `[engines] random_seed`: CTranslate2 seeds each decoding thread's generator from the global
    // seed when the thread first samples, and every model has its own decoding thread. So two
    // models loaded after the seed is set draw the same samples: at temperature 1 (every attempt
    // sampled) the same code-switched clip must come back word for word the same.
    asr_router::engine::whisper::seed_sampling(20261201);
    let audio = samples("audio/zh-en/term_mx02_fs2+pico.wav");
    let sampled = |engine: &WhisperEngine| {
        let u = Utterance {
            samples: audio.clone(),
            options: DecodeOptions {
                temperature: 1.0,
                ..Default::default()
            },
        };
        engine.recognize(&[u]).remove(0).expect("recognition").text
    };
    let first = sampled(&common::load_whisper_base());
    let second = sampled(&common::load_whisper_base());
    assert!(!first.is_empty());
    assert_eq!(first, second, "the same seed, the same clip, two fresh models");
}

#[test]
fn replicas_decode_side_by_side_and_write_what_one_replica_writes() {
    // `workers` of a Whisper engine are CTranslate2 replicas of one model, called without a lock:
    // two threads decoding at once must each get the text a lone decode gets (one thread per
    // replica in both, so the arithmetic is the same).
    use asr_router::engine::whisper::WhisperSettings;
    let engine = WhisperEngine::load(
        &common::models_dir().join("whisper-base"),
        WhisperSettings {
            name: "whisper-base".into(),
            compute_type: asr_router::config::ComputeType::Int8,
            threads: 1,
            beam_size: 5,
            max_batch: 4,
            replicas: 2,
        },
    )
    .expect("whisper-base must be installed (scripts/fetch-models)");
    assert_eq!(engine.replicas(), 2);
    let clips = [
        samples("audio/en/term_en08_joe.wav"),
        samples("audio/en/term_en02_joe.wav"),
    ];
    let alone: Vec<Hypothesis> = clips.iter().map(|c| decode(&engine, c, None)).collect();
    for h in &alone {
        assert!(!h.text.is_empty(), "{h:?}");
        assert!(
            h.segments.iter().all(|s| s.temperature == Some(0.0)),
            "a clip that needs sampling would make this comparison depend on the replica: {h:?}"
        );
    }
    for round in 0..3 {
        let side_by_side: Vec<Hypothesis> = std::thread::scope(|s| {
            let handles: Vec<_> = clips.iter().map(|c| s.spawn(|| decode(&engine, c, None))).collect();
            handles.into_iter().map(|h| h.join().expect("decode thread")).collect()
        });
        for (a, b) in alone.iter().zip(&side_by_side) {
            assert_eq!(a.text, b.text, "round {round}");
        }
    }
}

#[test]
fn a_token_cap_bounds_what_a_decode_writes() {
    let engine = common::load_whisper_base();
    let audio = samples("audio/en/term_en08_joe.wav");
    let free = decode(&engine, &audio, None);
    assert!(free.token_ids.len() > 8, "the clip needs more than the cap: {free:?}");
    let u = Utterance {
        samples: audio.clone(),
        options: DecodeOptions {
            max_tokens: Some(8),
            ..Default::default()
        },
    };
    let capped = engine.recognize(&[u]).remove(0).expect("recognition");
    assert!(!capped.text.is_empty() && capped.token_ids.len() <= 8, "{capped:?}");
}

#[test]
fn a_final_decoded_again_reuses_its_encoding_and_decodes_the_same() {
    let engine = common::load_whisper_base();
    let audio = samples("audio/en/term_en08_joe.wav");
    let hits = engine.encoder_cache_hits();
    let first = decode(&engine, &audio, None);
    assert_eq!(engine.encoder_cache_hits(), hits, "a first decode encodes");
    let again = decode(&engine, &audio, None);
    assert_eq!(
        engine.encoder_cache_hits(),
        hits + 1,
        "the same audio again: no encoder pass"
    );
    assert_eq!(again.text, first.text);
    assert_eq!(again.token_ids, first.token_ids);
    // scoring the decoded text reuses it too, and other audio does not
    let scored = engine
        .score_texts(
            &Utterance {
                samples: audio.clone(),
                options: DecodeOptions::default(),
            },
            std::slice::from_ref(&first.text),
        )
        .expect("score");
    assert!(scored[0].logprob.is_finite() && scored[0].logprob < 0.0, "{scored:?}");
    assert_eq!(engine.encoder_cache_hits(), hits + 2);
    let other = samples("audio/en/term_en01_joe.wav");
    decode(&engine, &other, None);
    assert_eq!(engine.encoder_cache_hits(), hits + 2, "other audio is encoded");
}

#[test]
fn a_draft_asked_for_word_probabilities_gets_one_per_word_of_its_text() {
    let engine = common::load_whisper_base();
    let first_secs = |rel: &str, secs: f32| -> Arc<[f32]> {
        let all = samples(rel);
        all[..((secs * 16_000.0) as usize).min(all.len())].into()
    };
    let en = first_secs("audio/en/term_en01_slt.wav", 2.5);
    let zh = first_secs("audio/zh/term_zh01_fs2.wav", 2.5);
    let draft = |audio: &Arc<[f32]>, language: &str, word_probabilities: bool| Utterance {
        samples: audio.clone(),
        options: DecodeOptions {
            language: Some(language.into()),
            draft: true,
            word_probabilities,
            ..Default::default()
        },
    };
    // one batch: the drafts are decoded together, and aligned together where they share a start
    let out = engine.recognize(&[draft(&en, "en", true), draft(&zh, "zh", true), draft(&en, "en", false)]);
    let [en_sure, zh_sure, en_plain] = [0, 1, 2].map(|i| out[i].as_ref().expect("a draft").clone());

    assert!(!en_sure.text.is_empty(), "{en_sure:?}");
    let words: Vec<&str> = en_sure.word_probabilities.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(
        words.join(" "),
        en_sure.text.split_whitespace().collect::<Vec<_>>().join(" "),
        "one probability per word of the text, in order"
    );
    for w in &en_sure.word_probabilities {
        assert!(w.probability > 0.0 && w.probability <= 1.0, "{w:?}");
    }
    assert!(
        en_sure.word_probabilities.iter().any(|w| w.probability > 0.5),
        "clear speech: some word is likely: {:?}",
        en_sure.word_probabilities
    );
    // the same draft without the question: the same text, no probabilities
    assert_eq!(en_plain.text, en_sure.text);
    assert!(en_plain.word_probabilities.is_empty());
    // a draft in another language starts otherwise than the batch's first: none, never made up
    assert!(!zh_sure.text.is_empty(), "{zh_sure:?}");
    assert!(zh_sure.word_probabilities.is_empty(), "{zh_sure:?}");
    // alone in its batch it gets them, one per character group
    let zh_alone = engine.recognize(&[draft(&zh, "zh", true)]).remove(0).expect("a draft");
    assert_eq!(zh_alone.text, zh_sure.text);
    let chars: String = zh_alone.word_probabilities.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(chars, zh_alone.text.replace(' ', ""));
}
