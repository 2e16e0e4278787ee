//! Whisper's vocabulary: special tokens, prompt construction, and turning generated token ids into
//! text, timestamped segments and timed words.

use std::collections::HashMap;
use std::path::Path;

use crate::engine::recognizer::{Hypothesis, Segment, Task, Word, WordProbability};

use super::repetition::is_cjk;
use super::{TIME_PRECISION, task_token};

/// Token strings (for prompts) and the HF tokenizer (for text).
pub struct WhisperVocab {
    pieces: Vec<String>,
    ids: HashMap<String, usize>,
    tokenizer: tokenizers::Tokenizer,
    eot: usize,
    sot: usize,
    timestamp_begin: usize,
}

impl WhisperVocab {
    /// Reads `vocabulary.txt` and `tokenizer.json` from a CTranslate2 model directory.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(dir.join("vocabulary.txt")).map_err(|e| format!("vocabulary.txt: {e}"))?;
        let pieces: Vec<String> = text.lines().map(str::to_owned).collect();
        let ids: HashMap<String, usize> = pieces.iter().enumerate().map(|(i, p)| (p.clone(), i)).collect();
        let tokenizer =
            tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| format!("tokenizer.json: {e}"))?;
        let get = |t: &str| {
            ids.get(t)
                .copied()
                .ok_or_else(|| format!("token {t} missing from vocabulary"))
        };
        let eot = get("<|endoftext|>")?;
        let sot = get("<|startoftranscript|>")?;
        let timestamp_begin = get("<|notimestamps|>")? + 1;
        Ok(Self {
            pieces,
            ids,
            tokenizer,
            eot,
            sot,
            timestamp_begin,
        })
    }

    /// The id of `<|notimestamps|>`.
    pub fn no_timestamps_id(&self) -> usize {
        self.timestamp_begin - 1
    }

    /// The start-of-transcript sequence as token ids (used for alignment).
    pub fn sot_ids(&self, multilingual: bool, lang: Option<&str>, task: Task) -> Vec<usize> {
        let mut v = vec![self.sot];
        if multilingual {
            if let Some(id) = lang.and_then(|l| self.ids.get(&format!("<|{l}|>"))) {
                v.push(*id);
            }
            if let Some(id) = self.ids.get(task_token(task)) {
                v.push(*id);
            }
        }
        v
    }

    /// The decoder prompt as token strings: optional previous-text prompt, then the start sequence.
    /// Timestamps are always generated, so segments carry times.
    pub fn prompt(&self, multilingual: bool, lang: Option<&str>, task: Task, text: Option<&str>) -> Vec<String> {
        self.previous_ids(text)
            .into_iter()
            .chain(self.sot_ids(multilingual, lang, task))
            .filter_map(|i| self.pieces.get(i).cloned())
            .collect()
    }

    /// The previous-text tokens of a prompt: `text` encoded, the newest 223 kept (Whisper keeps at
    /// most half its context minus one). Empty for no text.
    fn previous_text(&self, text: Option<&str>) -> Vec<u32> {
        let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Vec::new();
        };
        let Ok(enc) = self.tokenizer.encode(format!(" {t}"), false) else {
            return Vec::new();
        };
        let ids = enc.get_ids();
        ids[ids.len().saturating_sub(223)..].to_vec()
    }

    /// The ids of the previous-text part of a decoder prompt for `text` (`<|startofprev|>` and
    /// the newest 223 text tokens), empty for no text; [`Self::sot_ids`] follows it.
    pub fn previous_ids(&self, text: Option<&str>) -> Vec<usize> {
        let previous = self.previous_text(text);
        if previous.is_empty() {
            return Vec::new();
        }
        let mut v = Vec::with_capacity(previous.len() + 1);
        v.extend(self.ids.get("<|startofprev|>").copied());
        v.extend(previous.iter().map(|&i| i as usize));
        v
    }

    /// Where `<|startoftranscript|>` stands in the decoder prompt built for `text` ([`Self::prompt`]):
    /// CTranslate2 decodes a batch together only when that position is the same for every item.
    pub fn start_position(&self, text: Option<&str>) -> usize {
        match self.previous_text(text).len() {
            0 => 0,
            n => n + 1,
        }
    }

    /// Token ids of `text` as the decoder would write it (with the leading space Whisper's text
    /// tokens start with); used to align text that was edited after decoding.
    pub fn encode_text(&self, text: &str) -> Vec<usize> {
        self.tokenizer
            .encode(format!(" {}", text.trim()), false)
            .map(|e| e.get_ids().iter().map(|&i| i as usize).collect())
            .unwrap_or_default()
    }

    /// Text tokens only (no timestamps, no specials), as passed to alignment.
    pub fn text_ids(&self, ids: &[usize]) -> Vec<usize> {
        ids.iter().copied().filter(|&i| i < self.eot).collect()
    }

    /// Text of token ids (special and timestamp tokens skipped).
    pub fn decode(&self, ids: &[usize]) -> String {
        let v: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        self.tokenizer.decode(&v, true).unwrap_or_default()
    }

    /// Builds text and segments from generated ids with timestamp tokens.
    pub fn hypothesis(&self, ids: &[usize], duration: f32) -> Hypothesis {
        let mut segments = Vec::new();
        // text tokens of the open segment, and all its tokens (timestamps included)
        let mut cur: Vec<usize> = Vec::new();
        let mut seg_ids: Vec<i64> = Vec::new();
        let mut seg_start: Option<f32> = None;
        let mut last_time = 0.0f32;
        let segment = |text: String, start: f32, end: f32, tokens: Vec<i64>| Segment {
            start,
            end,
            text,
            tokens,
            // the window starts at 0 on this time axis
            window_offset: start,
            ..Default::default()
        };
        for &id in ids {
            if id >= self.timestamp_begin {
                let t = (id - self.timestamp_begin) as f32 * TIME_PRECISION;
                if cur.is_empty() {
                    seg_start = Some(t);
                    seg_ids = vec![id as i64];
                } else {
                    seg_ids.push(id as i64);
                    let text = self.decode(&cur).trim().to_string();
                    if !text.is_empty() {
                        segments.push(segment(
                            text,
                            seg_start.unwrap_or(last_time),
                            t,
                            std::mem::take(&mut seg_ids),
                        ));
                    }
                    cur.clear();
                    seg_ids.clear();
                    seg_start = None;
                }
                last_time = t;
            } else if id < self.eot {
                cur.push(id);
                seg_ids.push(id as i64);
            }
        }
        if !cur.is_empty() {
            let text = self.decode(&cur).trim().to_string();
            if !text.is_empty() {
                segments.push(segment(
                    text,
                    seg_start.unwrap_or(last_time),
                    duration.max(last_time),
                    seg_ids,
                ));
            }
        }
        let text = segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
        let token_ids = ids.iter().map(|&i| i as i64).collect();
        Hypothesis {
            text,
            segments,
            token_ids,
            ..Default::default()
        }
    }

    /// Groups text tokens into words and times them from the alignment `(token, frame)` pairs.
    pub fn words(&self, text_ids: &[usize], alignment: &[(i64, i64)]) -> Vec<Word> {
        let n = text_ids.len();
        // first aligned frame of each token (index n = end of text)
        let mut first = vec![i64::MAX; n + 1];
        let mut last_frame = 0i64;
        for &(t, f) in alignment {
            if t >= 0 && (t as usize) <= n {
                first[t as usize] = first[t as usize].min(f);
            }
            last_frame = last_frame.max(f);
        }
        if first[n] == i64::MAX {
            first[n] = last_frame + 1;
        }
        // fill gaps and enforce monotonicity
        let mut prev = 0i64;
        for f in first.iter_mut() {
            if *f == i64::MAX || *f < prev {
                *f = prev;
            }
            prev = *f;
        }
        self.word_spans(text_ids)
            .into_iter()
            .map(|(a, b, word)| Word {
                word,
                start: first[a] as f32 * TIME_PRECISION,
                end: first[b] as f32 * TIME_PRECISION,
            })
            .collect()
    }

    /// The words of `text_ids`: each word's token range `a..b` and its text, trimmed; words that
    /// decode to nothing but whitespace are left out.
    fn word_spans(&self, text_ids: &[usize]) -> Vec<(usize, usize, String)> {
        self.word_bounds(text_ids)
            .windows(2)
            .filter_map(|w| {
                let word = self.decode(&text_ids[w[0]..w[1]]).trim().to_string();
                (!word.is_empty()).then_some((w[0], w[1], word))
            })
            .collect()
    }

    /// Where each word of `text_ids` starts, as token indices, then `text_ids.len()`.
    fn word_bounds(&self, text_ids: &[usize]) -> Vec<usize> {
        let n = text_ids.len();
        // Word starts. Tokens are first grouped into whole characters (a Han character can take
        // two or three byte-level tokens; a partial one decodes to U+FFFD). A group starts a word
        // when it begins with a space (Latin words), or when it or the group before it holds a
        // CJK character or full-width mark (scripts written without spaces: each character
        // group is a word, as OpenAI's reference does for Chinese and Japanese, while a Latin
        // word inside Chinese stays whole); punctuation never starts one, it stays with the word
        // before.
        let mut bounds = Vec::new();
        let mut group = 0;
        let mut previous_cjk = false;
        for k in 0..n {
            let text = self.decode(&text_ids[group..=k]);
            if text.contains('\u{FFFD}') && k + 1 < n {
                continue;
            }
            let piece = self.pieces.get(text_ids[group]).map(String::as_str).unwrap_or("");
            let spaced = piece.starts_with('Ġ') || piece.starts_with(' ');
            let cjk = text.chars().any(is_cjk);
            let punct = text.trim().chars().all(|c| c.is_ascii_punctuation() || is_cjk_punct(c));
            if group == 0 || ((spaced || cjk || previous_cjk) && !punct) {
                bounds.push(group);
            }
            // a Latin word right after a full-width mark has no space before it either
            previous_cjk = cjk || (punct && text.chars().any(is_cjk_punct));
            group = k + 1;
        }
        bounds.push(n);
        bounds
    }

    /// The words of `text_ids` (grouped as [`WhisperVocab::words`] groups them), each with the
    /// smallest of its tokens' probabilities (`probs`, one per text token, as CTranslate2's
    /// alignment reports them). Empty when the two lengths differ.
    pub fn word_probabilities(&self, text_ids: &[usize], probs: &[f32]) -> Vec<WordProbability> {
        if text_ids.len() != probs.len() {
            return Vec::new();
        }
        self.word_spans(text_ids)
            .into_iter()
            .map(|(a, b, word)| WordProbability {
                word,
                probability: probs[a..b].iter().copied().fold(1.0f32, f32::min),
            })
            .collect()
    }
}

/// Reads the language code and its probability out of a CTranslate2 detection result
/// (`<|en|>`, 0.97 → `("en", 0.97)`). The binding keeps the fields private, so the `Debug` form
/// (`DetectionResult { language: "<|en|>", probability: 0.97 }`) is parsed.
pub fn detection(d: &ct2rs::sys::DetectionResult) -> Option<(String, f32)> {
    parse_detection(&format!("{d:?}"))
}

fn parse_detection(s: &str) -> Option<(String, f32)> {
    let start = s.find("<|")? + 2;
    let end = s[start..].find("|>")? + start;
    let p = s.find("probability:")? + "probability:".len();
    let num: String = s[p..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    Some((s[start..end].to_string(), num.parse().ok()?))
}

/// Full-width punctuation of CJK text (sentence and clause marks, brackets, quotes), which
/// belongs to the word before it.
fn is_cjk_punct(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65)
        || matches!(c, '“' | '”' | '‘' | '’' | '…' | '—')
}

#[cfg(test)]
mod tests {
    #[test]
    fn detection_debug_form_is_parsed() {
        let d = super::parse_detection(r#"DetectionResult { language: "<|zh|>", probability: 0.8125 }"#);
        assert_eq!(d, Some(("zh".to_string(), 0.8125)));
        let tiny = super::parse_detection(r#"DetectionResult { language: "<|haw|>", probability: 1.5e-7 }"#);
        assert_eq!(tiny, Some(("haw".to_string(), 1.5e-7)));
        assert_eq!(super::parse_detection("DetectionResult { }"), None);
    }
}
