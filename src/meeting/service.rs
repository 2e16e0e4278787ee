//! The meeting service: what the transport calls. It checks and accepts jobs into the durable
//! store, runs them on the worker pool through the [`MeetingPipeline`], and answers for their
//! state and outputs.
//!
//! Invariants: a job is in the store only once its folder holds every uploaded file and its
//! parameters passed [`MeetingParams::check`] and the review plan; a refused submission leaves
//! neither a row nor a folder. Deleting a job cancels it first, so no worker writes into a
//! folder that is being removed (a worker that loses its job stops at its next checkpoint).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::STAGES;
use super::jobs::{
    self, FilesError, JobContext, JobFiles, JobRecord, JobStatus, JobStore, PoolHandle, PoolOptions, StageRunner,
    StoreError, WorkerPool,
};
use super::outputs::OUTPUTS;
use super::params::{MeetingParams, ParamError};
use super::pipeline::{MeetingPipeline, PipelineError};
use crate::config::MeetingConfig;
use crate::finalize::PlanError;

/// Why a meeting request failed.
#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    /// No such job.
    #[error("No meeting job with id {0:?}.")]
    NotFound(String),
    /// No such output.
    #[error(
        "No meeting output named {0:?}; outputs are transcript.txt, transcript.md, timeline.json, subtitles.srt, summary.md."
    )]
    UnknownOutput(String),
    /// A parameter is wrong.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The review cannot be done.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The job has no outputs yet (or failed / was cancelled).
    #[error("Meeting job {id} is {status}; outputs exist once it is completed.")]
    NotReady {
        /// The job.
        id: String,
        /// Its status.
        status: &'static str,
    },
    /// Too many jobs queued or running.
    #[error("{active} meeting jobs are queued or running, the limit is {max}; try again later.")]
    QueueFull {
        /// Jobs queued or running.
        active: usize,
        /// `[meeting] max_queued`.
        max: usize,
    },
    /// The job folders use their whole quota.
    #[error("Meeting storage is full: {used} of {quota} bytes used ([meeting] quota_bytes).")]
    Quota {
        /// Bytes used.
        used: u64,
        /// `[meeting] quota_bytes`.
        quota: u64,
    },
    /// The job store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A job file could not be written or read.
    #[error("meeting files: {0}")]
    Io(String),
}

impl From<FilesError> for MeetingError {
    fn from(e: FilesError) -> Self {
        Self::Io(e.to_string())
    }
}

/// Runs the pipeline's stages for the worker pool.
struct Runner(Arc<MeetingPipeline>);

impl StageRunner for Runner {
    fn stages(&self) -> &'static [&'static str] {
        STAGES
    }

    async fn run_stage(
        &self,
        ctx: &JobContext,
        stage: &'static str,
        progress: Arc<dyn Fn(f32) + Send + Sync>,
    ) -> Result<(), String> {
        let params: MeetingParams =
            serde_json::from_value(ctx.params.clone()).map_err(|e| format!("stored parameters: {e}"))?;
        tokio::select! {
            r = self.0.run_stage(ctx.dir.path(), &params, stage, progress) => r.map_err(|e| e.to_string()),
            () = ctx.cancel.cancelled() => Err(PipelineError::Cancelled.to_string()),
        }
    }
}

/// Meeting jobs: the store, the job folders, the worker pool.
pub struct MeetingService {
    store: Arc<dyn JobStore>,
    files: JobFiles,
    pipeline: Arc<MeetingPipeline>,
    pool: PoolHandle,
    workers: tokio::sync::Mutex<Option<WorkerPool>>,
    cfg: MeetingConfig,
}

impl MeetingService {
    /// Opens the store of `cfg` (connects, migrates, on a blocking thread) and starts the worker
    /// pool, which first queues again the jobs a crash left running (SQLite: at once; a shared
    /// PostgreSQL store: when their lease runs out).
    pub async fn start(
        pipeline: Arc<MeetingPipeline>,
        cfg: &MeetingConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, MeetingError> {
        let (database, dir) = (cfg.database.clone(), cfg.jobs_dir.clone());
        let store = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(StoreError::Io)?;
            jobs::open_store(&database, &dir)
        })
        .await
        .map_err(|e| MeetingError::Io(format!("job store thread: {e}")))??;
        let files = JobFiles::new(cfg.jobs_dir.clone());
        let opts = PoolOptions {
            workers: cfg.workers.max(1),
            ..PoolOptions::new(cfg.jobs_dir.clone())
        };
        let pool = WorkerPool::start(
            store.clone(),
            Arc::new(Runner(pipeline.clone())),
            opts,
            shutdown.clone(),
        )
        .await?;
        if cfg.retention_days > 0 {
            jobs::spawn_retention(
                store.clone(),
                files.clone(),
                Duration::from_secs(cfg.retention_days * 86_400),
                Duration::from_secs(3600),
                shutdown,
            );
        }
        Ok(Self {
            store,
            files,
            pipeline,
            pool: pool.handle(),
            workers: tokio::sync::Mutex::new(Some(pool)),
            cfg: cfg.clone(),
        })
    }

    /// Waits for the workers to hand their jobs back after the shutdown token was cancelled (a
    /// running stage is left for the next start).
    pub async fn join(&self) {
        if let Some(pool) = self.workers.lock().await.take() {
            pool.join().await;
        }
    }

    async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn JobStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, MeetingError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| MeetingError::Io(format!("job store thread: {e}")))?
            .map_err(Into::into)
    }

    /// Refuses a new job when the queue is full or the disk quota is used up.
    pub async fn admit(&self) -> Result<(), MeetingError> {
        let active = self.store(|s| s.active()).await?;
        if active >= self.cfg.max_queued {
            return Err(MeetingError::QueueFull {
                active,
                max: self.cfg.max_queued,
            });
        }
        if self.cfg.quota_bytes > 0 {
            let files = self.files.clone();
            let quota = self.cfg.quota_bytes;
            let used = tokio::task::spawn_blocking(move || files.bytes_used())
                .await
                .map_err(|e| MeetingError::Io(e.to_string()))??;
            if used >= quota {
                return Err(MeetingError::Quota { used, quota });
            }
        }
        Ok(())
    }

    /// A new job id and its (empty) folder.
    pub async fn new_dir(&self) -> Result<(String, PathBuf), MeetingError> {
        let id = jobs::new_job_id();
        let (files, owned) = (self.files.clone(), id.clone());
        let dir = tokio::task::spawn_blocking(move || files.create(&owned))
            .await
            .map_err(|e| MeetingError::Io(e.to_string()))??;
        Ok((id, dir.path().to_path_buf()))
    }

    /// Removes the folder of a job that was never submitted.
    pub async fn discard(&self, id: &str) {
        let (files, owned) = (self.files.clone(), id.to_string());
        match tokio::task::spawn_blocking(move || files.remove(&owned)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(id, error = %e, "removing a refused meeting upload"),
            Err(e) => tracing::warn!(id, error = %e, "removing a refused meeting upload"),
        }
    }

    /// Checks `params` and queues the job whose files are in its folder.
    pub async fn submit(&self, id: &str, params: MeetingParams) -> Result<JobRecord, MeetingError> {
        let checked = params
            .check()
            .map_err(MeetingError::from)
            .and_then(|()| match self.pipeline.plan(&params) {
                Ok(_) => Ok(()),
                Err(PipelineError::Plan(p)) => Err(MeetingError::Plan(p)),
                Err(e) => Err(MeetingError::Param(ParamError {
                    param: "glossary",
                    message: e.to_string(),
                })),
            });
        if let Err(e) = checked {
            self.discard(id).await;
            return Err(e);
        }
        let value = serde_json::to_value(&params).map_err(|e| MeetingError::Io(e.to_string()))?;
        let owned = id.to_string();
        let job = match self.store(move |s| s.insert(&owned, &value)).await {
            Ok(j) => j,
            Err(e) => {
                self.discard(id).await;
                return Err(e);
            }
        };
        self.pool.notify();
        Ok(job)
    }

    /// A job.
    pub async fn get(&self, id: &str) -> Result<JobRecord, MeetingError> {
        let owned = id.to_string();
        self.store(move |s| s.get(&owned))
            .await?
            .ok_or_else(|| MeetingError::NotFound(id.into()))
    }

    /// A page of jobs, newest first, after the job `after`.
    pub async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<JobRecord>, MeetingError> {
        let after = after.map(str::to_string);
        match self.store(move |s| s.list(after.as_deref(), limit)).await {
            Err(MeetingError::Store(StoreError::UnknownCursor(c))) => Err(MeetingError::NotFound(c)),
            r => r,
        }
    }

    /// Cancels a job (stopping its stage if it runs here) and deletes it with its files.
    pub async fn delete(&self, id: &str) -> Result<(), MeetingError> {
        if !JobFiles::valid_id(id) || !self.pool.delete(id).await? {
            return Err(MeetingError::NotFound(id.into()));
        }
        Ok(())
    }

    /// The file of output `name` of a completed job.
    pub async fn output(&self, id: &str, name: &str) -> Result<PathBuf, MeetingError> {
        if !OUTPUTS.contains(&name) {
            return Err(MeetingError::UnknownOutput(name.into()));
        }
        let job = self.get(id).await?;
        if job.status != JobStatus::Completed {
            return Err(MeetingError::NotReady {
                id: id.into(),
                status: job.status.as_str(),
            });
        }
        Ok(self.files.job(id)?.outputs_dir().join(name))
    }

    /// The JSON a job is shown as.
    pub fn describe(&self, j: &JobRecord) -> Value {
        let done = j.status == JobStatus::Completed;
        json!({
            "id": j.id,
            "object": "meeting",
            "status": j.status.as_str(),
            "stage": j.stage,
            "stages": STAGES,
            "stages_done": j.stages_done,
            "progress": j.progress,
            "created_at": j.created_at,
            "started_at": j.started_at,
            "finished_at": j.finished_at,
            "timings": j.timings,
            "attempts": j.attempts,
            "error": j.error.as_ref().map(|m| json!({"message": m})),
            "outputs": if done {
                OUTPUTS.iter().map(|n| json!({"name": n, "url": format!("/v1/meetings/{}/outputs/{n}", j.id)})).collect::<Vec<_>>()
            } else {
                Vec::new()
            },
            "params": j.params,
        })
    }
}
