//! `asr-router-loadtest`: concurrent OpenAI-Realtime transcription sessions against a loopback
//! asr-router, with latency, accuracy and server-cost reports (single run, `--sweep`, `--soak`).
//!
//! Metric definitions are in `loadtest/README.md`.

mod manifest;
mod plot;
mod report;
mod server;
mod session;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::manifest::Corpus;
use crate::plot::{Chart, Series};
use crate::report::{RunReport, StepReport};
use crate::server::{ProcSample, Target};
use crate::session::{Outcome, Plan, SessionResult};

/// Seconds after `--duration` at which every session is dropped.
const HARD_STOP_S: f64 = 30.0;
/// RSS sampling period in `--soak` mode.
const SOAK_SAMPLE_S: f64 = 10.0;

/// Load generator for asr-router's Realtime transcription endpoint (loopback servers only).
#[derive(Debug, Parser)]
#[command(name = "asr-router-loadtest", version)]
struct Cli {
    /// Server base URL (http:// or ws://; 127.0.0.0/8, localhost or ::1 only).
    #[arg(long, default_value = "http://127.0.0.1:18081")]
    url: String,
    /// API key, sent as `Authorization: Bearer`.
    #[arg(long, env = "ASR_ROUTER_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Eval manifest (JSON lines: path, lang, text, duration_s, tags).
    #[arg(long)]
    manifest: PathBuf,
    /// Only rows of this language (default: all; sessions are spread over the languages).
    #[arg(long)]
    lang: Option<String>,
    /// Concurrent sessions (single run and soak).
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// Seconds each run (or sweep step) streams audio; sessions stop at +30 s whatever happens.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds over which the sessions of a run are started.
    #[arg(long, default_value_t = 5.0)]
    ramp: f64,
    /// Pace of the audio relative to real time.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// `transcription.model` sent in `session.update`.
    #[arg(long, default_value = "auto")]
    model: String,
    /// `transcription.delay` sent in `session.update` (`minimal` … `xhigh`: how many drafts must
    /// agree on a word before it is sent); unset: not sent, the server's default.
    #[arg(long)]
    delay: Option<String>,
    /// Write the full report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a latency-vs-concurrency plot (soak: RSS over time) here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Server process id, for CPU% and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Run successive steps at these concurrencies, e.g. 1,2,4,8.
    #[arg(long, value_delimiter = ',', conflicts_with = "soak")]
    sweep: Option<Vec<usize>>,
    /// One long run at --sessions that samples the server's RSS every 10 s (needs --server-pid).
    #[arg(long)]
    soak: bool,
    /// Sweep limit: p95 of speech_stopped → completed, ms.
    #[arg(long, default_value_t = 1500.0)]
    max_p95_final_ms: f64,
    /// Sweep limit: p95 partial staleness, ms (0: off).
    #[arg(long, default_value_t = 500.0)]
    max_p95_staleness_ms: f64,
    /// Sweep limit: p95 first delta, ms (0: off).
    #[arg(long, default_value_t = 0.0)]
    max_p95_first_delta_ms: f64,
    /// Sweep limit: p95 partial refresh, the server's re-decode cadence from /metrics, ms (0: off).
    #[arg(long, default_value_t = 0.0)]
    max_p95_refresh_ms: f64,
    /// Pause between sweep steps, seconds (lets the server drain).
    #[arg(long, default_value_t = 3.0)]
    pause: f64,
}

/// What every step shares.
struct Ctx {
    cli: Cli,
    target: Target,
    corpus: Corpus,
    clk_tck: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !(cli.duration > 0.0 && cli.duration <= 7.0 * 86_400.0) {
        bail!("--duration must be in (0, 604800] seconds");
    }
    if !(cli.ramp >= 0.0 && cli.ramp.is_finite()) {
        bail!("--ramp must be >= 0");
    }
    if !(cli.speed > 0.0 && cli.speed <= 50.0) {
        bail!("--speed must be in (0, 50]");
    }
    let steps: Vec<usize> = cli.sweep.clone().unwrap_or_else(|| vec![cli.sessions]);
    if steps.is_empty() || steps.iter().any(|&n| n == 0 || n > 4096) {
        bail!("concurrency must be in 1..=4096");
    }
    if cli.soak && cli.server_pid.is_none() {
        bail!("--soak needs --server-pid to sample RSS");
    }
    let target = Target::parse(&cli.url).await.map_err(anyhow::Error::msg)?;
    let corpus = manifest::load(&cli.manifest, cli.lang.as_deref()).map_err(anyhow::Error::msg)?;
    if corpus.by_lang.is_empty() {
        bail!(
            "no usable rows in {} (skipped: {:?})",
            cli.manifest.display(),
            corpus.skipped
        );
    }
    let recordings: BTreeMap<String, usize> = corpus.by_lang.iter().map(|(l, v)| (l.clone(), v.len())).collect();
    eprintln!("recordings per language: {recordings:?}; skipped: {:?}", corpus.skipped);
    let mode = if cli.soak {
        "soak"
    } else if cli.sweep.is_some() {
        "sweep"
    } else {
        "single"
    };
    let ctx = Ctx {
        target,
        corpus,
        clk_tck: server::clk_tck(),
        cli,
    };
    let mut run = RunReport {
        mode,
        url: ctx.cli.url.clone(),
        ramp_s: ctx.cli.ramp,
        speed: ctx.cli.speed,
        manifest: ctx.cli.manifest.display().to_string(),
        recordings,
        skipped: ctx.corpus.skipped.clone(),
        steps: Vec::new(),
        sweep: None,
    };
    for (i, &n) in steps.iter().enumerate() {
        if i > 0 && ctx.cli.pause > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ctx.cli.pause)).await;
        }
        eprintln!(
            "step {}/{}: {n} session(s) for {:.0} s",
            i + 1,
            steps.len(),
            ctx.cli.duration
        );
        let step = run_step(&ctx, n).await;
        println!("{}", report::summary(&step));
        if let (Some(a), Some(b)) = (step.rss_series.first(), step.rss_series.last()) {
            println!(
                "soak       RSS {:.0} MiB at {:.0} s → {:.0} MiB at {:.0} s ({:+.0} MiB), {} samples",
                a.rss_mib,
                a.t_s,
                b.rss_mib,
                b.t_s,
                b.rss_mib - a.rss_mib,
                step.rss_series.len()
            );
        }
        run.steps.push(step);
        if mode == "sweep" {
            run.sweep = Some(report::verdict(limits(&ctx.cli), &run.steps));
            write_outputs(&ctx.cli, &run)?;
        }
    }
    if let Some(v) = &run.sweep {
        let limits = report::limits_text(&v.limits);
        match v.best_concurrency {
            Some(b) => println!("sweep: largest concurrency with {limits}: {b} (passed: {:?})", v.passed),
            None => println!("sweep: no step kept {limits}"),
        }
        for (n, why) in &v.failed {
            println!("       {n} session(s): {}", why.join("; "));
        }
    }
    write_outputs(&ctx.cli, &run)
}

fn limits(cli: &Cli) -> report::SweepLimits {
    report::SweepLimits {
        max_p95_final_ms: cli.max_p95_final_ms,
        max_p95_staleness_ms: cli.max_p95_staleness_ms,
        max_p95_first_delta_ms: cli.max_p95_first_delta_ms,
        max_p95_refresh_ms: cli.max_p95_refresh_ms,
    }
}

fn write_outputs(cli: &Cli, run: &RunReport) -> anyhow::Result<()> {
    if let Some(p) = &cli.json {
        let text = serde_json::to_string_pretty(run)?;
        std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &cli.svg {
        let chart = if cli.soak {
            rss_chart(run)
        } else {
            latency_chart(cli, run)
        };
        std::fs::write(p, chart.render()).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn latency_chart(cli: &Cli, run: &RunReport) -> Chart {
    let series = |name: &str, color: &'static str, f: fn(&StepReport) -> Option<f64>| Series {
        name: name.into(),
        color,
        points: run
            .steps
            .iter()
            .filter_map(|s| f(s).map(|y| (s.concurrency as f64, y)))
            .collect(),
        dashed: false,
    };
    let xs: Vec<f64> = run.steps.iter().map(|s| s.concurrency as f64).collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let limit = |name: String, color, y: f64| Series {
        name,
        color,
        points: vec![(lo, y), (hi, y)],
        dashed: true,
    };
    let mut s = vec![
        series("final p50", "#1f77b4", |s| s.latency_ms.final_.p50),
        series("final p95", "#d62728", |s| s.latency_ms.final_.p95),
        series("first delta p95", "#2ca02c", |s| s.latency_ms.first_delta.p95),
        series("staleness p95", "#9467bd", |s| s.latency_ms.partial_staleness.p95),
        series("partial refresh p95", "#ff7f0e", |s| {
            s.server
                .as_ref()
                .and_then(|m| m.partial_refresh_ms.as_ref())
                .and_then(|r| r.p95)
        }),
    ];
    if run.sweep.is_some() && hi > lo {
        s.push(limit(
            format!("final limit {:.0}", cli.max_p95_final_ms),
            "#d62728",
            cli.max_p95_final_ms,
        ));
        for (name, color, y) in [
            ("staleness", "#9467bd", cli.max_p95_staleness_ms),
            ("first delta", "#2ca02c", cli.max_p95_first_delta_ms),
            ("refresh", "#ff7f0e", cli.max_p95_refresh_ms),
        ] {
            if y > 0.0 {
                s.push(limit(format!("{name} limit {y:.0}"), color, y));
            }
        }
    }
    Chart {
        title: format!(
            "asr-router realtime latency vs concurrency ({:.0} s per step)",
            cli.duration
        ),
        x_label: "concurrent sessions".into(),
        y_label: "latency (ms)".into(),
        log2_x: hi >= 4.0 * lo,
        series: s,
    }
}

fn rss_chart(run: &RunReport) -> Chart {
    let samples: Vec<&ProcSample> = run.steps.iter().flat_map(|s| s.rss_series.iter()).collect();
    Chart {
        title: format!(
            "asr-router RSS during soak ({} sessions)",
            run.steps.first().map_or(0, |s| s.concurrency)
        ),
        x_label: "time (s)".into(),
        y_label: "MiB".into(),
        log2_x: false,
        series: vec![
            Series {
                name: "VmRSS".into(),
                color: "#1f77b4",
                points: samples.iter().map(|p| (p.t_s, p.rss_mib)).collect(),
                dashed: false,
            },
            Series {
                name: "VmHWM".into(),
                color: "#ff7f0e",
                points: samples.iter().map(|p| (p.t_s, p.hwm_mib)).collect(),
                dashed: true,
            },
        ],
    }
}

async fn fetch_metrics(ctx: &Ctx) -> Result<server::Samples, String> {
    match ctx.target.get("/metrics", &ctx.cli.api_key).await? {
        (200, body) => Ok(server::parse_metrics(&body)),
        (code, _) => Err(format!("GET /metrics answered {code}")),
    }
}

/// Longest wait for the server to drain the previous step's work.
const DRAIN_MAX_S: u64 = 60;

/// Waits (at most [`DRAIN_MAX_S`]) until `/metrics` shows no live session and empty engine
/// queues, so that a step does not pay for its predecessor's backlog. Returns the seconds waited.
async fn drain(ctx: &Ctx) -> f64 {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(DRAIN_MAX_S) {
        let Ok(m) = fetch_metrics(ctx).await else {
            break;
        };
        let busy: f64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("asr_router_queue_depth") || k.as_str() == "asr_router_live_sessions")
            .map(|(_, v)| *v)
            .sum();
        if busy <= 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    t.elapsed().as_secs_f64()
}

/// Runs `n` sessions for `--duration` and reports on them.
async fn run_step(ctx: &Ctx, n: usize) -> StepReport {
    let cli = &ctx.cli;
    let drain_s = drain(ctx).await;
    if drain_s >= 1.0 {
        eprintln!("waited {drain_s:.1} s for the server to drain");
    }
    let before = fetch_metrics(ctx).await;
    let t0 = Instant::now();
    let stop_at = t0 + Duration::from_secs_f64(cli.duration);
    let hard_stop = stop_at + Duration::from_secs_f64(HARD_STOP_S);
    let ramp = cli.ramp.min(cli.duration);
    let langs: Vec<(&String, &Vec<Arc<manifest::Recording>>)> = ctx.corpus.by_lang.iter().collect();
    let mut set = JoinSet::new();
    for i in 0..n {
        let (lang, recs) = langs[i % langs.len()];
        let mut order = recs.clone();
        order.rotate_left((i / langs.len()) % recs.len().max(1));
        set.spawn(session::run(Plan {
            index: i,
            ws_url: ctx.target.ws_url(),
            api_key: cli.api_key.clone(),
            model: cli.model.clone(),
            lang: lang.clone(),
            delay: cli.delay.clone(),
            recordings: order,
            speed: cli.speed,
            start_at: t0 + Duration::from_secs_f64(ramp * i as f64 / n as f64),
            stop_at,
            hard_stop,
        }));
    }

    let mut results: Vec<SessionResult> = Vec::with_capacity(n);
    let mut samples: Vec<ProcSample> = Vec::new();
    let mut series: Vec<ProcSample> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let give_up = tokio::time::sleep_until(hard_stop + Duration::from_secs(5));
    tokio::pin!(give_up);
    let mut next_soak = 0.0;
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                None => break,
                Some(Ok(res)) => results.push(res),
                Some(Err(e)) => results.push(lost(format!("session task: {e}"))),
            },
            _ = tick.tick() => {
                if let Some(pid) = cli.server_pid {
                    let t = t0.elapsed().as_secs_f64();
                    if let Some(mut s) = server::read_proc(pid, ctx.clk_tck, t) {
                        if let Some(prev) = samples.last() {
                            let dt = s.t_s - prev.t_s;
                            s.cpu_pct = (dt > 0.0).then(|| (s.cpu_s - prev.cpu_s) / dt * 100.0);
                        }
                        if cli.soak && t >= next_soak {
                            series.push(s);
                            next_soak += SOAK_SAMPLE_S;
                            if series.len() % 6 == 1 {
                                eprintln!(
                                    "t={t:.0} s  sessions done {}/{n}  RSS {:.0} MiB  CPU {}%",
                                    results.len(),
                                    s.rss_mib,
                                    s.cpu_pct.map_or("-".into(), |c| format!("{c:.0}"))
                                );
                            }
                        }
                        samples.push(s);
                    }
                }
            }
            _ = &mut give_up => {
                set.abort_all();
                while let Some(r) = set.join_next().await {
                    results.push(match r {
                        Ok(res) => res,
                        Err(_) => lost("aborted at the hard stop".into()),
                    });
                }
                break;
            }
        }
    }
    if let Some(pid) = cli.server_pid
        && let Some(mut s) = server::read_proc(pid, ctx.clk_tck, t0.elapsed().as_secs_f64())
    {
        if let Some(prev) = samples.last() {
            let dt = s.t_s - prev.t_s;
            s.cpu_pct = (dt > 0.0).then(|| (s.cpu_s - prev.cpu_s) / dt * 100.0);
        }
        if cli.soak {
            series.push(s);
        }
        samples.push(s);
    }
    let wall = t0.elapsed().as_secs_f64();
    let mut step = report::aggregate(n, cli.duration, wall, &results);
    step.drain_wait_s = drain_s;
    match (before, fetch_metrics(ctx).await) {
        (Ok(b), Ok(a)) => step.server = Some(server::window(&b, &a)),
        (Err(e), _) | (_, Err(e)) => step.metrics_error = Some(e),
    }
    if let Some(m) = &step.server
        && step.audio_sent_s > 0.0
    {
        step.compute_per_streamed_s = Some(m.total.compute_s / step.audio_sent_s);
    }
    step.process = report::proc_window(&samples);
    step.rss_series = series;
    step
}

fn lost(why: String) -> SessionResult {
    let mut r = SessionResult::new();
    r.outcome = Outcome::Failed(why);
    r
}
