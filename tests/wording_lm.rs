//! The wording reviewer with its real parts: Gemma-3-270M (base, Q4_K_M) run by llama.cpp
//! in-process, and jieba's word list, as `[review.wording]` loads them. Built with the `lm`
//! feature only (`cargo test --release --features lm --test wording_lm`); the files come from
//! `scripts/fetch-models --lm`.
#![cfg(feature = "lm")]

use std::path::PathBuf;

use asr_router::config::{ReviewConfig, WordingReviewConfig};
use asr_router::finalize::{ReviewFields, SecondPass};

fn models() -> PathBuf {
    let dir = std::env::var_os("ASR_ROUTER_MODELS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
        PathBuf::from,
    );
    let cfg = WordingReviewConfig::default();
    for f in [&cfg.model, &cfg.lexicon] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: run scripts/fetch-models --lm",
            dir.join(f).display()
        );
    }
    dir
}

fn pass(min_gain: f64) -> SecondPass {
    let cfg = ReviewConfig {
        wording: Some(WordingReviewConfig {
            min_gain,
            ..Default::default()
        }),
        ..Default::default()
    };
    SecondPass::from_config(&cfg, &models()).expect("the wording reviewer loads")
}

async fn review(pass: &SecondPass, text: &str) -> asr_router::finalize::Reviewed {
    let plan = pass.plan(&ReviewFields::default(), Some("zh")).unwrap();
    pass.review(&plan, text, &[], None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_sounding_wrong_characters_are_put_right_and_right_sentences_are_kept() {
    let pass = pass(8.0);
    // what Whisper base wrote for the terminology set's 瓶颈在 Redis 的连接数 and 导出 / 训练
    let r = review(&pass, "平景在 Redis 的连接数。").await;
    assert_eq!(r.text, "瓶颈在 Redis 的连接数。", "{:?}", r.edits);
    let wording: Vec<_> = r.edits.iter().filter(|e| e.reviewer == "wording").collect();
    assert_eq!(wording.len(), 1);
    assert_eq!((wording[0].from.as_str(), wording[0].to.as_str()), ("平景", "瓶颈"));
    assert_eq!(
        &r.raw[wording[0].start..wording[0].end],
        "平景",
        "offsets into the raw text"
    );

    let r = review(&pass, "新模型用 PyTorch 讯恋，然后倒出成 ONNX。").await;
    assert_eq!(r.text, "新模型用 PyTorch 训练，然后导出成 ONNX。", "{:?}", r.edits);

    for right in [
        "会议纪要已经同步到文档里了。",
        "这个接口的 QPS 上不去，瓶颈在 Redis 的连接数。",
    ] {
        let r = review(&pass, right).await;
        assert_eq!(r.text, right, "a right sentence is kept: {:?}", r.edits);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_margin_no_replacement_reaches_keeps_every_text() {
    let pass = pass(1000.0);
    let r = review(&pass, "平景在 Redis 的连接数。").await;
    assert_eq!(r.text, "平景在 Redis 的连接数。");
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
}

#[test]
fn a_missing_model_file_is_a_clear_configuration_error() {
    let cfg = ReviewConfig {
        wording: Some(WordingReviewConfig {
            model: PathBuf::from("llm/no-such-model.gguf"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let e = SecondPass::from_config(&cfg, &models())
        .err()
        .expect("no model, no pass");
    let msg = e.to_string();
    assert!(
        msg.contains("[review.wording]") && msg.contains("no-such-model.gguf"),
        "{msg}"
    );
}

/// The model scores an alternative from the base's cache up to where the two differ; what it
/// returns must be what whole-text scoring gives: zero for the base itself, the negated gain when
/// base and alternative trade places (the base side is computed from one full pass, the
/// alternative side from the shared cache), and about the same gain in a batch of many (more than
/// one batch of sequences, so a batch starts after another's sequences).
#[test]
fn gains_from_the_shared_cache_match_whole_text_scoring() {
    let lm =
        asr_router::engine::lm::load(&models().join(WordingReviewConfig::default().model), 2).expect("the model loads");
    let base = "这个接口的 QPS 上不去，瓶颈在 Redis 的连接数。";
    let alternatives: Vec<String> = [
        "这个接口的 QPS 上不去，平景在 Redis 的连接数。",
        "这个接口的 QPS 上不去，瓶颈在 Redis 的连结数。",
        "这个接口灯 QPS 上不去，瓶颈在 Redis 的连接数。",
        "这个借口的 QPS 上不去，瓶颈在 Redis 的连接数。",
        "这个接口的 QPS 上不去，瓶颈在 Redis 的连接数",
        "这个接口的 PCS 上不去，瓶颈在 Redis 的连接数。",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    assert_eq!(lm.gains(base, &[base.to_string()]).unwrap(), vec![0.0]);

    // llama.cpp's quantized kernels round differently with the batch's shape: the same text
    // scores up to ~0.8 nats apart in batches of other sizes (before the shared cache too); a
    // missing or wrong shared start costs many nats
    let close = |a: f64, b: f64| (a - b).abs() < 1.0;
    let forward = lm.gains(base, &alternatives).unwrap();
    for (alt, &g) in alternatives.iter().zip(&forward) {
        let back = lm.gains(alt, &[base.to_string()]).unwrap()[0];
        assert!(close(g, -back), "{alt}: {g} one way, {back} the other");
    }
    assert!(forward[0] < -5.0, "平景 is far less likely than 瓶颈: {}", forward[0]);

    // 21 alternatives: two batches of sequences (16 and 5)
    let many: Vec<String> = alternatives.iter().cycle().take(21).cloned().collect();
    let batched = lm.gains(base, &many).unwrap();
    for (i, g) in batched.iter().enumerate() {
        let alone = forward[i % alternatives.len()];
        assert!(close(*g, alone), "alternative {i}: {g} in a batch, {alone} alone");
    }
}
