//! Word and character error rates of one file for `bench transcribe`, with the eval set's
//! normalization ([`crate::eval::normalize`]: compatibility forms folded, lower-cased,
//! punctuation stripped, traditional Chinese folded to simplified).

use crate::eval::score::{Metric, score};
use crate::eval::{Counts, Normalizer};

fn rate(metric: Metric, reference: &str, hyp: &str) -> f64 {
    let c: Counts = score(&Normalizer::default(), metric, reference, hyp, &[]);
    if c.units == 0 {
        // nothing to say: any word is an error
        return if hyp.chars().any(char::is_alphanumeric) {
            1.0
        } else {
            0.0
        };
    }
    c.error_rate()
}

/// Word error rate of `hyp` against `reference` (edit distance over reference words).
pub fn wer(reference: &str, hyp: &str) -> f64 {
    rate(Metric::Wer, reference, hyp)
}

/// Character error rate (spaces ignored), for Chinese, Japanese and Cantonese.
pub fn cer(reference: &str, hyp: &str) -> f64 {
    rate(Metric::Cer, reference, hyp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(wer("Hello, World!", "hello world"), 0.0);
        assert!((wer("a b c d", "a x c") - 0.5).abs() < 1e-9);
        assert!((cer("今天天气", "今天天汽") - 0.25).abs() < 1e-9);
        assert_eq!(cer("今天天气", "今天天氣"), 0.0, "traditional script is no error");
        assert_eq!(wer("ＡＢＣ，def", "abc def"), 0.0);
        assert_eq!((wer("", ""), wer("", "uh")), (0.0, 1.0));
    }
}
