//! The scheduler: bounded queues in front of each recognizer, drained by dedicated worker threads
//! that gather requests from many callers into one batched model run.
//!
//! * Two queues per engine: finals (and batch jobs) ahead of partials.
//! * A full queue refuses at once ([`SchedError::Busy`]) for callers that can retry (REST answers
//!   503 with `Retry-After`); realtime finals wait for room instead, so accepted speech is never lost.
//! * A partial carries a generation ticket; if its session has asked for a newer partial by the
//!   time a worker picks it up, it is dropped unrun ([`SchedError::Stale`]).
//! * A job whose caller has gone (its future was dropped) is skipped unrun when a worker reaches
//!   it (`cancelled`); one whose caller leaves while it runs is discarded (`abandoned`). A final
//!   whose caller leaves while it still waits for room in a full queue is counted `cancelled` too.
//! * A worker takes the first job, then waits up to `max_wait` for more, up to the engine's batch
//!   limit, finals first. **Idle workers get their share**: while other workers of the engine
//!   wait for work, a worker takes only its equal share of what is queued (`fair_share`) and
//!   does not wait for more, so a burst (a file's windows, several sessions' partials) is spread
//!   over the replicas instead of filling one batch while the others sit idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::metrics::EngineMetrics;
use super::recognizer::{
    DecodeOptions, EngineError, Hypothesis, ModelAbilities, Recognizer, TextScore, Utterance, Word,
};

/// How urgent a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A final transcript or a batch job: never dropped once queued.
    Final,
    /// A provisional re-decode of an open utterance: dropped when stale.
    Partial,
}

/// A ticket that makes older partials of the same stream stale when a newer one is issued.
#[derive(Debug, Clone, Default)]
pub struct PartialTicket {
    current: Arc<AtomicU64>,
    mine: u64,
}

impl PartialTicket {
    /// Issues a new ticket for a stream, making every earlier ticket of that stream stale.
    pub fn issue(stream: &Arc<AtomicU64>) -> Self {
        let mine = stream.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            current: stream.clone(),
            mine,
        }
    }

    fn is_stale(&self) -> bool {
        self.current.load(Ordering::SeqCst) != self.mine
    }
}

/// Why a request got no hypothesis.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    /// The queue is full; retry later.
    #[error("the {engine} queue is full")]
    Busy {
        /// Engine name.
        engine: String,
    },
    /// A newer partial of the same stream superseded this one.
    #[error("superseded by a newer partial")]
    Stale,
    /// The engine failed on this input.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The worker is gone (shutting down).
    #[error("the {0} engine is shutting down")]
    Closed(String),
}

struct Job {
    utterance: Utterance,
    ticket: Option<PartialTicket>,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Hypothesis, SchedError>>,
}

/// Batching settings for one engine.
#[derive(Debug, Clone)]
pub struct BatchPolicy {
    /// Upper bound of a batch (also capped by the engine's own `max_batch`).
    pub max_batch: usize,
    /// How long a worker waits to fill a batch after the first job.
    pub max_wait: Duration,
    /// Capacity of the finals queue.
    pub final_queue: usize,
    /// Capacity of the partials queue.
    pub partial_queue: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_wait: Duration::from_millis(10),
            final_queue: 64,
            partial_queue: 64,
        }
    }
}

/// The async-side handle of one engine: cheap to clone, safe to call from any task.
#[derive(Clone)]
pub struct EngineHandle {
    name: Arc<str>,
    finals: flume::Sender<Job>,
    partials: flume::Sender<Job>,
    metrics: Arc<EngineMetrics>,
    abilities: ModelAbilities,
    ctc_word_times: bool,
    workers: usize,
    /// The engine itself, for what only it can count ([`Recognizer::encoder_cache_hits`]).
    engine: Arc<dyn Recognizer>,
}

impl EngineHandle {
    /// Starts `workers` threads serving `engine` and returns the handle.
    pub fn spawn(engine: Arc<dyn Recognizer>, policy: BatchPolicy, workers: usize) -> Self {
        let (ftx, frx) = flume::bounded(policy.final_queue);
        let (ptx, prx) = flume::bounded(policy.partial_queue);
        let metrics = Arc::new(EngineMetrics::default());
        let name: Arc<str> = engine.name().into();
        let abilities = engine.abilities();
        let ctc_word_times = engine.ctc_word_times();
        let idle = Arc::new(AtomicUsize::new(0));
        for i in 0..workers.max(1) {
            let (e, f, p, m, pol, idle) = (
                engine.clone(),
                frx.clone(),
                prx.clone(),
                metrics.clone(),
                policy.clone(),
                idle.clone(),
            );
            std::thread::Builder::new()
                .name(format!("engine-{}-{i}", e.name()))
                .spawn(move || worker(e, f, p, m, pol, &idle))
                .expect("spawning an engine worker thread");
        }
        Self {
            name,
            finals: ftx,
            partials: ptx,
            metrics,
            abilities,
            ctc_word_times,
            workers: workers.max(1),
            engine,
        }
    }

    /// Engine name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the engine's model can do (languages, translation).
    pub fn abilities(&self) -> ModelAbilities {
        self.abilities
    }

    /// Whether its word times come free with every decode, from the frames (see
    /// [`Recognizer::ctc_word_times`]).
    pub fn ctc_word_times(&self) -> bool {
        self.ctc_word_times
    }

    /// Metrics of this engine.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Encoder passes the engine saved by reusing a recent one ([`Recognizer::encoder_cache_hits`]).
    pub fn encoder_cache_hits(&self) -> u64 {
        self.engine.encoder_cache_hits()
    }

    /// Requests queued and not yet finished.
    pub fn queue_depth(&self) -> (usize, usize) {
        (self.finals.len(), self.partials.len())
    }

    /// An estimate of how long a final submitted now waits before its run starts, seconds: the
    /// finals queued ahead of it and half of each run holding a final in progress (on average
    /// half of it is left), each run taking the engine's recent final-run time
    /// ([`EngineMetrics::recent_final_run_s`]), shared by its workers (0 when nothing is queued
    /// or running). Finals still waiting for room in a full queue are not counted.
    pub fn final_wait_estimate(&self) -> f64 {
        final_wait(
            self.finals.len(),
            self.metrics.final_runs_running.load(Ordering::Relaxed) as usize,
            self.metrics.recent_final_run_s(),
            self.workers,
        )
    }

    /// Submits a job; refuses at once with `Busy` when the queue is full.
    pub async fn try_recognize(
        &self,
        utterance: Utterance,
        priority: Priority,
        ticket: Option<PartialTicket>,
    ) -> Result<Hypothesis, SchedError> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            utterance,
            ticket,
            enqueued: Instant::now(),
            reply: tx,
        };
        let q = match priority {
            Priority::Final => &self.finals,
            Priority::Partial => &self.partials,
        };
        q.try_send(job).map_err(|e| match e {
            flume::TrySendError::Full(_) => {
                self.metrics.refused.fetch_add(1, Ordering::Relaxed);
                SchedError::Busy {
                    engine: self.name.to_string(),
                }
            }
            flume::TrySendError::Disconnected(_) => SchedError::Closed(self.name.to_string()),
        })?;
        self.await_reply(rx).await
    }

    /// Submits a final and waits for room in the queue if it is full (back-pressure, no loss).
    pub async fn recognize_final(&self, utterance: Utterance) -> Result<Hypothesis, SchedError> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            utterance,
            ticket: None,
            enqueued: Instant::now(),
            reply: tx,
        };
        let mut waiting = WaitingForRoom(Some(&self.metrics));
        let sent = self.finals.send_async(job).await;
        // the queue took it (or is closed): from here the worker accounts for it
        waiting.0 = None;
        sent.map_err(|_| SchedError::Closed(self.name.to_string()))?;
        self.await_reply(rx).await
    }

    /// Counts a final accepted for this engine but dropped before it was submitted (its
    /// realtime client left) as `cancelled`, as a worker counts one it skips.
    pub fn count_cancelled(&self) {
        self.metrics.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// The log-probability of each of `texts` as the transcript of `samples` under `options`
    /// (see [`DecodeOptions::score_texts`]), queued as a final. Engines whose abilities do not
    /// say `scores_texts` answer with an error.
    pub async fn score_texts(
        &self,
        samples: Arc<[f32]>,
        options: DecodeOptions,
        texts: Vec<String>,
    ) -> Result<Vec<f32>, SchedError> {
        let scored = self.scored(samples, options, texts).await?;
        Ok(scored.into_iter().map(|s| s.logprob).collect())
    }

    /// The words of `text`, timed against `samples` by forced alignment (a scoring request, see
    /// [`DecodeOptions::score_texts`]), queued as a final: seconds from the first sample.
    /// Engines whose abilities do not say `scores_texts` answer with an error.
    pub async fn align_text(
        &self,
        samples: Arc<[f32]>,
        options: DecodeOptions,
        text: &str,
    ) -> Result<Vec<Word>, SchedError> {
        let mut scored = self.scored(samples, options, vec![text.to_string()]).await?;
        Ok(scored.pop().map(|s| s.words).unwrap_or_default())
    }

    async fn scored(
        &self,
        samples: Arc<[f32]>,
        mut options: DecodeOptions,
        texts: Vec<String>,
    ) -> Result<Vec<TextScore>, SchedError> {
        let n = texts.len();
        options.score_texts = Some(texts.into());
        let h = self.recognize_final(Utterance { samples, options }).await?;
        if h.scores.len() != n {
            return Err(SchedError::from(EngineError::Inference(format!(
                "{} scored {} of {n} texts",
                self.name,
                h.scores.len()
            ))));
        }
        Ok(h.scores)
    }

    async fn await_reply(
        &self,
        rx: oneshot::Receiver<Result<Hypothesis, SchedError>>,
    ) -> Result<Hypothesis, SchedError> {
        rx.await
            .unwrap_or_else(|_| Err(SchedError::Closed(self.name.to_string())))
    }
}

/// Held while a final waits for room in a full queue: if its caller drops the wait (a realtime
/// client left), the final is counted `cancelled` as if a worker had skipped it.
struct WaitingForRoom<'a>(Option<&'a EngineMetrics>);

impl Drop for WaitingForRoom<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.0 {
            m.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn worker(
    engine: Arc<dyn Recognizer>,
    finals: flume::Receiver<Job>,
    partials: flume::Receiver<Job>,
    m: Arc<EngineMetrics>,
    policy: BatchPolicy,
    idle: &AtomicUsize,
) {
    let limit = policy.max_batch.min(engine.max_batch()).max(1);
    loop {
        // Block for the first job, finals first.
        let first = match finals.try_recv() {
            Ok(j) => j,
            Err(_) => {
                let _waiting = Idle::enter(idle);
                let r = flume::Selector::new()
                    .recv(&finals, |r| r.ok())
                    .recv(&partials, |r| r.ok())
                    .wait();
                match r {
                    Some(j) => j,
                    None => {
                        if finals.is_disconnected() && partials.is_disconnected() {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let mut batch = Vec::with_capacity(limit);
        push_live(&mut batch, first, &m);
        let deadline = Instant::now() + policy.max_wait;
        loop {
            let others_idle = idle.load(Ordering::Relaxed);
            let queued = finals.len() + partials.len();
            if batch.len() >= fair_share(limit, batch.len() + queued, others_idle) {
                break;
            }
            let next = finals.try_recv().or_else(|_| partials.try_recv());
            match next {
                Ok(j) => push_live(&mut batch, j, &m),
                Err(_) => {
                    let now = Instant::now();
                    // with a worker idle, what comes next is its to take
                    if now >= deadline || batch.is_empty() || others_idle > 0 {
                        break;
                    }
                    let r = flume::Selector::new()
                        .recv(&finals, |r| r.ok())
                        .recv(&partials, |r| r.ok())
                        .wait_deadline(deadline);
                    match r {
                        Ok(Some(j)) => push_live(&mut batch, j, &m),
                        _ => break,
                    }
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        let utterances: Vec<Utterance> = batch.iter().map(|j| j.utterance.clone()).collect();
        let audio_s: f64 = utterances.iter().map(|u| u.samples.len() as f64 / 16_000.0).sum();
        let started = Instant::now();
        for j in &batch {
            m.queue_wait.observe(started.duration_since(j.enqueued).as_secs_f64());
        }
        // finals (and batch jobs) carry no partial ticket
        let holds_final = batch.iter().any(|j| j.ticket.is_none());
        if holds_final {
            m.final_runs_running.fetch_add(1, Ordering::Relaxed);
        }
        let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&*engine, &utterances)))
            .unwrap_or_else(|_| {
                utterances
                    .iter()
                    .map(|_| Err(EngineError::Inference("engine panicked".into())))
                    .collect()
            });
        let took = started.elapsed().as_secs_f64();
        m.record_batch(batch.len(), took, audio_s);
        if holds_final {
            m.record_final_run(took);
            m.final_runs_running.fetch_sub(1, Ordering::Relaxed);
        }
        let mut results = results.into_iter();
        let runs = batch.len();
        for job in batch {
            let share = compute_share(took, job.utterance.samples.len() as f64 / 16_000.0, audio_s, runs);
            let r = results
                .next()
                .unwrap_or_else(|| Err(EngineError::Inference("engine returned too few results".into())))
                .map(|mut h| {
                    h.compute_s = Some(share);
                    h
                });
            if job.reply.send(r.map_err(SchedError::from)).is_err() {
                // its caller left while it ran
                m.abandoned.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs one batch: scoring requests ([`DecodeOptions::score_texts`]) one by one, the rest
/// as one recognizer batch. Scoring requests count in the engine's metrics like decodes (runs,
/// utterances, compute time).
fn run(engine: &dyn Recognizer, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
    if batch.iter().all(|u| u.options.score_texts.is_none()) {
        return engine.recognize(batch);
    }
    let decodes: Vec<Utterance> = batch
        .iter()
        .filter(|u| u.options.score_texts.is_none())
        .cloned()
        .collect();
    let mut decoded = engine.recognize(&decodes).into_iter();
    batch
        .iter()
        .map(|u| match &u.options.score_texts {
            Some(texts) => engine.score_texts(u, texts).map(|scores| Hypothesis {
                scores,
                ..Default::default()
            }),
            None => decoded
                .next()
                .unwrap_or_else(|| Err(EngineError::Inference("engine returned too few results".into()))),
        })
        .collect()
}

/// The most jobs a worker takes into one batch when `pending` jobs (its batch so far and the
/// queued ones) are there and `others_idle` other workers wait for work: all of them up to
/// `limit` when none waits, else its equal share, so that every idle worker gets a part.
fn fair_share(limit: usize, pending: usize, others_idle: usize) -> usize {
    if others_idle == 0 {
        return limit;
    }
    pending.div_ceil(others_idle + 1).clamp(1, limit)
}

/// Counts a worker among its engine's idle ones while it waits for a first job.
struct Idle<'a>(&'a AtomicUsize);

impl<'a> Idle<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The wait of a final behind `queued` finals and `running` runs in progress (half of each
/// left, on average), runs of `run_s` each, on `workers` workers.
fn final_wait(queued: usize, running: usize, run_s: f64, workers: usize) -> f64 {
    (queued as f64 + 0.5 * running as f64) * run_s / workers.max(1) as f64
}

/// One utterance's share of a run of `n` utterances that took `took` seconds for `run_audio_s`
/// seconds of audio: in proportion to its audio (an equal share when the run had no audio).
fn compute_share(took: f64, audio_s: f64, run_audio_s: f64, n: usize) -> f64 {
    if run_audio_s > 0.0 {
        took * audio_s / run_audio_s
    } else {
        took / n.max(1) as f64
    }
}

/// Adds a job to the batch unless nobody waits for it any more (its caller was dropped: a REST
/// client hung up, a realtime client left) or it is a stale partial.
fn push_live(batch: &mut Vec<Job>, job: Job, m: &EngineMetrics) {
    if job.reply.is_closed() {
        m.cancelled.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if job.ticket.as_ref().is_some_and(|t| t.is_stale()) {
        m.stale_dropped.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(Err(SchedError::Stale));
        return;
    }
    batch.push(job);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::{BatchPolicy, EngineHandle, compute_share, fair_share, final_wait};
    use crate::engine::recognizer::{EngineError, Hypothesis, Recognizer, Utterance};

    /// Answers a run only when the test lets it through (one token per run).
    struct Gated(flume::Receiver<()>);

    impl Recognizer for Gated {
        fn name(&self) -> &str {
            "gated"
        }

        fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
            let _ = self.0.recv();
            batch.iter().map(|_| Ok(Hypothesis::default())).collect()
        }
    }

    fn utterance() -> Utterance {
        Utterance {
            samples: vec![0.0; 1600].into(),
            options: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_final_given_up_while_it_waits_for_room_is_counted_cancelled() {
        let policy = BatchPolicy {
            max_batch: 1,
            max_wait: Duration::ZERO,
            final_queue: 1,
            ..BatchPolicy::default()
        };
        let (gate, runs) = flume::unbounded();
        let engine = EngineHandle::spawn(Arc::new(Gated(runs)), policy, 1);
        let m = engine.metrics();
        // the first runs, the second fills the queue, the third waits for room
        let running = tokio::spawn({
            let e = engine.clone();
            async move { e.recognize_final(utterance()).await }
        });
        while m.queue_wait.snapshot().count == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let queued = tokio::spawn({
            let e = engine.clone();
            async move { e.recognize_final(utterance()).await }
        });
        while engine.finals.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let waiting = tokio::time::timeout(Duration::from_millis(50), engine.recognize_final(utterance())).await;
        assert!(waiting.is_err(), "the queue of one is full, so the third final waits");
        assert_eq!(m.cancelled.load(Ordering::Relaxed), 1, "given up before it was queued");
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        assert!(running.await.unwrap().is_ok() && queued.await.unwrap().is_ok());
        assert_eq!(m.utterances.load(Ordering::Relaxed), 2);
        assert_eq!(m.cancelled.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_final_waits_for_the_finals_queued_ahead_shared_by_the_workers() {
        assert_eq!(final_wait(0, 0, 0.8, 1), 0.0);
        assert!((final_wait(3, 0, 0.8, 1) - 2.4).abs() < 1e-12);
        assert!((final_wait(3, 0, 0.8, 2) - 1.2).abs() < 1e-12);
        assert!((final_wait(3, 0, 0.8, 0) - 2.4).abs() < 1e-12, "0 workers reads as 1");
        // a run in progress counts half a run: nothing queued but one final running
        assert!((final_wait(0, 1, 0.8, 1) - 0.4).abs() < 1e-12);
        assert!((final_wait(2, 2, 0.8, 2) - 1.2).abs() < 1e-12);
    }

    #[test]
    fn idle_workers_split_a_burst_and_a_busy_engine_fills_its_batches() {
        // nobody else waits: the whole batch limit, as before
        assert_eq!(fair_share(8, 15, 0), 8);
        assert_eq!(fair_share(4, 1, 0), 4, "and it waits to fill it");
        // a file's 15 windows on 4 idle replicas: 4 + 4 + 4 + 3, not 8 + 7 and two idle
        assert_eq!(fair_share(8, 15, 3), 4);
        assert_eq!(fair_share(8, 11, 2), 4);
        assert_eq!(fair_share(8, 7, 1), 4);
        assert_eq!(fair_share(8, 3, 0), 8);
        // the share never passes the limit and is at least the job in hand
        assert_eq!(fair_share(4, 64, 1), 4);
        assert_eq!(fair_share(8, 1, 3), 1);
        assert_eq!(fair_share(8, 0, 3), 1);
    }

    #[test]
    fn a_run_is_shared_by_audio_length() {
        // 0.3 s for 1 s + 2 s of audio
        assert!((compute_share(0.3, 1.0, 3.0, 2) - 0.1).abs() < 1e-12);
        assert!((compute_share(0.3, 2.0, 3.0, 2) - 0.2).abs() < 1e-12);
        // no audio at all: equal shares
        assert!((compute_share(0.3, 0.0, 0.0, 3) - 0.1).abs() < 1e-12);
        assert_eq!(compute_share(0.3, 0.0, 0.0, 0), 0.3);
    }
}
