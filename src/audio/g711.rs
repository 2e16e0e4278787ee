//! G.711 companding (ITU-T G.711): µ-law (`audio/pcmu`, beta `g711_ulaw`) and A-law
//! (`audio/pcma`, beta `g711_alaw`) codecs.
//!
//! This module owns the conversion between 8-bit G.711 code words and 16-bit linear PCM.
//! Decoding is table-based (tables are built at compile time from the arithmetic
//! definition); encoding is arithmetic. Both follow the ITU-T G.711 / G.191 reference
//! implementation, scaled to 16-bit samples:
//!
//! * µ-law works on 14-bit linear values; decoded values are the 14-bit reconstruction
//!   levels shifted left by 2 (range −32124 ..= 32124).
//! * A-law works on 13-bit linear values; decoded values are the 13-bit reconstruction
//!   levels shifted left by 3 (range −32256 ..= 32256).
//!
//! Encoding truncates towards the G.711 decision levels, so every linear input maps to the
//! code word whose quantisation interval contains it, and decoding yields that interval's
//! midpoint. All functions are total: they never panic on any input.

/// Bias added to the 16-bit magnitude before µ-law segment search (0x21 in the 14-bit domain).
const ULAW_BIAS: i32 = 0x84;
/// Largest 16-bit magnitude that µ-law can represent before clipping (8159 in 14-bit, biased).
const ULAW_CLIP: i32 = 32635;

/// Decodes one µ-law code word (ITU-T G.711) to a 16-bit linear sample.
///
/// `0xFF` and `0x7F` decode to 0, `0x00` to −32124 and `0x80` to +32124.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[code as usize]
}

/// Decodes one A-law code word (ITU-T G.711) to a 16-bit linear sample.
///
/// `0xD5` decodes to +8, `0x55` to −8, `0xAA` to +32256 and `0x2A` to −32256.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[code as usize]
}

/// Encodes one 16-bit linear sample as a µ-law code word (ITU-T G.711).
///
/// Magnitudes above 32635 are clipped to the largest code (decoding to ±32124).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample);
    let sign: u8 = if magnitude < 0 {
        magnitude = -magnitude; // i32, so -(-32768) does not overflow
        0x80
    } else {
        0x00
    };
    if magnitude > ULAW_CLIP {
        magnitude = ULAW_CLIP;
    }
    magnitude += ULAW_BIAS;
    // Segment (exponent) = position of the highest set bit among bits 7..=14.
    let mut exponent: u8 = 7;
    let mut mask: i32 = 0x4000;
    while exponent > 0 && magnitude & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Encodes one 16-bit linear sample as an A-law code word (ITU-T G.711).
///
/// The sample is reduced to 13 bits (arithmetic shift right by 3) first, as in G.711.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3; // 13-bit, arithmetic shift
    let mask: u8 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    // Segment = number of the first end point (0x1F, 0x3F, …, 0xFFF) that is >= value.
    let mut segment: u8 = 0;
    let mut end: i32 = 0x1F;
    while segment < 8 && value > end {
        segment += 1;
        end = (end << 1) | 1;
    }
    if segment >= 8 {
        // Unreachable for 16-bit input (13-bit magnitude <= 0xFFF), kept for totality.
        return 0x7F ^ mask;
    }
    let quant = if segment < 2 {
        (value >> 1) & 0x0F
    } else {
        (value >> segment) & 0x0F
    } as u8;
    ((segment << 4) | quant) ^ mask
}

/// Decodes a µ-law byte stream into 16-bit linear samples (one sample per byte).
pub fn decode_ulaw(input: &[u8]) -> Vec<i16> {
    input.iter().map(|&c| ulaw_to_linear(c)).collect()
}

/// Decodes an A-law byte stream into 16-bit linear samples (one sample per byte).
pub fn decode_alaw(input: &[u8]) -> Vec<i16> {
    input.iter().map(|&c| alaw_to_linear(c)).collect()
}

/// Decodes a µ-law byte stream, appending the samples to `out` (avoids reallocation
/// when `out` is reused across chunks).
pub fn decode_ulaw_into(input: &[u8], out: &mut Vec<i16>) {
    out.reserve(input.len());
    out.extend(input.iter().map(|&c| ulaw_to_linear(c)));
}

/// Decodes an A-law byte stream, appending the samples to `out`.
pub fn decode_alaw_into(input: &[u8], out: &mut Vec<i16>) {
    out.reserve(input.len());
    out.extend(input.iter().map(|&c| alaw_to_linear(c)));
}

/// Decodes a µ-law byte stream straight to `f32` samples in `[-1, 1]` (sample / 32768).
pub fn decode_ulaw_f32(input: &[u8]) -> Vec<f32> {
    input.iter().map(|&c| f32::from(ulaw_to_linear(c)) / 32768.0).collect()
}

/// Decodes an A-law byte stream straight to `f32` samples in `[-1, 1]` (sample / 32768).
pub fn decode_alaw_f32(input: &[u8]) -> Vec<f32> {
    input.iter().map(|&c| f32::from(alaw_to_linear(c)) / 32768.0).collect()
}

/// Encodes 16-bit linear samples as a µ-law byte stream (one byte per sample).
pub fn encode_ulaw(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| linear_to_ulaw(s)).collect()
}

/// Encodes 16-bit linear samples as an A-law byte stream (one byte per sample).
pub fn encode_alaw(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| linear_to_alaw(s)).collect()
}

/// Arithmetic µ-law expansion (ITU-T G.711), used to build [`ULAW_TABLE`].
const fn ulaw_expand(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Arithmetic A-law expansion (ITU-T G.711), used to build [`ALAW_TABLE`].
const fn alaw_expand(code: u8) -> i16 {
    let a = code ^ 0x55;
    let segment = (a >> 4) & 0x07;
    let mut t = ((a & 0x0F) as i32) << 4;
    if segment == 0 {
        t += 8;
    } else {
        t += 0x108;
        t <<= segment - 1;
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_expand(i as u8)
        } else {
            ulaw_expand(i as u8)
        };
        i += 1;
    }
    table
}

/// µ-law code word → 16-bit linear sample.
static ULAW_TABLE: [i16; 256] = build_table(false);
/// A-law code word → 16-bit linear sample.
static ALAW_TABLE: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        // Segment boundary: first code of exponent 1 (u = 0x10 after inversion → 0xEF).
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(ulaw_to_linear(0xF0), 120);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0xD4), 24);
        assert_eq!(alaw_to_linear(0xC5), 264); // segment 1, mantissa 0
    }

    #[test]
    fn encoders_known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
    }

    #[test]
    fn tables_are_antisymmetric_and_monotonic() {
        // µ-law: code c and c ^ 0x80 are ± of each other.
        for c in 0..=255u8 {
            assert_eq!(ulaw_to_linear(c), -ulaw_to_linear(c ^ 0x80), "ulaw {c:#x}");
            assert_eq!(alaw_to_linear(c), -alaw_to_linear(c ^ 0x80), "alaw {c:#x}");
        }
        // µ-law positive codes 0xFF (0) down to 0x80 (max) are strictly increasing.
        let pos: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_to_linear).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_code_round_trips() {
        for c in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(c));
            // 0x7F is "negative zero" and re-encodes as positive zero.
            let expected = if c == 0x7F { 0xFF } else { c };
            assert_eq!(u, expected, "ulaw {c:#x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#x}");
        }
    }

    #[test]
    fn round_trip_error_is_within_half_a_step_for_all_samples() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let xi = i32::from(x);

            let cu = linear_to_ulaw(x);
            let yu = ulaw_to_linear(cu);
            let exponent = ((!cu) >> 4) & 0x07;
            let half_step = 4i32 << exponent;
            let err = (i32::from(yu) - xi).abs();
            if xi.abs() <= ULAW_CLIP {
                assert!(err <= half_step, "ulaw x={x} y={yu} err={err}");
            } else {
                assert_eq!(yu.unsigned_abs(), 32124);
            }
            assert!(yu >= prev_u, "ulaw not monotonic at {x}");
            prev_u = yu;

            let ca = linear_to_alaw(x);
            let ya = alaw_to_linear(ca);
            let segment = ((ca ^ 0x55) >> 4) & 0x07;
            let half_step = if segment < 2 { 8 } else { 8i32 << (segment - 1) };
            let err = (i32::from(ya) - xi).abs();
            assert!(err <= half_step, "alaw x={x} y={ya} err={err}");
            assert!(ya >= prev_a, "alaw not monotonic at {x}");
            prev_a = ya;
        }
    }

    #[test]
    fn slice_helpers_match_scalar_functions() {
        let samples: Vec<i16> = (-40..40).map(|i| i * 811).collect();
        let u = encode_ulaw(&samples);
        let a = encode_alaw(&samples);
        assert_eq!(u.len(), samples.len());
        assert_eq!(
            decode_ulaw(&u),
            u.iter().map(|&c| ulaw_to_linear(c)).collect::<Vec<_>>()
        );
        assert_eq!(
            decode_alaw(&a),
            a.iter().map(|&c| alaw_to_linear(c)).collect::<Vec<_>>()
        );
        let mut out = vec![7i16];
        decode_ulaw_into(&u, &mut out);
        decode_alaw_into(&a, &mut out);
        assert_eq!(out.len(), 1 + 2 * samples.len());
        assert_eq!(out[0], 7);
        assert!(decode_ulaw(&[]).is_empty());
        let f = decode_ulaw_f32(&[0x80, 0xFF, 0x00]);
        assert_eq!(f, vec![32124.0 / 32768.0, 0.0, -32124.0 / 32768.0]);
        let f = decode_alaw_f32(&[0xD5, 0x2A]);
        assert_eq!(f, vec![8.0 / 32768.0, -32256.0 / 32768.0]);
        assert!(encode_alaw(&[]).is_empty());
    }
}
