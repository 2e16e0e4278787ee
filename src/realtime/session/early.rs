//! Early finals: an item's final decoded while its speaker pauses, before the pause has lasted
//! long enough to end the turn.
//!
//! Server VAD ends a turn after `silence_duration_ms` (500) of quiet, and the item's audio ends
//! `prefix_padding_ms` (300) after its last speech. So for the last 200 ms of every turn the
//! final's audio is already known ([`super::turns::TurnEvent::FinalLikely`]), and a final that
//! starts then instead of at the commit arrives up to that much sooner. When speech resumes in
//! the pause, the early decode is dropped at the item's next pause or at its commit, whichever
//! comes first: its engine skips it if it has not started, or discards it (it has usually run by
//! then, so a resumed pause costs one decode of the item so far).
//!
//! ```text
//!   FinalLikely(item, audio) ─► engine queue empty? ─► EarlyFinal::start (decode_item, own task)
//!   FinalReady(item, audio') ─► audio' is audio? ─► the job takes the early decode
//!                                      └─ no ─► dropped (task aborted), the job decodes anew
//!   an accepted session.update, a clear, the session's end ─► dropped
//! ```
//!
//! # Invariants
//!
//! * **The same decode, only sooner.** An early final is used only for the item it was started
//!   for, on the very audio the committed item has, under the configuration the item was
//!   committed with (any accepted update drops it), so what the client gets is what the final
//!   would have been. If its task fails (it panicked), the job decodes anew: no final is lost.
//! * **Ahead of no waiting work.** One early final per session at a time, started only while
//!   its engine has nothing queued, so it delays no queued final or partial; once work queues
//!   up, the finals run as before. Whether started early or not, the item is reviewed and
//!   reported in commit order by the finalizer.
//! * **Dropped means stopped.** Dropping an [`EarlyFinal`] aborts its task, which drops its
//!   engine request (counted by the engine as cancelled or abandoned; one that had already run
//!   counts among its `utterances`).

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::finals::{FinalJob, decode_item};
use crate::engine::scheduler::SchedError;
use crate::engine::vad::SileroModel;
use crate::finalize::{FinalDecode, SecondPass};

/// The outcome of an item's decode.
type Decoded = Result<FinalDecode, SchedError>;

/// A final decoding ahead of its item's commit.
pub struct EarlyFinal {
    item: String,
    samples: Arc<[f32]>,
    task: JoinHandle<Decoded>,
}

impl EarlyFinal {
    /// Starts decoding `job` (built as the item's final job would be, on its likely audio) on
    /// its own task, with the finalizer's second pass and VAD.
    pub fn start(job: FinalJob, second: Arc<SecondPass>, vad: Option<SileroModel>) -> Self {
        let item = job.audio.item.clone();
        let samples = job.audio.samples.clone();
        let task = tokio::spawn(async move {
            let stats = second.stats().clone();
            decode_item(&job, &stats, vad.as_ref(), second.realtime_budget()).await
        });
        Self { item, samples, task }
    }

    /// Whether this is the decode of `item` on `samples` (the committed item's audio).
    pub fn decodes(&self, item: &str, samples: &Arc<[f32]>) -> bool {
        self.item == item && self.samples[..] == samples[..]
    }

    /// The decode's outcome; `None` if its task failed, so the caller decodes anew.
    pub async fn outcome(mut self) -> Option<Decoded> {
        match (&mut self.task).await {
            Ok(decoded) => Some(decoded),
            Err(e) => {
                tracing::warn!(item = %self.item, error = %e, "early final failed; decoding again");
                None
            }
        }
    }
}

impl Drop for EarlyFinal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::session::finals::tests::{MS, Script, StubRecognizer, job, run_jobs, second_pass};

    fn completed(events: &[serde_json::Value]) -> Vec<(&str, &str)> {
        events
            .iter()
            .filter(|e| e["type"] == "conversation.item.input_audio_transcription.completed")
            .map(|e| (e["item_id"].as_str().unwrap(), e["transcript"].as_str().unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn a_final_started_in_the_pause_that_ended_its_turn_is_decoded_once() {
        let stub = StubRecognizer::new(&[
            (1000, Script::Text("the first words", 30 * MS)),
            (1600, Script::Text("the whole turn", MS)),
        ]);
        let engine = stub.spawn(1);
        // a breath: the speech after it withdrew the first early final
        let withdrawn = EarlyFinal::start(job("item_1", 1000, &engine), second_pass(), None);
        let mut committed = job("item_1", 1600, &engine);
        assert!(!withdrawn.decodes(&committed.audio.item, &committed.audio.samples));
        drop(withdrawn);
        // the pause that ended the turn
        let early = EarlyFinal::start(job("item_1", 1600, &engine), second_pass(), None);
        assert!(early.decodes(&committed.audio.item, &committed.audio.samples));
        assert!(!early.decodes("item_2", &committed.audio.samples));
        committed.early = Some(early);
        let events = run_jobs([committed], second_pass()).await;
        assert_eq!(completed(&events), [("item_1", "the whole turn")]);
        let answered = stub.answered();
        assert_eq!(
            answered.iter().filter(|n| **n == 1600).count(),
            1,
            "the committed item took the early decode: {answered:?}"
        );
        assert!(answered.iter().filter(|n| **n == 1000).count() <= 1);
    }

    #[tokio::test]
    async fn an_early_final_that_failed_leaves_the_item_to_a_fresh_decode() {
        let stub = StubRecognizer::new(&[(1600, Script::Text("the whole turn", MS))]);
        let engine = stub.spawn(1);
        let early = EarlyFinal::start(job("item_1", 1600, &engine), second_pass(), None);
        // its task ends without an outcome (as a panic would end it)
        early.task.abort();
        let mut committed = job("item_1", 1600, &engine);
        committed.early = Some(early);
        let events = run_jobs([committed], second_pass()).await;
        assert_eq!(completed(&events), [("item_1", "the whole turn")]);
    }
}
