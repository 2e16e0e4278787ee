//! Speaker embedders: a fixed-size voice vector per stretch of speech.
//!
//! A [`SpeakerEmbedder`] maps 16 kHz mono `f32` audio to an L2-normalised vector whose cosine
//! similarity to another clip's vector is high for the same voice and lower for different voices.
//! Diarization ([`crate::meeting::diarize`]) clusters these vectors; known speakers are matched by
//! the vectors of their reference clips; live sessions keep per-speaker centroids of them.
//!
//! The embedder shipped by `scripts/fetch-models` is Resemblyzer's GE2E encoder ([`ge2e`]), the
//! only speaker model whose weights a package registry carries (converted to ONNX by
//! `tools/convert_ge2e.py`). Embedders are synchronous and CPU-bound: call them from a blocking
//! thread (`spawn_blocking`), never from the async runtime.
//!
//! # Adding another embedder (CAM++, ECAPA-TDNN, WeSpeaker ResNet … exported to ONNX)
//!
//! Implement [`SpeakerEmbedder`] in `engine/speaker/<name>.rs` and load it in
//! [`crate::engine::Engines::load`] when its file is installed. What an implementation owns:
//! - its **front end**: those exports take 80-band Kaldi fbank with per-utterance mean
//!   normalisation (`crate::kernels::fbank` computes Kaldi fbank), GE2E a 40-band power mel;
//! - **windowing**: how a clip of any length becomes one vector (GE2E averages 1.6 s partials;
//!   the x-vector family pools over the whole clip);
//! - the contract of the trait: input is 16 kHz mono `f32` in [-1, 1]; output has [`dim`]
//!   entries, is finite and has unit L2 norm (normalise the model's raw output); an empty or
//!   non-finite input is an [`EngineError::InvalidInput`], never a panic; `embed_batch`
//!   returns one vector per clip, in order, equal to what `embed` gives for that clip.
//!
//! Cosine thresholds are model-specific: [`crate::meeting::diarize`] takes its threshold from
//! its options, whose default is tuned for GE2E (see `docs/benchmarks.md`).
//!
//! [`dim`]: SpeakerEmbedder::dim

pub mod ge2e;

use super::recognizer::EngineError;

pub use ge2e::Ge2e;

/// The sample rate every embedder takes.
pub const SAMPLE_RATE: usize = 16_000;

/// A speaker-embedding model. See the module docs for the contract.
pub trait SpeakerEmbedder: Send + Sync {
    /// Stable model name (for logs and `/v1/models`).
    fn name(&self) -> &str;

    /// Length of every embedding.
    fn dim(&self) -> usize;

    /// The embedding of one clip (16 kHz mono), L2-normalised.
    fn embed(&self, samples: &[f32]) -> Result<Vec<f32>, EngineError>;

    /// One embedding per clip, in order; the same vectors as [`embed`](Self::embed) on each,
    /// computed in fewer model runs where the model batches.
    fn embed_batch(&self, clips: &[&[f32]]) -> Result<Vec<Vec<f32>>, EngineError> {
        clips.iter().map(|c| self.embed(c)).collect()
    }
}

/// Cosine similarity of two vectors (0 when either is all zeros or their lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        ab += (*x as f64) * (*y as f64);
        aa += (*x as f64) * (*x as f64);
        bb += (*y as f64) * (*y as f64);
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (ab / (aa.sqrt() * bb.sqrt())) as f32
}

/// Scales `v` to unit L2 norm in place; returns false (leaving it unchanged) for a zero or
/// non-finite vector.
pub fn l2_normalize(v: &mut [f32]) -> bool {
    let n = v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt();
    if !(n.is_finite() && n > 0.0) {
        return false;
    }
    for x in v.iter_mut() {
        *x = (*x as f64 / n) as f32;
    }
    true
}

/// Refuses input no embedder can use: empty, or holding NaN/∞.
pub fn check_input(samples: &[f32]) -> Result<(), EngineError> {
    if samples.is_empty() {
        return Err(EngineError::InvalidInput("speaker embedding of an empty clip".into()));
    }
    if samples.iter().any(|x| !x.is_finite()) {
        return Err(EngineError::InvalidInput("audio holds NaN or infinite samples".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_normalisation() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        let mut v = vec![3.0, 4.0];
        assert!(l2_normalize(&mut v));
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        assert!(!l2_normalize(&mut z));
        assert!(check_input(&[]).is_err());
        assert!(check_input(&[0.0, f32::NAN]).is_err());
        assert!(check_input(&[0.1]).is_ok());
    }
}
