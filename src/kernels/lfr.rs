//! Low frame rate (LFR) stacking: `m` consecutive feature frames are concatenated into one
//! frame every `n` frames (SenseVoice: m = 7, n = 6, so 80-dim frames at 10 ms become
//! 560-dim frames at 60 ms).
//!
//! Two edge rules exist in the reference pipelines:
//! * [`LfrPadding::FunAsr`] (FunASR's `WavFrontend.apply_lfr`, the training front end): the
//!   input is left-padded with `(m - 1) / 2` copies of the first frame, `ceil(T / n)` frames
//!   are produced, and windows running past the end repeat the last frame.
//!   sherpa-onnx 2.0.1 uses this rule too (checked: its token ids only match features built
//!   this way).
//! * [`LfrPadding::None`] (older sherpa-onnx front ends): no padding, `(T - m) / n + 1` frames.
//!
//! Both are expressed as "output frame `i`, slot `r` copies input frame
//! `clamp(i n + r - left, 0, T - 1)`", which lets a caller keep the frames that can no longer
//! change ([`LfrOptions::num_stable_frames`]) and recompute only the tail as audio grows.

/// Edge handling of the LFR stacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfrPadding {
    /// FunASR: left pad `(m - 1) / 2` copies of the first frame, `ceil(T / n)` outputs.
    FunAsr,
    /// No padding, `(T - m) / n + 1` outputs (older sherpa-onnx releases).
    None,
}

/// LFR parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LfrOptions {
    /// Window size in input frames (`lfr_m`, SenseVoice 7).
    pub m: usize,
    /// Shift in input frames (`lfr_n`, SenseVoice 6).
    pub n: usize,
    /// Edge rule.
    pub padding: LfrPadding,
}

impl LfrOptions {
    /// SenseVoice's m = 7, n = 6 with the given edge rule.
    pub fn sensevoice(padding: LfrPadding) -> Self {
        Self { m: 7, n: 6, padding }
    }

    fn left(&self) -> usize {
        match self.padding {
            LfrPadding::FunAsr => self.m.saturating_sub(1) / 2,
            LfrPadding::None => 0,
        }
    }

    /// Number of output frames for `t` input frames once the input is complete.
    pub fn num_output_frames(&self, t: usize) -> usize {
        if t == 0 || self.m == 0 || self.n == 0 {
            return 0;
        }
        match self.padding {
            LfrPadding::FunAsr => t.div_ceil(self.n),
            LfrPadding::None if t >= self.m => (t - self.m) / self.n + 1,
            LfrPadding::None => 0,
        }
    }

    /// Number of leading output frames that no later input frame can change.
    pub fn num_stable_frames(&self, t: usize) -> usize {
        if t == 0 || self.m == 0 || self.n == 0 || t + self.left() < self.m {
            return 0;
        }
        ((t + self.left() - self.m) / self.n + 1).min(self.num_output_frames(t))
    }

    /// Writes output frame `i` (`m * dim` values) from `input` (`t * dim` values, row-major).
    /// Returns `false` (leaving `out` untouched) when the sizes do not match or `i` is out of
    /// range.
    pub fn fill_frame(&self, input: &[f32], dim: usize, i: usize, out: &mut [f32]) -> bool {
        if dim == 0 || !input.len().is_multiple_of(dim) || out.len() != self.m * dim {
            return false;
        }
        let t = input.len() / dim;
        if i >= self.num_output_frames(t) {
            return false;
        }
        let left = self.left() as isize;
        for (r, slot) in out.chunks_exact_mut(dim).enumerate() {
            let src = ((i * self.n + r) as isize - left).clamp(0, t as isize - 1) as usize;
            slot.copy_from_slice(&input[src * dim..(src + 1) * dim]);
        }
        true
    }

    /// Stacks a complete input (`t * dim` values) into `num_output_frames(t) * m * dim` values.
    pub fn apply(&self, input: &[f32], dim: usize) -> Vec<f32> {
        if dim == 0 || !input.len().is_multiple_of(dim) {
            return Vec::new();
        }
        let frames = self.num_output_frames(input.len() / dim);
        let out_dim = self.m * dim;
        let mut out = vec![0.0; frames * out_dim];
        for (i, o) in out.chunks_exact_mut(out_dim).enumerate() {
            self.fill_frame(input, dim, i, o);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(t: usize) -> Vec<f32> {
        (0..t).map(|i| i as f32).collect()
    }

    #[test]
    fn funasr_rule_pads_left_and_right() {
        let o = LfrOptions::sensevoice(LfrPadding::FunAsr);
        let out = o.apply(&rows(10), 1);
        assert_eq!(out.len(), 2 * 7);
        assert_eq!(&out[..7], &[0., 0., 0., 0., 1., 2., 3.]);
        assert_eq!(&out[7..], &[3., 4., 5., 6., 7., 8., 9.]);
        let out = o.apply(&rows(13), 1);
        assert_eq!(&out[14..], &[9., 10., 11., 12., 12., 12., 12.]);
        assert_eq!(o.num_output_frames(1), 1);
        assert_eq!(o.apply(&rows(1), 1), vec![0.; 7]);
    }

    #[test]
    fn sherpa_rule_has_no_padding() {
        let o = LfrOptions::sensevoice(LfrPadding::None);
        assert_eq!(o.num_output_frames(6), 0);
        assert_eq!(o.num_output_frames(7), 1);
        assert_eq!(o.num_output_frames(13), 2);
        let out = o.apply(&rows(13), 1);
        assert_eq!(&out[7..], &[6., 7., 8., 9., 10., 11., 12.]);
    }

    #[test]
    fn stable_frames_never_change() {
        for padding in [LfrPadding::FunAsr, LfrPadding::None] {
            let o = LfrOptions::sensevoice(padding);
            let full = rows(200);
            for t in 0..200 {
                let part = o.apply(&full[..t], 1);
                let later = o.apply(&full, 1);
                let s = o.num_stable_frames(t);
                assert!(s <= o.num_output_frames(t));
                assert_eq!(&part[..s * 7], &later[..s * 7], "t={t}");
            }
        }
    }

    #[test]
    fn mismatched_sizes_are_rejected() {
        let o = LfrOptions::sensevoice(LfrPadding::FunAsr);
        let mut out = vec![0.0; 7 * 2];
        assert!(!o.fill_frame(&[1.0, 2.0, 3.0], 2, 0, &mut out));
        assert!(!o.fill_frame(&[1.0, 2.0], 2, 5, &mut out));
        assert!(o.apply(&[1.0, 2.0, 3.0], 2).is_empty());
    }
}
