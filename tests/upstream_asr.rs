//! Upstream OpenAI-compatible ASR servers (`[[engines.upstream]]`).
//!
//! * A second real asr-router instance is the upstream of the first: REST requests to A with the
//!   upstream's name are transcribed by B (B's counters show it), A's upstream counters move, a
//!   missing key is refused by B (401, not retried) and the request is answered by A's fallback.
//! * A dead strong upstream: `quality=high` requests still get their transcript (the finalizer's
//!   fallback), and after `breaker_failures` failures the breaker refuses without a connection.
//! * The failure modes a real server cannot be told to produce — dead, slow past the timeout,
//!   answering 500, answering garbage — come from small fake servers in this file (axum on
//!   loopback), driven through the real `UpstreamRecognizer` behind a real `EngineHandle`, so the
//!   errors are also seen to pass the scheduler unchanged. The fakes count connections and
//!   requests, which proves retries happened and that an open breaker sends nothing.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asr_router::config::UpstreamConfig;
use asr_router::engine::recognizer::{DecodeOptions, EngineError, Hypothesis, Utterance};
use asr_router::engine::scheduler::{BatchPolicy, EngineHandle, SchedError};
use asr_router::engine::upstream::UpstreamRecognizer;
use asr_router::engine::upstream::metrics::{Outcome, UpstreamMetrics};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{KEY, Server, fixture, read_wav, reference, wer};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// A second asr-router instance as the upstream
// ---------------------------------------------------------------------------------------------

/// The values of the samples `name` whose labels include every `labels` pair (the encoder keeps
/// labels in the order they were added, so they are matched one by one).
fn samples(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            let fits = n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            fits.then(|| value.trim().parse().unwrap())
        })
        .collect()
}

/// The value of the one sample `name` with `labels`; panics when absent or ambiguous.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    match samples(metrics, name, labels)[..] {
        [v] => v,
        ref other => panic!("{} samples {name} {labels:?} in:\n{metrics}", other.len()),
    }
}

/// Finals of `engine` decoded by the fallback, whatever the reason.
fn fallbacks(metrics: &str, engine: &str) -> f64 {
    samples(metrics, "asr_router_finalize_fallbacks_total", &[("engine", engine)])
        .iter()
        .sum()
}

fn upstream_count(metrics: &str, upstream: &str, outcome: &str) -> f64 {
    sample(
        metrics,
        "asr_router_upstream_requests_total",
        &[("upstream", upstream), ("outcome", outcome)],
    )
}

async fn post(s: &Server, file: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut f = Form::new().part(
        "file",
        Part::bytes(std::fs::read(fixture(file)).unwrap()).file_name(file.to_string()),
    );
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    reqwest::Client::new()
        .post(format!("{}/v1/audio/transcriptions", s.base))
        .bearer_auth(KEY)
        .multipart(f)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_instance_serves_as_the_strong_upstream() {
    // B: a plain server (with the test key); A: B as its strong engine under the name `b-asr`,
    // and B again without the key as `b-nokey`.
    let b = Server::start("", &[]);
    let a = Server::start(
        &format!(
            r#"
[[engines.upstream]]
name = "b-asr"
base_url = "{base}"
api_key = "{KEY}"
model = "whisper-base"
timeout_ms = 120000
retries = 2
strong = true

[[engines.upstream]]
name = "b-nokey"
base_url = "{base}/v1/"
model = "whisper-base"
retries = 2
backoff_ms = 10
"#,
            base = b.base
        ),
        &[],
    );

    // /v1/models: the upstream is the strong engine, Whisper base a fast one (the fallback)
    let models: Value = reqwest::Client::new()
        .get(format!("{}/v1/models", a.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let roles = |id: &str| {
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {models}"))["roles"]
            .clone()
    };
    assert_eq!(roles("b-asr"), serde_json::json!(["strong"]));
    assert_eq!(roles("b-nokey"), serde_json::json!([]));
    assert_eq!(roles("whisper-base"), serde_json::json!(["fast"]));

    let b_before = b.metrics().await;
    let b_utterances = |m: &str| sample(m, "asr_router_engine_utterances", &[("engine", "whisper-base")]);

    // English through the upstream, by name
    let r = post(
        &a,
        "en_jfk.wav",
        &[("model", "b-asr"), ("response_format", "verbose_json")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(wer(&reference("en_jfk"), text) <= 0.15, "{text}");
    assert_eq!(v["language"], "english", "{v}");
    assert!(!v["segments"].as_array().unwrap().is_empty(), "{v}");

    // Mandarin, language detected by B: its `chinese` comes back to A as `zh`
    let r = post(
        &a,
        "zh_aishell_BAC009S0724W0121.wav",
        &[("model", "b-asr"), ("response_format", "verbose_json")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["language"], "chinese", "{v}");
    assert!(!v["text"].as_str().unwrap().is_empty(), "{v}");

    // B served both: its REST counter and its Whisper base moved by two each
    let b_after = b.metrics().await;
    let served = |m: &str| sample(m, "asr_router_http_transcriptions_total", &[]);
    assert_eq!(served(&b_after) - served(&b_before), 2.0, "{b_after}");
    assert_eq!(b_utterances(&b_after) - b_utterances(&b_before), 2.0, "{b_after}");

    // A counted two good upstream requests, nothing else
    let m = a.metrics().await;
    assert_eq!(upstream_count(&m, "b-asr", "ok"), 2.0, "{m}");
    for bad in ["timeout", "http_error", "connect_error", "bad_answer", "breaker_open"] {
        assert_eq!(upstream_count(&m, "b-asr", bad), 0.0, "{bad}: {m}");
    }
    let b_asr = [("upstream", "b-asr")];
    assert_eq!(sample(&m, "asr_router_upstream_breaker_open", &b_asr), 0.0, "{m}");
    assert_eq!(
        sample(&m, "asr_router_upstream_request_seconds_count", &b_asr),
        2.0,
        "{m}"
    );
    // A's own Whisper base did none of it
    assert_eq!(b_utterances(&m), 0.0, "{m}");

    // Without the key B refuses (401): one attempt, no retry, counted as an HTTP error; the
    // request itself still gets its transcript from A's own engine (the finalizer's fallback),
    // and A's log names the upstream and the cause.
    let r = post(&a, "en_jfk.wav", &[("model", "b-nokey")]).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(wer(&reference("en_jfk"), text) <= 0.15, "{text}");
    let m = a.metrics().await;
    assert_eq!(upstream_count(&m, "b-nokey", "http_error"), 1.0, "{m}");
    assert_eq!(upstream_count(&m, "b-nokey", "ok"), 0.0, "{m}");
    let retries = sample(&m, "asr_router_upstream_retries_total", &[("upstream", "b-nokey")]);
    assert_eq!(retries, 0.0, "{m}");
    assert_eq!(fallbacks(&m, "b-nokey"), 1.0, "{m}");
    assert_eq!(fallbacks(&m, "b-asr"), 0.0, "{m}");
    let log = a.log();
    assert!(
        log.lines().any(|l| l.contains("b-nokey") && l.contains("401")),
        "no 401 from b-nokey in the log:\n{log}"
    );
}

#[tokio::test]
async fn a_dead_strong_upstream_falls_back_and_its_breaker_opens() {
    let a = Server::start(
        &format!(
            r#"
[[engines.upstream]]
name = "gone"
base_url = "{}"
retries = 1
backoff_ms = 10
breaker_failures = 1
breaker_cooldown_s = 600
strong = true
"#,
            dead_base()
        ),
        &[],
    );
    // quality=high routes to the strong engine: the dead upstream; every request still gets its
    // transcript from the in-process fallback
    for _ in 0..2 {
        let r = post(&a, "en_jfk.wav", &[("model", "auto"), ("quality", "high")]).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(wer(&reference("en_jfk"), text) <= 0.15, "{text}");
    }
    // the first request tried twice and opened the breaker; the second never reached the network
    let m = a.metrics().await;
    assert_eq!(upstream_count(&m, "gone", "connect_error"), 2.0, "{m}");
    assert_eq!(upstream_count(&m, "gone", "breaker_open"), 1.0, "{m}");
    assert_eq!(
        sample(&m, "asr_router_upstream_retries_total", &[("upstream", "gone")]),
        1.0
    );
    assert_eq!(
        sample(&m, "asr_router_upstream_breaker_open", &[("upstream", "gone")]),
        1.0
    );
    assert_eq!(fallbacks(&m, "gone"), 2.0, "{m}");
}

// ---------------------------------------------------------------------------------------------
// Fake upstreams, for the failures a real server cannot be told to produce
// ---------------------------------------------------------------------------------------------

/// What a fake upstream answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Mode {
    /// 200 with a transcription, if the bearer key is `fake-key` (else 401).
    Good = 0,
    /// Sleeps far past any timeout of these tests.
    Slow = 1,
    /// 500 with a body.
    Error500 = 2,
    /// 200 with an HTML page.
    Html = 3,
    /// 200 with JSON that has no `text`.
    NoText = 4,
    /// 429 with `Retry-After: 1` to the first request, then as `Good`.
    BusyOnce = 5,
    /// 429 with `Retry-After: 3600`, always.
    BusyLong = 6,
}

/// What a fake saw: connections, requests, and the fields and audio of the last request.
#[derive(Default)]
struct Seen {
    mode: AtomicU8,
    connections: AtomicUsize,
    requests: AtomicUsize,
    last_fields: std::sync::Mutex<Vec<(String, String)>>,
    last_samples: AtomicUsize,
    /// When each request arrived.
    arrivals: std::sync::Mutex<Vec<std::time::Instant>>,
}

const FAKE_TEXT: &str = "the fake upstream heard you";

async fn fake_handler(State(seen): State<Arc<Seen>>, headers: HeaderMap, mut mp: Multipart) -> Response {
    let nth = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
    seen.arrivals.lock().unwrap().push(std::time::Instant::now());
    let mut fields = Vec::new();
    while let Ok(Some(f)) = mp.next_field().await {
        let name = f.name().unwrap_or_default().to_string();
        let bytes = f.bytes().await.unwrap_or_default();
        if name == "file" {
            let n = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec()))
                .map(|r| r.len() as usize)
                .unwrap_or(usize::MAX);
            seen.last_samples.store(n, Ordering::SeqCst);
        } else {
            fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    *seen.last_fields.lock().unwrap() = fields;
    let mode = match seen.mode.load(Ordering::SeqCst) {
        m if m == Mode::BusyOnce as u8 && nth > 1 => Mode::Good as u8,
        m => m,
    };
    match mode {
        m if m == Mode::Good as u8 => {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer fake-key") {
                return (StatusCode::UNAUTHORIZED, r#"{"error":{"message":"bad key"}}"#).into_response();
            }
            axum::Json(serde_json::json!({"text": FAKE_TEXT, "language": "english"})).into_response()
        }
        m if m == Mode::Slow as u8 => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            axum::Json(serde_json::json!({"text": "too late"})).into_response()
        }
        m if m == Mode::Error500 as u8 => {
            (StatusCode::INTERNAL_SERVER_ERROR, "model crashed: CUDA error").into_response()
        }
        m if m == Mode::BusyOnce as u8 || m == Mode::BusyLong as u8 => {
            let wait = if m == Mode::BusyOnce as u8 { "1" } else { "3600" };
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", wait)],
                r#"{"error":{"message":"queue full"}}"#,
            )
                .into_response()
        }
        m if m == Mode::Html as u8 => (
            [("content-type", "text/html")],
            "<html><body><h1>Welcome to nginx!</h1></body></html>",
        )
            .into_response(),
        _ => axum::Json(serde_json::json!({"result": "ok", "transcript": FAKE_TEXT})).into_response(),
    }
}

/// A listener that counts the connections it accepts.
struct Counting {
    inner: tokio::net::TcpListener,
    seen: Arc<Seen>,
}

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok(conn) = self.inner.accept().await {
                self.seen.connections.fetch_add(1, Ordering::SeqCst);
                return conn;
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Starts a fake upstream in `mode` on loopback; its base URL and what it sees.
async fn fake(mode: Mode) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    seen.mode.store(mode as u8, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/v1/audio/transcriptions", axum::routing::post(fake_handler))
        .with_state(seen.clone());
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", inner.local_addr().unwrap());
    let listener = Counting {
        inner,
        seen: seen.clone(),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

/// A base URL nothing listens on (a port just bound and released).
fn dead_base() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// The upstream of `cfg` behind the real scheduler (batches of one) and its counters.
fn engine(cfg: UpstreamConfig) -> (EngineHandle, Arc<UpstreamMetrics>) {
    let r = Arc::new(UpstreamRecognizer::new(&cfg).unwrap());
    let m = r.metrics().clone();
    let policy = BatchPolicy {
        max_batch: 1,
        max_wait: Duration::ZERO,
        ..Default::default()
    };
    (EngineHandle::spawn(r, policy, cfg.max_concurrency), m)
}

fn config(name: &str, base: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: name.into(),
        base_url: base.into(),
        model: "fake-model".into(),
        timeout_ms: 2000,
        max_concurrency: 1,
        retries: 0,
        backoff_ms: 10,
        breaker_failures: 100,
        breaker_cooldown_s: 60,
        ..Default::default()
    }
}

/// Two seconds of a real recording.
fn clip(options: DecodeOptions) -> Utterance {
    let (s, rate) = read_wav(&fixture("en_jfk.wav"));
    assert_eq!(rate, 16_000);
    Utterance {
        samples: s[..32_000].into(),
        options,
    }
}

async fn run(h: &EngineHandle) -> Result<Hypothesis, EngineError> {
    match h.recognize_final(clip(DecodeOptions::default())).await {
        Ok(hyp) => Ok(hyp),
        Err(SchedError::Engine(e)) => Err(e),
        Err(other) => panic!("not an engine error: {other:?}"),
    }
}

fn counts(m: &UpstreamMetrics) -> Vec<(&'static str, u64)> {
    m.outcomes()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| (o.label(), *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn good_upstream_gets_the_wav_the_fields_and_the_key() {
    let (base, seen) = fake(Mode::Good).await;
    let (h, m) = engine(UpstreamConfig {
        api_key: Some("fake-key".into()),
        ..config("good", &base)
    });
    let options = DecodeOptions {
        language: Some("en".into()),
        prompt: Some("JFK, inaugural".into()),
        ..Default::default()
    };
    let hyp = h.recognize_final(clip(options)).await.unwrap();
    assert_eq!(hyp.text, FAKE_TEXT);
    assert_eq!(hyp.language.as_deref(), Some("en"));
    assert_eq!(hyp.segments.len(), 1);
    assert!((hyp.segments[0].end - 2.0).abs() < 1e-3, "{:?}", hyp.segments);
    assert_eq!(seen.last_samples.load(Ordering::SeqCst), 32_000);
    let fields = seen.last_fields.lock().unwrap().clone();
    for want in [
        ("model", "fake-model"),
        ("response_format", "verbose_json"),
        ("language", "en"),
        ("prompt", "JFK, inaugural"),
    ] {
        assert!(
            fields.iter().any(|(k, v)| (k.as_str(), v.as_str()) == want),
            "{want:?} not in {fields:?}"
        );
    }
    assert_eq!(counts(&m), [("ok", 1)]);

    // the same server without the key: 401, an error (not `Unavailable`), no retry
    let (h, m) = engine(UpstreamConfig {
        retries: 3,
        ..config("keyless", &base)
    });
    let before = seen.requests.load(Ordering::SeqCst);
    let e = run(&h).await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Inference(msg) if msg.contains("keyless") && msg.contains("401") && msg.contains("bad key")),
        "{e}"
    );
    assert_eq!(seen.requests.load(Ordering::SeqCst) - before, 1);
    assert_eq!(counts(&m), [("http_error", 1)]);
    assert_eq!(m.retries(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_upstream_is_unavailable_after_its_retries() {
    let (h, m) = engine(UpstreamConfig {
        retries: 2,
        ..config("dead", &dead_base())
    });
    let e = run(&h).await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Unavailable(msg) if msg.contains("'dead'") && msg.contains("cannot connect") && msg.contains("3 attempts")),
        "{e}"
    );
    assert_eq!(counts(&m), [("connect_error", 3)]);
    assert_eq!(m.retries(), 2);
    assert!(!m.breaker_is_open());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_upstream_times_out_on_every_attempt() {
    // A real server cannot be told to be slow: this fake sleeps 60 s before answering.
    let (base, seen) = fake(Mode::Slow).await;
    let (h, m) = engine(UpstreamConfig {
        timeout_ms: 300,
        retries: 1,
        backoff_ms: 50,
        ..config("slow", &base)
    });
    let t0 = Instant::now();
    let e = run(&h).await.unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(&e, EngineError::Unavailable(msg) if msg.contains("'slow'") && msg.contains("no answer within 300 ms")),
        "{e}"
    );
    assert_eq!(counts(&m), [("timeout", 2)]);
    assert_eq!(m.retries(), 1);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
    // both attempts waited their timeout (the retry after a jittered wait of at least half the
    // 50 ms step), and the call did not wait for the fake's answer
    assert!(took >= Duration::from_millis(2 * 300 + 25), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundreds_are_retried_then_unavailable() {
    let (base, seen) = fake(Mode::Error500).await;
    let (h, m) = engine(UpstreamConfig {
        retries: 2,
        ..config("flaky", &base)
    });
    let e = run(&h).await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Unavailable(msg) if msg.contains("500") && msg.contains("CUDA error")),
        "{e}"
    );
    assert_eq!(seen.requests.load(Ordering::SeqCst), 3);
    assert_eq!(counts(&m), [("http_error", 3)]);
    assert_eq!(m.retries(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_waited_for_when_it_fits_the_timeout() {
    let (base, seen) = fake(Mode::BusyOnce).await;
    let (h, m) = engine(UpstreamConfig {
        api_key: Some("fake-key".into()),
        retries: 2,
        ..config("busy", &base)
    });
    let hyp = run(&h).await.unwrap();
    assert_eq!(hyp.text.trim(), FAKE_TEXT);
    assert_eq!(counts(&m), [("ok", 1), ("http_error", 1)]);
    assert_eq!(m.retries(), 1);
    // the retry came no sooner than the upstream asked (the backoff alone is 5-10 ms)
    let t = seen.arrivals.lock().unwrap().clone();
    assert_eq!(t.len(), 2);
    assert!(t[1] - t[0] >= Duration::from_secs(1), "{:?}", t[1] - t[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_past_the_timeout_is_not_retried() {
    let (base, seen) = fake(Mode::BusyLong).await;
    let (h, m) = engine(UpstreamConfig {
        retries: 3,
        ..config("saturated", &base)
    });
    let e = run(&h).await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Unavailable(msg) if msg.contains("429") && msg.contains("retry after 3600 s")),
        "{e}"
    );
    assert_eq!(seen.requests.load(Ordering::SeqCst), 1);
    assert_eq!(m.retries(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_answers_are_bad_answers_and_not_retried() {
    for (mode, cause) in [(Mode::Html, "not JSON"), (Mode::NoText, "no string \"text\"")] {
        let (base, seen) = fake(mode).await;
        let (h, m) = engine(UpstreamConfig {
            retries: 3,
            ..config("garbage", &base)
        });
        let e = run(&h).await.unwrap_err();
        assert!(
            matches!(&e, EngineError::Inference(msg) if msg.contains("'garbage'") && msg.contains(cause)),
            "{mode:?}: {e}"
        );
        assert_eq!(seen.requests.load(Ordering::SeqCst), 1, "{mode:?}");
        assert_eq!(counts(&m), [("bad_answer", 1)], "{mode:?}");
        assert_eq!(m.retries(), 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_opens_refuses_without_a_connection_then_probes_and_closes() {
    let (base, seen) = fake(Mode::Error500).await;
    let (h, m) = engine(UpstreamConfig {
        api_key: Some("fake-key".into()),
        breaker_failures: 2,
        breaker_cooldown_s: 1,
        ..config("breaky", &base)
    });
    for _ in 0..2 {
        assert!(matches!(run(&h).await, Err(EngineError::Unavailable(_))));
    }
    assert!(m.breaker_is_open());
    let (conns, reqs) = (
        seen.connections.load(Ordering::SeqCst),
        seen.requests.load(Ordering::SeqCst),
    );
    assert_eq!(reqs, 2);

    // open: refused at once, nothing reaches the server
    let e = run(&h).await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Unavailable(msg) if msg.contains("'breaky'") && msg.contains("circuit breaker open")),
        "{e}"
    );
    assert_eq!(seen.connections.load(Ordering::SeqCst), conns);
    assert_eq!(seen.requests.load(Ordering::SeqCst), reqs);
    assert_eq!(m.outcome(Outcome::BreakerOpen), 1);

    // the server recovers; after the cooldown one probe goes through and closes the breaker
    seen.mode.store(Mode::Good as u8, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let hyp = run(&h).await.unwrap();
    assert_eq!(hyp.text, FAKE_TEXT);
    assert!(!m.breaker_is_open());
    assert_eq!(seen.requests.load(Ordering::SeqCst), reqs + 1);
    assert_eq!(counts(&m), [("ok", 1), ("http_error", 2), ("breaker_open", 1)]);
}
