//! The encoder outputs of the last few single full-window decodes, so that the same audio
//! decoded again — a final's glossary-prompted decode, the scoring of its term proposals — skips
//! Whisper's encoder, the larger part of a final's cost on a CPU (a 30 s window: ~0.15 s on
//! tiny.en, ~0.7 s on base, 2 threads).
//!
//! ```text
//!   first decode of a final ──encode──► entry (samples, output)
//!   prompted decode of it   ──take───► the same output, no encoder pass ──put back──►
//!   term scoring of it      ──take───► …
//! ```
//!
//! # Invariants
//!
//! * **Only the very same audio.** An entry is found for samples equal to its own, compared
//!   value by value (no hash, so no collision can hand one utterance another's encoding), and
//!   for the same window length.
//! * **Full windows of one utterance only.** A batched run's output cannot be split into its
//!   utterances through the binding, and drafts (short windows, redone every few hundred ms)
//!   would only push finals out; neither enters.
//! * **Bounded**: at most [`CAPACITY`] entries, the most recently used kept (an entry holds its
//!   samples and the encoder output: ~5 MB for base).

use std::collections::VecDeque;

use ct2rs::sys::StorageView;

/// Entries kept: a few finals of concurrent sessions may interleave between a final's decodes.
pub const CAPACITY: usize = 4;

struct Entry {
    samples: Vec<f32>,
    frames: usize,
    encoded: StorageView<'static>,
}

/// The recently encoded windows of one engine.
#[derive(Default)]
pub struct EncoderCache {
    entries: VecDeque<Entry>,
    hits: u64,
}

impl EncoderCache {
    /// Takes the encoder output of `samples` over `frames` frames out of the cache, if it holds
    /// it (give it back with [`Self::put`] once used).
    pub fn take(&mut self, samples: &[f32], frames: usize) -> Option<StorageView<'static>> {
        let at = self
            .entries
            .iter()
            .position(|e| e.frames == frames && e.samples[..] == *samples)?;
        self.hits += 1;
        self.entries.remove(at).map(|e| e.encoded)
    }

    /// Keeps `encoded`, the encoder output of `samples` over `frames` frames, as the most recent
    /// entry (dropping the least recently used past [`CAPACITY`]).
    pub fn put(&mut self, samples: &[f32], frames: usize, encoded: StorageView<'static>) {
        self.entries.push_front(Entry {
            samples: samples.to_vec(),
            frames,
            encoded,
        });
        self.entries.truncate(CAPACITY);
    }

    /// Encoder passes saved so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(v: f32) -> StorageView<'static> {
        let data: &'static mut [f32] = Box::leak(vec![v; 4].into_boxed_slice());
        StorageView::new(&[1, 4], data, Default::default()).unwrap()
    }

    #[test]
    fn only_the_same_samples_in_the_same_window_are_found_and_the_oldest_go_first() {
        let mut c = EncoderCache::default();
        let a = [0.1f32, 0.2, 0.3];
        c.put(&a, 3000, view(1.0));
        assert!(c.take(&[0.1, 0.2, 0.30001], 3000).is_none(), "other samples");
        assert!(c.take(&a[..2], 3000).is_none(), "a prefix is other audio");
        assert!(c.take(&a, 1200).is_none(), "another window");
        assert_eq!(c.hits(), 0);
        let e = c.take(&a, 3000).expect("the same audio");
        assert_eq!((c.hits(), c.len()), (1, 0), "taken out until it is put back");
        c.put(&a, 3000, e);
        for k in 0..CAPACITY {
            c.put(&[k as f32], 3000, view(0.0));
        }
        assert_eq!(c.len(), CAPACITY);
        assert!(c.take(&a, 3000).is_none(), "the least recently used left first");
        assert!(c.take(&[(CAPACITY - 1) as f32], 3000).is_some());
    }
}
