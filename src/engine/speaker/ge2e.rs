//! Resemblyzer's GE2E speaker encoder on ONNX Runtime (`<models>/speaker/ge2e.onnx`, made by
//! `tools/convert_ge2e.py`).
//!
//! Front end, as Resemblyzer's `embed_utterance` (its webrtcvad silence trimming left out: here
//! Silero VAD decides what is speech before audio reaches an embedder):
//! 1. volume normalised to −30 dBFS RMS, raised only (a loud clip is left as it is);
//! 2. partials of 160 frames (1.6 s) every 77 frames (1.3 per second) over the clip; the last one
//!    is kept, zero-padded, when it covers at least 75 % of its frames, and a clip always has at
//!    least one partial;
//! 3. the clip, zero-padded to the end of its last partial, as a 40-band power mel spectrogram
//!    ([`PowerMel`]: n_fft 400, hop 160, Hann, centred, Slaney, no log);
//! 4. every partial through the network (3-layer LSTM → linear → ReLU → L2, inside the ONNX
//!    graph), the mean of the partial vectors, L2-normalised.
//!
//! Embeddings are non-negative, so the cosine of two of them lies in [0, 1]. `tools/check_ge2e.py`
//! checks the ONNX graph against a numpy re-implementation of the PyTorch network (max abs
//! difference 4.6e-7 on six real clips); `tests/speaker_ge2e.rs` checks this front end against
//! the numpy/librosa reference embeddings.

use std::path::Path;
use std::sync::Mutex;

use ndarray::Array3;
use ort::session::Session;
use ort::value::TensorRef;

use super::{SAMPLE_RATE, SpeakerEmbedder, check_input, l2_normalize};
use crate::engine::recognizer::EngineError;
use crate::kernels::power_mel::PowerMel;

/// Mel bands of the input.
pub const N_MELS: usize = 40;
/// Samples between feature frames (10 ms).
pub const HOP: usize = 160;
/// STFT size (25 ms).
pub const N_FFT: usize = 400;
/// Frames in one partial (1.6 s).
pub const PARTIAL_FRAMES: usize = 160;
/// Frames between partials: round(16000 / 1.3 / 160).
pub const PARTIAL_STEP: usize = 77;
/// A trailing partial is kept when at least this share of it is audio.
pub const MIN_COVERAGE: f64 = 0.75;
/// Embedding length.
pub const DIM: usize = 256;
/// Most partials sent to the network in one run (bounds memory on long clips).
const MAX_PARTIALS_PER_RUN: usize = 64;
/// Target loudness of the volume normalisation, dBFS.
const TARGET_DBFS: f64 = -30.0;

/// The GE2E embedder.
pub struct Ge2e {
    session: Mutex<Session>,
    mel: PowerMel,
}

impl Ge2e {
    /// Opens `ge2e.onnx` with `threads` intra-op threads (ONNX Runtime must be initialised, see
    /// [`crate::engine::ort_runtime::init`]).
    pub fn load(path: &Path, threads: usize) -> Result<Self, EngineError> {
        let session = crate::engine::ort_runtime::open_session(path, threads)?;
        let has = |names: Vec<&str>, want: &str| names.contains(&want);
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        if !has(inputs, "mels") || !has(outputs, "embedding") {
            return Err(EngineError::Load {
                model: path.display().to_string(),
                reason: "not a GE2E export: expected input `mels` and output `embedding` \
                         (convert with tools/convert_ge2e.py)"
                    .into(),
            });
        }
        Ok(Self {
            session: Mutex::new(session),
            mel: PowerMel::new(SAMPLE_RATE as f64, N_FFT, HOP, N_MELS),
        })
    }

    /// The partials' stacked features of one clip: `n x PARTIAL_FRAMES x N_MELS`, row-major.
    fn partial_features(&self, samples: &[f32]) -> (usize, Vec<f32>) {
        let gain = volume_gain(samples);
        let starts = partial_starts(samples.len());
        let last_end = (starts.last().copied().unwrap_or(0) + PARTIAL_FRAMES) * HOP;
        let mut wav: Vec<f32> = samples.iter().map(|x| x * gain).collect();
        if last_end >= wav.len() {
            wav.resize(last_end, 0.0);
        }
        let mel = self.mel.compute(&wav);
        let n_frames = mel.len() / N_MELS;
        let mut out = vec![0f32; starts.len() * PARTIAL_FRAMES * N_MELS];
        for (p, &s) in starts.iter().enumerate() {
            let end = (s + PARTIAL_FRAMES).min(n_frames);
            let src = &mel[s * N_MELS..end * N_MELS];
            out[p * PARTIAL_FRAMES * N_MELS..][..src.len()].copy_from_slice(src);
        }
        (starts.len(), out)
    }

    /// Runs the network on `n` partials; returns `n x DIM` row-major.
    fn run(&self, n: usize, feats: Vec<f32>) -> Result<Vec<f32>, EngineError> {
        let err = |e: ort::Error| EngineError::Inference(format!("ge2e: {e}"));
        let input = Array3::from_shape_vec((n, PARTIAL_FRAMES, N_MELS), feats)
            .map_err(|e| EngineError::Inference(format!("ge2e input: {e}")))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| EngineError::Inference("ge2e session poisoned".into()))?;
        let out = session
            .run(ort::inputs!["mels" => TensorRef::from_array_view(&input).map_err(err)?])
            .map_err(err)?;
        let emb = out["embedding"].try_extract_array::<f32>().map_err(err)?;
        if emb.shape() != [n, DIM] {
            return Err(EngineError::Inference(format!("ge2e output shape {:?}", emb.shape())));
        }
        Ok(emb.iter().copied().collect())
    }
}

impl SpeakerEmbedder for Ge2e {
    fn name(&self) -> &str {
        "ge2e"
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, samples: &[f32]) -> Result<Vec<f32>, EngineError> {
        let mut v = self.embed_batch(&[samples])?;
        Ok(v.pop().unwrap_or_default())
    }

    fn embed_batch(&self, clips: &[&[f32]]) -> Result<Vec<Vec<f32>>, EngineError> {
        for c in clips {
            check_input(c)?;
        }
        // Partials of every clip, run in chunks; `owner[i]` is the clip of partial i.
        let mut owner = Vec::new();
        let mut feats = Vec::new();
        for (i, c) in clips.iter().enumerate() {
            let (n, f) = self.partial_features(c);
            owner.extend(std::iter::repeat_n(i, n));
            feats.extend(f);
        }
        let per = PARTIAL_FRAMES * N_MELS;
        let mut sums = vec![vec![0f32; DIM]; clips.len()];
        for (chunk, owners) in feats
            .chunks(MAX_PARTIALS_PER_RUN * per)
            .zip(owner.chunks(MAX_PARTIALS_PER_RUN))
        {
            let emb = self.run(owners.len(), chunk.to_vec())?;
            for (row, &o) in emb.chunks(DIM).zip(owners) {
                for (s, x) in sums[o].iter_mut().zip(row) {
                    *s += x;
                }
            }
        }
        for s in sums.iter_mut() {
            if !l2_normalize(s) {
                return Err(EngineError::Inference(
                    "ge2e: the partial embeddings were all zero or not finite".into(),
                ));
            }
        }
        Ok(sums)
    }
}

/// Gain that raises the clip's RMS to −30 dBFS (on the int16 scale, as Resemblyzer), never
/// below 1.
fn volume_gain(samples: &[f32]) -> f32 {
    let ms = samples
        .iter()
        .map(|x| {
            let v = *x as f64 * 32767.0;
            v * v
        })
        .sum::<f64>()
        / samples.len().max(1) as f64;
    let rms = ms.sqrt();
    if rms <= 0.0 {
        return 1.0;
    }
    let change = TARGET_DBFS - 20.0 * (rms / 32767.0).log10();
    if change <= 0.0 {
        1.0
    } else {
        10f64.powf(change / 20.0) as f32
    }
}

/// First frame of each partial of a clip of `n_samples` (Resemblyzer's
/// `compute_partial_slices` at rate 1.3 and coverage 0.75).
pub fn partial_starts(n_samples: usize) -> Vec<usize> {
    let n_frames = (n_samples + 1).div_ceil(HOP);
    let steps = (n_frames + PARTIAL_STEP + 1).saturating_sub(PARTIAL_FRAMES).max(1);
    let mut starts: Vec<usize> = (0..steps).step_by(PARTIAL_STEP).collect();
    if starts.len() > 1 {
        let last = *starts.last().unwrap_or(&0) * HOP;
        let coverage = (n_samples as f64 - last as f64) / (PARTIAL_FRAMES * HOP) as f64;
        if coverage < MIN_COVERAGE {
            starts.pop();
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_match_resemblyzer_slices() {
        // numbers from Resemblyzer's compute_partial_slices(n, 1.3, 0.75)
        assert_eq!(partial_starts(1_000), vec![0]);
        assert_eq!(partial_starts(16_000), vec![0]);
        // 7.1 s (113,600 samples): 8 partials, as tools/check_ge2e.py printed for the clip
        assert_eq!(partial_starts(113_600).len(), 8);
        // 2.99 s: 3 partials; 11 s: 13
        assert_eq!(partial_starts(47_840).len(), 3);
        assert_eq!(partial_starts(176_000).len(), 13);
        for n in [1usize, 400, 25_600, 40_000, 400_000] {
            let s = partial_starts(n);
            assert!(!s.is_empty());
            assert!(s.windows(2).all(|w| w[1] - w[0] == PARTIAL_STEP));
        }
    }

    #[test]
    fn volume_is_raised_only() {
        let quiet = vec![0.001f32; 1000];
        let loud = vec![0.5f32; 1000];
        assert!(volume_gain(&quiet) > 1.0);
        assert_eq!(volume_gain(&loud), 1.0);
        assert_eq!(volume_gain(&[0.0; 10]), 1.0);
        // -30 dBFS target: the raised clip's RMS is 10^(-1.5) of full scale
        let g = volume_gain(&quiet) as f64;
        let rms = 0.001 * 32767.0 * g / 32767.0;
        assert!((20.0 * rms.log10() + 30.0).abs() < 0.01);
    }
}
