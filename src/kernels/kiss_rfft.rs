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

/// One radix stage of the complex FFT, with its twiddles laid out per butterfly.
#[derive(Debug, Clone)]
struct Stage {
    /// 4 or 2.
    radix: usize,
    /// Butterflies per block (the length of each of the `radix` sub-transforms).
    m: usize,
    /// Real parts of the twiddles: twiddle `j` (1 ≤ j < radix) of butterfly `k` is at
    /// `(j - 1) * m + k`.
    w_re: Vec<f32>,
    /// Imaginary parts, laid out like `w_re`.
    w_im: Vec<f32>,
}

/// A planned real FFT of one length, with its tables and scratch buffers.
#[derive(Debug, Clone)]
pub struct KissRealFft {
    n: usize,
    /// Where complex input `j` goes before the first (innermost) stage: kissfft's recursion
    /// order, flattened.
    order: Vec<usize>,
    /// Stages, innermost first.
    stages: Vec<Stage>,
    /// Twiddles of the real-spectrum split: `exp(-i pi ((k + 1) / (n / 2) + 1/2))`.
    super_twiddles: Vec<Cpx>,
    /// The complex FFT's working data, real and imaginary parts apart so the butterfly
    /// loops vectorise.
    re: Vec<f32>,
    im: Vec<f32>,
}

/// `(cos, sin)` of a phase, computed in double precision and rounded to `f32` as kissfft's
/// `kf_cexp` does.
fn unit(phase: f64) -> Cpx {
    (phase.cos() as f32, phase.sin() as f32)
}

/// Fills `order` (length `radix * m` of the first stage) with the input index each output
/// slot receives in kissfft's recursive decimation in time: slot `q * m + r` of a level
/// belongs to sub-transform `q`, which reads input `offset + q * stride` with stride
/// `stride * radix`.
fn input_order(order: &mut [usize], offset: usize, stride: usize, plan: &[(usize, usize)]) {
    let (radix, m) = plan[0];
    for q in 0..radix {
        let part = &mut order[q * m..(q + 1) * m];
        if m == 1 {
            part[0] = offset + q * stride;
        } else {
            input_order(part, offset + q * stride, stride * radix, &plan[1..]);
        }
    }
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
        let twiddles: Vec<Cpx> = (0..half).map(|k| unit(k as f64 * step)).collect();
        let super_twiddles = (0..half / 2)
            .map(|k| unit(((k + 1) as f64 * inv + 0.5) * -std::f64::consts::PI))
            .collect();

        // kissfft's factorisation: radix 4 while it divides, then 2; outermost first.
        let mut plan = Vec::new();
        let mut rest = half;
        while rest > 1 {
            let radix = if rest.is_multiple_of(4) { 4 } else { 2 };
            rest /= radix;
            plan.push((radix, rest));
        }
        let mut order = vec![0; half];
        input_order(&mut order, 0, 1, &plan);

        // A stage at depth d has twiddle stride radix_0 * ... * radix_(d-1).
        let mut stages = Vec::with_capacity(plan.len());
        let mut stride = 1;
        for &(radix, m) in &plan {
            let (mut w_re, mut w_im) = (Vec::new(), Vec::new());
            for j in 1..radix {
                for k in 0..m {
                    let (re, im) = twiddles[j * k * stride];
                    w_re.push(re);
                    w_im.push(im);
                }
            }
            stages.push(Stage { radix, m, w_re, w_im });
            stride *= radix;
        }
        stages.reverse();
        Ok(Self {
            n,
            order,
            stages,
            super_twiddles,
            re: vec![0.0; half],
            im: vec![0.0; half],
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
        // Complex value j of the packed input is (input[2 j], input[2 j + 1]).
        for ((re, im), &j) in self.re.iter_mut().zip(self.im.iter_mut()).zip(&self.order) {
            *re = input[2 * j];
            *im = input[2 * j + 1];
        }
        for stage in &self.stages {
            let block = stage.radix * stage.m;
            let blocks = self.re.chunks_exact_mut(block).zip(self.im.chunks_exact_mut(block));
            for (re, im) in blocks {
                match stage.radix {
                    4 => butterfly4(re, im, stage),
                    _ => butterfly2(re, im, stage),
                }
            }
        }

        let (p_re, p_im) = (&self.re, &self.im);
        out[0] = (p_re[0] + p_im[0], 0.0);
        out[half] = (p_re[0] - p_im[0], 0.0);
        for k in 1..=half / 2 {
            let (kr, ki) = (p_re[k], p_im[k]);
            let (nr, ni) = (p_re[half - k], p_im[half - k]);
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

/// Radix-2 butterflies over one block (`2 m` values), `a ± b w`.
fn butterfly2(re: &mut [f32], im: &mut [f32], stage: &Stage) {
    let m = stage.m;
    let (ar, br) = re.split_at_mut(m);
    let (ai, bi) = im.split_at_mut(m);
    let w = stage.w_re.iter().zip(&stage.w_im);
    for ((((ar, ai), br), bi), (&wr, &wi)) in ar.iter_mut().zip(ai).zip(br).zip(bi).zip(w) {
        let (tr, ti) = (*br * wr - *bi * wi, *br * wi + *bi * wr);
        (*br, *bi) = (*ar - tr, *ai - ti);
        (*ar, *ai) = (*ar + tr, *ai + ti);
    }
}

/// Radix-4 butterflies over one block (`4 m` values) in the operation order of the reference
/// build: the real parts of the third input's product with its twiddle are folded into the
/// first input one at a time instead of being rounded as a complex product first, and the
/// fourth input's likewise into the second's.
fn butterfly4(re: &mut [f32], im: &mut [f32], stage: &Stage) {
    let m = stage.m;
    let (w1r, rest) = stage.w_re.split_at(m);
    let (w2r, w3r) = rest.split_at(m);
    let (w1i, rest) = stage.w_im.split_at(m);
    let (w2i, w3i) = rest.split_at(m);
    let (a_re, rest) = re.split_at_mut(m);
    let (b_re, rest) = rest.split_at_mut(m);
    let (c_re, d_re) = rest.split_at_mut(m);
    let (a_im, rest) = im.split_at_mut(m);
    let (b_im, rest) = rest.split_at_mut(m);
    let (c_im, d_im) = rest.split_at_mut(m);
    for k in 0..m {
        let (ar, ai) = (a_re[k], a_im[k]);
        let (br, bi) = (b_re[k], b_im[k]);
        let (cr, ci) = (c_re[k], c_im[k]);
        let (dr, di) = (d_re[k], d_im[k]);

        let (c_rr, c_ii) = (w2r[k] * cr, w2i[k] * ci);
        let cw_im = ci * w2r[k] + w2i[k] * cr;
        let a_plus_c_re = (ar + c_rr) - c_ii;
        let a_minus_c_re = (ar + c_ii) - c_rr;
        let (a_plus_c_im, a_minus_c_im) = (ai + cw_im, ai - cw_im);

        let bw_re = w1r[k] * br - w1i[k] * bi;
        let bw_im = bi * w1r[k] + w1i[k] * br;
        let (d_rr, d_ii) = (w3r[k] * dr, w3i[k] * di);
        let dw_im = di * w3r[k] + w3i[k] * dr;
        let b_plus_d_re = (bw_re - d_ii) + d_rr;
        let b_minus_d_re = (bw_re - d_rr) + d_ii;
        let b_plus_d_im = dw_im + bw_im;

        (a_re[k], a_im[k]) = (b_plus_d_re + a_plus_c_re, b_plus_d_im + a_plus_c_im);
        (c_re[k], c_im[k]) = (a_plus_c_re - b_plus_d_re, a_plus_c_im - b_plus_d_im);
        (b_re[k], b_im[k]) = ((a_minus_c_re + bw_im) - dw_im, a_minus_c_im - b_minus_d_re);
        (d_re[k], d_im[k]) = ((a_minus_c_re + dw_im) - bw_im, b_minus_d_re + a_minus_c_im);
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
