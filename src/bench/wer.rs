//! Word and character error rates, with the normalisation the eval set's README prescribes:
//! lower-case, punctuation stripped, spaces collapsed; CJK scored per character.

/// Normalises text for scoring.
pub fn normalize(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            // full-width ASCII variants to half-width
            let c = if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            } else {
                c
            };
            if c.is_alphanumeric() || c == '\'' {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Word error rate of `hyp` against `reference` (edit distance over reference words).
pub fn wer(reference: &str, hyp: &str) -> f64 {
    let r: Vec<String> = normalize(reference)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    let h: Vec<String> = normalize(hyp)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f64 / r.len() as f64
}

/// Character error rate (spaces ignored), for Chinese, Japanese and Cantonese.
pub fn cer(reference: &str, hyp: &str) -> f64 {
    let r: Vec<char> = normalize(reference).chars().filter(|c| !c.is_whitespace()).collect();
    let h: Vec<char> = normalize(hyp).chars().filter(|c| !c.is_whitespace()).collect();
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f64 / r.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(wer("Hello, World!", "hello world"), 0.0);
        assert!((wer("a b c d", "a x c") - 0.5).abs() < 1e-9);
        assert!((cer("今天天气", "今天天汽") - 0.25).abs() < 1e-9);
        assert_eq!(normalize("ＡＢＣ，def"), "abc def");
    }
}
