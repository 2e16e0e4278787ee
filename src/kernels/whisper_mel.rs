//! Whisper's log-mel front end: 80 (or 128) Slaney mel bands of a 400-point Hann STFT with a
//! 160-sample hop over a zero-padded 30 s window, `log10`, clamped to 8 below the window's
//! maximum and scaled as `(x + 4) / 4`. Matches OpenAI's `log_mel_spectrogram`.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Samples per STFT frame.
pub const N_FFT: usize = 400;
/// Samples between frames.
pub const HOP: usize = 160;
/// Samples in one 30 s window.
pub const N_SAMPLES: usize = 480_000;
/// Frames in one 30 s window.
pub const N_FRAMES: usize = 3000;

/// A reusable log-mel extractor (filters, window and FFT plan computed once).
pub struct WhisperMel {
    n_mels: usize,
    filters: Vec<f32>, // n_mels x (N_FFT/2+1), row-major
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl WhisperMel {
    /// An extractor for `n_mels` bands (80 for most Whisper models, 128 for large-v3).
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
            .map(|w| w as f32)
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            n_mels,
            filters: slaney_filters(16_000.0, N_FFT, n_mels),
            window,
            fft,
        }
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Features of one full window: up to 30 s of samples, zero-padded; written into `out`
    /// (`n_mels x N_FRAMES`, row-major), which must have that length.
    pub fn compute_into(&self, samples: &[f32], out: &mut [f32]) {
        self.compute_frames_into(samples, out, N_FRAMES);
    }

    /// Like [`compute_into`](Self::compute_into) for the first `n_frames` frames only (a shorter
    /// encoder window, used for fast provisional decodes); `out` is `n_mels x n_frames`.
    pub fn compute_frames_into(&self, samples: &[f32], out: &mut [f32], n_frames: usize) {
        let n_frames = n_frames.min(N_FRAMES);
        let n_bins = N_FFT / 2 + 1;
        let samples = &samples[..samples.len().min(N_SAMPLES)];
        // centre padding: reflect 200 samples at the start; the 30 s window is zero-padded after.
        let pad = N_FFT / 2;
        let total = N_SAMPLES + 2 * pad;
        let at = |i: usize| -> f32 {
            // index into the reflect-padded, zero-extended signal
            let j = i as isize - pad as isize;
            let padded_len = N_SAMPLES as isize;
            let k = if j < 0 {
                -j
            } else if j >= padded_len {
                2 * (padded_len - 1) - j
            } else {
                j
            };
            samples.get(k as usize).copied().unwrap_or(0.0)
        };
        let mut frame = vec![0f32; N_FFT];
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; n_bins];
        let mut max = f32::NEG_INFINITY;
        debug_assert!(total >= N_FRAMES * HOP);
        for t in 0..n_frames {
            let start = t * HOP;
            if start >= samples.len() + pad + N_FFT {
                // all-zero frame: log10(1e-10) = -10
                for m in 0..self.n_mels {
                    out[m * n_frames + t] = -10.0;
                }
                max = max.max(-10.0);
                continue;
            }
            for (i, f) in frame.iter_mut().enumerate() {
                *f = at(start + i) * self.window[i];
            }
            let _ = self.fft.process_with_scratch(&mut frame, &mut spec, &mut scratch);
            for (p, c) in power.iter_mut().zip(spec.iter()) {
                *p = c.re * c.re + c.im * c.im;
            }
            for m in 0..self.n_mels {
                let row = &self.filters[m * n_bins..(m + 1) * n_bins];
                let e: f32 = row.iter().zip(power.iter()).map(|(a, b)| a * b).sum();
                let v = e.max(1e-10).log10();
                max = max.max(v);
                out[m * n_frames + t] = v;
            }
        }
        let floor = max - 8.0;
        for v in out[..self.n_mels * n_frames].iter_mut() {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
    }
}

fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// librosa's `mel(sr, n_fft, n_mels, htk=False, norm="slaney")` filter bank, `n_mels x
/// (n_fft/2+1)`, row-major.
pub fn slaney_filters(sr: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * sr / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut w = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[m]) / (mel_f[m + 1] - mel_f[m]);
            let upper = (mel_f[m + 2] - f) / (mel_f[m + 2] - mel_f[m + 1]);
            w[m * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_cover_the_band_and_are_normalised() {
        let f = slaney_filters(16_000.0, N_FFT, 80);
        let n_bins = N_FFT / 2 + 1;
        for m in 0..80 {
            let row = &f[m * n_bins..(m + 1) * n_bins];
            assert!(row.iter().any(|&x| x > 0.0), "band {m} empty");
        }
        // first filter's peak: librosa gives 0.0247 for these settings
        let peak = f[..n_bins].iter().cloned().fold(0.0, f32::max);
        assert!((peak - 0.0247).abs() < 0.001, "{peak}");
    }

    #[test]
    fn tone_lands_in_the_right_band_and_silence_is_floor() {
        let mel = WhisperMel::new(80);
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let mut out = vec![0f32; 80 * N_FRAMES];
        mel.compute_into(&tone, &mut out);
        let col = 50;
        let best = (0..80)
            .max_by(|&a, &b| out[a * N_FRAMES + col].total_cmp(&out[b * N_FRAMES + col]))
            .unwrap();
        // 1 kHz is mel band ~ 1000/ (8000) of the Slaney scale: band index near 28 of 80
        assert!((25..=31).contains(&best), "best band {best}");
        assert!(out.iter().all(|v| v.is_finite()));
        // the padded tail is at the clamp floor
        let tail = out[10 * N_FRAMES + 2999];
        let floor = out.iter().cloned().fold(f32::INFINITY, f32::min);
        assert_eq!(tail, floor);
    }
}
