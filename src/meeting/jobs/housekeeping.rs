//! Admission (the bounded queue and the disk quota) and retention (finished jobs and their files
//! deleted after a while).
//!
//! The submit path calls [`admit`] before it writes the upload, then creates the job folder,
//! writes the input, inserts the job and wakes the pool: so a refused job leaves nothing behind,
//! and an accepted one is complete before anyone can claim it. A crash between the folder and the
//! insert leaves a folder without a job, which retention removes once it is older than the
//! retention period.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{FilesError, JobFiles, JobStore, StoreError};

/// Orphan folders younger than this are never removed (a submission may be writing one).
const ORPHAN_MIN_AGE: Duration = Duration::from_secs(3600);

/// What the submit path enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most queued + running jobs (0: unbounded).
    pub max_active: usize,
    /// Most bytes under the jobs directory (0: no quota).
    pub quota_bytes: u64,
}

/// A submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error("the meeting queue is full: {active} jobs are queued or running (meeting.max_queued = {max}); retry later")]
    QueueFull { active: usize, max: usize },
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses a new job of `incoming` bytes when the queue is full or the quota would be passed.
/// Blocks (counts rows, walks the jobs directory). When the upload size is not known yet, pass 0
/// and cap the upload at the room that is left.
pub fn admit(store: &dyn JobStore, files: &JobFiles, limits: &Limits, incoming: u64) -> Result<(), AdmitError> {
    if limits.max_active > 0 {
        let active = store.active()?;
        if active >= limits.max_active {
            return Err(AdmitError::QueueFull {
                active,
                max: limits.max_active,
            });
        }
    }
    files.check_quota(limits.quota_bytes, incoming)?;
    Ok(())
}

/// What a retention sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Finished jobs deleted, row and folder.
    pub jobs: Vec<String>,
    /// Folders without a job, removed.
    pub orphans: Vec<String>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Deletes the jobs that finished before `cutoff_unix_s` (folder first, then the row, so a
/// failed removal is retried by the next sweep), and the folders without a job last modified
/// before the cutoff (and at least an hour ago). Blocks.
pub fn sweep_retention(store: &dyn JobStore, files: &JobFiles, cutoff_unix_s: i64) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    for id in store.finished_before(cutoff_unix_s)? {
        match files.remove(&id) {
            Ok(_) | Err(FilesError::BadId(_)) => {}
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "retention: could not remove the job folder");
                continue;
            }
        }
        if store.delete(&id)? {
            swept.jobs.push(id);
        }
    }
    let orphan_cutoff = cutoff_unix_s.min(unix_now() - ORPHAN_MIN_AGE.as_secs() as i64);
    let ids = files
        .job_ids()
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
    for id in ids {
        let Ok(job) = files.job(&id) else { continue };
        let modified = std::fs::metadata(job.path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        if modified.is_none_or(|m| m >= orphan_cutoff) || store.get(&id)?.is_some() {
            continue;
        }
        match files.remove(&id) {
            Ok(_) => swept.orphans.push(id),
            Err(e) => tracing::warn!(job = %id, error = %e, "retention: could not remove an orphan folder"),
        }
    }
    Ok(swept)
}

/// Sweeps every `every` (the first sweep at once) the jobs finished more than `retention` ago,
/// until `shutdown`.
pub fn spawn_retention(
    store: Arc<dyn JobStore>,
    files: JobFiles,
    retention: Duration,
    every: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (s, f) = (store.clone(), files.clone());
            let cutoff = unix_now() - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
            match tokio::task::spawn_blocking(move || sweep_retention(&*s, &f, cutoff)).await {
                Ok(Ok(swept)) if !swept.jobs.is_empty() || !swept.orphans.is_empty() => {
                    tracing::info!(
                        jobs = swept.jobs.len(),
                        orphans = swept.orphans.len(),
                        "meeting retention: deleted old jobs"
                    );
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "meeting retention sweep failed"),
                Err(e) => tracing::warn!(error = %e, "meeting retention sweep panicked"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::jobs::{SqliteStore, write_atomic};
    use std::path::PathBuf;

    fn temp_root(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "asr-router-hk-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn admit_refuses_a_full_queue_and_a_full_disk() {
        let root = temp_root("admit");
        let store = SqliteStore::open(&root.join("jobs.sqlite3")).unwrap();
        let files = JobFiles::new(&root);
        let limits = Limits {
            max_active: 2,
            quota_bytes: 0,
        };
        admit(&store, &files, &limits, 10).unwrap();
        store.insert("a", &serde_json::json!({})).unwrap();
        store.insert("b", &serde_json::json!({})).unwrap();
        let err = admit(&store, &files, &limits, 10).unwrap_err();
        assert!(matches!(err, AdmitError::QueueFull { active: 2, max: 2 }), "{err}");
        assert!(err.to_string().contains("meeting.max_queued"));
        store.cancel("a").unwrap();
        admit(&store, &files, &limits, 10).unwrap();

        let used = files.bytes_used().unwrap();
        let limits = Limits {
            max_active: 0,
            quota_bytes: used + 100,
        };
        admit(&store, &files, &limits, 100).unwrap();
        let err = admit(&store, &files, &limits, 101).unwrap_err();
        assert!(
            matches!(err, AdmitError::Files(FilesError::QuotaExceeded { .. })),
            "{err}"
        );
        drop(store);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn retention_deletes_old_finished_jobs_and_orphans_only() {
        let root = temp_root("retention");
        let store = SqliteStore::open(&root.join("jobs.sqlite3")).unwrap();
        let files = JobFiles::new(&root);
        let lease = Duration::from_secs(60);
        for id in ["done", "failed", "cancelled", "queued", "running"] {
            store.insert(id, &serde_json::json!({})).unwrap();
            let job = files.create(id).unwrap();
            write_atomic(&job.output("x.txt").unwrap(), b"x").unwrap();
        }
        // claims take the oldest first: done, failed, running
        store.claim("w", lease).unwrap();
        store.finish("done", "w", Ok(())).unwrap();
        store.claim("w", lease).unwrap();
        store.finish("failed", "w", Err("e".into())).unwrap();
        store.cancel("cancelled").unwrap();
        store.cancel("queued").unwrap(); // cancelled, then...
        store.delete("queued").unwrap(); // ...its row gone: the folder is an orphan now
        assert_eq!(store.claim("w", lease).unwrap().unwrap().id, "running");
        let orphan = files.create("orphan").unwrap();
        store.insert("fresh", &serde_json::json!({})).unwrap();

        // a cutoff in the past removes nothing
        let swept = sweep_retention(&store, &files, 0).unwrap();
        assert_eq!(swept, Swept::default());
        // a cutoff in the future removes the finished jobs; the orphans are too young
        let future = unix_now() + 10;
        let swept = sweep_retention(&store, &files, future).unwrap();
        assert_eq!(swept.jobs, vec!["done", "failed", "cancelled"]);
        assert!(swept.orphans.is_empty(), "folders younger than an hour stay");
        for id in ["done", "failed", "cancelled"] {
            assert!(store.get(id).unwrap().is_none());
            assert!(!root.join(id).exists());
        }
        assert!(store.get("running").unwrap().is_some() && root.join("running").exists());
        assert!(root.join("queued").exists() && orphan.path().exists());

        // age the orphan folders by two hours: now they go, the live jobs' folders stay
        let old = SystemTime::now() - Duration::from_secs(7200);
        for id in ["queued", "orphan", "running"] {
            std::fs::File::open(root.join(id)).unwrap().set_modified(old).unwrap();
        }
        let swept = sweep_retention(&store, &files, future).unwrap();
        assert_eq!(swept.orphans, vec!["orphan", "queued"]);
        assert!(root.join("running").exists());
        assert_eq!(store.active().unwrap(), 2, "running and fresh are untouched");
        drop(store);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
