//! SenseVoice's feature pipeline (fbank -> LFR -> CMVN) for a growing audio buffer.
//!
//! [`SenseVoiceFrontend`] keeps the fbank frames and the LFR+CMVN frames that can no longer
//! change, so re-decoding a buffer that grew by 200 ms only computes the new fbank frames and
//! the last few LFR frames (whose right edge padding depends on where the buffer ends).

use crate::kernels::cmvn::Cmvn;
use crate::kernels::fbank::{FbankError, FbankOptions, OnlineFbank};
use crate::kernels::lfr::LfrOptions;

/// How features are computed for one model (shared by all its frontends).
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// Filterbank options (SenseVoice: 80 bins, 25/10 ms, Hamming, int16 scaling).
    pub fbank: FbankOptions,
    /// LFR stacking (SenseVoice: m = 7, n = 6; edge rule depends on the packaging).
    pub lfr: LfrOptions,
    /// Global CMVN applied after LFR.
    pub cmvn: Cmvn,
}

impl FrontendConfig {
    /// Dimension of one model input frame (`m * num_bins`, SenseVoice 560).
    pub fn dim(&self) -> usize {
        self.lfr.m * self.fbank.num_bins
    }
}

/// Incremental features for one growing utterance.
#[derive(Debug, Clone)]
pub struct SenseVoiceFrontend {
    fbank: OnlineFbank,
    lfr: LfrOptions,
    cmvn: Cmvn,
    stable: Vec<f32>,
    num_stable: usize,
}

impl SenseVoiceFrontend {
    /// A frontend with no audio yet.
    pub fn new(config: &FrontendConfig) -> Result<Self, FbankError> {
        if config.cmvn.dim() != config.dim() {
            return Err(FbankError::InvalidOptions(format!(
                "CMVN has {} dims but LFR frames have {}",
                config.cmvn.dim(),
                config.dim()
            )));
        }
        Ok(Self {
            fbank: OnlineFbank::new(config.fbank.clone())?,
            lfr: config.lfr,
            cmvn: config.cmvn.clone(),
            stable: Vec::new(),
            num_stable: 0,
        })
    }

    /// Appends 16 kHz mono samples in [-1, 1].
    pub fn accept_waveform(&mut self, samples: &[f32]) {
        self.fbank.accept_waveform(samples);
    }

    /// Samples accepted so far.
    pub fn num_samples(&self) -> usize {
        self.fbank.num_samples()
    }

    /// Model input frames the current buffer yields (as if it ended here).
    pub fn num_frames(&self) -> usize {
        self.lfr.num_output_frames(self.fbank.num_frames())
    }

    /// Dimension of one output frame.
    pub fn dim(&self) -> usize {
        self.lfr.m * self.fbank.dim()
    }

    /// Appends the features of the whole current buffer (as if it ended here) to `out` and
    /// returns the number of frames. Frames that cannot change any more are computed once and
    /// cached; only the tail is recomputed on each call.
    pub fn write_features(&mut self, out: &mut Vec<f32>) -> usize {
        let dim = self.dim();
        let fb_dim = self.fbank.dim();
        let feats = self.fbank.features();
        let t = self.fbank.num_frames();
        let stable = self.lfr.num_stable_frames(t);
        if stable > self.num_stable {
            self.stable.resize(stable * dim, 0.0);
            for i in self.num_stable..stable {
                let frame = &mut self.stable[i * dim..(i + 1) * dim];
                self.lfr.fill_frame(feats, fb_dim, i, frame);
                self.cmvn.apply_frame(frame);
            }
            self.num_stable = stable;
        }
        let total = self.lfr.num_output_frames(t);
        out.reserve(total * dim);
        out.extend_from_slice(&self.stable[..self.num_stable * dim]);
        for i in self.num_stable..total {
            let start = out.len();
            out.resize(start + dim, 0.0);
            let frame = &mut out[start..];
            self.lfr.fill_frame(feats, fb_dim, i, frame);
            self.cmvn.apply_frame(frame);
        }
        total
    }

    /// Forgets the audio (keeps tables and buffers).
    pub fn reset(&mut self) {
        self.fbank.reset();
        self.stable.clear();
        self.num_stable = 0;
    }
}

/// Features of a complete utterance in one go.
pub fn compute_features(config: &FrontendConfig, samples: &[f32]) -> Result<(Vec<f32>, usize), FbankError> {
    let mut f = SenseVoiceFrontend::new(config)?;
    f.accept_waveform(samples);
    let mut out = Vec::new();
    let n = f.write_features(&mut out);
    Ok((out, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::lfr::LfrPadding;

    fn config(padding: LfrPadding) -> FrontendConfig {
        FrontendConfig {
            fbank: FbankOptions::sensevoice(),
            lfr: LfrOptions::sensevoice(padding),
            cmvn: Cmvn::new(vec![-8.0; 560], vec![0.25; 560]).unwrap(),
        }
    }

    #[test]
    fn growing_buffer_matches_one_shot() {
        let x: Vec<f32> = (0..24000)
            .map(|i| ((i as f32) * 0.05).sin() * 0.2 + ((i * 7 % 13) as f32) * 0.001)
            .collect();
        for padding in [LfrPadding::FunAsr, LfrPadding::None] {
            let c = config(padding);
            let mut fe = SenseVoiceFrontend::new(&c).unwrap();
            for chunk in x.chunks(3200) {
                fe.accept_waveform(chunk);
                let mut inc = Vec::new();
                let n = fe.write_features(&mut inc);
                let (full, m) = compute_features(&c, &x[..fe.num_samples()]).unwrap();
                assert_eq!(n, m);
                assert_eq!(inc, full);
            }
        }
    }

    #[test]
    fn mismatched_cmvn_is_rejected() {
        let mut c = config(LfrPadding::FunAsr);
        c.cmvn = Cmvn::new(vec![0.0; 80], vec![1.0; 80]).unwrap();
        assert!(SenseVoiceFrontend::new(&c).is_err());
    }
}
