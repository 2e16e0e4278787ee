//! A power mel spectrogram as librosa's `feature.melspectrogram` computes it with its defaults:
//! Hann window (periodic) of `n_fft` samples, `hop` samples apart, centred frames (the signal is
//! zero-padded by `n_fft / 2` on both sides, librosa ≥ 0.10's `pad_mode="constant"`), power 2,
//! Slaney mel filters, **no log**. Output is frames × bands, row-major; a signal of `n` samples
//! gives `1 + n / hop` frames. Used by the GE2E speaker embedder (40 bands, n_fft 400, hop 160).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// A reusable power-mel extractor (filters, window and FFT plan computed once).
pub struct PowerMel {
    n_fft: usize,
    hop: usize,
    n_mels: usize,
    filters: Vec<f32>, // n_mels x (n_fft/2+1)
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl PowerMel {
    /// An extractor for `n_mels` bands of an `n_fft`-point STFT with hop `hop` at `sample_rate`.
    pub fn new(sample_rate: f64, n_fft: usize, hop: usize, n_mels: usize) -> Self {
        let window = (0..n_fft)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos()) as f32)
            .collect();
        Self {
            n_fft,
            hop,
            n_mels,
            filters: super::whisper_mel::slaney_filters(sample_rate, n_fft, n_mels),
            window,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(n_fft),
        }
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Frames produced for `n` samples.
    pub fn num_frames(&self, n: usize) -> usize {
        1 + n / self.hop
    }

    /// The spectrogram of `samples`: `num_frames(len) x n_mels`, row-major.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let n_frames = self.num_frames(samples.len());
        let n_bins = self.n_fft / 2 + 1;
        let pad = self.n_fft / 2;
        let mut out = vec![0f32; n_frames * self.n_mels];
        let mut frame = vec![0f32; self.n_fft];
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; n_bins];
        for t in 0..n_frames {
            // Frame t covers padded samples [t*hop, t*hop + n_fft), i.e. signal samples shifted by -pad.
            let start = (t * self.hop) as isize - pad as isize;
            for (i, f) in frame.iter_mut().enumerate() {
                let j = start + i as isize;
                let x = if j >= 0 {
                    samples.get(j as usize).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                *f = x * self.window[i];
            }
            // realfft only fails on wrong buffer lengths, which are fixed at construction.
            if self
                .fft
                .process_with_scratch(&mut frame, &mut spec, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.re * c.re + c.im * c.im;
            }
            let row = &mut out[t * self.n_mels..(t + 1) * self.n_mels];
            for (m, r) in row.iter_mut().enumerate() {
                let w = &self.filters[m * n_bins..(m + 1) * n_bins];
                *r = w.iter().zip(&power).map(|(a, b)| a * b).sum();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_follows_librosa_centring() {
        let m = PowerMel::new(16_000.0, 400, 160, 40);
        assert_eq!(m.compute(&vec![0.0; 16_000]).len(), 101 * 40);
        assert_eq!(m.num_frames(0), 1);
        assert_eq!(m.compute(&[]).len(), 40);
    }

    #[test]
    fn tone_energy_lands_in_its_band_and_scales_with_power() {
        let m = PowerMel::new(16_000.0, 400, 160, 40);
        let tone = |amp: f32| -> Vec<f32> {
            (0..8_000)
                .map(|i| amp * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
                .collect()
        };
        let a = m.compute(&tone(0.1));
        let b = m.compute(&tone(0.2));
        let t = 20;
        let row = &a[t * 40..(t + 1) * 40];
        let best = (0..40).max_by(|&x, &y| row[x].total_cmp(&row[y])).unwrap();
        // 1 kHz on a 40-band Slaney scale up to 8 kHz: band 14 or 15.
        assert!((13..=16).contains(&best), "best band {best}");
        // power spectrum: doubling the amplitude quadruples every band
        let ratio = b[t * 40 + best] / a[t * 40 + best];
        assert!((ratio - 4.0).abs() < 1e-3, "{ratio}");
        assert!(a.iter().all(|v| v.is_finite() && *v >= 0.0));
    }
}
