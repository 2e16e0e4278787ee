//! Sample-rate conversion to 16 kHz with `rubato`: one-shot for whole files, and a streaming
//! resampler for live audio that accepts arbitrary chunk sizes.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::{AudioError, SAMPLE_RATE};

/// Resamples a whole mono clip to 16 kHz. Returns the input unchanged when it already is 16 kHz.
pub fn resample_to_16k(samples: Vec<f32>, rate: u32) -> Result<Vec<f32>, AudioError> {
    if rate == SAMPLE_RATE || samples.is_empty() {
        return Ok(samples);
    }
    if rate == 0 {
        return Err(AudioError::Corrupt("sample rate 0".into()));
    }
    let mut r = Fft::<f32>::new(rate as usize, SAMPLE_RATE as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| AudioError::Resample(e.to_string()))?;
    let input = InterleavedSlice::new(&samples, 1, samples.len()).map_err(|e| AudioError::Resample(e.to_string()))?;
    let out = r
        .process_all(&input, samples.len(), None)
        .map_err(|e| AudioError::Resample(e.to_string()))?;
    let want = (samples.len() as u64 * SAMPLE_RATE as u64 / rate as u64) as usize;
    let mut data = out.take_data();
    data.truncate(want);
    Ok(data)
}

/// A streaming mono resampler to 16 kHz that takes chunks of any length and returns whatever
/// output is ready. Keeps at most one input block of state.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    out_block: Vec<f32>,
    block: usize,
}

impl StreamResampler {
    /// A resampler from `rate` Hz to 16 kHz. At 16 kHz it is a pass-through.
    pub fn new(rate: u32) -> Result<Self, AudioError> {
        // 20 ms blocks keep latency low while staying efficient.
        let block = (rate as usize / 50).max(1);
        let inner = if rate == SAMPLE_RATE {
            None
        } else {
            Some(
                Fft::<f32>::new(rate as usize, SAMPLE_RATE as usize, block, 1, FixedSync::Input)
                    .map_err(|e| AudioError::Resample(e.to_string()))?,
            )
        };
        let out_max = inner.as_ref().map(|r| r.output_frames_max()).unwrap_or(0);
        Ok(Self {
            inner,
            pending: Vec::new(),
            out_block: vec![0.0; out_max],
            block,
        })
    }

    /// Feeds samples and appends the resampled output to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= self.block {
            let chunk = &self.pending[start..start + self.block];
            let inp = InterleavedSlice::new(chunk, 1, self.block).map_err(|e| AudioError::Resample(e.to_string()))?;
            let n_out = self.out_block.len();
            let mut outp = InterleavedSlice::new_mut(&mut self.out_block, 1, n_out)
                .map_err(|e| AudioError::Resample(e.to_string()))?;
            let (_, produced) = r
                .process_into_buffer(&inp, &mut outp, None)
                .map_err(|e| AudioError::Resample(e.to_string()))?;
            out.extend_from_slice(&self.out_block[..produced]);
            start += self.block;
        }
        self.pending.drain(..start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    fn zero_crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count()
    }

    #[test]
    fn one_shot_keeps_duration_and_pitch() {
        let out = resample_to_16k(sine(48_000, 440.0, 1.0), 48_000).unwrap();
        assert_eq!(out.len(), 16_000);
        let zc = zero_crossings(&out[1000..15000]) as f32 / 14000.0 * 16000.0;
        assert!((zc - 880.0).abs() < 10.0, "zero crossings {zc}");
    }

    #[test]
    fn streaming_matches_length_for_odd_chunks() {
        let x = sine(24_000, 300.0, 2.0);
        let mut r = StreamResampler::new(24_000).unwrap();
        let mut out = Vec::new();
        for c in x.chunks(333) {
            r.push(c, &mut out).unwrap();
        }
        // all complete 20 ms blocks are converted: 2 s -> 32000 samples, within one block
        assert!(out.len() <= 32_000 && out.len() >= 32_000 - 320, "{}", out.len());
    }

    #[test]
    fn passthrough_at_16k() {
        let mut r = StreamResampler::new(16_000).unwrap();
        let mut out = Vec::new();
        r.push(&[0.1, 0.2, 0.3], &mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }
}
