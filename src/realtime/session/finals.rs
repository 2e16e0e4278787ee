//! Finals: the authoritative transcript of each committed item, decoded concurrently, reviewed
//! and reported in commit order.
//!
//! The session hands every committed item to the finalizer as a [`FinalJob`] (its audio, the
//! engine, fallback and options chosen for it, the session's review plan, and its partial
//! stabiliser) right after it queued the item's `committed`. [`finalize_loop`] submits each job
//! to its engine at once (`decode_item`: a failing engine falls back, and a final far too
//! short for its item's speech is decoded again in pieces, [`crate::finalize::coverage`]), so
//! finals of a session decode side by side; it then reviews them ([`SecondPass::review`], with
//! the session's earlier reviewed finals as context and the realtime budget) one at a time in
//! commit order, and reports each with [`report_final`]. When the item was committed with
//! `diarization` on (and the server has a speaker model), its audio is embedded beside its
//! decode (on a blocking thread) and assigned a speaker in commit order, just before it is
//! reported ([`super::speakers`]).
//!
//! ```text
//!   job ─► decode_item (concurrent)  ─► in commit order ─► review (one at a time) ─► speaker ─► report
//!      └─► embed (blocking thread, diarization only) ┘
//! ```
//!
//! # Invariants
//!
//! * **Commit order.** A final is reviewed and reported only after every final committed before
//!   it, however the engines order their answers.
//! * **A second pass never holds a final back past its budget.** The glossary stage of the
//!   decode (the glossary-prompted decode and the terms checked against the audio) and the LLM
//!   reviewer each get [`SecondPass::realtime_budget`]; past it the decode as it stands, or the
//!   deterministically reviewed text, goes out (counted in the finalizer's
//!   `glossary_over_budget` and `budget_exceeded`).
//! * **Nothing after `completed`.** An item's last delta (the remainder of its reviewed final
//!   beyond what its partials said, unless one of its deltas was dropped or the final disagrees
//!   with them) is queued, as a must-deliver event, right before its `completed`, on the same
//!   ordered queue as every other event of the session.
//! * **Per item, in this order**: its last delta, then (diarization) its one `…segment` event
//!   (`speaker`, `start` 0 and `end` the item's length in seconds of its audio, `text` the
//!   reviewed transcript), then `completed` (with the extension `speaker`, the same label). An
//!   item whose transcript is empty, whose decode failed or whose embedding failed gets no
//!   segment. Speakers are assigned in commit order, so labels follow first appearance.
//! * **`completed` carries the reviewed text**; when a review ran (`review` is not `none`), the
//!   extensions `raw_transcript` (the recognizer's text) and `edits` (the audit trail, as in
//!   REST's `verbose_json`) ride on it.
//! * **A failure is the item's alone.** An engine error (after the fallback, if any) is reported
//!   as that item's `…failed` (code `transcription_failed`) and the finals after it go on.
//! * **Accepted work is delivered or cancelled, never lost silently.** The loop ends once the
//!   session dropped its sender and every job it accepted is reported. Cancelling it
//!   ([`Finalizer::cancel`]: the client is gone) first hands every accepted decode to its engine
//!   queue, then drops the pending decodes, which the engine skips (`cancelled`) or discards
//!   (`abandoned`); jobs it had not yet taken from the session are counted `cancelled` on their
//!   engine. So every accepted final shows in its engine's `utterances` or `cancelled`.
//! * **Bounded.** At most [`FINALS_IN_FLIGHT`] jobs wait to be submitted; beyond that the session
//!   waits, and engines apply their own back-pressure to finals (no loss).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::early::EarlyFinal;
use super::outbound::Outbound;
use super::speakers::{self, ItemSpeaker, SessionSpeakers, SpeakerError};
use super::turns::{FinalAudio, RATE};
use crate::config::ReviewMode;
use crate::engine::recognizer::DecodeOptions;
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::engine::speaker::SpeakerEmbedder;
use crate::engine::vad::SileroModel;
use crate::finalize::{DecodeRoute, FinalDecode, FinalizeStats, ReviewPlan, Reviewed, SecondPass};
use crate::realtime::protocol::{CompletedExtras, ErrorCode, ProtocolError, ServerEvent};

/// Final jobs a session may have waiting for the finalizer.
pub const FINALS_IN_FLIGHT: usize = 64;

/// Reviewed finals kept as context for the next reviews (the LLM reviewer reads the last few).
const PREVIOUS_KEPT: usize = 8;

/// One committed item to decode.
pub struct FinalJob {
    /// The item's audio and partial state.
    pub audio: FinalAudio,
    /// Decoding options (language, languages, prompt, window).
    pub options: DecodeOptions,
    /// The engine that decodes it.
    pub engine: EngineHandle,
    /// The engine that answers when `engine` fails.
    pub fallback: Option<EngineHandle>,
    /// The session's review when the item was committed.
    pub review: ReviewPlan,
    /// When the item was committed (for `latency_ms`).
    pub stopped_at: Instant,
    /// The session's `diarization` when the item was committed: label it with a speaker.
    pub diarize: bool,
    /// The item's decode, started before its commit on the same audio ([`super::early`]): the
    /// job takes its outcome instead of decoding.
    pub early: Option<EarlyFinal>,
}

/// A final's outcome, decoded and (when it decoded) reviewed.
pub type FinalOutcome = Result<(FinalDecode, Reviewed), SchedError>;

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An item's speaker embedding (`None`: not asked for).
type Embedding = Option<Result<Vec<f32>, SpeakerError>>;

/// How long a cancelled finalizer may take to hand its decodes over before it is aborted (it
/// can be stuck queueing an event for a client that does not read).
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// A session's running finalizer task.
pub struct Finalizer {
    task: JoinHandle<()>,
    cancel: CancellationToken,
}

impl Finalizer {
    /// Waits until every accepted final is reported (the session must have dropped its sender).
    /// Cancel-safe: the task keeps running if this wait is dropped.
    pub async fn finished(&mut self) -> bool {
        (&mut self.task).await.is_ok()
    }

    /// Stops the finalizer: nothing more is reported, and every accepted final it had not
    /// reported is cancelled in (or discarded by) its engine and counted there.
    pub async fn cancel(mut self) {
        self.cancel.cancel();
        if tokio::time::timeout(CANCEL_GRACE, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

/// What a session's finalizer works with besides its jobs.
#[derive(Clone)]
pub struct FinalizerParts {
    /// The second pass: review and the finalizer chain's counters.
    pub second: Arc<SecondPass>,
    /// The server's speaker embedder, if any (labels diarized items).
    pub speaker: Option<Arc<dyn SpeakerEmbedder>>,
    /// The server's VAD, if any: it measures the speech of a final too short for its audio.
    pub vad: Option<SileroModel>,
}

/// Starts a session's finalizer with `parts`, reporting to `out`; returns the sender of its
/// jobs and the finalizer. The task ends once the sender is dropped and every accepted job is
/// reported, or once it is cancelled.
pub fn spawn(out: Arc<Outbound>, parts: FinalizerParts) -> (mpsc::Sender<FinalJob>, Finalizer) {
    let (tx, rx) = mpsc::channel(FINALS_IN_FLIGHT);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(finalize_loop(rx, out, parts, cancel.clone()));
    (tx, Finalizer { task, cancel })
}

/// Decodes finals concurrently, reviews and reports them in commit order, labelling the items of
/// `diarize` jobs with the speakers of `parts`' embedder; ends when the session has dropped its
/// sender and every accepted final is reported, or when `cancel` fires (see the module
/// invariants).
pub async fn finalize_loop(
    mut jobs: mpsc::Receiver<FinalJob>,
    out: Arc<Outbound>,
    parts: FinalizerParts,
    cancel: CancellationToken,
) {
    let FinalizerParts { second, speaker, vad } = parts;
    let mut speakers = speaker.map(SessionSpeakers::new);
    let mut decoding = FuturesOrdered::new();
    // decoded in commit order, waiting for the review in progress
    let mut decoded: VecDeque<(FinalJob, Result<FinalDecode, SchedError>, Embedding)> = VecDeque::new();
    let mut reviewing: Option<Pending<(FinalJob, FinalOutcome, Embedding)>> = None;
    let mut previous: VecDeque<String> = VecDeque::new();
    let mut open = true;
    loop {
        if reviewing.is_none()
            && let Some((job, r, embedding)) = decoded.pop_front()
        {
            let context: Vec<String> = previous.iter().cloned().collect();
            let review = review_final(second.clone(), job, r, context);
            reviewing = Some(Box::pin(async move {
                let (job, outcome) = review.await;
                (job, outcome, embedding)
            }));
        }
        if !open && decoding.is_empty() && reviewing.is_none() {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                // Hand every decode to its engine (a future never polled never reached one),
                // then drop them all: the engine counts each as cancelled or abandoned.
                while let Some(Some(_)) = decoding.next().now_or_never() {}
                jobs.close();
                while let Ok(job) = jobs.try_recv() {
                    // an early decode already reached its engine, which counts its drop
                    if job.early.is_none() {
                        job.engine.count_cancelled();
                    }
                }
                return;
            }
            job = jobs.recv(), if open => {
                let Some(mut job) = job else { open = false; continue };
                let stats = second.stats().clone();
                let budget = second.realtime_budget();
                let embedder = speakers.as_ref().filter(|_| job.diarize).map(SessionSpeakers::embedder);
                let vad = vad.clone();
                decoding.push_back(async move {
                    let early = job.early.take();
                    let samples = job.audio.samples.clone();
                    let embedding = async move {
                        match embedder {
                            Some(e) => Some(speakers::embed(e, samples).await),
                            None => None,
                        }
                    };
                    let decode = async {
                        let early = match early {
                            Some(e) => e.outcome().await,
                            None => None,
                        };
                        match early {
                            Some(decoded) => decoded,
                            None => decode_item(&job, &stats, vad.as_ref(), budget).await,
                        }
                    };
                    let (r, embedding) = tokio::join!(decode, embedding);
                    (job, r, embedding)
                });
            }
            Some(d) = decoding.next(), if !decoding.is_empty() => decoded.push_back(d),
            (job, outcome, embedding) = async {
                match reviewing.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            }, if reviewing.is_some() => {
                reviewing = None;
                if let Ok((_, reviewed)) = &outcome
                    && !reviewed.text.is_empty()
                {
                    previous.push_back(reviewed.text.clone());
                    if previous.len() > PREVIOUS_KEPT {
                        previous.pop_front();
                    }
                }
                let speaker = item_speaker(speakers.as_mut(), &job, &outcome, embedding);
                report_final(job, outcome, speaker, &out).await;
            }
        }
    }
}

/// Decodes `job`'s audio with its engine (its fallback answers when the engine fails); when the
/// text is far too short for the item's speech (measured by `vad`), the item is decoded again in
/// pieces cut at its pauses ([`DecodeRoute::left_out_of_utterance`]). With a glossary, each
/// decode's glossary stage gets at most `glossary_budget` ([`crate::finalize::bias`]).
pub(super) async fn decode_item(
    job: &FinalJob,
    stats: &FinalizeStats,
    vad: Option<&SileroModel>,
    glossary_budget: Duration,
) -> Result<FinalDecode, SchedError> {
    let route = DecodeRoute {
        engine: &job.engine,
        fallback: job.fallback.as_ref(),
        stats,
        plan: &job.review,
        options: &job.options,
        glossary_budget: Some(glossary_budget),
    };
    let mut decoded = route.decode(job.audio.samples.clone(), false).await?;
    if let Some(vad) = vad
        && let Some(again) = route
            .left_out_of_utterance(vad, &job.audio.samples, &decoded.hypothesis)
            .await
    {
        decoded.hypothesis = again;
    }
    Ok(decoded)
}

/// Reviews a decoded final with the job's plan, `previous` as context and the realtime budget.
async fn review_final(
    second: Arc<SecondPass>,
    job: FinalJob,
    r: Result<FinalDecode, SchedError>,
    previous: Vec<String>,
) -> (FinalJob, FinalOutcome) {
    let outcome = match r {
        Ok(d) => {
            let text = d.hypothesis.text.trim();
            let reviewed = second
                .review(&job.review, text, &previous, Some(second.realtime_budget()))
                .await;
            if !reviewed.skipped.is_empty() {
                tracing::warn!(item = %job.audio.item, skipped = ?reviewed.skipped, "final sent with reviewers skipped");
            }
            Ok((d, reviewed))
        }
        Err(e) => Err(e),
    };
    (job, outcome)
}

/// The speaker of a reported item (commit order): its embedding assigned to the session's
/// speakers, when it has one and a non-empty transcript.
fn item_speaker(
    speakers: Option<&mut SessionSpeakers>,
    job: &FinalJob,
    outcome: &FinalOutcome,
    embedding: Embedding,
) -> Option<ItemSpeaker> {
    let (Some(s), Some(embedding), Ok((_, reviewed))) = (speakers, embedding, outcome) else {
        return None;
    };
    if reviewed.text.trim().is_empty() {
        return None;
    }
    let seconds = job.audio.samples.len() as f32 / RATE as f32;
    match embedding.and_then(|e| s.assign(&e, seconds)) {
        Ok(speaker) => Some(speaker),
        Err(e) => {
            tracing::warn!(item = %job.audio.item, error = %e, "item sent without a speaker");
            None
        }
    }
}

/// Sends the outcome of one final: the last delta, the speaker's `segment` (when it has one)
/// and `completed`, or `failed`.
pub async fn report_final(job: FinalJob, outcome: FinalOutcome, speaker: Option<ItemSpeaker>, out: &Outbound) {
    let FinalJob {
        audio: mut a,
        review,
        stopped_at,
        ..
    } = job;
    let seconds = a.samples.len() as f64 / RATE as f64;
    match outcome {
        Ok((d, reviewed)) => {
            if !a.deltas_broken
                && let Some(delta) = a.stabilizer.finish(&reviewed.text)
            {
                out.send(ServerEvent::delta(&a.item, delta)).await;
            }
            let ran = review.mode() != ReviewMode::None;
            if let Some(s) = &speaker {
                let text = reviewed.text.clone();
                out.send(ServerEvent::segment(
                    &a.item,
                    &s.segment_id,
                    &s.label,
                    0.0,
                    seconds,
                    text,
                ))
                .await;
            }
            let extras = CompletedExtras {
                language: d.hypothesis.language.clone(),
                latency_ms: Some(stopped_at.elapsed().as_millis() as u64),
                processing_ms: d.hypothesis.compute_s.map(|s| s * 1000.0),
                edits: ran.then(|| crate::finalize::edits_json(&reviewed.raw, &reviewed.edits)),
                raw_transcript: ran.then_some(reviewed.raw),
                speaker: speaker.map(|s| s.label),
                ..Default::default()
            };
            out.send(ServerEvent::completed_with(&a.item, reviewed.text, seconds, extras))
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
    use crate::config::ReviewConfig;
    use crate::engine::recognizer::{EngineError, Hypothesis, Recognizer, Utterance};
    use crate::engine::scheduler::BatchPolicy;
    use crate::finalize::ReviewFields;
    use crate::realtime::stabilizer::Stabilizer;
    use crate::review::{Edit, Glossary, Review, ReviewContext, ReviewError, Reviewer};

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
        name: &'static str,
        script: HashMap<usize, Script>,
        answered: Mutex<Vec<usize>>,
    }

    impl StubRecognizer {
        pub(crate) fn new(script: &[(usize, Script)]) -> Arc<Self> {
            Self::named("stub", script)
        }

        /// A stub with its own engine name (a fallback must differ from the engine it replaces).
        pub(crate) fn named(name: &'static str, script: &[(usize, Script)]) -> Arc<Self> {
            Arc::new(Self {
                name,
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
            self.name
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
            fallback: None,
            review: ReviewPlan::none(),
            stopped_at: Instant::now(),
            diarize: false,
            early: None,
        }
    }

    /// The reviewers of a server with the default configuration (no LLM).
    pub(crate) fn second_pass() -> Arc<SecondPass> {
        Arc::new(SecondPass::new(&Default::default(), None))
    }

    /// A finalizer's parts without a VAD (stub engines' text is not checked against speech).
    pub(crate) fn parts(second: Arc<SecondPass>, speaker: Option<Arc<dyn SpeakerEmbedder>>) -> FinalizerParts {
        FinalizerParts {
            second,
            speaker,
            vad: None,
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

    pub(crate) const MS: Duration = Duration::from_millis(1);

    /// Commits `item_1`, `item_2` and `item_3` (1000, 2000 and 3000 samples) to a finalizer
    /// serving `stub` on `workers` threads, waits until it has reported them all, and returns
    /// every event it queued.
    async fn finalize_three(stub: &Arc<StubRecognizer>, workers: usize) -> Vec<serde_json::Value> {
        let engine = stub.spawn(workers);
        let jobs = [("item_1", 1000), ("item_2", 2000), ("item_3", 3000)].map(|(item, len)| job(item, len, &engine));
        run_jobs(jobs, second_pass()).await
    }

    /// Runs `jobs` through a finalizer reviewing with `second`, waits until it has reported them
    /// all, and returns every event it queued.
    pub(crate) async fn run_jobs(
        jobs: impl IntoIterator<Item = FinalJob>,
        second: Arc<SecondPass>,
    ) -> Vec<serde_json::Value> {
        let (out, mut rx) = Outbound::channel(8);
        let (tx, mut task) = spawn(out, parts(second, None));
        for j in jobs {
            tx.send(j).await.unwrap();
        }
        drop(tx);
        assert!(task.finished().await);
        drain(&mut rx)
    }

    /// Decodes and reviews one job and reports it to `out`, bypassing the loop.
    async fn decode_and_report(j: FinalJob, out: &Outbound) {
        let second = second_pass();
        let utt = Utterance {
            samples: j.audio.samples.clone(),
            options: j.options.clone(),
        };
        let r = crate::finalize::decode_final(&j.engine, None, utt, false, second.stats()).await;
        let (j, outcome) = review_final(second, j, r, Vec::new()).await;
        report_final(j, outcome, None, out).await;
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

    /// A job of `len` samples whose audio is the "voice" `voice` of the stand-in embedder.
    fn voiced(item: &str, len: usize, voice: usize, engine: &EngineHandle) -> FinalJob {
        let mut j = job(item, len, engine);
        j.audio.samples = vec![voice as f32 / 10.0; len].into();
        j.diarize = true;
        j
    }

    #[tokio::test]
    async fn diarized_items_get_a_segment_before_completed_with_labels_stable_in_commit_order() {
        use crate::realtime::session::speakers::tests::ToneEmbedder;
        // 2 s, 1.5 s, 2.5 s, 1.25 s and 3 s items; the first answers last
        let stub = StubRecognizer::new(&[
            (32_000, Script::Text("reader one", 300 * MS)),
            (24_000, Script::Text("jfk", 10 * MS)),
            (40_000, Script::Text("reader two", 10 * MS)),
            (20_000, Script::Text("", MS)),
            (48_000, Script::Text("not labelled", MS)),
        ]);
        let engine = stub.spawn(3);
        let mut off = voiced("item_5", 48_000, 1, &engine);
        off.diarize = false;
        let jobs = [
            voiced("item_1", 32_000, 1, &engine),
            voiced("item_2", 24_000, 0, &engine),
            voiced("item_3", 40_000, 1, &engine),
            voiced("item_4", 20_000, 2, &engine),
            off,
        ];
        let (out, mut rx) = Outbound::channel(8);
        let (tx, mut task) = spawn(out, parts(second_pass(), Some(Arc::new(ToneEmbedder))));
        for j in jobs {
            tx.send(j).await.unwrap();
        }
        drop(tx);
        assert!(task.finished().await);
        let events = drain(&mut rx);
        let seq: Vec<(&str, &str)> = events
            .iter()
            .map(|e| {
                let t = e["type"].as_str().unwrap();
                (t.rsplit('.').next().unwrap(), e["item_id"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            seq,
            [
                ("delta", "item_1"),
                ("segment", "item_1"),
                ("completed", "item_1"),
                ("delta", "item_2"),
                ("segment", "item_2"),
                ("completed", "item_2"),
                ("delta", "item_3"),
                ("segment", "item_3"),
                ("completed", "item_3"),
                ("completed", "item_4"),
                ("delta", "item_5"),
                ("completed", "item_5"),
            ],
            "an empty transcript gets no segment, nor an item committed with diarization off"
        );
        let segments: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["type"] == "conversation.item.input_audio_transcription.segment")
            .collect();
        let got: Vec<(&str, &str, f64, f64, &str)> = segments
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap(),
                    e["speaker"].as_str().unwrap(),
                    e["start"].as_f64().unwrap(),
                    e["end"].as_f64().unwrap(),
                    e["text"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("seg_1", "A", 0.0, 2.0, "reader one"),
                ("seg_2", "B", 0.0, 1.5, "jfk"),
                ("seg_3", "A", 0.0, 2.5, "reader two"),
            ]
        );
        assert!(segments.iter().all(|e| e["content_index"] == 0));
        let done = completed(&events);
        let speakers: Vec<Option<&str>> = done.iter().map(|e| e["speaker"].as_str()).collect();
        assert_eq!(speakers, [Some("A"), Some("B"), Some("A"), None, None]);
    }

    #[tokio::test]
    async fn an_item_the_embedder_refuses_is_reported_without_a_speaker() {
        use crate::realtime::session::speakers::tests::ToneEmbedder;
        let stub = StubRecognizer::new(&[
            (16_000, Script::Text("odd voice", MS)),
            (32_000, Script::Text("fine", MS)),
        ]);
        let engine = stub.spawn(1);
        // voice 7 is no voice of the stand-in: it refuses the audio
        let jobs = [
            voiced("item_1", 16_000, 7, &engine),
            voiced("item_2", 32_000, 0, &engine),
        ];
        let (out, mut rx) = Outbound::channel(8);
        let (tx, mut task) = spawn(out, parts(second_pass(), Some(Arc::new(ToneEmbedder))));
        for j in jobs {
            tx.send(j).await.unwrap();
        }
        drop(tx);
        assert!(task.finished().await);
        let events = drain(&mut rx);
        let done = completed(&events);
        assert_eq!(done[0]["transcript"], "odd voice");
        assert!(done[0].get("speaker").is_none());
        assert_eq!(done[1]["speaker"], "A", "the first labelled item is A");
        let segments = events
            .iter()
            .filter(|e| e["type"] == "conversation.item.input_audio_transcription.segment")
            .count();
        assert_eq!(segments, 1);
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

    /// A reviewer standing in for the LLM (the real LLM reviewer is tested against a real
    /// server in `tests/llm_reviewer.rs`): after `delay`, appends " (checked)" and records the
    /// context it was given.
    struct StandIn {
        delay: Duration,
        seen: Mutex<Vec<Vec<String>>>,
    }

    impl Reviewer for StandIn {
        fn name(&self) -> &'static str {
            "llm"
        }

        fn review(&self, text: &str, ctx: &ReviewContext<'_>, _: &Glossary) -> Result<Review, ReviewError> {
            std::thread::sleep(self.delay);
            self.seen.lock().unwrap().push(ctx.previous.to_vec());
            let to = " (checked)".to_string();
            Ok(Review {
                text: format!("{text}{to}"),
                edits: vec![Edit {
                    start: text.len(),
                    end: text.len(),
                    from: String::new(),
                    to,
                    reviewer: "llm",
                    term: None,
                    score: 1.0,
                }],
            })
        }
    }

    /// Reviewers with `llm` as the LLM reviewer and a realtime budget of `budget_ms`.
    fn second_with(llm: Arc<StandIn>, budget_ms: u64) -> Arc<SecondPass> {
        let cfg = ReviewConfig {
            realtime_budget_ms: budget_ms,
            ..Default::default()
        };
        Arc::new(SecondPass::new(&cfg, Some(llm as Arc<dyn Reviewer>)))
    }

    /// `review=mode` with "cube netties" known as a misrecognition of Kubernetes.
    fn kubernetes(second: &SecondPass, mode: ReviewMode) -> ReviewPlan {
        let glossary = Glossary::from_json_str(r#"[{"term": "Kubernetes", "misrecognitions": ["cube netties"]}]"#);
        let fields = ReviewFields {
            mode: Some(mode),
            glossary: Some(Arc::new(glossary.unwrap())),
            ..Default::default()
        };
        second.plan(&fields, Some("en")).unwrap()
    }

    fn completed(events: &[serde_json::Value]) -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["type"] == "conversation.item.input_audio_transcription.completed")
            .collect()
    }

    const HEARD: &str = "we deploy on cube netties today";

    #[tokio::test]
    async fn a_reviewed_final_carries_the_term_the_raw_text_and_the_edits() {
        let stub = StubRecognizer::new(&[(1000, Script::Text(HEARD, MS)), (2000, Script::Text(HEARD, MS))]);
        let engine = stub.spawn(1);
        let second = second_pass();
        let mut reviewed = job("item_1", 1000, &engine);
        reviewed.review = kubernetes(&second, ReviewMode::Glossary);
        // the partials already said "we deploy" (reviewed the same way before the stabiliser)
        for partial in ["we deploy", "we deploy on"] {
            let _ = reviewed.audio.stabilizer.update(partial);
        }
        let mut unreviewed = job("item_2", 2000, &engine);
        unreviewed.review = kubernetes(&second, ReviewMode::None);
        let events = run_jobs([reviewed, unreviewed], second).await;

        let deltas: Vec<&str> = events.iter().filter_map(|e| e["delta"].as_str()).collect();
        assert_eq!(
            deltas,
            [" on Kubernetes today", HEARD],
            "the last delta follows the reviewed text"
        );
        let done = completed(&events);
        assert_eq!(done[0]["transcript"], "we deploy on Kubernetes today");
        assert_eq!(done[0]["raw_transcript"], HEARD);
        let edits = done[0]["edits"].as_array().unwrap();
        let e = edits
            .iter()
            .find(|e| e["to"] == "Kubernetes")
            .expect("an edit to the term");
        let (start, end) = (
            e["start"].as_u64().unwrap() as usize,
            e["end"].as_u64().unwrap() as usize,
        );
        let span: String = HEARD.chars().skip(start).take(end - start).collect();
        assert_eq!(
            (span.as_str(), e["from"].as_str()),
            ("cube netties", Some("cube netties"))
        );
        assert_eq!(
            (e["reviewer"].as_str(), e["term"].as_str()),
            (Some("glossary"), Some("Kubernetes"))
        );
        // review=none: the recognizer's text, no audit trail
        assert_eq!(done[1]["transcript"], HEARD);
        assert!(done[1].get("raw_transcript").is_none() && done[1].get("edits").is_none());
    }

    #[tokio::test]
    async fn a_review_past_the_budget_sends_the_deterministic_text_and_is_counted() {
        let slow = Arc::new(StandIn {
            delay: 500 * MS,
            seen: Mutex::default(),
        });
        let second = second_with(slow, 30);
        let stub = StubRecognizer::new(&[(1000, Script::Text(HEARD, MS))]);
        let mut j = job("item_1", 1000, &stub.spawn(1));
        j.review = kubernetes(&second, ReviewMode::Llm);
        let events = run_jobs([j], second.clone()).await;
        let done = completed(&events);
        assert_eq!(
            done[0]["transcript"], "we deploy on Kubernetes today",
            "the LLM's answer came too late"
        );
        assert_eq!(done[0]["raw_transcript"], HEARD);
        assert_eq!(second.stats().budget_exceeded(), 1);
    }

    #[tokio::test]
    async fn a_failing_engine_falls_back_and_the_fallback_is_counted() {
        let strong = StubRecognizer::named("strong", &[(1000, Script::Fail(MS))]);
        let fast = StubRecognizer::named("fast", &[(1000, Script::Text("from the fallback", MS))]);
        let second = second_pass();
        let mut j = job("item_1", 1000, &strong.spawn(1));
        j.fallback = Some(fast.spawn(1));
        let events = run_jobs([j], second.clone()).await;
        let done = completed(&events);
        assert_eq!(done.len(), 1, "{events:?}");
        assert_eq!(done[0]["transcript"], "from the fallback");
        assert_eq!(second.stats().fallbacks(), [(("strong".to_string(), "error"), 1)]);
    }

    #[tokio::test]
    async fn reviews_run_in_commit_order_with_the_earlier_finals_as_context() {
        let stub = StubRecognizer::new(&[
            (1000, Script::Text("first", 300 * MS)),
            (2000, Script::Text("second", 10 * MS)),
            (3000, Script::Text("third", 100 * MS)),
        ]);
        let engine = stub.spawn(3);
        let llm = Arc::new(StandIn {
            delay: Duration::ZERO,
            seen: Mutex::default(),
        });
        let second = second_with(llm.clone(), 5_000);
        let jobs = [("item_1", 1000), ("item_2", 2000), ("item_3", 3000)].map(|(item, len)| {
            let mut j = job(item, len, &engine);
            j.review = kubernetes(&second, ReviewMode::Llm);
            j
        });
        let events = run_jobs(jobs, second).await;
        assert_eq!(stub.answered(), [2000, 3000, 1000], "the engine answered out of order");
        let got: Vec<(&str, &str)> = completed(&events)
            .iter()
            .map(|e| (e["item_id"].as_str().unwrap(), e["transcript"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("item_1", "first (checked)"),
                ("item_2", "second (checked)"),
                ("item_3", "third (checked)")
            ]
        );
        let seen = llm.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                vec![],
                vec!["first (checked)".to_string()],
                vec!["first (checked)".into(), "second (checked)".into()]
            ]
        );
    }
}
