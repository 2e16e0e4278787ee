//! Global CMVN (cepstral mean and variance normalisation) as SenseVoice applies it after LFR:
//! `y = (x + neg_mean) * inv_stddev`, per dimension.
//!
//! The statistics come either from FunASR's `am.mvn` (a Kaldi nnet1 text file whose
//! `<AddShift>` component holds `neg_mean` and whose `<Rescale>` component holds
//! `inv_stddev`) or from sherpa-onnx's model metadata (`neg_mean`, `inv_stddev` as
//! comma-separated lists).
//!
//! Each source is applied in the precision its reference pipeline uses, so features match
//! it to the last bit where the rest of the front end does: funasr-onnx adds and scales in
//! double precision (numpy `float64`) and rounds to `f32` afterwards; sherpa-onnx works in
//! `float` throughout.

use std::str::FromStr;

/// Why CMVN statistics could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmvnError {
    /// The text has no usable `<AddShift>` / `<Rescale>` vector, or a value is not a number.
    #[error("malformed CMVN statistics: {0}")]
    Malformed(String),
}

/// Per-dimension shift and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmvn {
    stats: Stats,
}

/// The statistics in the precision they are applied in.
#[derive(Debug, Clone, PartialEq)]
enum Stats {
    /// `(x + m) * s` in `f32`.
    Single { neg_mean: Vec<f32>, inv_stddev: Vec<f32> },
    /// `(x + m) * s` in `f64`, rounded to `f32`.
    Double { neg_mean: Vec<f64>, inv_stddev: Vec<f64> },
}

/// Checks that both vectors have the same, non-zero length and finite values.
fn check<T: Copy + Into<f64>>(neg_mean: &[T], inv_stddev: &[T]) -> Result<(), CmvnError> {
    if neg_mean.is_empty() || neg_mean.len() != inv_stddev.len() {
        return Err(CmvnError::Malformed(format!(
            "neg_mean has {} values, inv_stddev {}",
            neg_mean.len(),
            inv_stddev.len()
        )));
    }
    if neg_mean.iter().chain(inv_stddev).any(|&v| !v.into().is_finite()) {
        return Err(CmvnError::Malformed("non-finite value".into()));
    }
    Ok(())
}

fn bracketed_after<T: FromStr>(tokens: &[&str], marker: &str) -> Result<Vec<T>, CmvnError> {
    let start = tokens
        .iter()
        .position(|t| *t == marker)
        .ok_or_else(|| CmvnError::Malformed(format!("no {marker} component")))?;
    let open = tokens[start..]
        .iter()
        .position(|t| *t == "[")
        .map(|p| start + p + 1)
        .ok_or_else(|| CmvnError::Malformed(format!("no values after {marker}")))?;
    let mut values = Vec::new();
    for t in &tokens[open..] {
        if *t == "]" {
            return Ok(values);
        }
        values.push(
            t.parse::<T>()
                .map_err(|_| CmvnError::Malformed(format!("bad number {t:?} in {marker}")))?,
        );
    }
    Err(CmvnError::Malformed(format!("unterminated vector after {marker}")))
}

fn parse_list(s: &str, what: &str) -> Result<Vec<f32>, CmvnError> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f32>()
                .map_err(|_| CmvnError::Malformed(format!("bad number {t:?} in {what}")))
        })
        .collect()
}

impl Cmvn {
    /// From explicit vectors, applied in `f32`; they must have the same, non-zero length.
    pub fn new(neg_mean: Vec<f32>, inv_stddev: Vec<f32>) -> Result<Self, CmvnError> {
        check(&neg_mean, &inv_stddev)?;
        Ok(Self {
            stats: Stats::Single { neg_mean, inv_stddev },
        })
    }

    /// Parses FunASR's `am.mvn` text; applied in `f64` as funasr-onnx does.
    pub fn from_am_mvn(text: &str) -> Result<Self, CmvnError> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let neg_mean: Vec<f64> = bracketed_after(&tokens, "<AddShift>")?;
        let inv_stddev: Vec<f64> = bracketed_after(&tokens, "<Rescale>")?;
        check(&neg_mean, &inv_stddev)?;
        Ok(Self {
            stats: Stats::Double { neg_mean, inv_stddev },
        })
    }

    /// Parses sherpa-onnx's `neg_mean` / `inv_stddev` metadata strings.
    pub fn from_metadata(neg_mean: &str, inv_stddev: &str) -> Result<Self, CmvnError> {
        Self::new(parse_list(neg_mean, "neg_mean")?, parse_list(inv_stddev, "inv_stddev")?)
    }

    /// Feature dimension the statistics apply to.
    pub fn dim(&self) -> usize {
        match &self.stats {
            Stats::Single { neg_mean, .. } => neg_mean.len(),
            Stats::Double { neg_mean, .. } => neg_mean.len(),
        }
    }

    /// Normalises one frame in place; frames of another length are left untouched and `false`
    /// is returned.
    pub fn apply_frame(&self, frame: &mut [f32]) -> bool {
        if frame.len() != self.dim() {
            return false;
        }
        match &self.stats {
            Stats::Single { neg_mean, inv_stddev } => {
                for ((x, m), s) in frame.iter_mut().zip(neg_mean).zip(inv_stddev) {
                    *x = (*x + m) * s;
                }
            }
            Stats::Double { neg_mean, inv_stddev } => {
                for ((x, m), s) in frame.iter_mut().zip(neg_mean).zip(inv_stddev) {
                    *x = ((f64::from(*x) + m) * s) as f32;
                }
            }
        }
        true
    }

    /// Normalises every frame of a row-major matrix in place; returns `false` if its length is
    /// not a multiple of the dimension.
    pub fn apply(&self, frames: &mut [f32]) -> bool {
        if !frames.len().is_multiple_of(self.dim()) {
            return false;
        }
        frames.chunks_exact_mut(self.dim()).for_each(|f| {
            self.apply_frame(f);
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_am_mvn_and_applies() {
        let text = "<Nnet>\n<Splice> 2 2\n[ 0 ]\n<AddShift> 2 2\n<LearnRateCoef> 0 [ -1 -2 ]\n\
                    <Rescale> 2 2\n<LearnRateCoef> 0 [ 0.5 2 ]\n</Nnet>\n";
        let c = Cmvn::from_am_mvn(text).unwrap();
        let mut f = [3.0, 4.0, 5.0, 6.0];
        assert!(c.apply(&mut f));
        assert_eq!(f, [1.0, 4.0, 2.0, 8.0]);
        assert!(!c.apply_frame(&mut [1.0]));
    }

    #[test]
    fn am_mvn_is_applied_in_double_precision() {
        // 0.1 + 0.2 rounds differently in f32 and f64; scaled by 3 the two results are
        // different f32 values, and only the f64 one matches numpy's float64 pipeline.
        let text = "<AddShift> 1 1 [ 0.2 ] <Rescale> 1 1 [ 3 ]";
        let mut f = [0.1f32];
        Cmvn::from_am_mvn(text).unwrap().apply_frame(&mut f);
        assert_eq!(f[0], ((f64::from(0.1f32) + 0.2) * 3.0) as f32);
        let mut g = [0.1f32];
        Cmvn::new(vec![0.2], vec![3.0]).unwrap().apply_frame(&mut g);
        assert_eq!(g[0], (0.1f32 + 0.2f32) * 3.0);
        assert_ne!(f[0], g[0]);
    }

    #[test]
    fn parses_metadata() {
        let c = Cmvn::from_metadata("-1,-2", "0.5,2").unwrap();
        assert_eq!(c.dim(), 2);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Cmvn::from_am_mvn("<AddShift> [ 1 2 ]").is_err());
        assert!(Cmvn::from_am_mvn("<AddShift> [ 1 x ] <Rescale> [ 1 2 ]").is_err());
        assert!(Cmvn::from_metadata("1,2", "1").is_err());
        assert!(Cmvn::from_metadata("", "").is_err());
        assert!(Cmvn::from_am_mvn("<AddShift> [ 1 2 <Rescale> [ 1 2 ]").is_err());
    }
}
