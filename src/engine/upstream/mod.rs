//! An upstream OpenAI-compatible ASR server (Qwen3-ASR behind vLLM, another asr-router, …) as a
//! [`Recognizer`]: each utterance goes out as a 16-bit PCM WAV in a multipart
//! `POST {base_url}/v1/audio/transcriptions`, and the answer comes back as a [`Hypothesis`].
//!
//! Invariants:
//! * **Blocking, on engine threads only.** The HTTP client is `reqwest::blocking`; like every
//!   recognizer it runs on the scheduler's worker threads, never on the async runtime. The
//!   concurrency limit of an upstream is the number of those threads (`max_concurrency`, one
//!   utterance per run: [`Recognizer::max_batch`] is 1).
//! * **Bounded time.** Each attempt has the configured timeout (connect, send and the whole
//!   answer); a call makes at most `1 + retries` attempts. Before retry `k` (0-based) it waits
//!   between half and all of `backoff × 2^k` (random "equal jitter", so that sessions failing
//!   together do not come back in lockstep), or longer when the upstream's `Retry-After`
//!   (delta-seconds) asks for it. An upstream that asks for more than `timeout` is not retried:
//!   the fallback answers now instead. So a call ends within `(1 + retries) × timeout` plus
//!   `Σ max(backoff × 2^k, timeout)` over its retries.
//! * **What is retried.** Connection errors, timeouts, 5xx and 429 are the upstream's trouble and
//!   are retried. Other 4xx are the request's fault and an unreadable 2xx will not improve by
//!   asking again: neither is retried.
//! * **The breaker.** Every call asks the [`breaker::Breaker`] first. A call that failed after its
//!   retries (unreachable, timed out, 5xx/429, garbage) counts as one failure; a call that got a
//!   sane answer, a transcription or a 4xx refusal, closes it. While open, calls fail at once
//!   without touching the network.
//! * **Errors.** Upstream trouble comes back as [`EngineError::Unavailable`] (the finalizer falls
//!   back to an in-process engine on it); a 4xx or a garbage answer as [`EngineError::Inference`].
//!   Every message names the upstream and the cause. Nothing an upstream sends can panic this code.
//! * **Counted.** Each attempt lands in exactly one `outcome` of [`metrics::UpstreamMetrics`]
//!   (a breaker refusal is an attempt with outcome `breaker_open`); each retry in `retries`.

pub mod answer;
pub mod breaker;
mod form;
pub mod metrics;
mod wav;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;

use crate::audio::SAMPLE_RATE;
use crate::config::UpstreamConfig;
use crate::engine::recognizer::{EngineError, Hypothesis, ModelAbilities, Recognizer, Task, Utterance};
use breaker::{Admission, Breaker};
use metrics::{Outcome, UpstreamMetrics};

/// The most of an answer read; a transcription of a 30 s window is a few kilobytes.
const MAX_ANSWER_BYTES: u64 = 8 << 20;
/// The backoff doubles at most this many times.
const MAX_BACKOFF_DOUBLINGS: u32 = 10;

/// One upstream server as a recognizer.
pub struct UpstreamRecognizer {
    name: String,
    url: reqwest::Url,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    client: Client,
    breaker: Mutex<Breaker>,
    metrics: Arc<UpstreamMetrics>,
    abilities: ModelAbilities,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    Timeout,
    Connect(String),
    Status {
        status: StatusCode,
        detail: String,
        /// The answer's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    BadAnswer(String),
}

impl Failure {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Timeout => Outcome::Timeout,
            Self::Connect(_) => Outcome::ConnectError,
            Self::Status { .. } => Outcome::HttpError,
            Self::BadAnswer(_) => Outcome::BadAnswer,
        }
    }

    /// The upstream's trouble (worth another attempt), not the request's.
    fn retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Connect(_) => true,
            Self::Status { status, .. } => status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS,
            Self::BadAnswer(_) => false,
        }
    }

    /// How long the upstream asked us to wait before asking again.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether it says the upstream is unwell (a breaker failure) rather than that the request
    /// was refused by a healthy server (a 4xx other than 429).
    fn counts_against_upstream(&self) -> bool {
        !matches!(self, Self::Status { status, .. } if status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS)
    }
}

impl UpstreamRecognizer {
    /// An upstream from its `[[engines.upstream]]` section. Fails when the name is empty or the
    /// base URL is not an `http(s)` URL.
    pub fn new(cfg: &UpstreamConfig) -> Result<Self, EngineError> {
        let load = |reason: String| EngineError::Load {
            model: cfg.name.clone(),
            reason,
        };
        if cfg.name.trim().is_empty() {
            return Err(load("an [[engines.upstream]] needs a name".into()));
        }
        let url = transcriptions_url(&cfg.base_url).map_err(load)?;
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let pool = cfg.max_concurrency.max(1);
        // The blocking client owns a small runtime of its own; building it inside an async
        // context would panic, so build it on a plain thread whoever calls us.
        let client = std::thread::scope(|s| {
            s.spawn(|| {
                Client::builder()
                    .timeout(timeout)
                    .pool_max_idle_per_host(pool)
                    .user_agent(concat!("asr-router/", env!("CARGO_PKG_VERSION")))
                    .build()
            })
            .join()
        })
        .map_err(|_| load("building the HTTP client panicked".into()))?
        .map_err(|e| load(format!("building the HTTP client: {e}")))?;
        let languages = if cfg.languages.is_empty() {
            None
        } else {
            // `ModelAbilities` holds `'static` slices (the in-process models' lists are
            // constants). An upstream's list comes from the configuration, read once at start-up:
            // leaking it once per configured upstream is a few bytes for the process lifetime.
            let codes: Vec<&'static str> = cfg
                .languages
                .iter()
                .map(|l| &*Box::leak(l.trim().to_ascii_lowercase().into_boxed_str()))
                .collect();
            Some(&*Box::leak(codes.into_boxed_slice()))
        };
        Ok(Self {
            name: cfg.name.clone(),
            url,
            model: cfg.model.clone(),
            api_key: cfg.api_key.clone().filter(|k| !k.is_empty()),
            timeout,
            retries: cfg.retries,
            backoff: Duration::from_millis(cfg.backoff_ms),
            client,
            breaker: Mutex::new(Breaker::new(
                cfg.breaker_failures,
                Duration::from_secs(cfg.breaker_cooldown_s),
            )),
            metrics: Arc::new(UpstreamMetrics::new(&cfg.name)),
            abilities: ModelAbilities {
                languages,
                translation: false,
                prompt: true,
                scores_texts: false,
                word_probabilities: false,
            },
        })
    }

    /// Its counters, shared with `/metrics`.
    pub fn metrics(&self) -> &Arc<UpstreamMetrics> {
        &self.metrics
    }

    /// The endpoint it posts to.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// One utterance: breaker, attempts with backoff, breaker again.
    fn transcribe(&self, u: &Utterance) -> Result<Hypothesis, EngineError> {
        if u.options.task == Task::Translate {
            return Err(EngineError::InvalidInput(format!(
                "upstream '{}' does not translate",
                self.name
            )));
        }
        if u.samples.is_empty() {
            return Ok(Hypothesis::default());
        }
        if let Admission::Refuse { retry_after } = self.with_breaker(|b| b.admit(Instant::now())) {
            self.metrics.count(Outcome::BreakerOpen);
            return Err(EngineError::Unavailable(format!(
                "upstream '{}': circuit breaker open after repeated failures; next try in {:.1} s",
                self.name,
                retry_after.as_secs_f32()
            )));
        }
        let upload = self.upload(u);
        let duration_s = u.samples.len() as f32 / SAMPLE_RATE as f32;
        let mut attempt = 0;
        let failure = loop {
            let started = Instant::now();
            let r = self.attempt(&upload, duration_s);
            self.metrics.latency.observe(started.elapsed().as_secs_f64());
            match r {
                Ok(h) => {
                    self.metrics.count(Outcome::Ok);
                    self.with_breaker(|b| b.record_success());
                    return Ok(h);
                }
                Err(f) => {
                    self.metrics.count(f.outcome());
                    tracing::warn!(upstream = %self.name, attempt = attempt + 1, cause = ?f, "upstream attempt failed");
                    if !f.retryable() || attempt >= self.retries {
                        break f;
                    }
                    match retry_wait(self.backoff, attempt, f.retry_after(), self.timeout, rand::random()) {
                        Some(wait) => std::thread::sleep(wait),
                        None => break f,
                    }
                }
            }
            attempt += 1;
            self.metrics.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        if failure.counts_against_upstream() {
            self.with_breaker(|b| b.record_failure(Instant::now()));
        } else {
            self.with_breaker(|b| b.record_success());
        }
        Err(self.error(failure, attempt + 1))
    }

    /// Runs `f` on the breaker and mirrors its state into the gauge.
    fn with_breaker<T>(&self, f: impl FnOnce(&mut Breaker) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update of a few plain fields.
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut b);
        self.metrics
            .breaker_open
            .store(b.is_open() as u64, std::sync::atomic::Ordering::Relaxed);
        r
    }

    /// The multipart body of `u`: the WAV, `model`, `response_format`, and what the options
    /// ask for (`language`, `prompt`, `temperature`, word timestamps).
    fn upload(&self, u: &Utterance) -> form::Upload {
        let o = &u.options;
        let temperature = o.temperature.to_string();
        let mut fields = vec![("model", self.model.as_str()), ("response_format", "verbose_json")];
        if let Some(l) = o
            .language
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "auto")
        {
            fields.push(("language", l));
        }
        if let Some(p) = o.prompt.as_deref().filter(|p| !p.trim().is_empty()) {
            fields.push(("prompt", p));
        }
        if o.temperature > 0.0 {
            fields.push(("temperature", &temperature));
        }
        if o.word_timestamps {
            fields.push(("timestamp_granularities[]", "segment"));
            fields.push(("timestamp_granularities[]", "word"));
        }
        form::upload(&fields, &wav::pcm16_wav(&u.samples))
    }

    /// One HTTP request and its answer.
    fn attempt(&self, upload: &form::Upload, duration_s: f32) -> Result<Hypothesis, Failure> {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, &upload.content_type)
            .body(upload.body.clone());
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().map_err(classify)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        resp.take(MAX_ANSWER_BYTES).read_to_end(&mut body).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut
                || e.get_ref()
                    .and_then(|i| i.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_timeout)
            {
                Failure::Timeout
            } else {
                Failure::Connect(format!("reading the answer: {}", chain(&e)))
            }
        })?;
        if !status.is_success() {
            return Err(Failure::Status {
                status,
                detail: error_detail(&body),
                retry_after,
            });
        }
        answer::parse(&body, duration_s).map_err(|e| Failure::BadAnswer(e.0))
    }

    /// The error of a call that ended with `f` after `attempts` attempts.
    fn error(&self, f: Failure, attempts: u32) -> EngineError {
        let who = format!("upstream '{}' ({})", self.name, self.url);
        let tries = if attempts == 1 {
            "1 attempt".to_string()
        } else {
            format!("{attempts} attempts")
        };
        // the upstream's trouble (its kinds are the retryable ones): the caller may fall back
        let upstream_trouble = f.retryable();
        match f {
            Failure::Timeout => EngineError::Unavailable(format!(
                "{who}: no answer within {} ms ({tries})",
                self.timeout.as_millis()
            )),
            Failure::Connect(cause) => EngineError::Unavailable(format!("{who}: cannot connect: {cause} ({tries})")),
            Failure::Status {
                status,
                detail,
                retry_after,
            } if upstream_trouble => {
                let later =
                    retry_after.map_or(String::new(), |w| format!("; it asks to retry after {} s", w.as_secs()));
                EngineError::Unavailable(format!("{who}: HTTP {status} ({tries}{later}): {detail}"))
            }
            Failure::Status { status, detail, .. } => {
                EngineError::Inference(format!("{who} refused the request: HTTP {status}: {detail}"))
            }
            Failure::BadAnswer(why) => {
                EngineError::Inference(format!("{who} answered something that is not a transcription: {why}"))
            }
        }
    }
}

impl Recognizer for UpstreamRecognizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
        batch.iter().map(|u| self.transcribe(u)).collect()
    }

    fn abilities(&self) -> ModelAbilities {
        self.abilities
    }
}

/// The wait before retry `retry` (0-based): between half and all of `backoff × 2^retry` as
/// `jitter` goes from 0 to 1, or the upstream's `retry_after` when that is longer. `None` when
/// the upstream asks for more than `max_wait` (the attempt timeout): not worth waiting for.
fn retry_wait(
    backoff: Duration,
    retry: u32,
    retry_after: Option<Duration>,
    max_wait: Duration,
    jitter: f64,
) -> Option<Duration> {
    let step = backoff.saturating_mul(2u32.pow(retry.min(MAX_BACKOFF_DOUBLINGS)));
    let jittered = step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(asked) if asked > max_wait => None,
        Some(asked) => Some(asked.max(jittered)),
        None => Some(jittered),
    }
}

/// `{base_url}/v1/audio/transcriptions`; a base URL that already ends in `/v1` is accepted too.
fn transcriptions_url(base: &str) -> Result<reqwest::Url, String> {
    let trimmed = base.trim().trim_end_matches('/');
    let root = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let url = reqwest::Url::parse(&format!("{root}/v1/audio/transcriptions"))
        .map_err(|e| format!("base_url {base:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("base_url {base:?}: scheme {other:?} is not http or https")),
    }
}

/// A transport error as a failure: timeouts apart, everything is a connection problem.
fn classify(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Connect(chain(&e))
    }
}

/// An error and its causes on one line (reqwest's own message leaves out the cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// What an error answer says: OpenAI's `error.message` when it has one, else the start of it.
fn error_detail(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
        .map(|m| answer::snippet(m.as_bytes()))
        .unwrap_or_else(|| answer::snippet(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_under_v1_whatever_the_base_looks_like() {
        for base in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
        ] {
            assert_eq!(
                transcriptions_url(base).unwrap().as_str(),
                "http://h:8000/v1/audio/transcriptions"
            );
        }
        assert_eq!(
            transcriptions_url("https://gw.example/asr").unwrap().as_str(),
            "https://gw.example/asr/v1/audio/transcriptions"
        );
        assert!(transcriptions_url("ftp://h").is_err());
        assert!(transcriptions_url("not a url").is_err());
    }

    #[test]
    fn retry_and_breaker_rules_by_failure() {
        let st = |c: u16| Failure::Status {
            status: StatusCode::from_u16(c).unwrap(),
            detail: String::new(),
            retry_after: None,
        };
        for (f, retry, counts) in [
            (Failure::Timeout, true, true),
            (Failure::Connect("refused".into()), true, true),
            (st(500), true, true),
            (st(503), true, true),
            (st(429), true, true),
            (st(400), false, false),
            (st(401), false, false),
            (Failure::BadAnswer("html".into()), false, true),
        ] {
            assert_eq!((f.retryable(), f.counts_against_upstream()), (retry, counts), "{f:?}");
        }
    }

    #[test]
    fn retry_waits_jitter_within_the_exponential_step_and_honour_retry_after() {
        let ms = Duration::from_millis;
        let max = ms(2000);
        // no jitter draw gives less than half or more than all of backoff × 2^k
        assert_eq!(retry_wait(ms(100), 0, None, max, 0.0), Some(ms(50)));
        assert_eq!(retry_wait(ms(100), 0, None, max, 1.0), Some(ms(100)));
        assert_eq!(retry_wait(ms(100), 2, None, max, 0.5), Some(ms(300)));
        // out-of-range draws are clamped
        assert_eq!(retry_wait(ms(100), 1, None, max, 7.0), Some(ms(200)));
        // the doubling stops; no overflow however many retries
        let far = retry_wait(ms(100), 40, None, Duration::MAX, 1.0).unwrap();
        assert_eq!(far, ms(100) * 2u32.pow(MAX_BACKOFF_DOUBLINGS));
        // Retry-After wins when longer, the jittered step when the upstream asks for less
        assert_eq!(retry_wait(ms(100), 0, Some(ms(1000)), max, 1.0), Some(ms(1000)));
        assert_eq!(retry_wait(ms(800), 1, Some(ms(1000)), max, 1.0), Some(ms(1600)));
        // more than the attempt timeout: not worth waiting for (the fallback answers now)
        assert_eq!(retry_wait(ms(100), 0, Some(ms(2001)), max, 0.0), None);
        assert_eq!(retry_wait(ms(100), 0, Some(ms(2000)), max, 0.0), Some(ms(2000)));
    }

    #[test]
    fn error_detail_prefers_openai_error_message() {
        assert_eq!(
            error_detail(br#"{"error":{"message":"Invalid API key.","type":"x"}}"#),
            "Invalid API key."
        );
        assert_eq!(error_detail(b"upstream exploded"), "upstream exploded");
    }

    #[test]
    fn configured_languages_become_abilities() {
        let cfg = UpstreamConfig {
            name: "q".into(),
            languages: vec!["ZH".into(), " en".into()],
            ..Default::default()
        };
        let r = UpstreamRecognizer::new(&cfg).unwrap();
        let a = r.abilities();
        assert_eq!(a.languages, Some(&["zh", "en"][..]));
        assert!(a.transcribes("en-US") && !a.transcribes("de") && !a.translation);
        let any = UpstreamRecognizer::new(&UpstreamConfig::default()).unwrap();
        assert!(any.abilities().languages.is_none() && any.abilities().transcribes("de"));
        assert!(
            UpstreamRecognizer::new(&UpstreamConfig {
                name: " ".into(),
                ..Default::default()
            })
            .is_err()
        );
    }
}
