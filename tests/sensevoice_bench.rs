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
                }
            }
        }
    }
}
