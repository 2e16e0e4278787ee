//! From greedy CTC tokens to a [`Hypothesis`]: rich-transcription tags, text, words and
//! segments with timestamps.
//!
//! SenseVoice prepends four query frames (language, event, emotion, text normalisation) to
//! the LFR features; their outputs are the tags `<|zh|><|NEUTRAL|><|Speech|><|woitn|>`.
//! Tokens emitted at those frames are read as tags; text tokens start at frame 4 and frame
//! `f` starts at `(f - 4) * 60 ms` (10 ms fbank shift x LFR shift 6), as in sherpa-onnx.

use crate::engine::recognizer::{Hypothesis, Segment, Word};
use crate::kernels::ctc::CtcToken;

use super::vocab::{PieceKind, Vocab};

/// Number of query frames SenseVoice prepends.
pub const NUM_QUERY_FRAMES: u32 = 4;

/// Seconds per encoder frame after LFR (10 ms x 6).
pub const FRAME_SECONDS: f32 = 0.06;

const WORD_MARK: char = '\u{2581}';

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // kana
        | 0x3400..=0x4DBF // CJK ext A
        | 0x4E00..=0x9FFF // CJK unified
        | 0xAC00..=0xD7AF // hangul syllables
        | 0xF900..=0xFAFF // CJK compatibility
        | 0x20000..=0x2FFFF)
}

fn frame_time(frame: u32) -> f32 {
    frame.saturating_sub(NUM_QUERY_FRAMES) as f32 * FRAME_SECONDS
}

/// Builds the hypothesis for one utterance.
///
/// * `tokens`: greedy CTC output over all frames, query frames included.
/// * `duration`: utterance length in seconds (caps end times).
/// * `forced_language`: the language the caller asked for (`None` for auto-detection).
/// * `want_words`: whether to fill [`Hypothesis::words`].
pub fn build_hypothesis(
    vocab: &Vocab,
    tokens: &[CtcToken],
    duration: f32,
    forced_language: Option<&str>,
    want_words: bool,
) -> Hypothesis {
    let mut hyp = Hypothesis {
        token_ids: tokens.iter().map(|t| i64::from(t.id)).collect(),
        ..Default::default()
    };
    let mut detected = None;
    // Words as (text, first frame, last frame).
    let mut words: Vec<(String, u32, u32)> = Vec::new();
    let mut text_tokens: Vec<i64> = Vec::new();
    let mut prev_cjk = false;
    for t in tokens {
        match vocab.kind(t.id) {
            PieceKind::Language(l) if t.frame < NUM_QUERY_FRAMES && detected.is_none() => detected = Some(l.clone()),
            PieceKind::Emotion(e) if t.frame < NUM_QUERY_FRAMES && hyp.emotion.is_none() => {
                hyp.emotion = Some(e.clone())
            }
            PieceKind::Event(e) if t.frame < NUM_QUERY_FRAMES && hyp.event.is_none() => hyp.event = Some(e.clone()),
            PieceKind::Text if t.frame >= NUM_QUERY_FRAMES => {
                let Some(piece) = vocab.piece(t.id) else {
                    continue;
                };
                text_tokens.push(i64::from(t.id));
                let starts_word = piece.starts_with(WORD_MARK);
                let body = piece.trim_start_matches(WORD_MARK);
                if body.is_empty() {
                    // A lone word boundary: the next piece starts a new word.
                    prev_cjk = true;
                    continue;
                }
                let cjk = body.chars().next().is_some_and(is_cjk);
                match words.last_mut() {
                    Some(w) if !starts_word && !cjk && !prev_cjk => {
                        w.0.push_str(body);
                        w.2 = t.frame;
                    }
                    _ => words.push((body.to_string(), t.frame, t.frame)),
                }
                prev_cjk = cjk;
            }
            _ => {}
        }
    }
    // Text: SentencePiece detokenisation (word marks become spaces) without spaces between
    // CJK words, which is what joining the words gives.
    let mut text = String::new();
    let mut last_was_cjk = true;
    for (w, _, _) in &words {
        let cjk = w.chars().next().is_some_and(is_cjk);
        if !(text.is_empty() || cjk && last_was_cjk) {
            text.push(' ');
        }
        text.push_str(w);
        last_was_cjk = w.chars().last().is_some_and(is_cjk);
    }
    let timed: Vec<Word> = words
        .iter()
        .enumerate()
        .map(|(i, (w, first, last))| {
            let start = frame_time(*first).min(duration);
            let mut end = (frame_time(*last) + FRAME_SECONDS).min(duration);
            if let Some((_, next, _)) = words.get(i + 1) {
                end = end.min(frame_time(*next));
            }
            Word {
                word: w.clone(),
                start,
                end: end.max(start),
            }
        })
        .collect();
    if let (Some(first), Some(last)) = (timed.first(), timed.last()) {
        hyp.segments.push(Segment {
            start: first.start,
            end: last.end,
            text: text.clone(),
            tokens: text_tokens,
            // the utterance is one window that starts at 0
            window_offset: first.start,
            // argmax CTC decoding; no log-probability or no-speech measurement is kept
            temperature: Some(0.0),
            ..Default::default()
        });
    }
    if want_words {
        hyp.words = timed;
    }
    hyp.text = text;
    hyp.language = match forced_language {
        Some(l) => Some(l.to_string()),
        None => detected.filter(|l| l != "nospeech"),
    };
    hyp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        let pieces = [
            "<unk>",
            "<|en|>",
            "<|NEUTRAL|>",
            "<|Speech|>",
            "<|woitn|>",
            "\u{2581}hel",
            "lo",
            "\u{2581}world",
            "你",
            "好",
            "<|zh|>",
        ];
        Vocab::from_pieces(pieces.iter().map(|s| s.to_string()).collect())
    }

    fn toks(v: &[(u32, u32)]) -> Vec<CtcToken> {
        v.iter().map(|&(id, frame)| CtcToken { id, frame }).collect()
    }

    #[test]
    fn english_words_and_tags() {
        let t = toks(&[(1, 0), (2, 1), (3, 2), (4, 3), (5, 6), (6, 7), (7, 10)]);
        let h = build_hypothesis(&vocab(), &t, 2.0, None, true);
        assert_eq!(h.text, "hello world");
        assert_eq!(h.language.as_deref(), Some("en"));
        assert_eq!(h.emotion.as_deref(), Some("NEUTRAL"));
        assert_eq!(h.event.as_deref(), Some("Speech"));
        assert_eq!(h.words.len(), 2);
        assert!((h.words[0].start - 0.12).abs() < 1e-6);
        assert!((h.words[0].end - 0.24).abs() < 1e-6);
        assert!((h.words[1].start - 0.36).abs() < 1e-6);
        assert_eq!(h.segments.len(), 1);
        assert_eq!(h.token_ids, vec![1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn cjk_chars_are_words_without_spaces() {
        let t = toks(&[(10, 0), (8, 5), (9, 6), (7, 8)]);
        let h = build_hypothesis(&vocab(), &t, 1.0, None, false);
        assert_eq!(h.text, "你好 world");
        assert_eq!(h.language.as_deref(), Some("zh"));
        assert!(h.words.is_empty());
        let h = build_hypothesis(&vocab(), &t, 1.0, Some("ja"), true);
        assert_eq!(h.language.as_deref(), Some("ja"));
        assert_eq!(h.words.len(), 3);
    }

    #[test]
    fn tags_after_the_queries_and_empty_input_are_ignored() {
        let h = build_hypothesis(&vocab(), &toks(&[(1, 7)]), 1.0, None, true);
        assert_eq!(h.text, "");
        assert!(h.language.is_none());
        assert!(h.segments.is_empty());
        let h = build_hypothesis(&vocab(), &[], 0.0, None, true);
        assert_eq!(h, Hypothesis::default());
    }
}
