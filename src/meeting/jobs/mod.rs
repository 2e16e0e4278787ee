//! Durable meeting jobs: the job store (SQLite, PostgreSQL), the job folders and the worker pool.
//!
//! A job is a row in a [`JobStore`] and a folder under the jobs directory ([`files`]):
//! `<jobs_dir>/<id>/{input.<ext>, stages/, outputs/}`. Its life:
//!
//! ```text
//!   insert ─► queued ──claim──► running ──finish(Ok)──► completed
//!               ▲  │              │  │ └─finish(Err)──► failed
//!   release /   │  └──cancel──┐   │  └──cancel──┐
//!   reclaim ────┴─────────────┼───┘             ▼
//!   (lease expired: claimable │               cancelled
//!    again, by any worker)    └───────────────► cancelled
//! ```
//!
//! Invariants:
//! - **Nothing accepted is lost.** A job is accepted once its row is inserted (its input file is
//!   written first); every later change is one transaction. SQLite runs in WAL mode with
//!   `synchronous=FULL`, so a committed change survives `kill -9` and power loss.
//! - **One owner at a time.** A running job belongs to the worker that claimed it until its
//!   lease runs out. Every write a worker makes (`renew`, `set_progress`, `stage_done`, `finish`,
//!   `release`) is conditional on still owning the job and answers `false` when it does not
//!   (cancelled, deleted, or reclaimed after the lease expired): the worker then stops and writes
//!   nothing more. On PostgreSQL, claims take the row with `FOR UPDATE SKIP LOCKED`, so instances
//!   sharing a store never claim the same job twice, and lease times come from the server's clock.
//! - **Stages are checkpoints.** `stages_done` only grows, in [`crate::meeting::STAGES`] order; a
//!   stage is recorded done only after its checkpoint files were renamed into place
//!   ([`files::write_atomic`]), so a resumed job skips exactly the stages whose results exist.
//! - **Finished is final.** `completed`, `failed` and `cancelled` never change again; only
//!   `delete` removes them.
//!
//! All store calls block (disk or network): async callers use `spawn_blocking`. The pool
//! ([`worker`]) does.

pub mod files;
pub mod housekeeping;
pub mod pg;
pub mod sqlite;
mod state;
pub mod worker;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use files::{FilesError, JobDir, JobFiles, write_atomic};
pub use housekeeping::{AdmitError, Limits, admit, spawn_retention, sweep_retention};
pub use pg::PgStore;
pub use sqlite::SqliteStore;
pub use worker::{JobContext, PoolHandle, PoolOptions, StageRunner, WorkerPool};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    /// Completed, failed or cancelled: the job never changes again.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// A job as the store knows it (what `GET /v1/meetings/{id}` shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub status: JobStatus,
    /// The stage running now, or the last one that ran.
    pub stage: Option<String>,
    /// The stages whose checkpoints are written, in the order they ran.
    pub stages_done: Vec<String>,
    /// Overall progress, 0 to 1.
    pub progress: f32,
    /// What the job was asked to do (the pipeline's parameters, as submitted).
    pub params: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the first claim.
    pub started_at: Option<i64>,
    /// Unix seconds of completion, failure or cancellation.
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// Seconds each finished stage took (its last run).
    pub timings: BTreeMap<String, f64>,
    /// How many times a worker took the job without handing it back (a crash or an expired
    /// lease counts, a graceful shutdown does not).
    pub attempts: u32,
}

/// A job store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store (SQLite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("job store (PostgreSQL): {0}")]
    Postgres(#[from] postgres::Error),
    #[error("job store: a job with id {0:?} exists already")]
    Duplicate(String),
    #[error("job store: no job {0:?} to page after")]
    UnknownCursor(String),
    #[error("job store: {0}")]
    Corrupt(String),
    #[error("job store: {0}")]
    Open(String),
    #[error("job store: {0}")]
    Io(#[from] std::io::Error),
}

/// The durable list of meeting jobs. Implementations: [`SqliteStore`] (one instance, embedded)
/// and [`PgStore`] (shared by several instances). Every call blocks.
pub trait JobStore: Send + Sync + 'static {
    /// Accepts a new job, `queued`. A second insert of the same id is [`StoreError::Duplicate`].
    fn insert(&self, id: &str, params: &serde_json::Value) -> Result<JobRecord, StoreError>;
    fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Newest first; `after` is the id of the last job of the previous page
    /// ([`StoreError::UnknownCursor`] when there is no such job).
    fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<JobRecord>, StoreError>;
    /// Takes the oldest job that is queued, or running with an expired lease, for `worker`:
    /// it becomes `running`, leased until now + `lease`, with `attempts` one higher.
    fn claim(&self, worker: &str, lease: Duration) -> Result<Option<JobRecord>, StoreError>;
    /// Extends the lease; `false` when `worker` no longer owns the job (cancelled, deleted,
    /// reclaimed).
    fn renew(&self, id: &str, worker: &str, lease: Duration) -> Result<bool, StoreError>;
    /// Names the running stage and the overall progress (clamped to 0..1).
    fn set_progress(&self, id: &str, worker: &str, stage: &str, progress: f32) -> Result<bool, StoreError>;
    /// Records a stage as done (its checkpoint is written), its time, and the overall progress
    /// at its end. Recording a stage twice keeps one entry and the last time.
    fn stage_done(&self, id: &str, worker: &str, stage: &str, seconds: f64, progress: f32) -> Result<bool, StoreError>;
    /// `completed` (progress 1) or `failed` with the error.
    fn finish(&self, id: &str, worker: &str, outcome: Result<(), String>) -> Result<bool, StoreError>;
    /// Hands a running job back to the queue (graceful shutdown): `queued`, claimable at once,
    /// and this attempt is not counted.
    fn release(&self, id: &str, worker: &str) -> Result<bool, StoreError>;
    /// Queued or running → `cancelled`; a finished job is returned unchanged; `None`: no such job.
    fn cancel(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Removes the row (any status); `false`: no such job.
    fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Ids of finished jobs whose `finished_at` is before `unix_s`, oldest first.
    fn finished_before(&self, unix_s: i64) -> Result<Vec<String>, StoreError>;
    /// Queued + running jobs (the bounded queue's count).
    fn active(&self) -> Result<usize, StoreError>;
    /// Every running job back to `queued`: for a store that only this process uses, at
    /// startup, since whatever was running then died with the last process (the attempt stays
    /// counted). Returns how many.
    fn requeue_running(&self) -> Result<usize, StoreError>;
    /// Whether other instances may use this store at the same time (then running jobs are
    /// only reclaimed when their lease runs out).
    fn shared(&self) -> bool;
}

/// Opens the store a `database` setting names, in the jobs directory for SQLite:
/// - `"sqlite"` (or empty): `<jobs_dir>/jobs.sqlite3`;
/// - `"sqlite:PATH"`: that file;
/// - `"postgres://…"` / `"postgresql://…"`, or a `key=value` connection string (`host=… dbname=…`):
///   PostgreSQL.
///
/// Blocks (connects, migrates the schema).
pub fn open_store(database: &str, jobs_dir: &Path) -> Result<Arc<dyn JobStore>, StoreError> {
    let db = database.trim();
    if db.is_empty() || db == "sqlite" {
        std::fs::create_dir_all(jobs_dir)?;
        return Ok(Arc::new(SqliteStore::open(&jobs_dir.join("jobs.sqlite3"))?));
    }
    if let Some(path) = db.strip_prefix("sqlite:") {
        return Ok(Arc::new(SqliteStore::open(Path::new(path))?));
    }
    if db.starts_with("postgres://") || db.starts_with("postgresql://") || db.contains('=') {
        return Ok(Arc::new(PgStore::connect(db)?));
    }
    Err(StoreError::Open(format!(
        "unknown meeting database {db:?}: use \"sqlite\", \"sqlite:PATH\" or a postgres:// URL"
    )))
}

/// A new job id: `mtg_` and 24 alphanumerics.
pub fn new_job_id() -> String {
    crate::ids::random_id("mtg_", 24)
}

#[cfg(test)]
mod store_tests {
    use crate::meeting::jobs;
    include!("store_tests.rs");

    fn temp_store() -> (TempDir, jobs::SqliteStore) {
        let dir = TempDir::new("store");
        let store = jobs::SqliteStore::open(&dir.path().join("jobs.sqlite3")).unwrap();
        (dir, store)
    }

    #[test]
    fn sqlite_store_behaves() {
        for (name, case) in cases() {
            eprintln!("case {name}");
            let (_dir, store) = temp_store();
            case(&store);
        }
    }

    #[test]
    fn sqlite_store_concurrent_claims_take_each_job_once() {
        let (_dir, store) = temp_store();
        concurrent_claims(std::sync::Arc::new(store), 4);
    }

    #[test]
    fn sqlite_store_survives_reopen_and_refuses_a_second_opener() {
        let dir = TempDir::new("reopen");
        let path = dir.path().join("jobs.sqlite3");
        let store = jobs::SqliteStore::open(&path).unwrap();
        store.insert("a", &serde_json::json!({"x": 1})).unwrap();
        let claimed = store.claim("w", std::time::Duration::from_secs(60)).unwrap().unwrap();
        store.stage_done("a", "w", "decode", 1.5, 0.2).unwrap();
        let err = jobs::SqliteStore::open(&path)
            .err()
            .expect("a second opener is refused");
        assert!(err.to_string().contains("in use"), "{err}");
        drop(store);
        let store = jobs::SqliteStore::open(&path).unwrap();
        let rec = store.get("a").unwrap().unwrap();
        assert_eq!(rec.status, jobs::JobStatus::Running);
        assert_eq!(rec.stages_done, vec!["decode".to_string()]);
        assert_eq!(rec.attempts, claimed.attempts);
        assert_eq!(store.requeue_running().unwrap(), 1);
        let rec = store.get("a").unwrap().unwrap();
        assert_eq!(rec.status, jobs::JobStatus::Queued);
        assert_eq!(rec.attempts, 1, "a crashed attempt stays counted");
        assert!(!store.shared());
    }

    #[test]
    fn open_store_parses_the_database_setting() {
        let dir = TempDir::new("open");
        let s = jobs::open_store("sqlite", dir.path()).unwrap();
        assert!(dir.path().join("jobs.sqlite3").exists());
        drop(s);
        let other = dir.path().join("other.db");
        let s = jobs::open_store(&format!("sqlite:{}", other.display()), dir.path()).unwrap();
        assert!(other.exists());
        drop(s);
        let err = jobs::open_store("mysql://x", dir.path()).err().unwrap();
        assert!(err.to_string().contains("unknown meeting database"), "{err}");
    }

    #[test]
    fn job_ids_are_prefixed_and_distinct() {
        let a = jobs::new_job_id();
        assert!(a.starts_with("mtg_") && a.len() == 28);
        assert!(jobs::JobFiles::valid_id(&a));
        assert_ne!(a, jobs::new_job_id());
    }
}
