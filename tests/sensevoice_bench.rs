//! SenseVoice decode-time benchmark (ignored by default).
//!
//! ```text
//! ASR_ROUTER_SV_BENCH_MODEL=models/sv-parity/full/sherpa ORT_DYLIB_PATH=$PWD/models/lib/libonnxruntime.so.1.31.1 \
//!   cargo test --release --test sensevoice_bench -- --ignored --nocapture
//! ```
//! Optional: `ASR_ROUTER_SV_BENCH_WINDOWS` (seconds, default `1,2,4,6,10`),
//! `ASR_ROUTER_SV_BENCH_BATCHES` (default `1,4,8`), `ASR_ROUTER_SV_BENCH_THREADS` (default
//! `1,2`), `ASR_ROUTER_SV_BENCH_REPS` (default 5). Prints one line per configuration with the
//! median wall time of `Recognizer::recognize` (features included) per batch.
//!
//! Peer: with `ASR_ROUTER_SV_BENCH_PEER_PYTHON` set to a Python that has `sherpa-onnx` (the venv of
//! `tools/sensevoice-parity-setup.sh`), `tools/sensevoice_peer.py` decodes the same model files and
//! the same audio (written to a WAV) with sherpa-onnx's own pipeline right after, and a second
//! table gives its median and the ratio peer / ours (> 1: we are faster).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use asr_router::engine::recognizer::{DecodeOptions, Recognizer, Utterance};
use asr_router::engine::sensevoice::{self, Precision, SenseVoice, SenseVoiceConfig};

fn list(var: &str, default: &str) -> Vec<f64> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

#[test]
#[ignore = "benchmark: needs a full-size model (ASR_ROUTER_SV_BENCH_MODEL)"]
fn sensevoice_decode_time() {
    let dir = PathBuf::from(std::env::var("ASR_ROUTER_SV_BENCH_MODEL").expect("set ASR_ROUTER_SV_BENCH_MODEL"));
    let lib = std::env::var("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lib/libonnxruntime.so.1.31.1"));
    let env = ort::init_from(&lib)
        .expect("load ONNX Runtime")
        .build()
        .expect("environment");
    sensevoice::register_ort_environment(env);
    let reps = list("ASR_ROUTER_SV_BENCH_REPS", "5")[0] as usize;
    // Deterministic speech-like noise: amplitude-modulated harmonics plus noise.
    let audio: Vec<f32> = (0..16000 * 10)
        .map(|i| {
            let t = i as f32 / 16000.0;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
            let h: f32 = (1..6)
                .map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin() / k as f32)
                .sum();
            let n = ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            0.1 * env * h + 0.01 * n
        })
        .collect();
    let mut ours: Vec<(String, usize, f64, usize, f64)> = Vec::new();
    println!("precision threads window_s batch median_ms per_utt_ms rtf");
    for precision in [Precision::Fp32, Precision::Int8] {
        for threads in list("ASR_ROUTER_SV_BENCH_THREADS", "1,2") {
            let cfg = SenseVoiceConfig {
                num_threads: threads as usize,
                precision,
                max_batch: 64,
                ..Default::default()
            };
            let sv = SenseVoice::load_with(&dir, &cfg).expect("load model");
            for window in list("ASR_ROUTER_SV_BENCH_WINDOWS", "1,2,4,6,10") {
                let samples: Arc<[f32]> = Arc::from(&audio[..(window * 16000.0) as usize]);
                for batch in list("ASR_ROUTER_SV_BENCH_BATCHES", "1,4,8") {
                    let utts: Vec<Utterance> = (0..batch as usize)
                        .map(|_| Utterance {
                            samples: samples.clone(),
                            options: DecodeOptions::default(),
                        })
                        .collect();
                    let _ = sv.recognize(&utts);
                    let mut times: Vec<f64> = (0..reps)
                        .map(|_| {
                            let t0 = Instant::now();
                            let out = sv.recognize(&utts);
                            assert!(out.iter().all(|r| r.is_ok()));
                            t0.elapsed().as_secs_f64() * 1000.0
                        })
                        .collect();
                    times.sort_by(f64::total_cmp);
                    let med = times[times.len() / 2];
                    println!(
                        "{precision:?} {threads} {window} {batch} {med:.1} {:.1} {:.4}",
                        med / batch,
                        med / 1000.0 / (window * batch)
                    );
                    let name = format!("{precision:?}").to_lowercase();
                    ours.push((name, threads as usize, window, batch as usize, med));
                }
            }
        }
    }
    if let Ok(python) = std::env::var("ASR_ROUTER_SV_BENCH_PEER_PYTHON") {
        peer_table(&python, &dir, &audio, reps, &ours);
    }
}

/// Runs `tools/sensevoice_peer.py` on the same model and audio and prints peer time and ratio.
fn peer_table(python: &str, dir: &Path, audio: &[f32], reps: usize, ours: &[(String, usize, f64, usize, f64)]) {
    let wav = std::env::temp_dir().join(format!("sv-bench-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).expect("create wav");
    for &x in audio {
        w.write_sample((x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
            .expect("write wav");
    }
    w.finalize().expect("finish wav");
    let join = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v.dedup();
        v.join(",")
    };
    let precisions = join(ours.iter().map(|r| r.0.clone()).collect());
    let threads = join(ours.iter().map(|r| r.1.to_string()).collect());
    let windows = list("ASR_ROUTER_SV_BENCH_WINDOWS", "1,2,4,6,10");
    let batches = list("ASR_ROUTER_SV_BENCH_BATCHES", "1,4,8");
    let csv = |v: &[f64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/sensevoice_peer.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(dir)
        .arg(&wav)
        .args([csv(&windows), csv(&batches), threads, precisions, reps.to_string()])
        .output()
        .expect("run sensevoice_peer.py");
    let _ = std::fs::remove_file(&wav);
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("peer (sherpa-onnx): precision threads window_s batch peer_ms ours_ms peer/ours");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("peer json");
        let (p, t, w, b) = (
            v["precision"].as_str().unwrap_or_default(),
            v["threads"].as_u64().unwrap_or_default() as usize,
            v["window_s"].as_f64().unwrap_or_default(),
            v["batch"].as_u64().unwrap_or_default() as usize,
        );
        let peer = v["median_ms"].as_f64().unwrap_or(f64::NAN);
        let mine = ours
            .iter()
            .find(|r| r.0 == p && r.1 == t && r.2 == w && r.3 == b)
            .map_or(f64::NAN, |r| r.4);
        println!("{p} {t} {w} {b} {peer:.1} {mine:.1} {:.2}", peer / mine);
    }
}
