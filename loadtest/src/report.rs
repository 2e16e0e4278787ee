//! Aggregation of session results into one report per concurrency step, the JSON document and
//! the human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use asr_router::bench::wer::{cer, wer};

use crate::server::{MetricsWindow, ProcSample};
use crate::session::{Outcome, SessionResult, is_cjk, units};
use crate::stats::Dist;

/// Session outcomes of a step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionCounts {
    /// Ran to the end with at least one final and no error event.
    pub ok: usize,
    /// Anything else but a refusal.
    pub failed: usize,
    /// HTTP 503 on the handshake or close 1013.
    pub refused: usize,
}

/// Transcription items of a step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ItemCounts {
    /// Items the client heard of (`speech_started` or any item event).
    pub seen: usize,
    /// Items with `…transcription.completed`.
    pub completed: usize,
    /// Items with `…transcription.failed`.
    pub failed: usize,
    /// Items still open when their session ended (hard stop or early close).
    pub unfinished: usize,
}

/// Latency distributions of a step, milliseconds (definitions in `loadtest/README.md`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latencies {
    /// Connect start → `session.updated`.
    pub setup: Dist,
    /// Send time of the audio at `speech_started.audio_start_ms` → first delta of that item.
    pub first_delta: Dist,
    /// Time between successive deltas of an item.
    pub delta_interval: Dist,
    /// Delta arrival − send time of the audio the item's text then covers (open items only).
    pub partial_staleness: Dist,
    /// `speech_stopped` arrival → `completed` arrival.
    pub final_: Dist,
    /// `completed.latency_ms` as reported by the server.
    pub server_final: Dist,
}

/// Accuracy of the finals of one language.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Accuracy {
    /// `wer` or `cer`.
    pub metric: &'static str,
    /// Recordings scored (fully streamed, all their items completed).
    pub recordings: usize,
    /// Errors over reference units, pooled over recordings.
    pub pooled: Option<f64>,
    /// Mean of the per-recording rates.
    pub mean: Option<f64>,
    /// The recording with the highest rate, and that rate.
    pub worst: Option<(String, f64)>,
}

/// CPU and memory of the server process during a step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcWindow {
    /// Mean CPU over the step, percent of one core.
    pub cpu_pct_avg: Option<f64>,
    /// Highest CPU between two samples (1 s apart), percent of one core.
    pub cpu_pct_max: Option<f64>,
    /// Highest `VmRSS` sampled during the step, MiB.
    pub rss_peak_mib: f64,
    /// `VmRSS` at the end of the step, MiB.
    pub rss_end_mib: f64,
    /// `VmHWM` (peak RSS since the server started) at the end of the step, MiB.
    pub hwm_mib: f64,
}

/// Everything measured at one concurrency.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    /// Concurrent sessions asked for.
    pub concurrency: usize,
    /// `--duration`, seconds.
    pub duration_s: f64,
    /// Wall time of the step including ramp and tail, seconds.
    pub wall_s: f64,
    /// Seconds spent before the step waiting for the server's queues and sessions to drain.
    pub drain_wait_s: f64,
    /// Session outcomes.
    pub sessions: SessionCounts,
    /// Failure and refusal reasons with their counts.
    pub reasons: BTreeMap<String, usize>,
    /// Recordings started over all sessions.
    pub recordings_started: usize,
    /// Audio streamed over all sessions (speech and silence), seconds.
    pub audio_sent_s: f64,
    /// Item counts.
    pub items: ItemCounts,
    /// `error` events received.
    pub error_events: usize,
    /// Their `error.code`s with counts.
    pub error_codes: BTreeMap<String, usize>,
    /// Server messages that were not JSON objects with a `type`.
    pub malformed_events: usize,
    /// Latencies.
    pub latency_ms: Latencies,
    /// WER (word languages) / CER (zh, ja, yue) of finals per language.
    pub accuracy: BTreeMap<String, Accuracy>,
    /// Server processing from `/metrics` before and after the step.
    pub server: Option<MetricsWindow>,
    /// Why `/metrics` could not be read.
    pub metrics_error: Option<String>,
    /// Server compute seconds per second of audio streamed by the clients.
    pub compute_per_streamed_s: Option<f64>,
    /// Real-time factors of the finals: `completed.processing_ms` / (`usage.seconds` × 1000).
    pub final_rtf: Dist,
    /// Server CPU / RSS (with `--server-pid`).
    pub process: Option<ProcWindow>,
    /// `/proc` samples (every 10 s in soak mode; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rss_series: Vec<ProcSample>,
}

/// Builds the report of one step from its session results.
pub fn aggregate(concurrency: usize, duration_s: f64, wall_s: f64, results: &[SessionResult]) -> StepReport {
    let mut r = StepReport {
        concurrency,
        duration_s,
        wall_s,
        ..Default::default()
    };
    let mut v: [Vec<f64>; 7] = Default::default();
    let mut acc: BTreeMap<String, (usize, f64, usize, f64)> = BTreeMap::new();
    let mut worst: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for s in results {
        match &s.outcome {
            Outcome::Ok => r.sessions.ok += 1,
            Outcome::Failed(why) => {
                r.sessions.failed += 1;
                *r.reasons.entry(format!("failed: {why}")).or_default() += 1;
            }
            Outcome::Refused(why) => {
                r.sessions.refused += 1;
                *r.reasons.entry(format!("refused: {why}")).or_default() += 1;
            }
        }
        r.recordings_started += s.recordings_started;
        r.audio_sent_s += s.audio_sent_ms as f64 / 1000.0;
        r.error_events += s.error_events;
        for (c, n) in &s.error_codes {
            *r.error_codes.entry(c.clone()).or_default() += n;
        }
        r.malformed_events += s.malformed_events;
        v[0].extend(s.setup_ms);
        for it in &s.items {
            r.items.seen += 1;
            r.items.completed += usize::from(it.completed);
            r.items.failed += usize::from(it.failed);
            r.items.unfinished += usize::from(!it.completed && !it.failed);
            v[1].extend(it.first_delta_ms);
            v[2].extend(&it.delta_intervals_ms);
            v[3].extend(&it.staleness_ms);
            v[4].extend(it.final_ms);
            v[5].extend(it.server_final_ms);
            v[6].extend(it.final_rtf);
        }
        for sc in &s.scored {
            let rate = if is_cjk(&sc.lang) {
                cer(&sc.reference, &sc.hypothesis)
            } else {
                wer(&sc.reference, &sc.hypothesis)
            };
            let n = units(&sc.lang, &sc.reference).max(1);
            let w = worst.entry(sc.lang.clone()).or_insert_with(|| (sc.id.clone(), rate));
            if rate > w.1 {
                *w = (sc.id.clone(), rate);
            }
            let e = acc.entry(sc.lang.clone()).or_default();
            e.0 += 1;
            e.1 += rate;
            e.2 += n;
            e.3 += rate * n as f64;
        }
    }
    r.latency_ms = Latencies {
        setup: Dist::of(&v[0]),
        first_delta: Dist::of(&v[1]),
        delta_interval: Dist::of(&v[2]),
        partial_staleness: Dist::of(&v[3]),
        final_: Dist::of(&v[4]),
        server_final: Dist::of(&v[5]),
    };
    r.final_rtf = Dist::of(&v[6]);
    for (lang, (count, sum, units, errs)) in acc {
        let metric = if is_cjk(&lang) { "cer" } else { "wer" };
        let worst = worst.remove(&lang);
        r.accuracy.insert(
            lang,
            Accuracy {
                metric,
                recordings: count,
                pooled: (units > 0).then(|| errs / units as f64),
                mean: (count > 0).then(|| sum / count as f64),
                worst,
            },
        );
    }
    r
}

/// Summarises `/proc` samples taken during a step.
pub fn proc_window(samples: &[ProcSample]) -> Option<ProcWindow> {
    let (first, last) = (samples.first()?, samples.last()?);
    let dt = last.t_s - first.t_s;
    Some(ProcWindow {
        cpu_pct_avg: (dt > 0.0).then(|| (last.cpu_s - first.cpu_s) / dt * 100.0),
        cpu_pct_max: samples.iter().filter_map(|s| s.cpu_pct).reduce(f64::max),
        rss_peak_mib: samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max),
        rss_end_mib: last.rss_mib,
        hwm_mib: last.hwm_mib,
    })
}

/// The limits a sweep step must keep, ms (a limit of 0 or less is off).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SweepLimits {
    /// p95 final latency (`speech_stopped` → `completed`).
    pub max_p95_final_ms: f64,
    /// p95 partial staleness (client-side, estimated; see README).
    pub max_p95_staleness_ms: f64,
    /// p95 first delta.
    pub max_p95_first_delta_ms: f64,
    /// p95 partial refresh (the server's re-decode cadence, from `/metrics`).
    pub max_p95_refresh_ms: f64,
}

/// The `--sweep` verdict.
#[derive(Debug, Clone, Serialize)]
pub struct SweepVerdict {
    /// The limits applied.
    pub limits: SweepLimits,
    /// Concurrencies whose step met every limit with no failed or refused session.
    pub passed: Vec<usize>,
    /// Largest of `passed`.
    pub best_concurrency: Option<usize>,
    /// Per concurrency that did not pass: what failed.
    pub failed: BTreeMap<usize, Vec<String>>,
}

/// What keeps a step from passing the sweep `limits` (empty: it passes). A latency limit with no
/// samples passes (no partial at all has no staleness), except that a step must get a final; the
/// refresh limit fails when the server did not report the histogram, since it cannot be judged.
pub fn step_failures(s: &StepReport, limits: &SweepLimits) -> Vec<String> {
    let mut out = Vec::new();
    if s.sessions.failed > 0 || s.sessions.refused > 0 {
        out.push(format!(
            "{} failed, {} refused sessions",
            s.sessions.failed, s.sessions.refused
        ));
    }
    let l = &s.latency_ms;
    match l.final_.p95 {
        None => out.push("no final".into()),
        Some(f) if limits.max_p95_final_ms > 0.0 && f > limits.max_p95_final_ms => {
            out.push(format!("final p95 {f:.0} > {:.0}", limits.max_p95_final_ms))
        }
        _ => {}
    }
    for (name, value, limit) in [
        ("staleness", l.partial_staleness.p95, limits.max_p95_staleness_ms),
        ("first delta", l.first_delta.p95, limits.max_p95_first_delta_ms),
    ] {
        if let Some(v) = value.filter(|v| limit > 0.0 && *v > limit) {
            out.push(format!("{name} p95 {v:.0} > {limit:.0}"));
        }
    }
    if limits.max_p95_refresh_ms > 0.0 {
        match s.server.as_ref().and_then(|m| m.partial_refresh_ms.as_ref()) {
            None => out.push("no partial refresh histogram in /metrics".into()),
            Some(r) => {
                if let Some(v) = r.p95.filter(|v| *v > limits.max_p95_refresh_ms) {
                    out.push(format!("partial refresh p95 {v:.0} > {:.0}", limits.max_p95_refresh_ms));
                }
            }
        }
    }
    out
}

/// The sweep verdict over `steps`.
pub fn verdict(limits: SweepLimits, steps: &[StepReport]) -> SweepVerdict {
    let mut passed = Vec::new();
    let mut failed = BTreeMap::new();
    for s in steps {
        let why = step_failures(s, &limits);
        if why.is_empty() {
            passed.push(s.concurrency);
        } else {
            failed.insert(s.concurrency, why);
        }
    }
    SweepVerdict {
        limits,
        best_concurrency: passed.iter().copied().max(),
        passed,
        failed,
    }
}

/// The limits of `limits` that are on, for the summary line.
pub fn limits_text(limits: &SweepLimits) -> String {
    [
        ("final", limits.max_p95_final_ms),
        ("staleness", limits.max_p95_staleness_ms),
        ("first delta", limits.max_p95_first_delta_ms),
        ("partial refresh", limits.max_p95_refresh_ms),
    ]
    .iter()
    .filter(|(_, v)| *v > 0.0)
    .map(|(n, v)| format!("p95 {n} <= {v:.0} ms"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// The whole run as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `single`, `sweep` or `soak`.
    pub mode: &'static str,
    /// Server URL.
    pub url: String,
    /// `--ramp`, seconds.
    pub ramp_s: f64,
    /// `--speed`.
    pub speed: f64,
    /// Manifest path.
    pub manifest: String,
    /// Recordings used per language.
    pub recordings: BTreeMap<String, usize>,
    /// Rows left out and why.
    pub skipped: crate::manifest::Skipped,
    /// One entry per concurrency step.
    pub steps: Vec<StepReport>,
    /// With `--sweep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepVerdict>,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

/// The human summary of one step.
pub fn summary(s: &StepReport) -> String {
    let mut o = String::new();
    let l = &s.latency_ms;
    let _ = writeln!(
        o,
        "== {} session(s), {:.0} s (wall {:.1} s)",
        s.concurrency, s.duration_s, s.wall_s
    );
    let _ = writeln!(
        o,
        "sessions   ok {}  failed {}  refused {}   recordings {}  audio {:.1} s",
        s.sessions.ok, s.sessions.failed, s.sessions.refused, s.recordings_started, s.audio_sent_s
    );
    for (why, n) in &s.reasons {
        let _ = writeln!(o, "           {n} × {why}");
    }
    let _ = writeln!(
        o,
        "items      seen {}  completed {}  failed {}  unfinished {}   error events {}",
        s.items.seen, s.items.completed, s.items.failed, s.items.unfinished, s.error_events
    );
    let _ = writeln!(o, "latency ms                  p50     p95     p99");
    for (name, d) in [
        ("session setup", &l.setup),
        ("first delta", &l.first_delta),
        ("delta interval", &l.delta_interval),
        ("partial staleness", &l.partial_staleness),
        ("stopped→completed", &l.final_),
        ("server latency_ms", &l.server_final),
    ] {
        let _ = writeln!(o, "  {name:<20} {}", d.brief());
    }
    for (lang, a) in &s.accuracy {
        let _ = writeln!(
            o,
            "accuracy   {lang}: {} {} pooled, {} mean over {} recording(s)",
            a.metric.to_uppercase(),
            opt(a.pooled.map(|x| x * 100.0), 1) + "%",
            opt(a.mean.map(|x| x * 100.0), 1) + "%",
            a.recordings
        );
    }
    if let (Some(a), Some(b), Some(c)) = (s.final_rtf.p50, s.final_rtf.p95, s.final_rtf.mean) {
        let _ = writeln!(
            o,
            "final RTF  p50 {a:.3}  p95 {b:.3}  mean {c:.3}  (n={})",
            s.final_rtf.count
        );
    }
    if let Some(m) = &s.server {
        let _ = write!(
            o,
            "server     RTF {} (compute {:.1} s / decoded audio {:.1} s)  compute per streamed s {}",
            opt(m.total.rtf, 3),
            m.total.compute_s,
            m.total.audio_s,
            opt(s.compute_per_streamed_s, 3)
        );
        for (e, w) in &m.engines {
            let _ = write!(o, "  [{e}: {}]", opt(w.rtf, 3));
        }
        let _ = writeln!(o);
        if let Some(r) = m.partial_refresh_ms.as_ref().filter(|r| r.count > 0.0) {
            let _ = writeln!(
                o,
                "server     partial refresh ms  p50 {}  p95 {}  mean {}  (n={}, from /metrics buckets)",
                opt(r.p50, 0),
                opt(r.p95, 0),
                opt(r.mean, 0),
                r.count
            );
        }
    } else if let Some(e) = &s.metrics_error {
        let _ = writeln!(o, "server     /metrics unavailable: {e}");
    }
    if let Some(p) = &s.process {
        let _ = writeln!(
            o,
            "process    CPU avg {}%  max {}%   RSS peak {:.0} MiB  end {:.0} MiB  HWM {:.0} MiB",
            opt(p.cpu_pct_avg, 0),
            opt(p.cpu_pct_max, 0),
            p.rss_peak_mib,
            p.rss_end_mib,
            p.hwm_mib
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{BucketDist, MetricsWindow};

    fn step(final_p95: Option<f64>, first_delta_p95: f64, refresh_p95: Option<f64>) -> StepReport {
        let mut s = StepReport {
            concurrency: 4,
            ..Default::default()
        };
        s.latency_ms.final_.p95 = final_p95;
        s.latency_ms.first_delta.p95 = Some(first_delta_p95);
        s.server = refresh_p95.map(|p95| MetricsWindow {
            partial_refresh_ms: Some(BucketDist {
                count: 10.0,
                p95: Some(p95),
                ..Default::default()
            }),
            ..Default::default()
        });
        s
    }

    #[test]
    fn a_step_fails_each_limit_that_is_on_and_says_which() {
        let off = SweepLimits {
            max_p95_final_ms: 1500.0,
            max_p95_staleness_ms: 0.0,
            max_p95_first_delta_ms: 0.0,
            max_p95_refresh_ms: 0.0,
        };
        assert!(step_failures(&step(Some(900.0), 1600.0, None), &off).is_empty());
        assert_eq!(step_failures(&step(None, 100.0, None), &off), ["no final"]);
        let issue15 = SweepLimits {
            max_p95_first_delta_ms: 1000.0,
            max_p95_refresh_ms: 500.0,
            ..off
        };
        assert_eq!(
            step_failures(&step(Some(1600.0), 1200.0, Some(600.0)), &issue15),
            [
                "final p95 1600 > 1500",
                "first delta p95 1200 > 1000",
                "partial refresh p95 600 > 500"
            ]
        );
        assert_eq!(
            step_failures(&step(Some(900.0), 900.0, None), &issue15),
            ["no partial refresh histogram in /metrics"],
            "a limit that cannot be judged does not pass"
        );
        let v = verdict(issue15, &[step(Some(900.0), 900.0, Some(400.0))]);
        assert_eq!((v.passed.as_slice(), v.best_concurrency), ([4].as_slice(), Some(4)));
        assert!(v.failed.is_empty());
    }
}
