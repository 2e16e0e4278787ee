//! The corrector against the terminology set and a large glossary: it must leave correct
//! references alone and still find terms among 10,000; the ignored `term_eval` re-scores cached
//! hypotheses for threshold tuning and `bench_large_glossary` prints the per-utterance cost.
//! Accuracy of the whole chain is `asr-router eval` (`crate::eval`), whose scoring `term_eval`
//! uses.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::{Glossary, GlossaryEntry, ReviewChain, ReviewContext, Reviewer, ScriptTarget};
use crate::review::GlossaryCorrector;

fn shared_eval() -> Option<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../shared/eval"),
        here.join("shared/eval"),
        PathBuf::from("/work/shared/eval"),
    ]
    .into_iter()
    .find(|p| p.join("terminology/glossary.json").exists())
}

fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// References are correct: the corrector (with the terminology glossary) must not touch them,
/// neither the plain set's nor the terminology set's own.
#[test]
fn references_are_left_unchanged() {
    let Some(dir) = shared_eval() else {
        eprintln!("shared/eval not found; skipped");
        return;
    };
    let g = Glossary::from_json_file(dir.join("terminology/glossary.json")).unwrap();
    let corrector = GlossaryCorrector::default();
    let mut checked = 0;
    for manifest in [dir.join("manifest.jsonl"), dir.join("terminology/manifest.jsonl")] {
        for row in jsonl(&manifest) {
            let text = row["text"].as_str().unwrap_or_default();
            let lang = row["lang"].as_str();
            for ctx_lang in [None, lang] {
                let r = corrector
                    .review(text, &ReviewContext::with_language(ctx_lang), &g)
                    .unwrap();
                assert!(r.edits.is_empty(), "{:?} changed {text:?}: {:?}", row["id"], r.edits);
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
}

/// Re-scores cached hypotheses with the deterministic chain, without decoding anything: for
/// tuning the corrector's thresholds (`LATIN_T`, `CS_LATIN_T`, `HAN_T`, `CROSS_T`) quickly.
/// `TERM_HYPS` (default `/tmp/term_eval.json`) is the `--json` output of
/// `asr-router eval --manifest ../shared/eval/terminology/manifest.jsonl --review none`; items
/// are split by `sentence_id` parity (odd sentences tune, even ones check). Scoring is
/// `crate::eval`'s, the same as `asr-router eval`.
///
/// `cargo test --release --lib review::eval::term_eval -- --ignored --nocapture`
#[test]
#[ignore]
fn term_eval() {
    use crate::eval::score::{Counts, Metric, score};
    use crate::eval::{Manifest, Normalizer};

    let hyps = PathBuf::from(std::env::var("TERM_HYPS").unwrap_or("/tmp/term_eval.json".into()));
    let dir = shared_eval().expect("shared/eval");
    let g = Glossary::from_json_file(dir.join("terminology/glossary.json")).unwrap();
    let manifest = Manifest::load(&dir.join("terminology/manifest.jsonl")).unwrap();
    let normalizer = Normalizer::new(manifest.terms());
    let sentence: BTreeMap<String, String> = jsonl(&dir.join("terminology/manifest.jsonl"))
        .into_iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["sentence_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&hyps).unwrap()).unwrap();
    let mut config = super::corrector::CorrectorConfig::default();
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f32>().ok());
    if let Some(v) = env("LATIN_T") {
        config.latin_threshold = v;
    }
    if let Some(v) = env("CS_LATIN_T") {
        config.code_switched_latin_threshold = v;
    }
    if let Some(v) = env("HAN_T") {
        config.han_threshold = v;
    }
    if let Some(v) = env("CROSS_T") {
        config.cross_threshold = v;
    }
    let chain = ReviewChain::new()
        .then(super::ScriptNormalizer::new(ScriptTarget::Simplified))
        .then(GlossaryCorrector::new(config))
        .then(super::ScriptNormalizer::new(ScriptTarget::Simplified));
    let mut tallies: BTreeMap<(String, &str, &str), (usize, Counts)> = BTreeMap::new();
    let verbose = std::env::var("TERM_VERBOSE").is_ok();
    for item in &manifest.items {
        let Some(row) = report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == item.id.as_str())
        else {
            continue;
        };
        let hyp = row["raw_text"].as_str().unwrap();
        let n: usize = sentence[&item.id]
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(0);
        let half = if n % 2 == 1 { "tune(odd)" } else { "check(even)" };
        let out = chain.review(hyp, &ReviewContext::default(), &g);
        assert!(out.failures.is_empty());
        let metric = Metric::for_lang(&item.lang);
        let before = score(&normalizer, metric, &item.text, hyp, &item.terms);
        let after = score(&normalizer, metric, &item.text, &out.text, &item.terms);
        if verbose && out.text != hyp {
            let worse = after.errors > before.errors || after.terms_found < before.terms_found;
            let mark = if worse { "WORSE " } else { "" };
            println!("{mark}{} | {hyp}\n   -> {}\n   ref {}", item.id, out.text, item.text);
        }
        for (stage, c) in [("before", before), ("after", after)] {
            let t = tallies.entry((item.group(), half, stage)).or_default();
            t.0 += 1;
            t.1 += c;
        }
    }
    println!(
        "{:<14} {:<12} {:<7} {:>6} {:>8} {:>12}",
        "group", "half", "", "items", "WER/CER", "term recall"
    );
    for ((group, half, stage), (items, c)) in &tallies {
        println!(
            "{group:<14} {half:<12} {stage:<7} {items:>6} {:>7.2}% {:>6.2}% ({}/{})",
            100.0 * c.error_rate(),
            100.0 * c.term_recall().unwrap_or(0.0),
            c.terms_found,
            c.terms
        );
    }
}

/// A synthetic glossary of `n` made-up terms (Latin and Han) plus the given real ones.
pub fn synthetic_glossary(n: usize, extra: Vec<GlossaryEntry>) -> Glossary {
    const ON: [&str; 12] = [
        "bra", "ko", "zel", "mi", "tar", "vin", "lu", "dex", "qua", "ron", "pi", "sto",
    ];
    const HAN: [char; 16] = [
        '瀚', '曦', '澜', '珂', '霁', '琰', '翊', '骁', '瑾', '璟', '砚', '朔', '岚', '昀', '泓', '铎',
    ];
    let mut entries = extra;
    for i in 0..n {
        let mut x = i * 7919 + 13;
        if i % 3 == 2 {
            let len = 3 + x % 2;
            let s: String = (0..len)
                .map(|_| {
                    let c = HAN[x % HAN.len()];
                    x /= HAN.len();
                    x += 5;
                    c
                })
                .collect();
            entries.push(GlossaryEntry::new(s));
        } else {
            let parts = 3 + x % 2;
            let mut s = String::new();
            for _ in 0..parts {
                s.push_str(ON[x % ON.len()]);
                x /= ON.len();
                x += 3;
            }
            let mut c = s.chars();
            let cap: String = c.next().unwrap().to_uppercase().chain(c).collect();
            entries.push(GlossaryEntry::new(format!("{cap}{i}")));
        }
    }
    Glossary::new(entries)
}

/// A 10,000-term glossary still finds the right terms and leaves plain text alone.
#[test]
fn large_glossary_still_corrects() {
    let mut mis = GlossaryEntry::new("Argo CD");
    mis.misrecognitions = vec!["Argo City".into()];
    let real = vec![
        GlossaryEntry::new("Kubernetes"),
        GlossaryEntry::new("昇腾"),
        GlossaryEntry::new("Grafana"),
        mis,
    ];
    let g = synthetic_glossary(10_000, real);
    assert!(g.len() >= 10_000);
    let c = GlossaryCorrector::default();
    let ctx = ReviewContext::default();
    let fix = |s: &str| c.review(s, &ctx, &g).unwrap().text;
    assert_eq!(
        fix("We moved the service to CuberNets today."),
        "We moved the service to Kubernetes today."
    );
    assert_eq!(fix("训练任务迁移到升腾集群上了"), "训练任务迁移到昇腾集群上了");
    assert_eq!(
        fix("Check the Graphana dashboard, Argo City syncs it."),
        "Check the Grafana dashboard, Argo CD syncs it."
    );
    // a synthetic term, respelled
    let t = g.entries()[4].term.clone();
    let respelled = format!("We ship {} now.", t.to_lowercase().replacen('k', "c", 1));
    assert!(fix(&respelled).contains(&t), "{respelled} -> {}", fix(&respelled));
    for plain in [
        "he was not an ill disposed young man",
        "我们明天开会讨论这个问题。",
        "So far, so good.",
    ] {
        assert_eq!(fix(plain), plain);
    }
}

/// Per-utterance cost with a 10,000-term glossary (printed, not asserted).
#[test]
#[ignore]
fn bench_large_glossary() {
    let real = vec![
        GlossaryEntry::new("Kubernetes"),
        GlossaryEntry::new("昇腾"),
        GlossaryEntry::new("Grafana"),
    ];
    let t0 = Instant::now();
    let g = synthetic_glossary(10_000, real);
    let build = t0.elapsed();
    let corrector = GlossaryCorrector::default();
    let texts = [
        "We moved the payment service to CuberNets, and the pods now pull their images from Amazon ECR.",
        "我们的训练任务已经迁移到升腾集群上了，监控在Graphana上面看。",
        "这个 PR 先别 merge，CI 里面的 unit test 还没过，昨天线上的 OOM 是因为 JVM 的 heap 设得太小了。",
    ];
    let rounds = 200;
    let t1 = Instant::now();
    for _ in 0..rounds {
        for t in texts {
            std::hint::black_box(corrector.review(t, &ReviewContext::default(), &g).unwrap());
        }
    }
    let per = t1.elapsed() / (rounds * texts.len() as u32);
    println!("10,000-term glossary: build {build:?}, {per:?} per utterance");
}
