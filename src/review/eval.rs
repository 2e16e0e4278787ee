//! Measurements on the terminology set (not unit tests): the corrector must leave correct
//! references alone, and the ignored `term_eval` prints WER/CER and term recall before and after
//! the deterministic chain on real hypotheses (`/tmp/term_hyps.jsonl`, or `TERM_HYPS`), split by
//! `sentence_id` parity (odd sentences tune, even ones check).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::glossary::simplify_char;
use super::text::{is_han, is_latin};
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

// ---- scoring, as the terminology README defines it ----

/// Characters the scoring must not fold (the glossary's own, e.g. 昇 in 昇腾).
static KEEP: std::sync::OnceLock<std::collections::HashSet<char>> = std::sync::OnceLock::new();

fn fold(s: &str) -> String {
    let keep = KEEP.get();
    s.chars()
        .map(|c| {
            if keep.is_some_and(|k| k.contains(&c)) {
                c
            } else {
                simplify_char(c)
            }
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn words(s: &str) -> Vec<String> {
    fold(s)
        .replace(['\'', '’'], "")
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn chars(s: &str) -> Vec<char> {
    fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

fn count_term(hay: &str, term: &str) -> usize {
    let hay: Vec<char> = fold(hay)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let norm = |v: &[char]| -> Vec<char> {
        // collapse whitespace, drop spaces next to Han characters
        let mut out: Vec<char> = Vec::new();
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                let p = out.last().copied();
                let n = v[i + 1..].iter().copied().find(|&d| d != ' ');
                if p.is_none_or(|p| p == ' ' || is_han(p)) || n.is_none_or(is_han) {
                    continue;
                }
            }
            out.push(c);
        }
        out
    };
    let hay = norm(&hay);
    let t: Vec<char> = norm(
        &fold(term)
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<Vec<_>>(),
    );
    if t.is_empty() || t.len() > hay.len() {
        return 0;
    }
    let glued = |c: Option<&char>| c.is_some_and(|c| is_latin(*c));
    (0..=hay.len() - t.len())
        .filter(|&i| {
            hay[i..i + t.len()] == t[..]
                && !(is_latin(t[0]) && i > 0 && glued(hay.get(i - 1)))
                && !(is_latin(t[t.len() - 1]) && glued(hay.get(i + t.len())))
        })
        .count()
}

#[derive(Default, Clone, Copy)]
struct Tally {
    errors: usize,
    units: usize,
    found: usize,
    terms: usize,
    items: usize,
}

fn score(lang: &str, reference: &str, hyp: &str, terms: &[String], t: &mut Tally) {
    if lang == "en" {
        let (r, h) = (words(reference), words(hyp));
        t.errors += super::text::levenshtein(&r, &h);
        t.units += r.len();
    } else {
        let (r, h) = (chars(reference), chars(hyp));
        t.errors += super::text::levenshtein(&r, &h);
        t.units += r.len();
    }
    for term in terms {
        let want = count_term(reference, term);
        t.found += count_term(hyp, term).min(want);
        t.terms += want;
    }
    t.items += 1;
}

/// `cargo test --release --lib review::eval::term_eval -- --ignored --nocapture`
#[test]
#[ignore]
fn term_eval() {
    let hyps = PathBuf::from(std::env::var("TERM_HYPS").unwrap_or("/tmp/term_hyps.jsonl".into()));
    let dir = shared_eval().expect("shared/eval");
    let g = Glossary::from_json_file(dir.join("terminology/glossary.json")).unwrap();
    let _ = KEEP.set(g.kept_chars().clone());
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
    let mut tallies: BTreeMap<(String, &str, &str), Tally> = BTreeMap::new();
    let verbose = std::env::var("TERM_VERBOSE").is_ok();
    for row in jsonl(&hyps) {
        let lang = row["lang"].as_str().unwrap().to_string();
        let sid = row["sentence_id"].as_str().unwrap();
        let n: usize = sid
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(0);
        let half = if n % 2 == 1 { "tune(odd)" } else { "check(even)" };
        let reference = row["text"].as_str().unwrap();
        let hyp = row["hyp"].as_str().unwrap();
        let terms: Vec<String> = row["terms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        let out = chain.review(hyp, &ReviewContext::default(), &g);
        assert!(out.failures.is_empty());
        if verbose && out.text != hyp {
            let (mut b, mut a) = (Tally::default(), Tally::default());
            score(&lang, reference, hyp, &terms, &mut b);
            score(&lang, reference, &out.text, &terms, &mut a);
            let mark = if a.errors > b.errors || a.found < b.found {
                "WORSE "
            } else {
                ""
            };
            println!("{mark}{} | {hyp}\n   -> {}\n   ref {reference}", row["id"], out.text);
        }
        score(
            &lang,
            reference,
            hyp,
            &terms,
            tallies.entry((lang.clone(), half, "before")).or_default(),
        );
        score(
            &lang,
            reference,
            &out.text,
            &terms,
            tallies.entry((lang.clone(), half, "after")).or_default(),
        );
    }
    println!(
        "{:<6} {:<12} {:<7} {:>6} {:>8} {:>12}",
        "group", "half", "", "items", "WER/CER", "term recall"
    );
    for ((lang, half, stage), t) in &tallies {
        println!(
            "{lang:<6} {half:<12} {stage:<7} {:>6} {:>7.2}% {:>6.2}% ({}/{})",
            t.items,
            100.0 * t.errors as f64 / t.units.max(1) as f64,
            100.0 * t.found as f64 / t.terms.max(1) as f64,
            t.found,
            t.terms
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
