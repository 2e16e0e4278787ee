//! The pool against a real SQLite store and real job folders, with a toy pipeline: each stage
//! appends its name to the previous stage's checkpoint; parameters make a stage fail, panic or
//! block until cancelled.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::meeting::jobs::{JobStatus, SqliteStore, write_atomic};

const STAGES: &[&str] = &["one", "two", "three", "four"];
/// Bounds every wait: a test that hangs fails instead.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ev {
    Started,
    Completed,
    Interrupted,
}

#[derive(Default)]
struct Toy {
    events: Mutex<Vec<(String, &'static str, Ev)>>,
    /// Whether `block_at` parameters are obeyed (a second pool after a crash ignores them).
    blocks: AtomicBool,
    entered: Notify,
}

impl Toy {
    fn new(blocks: bool) -> Arc<Toy> {
        let t = Toy::default();
        t.blocks.store(blocks, Ordering::SeqCst);
        Arc::new(t)
    }

    fn log(&self, id: &str, stage: &'static str, ev: Ev) {
        self.events.lock().unwrap().push((id.to_string(), stage, ev));
    }

    fn count(&self, id: &str, stage: &str, ev: Ev) -> usize {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|(i, s, e)| i == id && *s == stage && *e == ev)
            .count()
    }

    fn counts(&self, id: &str, ev: Ev) -> HashMap<&'static str, usize> {
        let mut m = HashMap::new();
        for (i, s, e) in self.events.lock().unwrap().iter() {
            if i == id && *e == ev {
                *m.entry(*s).or_default() += 1;
            }
        }
        m
    }
}

impl StageRunner for Toy {
    fn stages(&self) -> &'static [&'static str] {
        STAGES
    }

    fn stage_weight(&self, stage: &str) -> f32 {
        match stage {
            "three" => 2.0,
            "four" => 0.0,
            _ => 1.0,
        }
    }

    async fn run_stage(&self, ctx: &JobContext, stage: &'static str, progress: Progress) -> Result<(), String> {
        self.log(&ctx.id, stage, Ev::Started);
        let p = &ctx.params;
        if p["fail_at"] == stage {
            return Err(format!("no {stage} today"));
        }
        if p["panic_at"] == stage {
            panic!("toy stage {stage} broke");
        }
        if p["block_at"] == stage && self.blocks.load(Ordering::SeqCst) {
            progress(0.5);
            self.entered.notify_one();
            ctx.cancel.cancelled().await;
            self.log(&ctx.id, stage, Ev::Interrupted);
            return Err("interrupted".into());
        }
        let prev = match STAGES.iter().position(|s| *s == stage) {
            Some(0) | None => std::fs::read_to_string(ctx.dir.find_input().unwrap().unwrap()).unwrap(),
            Some(i) => {
                std::fs::read_to_string(ctx.dir.checkpoint(STAGES[i - 1], "txt").unwrap()).map_err(|e| e.to_string())?
            }
        };
        let out = format!("{prev}>{stage}");
        write_atomic(&ctx.dir.checkpoint(stage, "txt").unwrap(), out.as_bytes()).map_err(|e| e.to_string())?;
        if stage == "four" {
            write_atomic(&ctx.dir.output("result.txt").unwrap(), out.as_bytes()).map_err(|e| e.to_string())?;
        }
        progress(1.0);
        self.log(&ctx.id, stage, Ev::Completed);
        Ok(())
    }
}

struct Fixture {
    _tmp: crate::meeting::jobs::store_tests::TempDir,
    root: std::path::PathBuf,
    store: Arc<dyn JobStore>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = crate::meeting::jobs::store_tests::TempDir::new("pool");
        let root = tmp.path().to_path_buf();
        let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&root.join("jobs.sqlite3")).unwrap());
        Fixture { _tmp: tmp, root, store }
    }

    fn opts(&self) -> PoolOptions {
        PoolOptions {
            workers: 2,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(50),
            progress_interval: Duration::from_millis(20),
            shutdown_grace: Duration::from_secs(5),
            ..PoolOptions::new(&self.root)
        }
    }

    /// Submits like the HTTP path: folder and input first, then the row.
    fn submit(&self, id: &str, params: serde_json::Value) {
        let job = JobFiles::new(&self.root).create(id).unwrap();
        write_atomic(&job.input("txt").unwrap(), b"in").unwrap();
        self.store.insert(id, &params).unwrap();
    }

    async fn wait_for(&self, id: &str, what: impl Fn(&JobRecord) -> bool) -> JobRecord {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rec = self.store.get(id).unwrap();
            if let Some(r) = rec.as_ref().filter(|r| what(r)) {
                return r.clone();
            }
            assert!(Instant::now() < deadline, "job {id} never got there: {rec:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_finished(&self, id: &str) -> JobRecord {
        self.wait_for(id, |r| r.status.is_finished()).await
    }

    fn result(&self, id: &str) -> String {
        std::fs::read_to_string(self.root.join(id).join("outputs/result.txt")).unwrap()
    }
}

async fn entered(toy: &Toy) {
    tokio::time::timeout(PATIENCE, toy.entered.notified())
        .await
        .expect("the stage never started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_every_stage_in_order_with_timings() {
    let fx = Fixture::new();
    let toy = Toy::new(false);
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), fx.opts(), shutdown.clone())
        .await
        .unwrap();
    for i in 0..3 {
        fx.submit(&format!("ok{i}"), serde_json::json!({}));
    }
    pool.handle().notify();
    for i in 0..3 {
        let id = format!("ok{i}");
        let r = fx.wait_finished(&id).await;
        assert_eq!(r.status, JobStatus::Completed, "{r:?}");
        assert_eq!(r.stages_done, STAGES);
        assert_eq!(r.progress, 1.0);
        assert_eq!((r.attempts, r.error.clone()), (1, None));
        assert_eq!(
            r.timings.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["four", "one", "three", "two"]
        );
        assert!(r.timings.values().all(|t| *t >= 0.0));
        assert_eq!(fx.result(&id), "in>one>two>three>four");
        for s in STAGES {
            assert_eq!(toy.count(&id, s, Ev::Started), 1);
        }
    }
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_panicking_stage_fails_the_job_and_stops_it() {
    let fx = Fixture::new();
    let toy = Toy::new(false);
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), fx.opts(), shutdown.clone())
        .await
        .unwrap();
    fx.submit("bad", serde_json::json!({"fail_at": "two"}));
    fx.submit("boom", serde_json::json!({"panic_at": "three"}));
    fx.submit("fine", serde_json::json!({}));
    pool.handle().notify();
    let r = fx.wait_finished("bad").await;
    assert_eq!(r.status, JobStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("two: no two today"));
    assert_eq!(r.stages_done, vec!["one"]);
    assert_eq!(toy.count("bad", "three", Ev::Started), 0, "later stages do not run");
    let r = fx.wait_finished("boom").await;
    assert_eq!(r.status, JobStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("three: panicked: toy stage three broke"));
    assert_eq!(
        fx.wait_finished("fine").await.status,
        JobStatus::Completed,
        "the pool lives on"
    );
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_mapped_over_weighted_stages() {
    let fx = Fixture::new();
    let toy = Toy::new(true);
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), fx.opts(), shutdown.clone())
        .await
        .unwrap();
    fx.submit("p", serde_json::json!({"block_at": "two"}));
    pool.handle().notify();
    entered(&toy).await;
    // weights 1, 1, 2, 0: "one" done is 1/4; half of "two" is (1 + 0.5) / 4
    let r = fx.wait_for("p", |r| r.progress > 0.25).await;
    assert_eq!(r.stage.as_deref(), Some("two"));
    assert!((r.progress - 0.375).abs() < 1e-6, "{}", r.progress);
    assert!(pool.handle().is_running_here("p"));
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_job_and_delete_removes_its_files() {
    let fx = Fixture::new();
    let toy = Toy::new(true);
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), fx.opts(), shutdown.clone())
        .await
        .unwrap();
    let h = pool.handle();

    fx.submit("c", serde_json::json!({"block_at": "two"}));
    h.notify();
    entered(&toy).await;
    let r = h.cancel("c").await.unwrap().unwrap();
    assert_eq!(r.status, JobStatus::Cancelled);
    assert!(!h.is_running_here("c"), "cancel returns once the stage has stopped");
    assert_eq!(toy.count("c", "two", Ev::Interrupted), 1);
    assert_eq!(toy.count("c", "three", Ev::Started), 0);
    assert!(
        fx.root.join("c/stages/one.txt").exists(),
        "a cancelled job keeps its files"
    );
    assert_eq!(fx.store.get("c").unwrap().unwrap().status, JobStatus::Cancelled);

    fx.submit("d", serde_json::json!({"block_at": "three"}));
    h.notify();
    entered(&toy).await;
    assert!(h.delete("d").await.unwrap());
    assert!(fx.store.get("d").unwrap().is_none());
    assert!(!fx.root.join("d").exists());
    assert!(!h.delete("d").await.unwrap(), "deleting twice finds nothing");
    assert!(h.delete("../x").await.is_ok(), "a bad id is just not found");

    // cancelled elsewhere (another instance): the heartbeat notices, the stage stops
    let mut opts = fx.opts();
    opts.lease = Duration::from_millis(300);
    shutdown.cancel();
    pool.join().await;
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), opts, shutdown.clone())
        .await
        .unwrap();
    fx.submit("e", serde_json::json!({"block_at": "two"}));
    pool.handle().notify();
    entered(&toy).await;
    fx.store.cancel("e").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while toy.count("e", "two", Ev::Interrupted) == 0 {
        assert!(Instant::now() < deadline, "the worker never noticed the cancel");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fx.store.get("e").unwrap().unwrap().status, JobStatus::Cancelled);

    fx.submit("after", serde_json::json!({}));
    pool.handle().notify();
    assert_eq!(fx.wait_finished("after").await.status, JobStatus::Completed);
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

/// A crash in the middle of a stage (the pool aborted, nothing written), then a new pool on the
/// same store: the job resumes at the interrupted stage and every stage completes exactly once,
/// to the result a job without a crash gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stage_resumes_and_completes_every_stage_once() {
    let fx = Fixture::new();
    let first = Toy::new(true);
    let pool = WorkerPool::start(fx.store.clone(), first.clone(), fx.opts(), CancellationToken::new())
        .await
        .unwrap();
    fx.submit("crash", serde_json::json!({"block_at": "three"}));
    fx.submit("clean", serde_json::json!({}));
    pool.handle().notify();
    entered(&first).await;
    pool.abort().await;
    let r = fx.store.get("crash").unwrap().unwrap();
    assert_eq!(
        (r.status, r.stages_done.clone()),
        (JobStatus::Running, vec!["one".into(), "two".into()])
    );
    assert_eq!(
        first.count("crash", "three", Ev::Interrupted),
        0,
        "a crash runs no cleanup"
    );

    let second = Toy::new(false);
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), second.clone(), fx.opts(), shutdown.clone())
        .await
        .unwrap();
    let r = fx.wait_finished("crash").await;
    assert_eq!(r.status, JobStatus::Completed, "{r:?}");
    assert_eq!(r.attempts, 2);
    assert_eq!(r.stages_done, STAGES);
    let clean = fx.wait_finished("clean").await;
    assert_eq!(clean.status, JobStatus::Completed);
    assert_eq!(fx.result("crash"), fx.result("clean"));
    for s in STAGES {
        let done = first.count("crash", s, Ev::Completed) + second.count("crash", s, Ev::Completed);
        assert_eq!(done, 1, "stage {s} completed {done} times");
    }
    assert!(
        second
            .counts("crash", Ev::Started)
            .keys()
            .all(|s| *s == "three" || *s == "four"),
        "done stages are skipped"
    );
    let leftovers: Vec<_> = std::fs::read_dir(fx.root.join("crash/stages"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        4,
        "one checkpoint a stage, no temporaries: {leftovers:?}"
    );
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_hands_the_job_back_for_the_next_start() {
    let fx = Fixture::new();
    let first = Toy::new(true);
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::start(fx.store.clone(), first.clone(), fx.opts(), shutdown.clone())
        .await
        .unwrap();
    fx.submit("s", serde_json::json!({"block_at": "two"}));
    pool.handle().notify();
    entered(&first).await;
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
    let r = fx.store.get("s").unwrap().unwrap();
    assert_eq!((r.status, r.attempts), (JobStatus::Queued, 0), "{r:?}");
    assert_eq!(r.stages_done, vec!["one"]);
    assert_eq!(first.count("s", "two", Ev::Interrupted), 1);

    let second = Toy::new(false);
    let shutdown = CancellationToken::new();
    let mut opts = fx.opts();
    opts.requeue_on_start = Some(false);
    let pool = WorkerPool::start(fx.store.clone(), second.clone(), opts, shutdown.clone())
        .await
        .unwrap();
    let r = fx.wait_finished("s").await;
    assert_eq!((r.status, r.attempts), (JobStatus::Completed, 1));
    assert_eq!(second.count("s", "one", Ev::Started), 0);
    assert_eq!(fx.result("s"), "in>one>two>three>four");
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_crashing_its_worker_fails_after_max_attempts() {
    let fx = Fixture::new();
    fx.submit("poison", serde_json::json!({}));
    for _ in 0..3 {
        // a worker that died each time: claimed, lease run out
        fx.store.claim("dead", Duration::ZERO).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let toy = Toy::new(false);
    let shutdown = CancellationToken::new();
    let mut opts = fx.opts();
    opts.max_attempts = 3;
    opts.requeue_on_start = Some(false);
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), opts, shutdown.clone())
        .await
        .unwrap();
    let r = fx.wait_finished("poison").await;
    assert_eq!((r.status, r.attempts), (JobStatus::Failed, 4));
    assert!(
        r.error.as_deref().unwrap().starts_with("gave up after 3 attempts"),
        "{r:?}"
    );
    assert!(toy.counts("poison", Ev::Started).is_empty());
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_an_idle_pool_that_would_poll_only_hourly() {
    let fx = Fixture::new();
    let toy = Toy::new(false);
    let shutdown = CancellationToken::new();
    let mut opts = fx.opts();
    opts.poll_interval = Duration::from_secs(3600);
    opts.workers = 1;
    let pool = WorkerPool::start(fx.store.clone(), toy.clone(), opts, shutdown.clone())
        .await
        .unwrap();
    for i in 0..2 {
        let id = format!("n{i}");
        fx.submit(&id, serde_json::json!({}));
        pool.handle().notify();
        assert_eq!(fx.wait_finished(&id).await.status, JobStatus::Completed);
    }
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, pool.join()).await.unwrap();
}
