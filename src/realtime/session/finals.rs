//! Finals: the authoritative transcript of each committed item, decoded concurrently and
//! reported in commit order.
//!
//! The session hands every committed item to the finalizer as a [`FinalJob`] (its audio, the
//! engine and options chosen for it, and its partial stabiliser) right after it queued the
//! item's `committed`. [`finalize_loop`] submits each job to its engine at once, so finals of a
//! session run side by side, and reports them with [`report_final`] strictly in the order they
//! were committed.
//!
//! # Invariants
//!
//! * **Commit order.** A final is reported only after every final committed before it, however
//!   the engines order their answers.
//! * **Nothing after `completed`.** An item's last delta (the remainder of its final beyond what
//!   its partials said, unless one of its deltas was dropped) is queued, as a must-deliver event,
//!   right before its `completed`, on the same ordered queue as every other event of the session.
//! * **A failure is the item's alone.** An engine error is reported as that item's `…failed`
//!   (code `transcription_failed`) and the finals after it go on.
//! * **Accepted work is delivered or cancelled, never lost silently.** The loop ends once the
//!   session dropped its sender and every job it accepted is reported. Aborting it (the client
//!   is gone) drops the pending decodes, which the engine then skips or discards.
//! * **Bounded.** At most [`FINALS_IN_FLIGHT`] jobs wait to be submitted; beyond that the session
//!   waits, and engines apply their own back-pressure to finals (no loss).

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::outbound::Outbound;
use super::turns::{FinalAudio, RATE};
use crate::engine::recognizer::{DecodeOptions, Hypothesis, Utterance};
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::realtime::protocol::{CompletedExtras, ErrorCode, ProtocolError, ServerEvent};

/// Final jobs a session may have waiting for the finalizer.
pub const FINALS_IN_FLIGHT: usize = 64;

/// One committed item to decode.
pub struct FinalJob {
    /// The item's audio and partial state.
    pub audio: FinalAudio,
    /// Decoding options (language, prompt, window).
    pub options: DecodeOptions,
    /// The engine that decodes it.
    pub engine: EngineHandle,
    /// When the item was committed (for `latency_ms`).
    pub stopped_at: Instant,
}

/// Starts a session's finalizer, reporting to `out`; returns the sender of its jobs and its task.
/// The task ends once the sender is dropped and every accepted job is reported.
pub fn spawn(out: Arc<Outbound>) -> (mpsc::Sender<FinalJob>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(FINALS_IN_FLIGHT);
    (tx, tokio::spawn(finalize_loop(rx, out)))
}

/// Runs finals concurrently but reports them in commit order; ends when the session has dropped
/// its sender and every accepted final is reported.
pub async fn finalize_loop(mut jobs: mpsc::Receiver<FinalJob>, out: Arc<Outbound>) {
    let mut pending = FuturesOrdered::new();
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            job = jobs.recv(), if open => {
                let Some(job) = job else { open = false; continue };
                pending.push_back(async move {
                    let utt = Utterance { samples: job.audio.samples.clone(), options: job.options.clone() };
                    let r = job.engine.recognize_final(utt).await;
                    (job, r)
                });
            }
            Some((job, r)) = pending.next(), if !pending.is_empty() => report_final(job, r, &out).await,
        }
    }
}

/// Sends the outcome of one final: the last delta and `completed`, or `failed`.
pub async fn report_final(job: FinalJob, r: Result<Hypothesis, SchedError>, out: &Outbound) {
    let FinalJob {
        audio: mut a,
        stopped_at,
        ..
    } = job;
    let seconds = a.samples.len() as f64 / RATE as f64;
    match r {
        Ok(h) => {
            let text = h.text.trim().to_string();
            if !a.deltas_broken
                && let Some(d) = a.stabilizer.finish(&text)
            {
                out.send(ServerEvent::delta(&a.item, d)).await;
            }
            let extras = CompletedExtras {
                language: h.language.clone(),
                latency_ms: Some(stopped_at.elapsed().as_millis() as u64),
                ..Default::default()
            };
            out.send(ServerEvent::completed_with(&a.item, text, seconds, extras))
                .await;
        }
        Err(e) => {
            let err = ProtocolError::server_error(
                ErrorCode::Other("transcription_failed".into()),
                format!("Transcription failed: {e}"),
            );
            out.send(ServerEvent::failed(&a.item, &err)).await;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use axum::extract::ws::Message;

    use super::*;
    use crate::engine::recognizer::{EngineError, Recognizer};
    use crate::engine::scheduler::BatchPolicy;
    use crate::realtime::stabilizer::Stabilizer;

    /// What the stub answers for an utterance of a given length.
    #[derive(Clone)]
    pub(crate) enum Script {
        /// This text, after this delay.
        Text(&'static str, Duration),
        /// An inference error, after this delay.
        Fail(Duration),
    }

    /// A recognizer that answers from a script keyed by the utterance's length in samples
    /// (unknown lengths: empty text at once), and records the order it answered in.
    pub(crate) struct StubRecognizer {
        script: HashMap<usize, Script>,
        answered: Mutex<Vec<usize>>,
    }

    impl StubRecognizer {
        pub(crate) fn new(script: &[(usize, Script)]) -> Arc<Self> {
            Arc::new(Self {
                script: script.iter().cloned().collect(),
                answered: Mutex::new(Vec::new()),
            })
        }

        /// Serves the stub on `workers` threads.
        pub(crate) fn spawn(self: &Arc<Self>, workers: usize) -> EngineHandle {
            let policy = BatchPolicy {
                max_batch: 1,
                max_wait: Duration::ZERO,
                ..BatchPolicy::default()
            };
            EngineHandle::spawn(self.clone(), policy, workers)
        }

        /// Utterance lengths in the order they were answered.
        pub(crate) fn answered(&self) -> Vec<usize> {
            self.answered.lock().unwrap().clone()
        }
    }

    impl Recognizer for StubRecognizer {
        fn name(&self) -> &str {
            "stub"
        }

        fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
            batch
                .iter()
                .map(|u| {
                    let n = u.samples.len();
                    let r = match self.script.get(&n) {
                        Some(Script::Text(t, d)) => {
                            std::thread::sleep(*d);
                            Ok(Hypothesis {
                                text: t.to_string(),
                                language: Some("en".into()),
                                ..Default::default()
                            })
                        }
                        Some(Script::Fail(d)) => {
                            std::thread::sleep(*d);
                            Err(EngineError::Inference(format!("no luck with {n} samples")))
                        }
                        None => Ok(Hypothesis::default()),
                    };
                    self.answered.lock().unwrap().push(n);
                    r
                })
                .collect()
        }
    }

    /// A job for item `item` of `len` samples on `engine`.
    pub(crate) fn job(item: &str, len: usize, engine: &EngineHandle) -> FinalJob {
        FinalJob {
            audio: FinalAudio {
                item: item.into(),
                samples: vec![0.0; len].into(),
                stabilizer: Stabilizer::new(),
                deltas_broken: false,
            },
            options: DecodeOptions::default(),
            engine: engine.clone(),
            stopped_at: Instant::now(),
        }
    }

    /// Every event queued so far, as JSON (other frames as `{"frame": …}`).
    pub(crate) fn drain(
        rx: &mut mpsc::Receiver<crate::realtime::session::outbound::Outgoing>,
    ) -> Vec<serde_json::Value> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|o| match &o.msg {
                Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(Some(f)) => serde_json::json!({"frame": "close", "code": f.code}),
                other => serde_json::json!({"frame": format!("{other:?}")}),
            })
            .collect()
    }

    fn without_deltas(events: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
        events
            .into_iter()
            .filter(|e| e["type"] != "conversation.item.input_audio_transcription.delta")
            .collect()
    }

    const MS: Duration = Duration::from_millis(1);

    /// Commits `item_1`, `item_2` and `item_3` (1000, 2000 and 3000 samples) to a finalizer
    /// serving `stub` on `workers` threads, waits until it has reported them all, and returns
    /// every event it queued.
    async fn finalize_three(stub: &Arc<StubRecognizer>, workers: usize) -> Vec<serde_json::Value> {
        let engine = stub.spawn(workers);
        let (out, mut rx) = Outbound::channel(8);
        let (tx, task) = spawn(out);
        for (item, len) in [("item_1", 1000), ("item_2", 2000), ("item_3", 3000)] {
            tx.send(job(item, len, &engine)).await.unwrap();
        }
        drop(tx);
        task.await.unwrap();
        drain(&mut rx)
    }

    /// Decodes one job on its own engine and reports it to `out`, bypassing the loop.
    async fn decode_and_report(j: FinalJob, out: &Outbound) {
        let utt = Utterance {
            samples: j.audio.samples.clone(),
            options: j.options.clone(),
        };
        let r = j.engine.recognize_final(utt).await;
        report_final(j, r, out).await;
    }

    #[tokio::test]
    async fn finals_are_reported_in_commit_order_when_the_engine_answers_out_of_order() {
        let stub = StubRecognizer::new(&[
            (1000, Script::Text("first", 400 * MS)),
            (2000, Script::Text("second", 10 * MS)),
            (3000, Script::Text("third", 150 * MS)),
        ]);
        let all = finalize_three(&stub, 3).await;
        assert_eq!(stub.answered(), [2000, 3000, 1000], "the engine answered out of order");
        // without partials, each final first sends its whole text as the item's only delta
        let deltas: Vec<&str> = all
            .iter()
            .filter(|e| e["type"] == "conversation.item.input_audio_transcription.delta")
            .map(|e| e["item_id"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, ["item_1", "item_2", "item_3"]);
        let events = without_deltas(all);
        let got: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e["item_id"].as_str().unwrap(), e["transcript"].as_str().unwrap()))
            .collect();
        assert_eq!(got, [("item_1", "first"), ("item_2", "second"), ("item_3", "third")]);
        for e in &events {
            assert_eq!(e["type"], "conversation.item.input_audio_transcription.completed");
            assert_eq!(e["language"], "en");
        }
        assert_eq!(events[1]["usage"]["seconds"], 0.125);
    }

    #[tokio::test]
    async fn a_failed_final_is_reported_and_the_next_ones_go_on() {
        let stub = StubRecognizer::new(&[
            (1000, Script::Text("one", 50 * MS)),
            (2000, Script::Fail(MS)),
            (3000, Script::Text("three", MS)),
        ]);
        let events = without_deltas(finalize_three(&stub, 2).await);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "conversation.item.input_audio_transcription.completed",
                "conversation.item.input_audio_transcription.failed",
                "conversation.item.input_audio_transcription.completed",
            ]
        );
        assert_eq!(events[1]["item_id"], "item_2");
        assert_eq!(events[1]["error"]["code"], "transcription_failed");
        let msg = events[1]["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Transcription failed: ") && msg.contains("no luck"),
            "{msg}"
        );
        assert_eq!(events[2]["transcript"], "three");
    }

    #[tokio::test]
    async fn the_final_sends_the_rest_of_its_text_as_a_last_delta_before_completed() {
        let stub = StubRecognizer::new(&[(1000, Script::Text(" the quick brown fox ", MS))]);
        let engine = stub.spawn(1);
        let (out, mut rx) = Outbound::channel(8);
        let mut j = job("item_1", 1000, &engine);
        let _ = j.audio.stabilizer.update("the quick");
        assert_eq!(
            j.audio.stabilizer.update("the quick brown").as_deref(),
            Some("the quick")
        );
        let mut broken = job("item_2", 1000, &engine);
        broken.audio.deltas_broken = true;
        decode_and_report(j, &out).await;
        decode_and_report(broken, &out).await;
        let events = drain(&mut rx);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed",
                "conversation.item.input_audio_transcription.completed",
            ],
            "no delta for an item whose deltas broke"
        );
        assert_eq!(events[0]["delta"], " brown fox");
        assert_eq!(events[1]["transcript"], "the quick brown fox");
    }
}
