//! The server side of a measurement: the loopback target, `/metrics` (raw HTTP/1.1 GET over a
//! `TcpStream`, Prometheus text format) and `/proc/PID` CPU / RSS sampling.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A loopback server address taken from `--url`.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host[:port]` as written (for `Host:` and the WebSocket URL).
    pub authority: String,
    /// Resolved loopback socket addresses.
    pub addrs: Vec<SocketAddr>,
}

impl Target {
    /// Parses `http://`, `ws://` (or bare `host:port`) URLs and refuses anything but
    /// 127.0.0.0/8, `localhost` and `::1`. TLS schemes are refused (plain loopback only).
    pub async fn parse(url: &str) -> Result<Self, String> {
        let rest = match url.split_once("://") {
            Some(("http" | "ws", r)) => r,
            Some((s, _)) => {
                return Err(format!(
                    "scheme {s}:// not supported (use http:// or ws:// on loopback)"
                ));
            }
            None => url,
        };
        let authority = rest.split(['/', '?']).next().unwrap_or("").to_string();
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or("unterminated [ipv6] host")?;
            (h.to_string(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (authority.clone(), ""),
            }
        };
        let port: u16 = if port.is_empty() {
            80
        } else {
            port.parse().map_err(|_| format!("bad port {port:?}"))?
        };
        let loopback_name = host.eq_ignore_ascii_case("localhost");
        let literal: Option<IpAddr> = host.parse().ok();
        if !loopback_name && !literal.is_some_and(|ip| ip.is_loopback()) {
            return Err(format!(
                "refusing non-loopback host {host:?} (only 127.0.0.0/8, localhost, ::1)"
            ));
        }
        let addrs: Vec<SocketAddr> = match literal {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("resolve {host}: {e}"))?
                .filter(|a| a.ip().is_loopback())
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{host} resolves to no loopback address"));
        }
        Ok(Self { authority, addrs })
    }

    /// The Realtime transcription endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/realtime?intent=transcription", self.authority)
    }

    /// `GET path` with the bearer key; returns the status and body.
    pub async fn get(&self, path: &str, api_key: &str) -> Result<(u16, String), String> {
        let fut = async {
            let mut s = TcpStream::connect(&self.addrs[..])
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {api_key}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
                self.authority
            );
            s.write_all(req.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
            let mut buf = Vec::new();
            s.take(64 << 20)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            parse_response(&buf)
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .map_err(|_| "GET timed out".to_string())?
    }
}

/// Splits an HTTP/1.1 response into status and body (handles `Transfer-Encoding: chunked`).
fn parse_response(buf: &[u8]) -> Result<(u16, String), String> {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no header end in response")?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let body = &buf[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_vec() };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size_txt = String::from_utf8_lossy(&b[..nl]);
        let Ok(size) = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        b = &b[nl + 2..];
        if size == 0 || size > b.len() {
            out.extend_from_slice(&b[..size.min(b.len())]);
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
    out
}

/// Prometheus samples: `name{labels}` → value (the label text kept as written).
pub type Samples = BTreeMap<String, f64>;

/// Parses the Prometheus text exposition format, ignoring comments and unparsable lines.
pub fn parse_metrics(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The value follows the last space outside the label braces; a timestamp may follow it.
        let after_labels = line.rfind('}').map_or(0, |i| i + 1);
        let mut parts = line[after_labels..].split_whitespace();
        let (key, value) = if after_labels > 0 {
            (line[..after_labels].to_string(), parts.next())
        } else {
            (parts.next().unwrap_or("").to_string(), parts.next())
        };
        if let Some(v) = value.and_then(|v| v.parse::<f64>().ok()) {
            out.insert(key, v);
        }
    }
    out
}

fn engine_of(key: &str) -> Option<&str> {
    let i = key.find("engine=\"")? + 8;
    let j = key[i..].find('"')?;
    Some(&key[i..i + j])
}

/// Server processing over one measurement window, per engine and in total.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineWindow {
    /// Seconds of model compute in the window: the `asr_router_engine_compute_seconds_total`
    /// delta (older servers: `asr_router_engine_decode_seconds_sum`).
    pub compute_s: f64,
    /// Seconds of audio the engine decoded in the window (partial re-decodes included): the
    /// `asr_router_engine_audio_seconds_total` delta (older servers: derived from the cumulative
    /// `asr_router_engine_rtf` gauge, `audio = compute_sum / rtf`, approximate).
    pub audio_s: f64,
    /// `compute_s / audio_s` (`None` when no audio was decoded).
    pub rtf: Option<f64>,
}

/// What `/metrics` said about a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricsWindow {
    /// Per engine.
    pub engines: BTreeMap<String, EngineWindow>,
    /// All engines together.
    pub total: EngineWindow,
    /// Delta of `asr_router_sessions_refused_total`.
    pub sessions_refused: Option<f64>,
    /// Delta of `asr_router_engine_stale_dropped` over all engines.
    pub stale_partials_dropped: Option<f64>,
    /// The window's `asr_router_realtime_partial_refresh_seconds`: how long new speech waited
    /// for a partial that covers it, from the histogram's bucket deltas (`None`: an older server
    /// without it).
    pub partial_refresh_ms: Option<BucketDist>,
}

/// A server histogram over one window, milliseconds: percentiles interpolated linearly inside
/// the bucket that holds them, as Prometheus' `histogram_quantile` does (a percentile in the
/// open `+Inf` bucket reads as the last finite bound).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BucketDist {
    /// Observations in the window.
    pub count: f64,
    /// Their mean (from the sum's delta).
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
}

/// The window of histogram `name` (seconds) between two snapshots, in milliseconds.
pub fn histogram_window(before: &Samples, after: &Samples, name: &str) -> Option<BucketDist> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((bound, v - before.get(k).copied().unwrap_or(0.0)))
        })
        .collect();
    if buckets.is_empty() {
        return None;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let delta = |k: String| after.get(&k).map(|a| a - before.get(&k).copied().unwrap_or(0.0));
    let count = delta(format!("{name}_count")).unwrap_or_else(|| buckets.last().map_or(0.0, |b| b.1));
    let sum = delta(format!("{name}_sum"));
    let quantile = |q: f64| -> Option<f64> {
        if count <= 0.0 {
            return None;
        }
        let rank = q * count;
        let (mut lo, mut below) = (0.0, 0.0);
        for &(bound, cum) in &buckets {
            if cum >= rank {
                if bound.is_infinite() {
                    return Some(lo * 1000.0);
                }
                let share = if cum > below {
                    (rank - below) / (cum - below)
                } else {
                    1.0
                };
                return Some((lo + (bound - lo) * share) * 1000.0);
            }
            (lo, below) = (bound, cum);
        }
        Some(lo * 1000.0)
    };
    Some(BucketDist {
        count,
        mean: sum.filter(|_| count > 0.0).map(|s| s / count * 1000.0),
        p50: quantile(0.5),
        p95: quantile(0.95),
    })
}

/// Compares two `/metrics` snapshots. Prefers explicit `…audio_seconds_total` /
/// `…compute_seconds_total` counters when the server has them.
pub fn window(before: &Samples, after: &Samples) -> MetricsWindow {
    let mut w = MetricsWindow::default();
    let get = |m: &Samples, k: &str| m.get(k).copied();
    let mut engines: Vec<String> = after.keys().filter_map(|k| engine_of(k).map(str::to_string)).collect();
    engines.dedup();
    engines.sort();
    engines.dedup();
    for e in engines {
        let key = |name: &str| format!("{name}{{engine=\"{e}\"}}");
        let delta = |name: &str| match (get(after, &key(name)), get(before, &key(name))) {
            (Some(a), b) => Some(a - b.unwrap_or(0.0)),
            _ => None,
        };
        let compute =
            delta("asr_router_engine_compute_seconds_total").or_else(|| delta("asr_router_engine_decode_seconds_sum"));
        let audio = delta("asr_router_engine_audio_seconds_total").or_else(|| {
            let cum = |m: &Samples| {
                // The gauge is `compute_ms / audio_ms` of per-batch whole milliseconds (truncated,
                // about 0.5 ms lost per batch), the histogram sum is exact seconds.
                let sum = get(m, &key("asr_router_engine_decode_seconds_sum")).unwrap_or(0.0);
                let batches = get(m, &key("asr_router_engine_batches")).unwrap_or(0.0);
                let compute_ms_gauge_basis = (sum - 0.0005 * batches).max(0.0);
                match get(m, &key("asr_router_engine_rtf")) {
                    Some(r) if r > 0.0 => compute_ms_gauge_basis / r,
                    _ => 0.0,
                }
            };
            get(after, &key("asr_router_engine_rtf")).map(|_| cum(after) - cum(before))
        });
        let (Some(c), Some(a)) = (compute, audio) else {
            continue;
        };
        let a = a.max(0.0);
        w.total.compute_s += c;
        w.total.audio_s += a;
        w.engines.insert(
            e,
            EngineWindow {
                compute_s: c,
                audio_s: a,
                rtf: (a > 0.0).then(|| c / a),
            },
        );
    }
    w.total.rtf = (w.total.audio_s > 0.0).then(|| w.total.compute_s / w.total.audio_s);
    let k = "asr_router_sessions_refused_total";
    w.sessions_refused = get(after, k).map(|a| a - get(before, k).unwrap_or(0.0));
    let sum_stale = |m: &Samples| -> Option<f64> {
        let v: Vec<f64> = m
            .iter()
            .filter(|(k, _)| k.starts_with("asr_router_engine_stale_dropped{"))
            .map(|(_, v)| *v)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    w.stale_partials_dropped = sum_stale(after).map(|a| a - sum_stale(before).unwrap_or(0.0));
    w.partial_refresh_ms = histogram_window(before, after, "asr_router_realtime_partial_refresh_seconds");
    w
}

/// One `/proc` reading of the server process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcSample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Resident set size, MiB (`VmRSS`).
    pub rss_mib: f64,
    /// Peak resident set size since the process started, MiB (`VmHWM`).
    pub hwm_mib: f64,
    /// CPU time used since the process started, seconds (utime + stime).
    #[serde(skip)]
    pub cpu_s: f64,
    /// CPU use since the previous sample, percent of one core.
    pub cpu_pct: Option<f64>,
}

/// Clock ticks per second for `/proc/PID/stat` (`getconf CLK_TCK`, else 100).
pub fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// Reads CPU time and memory of `pid` (`None` when the process is gone or unreadable).
pub fn read_proc(pid: u32, tck: f64, t_s: f64) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is parenthesised and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some(ProcSample {
        t_s,
        rss_mib: kb("VmRSS:") / 1024.0,
        hwm_mib: kb("VmHWM:") / 1024.0,
        cpu_s: (utime + stime) / tck,
        cpu_pct: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_window() {
        let before = parse_metrics(
            "# TYPE x gauge\nasr_router_engine_rtf{engine=\"a\"} 0.5\nasr_router_engine_decode_seconds_sum{engine=\"a\"} 1\n",
        );
        let after = parse_metrics(
            "asr_router_engine_rtf{engine=\"a\"} 0.25\nasr_router_engine_decode_seconds_sum{engine=\"a\"} 2\nasr_router_sessions_refused_total 3\n",
        );
        let w = window(&before, &after);
        // audio: 1/0.5 = 2 s before, 2/0.25 = 8 s after → 6 s for 1 s of compute
        assert!((w.total.audio_s - 6.0).abs() < 1e-9);
        assert!((w.total.rtf.unwrap_or(0.0) - 1.0 / 6.0).abs() < 1e-9);
        assert_eq!(w.sessions_refused, Some(3.0));
    }

    #[test]
    fn exact_counters_win_over_the_gauge() {
        let before = parse_metrics(
            "asr_router_engine_rtf{engine=\"a\"} 0.5\nasr_router_engine_decode_seconds_sum{engine=\"a\"} 1\n\
             asr_router_engine_compute_seconds_total{engine=\"a\"} 1.000250\nasr_router_engine_audio_seconds_total{engine=\"a\"} 2\n\
             asr_router_engine_compute_seconds_total{engine=\"b\"} 0\nasr_router_engine_audio_seconds_total{engine=\"b\"} 0\n",
        );
        let after = parse_metrics(
            "asr_router_engine_rtf{engine=\"a\"} 0.25\nasr_router_engine_decode_seconds_sum{engine=\"a\"} 2\n\
             asr_router_engine_compute_seconds_total{engine=\"a\"} 1.500250\nasr_router_engine_audio_seconds_total{engine=\"a\"} 12\n\
             asr_router_engine_compute_seconds_total{engine=\"b\"} 0.5\nasr_router_engine_audio_seconds_total{engine=\"b\"} 5\n",
        );
        let w = window(&before, &after);
        let a = &w.engines["a"];
        assert!((a.compute_s - 0.5).abs() < 1e-9 && (a.audio_s - 10.0).abs() < 1e-9);
        assert!((a.rtf.unwrap_or(0.0) - 0.05).abs() < 1e-9);
        assert!((w.engines["b"].rtf.unwrap_or(0.0) - 0.1).abs() < 1e-9);
        // all engines: 1 s of compute for 15 s of audio
        assert!((w.total.rtf.unwrap_or(0.0) - 1.0 / 15.0).abs() < 1e-9);
    }

    #[test]
    fn histogram_percentiles_interpolate_inside_buckets() {
        let h = |c: [u32; 4], sum: f64| {
            parse_metrics(&format!(
                "h_bucket{{le=\"0.1\"}} {}\nh_bucket{{le=\"0.2\"}} {}\nh_bucket{{le=\"0.5\"}} {}\nh_bucket{{le=\"+Inf\"}} {}\nh_sum {sum}\nh_count {}\n",
                c[0], c[1], c[2], c[3], c[3]
            ))
        };
        // the window: 10 observations ≤ 0.1 s, 10 in (0.1, 0.2], none above (cumulative 10, 20, 20, 20)
        let before = h([5, 5, 5, 5], 0.25);
        let after = h([15, 25, 25, 25], 2.25);
        let d = histogram_window(&before, &after, "h").expect("the histogram is there");
        assert_eq!(d.count, 20.0);
        assert!((d.mean.unwrap_or(0.0) - 100.0).abs() < 1e-9);
        // rank 10 is the top of the first bucket; rank 19 is 9/10 into the second
        assert!((d.p50.unwrap_or(0.0) - 100.0).abs() < 1e-9);
        assert!((d.p95.unwrap_or(0.0) - 190.0).abs() < 1e-9);
        // past the last finite bound: that bound
        let tail = histogram_window(&before, &h([5, 5, 5, 25], 20.0), "h").expect("there");
        assert_eq!(tail.p95, Some(500.0));
        assert!(histogram_window(&before, &after, "other").is_none());
        let none = histogram_window(&before, &before, "h").expect("there");
        assert_eq!((none.count, none.p50), (0.0, None));
    }

    #[test]
    fn http_and_chunks() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(r), Ok((200, "abcde".to_string())));
    }

    #[tokio::test]
    async fn loopback_only() {
        assert!(Target::parse("http://127.0.0.1:1").await.is_ok());
        assert!(Target::parse("ws://[::1]:8080/x").await.is_ok());
        assert!(Target::parse("http://10.0.0.1:1").await.is_err());
        assert!(Target::parse("https://127.0.0.1:1").await.is_err());
        assert!(Target::parse("http://example.com").await.is_err());
        assert_eq!(
            Target::parse("http://127.0.0.1:18081/")
                .await
                .map(|t| t.ws_url())
                .ok()
                .as_deref(),
            Some("ws://127.0.0.1:18081/v1/realtime?intent=transcription")
        );
    }
}
