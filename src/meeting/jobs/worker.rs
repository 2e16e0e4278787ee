//! The worker pool: claims jobs from the store and runs their stages, durably.
//!
//! Each of `workers` tasks loops: claim a job (oldest queued, or running with an expired lease),
//! run its stages that are not done yet in order, record each as done with its time, then finish
//! the job. While a stage runs the worker renews the lease (every third of it) and writes the
//! stage's progress (mapped onto the whole job by the stages' weights) every
//! `progress_interval`. Idle workers wake on [`PoolHandle::notify`] (after a submission) or
//! every `poll_interval` (jobs submitted by other instances sharing a PostgreSQL store).
//!
//! How a stage ends, and what the job becomes:
//! - `Ok`: recorded done (its checkpoint is written: the [`StageRunner`] contract), next stage;
//!   after the last one the job is `completed`.
//! - `Err(e)` or a panic: the job is `failed` with `"<stage>: <e>"`; later stages do not run.
//! - cancelled ([`PoolHandle::cancel`]/[`PoolHandle::delete`], or the store says the worker no
//!   longer owns the job: cancelled or deleted elsewhere, or its lease was taken over): the
//!   job's token is cancelled, the stage gets `shutdown_grace` to return, and the worker writes
//!   nothing more. A job deleted meanwhile has its folder removed again (a stage may have written
//!   into it after the delete).
//! - graceful shutdown (the `shutdown` token): the same, then the job goes back to the queue
//!   ([`JobStore::release`]): the next start (or another instance) resumes it at that stage. A
//!   stage that finishes within the grace is still recorded.
//! - a crash (`kill -9`, [`WorkerPool::abort`]): nothing is written; on start a pool with a
//!   store of its own ([`JobStore::shared`] false) requeues every running job at once, a shared
//!   store's jobs are reclaimed when their lease runs out. A job taken more than `max_attempts`
//!   times without finishing (its stage keeps killing the process) fails instead of looping.
//!
//! A stage may therefore run again after it started (never after it was recorded done): stages
//! write their results with [`super::files::write_atomic`] and compute them from the job's
//! parameters and earlier checkpoints only, so a second run publishes the same result.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use super::files::{JobDir, JobFiles};
use super::{JobRecord, JobStore, StoreError};

/// A stage's progress callback: the fraction of the stage done, 0 to 1. Cheap (an atomic
/// store): call it as often as convenient.
pub type Progress = Arc<dyn Fn(f32) + Send + Sync>;

/// What a stage is given.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub id: String,
    /// The job's folder (input, `stages/` checkpoints, `outputs/`).
    pub dir: JobDir,
    pub params: serde_json::Value,
    /// Stages already done when this run of the job began (their checkpoints exist).
    pub stages_done: Vec<String>,
    /// 1 for the first run of the job, higher when it resumes after a crash.
    pub attempt: u32,
    /// Cancelled when the job is cancelled or deleted, or the server shuts down: the stage
    /// should return soon (any `Err`; the worker knows why it stopped).
    pub cancel: CancellationToken,
}

/// Runs the stages of a job: the pipeline implements it.
///
/// Contract: `run_stage` writes its checkpoint into `ctx.dir` atomically before it returns
/// `Ok`, reads only the parameters and earlier stages' checkpoints, and returns soon after
/// `ctx.cancel` is cancelled. Blocking work goes to `spawn_blocking`.
pub trait StageRunner: Send + Sync + 'static {
    /// The stages, in order ([`crate::meeting::STAGES`]).
    fn stages(&self) -> &'static [&'static str];

    /// A stage's share of the job's progress, relative to the others (default 1 each).
    fn stage_weight(&self, _stage: &str) -> f32 {
        1.0
    }

    fn run_stage(
        &self,
        ctx: &JobContext,
        stage: &'static str,
        progress: Progress,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// How the pool runs.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Jobs run at once by this instance.
    pub workers: usize,
    /// How long a claim holds without renewal (renewed every third of it while a stage runs).
    pub lease: Duration,
    /// How often idle workers look for jobs without being notified.
    pub poll_interval: Duration,
    /// How often a running stage's progress is written to the store.
    pub progress_interval: Duration,
    /// The jobs directory.
    pub jobs_dir: std::path::PathBuf,
    /// A job taken more often than this without finishing fails.
    pub max_attempts: u32,
    /// How long a cancelled stage may take to return before it is dropped.
    pub shutdown_grace: Duration,
    /// Requeue every running job at start; `None`: when the store is not shared.
    pub requeue_on_start: Option<bool>,
    /// Names this instance's workers in the store (`<instance>/<n>`); empty: host, pid and a
    /// random suffix.
    pub instance: String,
}

impl PoolOptions {
    /// One worker, a 60 s lease, polling every 5 s, progress every second, 3 attempts.
    pub fn new(jobs_dir: impl Into<std::path::PathBuf>) -> PoolOptions {
        PoolOptions {
            workers: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            progress_interval: Duration::from_secs(1),
            jobs_dir: jobs_dir.into(),
            max_attempts: 3,
            shutdown_grace: Duration::from_secs(5),
            requeue_on_start: None,
            instance: String::new(),
        }
    }
}

fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    crate::ids::random_id(&format!("{host}-{}-", std::process::id()), 6)
}

/// A job running in this instance.
struct Running {
    generation: u64,
    cancel: CancellationToken,
    /// Cancelled when the job's run here has ended.
    ended: CancellationToken,
}

struct Shared {
    store: Arc<dyn JobStore>,
    files: JobFiles,
    opts: PoolOptions,
    notify: Notify,
    shutdown: CancellationToken,
    running: Mutex<HashMap<String, Running>>,
    generation: AtomicU64,
}

impl Shared {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes a job from the running map when its run ends, however it ends (an aborted task
/// included).
struct RunGuard {
    shared: Arc<Shared>,
    id: String,
    generation: u64,
    ended: CancellationToken,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let mut running = self.shared.running();
        if running.get(&self.id).is_some_and(|r| r.generation == self.generation) {
            running.remove(&self.id);
        }
        self.ended.cancel();
    }
}

/// Runs a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn JobStore>,
    f: impl FnOnce(&dyn JobStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Io(std::io::Error::other(format!(
                "job store call failed: {e}"
            ))))
        })
}

/// What the transports hold: wake the pool, cancel or delete jobs. Cheap to clone.
#[derive(Clone)]
pub struct PoolHandle {
    shared: Arc<Shared>,
}

impl PoolHandle {
    /// Wakes an idle worker (call after inserting a job).
    pub fn notify(&self) {
        self.shared.notify.notify_one();
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.shared.store
    }

    pub fn files(&self) -> &JobFiles {
        &self.shared.files
    }

    /// Whether the job is running in this instance now.
    pub fn is_running_here(&self, id: &str) -> bool {
        self.shared.running().contains_key(id)
    }

    /// Stops the job's run in this instance, if there is one, and waits until it has ended.
    async fn stop_here(&self, id: &str) {
        let ended = {
            let running = self.shared.running();
            running.get(id).map(|r| {
                r.cancel.cancel();
                r.ended.clone()
            })
        };
        if let Some(ended) = ended {
            ended.cancelled().await;
        }
    }

    /// Cancels a job: queued or running → `cancelled` (a finished job is returned unchanged).
    /// When it runs here, returns after its stage has stopped; elsewhere, that instance stops
    /// it at its next lease renewal. `None`: no such job. Its files stay until deleted.
    pub async fn cancel(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let owned = id.to_string();
        let rec = blocking(&self.shared.store, move |s| s.cancel(&owned)).await?;
        self.stop_here(id).await;
        Ok(rec)
    }

    /// Cancels the job, removes its folder and its row. `false`: no such job (a folder left
    /// under that id is removed all the same).
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.cancel(id).await?;
        let (owned, files) = (id.to_string(), self.shared.files.clone());
        blocking(&self.shared.store, move |s| {
            match files.remove(&owned) {
                Ok(_) | Err(super::FilesError::BadId(_)) => {}
                Err(e) => return Err(StoreError::Io(std::io::Error::other(e.to_string()))),
            }
            s.delete(&owned)
        })
        .await
    }
}

/// The running pool. Dropping it leaves the workers running; stop them with the `shutdown`
/// token and [`WorkerPool::join`].
pub struct WorkerPool {
    handle: PoolHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `opts.workers` workers (requeueing the jobs a crash left running first, see
    /// [`PoolOptions::requeue_on_start`]). Must be called inside a Tokio runtime.
    pub async fn start<R: StageRunner>(
        store: Arc<dyn JobStore>,
        runner: Arc<R>,
        mut opts: PoolOptions,
        shutdown: CancellationToken,
    ) -> Result<WorkerPool, StoreError> {
        if opts.instance.is_empty() {
            opts.instance = default_instance();
        }
        opts.workers = opts.workers.max(1);
        if opts.requeue_on_start.unwrap_or(!store.shared()) {
            let n = blocking(&store, |s| s.requeue_running()).await?;
            if n > 0 {
                tracing::info!(
                    jobs = n,
                    "meeting jobs left running by the last process are queued again"
                );
            }
        }
        let shared = Arc::new(Shared {
            store,
            files: JobFiles::new(opts.jobs_dir.clone()),
            notify: Notify::new(),
            shutdown,
            running: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            opts,
        });
        let tasks = (0..shared.opts.workers)
            .map(|n| {
                let worker = format!("{}/{n}", shared.opts.instance);
                tokio::spawn(worker_loop(shared.clone(), runner.clone(), worker))
            })
            .collect();
        Ok(WorkerPool {
            handle: PoolHandle { shared },
            tasks,
        })
    }

    pub fn handle(&self) -> PoolHandle {
        self.handle.clone()
    }

    /// Waits for the workers to end (after the `shutdown` token was cancelled: running jobs
    /// are released within `shutdown_grace` plus a store call).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Stops every worker at once, writing nothing to the store: what a crash does (tests).
    pub async fn abort(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn worker_loop<R: StageRunner>(shared: Arc<Shared>, runner: Arc<R>, worker: String) {
    loop {
        if shared.shutdown.is_cancelled() {
            return;
        }
        let (w, lease) = (worker.clone(), shared.opts.lease);
        match blocking(&shared.store, move |s| s.claim(&w, lease)).await {
            Ok(Some(rec)) => {
                let span = tracing::info_span!("meeting_job", job = %rec.id, worker = %worker);
                run_job(&shared, &runner, &worker, rec).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(worker = %worker, error = %e, "meeting worker could not claim a job"),
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = shared.notify.notified() => {}
            _ = tokio::time::sleep(shared.opts.poll_interval) => {}
        }
    }
}

/// How one stage's run ended.
enum StageEnd {
    Done(f64),
    Failed(String),
    /// Cancelled, deleted or taken over: write nothing more.
    Lost,
    /// Shutdown; `Some(seconds)` when the stage still finished within the grace.
    Shutdown(Option<f64>),
}

async fn run_job<R: StageRunner>(shared: &Arc<Shared>, runner: &Arc<R>, worker: &str, rec: JobRecord) {
    let store = &shared.store;
    let id = rec.id.clone();
    let finish = |outcome: Result<(), String>| {
        let (id, w) = (id.clone(), worker.to_string());
        blocking(store, move |s| s.finish(&id, &w, outcome))
    };
    if rec.attempts > shared.opts.max_attempts {
        let msg = format!(
            "gave up after {} attempts: the process running this job stopped each time before it finished",
            rec.attempts - 1
        );
        tracing::warn!("{msg}");
        log_store(finish(Err(msg)).await);
        return;
    }
    let files = shared.files.clone();
    let id2 = id.clone();
    let dir = match tokio::task::spawn_blocking(move || {
        let dir = files.create(&id2)?;
        dir.clean_temp()?;
        Ok::<_, super::FilesError>(dir)
    })
    .await
    {
        Ok(Ok(dir)) => dir,
        Ok(Err(e)) => {
            log_store(finish(Err(format!("job folder: {e}"))).await);
            return;
        }
        Err(e) => {
            log_store(finish(Err(format!("job folder: {e}"))).await);
            return;
        }
    };

    let cancel = CancellationToken::new();
    let ended = CancellationToken::new();
    let generation = shared.generation.fetch_add(1, Ordering::Relaxed);
    shared.running().insert(
        id.clone(),
        Running {
            generation,
            cancel: cancel.clone(),
            ended: ended.clone(),
        },
    );
    let _guard = RunGuard {
        shared: shared.clone(),
        id: id.clone(),
        generation,
        ended,
    };
    let ctx = Arc::new(JobContext {
        id: id.clone(),
        dir,
        params: rec.params.clone(),
        stages_done: rec.stages_done.clone(),
        attempt: rec.attempts,
        cancel,
    });

    let stages = runner.stages();
    let mut weights: Vec<f32> = stages
        .iter()
        .map(|s| {
            let w = runner.stage_weight(s);
            if w.is_finite() { w.max(0.0) } else { 0.0 }
        })
        .collect();
    if weights.iter().sum::<f32>() <= 0.0 {
        weights = vec![1.0; stages.len()];
    }
    let total: f32 = weights.iter().sum::<f32>().max(f32::MIN_POSITIVE);
    let mut done_w: f32 = stages
        .iter()
        .zip(&weights)
        .filter(|(s, _)| rec.stages_done.iter().any(|d| d == *s))
        .map(|(_, w)| w)
        .sum();
    tracing::info!(attempt = rec.attempts, resumed_after = ?rec.stages_done.last(), "meeting job running");

    for (i, &stage) in stages.iter().enumerate() {
        if ctx.stages_done.iter().any(|d| d == stage) {
            continue;
        }
        if shared.shutdown.is_cancelled() {
            release(shared, &id, worker).await;
            return;
        }
        let base = done_w / total;
        let share = weights[i] / total;
        let (id2, w2, s2) = (id.clone(), worker.to_string(), stage);
        match blocking(store, move |s| s.set_progress(&id2, &w2, s2, base)).await {
            Ok(true) => {}
            other => {
                log_store(other);
                lost(shared, &id).await;
                return;
            }
        }
        let end = run_stage(shared, runner, &ctx, worker, stage, base, share).await;
        let record_done = |secs: f64| {
            let (id2, w2, p) = (id.clone(), worker.to_string(), (done_w + weights[i]) / total);
            blocking(store, move |s| s.stage_done(&id2, &w2, stage, secs, p))
        };
        match end {
            StageEnd::Done(secs) => {
                tracing::info!(stage, seconds = secs, "meeting stage done");
                match record_done(secs).await {
                    Ok(true) => done_w += weights[i],
                    other => {
                        log_store(other);
                        lost(shared, &id).await;
                        return;
                    }
                }
            }
            StageEnd::Failed(e) => {
                tracing::warn!(stage, error = %e, "meeting stage failed");
                log_store(finish(Err(format!("{stage}: {e}"))).await);
                return;
            }
            StageEnd::Lost => {
                tracing::info!(stage, "meeting job stopped: cancelled, deleted or taken over");
                lost(shared, &id).await;
                return;
            }
            StageEnd::Shutdown(done) => {
                if let Some(secs) = done {
                    log_store(record_done(secs).await);
                }
                release(shared, &id, worker).await;
                return;
            }
        }
    }
    match finish(Ok(())).await {
        Ok(true) => tracing::info!("meeting job completed"),
        other => {
            log_store(other);
            lost(shared, &id).await;
        }
    }
}

fn log_store(r: Result<bool, StoreError>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "meeting job store write failed");
    }
}

async fn release(shared: &Arc<Shared>, id: &str, worker: &str) {
    let (id2, w2) = (id.to_string(), worker.to_string());
    match blocking(&shared.store, move |s| s.release(&id2, &w2)).await {
        Ok(true) => tracing::info!("meeting job handed back to the queue (shutdown)"),
        other => log_store(other),
    }
}

/// The job is no longer ours: when it was deleted meanwhile, remove what a stage may have
/// written after the delete removed the folder.
async fn lost(shared: &Arc<Shared>, id: &str) {
    let (id2, files) = (id.to_string(), shared.files.clone());
    let r = blocking(&shared.store, move |s| {
        if s.get(&id2)?.is_none() {
            let _ = files.remove(&id2);
        }
        Ok(())
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "meeting job store read failed");
    }
}

async fn run_stage<R: StageRunner>(
    shared: &Arc<Shared>,
    runner: &Arc<R>,
    ctx: &Arc<JobContext>,
    worker: &str,
    stage: &'static str,
    base: f32,
    share: f32,
) -> StageEnd {
    let opts = &shared.opts;
    let fraction = Arc::new(AtomicU32::new(0f32.to_bits()));
    let f2 = fraction.clone();
    let progress: Progress = Arc::new(move |p: f32| {
        if !p.is_nan() {
            f2.store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        }
    });
    let started = Instant::now();
    let (r2, c2) = (runner.clone(), ctx.clone());
    let mut task = AbortOnDropHandle::new(tokio::spawn(async move { r2.run_stage(&c2, stage, progress).await }));

    let renew_every = opts.lease / 3;
    let tick = opts.progress_interval.min(renew_every).max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // the first tick renews: the lease then runs from this stage's start, whatever the
    // stages before it took
    let mut last_renew = Instant::now().checked_sub(renew_every).unwrap_or_else(Instant::now);
    let mut last_ok = Instant::now();
    let mut sent = 0f32;
    let shutdown;
    loop {
        tokio::select! {
            biased;
            r = &mut task => return classify(r, started),
            _ = shared.shutdown.cancelled() => { shutdown = true; break; }
            _ = ctx.cancel.cancelled() => { shutdown = false; break; }
            _ = ticker.tick() => {
                let p = f32::from_bits(fraction.load(Ordering::Relaxed));
                let mut owned = true;
                if p != sent {
                    let (id, w, overall) = (ctx.id.clone(), worker.to_string(), base + share * p);
                    match blocking(&shared.store, move |s| s.set_progress(&id, &w, stage, overall)).await {
                        Ok(ok) => { owned = ok; sent = p; }
                        Err(e) => tracing::warn!(error = %e, "meeting progress write failed"),
                    }
                }
                if owned && last_renew.elapsed() >= renew_every {
                    last_renew = Instant::now();
                    let (id, w, lease) = (ctx.id.clone(), worker.to_string(), opts.lease);
                    match blocking(&shared.store, move |s| s.renew(&id, &w, lease)).await {
                        Ok(ok) => { owned = ok; last_ok = Instant::now(); }
                        Err(e) => {
                            tracing::warn!(error = %e, "meeting lease renewal failed");
                            if last_ok.elapsed() >= opts.lease {
                                // the lease may be someone else's by now: stop writing
                                owned = false;
                            }
                        }
                    }
                }
                if !owned {
                    shutdown = false;
                    break;
                }
            }
        }
    }
    ctx.cancel.cancel();
    let finished = tokio::time::timeout(opts.shutdown_grace, &mut task).await;
    if !shutdown {
        return StageEnd::Lost;
    }
    match finished.map(|r| classify(r, started)) {
        Ok(StageEnd::Done(secs)) => StageEnd::Shutdown(Some(secs)),
        _ => StageEnd::Shutdown(None),
    }
}

fn classify(r: Result<Result<(), String>, tokio::task::JoinError>, started: Instant) -> StageEnd {
    match r {
        Ok(Ok(())) => StageEnd::Done(started.elapsed().as_secs_f64()),
        Ok(Err(e)) => StageEnd::Failed(e),
        Err(e) if e.is_panic() => {
            let p = e.into_panic();
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            StageEnd::Failed(format!("panicked: {msg}"))
        }
        Err(_) => StageEnd::Lost,
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
