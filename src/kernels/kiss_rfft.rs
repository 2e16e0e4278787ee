//! A single-precision real FFT that rounds exactly like the one inside kaldi-native-fbank.
//!
//! Why this exists: SenseVoice's reference front ends (funasr-onnx through the
//! `kaldi-native-fbank` wheel, and sherpa-onnx, which links the same library) take each
//! frame's FFT with kissfft in `float`, compiled with `-ffast-math`. In quiet passages a
//! mel bin can hold energy 80 dB below the frame's loudest bin; there a single-precision
//! FFT's rounding noise is a visible part of the bin, and any other FFT (even an exact one)
//! lands up to ~2e-3 away after log and CMVN. Matching the reference to 1e-4 therefore
//! means reproducing its rounding, operation by operation.
//!
//! The algorithm is the textbook one kissfft uses: the real input of length `n` is read as
//! `n / 2` complex values, transformed by a mixed-radix decimation-in-time FFT (radix 4
//! first, then one radix 2 if needed), and split into the real spectrum with "super
//! twiddles". What is specific is the order of the floating-point operations: the compiler
//! reassociated kissfft's expressions, so each butterfly below spells out the order found
//! in the shipped machine code (a complex product is not always rounded before it is
//! added). `fft_matches_kaldi_native_fbank_bit_for_bit` in `tests/sensevoice_parity.rs`
//! checks the result against the reference library itself.
//!
//! Only powers of two from 4 up are supported, which is all a Kaldi front end with
//! `round_to_power_of_two` asks for. No allocation happens after [`KissRealFft::new`].

/// A complex value as `(re, im)`.
pub type Cpx = (f32, f32);

/// Why a transform could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kissfft-compatible real FFT needs a power of two >= 4, got {0}")]
pub struct UnsupportedLength(pub usize);

/// A planned real FFT of one length, with its twiddle tables and scratch buffer.
#[derive(Debug, Clone)]
pub struct KissRealFft {
    n: usize,
    /// Twiddles of the `n / 2`-point complex FFT: `exp(-2 pi i k / (n / 2))`.
    twiddles: Vec<Cpx>,
    /// Twiddles of the real-spectrum split: `exp(-i pi ((k + 1) / (n / 2) + 1/2))`.
    super_twiddles: Vec<Cpx>,
    /// `(radix, remaining length)` per stage, outermost first.
    stages: Vec<(usize, usize)>,
    /// Output of the complex FFT.
    packed: Vec<Cpx>,
}

/// `(cos, sin)` of a phase, computed in double precision and rounded to `f32` as kissfft's
/// `kf_cexp` does.
fn unit(phase: f64) -> Cpx {
    (phase.cos() as f32, phase.sin() as f32)
}

impl KissRealFft {
    /// Plans a transform of `n` real samples.
    pub fn new(n: usize) -> Result<Self, UnsupportedLength> {
        if n < 4 || !n.is_power_of_two() {
            return Err(UnsupportedLength(n));
        }
        let half = n / 2;
        // The shipped build evaluates `-2 pi k / half` as `k * ((1 / half) * -2 pi)` and
        // `-pi ((k + 1) / half + 0.5)` as `((k + 1) * (1 / half) + 0.5) * -pi`.
        let inv = 1.0 / half as f64;
        let step = inv * -std::f64::consts::TAU;
        let twiddles = (0..half).map(|k| unit(k as f64 * step)).collect();
        let super_twiddles = (0..half / 2)
            .map(|k| unit(((k + 1) as f64 * inv + 0.5) * -std::f64::consts::PI))
            .collect();
        let mut stages = Vec::new();
        let mut rest = half;
        while rest > 1 {
            let radix = if rest.is_multiple_of(4) { 4 } else { 2 };
            rest /= radix;
            stages.push((radix, rest));
        }
        Ok(Self {
            n,
            twiddles,
            super_twiddles,
            stages,
            packed: vec![(0.0, 0.0); half],
        })
    }

    /// Number of real input samples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always `false`: a plan has at least four samples.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Transforms `input` (`len()` samples) into `out` (`len() / 2 + 1` bins, DC to
    /// Nyquist). Slices of other lengths are a caller bug and panic.
    pub fn process(&mut self, input: &[f32], out: &mut [Cpx]) {
        let half = self.n / 2;
        assert_eq!(input.len(), self.n, "real FFT input length");
        assert_eq!(out.len(), half + 1, "real FFT output length");
        transform(&mut self.packed, input, 0, 1, &self.stages, &self.twiddles);

        let p = &self.packed;
        let (r0, i0) = p[0];
        out[0] = (r0 + i0, 0.0);
        out[half] = (r0 - i0, 0.0);
        for k in 1..=half / 2 {
            let (kr, ki) = p[k];
            let (nr, ni) = p[half - k];
            let (wr, wi) = self.super_twiddles[k - 1];
            let f1r = nr + kr;
            let f2r = kr - nr;
            let f2i = ni + ki;
            let tw_i = wr * f2i + f2r * wi;
            // Written for `k` first, then for `half - k` (the same bin when k == half / 2).
            out[k] = (((f1r + f2r * wr) - f2i * wi) * 0.5, ((ki - ni) + tw_i) * 0.5);
            out[half - k] = (((f1r + f2i * wi) - f2r * wr) * 0.5, ((ni - ki) + tw_i) * 0.5);
        }
    }
}

/// One level of the recursive decimation-in-time FFT: fills `out` (length `radix * m`)
/// with the transform of the complex sequence `input[offset + j * stride]`, where complex
/// value `j` of the packed real input is `(input[2 j], input[2 j + 1])`.
fn transform(
    out: &mut [Cpx],
    input: &[f32],
    offset: usize,
    stride: usize,
    stages: &[(usize, usize)],
    twiddles: &[Cpx],
) {
    let (radix, m) = stages[0];
    for q in 0..radix {
        let from = offset + q * stride;
        let part = &mut out[q * m..(q + 1) * m];
        if m == 1 {
            part[0] = (input[2 * from], input[2 * from + 1]);
        } else {
            transform(part, input, from, stride * radix, &stages[1..], twiddles);
        }
    }
    match radix {
        4 => butterfly4(out, stride, m, twiddles),
        _ => butterfly2(out, stride, m, twiddles),
    }
}

/// Radix-2 butterflies over `out` (`2 * m` values), `a ± b w`.
fn butterfly2(out: &mut [Cpx], stride: usize, m: usize, twiddles: &[Cpx]) {
    for k in 0..m {
        let (wr, wi) = twiddles[k * stride];
        let (a, b) = (out[k], out[k + m]);
        let t = (b.0 * wr - b.1 * wi, b.0 * wi + b.1 * wr);
        out[k + m] = (a.0 - t.0, a.1 - t.1);
        out[k] = (a.0 + t.0, a.1 + t.1);
    }
}

/// Radix-4 butterflies over `out` (`4 * m` values) in the operation order of the reference
/// build: the products with the second and fourth inputs' twiddles are folded into the sums
/// one at a time instead of being rounded as complex products first.
fn butterfly4(out: &mut [Cpx], stride: usize, m: usize, twiddles: &[Cpx]) {
    for k in 0..m {
        let (w1r, w1i) = twiddles[k * stride];
        let (w2r, w2i) = twiddles[2 * k * stride];
        let (w3r, w3i) = twiddles[3 * k * stride];
        let (ar, ai) = out[k];
        let (br, bi) = out[k + m];
        let (cr, ci) = out[k + 2 * m];
        let (dr, di) = out[k + 3 * m];

        let (c_rr, c_ii) = (w2r * cr, w2i * ci);
        let c_im = ci * w2r + w2i * cr;
        let a_plus_c_re = (ar + c_rr) - c_ii;
        let a_minus_c_re = (ar + c_ii) - c_rr;
        let (a_plus_c_im, a_minus_c_im) = (ai + c_im, ai - c_im);

        let b_re = w1r * br - w1i * bi;
        let b_im = bi * w1r + w1i * br;
        let (d_rr, d_ii) = (w3r * dr, w3i * di);
        let d_im = di * w3r + w3i * dr;
        let b_plus_d_re = (b_re - d_ii) + d_rr;
        let b_minus_d_re = (b_re - d_rr) + d_ii;
        let b_plus_d_im = d_im + b_im;

        out[k] = (b_plus_d_re + a_plus_c_re, b_plus_d_im + a_plus_c_im);
        out[k + 2 * m] = (a_plus_c_re - b_plus_d_re, a_plus_c_im - b_plus_d_im);
        out[k + m] = ((a_minus_c_re + b_im) - d_im, a_minus_c_im - b_minus_d_re);
        out[k + 3 * m] = ((a_minus_c_re + d_im) - b_im, b_minus_d_re + a_minus_c_im);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct DFT in double precision.
    fn dft(x: &[f32]) -> Vec<(f64, f64)> {
        let n = x.len();
        (0..=n / 2)
            .map(|k| {
                x.iter().enumerate().fold((0.0, 0.0), |(re, im), (j, &v)| {
                    let ph = -std::f64::consts::TAU * (k * j % n) as f64 / n as f64;
                    (re + f64::from(v) * ph.cos(), im + f64::from(v) * ph.sin())
                })
            })
            .collect()
    }

    #[test]
    fn agrees_with_a_double_precision_dft() {
        for n in [4usize, 8, 16, 32, 64, 128, 256, 512] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 113) as f32 - 56.0) * 100.0 + (i as f32 * 0.37).sin())
                .collect();
            let mut fft = KissRealFft::new(n).unwrap();
            let mut out = vec![(0.0, 0.0); n / 2 + 1];
            fft.process(&x, &mut out);
            let want = dft(&x);
            let scale = x.iter().map(|v| v.abs()).sum::<f32>() as f64;
            for (k, (got, w)) in out.iter().zip(&want).enumerate() {
                let err = (f64::from(got.0) - w.0).abs().max((f64::from(got.1) - w.1).abs());
                assert!(err <= scale * 1e-6, "n={n} bin {k}: {got:?} vs {w:?}");
            }
        }
    }

    #[test]
    fn rejects_lengths_it_cannot_reproduce() {
        for n in [0usize, 2, 6, 400, 1000] {
            assert_eq!(KissRealFft::new(n).unwrap_err(), UnsupportedLength(n));
        }
        assert_eq!(KissRealFft::new(512).unwrap().len(), 512);
    }
}
