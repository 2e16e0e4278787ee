//! The embedded job store: one SQLite file next to the job folders, for one instance.
//!
//! WAL journal with `synchronous=FULL` (a committed change survives `kill -9` and power loss), a
//! busy timeout, the schema created and migrated on open (`PRAGMA user_version`). One
//! connection behind a mutex: the store's writes are few and small. Every change is one
//! `BEGIN IMMEDIATE` transaction that loads the row, applies one transition of the state
//! machine (`state.rs`) and writes it back.
//!
//! One process at a time: `open` takes an exclusive `flock` on `<file>.lock` and refuses a second
//! opener, since a single-instance store requeues every running job at startup
//! ([`JobStore::requeue_running`]). Several instances share a PostgreSQL store instead.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::state::{JsonColumns, RawRow, StoredJob};
use super::{JobRecord, JobStore, StoreError};

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &["CREATE TABLE meeting_jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        stage TEXT,
        stages_done TEXT NOT NULL DEFAULT '[]',
        progress REAL NOT NULL DEFAULT 0,
        params TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        error TEXT,
        timings TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_until INTEGER
    );
    CREATE INDEX meeting_jobs_status ON meeting_jobs (status, seq);
    CREATE INDEX meeting_jobs_finished ON meeting_jobs (finished_at);"];

const COLUMNS: &str = "id, status, stage, stages_done, progress, params, created_at, started_at, \
                       finished_at, error, timings, attempts, worker, lease_until";

/// The SQLite job store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Holds the exclusive lock for the store's life.
    _lock: File,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn raw(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: row.get(0)?,
        status: row.get(1)?,
        stage: row.get(2)?,
        stages_done: row.get(3)?,
        progress: row.get(4)?,
        params: row.get(5)?,
        created_at: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        error: row.get(9)?,
        timings: row.get(10)?,
        attempts: row.get(11)?,
        worker: row.get(12)?,
        lease_until: row.get(13)?,
    })
}

fn save(conn: &Connection, job: &StoredJob) -> rusqlite::Result<()> {
    let j = JsonColumns::of(&job.rec);
    conn.execute(
        "UPDATE meeting_jobs SET status = ?2, stage = ?3, stages_done = ?4, progress = ?5, \
         started_at = ?6, finished_at = ?7, error = ?8, timings = ?9, attempts = ?10, \
         worker = ?11, lease_until = ?12 WHERE id = ?1",
        params![
            job.rec.id,
            job.rec.status.as_str(),
            job.rec.stage,
            j.stages_done,
            f64::from(job.rec.progress),
            job.rec.started_at,
            job.rec.finished_at,
            job.rec.error,
            j.timings,
            i64::from(job.rec.attempts),
            job.worker,
            job.lease_until,
        ],
    )?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating and migrating) the store at `path`; refuses a file another process (or
    /// another store in this one) has open.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_name)?;
        let locked = loop {
            // SAFETY: flock on a file descriptor this function owns; no memory is shared.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                break Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                break Err(e);
            }
        };
        match locked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(StoreError::Open(format!(
                    "the job database {} is in use by another asr-router process (an SQLite job \
                     store serves one instance; several instances share a PostgreSQL store)",
                    path.display()
                )));
            }
            Err(e) => return Err(StoreError::Open(format!("locking {}: {e}", path.display()))),
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open(format!(
                "the job database {} cannot use a WAL journal (journal_mode is {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Open(format!(
                "the job database {} has schema version {version}, newer than this build knows \
                 ({known}): run a newer asr-router",
                path.display()
            )));
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-applied change (transactions roll back
        // on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads `id` in a write transaction, applies `f`, saves the row when `f` says it changed.
    fn mutate<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut StoredJob, i64) -> (bool, T),
    ) -> Result<Option<(StoredJob, T)>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(&format!("SELECT {COLUMNS} FROM meeting_jobs WHERE id = ?1"), [id], raw)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let mut job = row.parse()?;
        let (changed, out) = f(&mut job, now_ms());
        if changed {
            save(&tx, &job)?;
            tx.commit()?;
        }
        Ok(Some((job, out)))
    }

    fn owned_write(&self, id: &str, f: impl FnOnce(&mut StoredJob, i64) -> bool) -> Result<bool, StoreError> {
        Ok(self
            .mutate(id, |j, now| {
                let ok = f(j, now);
                (ok, ok)
            })?
            .is_some_and(|(_, ok)| ok))
    }
}

impl JobStore for SqliteStore {
    fn insert(&self, id: &str, params: &serde_json::Value) -> Result<JobRecord, StoreError> {
        let job = StoredJob::new(id, params.clone(), now_ms());
        let j = JsonColumns::of(&job.rec);
        let conn = self.conn();
        let r = conn.execute(
            "INSERT INTO meeting_jobs (id, status, params, created_at, stages_done, timings) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                job.rec.status.as_str(),
                j.params,
                job.rec.created_at,
                j.stages_done,
                j.timings
            ],
        );
        match r {
            Ok(_) => Ok(job.rec),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(StoreError::Duplicate(id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(&format!("SELECT {COLUMNS} FROM meeting_jobs WHERE id = ?1"), [id], raw)
            .optional()?;
        row.map(|r| r.parse().map(|j| j.rec)).transpose()
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let conn = self.conn();
        let before = match after {
            None => i64::MAX,
            Some(id) => conn
                .query_row("SELECT seq FROM meeting_jobs WHERE id = ?1", [id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::UnknownCursor(id.to_string()))?,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM meeting_jobs WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![before, limit], raw)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.parse()?.rec);
        }
        Ok(out)
    }

    fn claim(&self, worker: &str, lease: Duration) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        let row = tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM meeting_jobs WHERE status = 'queued' \
                     OR (status = 'running' AND (lease_until IS NULL OR lease_until < ?1)) \
                     ORDER BY seq LIMIT 1"
                ),
                [now],
                raw,
            )
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let mut job = row.parse()?;
        job.claim(worker, lease, now);
        save(&tx, &job)?;
        tx.commit()?;
        Ok(Some(job.rec))
    }

    fn renew(&self, id: &str, worker: &str, lease: Duration) -> Result<bool, StoreError> {
        self.owned_write(id, |j, now| j.renew(worker, lease, now))
    }

    fn set_progress(&self, id: &str, worker: &str, stage: &str, progress: f32) -> Result<bool, StoreError> {
        self.owned_write(id, |j, _| j.set_progress(worker, stage, progress))
    }

    fn stage_done(&self, id: &str, worker: &str, stage: &str, seconds: f64, progress: f32) -> Result<bool, StoreError> {
        self.owned_write(id, |j, _| j.stage_done(worker, stage, seconds, progress))
    }

    fn finish(&self, id: &str, worker: &str, outcome: Result<(), String>) -> Result<bool, StoreError> {
        self.owned_write(id, |j, now| j.finish(worker, outcome, now))
    }

    fn release(&self, id: &str, worker: &str) -> Result<bool, StoreError> {
        self.owned_write(id, |j, _| j.release(worker))
    }

    fn cancel(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.mutate(id, |j, now| (j.cancel(now), ()))?.map(|(j, _)| j.rec))
    }

    fn delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute("DELETE FROM meeting_jobs WHERE id = ?1", [id])? > 0)
    }

    fn finished_before(&self, unix_s: i64) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id FROM meeting_jobs WHERE status IN ('completed', 'failed', 'cancelled') \
             AND finished_at < ?1 ORDER BY seq",
        )?;
        let ids = stmt.query_map([unix_s], |r| r.get(0))?;
        Ok(ids.collect::<Result<Vec<String>, _>>()?)
    }

    fn active(&self) -> Result<usize, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM meeting_jobs WHERE status IN ('queued', 'running')",
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as usize)
    }

    fn requeue_running(&self) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "UPDATE meeting_jobs SET status = 'queued', worker = NULL, lease_until = NULL \
             WHERE status = 'running'",
            [],
        )?)
    }

    fn shared(&self) -> bool {
        false
    }
}
