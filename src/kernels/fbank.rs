//! Kaldi-compatible log-mel filterbank ("fbank") features, as used by FunASR's `WavFrontend`
//! and sherpa-onnx's SenseVoice front end (both through `kaldi-native-fbank`).
//!
//! Per frame: take `frame_length` samples (scaled, e.g. to the int16 range), remove the DC
//! offset, pre-emphasise (0.97), apply the window (Hamming for SenseVoice), zero-pad to the
//! next power of two, take the power spectrum (all in `f32`; the FFT is
//! [`super::kiss_rfft`], which rounds exactly like kaldi-native-fbank's), apply triangular
//! mel filters (Kaldi's mel scale `1127 ln(1 + f/700)`, 20 Hz to Nyquist) and the natural
//! log (floored at `f32::EPSILON`).
//! Frames follow Kaldi's `snip_edges = true` rule: frame `i` covers samples
//! `[i * shift, i * shift + length)` and only complete frames exist. Dither is always 0.
//!
//! [`OnlineFbank`] computes frames incrementally for a growing buffer: each call computes only
//! the frames completed by the new samples. After construction no memory is allocated per
//! frame (only the feature matrix grows, once per call).

use std::fmt;

use super::kiss_rfft::{Cpx, KissRealFft};

/// The analysis window applied to each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `0.54 - 0.46 cos(2 pi n / (N - 1))` (FunASR, SenseVoice).
    Hamming,
    /// `0.5 - 0.5 cos(2 pi n / (N - 1))`.
    Hanning,
    /// Kaldi's default: Hanning raised to the power 0.85.
    Povey,
}

/// Options of the filterbank, named after Kaldi's `FbankOptions`.
#[derive(Debug, Clone, PartialEq)]
pub struct FbankOptions {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of mel bins.
    pub num_bins: usize,
    /// Frame length in milliseconds.
    pub frame_length_ms: f32,
    /// Frame shift in milliseconds.
    pub frame_shift_ms: f32,
    /// Window function.
    pub window: Window,
    /// Factor applied to input samples before anything else (32768 turns [-1, 1] audio into
    /// the int16 range that FunASR/SenseVoice models were trained on; 1 keeps the input as is).
    pub sample_scale: f32,
    /// Pre-emphasis coefficient.
    pub preemph_coeff: f32,
    /// Whether to subtract each frame's mean first.
    pub remove_dc_offset: bool,
    /// Lowest mel filter edge in Hz.
    pub low_freq: f32,
    /// Highest mel filter edge in Hz; values <= 0 are taken relative to Nyquist (Kaldi rule).
    pub high_freq: f32,
}

impl FbankOptions {
    /// The SenseVoice/FunASR front end: 16 kHz, 80 bins, 25 ms / 10 ms, Hamming, int16 scale.
    pub fn sensevoice() -> Self {
        Self {
            sample_rate: 16_000,
            num_bins: 80,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            window: Window::Hamming,
            sample_scale: 32768.0,
            preemph_coeff: 0.97,
            remove_dc_offset: true,
            low_freq: 20.0,
            high_freq: 0.0,
        }
    }

    /// Frame length in samples.
    pub fn frame_length(&self) -> usize {
        (self.sample_rate as f32 * self.frame_length_ms / 1000.0).round() as usize
    }

    /// Frame shift in samples.
    pub fn frame_shift(&self) -> usize {
        (self.sample_rate as f32 * self.frame_shift_ms / 1000.0).round() as usize
    }

    /// Number of complete frames in `num_samples` samples (`snip_edges = true`).
    pub fn num_frames(&self, num_samples: usize) -> usize {
        let (len, shift) = (self.frame_length(), self.frame_shift());
        if num_samples < len || shift == 0 {
            0
        } else {
            (num_samples - len) / shift + 1
        }
    }
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self::sensevoice()
    }
}

/// Why a filterbank could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FbankError {
    /// The options are inconsistent (zero-length frames, bins that do not fit, ...).
    #[error("invalid fbank options: {0}")]
    InvalidOptions(String),
}

/// One mel filter: the FFT bins it covers and their weights.
#[derive(Clone)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

/// A single-frame filterbank computer with all tables and scratch buffers preallocated.
#[derive(Clone)]
pub struct FbankComputer {
    opts: FbankOptions,
    frame_length: usize,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
    frame: Vec<f32>,
    fft: KissRealFft,
    fft_in: Vec<f32>,
    fft_out: Vec<Cpx>,
    power: Vec<f32>,
}

impl fmt::Debug for FbankComputer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FbankComputer")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn mel_scale(freq: f32) -> f32 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

impl FbankComputer {
    /// Builds the window, the mel filters and the FFT plan.
    pub fn new(opts: FbankOptions) -> Result<Self, FbankError> {
        let frame_length = opts.frame_length();
        if frame_length < 2 || opts.frame_shift() == 0 || opts.num_bins < 3 || opts.sample_rate == 0 {
            return Err(FbankError::InvalidOptions(format!(
                "frame length {frame_length}, shift {}, bins {}, rate {}",
                opts.frame_shift(),
                opts.num_bins,
                opts.sample_rate
            )));
        }
        let padded = frame_length.next_power_of_two();
        let a = 2.0 * std::f64::consts::PI / (frame_length - 1) as f64;
        let window = (0..frame_length)
            .map(|i| {
                let c = (a * i as f64).cos();
                (match opts.window {
                    Window::Hamming => 0.54 - 0.46 * c,
                    Window::Hanning => 0.5 - 0.5 * c,
                    Window::Povey => (0.5 - 0.5 * c).powf(0.85),
                }) as f32
            })
            .collect();

        // Mel filters, following Kaldi's MelBanks (float arithmetic, FFT bins 0..padded/2).
        let nyquist = 0.5 * opts.sample_rate as f32;
        let high = if opts.high_freq <= 0.0 {
            nyquist + opts.high_freq
        } else {
            opts.high_freq
        };
        if !(opts.low_freq >= 0.0 && opts.low_freq < high && high <= nyquist) {
            return Err(FbankError::InvalidOptions(format!(
                "mel range {}..{high} Hz does not fit 0..{nyquist} Hz",
                opts.low_freq
            )));
        }
        let num_fft_bins = padded / 2;
        let bin_width = opts.sample_rate as f32 / padded as f32;
        let mel_low = mel_scale(opts.low_freq);
        let mel_high = mel_scale(high);
        let delta = (mel_high - mel_low) / (opts.num_bins + 1) as f32;
        let mut filters = Vec::with_capacity(opts.num_bins);
        for b in 0..opts.num_bins {
            let left = mel_low + b as f32 * delta;
            let center = mel_low + (b + 1) as f32 * delta;
            let right = mel_low + (b + 2) as f32 * delta;
            let mut first = None;
            let mut weights = Vec::new();
            for i in 0..num_fft_bins {
                let mel = mel_scale(bin_width * i as f32);
                if mel > left && mel < right {
                    let w = if mel <= center {
                        (mel - left) / (center - left)
                    } else {
                        (right - mel) / (right - center)
                    };
                    if first.is_none() {
                        first = Some(i);
                    }
                    // Bins inside one filter are contiguous because the mel scale is monotonic.
                    weights.push(w);
                }
            }
            let Some(first_bin) = first else {
                return Err(FbankError::InvalidOptions(format!(
                    "mel bin {b} covers no FFT bin; use fewer bins"
                )));
            };
            filters.push(MelFilter { first_bin, weights });
        }

        let fft = KissRealFft::new(padded).map_err(|e| FbankError::InvalidOptions(e.to_string()))?;
        Ok(Self {
            opts,
            frame: vec![0.0; frame_length],
            frame_length,
            window,
            filters,
            fft,
            fft_in: vec![0.0; padded],
            fft_out: vec![(0.0, 0.0); num_fft_bins + 1],
            power: vec![0.0; num_fft_bins + 1],
        })
    }

    /// The options this computer was built with.
    pub fn options(&self) -> &FbankOptions {
        &self.opts
    }

    /// Computes one frame from exactly `frame_length` unscaled samples into `out`
    /// (`num_bins` values). Slices of other lengths leave `out` untouched and return `false`.
    pub fn compute_frame(&mut self, samples: &[f32], out: &mut [f32]) -> bool {
        let n = self.frame_length;
        if samples.len() != n || out.len() != self.opts.num_bins {
            return false;
        }
        let scale = self.opts.sample_scale;
        let frame = &mut self.frame[..];
        for (d, &s) in frame.iter_mut().zip(samples) {
            *d = s * scale;
        }
        if self.opts.remove_dc_offset {
            let mean = frame.iter().sum::<f32>() / n as f32;
            for d in frame.iter_mut() {
                *d -= mean;
            }
        }
        let p = self.opts.preemph_coeff;
        if p != 0.0 {
            for i in (1..n).rev() {
                frame[i] -= p * frame[i - 1];
            }
            frame[0] -= p * frame[0];
        }
        for (d, &w) in frame.iter_mut().zip(&self.window) {
            *d *= w;
        }
        // Single precision throughout, with kaldi-native-fbank's FFT rounding (see kiss_rfft).
        // The zero padding after `n` is written once, in `new`; nothing else touches it.
        self.fft_in[..n].copy_from_slice(&self.frame);
        self.fft.process(&self.fft_in, &mut self.fft_out);
        for (p, &(re, im)) in self.power.iter_mut().zip(&self.fft_out) {
            *p = re * re + im * im;
        }
        for (o, f) in out.iter_mut().zip(&self.filters) {
            let bins = &self.power[f.first_bin..f.first_bin + f.weights.len()];
            let e: f32 = bins.iter().zip(&f.weights).map(|(a, b)| a * b).sum();
            *o = e.max(f32::EPSILON).ln();
        }
        true
    }
}

/// Incremental fbank over a growing stream of samples.
#[derive(Debug, Clone)]
pub struct OnlineFbank {
    computer: FbankComputer,
    /// Samples not yet fully consumed; `pending[0]` is sample number `pending_offset`.
    pending: Vec<f32>,
    pending_offset: usize,
    total_samples: usize,
    features: Vec<f32>,
    num_frames: usize,
}

impl OnlineFbank {
    /// A new, empty stream.
    pub fn new(opts: FbankOptions) -> Result<Self, FbankError> {
        Ok(Self {
            computer: FbankComputer::new(opts)?,
            pending: Vec::new(),
            pending_offset: 0,
            total_samples: 0,
            features: Vec::new(),
            num_frames: 0,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &FbankOptions {
        self.computer.options()
    }

    /// Feature dimension (number of mel bins).
    pub fn dim(&self) -> usize {
        self.computer.options().num_bins
    }

    /// Appends samples (unscaled, e.g. in [-1, 1]) and computes every frame they complete.
    pub fn accept_waveform(&mut self, samples: &[f32]) {
        self.pending.extend_from_slice(samples);
        self.total_samples += samples.len();
        let opts = self.computer.options();
        let (len, shift, dim) = (opts.frame_length(), opts.frame_shift(), opts.num_bins);
        let target = opts.num_frames(self.total_samples);
        if target > self.num_frames {
            self.features.resize(target * dim, 0.0);
        }
        while self.num_frames < target {
            let start = self.num_frames * shift - self.pending_offset;
            let out = &mut self.features[self.num_frames * dim..(self.num_frames + 1) * dim];
            self.computer.compute_frame(&self.pending[start..start + len], out);
            self.num_frames += 1;
        }
        // Drop samples no future frame needs.
        let next_start = self.num_frames * shift;
        let drop = next_start.saturating_sub(self.pending_offset).min(self.pending.len());
        if drop > 0 && drop * 2 >= self.pending.len() {
            self.pending.drain(..drop);
            self.pending_offset += drop;
        }
    }

    /// Number of frames computed so far.
    pub fn num_frames(&self) -> usize {
        self.num_frames
    }

    /// Total samples accepted so far.
    pub fn num_samples(&self) -> usize {
        self.total_samples
    }

    /// All frames so far, row-major (`num_frames * dim`).
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Forgets all samples and frames (keeps the tables and buffers).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.pending_offset = 0;
        self.total_samples = 0;
        self.features.clear();
        self.num_frames = 0;
    }
}

/// Computes all frames of `samples` at once.
pub fn compute_fbank(opts: &FbankOptions, samples: &[f32]) -> Result<Vec<f32>, FbankError> {
    let mut f = OnlineFbank::new(opts.clone())?;
    f.accept_waveform(samples);
    Ok(f.features)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16000.0).sin())
            .collect()
    }

    #[test]
    fn frame_count_follows_snip_edges() {
        let o = FbankOptions::sensevoice();
        assert_eq!(o.num_frames(399), 0);
        assert_eq!(o.num_frames(400), 1);
        assert_eq!(o.num_frames(559), 1);
        assert_eq!(o.num_frames(560), 2);
        assert_eq!(o.num_frames(16000), 98);
    }

    #[test]
    fn incremental_equals_batch() {
        let x = tone(16000);
        let all = compute_fbank(&FbankOptions::sensevoice(), &x).unwrap();
        let mut on = OnlineFbank::new(FbankOptions::sensevoice()).unwrap();
        for chunk in x.chunks(137) {
            on.accept_waveform(chunk);
        }
        assert_eq!(on.num_frames(), 98);
        assert_eq!(on.features(), &all[..]);
    }

    #[test]
    fn tone_peaks_in_the_right_bin_and_silence_hits_the_floor() {
        let x = tone(4000);
        let f = compute_fbank(&FbankOptions::sensevoice(), &x).unwrap();
        let row = &f[80 * 5..80 * 6];
        let (argmax, _) = row
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        // 440 Hz is ~550 mel; filter centres are ~34.7 mel apart from ~31.5 mel: bin 14.
        assert!((13..=15).contains(&argmax), "peak at bin {argmax}");
        let silent = compute_fbank(&FbankOptions::sensevoice(), &vec![0.0; 800]).unwrap();
        assert!(silent.iter().all(|&v| (v - f32::EPSILON.ln()).abs() < 1e-6));
    }

    #[test]
    fn bad_options_are_errors() {
        let o = FbankOptions {
            num_bins: 500,
            ..FbankOptions::sensevoice()
        };
        assert!(FbankComputer::new(o).is_err());
        let o = FbankOptions {
            frame_shift_ms: 0.0,
            ..FbankOptions::sensevoice()
        };
        assert!(FbankComputer::new(o).is_err());
    }

    /// Throughput of the whole fbank on 10 s of audio (a benchmark, not a check; run with
    /// `cargo test --release --lib fbank_throughput -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn fbank_throughput() {
        let x = tone(160_000);
        let o = FbankOptions::sensevoice();
        let reps = 50;
        let t = std::time::Instant::now();
        for _ in 0..reps {
            std::hint::black_box(compute_fbank(&o, std::hint::black_box(&x)).unwrap());
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
        eprintln!("fbank, 10 s of 16 kHz audio (998 frames): {ms:.2} ms");
    }
}
