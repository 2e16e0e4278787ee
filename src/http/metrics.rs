//! `GET /metrics`: the server's and each engine's counters in Prometheus' text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::state::Shared;

/// `GET /metrics`: Prometheus text of the server and engine counters.
pub async fn metrics(State(st): State<Shared>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# TYPE asr_router_live_sessions gauge\nasr_router_live_sessions {}",
        st.live_sessions.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE asr_router_sessions_refused_total counter\nasr_router_sessions_refused_total {}",
        st.sessions_refused.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE asr_router_http_transcriptions_total counter\nasr_router_http_transcriptions_total {}",
        st.requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE asr_router_realtime_partials_dropped_total counter\nasr_router_realtime_partials_dropped_total {}",
        st.realtime.partials_dropped.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE asr_router_queue_depth gauge");
    for name in st.engines.names() {
        if let Some(h) = st.engines.get(&name) {
            let (f, p) = h.queue_depth();
            let _ = writeln!(out, "asr_router_queue_depth{{engine=\"{name}\",queue=\"final\"}} {f}");
            let _ = writeln!(out, "asr_router_queue_depth{{engine=\"{name}\",queue=\"partial\"}} {p}");
        }
    }
    let _ = writeln!(out, "# TYPE asr_router_engine_audio_seconds_total counter");
    let _ = writeln!(out, "# TYPE asr_router_engine_compute_seconds_total counter");
    for name in st.engines.names() {
        if let Some(h) = st.engines.get(&name) {
            let m = h.metrics();
            let audio = m.audio_ms.load(Ordering::Relaxed) as f64 / 1000.0;
            let compute = m.compute_ms.load(Ordering::Relaxed) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "asr_router_engine_audio_seconds_total{{engine=\"{name}\"}} {audio}"
            );
            let _ = writeln!(
                out,
                "asr_router_engine_compute_seconds_total{{engine=\"{name}\"}} {compute}"
            );
        }
    }
    for (metric, kind) in [
        ("batches", "counter"),
        ("utterances", "counter"),
        ("refused", "counter"),
        ("stale_dropped", "counter"),
        ("cancelled", "counter"),
        ("abandoned", "counter"),
        ("rtf", "gauge"),
        ("decode_seconds", "histogram"),
        ("queue_wait_seconds", "histogram"),
        ("batch_size", "counter"),
    ] {
        let _ = writeln!(out, "# TYPE asr_router_engine_{metric} {kind}");
        for name in st.engines.names() {
            let Some(h) = st.engines.get(&name) else { continue };
            let m = h.metrics();
            let l = format!("engine=\"{name}\"");
            let line = match metric {
                "batches" => Some(m.batches.load(Ordering::Relaxed) as f64),
                "utterances" => Some(m.utterances.load(Ordering::Relaxed) as f64),
                "refused" => Some(m.refused.load(Ordering::Relaxed) as f64),
                "stale_dropped" => Some(m.stale_dropped.load(Ordering::Relaxed) as f64),
                "cancelled" => Some(m.cancelled.load(Ordering::Relaxed) as f64),
                "abandoned" => Some(m.abandoned.load(Ordering::Relaxed) as f64),
                "rtf" => Some(m.rtf()),
                "decode_seconds" => {
                    m.decode_time.render(&mut out, "asr_router_engine_decode_seconds", &l);
                    None
                }
                "queue_wait_seconds" => {
                    m.queue_wait
                        .render(&mut out, "asr_router_engine_queue_wait_seconds", &l);
                    None
                }
                _ => {
                    for (i, c) in m.batch_sizes.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "asr_router_engine_batch_size{{{l},size=\"{}\"}} {}",
                            i + 1,
                            c.load(Ordering::Relaxed)
                        );
                    }
                    None
                }
            };
            if let Some(v) = line {
                let _ = writeln!(out, "asr_router_engine_{metric}{{{l}}} {v}");
            }
        }
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

