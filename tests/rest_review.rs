//! The second pass over REST, against a real server with the real Whisper models: glossary
//! review of the recognizer's text (inline and named glossaries, re-read when their file
//! changes), the audit trail in `verbose_json`, `languages[]`, and every bad review field.
//!
//! No model output is written into these tests: each first asks for the unreviewed text, takes
//! a word the model really wrote, and declares it a misrecognition of a made-up term.

mod common;

use common::{Server, transcribe_fixture as transcribe};
use serde_json::json;

/// The longest plain word of `text` (letters only), as the model wrote it.
fn a_word(text: &str) -> String {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() >= 4)
        .max_by_key(|w| w.len())
        .expect("a word of four letters or more")
        .to_string()
}

fn glossary(term: &str, heard: &str) -> String {
    json!([{"term": term, "lang": "en", "misrecognitions": [heard]}]).to_string()
}

#[tokio::test]
async fn glossaries_correct_the_text_and_leave_an_exact_audit_trail() {
    let dir = std::env::temp_dir().join(format!("asr-router-glossaries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = Server::start(
        &format!("[review]\nglossary_dir = {:?}\n", dir.display().to_string()),
        &[],
    );
    let verbose = [("model", "auto"), ("response_format", "verbose_json")];

    let (status, raw) = transcribe(&s, "en_jfk.wav", &[verbose[0], verbose[1], ("review", "none")]).await;
    assert_eq!(status, 200, "{raw}");
    let raw_text = raw["text"].as_str().unwrap().to_string();
    assert!(
        raw.get("raw_text").is_none() && raw.get("edits").is_none(),
        "review=none: no audit trail: {raw}"
    );
    let heard = a_word(&raw_text);

    // an inline glossary
    let g = glossary("Zorblax", &heard);
    let (status, v) = transcribe(&s, "en_jfk.wav", &[verbose[0], verbose[1], ("glossary", &g)]).await;
    assert_eq!(status, 200, "{v}");
    let text = v["text"].as_str().unwrap();
    assert!(
        text.contains("Zorblax") && !text.contains(&heard),
        "{heard} → Zorblax: {v}"
    );
    assert_eq!(v["raw_text"], raw_text, "the recognizer's text is kept");
    let edit = v["edits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "Zorblax")
        .unwrap_or_else(|| panic!("an edit to the term: {v}"));
    assert_eq!(
        (edit["term"].as_str(), edit["reviewer"].as_str()),
        (Some("Zorblax"), Some("glossary"))
    );
    // start/end are characters of raw_text
    let (a, b) = (
        edit["start"].as_u64().unwrap() as usize,
        edit["end"].as_u64().unwrap() as usize,
    );
    let span: String = raw_text.chars().skip(a).take(b - a).collect();
    assert_eq!(span, edit["from"].as_str().unwrap());
    assert!(span.contains(&heard), "{span} / {heard}");
    let segments = common::segments_text(&v);
    assert!(
        segments.contains("Zorblax"),
        "segments carry the reviewed text: {segments}"
    );
    // the plain json format carries the reviewed text too
    let (_, j) = transcribe(&s, "en_jfk.wav", &[("model", "auto"), ("glossary", &g)]).await;
    assert_eq!(j["text"], v["text"]);

    // a named glossary, re-read when its file changes
    std::fs::write(dir.join("team.json"), glossary("Zorblax", &heard)).unwrap();
    let (status, v) = transcribe(&s, "en_jfk.wav", &[("model", "auto"), ("glossary_id", "team")]).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["text"].as_str().unwrap().contains("Zorblax"), "{v}");
    std::fs::write(dir.join("team.json"), glossary("Quuxleworth", &heard)).unwrap();
    let (_, v) = transcribe(&s, "en_jfk.wav", &[("model", "auto"), ("glossary_id", "team")]).await;
    let text = v["text"].as_str().unwrap();
    assert!(
        text.contains("Quuxleworth") && !text.contains("Zorblax"),
        "the edited file is in force: {v}"
    );

    // the metrics count the review's edits
    assert!(s.metric("asr_router_review_edits_total").await >= 3.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_review_fields_are_refused_before_any_audio_is_decoded() {
    let s = Server::start("", &[]);
    for (fields, param) in [
        (&[("review", "gpt")][..], "review"),
        (&[("review", "llm")][..], "review"), // no [review.llm] on this server
        (&[("glossary", "[{\"term\": ")][..], "glossary"),
        (&[("glossary", "[{\"aliases\": [\"x\"]}]")][..], "glossary"),
        (&[("glossary_id", "team")][..], "glossary_id"), // no glossary folder configured
        (&[("languages[]", "english")][..], "languages"),
    ] {
        let mut all = vec![("model", "auto")];
        all.extend_from_slice(fields);
        let (status, v) = transcribe(&s, "en_jfk.wav", &all).await;
        assert_eq!(status, 400, "{fields:?}: {v}");
        assert_eq!(v["error"]["param"], param, "{fields:?}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.len() > 10), "{v}");
    }
}

#[tokio::test]
async fn languages_restrict_detection_and_chinese_comes_out_simplified() {
    let s = Server::start("", &[]);
    let zh = "zh_aishell_BAC009S0724W0121.wav";
    let verbose = ("response_format", "verbose_json");
    let strong = ("model", "whisper-base");
    let (_, v) = transcribe(&s, zh, &[strong, verbose, ("languages[]", "en"), ("languages[]", "zh")]).await;
    assert_eq!(v["language"], "chinese", "{v}");
    // the same audio, with only English allowed
    let (_, v) = transcribe(&s, zh, &[strong, verbose, ("languages[]", "en")]).await;
    assert_eq!(v["language"], "english", "{v}");

    // the default review writes Mandarin in simplified characters
    let (_, v) = transcribe(&s, zh, &[strong, verbose, ("language", "zh")]).await;
    let text = v["text"].as_str().unwrap();
    assert!(!text.is_empty());
    assert_eq!(hanconv::t2s(text), text, "simplified: {v}");
    let raw = v["raw_text"].as_str().unwrap();
    if hanconv::t2s(raw) != raw {
        assert!(
            !v["edits"].as_array().unwrap().is_empty(),
            "traditional input, edits recorded: {v}"
        );
    }
}

/// `review=llm` through REST with the real LLM server `scripts/test` starts (a tiny model: what it
/// answers is not asserted, only that the final always comes back and every outcome is counted).
#[tokio::test]
async fn review_llm_always_answers_and_counts_what_the_model_did() {
    let Ok(url) = std::env::var("ASR_ROUTER_TEST_LLM_URL") else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but ASR_ROUTER_TEST_LLM_URL is not set (scripts/test starts the LLM server)"
        );
        eprintln!("skipped: no ASR_ROUTER_TEST_LLM_URL (scripts/test sets it)");
        return;
    };
    let s = Server::start(&format!("[review.llm]\nbase_url = {url:?}\ntimeout_ms = 60000\n"), &[]);
    let fields = [("model", "auto"), ("response_format", "verbose_json")];
    let (_, plain) = transcribe(&s, "en_jfk.wav", &[fields[0], fields[1], ("review", "glossary")]).await;
    let (status, v) = transcribe(
        &s,
        "en_jfk.wav",
        &[fields[0], fields[1], ("review", "llm"), ("keywords[]", "JFK")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["raw_text"], plain["raw_text"],
        "the same recognition under both reviews"
    );
    let text = v["text"].as_str().unwrap();
    assert!(!text.is_empty(), "{v}");
    // whatever the model said, the audit trail rebuilds the answer from the recognizer's text
    let raw: Vec<char> = v["raw_text"].as_str().unwrap().chars().collect();
    let mut rebuilt = String::new();
    let mut at = 0;
    for e in v["edits"].as_array().unwrap() {
        let (a, b) = (
            e["start"].as_u64().unwrap() as usize,
            e["end"].as_u64().unwrap() as usize,
        );
        rebuilt.extend(&raw[at..a]);
        rebuilt.push_str(e["to"].as_str().unwrap());
        at = b;
    }
    rebuilt.extend(&raw[at..]);
    assert_eq!(rebuilt, text, "{v}");
    let counted = s.metric_total("asr_router_llm_review_total").await;
    assert_eq!(counted, 1.0, "one LLM review, counted under one outcome");
}
