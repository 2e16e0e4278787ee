//! How sure Whisper is of each word of a draft ([`DecodeOptions::word_probabilities`]).
//!
//! A greedy draft's text is forced through the decoder once more, by CTranslate2's alignment,
//! which reports every text token's probability given the audio and the tokens before it. The
//! same start sequence the draft was decoded with is used (`<|notimestamps|>` included when the
//! draft wrote none), so the probabilities are the ones the greedy search chose its tokens by.
//! It costs one decoder pass over the draft's tokens (7–9 ms for a 1–6 s draft of tiny.en on two
//! cores, against 30–75 ms for the draft's own encoder pass and search).
//!
//! Invariants: one answer per window, in order; a window that did not ask, has a prompt (its
//! probabilities would depend on text this pass does not see), wrote no text, or does not share
//! the batch's start sequence gets an empty list, never a made-up probability. A failed
//! alignment fails no draft: the engine keeps the drafts and drops their probabilities.

use ct2rs::sys::{self, StorageView};

use super::WhisperEngine;
use crate::engine::recognizer::{DecodeOptions, WordProbability};

impl WhisperEngine {
    /// The word probabilities of each draft window of one batch (see the module docs).
    /// `encoded` is the batch's encoder output, `frames` its window in mel frames, `text_ids`
    /// each window's text tokens as decoded.
    pub(super) fn draft_word_probabilities(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView,
        windows: &[(&[f32], &DecodeOptions)],
        langs: &[Option<String>],
        text_ids: &[Vec<usize>],
        frames: usize,
    ) -> anyhow::Result<Vec<Vec<WordProbability>>> {
        let n = windows.len();
        let mut answers = vec![Vec::new(); n];
        let start_of = |i: usize| {
            let (_, o) = windows[i];
            let mut start = self.vocab.sot_ids(self.multilingual, langs[i].as_deref(), o.task);
            if !o.word_timestamps {
                start.push(self.vocab.no_timestamps_id());
            }
            start
        };
        let asks = |i: usize| {
            let o = windows[i].1;
            o.word_probabilities && o.prompt.is_none() && !text_ids[i].is_empty()
        };
        let Some(first) = (0..n).find(|&i| asks(i)) else {
            return Ok(answers);
        };
        // one alignment call takes one start sequence for the whole batch
        let start = start_of(first);
        let wanted: Vec<bool> = (0..n).map(|i| asks(i) && start_of(i) == start).collect();
        // the call aligns every item of the encoder batch: the others get a one-token stand-in
        let filler = self.vocab.encode_text(".");
        let tokens: Vec<Vec<usize>> = (0..n)
            .map(|i| if wanted[i] { text_ids[i].clone() } else { filler.clone() })
            .collect();
        let content: Vec<usize> = windows.iter().map(|(s, _)| (s.len() / 160).clamp(1, frames)).collect();
        let aligned = model.align(encoded, &start, &tokens, &content, 7)?;
        for (i, a) in aligned.into_iter().enumerate().take(n) {
            if wanted[i] {
                answers[i] = self.vocab.word_probabilities(&text_ids[i], &a.text_token_probs);
            }
        }
        Ok(answers)
    }
}
