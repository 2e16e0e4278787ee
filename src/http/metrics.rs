//! `GET /metrics`: the server's and each engine's counters in Prometheus' text format.
//!
//! The hot paths count with plain atomics (the scheduler, sessions, handlers); this handler reads
//! them at scrape time into the `prometheus` crate's data model and lets its encoder write the
//! exposition format. The metric names are a public interface (dashboards, the load generator,
//! the k6 script): change them only with a note in the changelog.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use super::ApiError;
use super::state::Shared;
use crate::engine::metrics::HistogramSnapshot;
use crate::engine::upstream::metrics::UpstreamMetrics;

/// One family being built: a name, its help and type, and its samples.
struct Family(MetricFamily);

impl Family {
    fn new(name: &str, help: &str, kind: MetricType) -> Self {
        let mut f = MetricFamily::default();
        f.set_name(name.to_string());
        f.set_help(help.to_string());
        f.set_field_type(kind);
        Self(f)
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let mut m = metric(labels);
        match self.0.get_field_type() {
            MetricType::COUNTER => {
                let mut c = proto::Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            _ => {
                let mut g = proto::Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        self.0.mut_metric().push(m);
        self
    }

    fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramSnapshot) -> &mut Self {
        let mut m = metric(labels);
        let mut ph = proto::Histogram::default();
        ph.set_sample_count(h.count);
        ph.set_sample_sum(h.sum);
        let buckets = h
            .bounds
            .iter()
            .zip(&h.cumulative)
            .map(|(&bound, &n)| {
                let mut b = proto::Bucket::default();
                b.set_upper_bound(bound);
                b.set_cumulative_count(n);
                b
            })
            .collect();
        ph.set_bucket(buckets);
        m.set_histogram(ph);
        self.0.mut_metric().push(m);
        self
    }
}

fn metric(labels: &[(&str, &str)]) -> proto::Metric {
    let mut m = proto::Metric::default();
    let pairs = labels
        .iter()
        .map(|(k, v)| {
            let mut l = proto::LabelPair::default();
            l.set_name(k.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect();
    m.set_label(pairs);
    m
}

/// Every metric family of the server, read now.
fn families(st: &Shared) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let mut out = Vec::new();
    let mut single = |name: &str, help: &str, kind, v: f64| {
        let mut f = Family::new(name, help, kind);
        f.sample(&[], v);
        out.push(f.0);
    };
    single(
        "asr_router_live_sessions",
        "Open realtime sessions.",
        GAUGE,
        st.live_sessions.load(Ordering::Relaxed) as f64,
    );
    single(
        "asr_router_sessions_refused_total",
        "Realtime sessions refused at the session limit (close 1013).",
        COUNTER,
        load(&st.sessions_refused),
    );
    single(
        "asr_router_sessions_refused_deadline_total",
        "Realtime sessions refused (close 1013) because finals would miss their deadline ([realtime] final_deadline_ms).",
        COUNTER,
        load(&st.sessions_refused_deadline),
    );
    single(
        "asr_router_realtime_partials_stretched_total",
        "Partials run at a cadence stretched by load (the degradation policy).",
        COUNTER,
        load(&st.realtime.partials_stretched),
    );
    single(
        "asr_router_http_transcriptions_total",
        "REST transcription and translation requests served.",
        COUNTER,
        load(&st.requests),
    );
    single(
        "asr_router_realtime_partials_dropped_total",
        "Partial deltas dropped because a client's outbound queue had no room for them.",
        COUNTER,
        load(&st.realtime.partials_dropped),
    );

    let mut skipped = Family::new(
        "asr_router_realtime_partials_skipped_total",
        "Partials skipped by the degradation policy: the session was far behind under load, or finals would miss their deadline.",
        COUNTER,
    );
    skipped.sample(&[("reason", "behind")], load(&st.realtime.partials_skipped_behind));
    skipped.sample(&[("reason", "finals_late")], load(&st.realtime.partials_skipped_late));
    out.push(skipped.0);

    let mut early = Family::new(
        "asr_router_realtime_early_finals_total",
        "Finals started in a speaker's pause before the turn ended ([realtime] early_finals): started, and used because the turn did end there.",
        COUNTER,
    );
    early.sample(&[("outcome", "started")], load(&st.realtime.early_finals_started));
    early.sample(&[("outcome", "used")], load(&st.realtime.early_finals_used));
    out.push(early.0);

    let mut refresh = Family::new(
        "asr_router_realtime_partial_refresh_seconds",
        "How long new speech of an open item waited for a partial that covers it (from the item's second partial on): the live caption's refresh interval.",
        HISTOGRAM,
    );
    refresh.histogram(&[], &st.realtime.partial_refresh.snapshot());
    out.push(refresh.0);

    let engines: Vec<_> = st
        .engines
        .names()
        .into_iter()
        .filter_map(|n| st.engines.get(&n).map(|h| (n, h)))
        .collect();
    let mut depth = Family::new("asr_router_queue_depth", "Jobs waiting in an engine queue.", GAUGE);
    for (name, h) in &engines {
        let (finals, partials) = h.queue_depth();
        depth.sample(&[("engine", name), ("queue", "final")], finals as f64);
        depth.sample(&[("engine", name), ("queue", "partial")], partials as f64);
    }
    out.push(depth.0);

    // The degradation policy as it stands now, per engine: the partial cadence a session with the
    // default interval gets, and the estimated wait of a final submitted now.
    let policy = &st.realtime.limits.degrade;
    let base_ms = st.realtime.limits.partial_interval_ms as f64;
    let mut cadence = Family::new(
        "asr_router_realtime_partial_cadence_ms",
        "Partial cadence now at the default interval (stretched by load; 0: partials off).",
        GAUGE,
    );
    let mut final_wait = Family::new(
        "asr_router_engine_final_wait_estimate_seconds",
        "Estimated queue wait of a final submitted now (finals queued x mean final run / workers).",
        GAUGE,
    );
    for (name, h) in &engines {
        let l = crate::realtime::degrade::EngineLoad::of(h);
        cadence.sample(&[("engine", name)], base_ms * policy.stretch(&l) as f64);
        final_wait.sample(&[("engine", name)], l.final_wait_s);
    }
    out.push(cadence.0);
    out.push(final_wait.0);

    type Read = fn(&crate::engine::metrics::EngineMetrics) -> f64;
    let per_engine: [(&str, &str, MetricType, Read); 9] = [
        (
            "audio_seconds_total",
            "Audio decoded, seconds (partial re-decodes included; exact to the microsecond).",
            COUNTER,
            |m| m.audio_seconds(),
        ),
        (
            "compute_seconds_total",
            "Wall time of the model runs, seconds (exact to the microsecond).",
            COUNTER,
            |m| m.compute_seconds(),
        ),
        ("batches", "Model runs.", COUNTER, |m| {
            m.batches.load(Ordering::Relaxed) as f64
        }),
        ("utterances", "Utterances decoded.", COUNTER, |m| {
            m.utterances.load(Ordering::Relaxed) as f64
        }),
        ("refused", "Requests refused because a queue was full.", COUNTER, |m| {
            m.refused.load(Ordering::Relaxed) as f64
        }),
        (
            "stale_dropped",
            "Partials dropped unrun, superseded by a newer one.",
            COUNTER,
            |m| m.stale_dropped.load(Ordering::Relaxed) as f64,
        ),
        (
            "cancelled",
            "Jobs skipped unrun because their client had gone.",
            COUNTER,
            |m| m.cancelled.load(Ordering::Relaxed) as f64,
        ),
        (
            "abandoned",
            "Jobs decoded after their client left; the result was discarded.",
            COUNTER,
            |m| m.abandoned.load(Ordering::Relaxed) as f64,
        ),
        (
            "rtf",
            "Real-time factor so far: compute time over audio time.",
            GAUGE,
            |m| m.rtf(),
        ),
    ];
    for (suffix, help, kind, read) in per_engine {
        let mut f = Family::new(&format!("asr_router_engine_{suffix}"), help, kind);
        for (name, h) in &engines {
            f.sample(&[("engine", name)], read(h.metrics()));
        }
        out.push(f.0);
    }
    let mut decode = Family::new(
        "asr_router_engine_decode_seconds",
        "Duration of each model run.",
        HISTOGRAM,
    );
    let mut wait = Family::new(
        "asr_router_engine_queue_wait_seconds",
        "Time from enqueue to the start of the run.",
        HISTOGRAM,
    );
    let mut sizes = Family::new("asr_router_engine_batch_size", "Model runs by batch size.", COUNTER);
    for (name, h) in &engines {
        let m = h.metrics();
        decode.histogram(&[("engine", name)], &m.decode_time.snapshot());
        wait.histogram(&[("engine", name)], &m.queue_wait.snapshot());
        for (i, c) in m.batch_sizes.iter().enumerate() {
            let size = (i + 1).to_string();
            sizes.sample(&[("engine", name), ("size", &size)], c.load(Ordering::Relaxed) as f64);
        }
    }
    let mut cache = Family::new(
        "asr_router_engine_encoder_cache_hits_total",
        "Encoder passes saved by reusing the encoder output of a recent decode of the same audio.",
        COUNTER,
    );
    for (name, h) in &engines {
        cache.sample(&[("engine", name)], h.encoder_cache_hits() as f64);
    }
    out.extend([decode.0, wait.0, sizes.0, cache.0]);
    out.extend(upstream_families(st.engines.upstreams()));
    out.extend(finalize_families(st.batch.second_pass().stats()));
    if let Some(llm) = st.batch.second_pass().llm_stats() {
        let mut f = Family::new(
            "asr_router_llm_review_total",
            "LLM reviews by outcome: accepted (with edits), unchanged, rejected by a guardrail (reason), failed (timeout, connection, HTTP, malformed answer), skipped (not sent).",
            MetricType::COUNTER,
        );
        f.sample(&[("outcome", "accepted")], llm.accepted as f64);
        f.sample(&[("outcome", "unchanged")], llm.unchanged as f64);
        f.sample(&[("outcome", "failed")], llm.failed as f64);
        f.sample(&[("outcome", "skipped")], llm.skipped as f64);
        for (reason, n) in &llm.rejected {
            f.sample(&[("outcome", "rejected"), ("reason", reason.as_str())], *n as f64);
        }
        out.push(f.0);
    }
    out
}

/// A counter labelled by `outcome`, `None` until one of its outcomes has a count.
fn by_outcome(name: &str, help: &str, counts: Vec<(&'static str, u64)>) -> Option<MetricFamily> {
    if counts.is_empty() {
        return None;
    }
    let mut f = Family::new(name, help, MetricType::COUNTER);
    for (outcome, n) in counts {
        f.sample(&[("outcome", outcome)], n as f64);
    }
    Some(f.0)
}

/// `asr_router_finalize_*` and `asr_router_review_*`: the finalizer chain's fallbacks and the
/// reviewers' work (REST and realtime together). Labelled families appear once they have a
/// sample.
fn finalize_families(stats: &crate::finalize::FinalizeStats) -> Vec<MetricFamily> {
    use MetricType::COUNTER;
    let mut out = Vec::new();
    let mut edits = Family::new(
        "asr_router_review_edits_total",
        "Edits made by reviewers to recognized text.",
        COUNTER,
    );
    edits.sample(&[], stats.edits() as f64);
    out.push(edits.0);
    let mut over = Family::new(
        "asr_router_review_budget_exceeded_total",
        "Realtime finals sent before a stage of their second pass finished (its time budget ran out), by stage: llm (the LLM review), glossary_decode (the glossary-prompted decode and the terms checked against the audio).",
        COUNTER,
    );
    over.sample(&[("stage", "llm")], stats.budget_exceeded() as f64);
    over.sample(&[("stage", "glossary_decode")], stats.glossary_over_budget() as f64);
    out.push(over.0);
    out.extend(by_outcome(
        "asr_router_glossary_prompt_decodes_total",
        "Finals decoded again with the glossary as the decoder prompt, by outcome (kept, or refused: the first decode was kept).",
        stats.glossary_prompts(),
    ));
    out.extend(by_outcome(
        "asr_router_window_redecodes_total",
        "File windows, meeting pieces and live finals whose text was far too short for the speech the VAD found in them, decoded again in pieces cut at pauses, by outcome (kept: the pieces replaced the window's text; refused).",
        stats.redecodes(),
    ));
    out.extend(by_outcome(
        "asr_router_window_tail_decodes_total",
        "File windows and meeting pieces whose speech went on after their decode's last segment, that tail decoded on its own, by outcome (kept: its text was appended; refused: nothing new in it).",
        stats.tail_decodes(),
    ));
    out.extend(by_outcome(
        "asr_router_glossary_term_checks_total",
        "Glossary terms proposed by loose matching and checked against the audio by the recognizer, by outcome (accepted, rejected, failed).",
        stats.term_checks(),
    ));
    let fallbacks = stats.fallbacks();
    if !fallbacks.is_empty() {
        let mut f = Family::new(
            "asr_router_finalize_fallbacks_total",
            "Finals (or file windows) decoded by the fallback engine because the routed one failed.",
            COUNTER,
        );
        for ((engine, reason), n) in fallbacks {
            f.sample(&[("engine", &engine), ("reason", reason)], n as f64);
        }
        out.push(f.0);
    }
    let reviews = stats.reviews();
    if !reviews.is_empty() {
        let mut f = Family::new(
            "asr_router_review_total",
            "Reviewer runs by outcome (ok, or failed: skipped with its input kept).",
            COUNTER,
        );
        for ((reviewer, outcome), n) in reviews {
            f.sample(&[("reviewer", reviewer), ("outcome", outcome)], n as f64);
        }
        out.push(f.0);
    }
    out
}

/// `asr_router_upstream_*`: what each `[[engines.upstream]]` server has done; none without
/// upstreams (the encoder refuses a family without samples).
fn upstream_families(ups: &[std::sync::Arc<UpstreamMetrics>]) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    if ups.is_empty() {
        return Vec::new();
    }
    let mut requests = Family::new(
        "asr_router_upstream_requests_total",
        "Attempts at an upstream ASR server by outcome (ok, timeout, http_error, connect_error, bad_answer, breaker_open: refused without a request).",
        COUNTER,
    );
    let mut retries = Family::new(
        "asr_router_upstream_retries_total",
        "Attempts at an upstream made after a failed one.",
        COUNTER,
    );
    let mut open = Family::new(
        "asr_router_upstream_breaker_open",
        "1 while an upstream's circuit breaker is open or half-open.",
        GAUGE,
    );
    let mut latency = Family::new(
        "asr_router_upstream_request_seconds",
        "Duration of each attempt at an upstream, whatever its outcome.",
        HISTOGRAM,
    );
    for u in ups {
        let name = u.name();
        for (outcome, n) in u.outcomes() {
            requests.sample(&[("upstream", name), ("outcome", outcome.label())], n as f64);
        }
        retries.sample(&[("upstream", name)], u.retries() as f64);
        open.sample(&[("upstream", name)], if u.breaker_is_open() { 1.0 } else { 0.0 });
        latency.histogram(&[("upstream", name)], &u.latency.snapshot());
    }
    vec![requests.0, retries.0, open.0, latency.0]
}

/// `GET /metrics`: Prometheus text of the server and engine counters.
pub async fn metrics(State(st): State<Shared>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(e) = encoder.encode(&families(&st), &mut body) {
        return ApiError::internal(format!("encoding metrics: {e}")).into_response();
    }
    let mut r = body.into_response();
    if let Ok(v) = HeaderValue::from_str(encoder.format_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}
