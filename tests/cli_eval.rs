//! `asr-router eval` with the real binary and the installed models on a tiny manifest of committed
//! clips (English and Mandarin).
//!
//! The glossary is not written by hand: a first run without review shows what the model actually
//! heard, the test takes a word (or, in Mandarin, two characters) the model got wrong and lists
//! the reference's form as a term with the model's form as its misrecognition. A second run with
//! that glossary must not do worse than the raw text of its own decode (error and term recall),
//! and must find the English term the raw text missed. A bad manifest path fails with exit
//! code 1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use asr_router::review::glossary::simplify_char;
use common::{fixture, models_dir};
use serde_json::{Value, json};

const CLIPS: [(&str, &str); 3] = [
    ("en_librivox_sense_0870", "en"),
    ("en_jfk", "en"),
    ("zh_aishell_BAC009S0724W0121", "zh"),
];

fn eval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asr-router"))
        .arg("--models")
        .arg(models_dir())
        .arg("eval")
        .args(args)
        .env_remove("ASR_ROUTER_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run asr-router")
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}; stderr:\n{err}", o.status);
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

/// The references of the committed clips, by id.
fn references() -> Vec<Value> {
    std::fs::read_to_string(fixture("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

/// Writes a manifest of the clips in `dir` (audio paths relative to it), with `terms[id]`.
fn write_manifest(dir: &Path, terms: &[(String, String)]) -> PathBuf {
    let refs = references();
    let mut lines = Vec::new();
    for (id, lang) in CLIPS {
        let r = refs.iter().find(|r| r["id"] == id).unwrap();
        let wav = format!("audio/{id}.wav");
        if !dir.join(&wav).exists() {
            std::fs::create_dir_all(dir.join("audio")).unwrap();
            std::fs::copy(fixture(&format!("{id}.wav")), dir.join(&wav)).unwrap();
        }
        let t: Vec<&str> = terms.iter().filter(|(i, _)| i == id).map(|(_, t)| t.as_str()).collect();
        lines.push(json!({"id": id, "path": wav, "lang": lang, "text": r["text"], "terms": t}).to_string());
    }
    let path = dir.join("manifest.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Scoring units: lower-cased words (English) or characters (Chinese, traditional folded to
/// simplified as the scoring does), punctuation dropped.
fn units(text: &str, lang: &str) -> Vec<String> {
    let clean: String = text
        .to_lowercase()
        .chars()
        .map(simplify_char)
        .filter(|&c| c != '\'')
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    if lang == "en" {
        clean.split_whitespace().map(str::to_string).collect()
    } else {
        clean.chars().filter(|c| !c.is_whitespace()).map(String::from).collect()
    }
}

/// Index pairs `(ref, hyp)` of substitutions on one shortest edit path.
fn substitutions(r: &[String], h: &[String]) -> Vec<(usize, usize)> {
    let mut d = vec![vec![0usize; h.len() + 1]; r.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=r.len() {
        for j in 1..=h.len() {
            let sub = d[i - 1][j - 1] + usize::from(r[i - 1] != h[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    let (mut i, mut j, mut out) = (r.len(), h.len(), Vec::new());
    while i > 0 && j > 0 {
        let same = r[i - 1] == h[j - 1];
        if d[i][j] == d[i - 1][j - 1] + usize::from(!same) {
            if !same {
                out.push((i - 1, j - 1));
            }
            i -= 1;
            j -= 1;
        } else if d[i][j] == d[i - 1][j] + 1 {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    out.reverse();
    out
}

/// A term the model got wrong in `raw` and how it wrote it: an English word of 4+ letters, or
/// two Chinese characters around a substituted one.
fn misrecognition(reference: &str, raw: &str, lang: &str) -> Option<(String, String)> {
    let (r, h) = (units(reference, lang), units(raw, lang));
    for (i, j) in substitutions(&r, &h) {
        if lang == "en" {
            if r[i].len() >= 4 && r[i].chars().all(char::is_alphabetic) && h[j].chars().all(char::is_alphabetic) {
                return Some((r[i].clone(), h[j].clone()));
            }
        } else {
            // the substituted character with a neighbour that both texts share
            if i + 1 < r.len() && j + 1 < h.len() && r[i + 1] == h[j + 1] {
                return Some((r[i..i + 2].concat(), h[j..j + 2].concat()));
            }
            if i > 0 && j > 0 && r[i - 1] == h[j - 1] {
                return Some((r[i - 1..=i].concat(), h[j - 1..=j].concat()));
            }
        }
    }
    None
}

fn item<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {report}"))
}

fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {}", report["summary"]))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_glossary_of_what_the_model_misheard_does_not_hurt_and_finds_the_terms() {
    let dir = std::env::temp_dir().join(format!("asr-router-cli-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // 1. what does the model hear? (no review, no terms)
    let manifest = write_manifest(&dir, &[]);
    let first = dir.join("first.json");
    ok(&eval(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "--review",
        "none",
        "--json",
        first.to_str().unwrap(),
    ]));
    let first = read_json(&first);
    let mut terms = Vec::new();
    let mut glossary = Vec::new();
    for (id, lang) in CLIPS {
        let i = item(&first, id);
        assert_eq!(i["raw_text"], i["text"], "review=none changes nothing: {i}");
        assert_eq!(i["edits"], 0);
        let found = misrecognition(i["reference"].as_str().unwrap(), i["raw_text"].as_str().unwrap(), lang);
        if let Some((term, heard)) = found {
            terms.push((id.to_string(), term.clone()));
            glossary.push(json!({"term": term, "misrecognitions": [heard], "lang": lang}));
        }
    }
    assert!(
        !terms.is_empty(),
        "the model made no usable mistake on any clip: {:#}",
        first["items"]
    );

    // 2. the same clips with those terms in the manifest and the glossary
    let manifest = write_manifest(&dir, &terms);
    let glossary_path = dir.join("glossary.json");
    std::fs::write(&glossary_path, serde_json::to_string(&glossary).unwrap()).unwrap();
    let out = dir.join("second.json");
    let table = ok(&eval(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "--glossary",
        glossary_path.to_str().unwrap(),
        "--review",
        "glossary",
        "--json",
        out.to_str().unwrap(),
    ]));
    for g in ["en", "zh", "all"] {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("{g} "))),
            "no row {g}:\n{table}"
        );
    }
    let report = read_json(&out);
    for (id, _) in CLIPS {
        let i = item(&report, id);
        let (raw, rev) = (&i["raw"], &i["reviewed"]);
        assert!(
            rev["errors"].as_u64() <= raw["errors"].as_u64(),
            "review made {id} worse: {i:#}"
        );
        assert!(rev["terms_found"].as_u64() >= raw["terms_found"].as_u64(), "{i:#}");
        assert!(
            i["review_ms"].as_f64().unwrap() >= 0.0 && i["engine"].is_string(),
            "{i:#}"
        );
    }
    // English terms must come back; a Chinese two-character misrecognition listed verbatim is
    // not always applied by the corrector (its Han matching goes by pinyin and skips exact
    // misrecognition forms, seen with 佛地 → 房地), so Chinese is held to "no worse" above
    for (id, term) in terms.iter().filter(|(_, t)| t.is_ascii()) {
        let i = item(&report, id);
        if i["raw_text"] != item(&first, id)["raw_text"] {
            continue; // a decode that differs between runs (temperature fallback samples)
        }
        assert_eq!(i["raw"]["terms_found"], 0, "{term} was misheard in the raw text: {i:#}");
        assert_eq!(i["reviewed"]["terms_found"], 1, "the glossary restores {term}: {i:#}");
    }
    for name in ["en", "zh", "all"] {
        let g = group(&report, name);
        for field in [
            "items",
            "raw_error_rate",
            "reviewed_error_rate",
            "raw",
            "reviewed",
            "review_ms_p50",
            "review_ms_p95",
        ] {
            assert!(!g[field].is_null(), "{name}.{field} missing: {g:#}");
        }
        for field in ["error_cut", "raw_term_recall", "reviewed_term_recall", "metric"] {
            assert!(g.get(field).is_some(), "{name}.{field} missing: {g:#}");
        }
        assert!(
            g["reviewed_error_rate"].as_f64() <= g["raw_error_rate"].as_f64(),
            "{g:#}"
        );
        if let (Some(raw), Some(rev)) = (g["raw_term_recall"].as_f64(), g["reviewed_term_recall"].as_f64()) {
            assert!(rev >= raw, "{name}: {g:#}");
            if name == "en" {
                assert!(rev > raw, "en: the listed misrecognition is corrected: {g:#}");
            }
        }
    }
    assert_eq!(group(&report, "en")["metric"], "wer");
    assert_eq!(group(&report, "zh")["metric"], "cer");
    assert_eq!(report["settings"]["review"], "glossary");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_manifest_path_fails_clearly() {
    let missing = std::env::temp_dir().join(format!("asr-router-no-such-manifest-{}.jsonl", std::process::id()));
    let o = eval(&["--manifest", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr:\n{err}");
    assert!(o.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&o.stdout));
    for want in ["reading manifest", missing.to_str().unwrap(), "No such file"] {
        assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}
