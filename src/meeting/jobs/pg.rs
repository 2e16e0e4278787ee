//! The shared job store: PostgreSQL, for several instances that share the job folders (a shared
//! path) and the queue.
//!
//! - `claim` picks the oldest claimable row with `FOR UPDATE SKIP LOCKED` inside its
//!   transaction: two instances claiming at once take different jobs, and neither waits on the
//!   other's lock.
//! - Every other change locks its row (`FOR UPDATE`), applies one transition of the state machine
//!   (`state.rs`) and writes it back, in one transaction.
//! - Times (`created_at`, leases) come from the server's clock, so instances whose clocks differ
//!   still agree on when a lease ran out.
//! - The schema is created and migrated on connect under an advisory lock (instances starting
//!   together do not race); `meeting_jobs_schema` holds the version.
//!
//! Connections: a few blocking clients kept for reuse (one is opened per concurrent caller, up
//! to [`IDLE_CONNECTIONS`] stay open). The blocking client runs a small runtime of its own, so a
//! call made from inside a Tokio runtime is moved to a plain thread rather than panicking (it
//! still blocks its caller: async code uses `spawn_blocking`). Connections are plain TCP (or a
//! Unix socket): use a trusted network, or a local proxy for TLS.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, GenericClient, NoTls, Row};

use super::state::{JsonColumns, RawRow, StoredJob};
use super::{JobRecord, JobStore, StoreError};

/// Connections kept open between calls.
pub const IDLE_CONNECTIONS: usize = 4;

/// Schema migrations, applied in order.
const MIGRATIONS: &[&str] = &["CREATE TABLE meeting_jobs (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        stage TEXT,
        stages_done TEXT NOT NULL DEFAULT '[]',
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        params TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        error TEXT,
        timings TEXT NOT NULL DEFAULT '{}',
        attempts BIGINT NOT NULL DEFAULT 0,
        worker TEXT,
        lease_until BIGINT
    );
    CREATE INDEX meeting_jobs_status ON meeting_jobs (status, seq);
    CREATE INDEX meeting_jobs_finished ON meeting_jobs (finished_at);"];

/// An arbitrary constant naming this schema's advisory lock.
const SCHEMA_LOCK: i64 = 0x6d74_675f_6a6f_6273; // "mtg_jobs"

const COLUMNS: &str = "id, status, stage, stages_done, progress, params, created_at, started_at, \
                       finished_at, error, timings, attempts, worker, lease_until";

const NOW_MS: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// The PostgreSQL job store.
pub struct PgStore {
    config: Config,
    idle: Mutex<Vec<Client>>,
}

fn raw(row: &Row) -> Result<RawRow, postgres::Error> {
    Ok(RawRow {
        id: row.try_get(0)?,
        status: row.try_get(1)?,
        stage: row.try_get(2)?,
        stages_done: row.try_get(3)?,
        progress: row.try_get(4)?,
        params: row.try_get(5)?,
        created_at: row.try_get(6)?,
        started_at: row.try_get(7)?,
        finished_at: row.try_get(8)?,
        error: row.try_get(9)?,
        timings: row.try_get(10)?,
        attempts: row.try_get(11)?,
        worker: row.try_get(12)?,
        lease_until: row.try_get(13)?,
    })
}

fn now_ms(c: &mut impl GenericClient) -> Result<i64, postgres::Error> {
    c.query_one(NOW_MS, &[])?.try_get(0)
}

fn save(c: &mut impl GenericClient, job: &StoredJob) -> Result<(), postgres::Error> {
    let j = JsonColumns::of(&job.rec);
    c.execute(
        "UPDATE meeting_jobs SET status = $2, stage = $3, stages_done = $4, progress = $5, \
         started_at = $6, finished_at = $7, error = $8, timings = $9, attempts = $10, \
         worker = $11, lease_until = $12 WHERE id = $1",
        &[
            &job.rec.id,
            &job.rec.status.as_str(),
            &job.rec.stage,
            &j.stages_done,
            &f64::from(job.rec.progress),
            &job.rec.started_at,
            &job.rec.finished_at,
            &job.rec.error,
            &j.timings,
            &i64::from(job.rec.attempts),
            &job.worker,
            &job.lease_until,
        ],
    )?;
    Ok(())
}

fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS meeting_jobs_schema (version INTEGER NOT NULL)")?;
    let version: i32 = tx
        .query_opt("SELECT max(version) FROM meeting_jobs_schema", &[])?
        .and_then(|r| r.try_get::<_, Option<i32>>(0).ok().flatten())
        .unwrap_or(0);
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(StoreError::Open(format!(
            "the PostgreSQL job schema has version {version}, newer than this build knows \
             ({known}): run a newer asr-router"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)?;
        tx.execute("DELETE FROM meeting_jobs_schema", &[])?;
        tx.execute(
            "INSERT INTO meeting_jobs_schema (version) VALUES ($1)",
            &[&((i + 1) as i32)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Runs `f` where the blocking client may run: on this thread, or on a scoped plain thread
/// when this one is inside a Tokio runtime (whose threads must not start another runtime).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db` or `host=… user=… dbname=…`) and
    /// creates or migrates the schema.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config =
            Config::from_str(url).map_err(|e| StoreError::Open(format!("bad PostgreSQL connection string: {e}")))?;
        PgStore::from_config(config)
    }

    /// [`PgStore::connect`] from a parsed configuration.
    pub fn from_config(mut config: Config) -> Result<PgStore, StoreError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("asr-router meeting jobs");
        }
        let store = PgStore {
            config,
            idle: Mutex::new(Vec::new()),
        };
        store.with_client(migrate)?;
        Ok(store)
    }

    fn with_client<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut client = match pooled {
                Some(c) if !c.is_closed() => c,
                _ => self.config.connect(NoTls)?,
            };
            let out = f(&mut client);
            if !client.is_closed() {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < IDLE_CONNECTIONS {
                    idle.push(client);
                }
            }
            out
        })
    }

    /// Locks `id`'s row, applies `f`, saves the row when `f` says it changed.
    fn mutate<T: Send>(
        &self,
        id: &str,
        f: impl FnOnce(&mut StoredJob, i64) -> (bool, T) + Send,
    ) -> Result<Option<(StoredJob, T)>, StoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let sql = format!("SELECT {COLUMNS} FROM meeting_jobs WHERE id = $1 FOR UPDATE");
            let Some(row) = tx.query_opt(&sql, &[&id])? else {
                return Ok(None);
            };
            let mut job = raw(&row)?.parse()?;
            let now = now_ms(&mut tx)?;
            let (changed, out) = f(&mut job, now);
            if changed {
                save(&mut tx, &job)?;
                tx.commit()?;
            }
            Ok(Some((job, out)))
        })
    }

    fn owned_write(&self, id: &str, f: impl FnOnce(&mut StoredJob, i64) -> bool + Send) -> Result<bool, StoreError> {
        Ok(self
            .mutate(id, |j, now| {
                let ok = f(j, now);
                (ok, ok)
            })?
            .is_some_and(|(_, ok)| ok))
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Each client owns a small runtime, which must not be dropped on a runtime thread.
        let clients = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        off_runtime(move || drop(clients));
    }
}

impl JobStore for PgStore {
    fn insert(&self, id: &str, params: &serde_json::Value) -> Result<JobRecord, StoreError> {
        self.with_client(|c| {
            let now = now_ms(c)?;
            let job = StoredJob::new(id, params.clone(), now);
            let j = JsonColumns::of(&job.rec);
            let r = c.execute(
                "INSERT INTO meeting_jobs (id, status, params, created_at, stages_done, timings) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &id,
                    &job.rec.status.as_str(),
                    &j.params,
                    &job.rec.created_at,
                    &j.stages_done,
                    &j.timings,
                ],
            );
            match r {
                Ok(_) => Ok(job.rec),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Duplicate(id.to_string())),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.with_client(|c| {
            let sql = format!("SELECT {COLUMNS} FROM meeting_jobs WHERE id = $1");
            match c.query_opt(&sql, &[&id])? {
                Some(row) => Ok(Some(raw(&row)?.parse()?.rec)),
                None => Ok(None),
            }
        })
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.with_client(|c| {
            let before: i64 = match after {
                None => i64::MAX,
                Some(id) => c
                    .query_opt("SELECT seq FROM meeting_jobs WHERE id = $1", &[&id])?
                    .ok_or_else(|| StoreError::UnknownCursor(id.to_string()))?
                    .try_get(0)?,
            };
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let sql = format!("SELECT {COLUMNS} FROM meeting_jobs WHERE seq < $1 ORDER BY seq DESC LIMIT $2");
            let mut out = Vec::new();
            for row in c.query(&sql, &[&before, &limit])? {
                out.push(raw(&row)?.parse()?.rec);
            }
            Ok(out)
        })
    }

    fn claim(&self, worker: &str, lease: Duration) -> Result<Option<JobRecord>, StoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let now = now_ms(&mut tx)?;
            let sql = format!(
                "SELECT {COLUMNS} FROM meeting_jobs WHERE status = 'queued' \
                 OR (status = 'running' AND (lease_until IS NULL OR lease_until < $1)) \
                 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED"
            );
            let Some(row) = tx.query_opt(&sql, &[&now])? else {
                return Ok(None);
            };
            let mut job = raw(&row)?.parse()?;
            job.claim(worker, lease, now);
            save(&mut tx, &job)?;
            tx.commit()?;
            Ok(Some(job.rec))
        })
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
        self.with_client(|c| Ok(c.execute("DELETE FROM meeting_jobs WHERE id = $1", &[&id])? > 0))
    }

    fn finished_before(&self, unix_s: i64) -> Result<Vec<String>, StoreError> {
        self.with_client(|c| {
            let rows = c.query(
                "SELECT id FROM meeting_jobs WHERE status IN ('completed', 'failed', 'cancelled') \
                 AND finished_at < $1 ORDER BY seq",
                &[&unix_s],
            )?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn active(&self) -> Result<usize, StoreError> {
        self.with_client(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM meeting_jobs WHERE status IN ('queued', 'running')",
                    &[],
                )?
                .try_get(0)?;
            Ok(n.max(0) as usize)
        })
    }

    fn requeue_running(&self) -> Result<usize, StoreError> {
        self.with_client(|c| {
            let n = c.execute(
                "UPDATE meeting_jobs SET status = 'queued', worker = NULL, lease_until = NULL \
                 WHERE status = 'running'",
                &[],
            )?;
            Ok(n as usize)
        })
    }

    fn shared(&self) -> bool {
        true
    }
}
