//! `asr-router models pull` against a local stand-in for a model hub.
//!
//! The stand-in serves `/{repo}/resolve/{revision}/{file}` the way Hugging Face does: LFS files
//! as a redirect carrying `X-Linked-Etag` (the content's sha256) to a "CDN" path whose own ETag
//! is meaningless, files kept in git directly with `ETag` = git blob id, and `X-Repo-Commit`.
//! The real binary installs into a scratch models directory. Checked: byte-identical install
//! with `SHA256SUMS`, a second run downloads nothing, bad checksums and missing checksums
//! install nothing and leave no partial directory, a dead hub fails cleanly, a directory the
//! command did not install is not replaced without `--force`. With `ASR_ROUTER_SV_TINY` (the
//! random-weight SenseVoice stand-in of `tools/sensevoice-parity-setup.sh`) the real stand-in
//! files are pulled and loaded by the SenseVoice engine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use sha1::Sha1;
use sha2::{Digest, Sha256};

const REPO: &str = "csukuangfj/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn sha256_hex(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn git_blob_hex(b: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", b.len()).as_bytes());
    h.update(b);
    format!("{:x}", h.finalize())
}

/// How the hub serves one file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Redirect with `X-Linked-Etag` to the CDN path.
    Lfs,
    /// 200 with `ETag` = git blob id.
    Git,
    /// 200 without any checksum header.
    Bare,
}

struct Entry {
    body: Vec<u8>,
    mode: Mode,
    /// What the hub claims, when it lies.
    claimed: Option<String>,
}

#[derive(Default)]
struct Hub {
    files: Mutex<HashMap<String, Entry>>,
    requests: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

impl Hub {
    fn put(&self, name: &str, body: Vec<u8>, mode: Mode) {
        self.files.lock().unwrap().insert(
            name.into(),
            Entry {
                body,
                mode,
                claimed: None,
            },
        );
    }

    /// Makes the hub announce `claimed` as the checksum of `name`.
    fn lie(&self, name: &str, claimed: &str) {
        self.files.lock().unwrap().get_mut(name).unwrap().claimed = Some(claimed.into());
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(State(hub): State<Arc<Hub>>, uri: Uri) -> Response {
    hub.requests.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().trim_start_matches('/').to_string();
    hub.paths.lock().unwrap().push(path.clone());
    let files = hub.files.lock().unwrap();
    let not_found = || {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap()
    };
    if let Some(name) = path.strip_prefix("cdn/") {
        let Some(e) = files.get(name) else { return not_found() };
        // a CDN tag that looks like a git blob id but is not: must be ignored
        return Response::builder()
            .header("etag", format!("\"{}\"", "f".repeat(40)))
            .body(Body::from(e.body.clone()))
            .unwrap();
    }
    let Some(rest) = path.strip_prefix(&format!("{REPO}/resolve/")) else {
        return not_found();
    };
    let Some((rev, name)) = rest.split_once('/') else {
        return not_found();
    };
    if rev != "main" && rev != COMMIT {
        return not_found();
    }
    let Some(e) = files.get(name) else { return not_found() };
    let r = Response::builder().header("x-repo-commit", COMMIT);
    match e.mode {
        Mode::Lfs => {
            let tag = format!("\"{}\"", e.claimed.clone().unwrap_or_else(|| sha256_hex(&e.body)));
            r.status(StatusCode::FOUND)
                .header("location", format!("/cdn/{name}"))
                .header("x-linked-etag", &tag)
                .header("x-linked-size", e.body.len())
                .header("etag", &tag)
                .body(Body::empty())
                .unwrap()
        }
        Mode::Git => {
            let tag = format!("\"{}\"", e.claimed.clone().unwrap_or_else(|| git_blob_hex(&e.body)));
            r.header("etag", tag).body(Body::from(e.body.clone())).unwrap()
        }
        Mode::Bare => r.body(Body::from(e.body.clone())).unwrap(),
    }
}

/// Starts the hub on an ephemeral loopback port; returns it and its base URL.
async fn start_hub() -> (Arc<Hub>, String) {
    let hub = Arc::new(Hub::default());
    let app = axum::Router::new().fallback(serve).with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hub, base)
}

/// Deterministic pseudo-random bytes (a fake model: only the pull mechanics are under test).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A fresh scratch models directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!("asr-router-pull-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn target(&self) -> PathBuf {
        self.0.join("sensevoice-small")
    }

    /// Names in the models directory (a partial download would show up here).
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn pull(models: &Path, hub: &str, extra: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_asr-router"))
        .arg("--models")
        .arg(models)
        .args(["models", "pull", "sensevoice-small", "--from", hub])
        .args(extra)
        .env_remove("ASR_ROUTER_CONFIG")
        .env_remove("ASR_ROUTER_HUB_URL")
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .await
        .expect("run asr-router");
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("--- models pull {extra:?}: ok={}\n{}{}", run.ok, run.stdout, run.stderr);
    run
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[tokio::test]
async fn installs_verifies_and_is_idempotent() {
    let (hub, base) = start_hub().await;
    let int8 = noise(3 << 20, 1);
    let fp32 = noise(5 << 20, 2);
    let tokens = b"<unk> 0\n<s> 1\n</s> 2\nhello 3\n".to_vec();
    hub.put("model.int8.onnx", int8.clone(), Mode::Lfs);
    hub.put("model.onnx", fp32.clone(), Mode::Lfs);
    hub.put("tokens.txt", tokens.clone(), Mode::Git);
    let models = Scratch::new("ok");

    let r = pull(&models.0, &base, &[]).await;
    assert!(r.ok, "first pull failed");
    let t = models.target();
    assert_eq!(read(&t.join("model.int8.onnx")), int8);
    assert_eq!(read(&t.join("tokens.txt")), tokens);
    assert!(!t.join("model.onnx").exists(), "int8 is the default: no fp32 model");
    assert_eq!(
        String::from_utf8(read(&t.join("SHA256SUMS"))).unwrap(),
        format!(
            "{}  model.int8.onnx\n{}  tokens.txt\n",
            sha256_hex(&int8),
            sha256_hex(&tokens)
        )
    );
    assert!(
        r.stdout.contains("model.int8.onnx") && r.stdout.contains("3.1 MB"),
        "{}",
        r.stdout
    );
    assert_eq!(models.entries(), ["sensevoice-small"], "no partial directory left");
    // the files after the first were fetched at the commit the hub resolved `main` to
    let paths = hub.paths.lock().unwrap().clone();
    assert!(paths[0].contains("/resolve/main/model.int8.onnx"), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with(&format!("/resolve/{COMMIT}/tokens.txt"))),
        "{paths:?}"
    );

    let before = hub.requests();
    let r = pull(&models.0, &base, &[]).await;
    assert!(r.ok && r.stdout.contains("already installed"), "{}", r.stdout);
    assert_eq!(hub.requests(), before, "second run must download nothing");

    // adding fp32 with a corrupt download keeps the existing installation as it was
    let seen = hub.paths.lock().unwrap().len();
    hub.lie("model.onnx", &sha256_hex(b"something else"));
    let r = pull(&models.0, &base, &["--precision", "both"]).await;
    assert!(!r.ok);
    assert!(
        r.stderr.contains("model.onnx") && r.stderr.contains("mismatch"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&sha256_hex(&fp32)),
        "names what arrived: {}",
        r.stderr
    );
    assert_eq!(read(&t.join("model.int8.onnx")), int8);
    assert!(!t.join("model.onnx").exists());
    assert_eq!(models.entries(), ["sensevoice-small"]);

    hub.lie("model.onnx", &sha256_hex(&fp32));
    let r = pull(&models.0, &base, &["--precision", "both"]).await;
    assert!(r.ok);
    assert_eq!(read(&t.join("model.onnx")), fp32);
    assert_eq!(read(&t.join("model.int8.onnx")), int8);
    assert_eq!(models.entries(), ["sensevoice-small"], "previous installation removed");
    // the unchanged int8 model was taken over, not downloaded again
    assert!(r.stdout.contains("kept from the previous installation"), "{}", r.stdout);
    let later = hub.paths.lock().unwrap()[seen..].to_vec();
    assert!(!later.iter().any(|p| p == "cdn/model.int8.onnx"), "{later:?}");
    assert!(later.iter().any(|p| p == "cdn/model.onnx"), "{later:?}");
}

#[tokio::test]
async fn a_wrong_checksum_installs_nothing() {
    for (file, mode) in [("model.int8.onnx", Mode::Lfs), ("tokens.txt", Mode::Git)] {
        let (hub, base) = start_hub().await;
        hub.put("model.int8.onnx", noise(1 << 20, 3), Mode::Lfs);
        hub.put("tokens.txt", b"a 0\nb 1\n".to_vec(), Mode::Git);
        let wrong = match mode {
            Mode::Lfs => sha256_hex(b"not the model"),
            _ => git_blob_hex(b"not the tokens"),
        };
        hub.lie(file, &wrong);
        let models = Scratch::new("bad");
        let r = pull(&models.0, &base, &[]).await;
        assert!(!r.ok, "{file}: a corrupt file was accepted");
        assert!(r.stderr.contains(file) && r.stderr.contains(&wrong), "{}", r.stderr);
        assert!(r.stderr.contains("nothing was installed"), "{}", r.stderr);
        assert!(models.entries().is_empty(), "{file}: left {:?}", models.entries());
    }
}

#[tokio::test]
async fn a_file_without_checksum_needs_a_sha256_file_or_the_insecure_flag() {
    let (hub, base) = start_hub().await;
    let int8 = noise(1 << 20, 4);
    let tokens = b"x 0\n".to_vec();
    hub.put("model.int8.onnx", int8.clone(), Mode::Bare);
    hub.put("tokens.txt", tokens.clone(), Mode::Git);
    let models = Scratch::new("bare");

    let r = pull(&models.0, &base, &[]).await;
    assert!(!r.ok);
    assert!(
        r.stderr.contains("model.int8.onnx") && r.stderr.contains("no checksum"),
        "{}",
        r.stderr
    );
    assert!(models.entries().is_empty(), "{:?}", models.entries());

    // a sha256sum-style file (paths with directories, as `sha256sum dir/*` prints them)
    let sums = models.0.join("..").join(format!("sums-{}", std::process::id()));
    std::fs::write(&sums, format!("{}  some/dir/model.int8.onnx\n", sha256_hex(&int8))).unwrap();
    let r = pull(&models.0, &base, &["--sha256", sums.to_str().unwrap()]).await;
    let _ = std::fs::remove_file(&sums);
    assert!(r.ok);
    assert!(r.stdout.contains("--sha256 file"), "{}", r.stdout);
    assert_eq!(read(&models.target().join("model.int8.onnx")), int8);

    let other = Scratch::new("insecure");
    let r = pull(&other.0, &base, &["--insecure-no-checksum"]).await;
    assert!(r.ok && r.stdout.contains("NOT CHECKED"), "{}", r.stdout);
    assert_eq!(read(&other.target().join("model.int8.onnx")), int8);
}

#[tokio::test]
async fn an_unreachable_hub_fails_cleanly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let models = Scratch::new("dead");
    let base = format!("http://127.0.0.1:{port}");
    let r = pull(&models.0, &base, &[]).await;
    assert!(!r.ok);
    assert!(
        r.stderr.contains("cannot reach") && r.stderr.contains(&format!("127.0.0.1:{port}/")),
        "{}",
        r.stderr
    );
    assert!(models.entries().is_empty(), "{:?}", models.entries());
}

#[tokio::test]
async fn a_directory_it_did_not_install_is_replaced_only_with_force() {
    let (hub, base) = start_hub().await;
    hub.put("model.int8.onnx", noise(1 << 16, 5), Mode::Lfs);
    hub.put("tokens.txt", b"y 0\n".to_vec(), Mode::Git);
    let models = Scratch::new("foreign");
    std::fs::create_dir_all(models.target()).unwrap();
    std::fs::write(models.target().join("model.onnx"), b"the user's own weights").unwrap();

    let r = pull(&models.0, &base, &[]).await;
    assert!(!r.ok && r.stderr.contains("not installed by"), "{}", r.stderr);
    assert_eq!(hub.requests(), 0, "refused before downloading");
    assert_eq!(read(&models.target().join("model.onnx")), b"the user's own weights");

    let r = pull(&models.0, &base, &["--force"]).await;
    assert!(r.ok);
    assert!(!models.target().join("model.onnx").exists());
    assert!(models.target().join("SHA256SUMS").is_file());
    assert_eq!(models.entries(), ["sensevoice-small"]);
}

/// The random-weight stand-in (real ONNX graph, real tokens.txt) pulled and then loaded.
#[tokio::test]
async fn a_pulled_standin_loads_in_the_sensevoice_engine() {
    let Ok(standin) = std::env::var("ASR_ROUTER_SV_TINY") else {
        eprintln!("SKIPPED: ASR_ROUTER_SV_TINY is not set (tools/sensevoice-parity-setup.sh prints it)");
        return;
    };
    let standin = PathBuf::from(standin);
    let (hub, base) = start_hub().await;
    let int8 = read(&standin.join("model.int8.onnx"));
    let tokens = read(&standin.join("tokens.txt"));
    hub.put("model.int8.onnx", int8.clone(), Mode::Lfs);
    hub.put("tokens.txt", tokens.clone(), Mode::Git);
    let models = Scratch::new("standin");
    let r = pull(&models.0, &base, &[]).await;
    assert!(r.ok);
    let dir = models.target();
    assert_eq!(read(&dir.join("model.int8.onnx")), int8);
    assert_eq!(read(&dir.join("tokens.txt")), tokens);

    let lib = std::env::var("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lib/libonnxruntime.so.1.31.1"));
    let env = ort::init_from(&lib)
        .expect("load ONNX Runtime (ORT_DYLIB_PATH)")
        .build()
        .expect("ONNX Runtime environment");
    asr_router::engine::sensevoice::register_ort_environment(env);
    let hyp = tokio::task::spawn_blocking(move || {
        use asr_router::engine::recognizer::{Recognizer, Utterance};
        let sv = asr_router::engine::sensevoice::SenseVoice::load(&dir, 1).expect("load the pulled model");
        assert_eq!(sv.packaging(), asr_router::engine::sensevoice::Packaging::Sherpa);
        let samples: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let utt = Utterance {
            samples: samples.into(),
            options: Default::default(),
        };
        sv.recognize(&[utt]).pop().unwrap()
    })
    .await
    .unwrap();
    let hyp = hyp.expect("recognize with the pulled model");
    eprintln!("stand-in output (meaningless text): {:?}", hyp.text);
}
