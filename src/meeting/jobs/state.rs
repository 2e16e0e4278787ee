//! The job state machine, once for every store: a stored row ([`StoredJob`]) and its
//! transitions as plain functions of the row and the current time. The stores load a row under a
//! lock (SQLite's write transaction, PostgreSQL's `FOR UPDATE`), apply one transition, and write
//! the row back when it changed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{JobRecord, JobStatus, StoreError};

/// A job row: the record plus who holds it and until when.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredJob {
    pub rec: JobRecord,
    pub worker: Option<String>,
    /// Unix milliseconds.
    pub lease_until: Option<i64>,
}

pub(crate) fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4)
}

fn clamp_progress(p: f32) -> Option<f32> {
    if p.is_nan() { None } else { Some(p.clamp(0.0, 1.0)) }
}

impl StoredJob {
    /// A freshly accepted job.
    pub fn new(id: &str, params: serde_json::Value, now_ms: i64) -> StoredJob {
        StoredJob {
            rec: JobRecord {
                id: id.to_string(),
                status: JobStatus::Queued,
                stage: None,
                stages_done: Vec::new(),
                progress: 0.0,
                params,
                created_at: now_ms.div_euclid(1000),
                started_at: None,
                finished_at: None,
                error: None,
                timings: BTreeMap::new(),
                attempts: 0,
            },
            worker: None,
            lease_until: None,
        }
    }

    fn owned_by(&self, worker: &str) -> bool {
        self.rec.status == JobStatus::Running && self.worker.as_deref() == Some(worker)
    }

    /// Whether `claim` may take it now: queued, or running with an expired lease. The stores'
    /// claim queries say the same in SQL; this is the rule they are tested against.
    #[cfg(test)]
    pub fn claimable(&self, now_ms: i64) -> bool {
        match self.rec.status {
            JobStatus::Queued => true,
            JobStatus::Running => self.lease_until.is_none_or(|t| t < now_ms),
            _ => false,
        }
    }

    pub fn claim(&mut self, worker: &str, lease: Duration, now_ms: i64) {
        self.rec.status = JobStatus::Running;
        self.worker = Some(worker.to_string());
        self.lease_until = Some(now_ms.saturating_add(lease_ms(lease)));
        self.rec.started_at.get_or_insert(now_ms.div_euclid(1000));
        self.rec.attempts = self.rec.attempts.saturating_add(1);
    }

    pub fn renew(&mut self, worker: &str, lease: Duration, now_ms: i64) -> bool {
        if !self.owned_by(worker) {
            return false;
        }
        self.lease_until = Some(now_ms.saturating_add(lease_ms(lease)));
        true
    }

    pub fn set_progress(&mut self, worker: &str, stage: &str, progress: f32) -> bool {
        if !self.owned_by(worker) {
            return false;
        }
        self.rec.stage = Some(stage.to_string());
        if let Some(p) = clamp_progress(progress) {
            self.rec.progress = p;
        }
        true
    }

    pub fn stage_done(&mut self, worker: &str, stage: &str, seconds: f64, progress: f32) -> bool {
        if !self.owned_by(worker) {
            return false;
        }
        if !self.rec.stages_done.iter().any(|s| s == stage) {
            self.rec.stages_done.push(stage.to_string());
        }
        let seconds = if seconds.is_finite() { seconds.max(0.0) } else { 0.0 };
        self.rec.timings.insert(stage.to_string(), seconds);
        self.rec.stage = Some(stage.to_string());
        if let Some(p) = clamp_progress(progress) {
            self.rec.progress = p;
        }
        true
    }

    pub fn finish(&mut self, worker: &str, outcome: Result<(), String>, now_ms: i64) -> bool {
        if !self.owned_by(worker) {
            return false;
        }
        match outcome {
            Ok(()) => {
                self.rec.status = JobStatus::Completed;
                self.rec.progress = 1.0;
                self.rec.error = None;
            }
            Err(e) => {
                self.rec.status = JobStatus::Failed;
                self.rec.error = Some(e);
            }
        }
        self.rec.finished_at = Some(now_ms.div_euclid(1000));
        self.worker = None;
        self.lease_until = None;
        true
    }

    pub fn release(&mut self, worker: &str) -> bool {
        if !self.owned_by(worker) {
            return false;
        }
        self.requeue();
        self.rec.attempts = self.rec.attempts.saturating_sub(1);
        true
    }

    /// Running → queued (the attempt stays counted); `false` when it was not running.
    pub fn requeue(&mut self) -> bool {
        if self.rec.status != JobStatus::Running {
            return false;
        }
        self.rec.status = JobStatus::Queued;
        self.worker = None;
        self.lease_until = None;
        true
    }

    /// Queued or running → cancelled; `false` (unchanged) when it had finished.
    pub fn cancel(&mut self, now_ms: i64) -> bool {
        if self.rec.status.is_finished() {
            return false;
        }
        self.rec.status = JobStatus::Cancelled;
        self.rec.finished_at = Some(now_ms.div_euclid(1000));
        self.worker = None;
        self.lease_until = None;
        true
    }
}

/// The stored text columns of a record: `stages_done` and `timings` as JSON, `params` as JSON.
pub(crate) struct JsonColumns {
    pub params: String,
    pub stages_done: String,
    pub timings: String,
}

impl JsonColumns {
    pub fn of(rec: &JobRecord) -> JsonColumns {
        // Serializing a Value, a Vec<String> or a map of f64 cannot fail (non-finite times are
        // stored as 0 by `stage_done`; serde_json writes any other non-finite f64 as null).
        JsonColumns {
            params: serde_json::to_string(&rec.params).unwrap_or_else(|_| "null".into()),
            stages_done: serde_json::to_string(&rec.stages_done).unwrap_or_else(|_| "[]".into()),
            timings: serde_json::to_string(&rec.timings).unwrap_or_else(|_| "{}".into()),
        }
    }
}

/// A row's raw columns, as both stores read them.
pub(crate) struct RawRow {
    pub id: String,
    pub status: String,
    pub stage: Option<String>,
    pub stages_done: String,
    pub progress: f64,
    pub params: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub timings: String,
    pub attempts: i64,
    pub worker: Option<String>,
    pub lease_until: Option<i64>,
}

impl RawRow {
    pub fn parse(self) -> Result<StoredJob, StoreError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("job {:?}: unreadable {what}: {e}", self.id))
        };
        let status = JobStatus::parse(&self.status).ok_or_else(|| bad("status", &format!("{:?}", self.status)))?;
        let stages_done: Vec<String> = serde_json::from_str(&self.stages_done).map_err(|e| bad("stages_done", &e))?;
        let params: serde_json::Value = serde_json::from_str(&self.params).map_err(|e| bad("params", &e))?;
        let timings: BTreeMap<String, Option<f64>> =
            serde_json::from_str(&self.timings).map_err(|e| bad("timings", &e))?;
        Ok(StoredJob {
            rec: JobRecord {
                status,
                stage: self.stage,
                stages_done,
                progress: self.progress as f32,
                params,
                created_at: self.created_at,
                started_at: self.started_at,
                finished_at: self.finished_at,
                error: self.error,
                timings: timings.into_iter().map(|(k, v)| (k, v.unwrap_or(0.0))).collect(),
                attempts: u32::try_from(self.attempts.max(0)).unwrap_or(u32::MAX),
                id: self.id,
            },
            worker: self.worker,
            lease_until: self.lease_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn running(worker: &str) -> StoredJob {
        let mut j = StoredJob::new("j", serde_json::json!({}), 1_000_000);
        assert!(j.claimable(1_000_000));
        j.claim(worker, MIN, 1_000_000);
        j
    }

    #[test]
    fn claim_runs_the_job_under_a_lease_and_counts_the_attempt() {
        let j = running("w");
        assert_eq!(j.rec.status, JobStatus::Running);
        assert_eq!(j.rec.attempts, 1);
        assert_eq!(j.rec.started_at, Some(1000));
        assert_eq!(j.lease_until, Some(1_060_000));
        assert!(!j.claimable(1_060_000), "the lease holds until its last millisecond");
        assert!(j.claimable(1_060_001), "an expired lease makes it claimable");
        let mut k = j.clone();
        k.claim("v", MIN, 2_000_000);
        assert_eq!(k.rec.attempts, 2);
        assert_eq!(k.rec.started_at, Some(1000), "started_at is the first claim");
    }

    #[test]
    fn only_the_owner_writes() {
        let mut j = running("w");
        let before = j.clone();
        assert!(!j.renew("v", MIN, 1));
        assert!(!j.set_progress("v", "decode", 0.5));
        assert!(!j.stage_done("v", "decode", 1.0, 0.5));
        assert!(!j.finish("v", Ok(()), 1));
        assert!(!j.release("v"));
        assert_eq!(j, before);
    }

    #[test]
    fn stages_accumulate_once_with_their_last_time() {
        let mut j = running("w");
        assert!(j.set_progress("w", "decode", 2.0));
        assert_eq!(j.rec.progress, 1.0, "clamped");
        assert!(j.set_progress("w", "decode", f32::NAN));
        assert_eq!(j.rec.progress, 1.0, "NaN leaves progress as it was");
        assert!(j.stage_done("w", "decode", 1.5, 0.25));
        assert!(j.stage_done("w", "segment", f64::INFINITY, 0.5));
        assert!(j.stage_done("w", "decode", 2.5, 0.5));
        assert_eq!(j.rec.stages_done, vec!["decode", "segment"]);
        assert_eq!(j.rec.timings["decode"], 2.5);
        assert_eq!(j.rec.timings["segment"], 0.0);
        assert_eq!(j.rec.stage.as_deref(), Some("decode"));
    }

    #[test]
    fn finish_cancel_release_and_requeue() {
        let mut j = running("w");
        assert!(j.finish("w", Err("boom".into()), 5_000_000));
        assert_eq!(j.rec.status, JobStatus::Failed);
        assert_eq!(j.rec.error.as_deref(), Some("boom"));
        assert_eq!(j.rec.finished_at, Some(5000));
        assert!(!j.finish("w", Ok(()), 1), "finished is final");
        assert!(!j.cancel(6_000_000), "cancel leaves a finished job alone");
        assert!(!j.claimable(i64::MAX));

        let mut j = running("w");
        assert!(j.finish("w", Ok(()), 5_000_000));
        assert_eq!((j.rec.status, j.rec.progress), (JobStatus::Completed, 1.0));

        let mut j = running("w");
        assert!(j.release("w"));
        assert_eq!(
            (j.rec.status, j.rec.attempts, j.worker.clone()),
            (JobStatus::Queued, 0, None)
        );
        assert!(!j.requeue(), "a queued job is not requeued");
        assert!(j.cancel(7_000_000));
        assert_eq!(j.rec.status, JobStatus::Cancelled);
        assert!(!j.claimable(0));

        let mut j = running("w");
        assert!(j.requeue());
        assert_eq!((j.rec.status, j.rec.attempts), (JobStatus::Queued, 1));
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let raw = || RawRow {
            id: "j".into(),
            status: "running".into(),
            stage: None,
            stages_done: "[]".into(),
            progress: 0.0,
            params: "{}".into(),
            created_at: 0,
            started_at: None,
            finished_at: None,
            error: None,
            timings: "{\"a\": null}".into(),
            attempts: -3,
            worker: None,
            lease_until: None,
        };
        let ok = raw().parse().unwrap();
        assert_eq!((ok.rec.attempts, ok.rec.timings["a"]), (0, 0.0));
        let e = RawRow {
            status: "paused".into(),
            ..raw()
        }
        .parse()
        .unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
        let e = RawRow {
            stages_done: "{".into(),
            ..raw()
        }
        .parse()
        .unwrap_err();
        assert!(e.to_string().contains("stages_done"), "{e}");
    }
}
