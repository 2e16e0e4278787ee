//! The LLM reviewer against a real LLM server on loopback, and against failing servers.
//!
//! The real server is `tests/llm/server.mjs`: llama.cpp inference (node-llama-cpp) over a small
//! GGUF chat model (SmolLM2-135M-Instruct from `scripts/fetch-models --llm`). `scripts/test`
//! starts it and passes its URL in `ASR_ROUTER_TEST_LLM_URL`; locally, set that variable, or set
//! `ASR_ROUTER_TEST_LLM_MODEL` to a `.gguf` file (with `tests/llm/node_modules` installed) and the
//! tests start the server themselves. Without either, the real-model tests are skipped with a
//! message — except under `CI=true`, where they fail.
//!
//! A 135 M-parameter model often answers with chatter, repetitions or rewrites: the tests assert
//! what must hold whatever it says (an accepted answer's edits rebuild it and stay within the
//! cap; anything else is refused with a reason and the text is kept), not what it says.
//!
//! The dead, garbage-answering, erroring and slow servers are not the real model: a refused
//! connection is a closed port, and the others are a few lines of `std::net` below — fakes for
//! failure modes a working LLM server does not produce on demand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asr_router::config::LlmReviewConfig;
use asr_router::review::guard::Rejection;
use asr_router::review::text::levenshtein;
use asr_router::review::{
    Glossary, GlossaryEntry, LlmError, LlmReviewer, ReviewChain, ReviewContext, ReviewError, Reviewer, ScriptTarget,
    apply_edits,
};

const RATIO: f32 = 0.3;

/// A real LLM server: the one `scripts/test` started, or one started here and killed on drop.
struct LlmServer {
    url: String,
    child: Option<Child>,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The real LLM server, or `None` (with a message) when none is configured outside CI.
fn llm_server() -> Option<LlmServer> {
    if let Ok(url) = std::env::var("ASR_ROUTER_TEST_LLM_URL") {
        return Some(LlmServer { url, child: None });
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = std::env::var("ASR_ROUTER_TEST_LLM_MODEL").ok();
    if let Some(model) = model.filter(|_| root.join("tests/llm/node_modules").exists()) {
        let mut child = Command::new("node")
            .arg(root.join("tests/llm/server.mjs"))
            .args(["--model", &model, "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/llm/server.mjs");
        let stdout = child.stdout.take().expect("server stdout");
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("server stdout");
            if let Some(rest) = line.strip_prefix("listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default().to_string();
                return Some(LlmServer {
                    url,
                    child: Some(child),
                });
            }
        }
        let status = child.wait();
        panic!("tests/llm/server.mjs exited before listening: {status:?}");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but ASR_ROUTER_TEST_LLM_URL is not set: scripts/test starts tests/llm/server.mjs \
             with the model from scripts/fetch-models --llm"
        );
    }
    eprintln!(
        "skipped: no LLM server (set ASR_ROUTER_TEST_LLM_URL, or ASR_ROUTER_TEST_LLM_MODEL=path.gguf \
         with tests/llm/node_modules installed)"
    );
    None
}

fn config(url: &str, timeout_ms: u64) -> LlmReviewConfig {
    LlmReviewConfig {
        base_url: url.to_string(),
        api_key: Some("sk-test".into()),
        model: "test".into(),
        timeout_ms,
        max_edit_ratio: RATIO,
        context_utterances: 2,
    }
}

fn entry(term: &str, aliases: &[&str], mis: &[&str]) -> GlossaryEntry {
    let mut e = GlossaryEntry::new(term);
    e.aliases = aliases.iter().map(|s| s.to_string()).collect();
    e.misrecognitions = mis.iter().map(|s| s.to_string()).collect();
    e
}

/// A small glossary written for these tests (the reviewer knows nothing of it in advance).
fn glossary() -> Glossary {
    Glossary::new(vec![
        entry("Kubernetes", &["K8s"], &["Cooper Netties"]),
        entry("Grafana", &[], &["Graph Ana"]),
        entry("PostgreSQL", &["Postgres"], &["posters QL"]),
        entry("LangChain", &[], &["浪Chain", "Lang Chain"]),
        entry("昇腾", &[], &["升腾"]),
        entry("通义千问", &[], &["同意千问"]),
        entry("Prometheus", &[], &[]),
        entry("Terraform", &[], &["terra form"]),
    ])
}

/// Recognizer-style hypotheses full of misheard terms (English, Chinese, code-switched).
const SENTENCES: &[&str] = &[
    "We moved the billing service to Cooper Netties last week.",
    "The dashboards for the cluster now live in Graph Ana.",
    "Our posters QL replica fell behind during the migration.",
    "我们用浪Chain搭了一个问答的原型。",
    "推理服务已经迁到升腾芯片上了。",
    "这个功能我们打算接入同意千问的接口。",
    "The terra form plan shows three changes to the Prometheus alerts.",
    "明天我们把 Graph Ana 的看板发给大家。",
];

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

#[test]
fn real_model_answers_are_accepted_within_the_cap_or_refused() {
    let Some(server) = llm_server() else { return };
    let reviewer = LlmReviewer::new(&config(&server.url, 120_000)).unwrap();
    let g = glossary();
    let mut previous: Vec<String> = Vec::new();
    for &input in SENTENCES {
        let ctx = ReviewContext {
            previous: &previous,
            language: None,
        };
        let answer = reviewer
            .review_detailed(input, &ctx, &g)
            .unwrap_or_else(|e| panic!("{input:?}: the real server failed: {e}"));
        let raw = answer.raw.as_deref().expect("the input was sent");
        let cap = (RATIO * input.chars().count() as f32).floor() as usize;
        match &answer.verdict {
            Ok(review) => {
                // The accepted text is the model's answer, its edits rebuild it from the input,
                // and it is within the cap (checked here with the plain full-table distance).
                assert!(raw.contains(review.text.trim()), "{raw:?} vs {:?}", review.text);
                assert_eq!(apply_edits(input, &review.edits), review.text);
                let d = levenshtein(&chars(input), &chars(&review.text));
                assert!(d <= cap, "accepted {:?} at distance {d} > cap {cap}", review.text);
                for e in &review.edits {
                    assert_eq!(&input[e.start..e.end], e.from);
                    assert_eq!(e.reviewer, "llm");
                    if let Some(t) = &e.term {
                        assert!(e.to.contains(t.as_str()), "{e:?}");
                    }
                }
                eprintln!("accepted {input:?} → {:?} ({} edits)", review.text, review.edits.len());
            }
            Err(rejected) => {
                // An answer as far from the input as the whole answer is, when that is over the
                // cap, must be among the refused; check the claim for the edit cap itself.
                if rejected.reason == Rejection::EditCap {
                    let stripped = asr_router::review::guard::strip_wrappers(input, raw);
                    assert!(levenshtein(&chars(input.trim()), &chars(stripped)) > cap);
                }
                eprintln!("refused  {input:?}: {rejected} — answer {raw:?}");
            }
        }
        previous.push(input.to_string());
    }
    let s = reviewer.stats().snapshot();
    assert_eq!(s.failed, 0);
    assert_eq!(
        s.accepted + s.unchanged + s.rejected_total(),
        SENTENCES.len() as u64,
        "{s:?}"
    );
    eprintln!("stats: {s:?}");
}

#[test]
fn a_chain_with_the_real_model_keeps_the_deterministic_text_when_the_model_is_refused() {
    let Some(server) = llm_server() else { return };
    let g = glossary();
    let llm = LlmReviewer::new(&config(&server.url, 120_000)).unwrap();
    let stats = llm.stats();
    let deterministic = ReviewChain::deterministic(ScriptTarget::Simplified);
    let chain = ReviewChain::deterministic(ScriptTarget::Simplified).then(llm);
    assert_eq!(chain.names().last(), Some(&"llm"));
    for &input in SENTENCES {
        let ctx = ReviewContext::default();
        let before = deterministic.review(input, &ctx, &g);
        let out = chain.review(input, &ctx, &g);
        assert_eq!(apply_edits(input, &out.edits), out.text, "{input:?}");
        if out.failures.is_empty() {
            // The model's answer was accepted on top of the deterministic text.
            let cap = (RATIO * before.text.chars().count() as f32).floor() as usize;
            assert!(levenshtein(&chars(&before.text), &chars(&out.text)) <= cap);
        } else {
            assert_eq!(out.failures.len(), 1);
            assert_eq!(out.failures[0].reviewer, "llm");
            assert!(matches!(out.failures[0].error, ReviewError::Llm(LlmError::Rejected(_))));
            assert_eq!(out.text, before.text, "a refused answer keeps the previous text");
        }
    }
    assert_eq!(stats.snapshot().failed, 0);
}

#[test]
fn a_dead_server_is_an_error_and_the_text_is_kept() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let llm = LlmReviewer::new(&config(&format!("http://127.0.0.1:{port}"), 2_000)).unwrap();
    let stats = llm.stats();
    let input = SENTENCES[0];
    let err = llm.review(input, &ReviewContext::default(), &glossary()).unwrap_err();
    assert!(matches!(err, ReviewError::Llm(LlmError::Connect(_))), "{err}");
    let out = ReviewChain::new()
        .then(llm)
        .review(input, &ReviewContext::default(), &glossary());
    assert_eq!(out.text, input);
    assert!(out.edits.is_empty());
    assert_eq!(out.failures.len(), 1);
    assert_eq!(stats.snapshot().failed, 2);
}

/// How the fake server answers.
#[derive(Clone, Copy)]
enum Fake {
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with JSON that is not a chat completion.
    NoChoices,
    /// 500.
    ServerError,
    /// A valid answer, but only after `delay`.
    Slow(Duration),
}

/// A fake chat completions endpoint for one failure mode (see the module docs); serves until
/// the test process ends.
fn fake_server(mode: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || answer(stream, mode));
        }
    });
    format!("http://{addr}")
}

fn answer(mut stream: TcpStream, mode: Fake) {
    // Read the head and the body (Content-Length) so the client sees a complete exchange.
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (status, body) = match mode {
        Fake::Garbage => ("200 OK", "<html>this is not JSON</html>".to_string()),
        Fake::NoChoices => ("200 OK", r#"{"object":"chat.completion","choices":[]}"#.to_string()),
        Fake::ServerError => (
            "500 Internal Server Error",
            r#"{"error":{"message":"boom"}}"#.to_string(),
        ),
        Fake::Slow(delay) => {
            std::thread::sleep(delay);
            let ok =
                r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"late"},"finish_reason":"stop"}]}"#;
            ("200 OK", ok.to_string())
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Whether an error is the one a failure mode must produce.
type IsExpected = fn(&LlmError) -> bool;

#[test]
fn garbage_error_and_slow_answers_are_errors_and_the_text_is_kept() {
    let g = glossary();
    let input = SENTENCES[3];
    let cases: [(Fake, u64, IsExpected); 4] = [
        (Fake::Garbage, 5_000, |e| matches!(e, LlmError::BadResponse(_))),
        (Fake::NoChoices, 5_000, |e| matches!(e, LlmError::BadResponse(_))),
        (
            Fake::ServerError,
            5_000,
            |e| matches!(e, LlmError::Status { status: 500, body } if body.contains("boom")),
        ),
        (Fake::Slow(Duration::from_secs(5)), 300, |e| {
            matches!(e, LlmError::Timeout(300))
        }),
    ];
    for (mode, timeout_ms, expected) in cases {
        let llm = LlmReviewer::new(&config(&fake_server(mode), timeout_ms)).unwrap();
        let stats = llm.stats();
        match llm.review(input, &ReviewContext::default(), &g) {
            Err(ReviewError::Llm(e)) => assert!(expected(&e), "unexpected error {e}"),
            other => panic!("expected an LLM error, got {other:?}"),
        }
        let out = ReviewChain::new()
            .then(llm)
            .review(input, &ReviewContext::default(), &g);
        assert_eq!(out.text, input);
        assert_eq!(out.failures.len(), 1);
        let s = stats.snapshot();
        assert_eq!((s.failed, s.accepted, s.rejected_total()), (2, 0, 0));
    }
}

/// The sentences of the terminology set (one per `sentence_id`): Whisper's hypotheses from
/// `TERM_HYPS` when that file exists, else the references, with the set's glossary.
fn terminology() -> Option<(Vec<String>, Glossary)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = [
        root.join("../shared/eval/terminology"),
        PathBuf::from("/work/shared/eval/terminology"),
    ]
    .into_iter()
    .find(|d| d.join("glossary.json").exists())?;
    let g = Glossary::from_json_file(dir.join("glossary.json")).ok()?;
    let hyps = std::env::var("TERM_HYPS").map(PathBuf::from).ok();
    let (file, field) = match hyps.filter(|p| p.exists()) {
        Some(p) => (p, "hyp"),
        None => (dir.join("manifest.jsonl"), "text"),
    };
    let mut seen = std::collections::HashSet::new();
    let mut texts = Vec::new();
    for line in std::fs::read_to_string(file).ok()?.lines() {
        let Ok(row) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let id = row["sentence_id"]
            .as_str()
            .or(row["id"].as_str())
            .unwrap_or_default()
            .to_string();
        if let Some(t) = row[field].as_str().filter(|_| seen.insert(id)) {
            texts.push(t.to_string());
        }
    }
    Some((texts, g))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The LLM reviewer's added latency per utterance through the real server (p50/p95).
/// `cargo test --release --test llm_reviewer -- --ignored --nocapture bench_llm_review_latency`
#[test]
#[ignore]
fn bench_llm_review_latency() {
    let Some(server) = llm_server() else { return };
    let (texts, g) = terminology().unwrap_or_else(|| (SENTENCES.iter().map(|s| s.to_string()).collect(), glossary()));
    let llm = LlmReviewer::new(&config(&server.url, 120_000)).unwrap();
    // One warm-up request (the server's first evaluation of the system prompt).
    let _ = llm.review_detailed(&texts[0], &ReviewContext::default(), &g);
    let mut total = Vec::new();
    let mut server_time = Vec::new();
    for t in &texts {
        let started = Instant::now();
        let a = llm.review_detailed(t, &ReviewContext::default(), &g).expect("review");
        total.push(started.elapsed());
        server_time.push(a.elapsed);
    }
    total.sort();
    server_time.sort();
    let s = llm.stats().snapshot();
    println!(
        "LLM review over {} sentences: added latency p50 {:?} p95 {:?} (HTTP wait p50 {:?} p95 {:?}); {s:?}",
        texts.len(),
        percentile(&total, 0.5),
        percentile(&total, 0.95),
        percentile(&server_time, 0.5),
        percentile(&server_time, 0.95),
    );
}
