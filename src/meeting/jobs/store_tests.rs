// The job store's behaviour, once for every store: included (`include!`) by the SQLite unit
// tests (src/meeting/jobs/mod.rs) and the PostgreSQL integration test
// (tests/meeting_store_pg.rs), each with `jobs` naming the `meeting::jobs` module.

#[allow(unused_imports)]
use jobs::{JobStatus, JobStore, StoreError};
#[allow(unused_imports)]
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(60);

/// A folder removed on drop.
#[allow(dead_code)]
pub struct TempDir(std::path::PathBuf);

#[allow(dead_code)]
impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "asr-router-jobs-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Case = fn(&dyn JobStore);

/// Every behaviour case, each to run on an empty store.
pub fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("insert_get_and_duplicates", insert_get_and_duplicates),
        ("list_pages_newest_first", list_pages_newest_first),
        (
            "claim_takes_the_oldest_and_leases_it",
            claim_takes_the_oldest_and_leases_it,
        ),
        ("only_the_owner_writes", only_the_owner_writes),
        ("stages_progress_and_finish", stages_progress_and_finish),
        ("cancel_in_every_state", cancel_in_every_state),
        ("expired_leases_are_reclaimed", expired_leases_are_reclaimed),
        ("release_and_requeue", release_and_requeue),
        ("delete_retention_and_active", delete_retention_and_active),
    ]
}

fn json(v: serde_json::Value) -> serde_json::Value {
    v
}

fn insert_get_and_duplicates(s: &dyn JobStore) {
    let params = json(serde_json::json!({"input": "input.wav", "speakers": 2, "names": ["Ann", "李雷"]}));
    let rec = s.insert("m1", &params).unwrap();
    assert_eq!(rec.status, JobStatus::Queued);
    assert_eq!((rec.attempts, rec.progress, rec.stage.clone()), (0, 0.0, None));
    assert!(rec.created_at > 1_600_000_000, "unix seconds: {}", rec.created_at);
    let got = s.get("m1").unwrap().unwrap();
    assert_eq!(got, rec);
    assert_eq!(got.params, params);
    assert!(s.get("nope").unwrap().is_none());
    let err = s.insert("m1", &serde_json::json!({})).unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(ref id) if id == "m1"), "{err}");
    assert_eq!(
        s.get("m1").unwrap().unwrap().params,
        params,
        "a refused insert changes nothing"
    );
    let as_json = serde_json::to_value(&got).unwrap();
    assert_eq!(as_json["status"], "queued");
}

fn list_pages_newest_first(s: &dyn JobStore) {
    assert!(s.list(None, 10).unwrap().is_empty());
    for i in 0..5 {
        s.insert(&format!("j{i}"), &serde_json::json!({"i": i})).unwrap();
    }
    let ids = |v: Vec<jobs::JobRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list(None, 2).unwrap()), vec!["j4", "j3"]);
    assert_eq!(ids(s.list(Some("j3"), 2).unwrap()), vec!["j2", "j1"]);
    assert_eq!(ids(s.list(Some("j1"), 2).unwrap()), vec!["j0"]);
    assert!(s.list(Some("j0"), 2).unwrap().is_empty());
    assert_eq!(ids(s.list(None, 100).unwrap()).len(), 5);
    assert!(s.list(None, 0).unwrap().is_empty());
    let err = s.list(Some("gone"), 2).unwrap_err();
    assert!(matches!(err, StoreError::UnknownCursor(_)), "{err}");
}

fn claim_takes_the_oldest_and_leases_it(s: &dyn JobStore) {
    assert!(s.claim("w1", LEASE).unwrap().is_none());
    s.insert("a", &serde_json::json!({})).unwrap();
    s.insert("b", &serde_json::json!({})).unwrap();
    let a = s.claim("w1", LEASE).unwrap().unwrap();
    assert_eq!((a.id.as_str(), a.status, a.attempts), ("a", JobStatus::Running, 1));
    assert!(a.started_at.is_some());
    assert_eq!(s.get("a").unwrap().unwrap(), a);
    let b = s.claim("w2", LEASE).unwrap().unwrap();
    assert_eq!(b.id, "b");
    assert!(s.claim("w3", LEASE).unwrap().is_none(), "leased jobs are not claimable");
    assert_eq!(s.active().unwrap(), 2);
}

fn only_the_owner_writes(s: &dyn JobStore) {
    s.insert("a", &serde_json::json!({})).unwrap();
    s.claim("w1", LEASE).unwrap().unwrap();
    let before = s.get("a").unwrap().unwrap();
    assert!(!s.renew("a", "w2", LEASE).unwrap());
    assert!(!s.set_progress("a", "w2", "decode", 0.5).unwrap());
    assert!(!s.stage_done("a", "w2", "decode", 1.0, 0.5).unwrap());
    assert!(!s.finish("a", "w2", Ok(())).unwrap());
    assert!(!s.release("a", "w2").unwrap());
    assert_eq!(s.get("a").unwrap().unwrap(), before);
    for missing in [
        s.renew("x", "w1", LEASE).unwrap(),
        s.set_progress("x", "w1", "decode", 0.1).unwrap(),
        s.stage_done("x", "w1", "decode", 1.0, 0.1).unwrap(),
        s.finish("x", "w1", Ok(())).unwrap(),
        s.release("x", "w1").unwrap(),
    ] {
        assert!(!missing, "a missing job is nobody's");
    }
    assert!(s.renew("a", "w1", LEASE).unwrap());
}

fn stages_progress_and_finish(s: &dyn JobStore) {
    s.insert("a", &serde_json::json!({})).unwrap();
    s.insert("b", &serde_json::json!({})).unwrap();
    s.claim("w", LEASE).unwrap().unwrap();
    assert!(s.set_progress("a", "w", "decode", 0.05).unwrap());
    let r = s.get("a").unwrap().unwrap();
    assert_eq!((r.stage.as_deref(), r.progress), (Some("decode"), 0.05));
    assert!(s.stage_done("a", "w", "decode", 1.25, 0.1).unwrap());
    assert!(s.stage_done("a", "w", "segment", 0.5, 0.2).unwrap());
    assert!(
        s.stage_done("a", "w", "decode", 2.0, 0.2).unwrap(),
        "recorded again: one entry"
    );
    let r = s.get("a").unwrap().unwrap();
    assert_eq!(r.stages_done, vec!["decode", "segment"]);
    assert_eq!(r.timings.get("decode"), Some(&2.0));
    assert_eq!(r.timings.get("segment"), Some(&0.5));
    assert!((r.progress - 0.2).abs() < 1e-6);
    assert!(s.finish("a", "w", Ok(())).unwrap());
    let r = s.get("a").unwrap().unwrap();
    assert_eq!(
        (r.status, r.progress, r.error.clone()),
        (JobStatus::Completed, 1.0, None)
    );
    assert!(r.finished_at.is_some());
    assert!(!s.finish("a", "w", Err("late".into())).unwrap(), "finished is final");
    assert!(!s.set_progress("a", "w", "x", 0.0).unwrap());

    s.claim("w", LEASE).unwrap().unwrap();
    assert!(s.finish("b", "w", Err("transcribe: engine gone".into())).unwrap());
    let r = s.get("b").unwrap().unwrap();
    assert_eq!(r.status, JobStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("transcribe: engine gone"));
    assert_eq!(s.active().unwrap(), 0);
}

fn cancel_in_every_state(s: &dyn JobStore) {
    assert!(s.cancel("none").unwrap().is_none());
    s.insert("q", &serde_json::json!({})).unwrap();
    s.insert("r", &serde_json::json!({})).unwrap();
    s.insert("d", &serde_json::json!({})).unwrap();
    let c = s.cancel("q").unwrap().unwrap();
    assert_eq!(c.status, JobStatus::Cancelled);
    assert!(c.finished_at.is_some());
    let r = s.claim("w", LEASE).unwrap().unwrap();
    assert_eq!(r.id, "r", "a cancelled job is not claimed");
    assert_eq!(s.cancel("r").unwrap().unwrap().status, JobStatus::Cancelled);
    assert!(
        !s.renew("r", "w", LEASE).unwrap(),
        "the worker learns it at its next renewal"
    );
    assert!(!s.stage_done("r", "w", "decode", 1.0, 0.1).unwrap());
    assert!(!s.finish("r", "w", Ok(())).unwrap());
    assert_eq!(s.get("r").unwrap().unwrap().status, JobStatus::Cancelled);
    s.claim("w", LEASE).unwrap().unwrap();
    s.finish("d", "w", Ok(())).unwrap();
    let d = s.cancel("d").unwrap().unwrap();
    assert_eq!(d.status, JobStatus::Completed, "a finished job stays as it was");
    assert_eq!(
        s.cancel("q").unwrap().unwrap().status,
        JobStatus::Cancelled,
        "twice is fine"
    );
    assert!(s.claim("w", LEASE).unwrap().is_none());
}

fn expired_leases_are_reclaimed(s: &dyn JobStore) {
    s.insert("a", &serde_json::json!({})).unwrap();
    s.claim("dead", Duration::ZERO).unwrap().unwrap();
    s.stage_done("a", "dead", "decode", 1.0, 0.1).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let r = s.claim("alive", LEASE).unwrap().unwrap();
    assert_eq!((r.id.as_str(), r.attempts), ("a", 2));
    assert_eq!(
        r.stages_done,
        vec!["decode"],
        "the new owner resumes after the done stages"
    );
    assert!(!s.renew("a", "dead", LEASE).unwrap(), "the old owner has lost it");
    assert!(!s.finish("a", "dead", Ok(())).unwrap());
    assert!(s.renew("a", "alive", LEASE).unwrap());
    assert!(s.claim("third", LEASE).unwrap().is_none(), "a renewed lease holds");
}

fn release_and_requeue(s: &dyn JobStore) {
    s.insert("a", &serde_json::json!({})).unwrap();
    s.insert("b", &serde_json::json!({})).unwrap();
    s.claim("w", LEASE).unwrap().unwrap();
    assert!(s.release("a", "w").unwrap());
    let a = s.get("a").unwrap().unwrap();
    assert_eq!(
        (a.status, a.attempts),
        (JobStatus::Queued, 0),
        "a graceful hand-back is no attempt"
    );
    assert!(!s.release("a", "w").unwrap());
    assert_eq!(
        s.claim("w2", LEASE).unwrap().unwrap().id,
        "a",
        "released jobs are claimable at once"
    );
    assert_eq!(s.claim("w2", LEASE).unwrap().unwrap().id, "b");
    assert_eq!(s.requeue_running().unwrap(), 2);
    let a = s.get("a").unwrap().unwrap();
    assert_eq!(
        (a.status, a.attempts),
        (JobStatus::Queued, 1),
        "a crashed attempt counts"
    );
    assert!(!s.renew("a", "w2", LEASE).unwrap());
    assert_eq!(s.requeue_running().unwrap(), 0);
}

fn delete_retention_and_active(s: &dyn JobStore) {
    for id in ["a", "b", "c", "d"] {
        s.insert(id, &serde_json::json!({})).unwrap();
    }
    assert_eq!(s.active().unwrap(), 4);
    s.claim("w", LEASE).unwrap().unwrap();
    s.finish("a", "w", Ok(())).unwrap();
    s.claim("w", LEASE).unwrap().unwrap();
    s.finish("b", "w", Err("x".into())).unwrap();
    s.cancel("c").unwrap();
    s.claim("w", LEASE).unwrap().unwrap(); // d running
    assert_eq!(s.active().unwrap(), 1);
    let now = s.get("a").unwrap().unwrap().finished_at.unwrap();
    assert!(s.finished_before(now).unwrap().is_empty(), "strictly before");
    assert_eq!(s.finished_before(now + 3600).unwrap(), vec!["a", "b", "c"]);
    assert!(s.delete("b").unwrap());
    assert!(!s.delete("b").unwrap());
    assert!(s.get("b").unwrap().is_none());
    assert!(s.delete("d").unwrap(), "a running job can be deleted");
    assert!(!s.renew("d", "w", LEASE).unwrap(), "its worker learns it");
    assert_eq!(s.finished_before(now + 3600).unwrap(), vec!["a", "c"]);
    assert_eq!(s.active().unwrap(), 0);
}

/// `threads` claimers race over 40 jobs: every job is claimed exactly once.
#[allow(dead_code)]
pub fn concurrent_claims(s: std::sync::Arc<dyn JobStore>, threads: usize) {
    const N: usize = 40;
    for i in 0..N {
        s.insert(&format!("c{i:02}"), &serde_json::json!({})).unwrap();
    }
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(r) = s.claim(&format!("t{t}"), LEASE).unwrap() {
                    got.push(r.id);
                }
                got
            })
        })
        .collect();
    let mut all: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    let expected: Vec<String> = (0..N).map(|i| format!("c{i:02}")).collect();
    assert_eq!(all, expected, "each job claimed once");
    for id in &expected {
        assert_eq!(s.get(id).unwrap().unwrap().attempts, 1);
    }
}
