//! Black-box test harness: starts the real `asr-router` binary on an ephemeral loopback port with
//! the installed models, and helpers to read fixtures and score transcripts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The API key every test server is started with.
pub const KEY: &str = "sk-test-asr-router";

/// Marks the end of a server's log in `Server::log` once its stderr has closed.
const LOG_END: &str = "<end of log>";

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The port.
    pub port: u16,
    /// Scratch directory of this server.
    pub dir: PathBuf,
    logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a committed audio fixture.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/audio").join(name)
}

/// Path of a file of the shared eval set (`../shared/eval`, beside the repository), by its path
/// inside that set.
pub fn shared_eval(rel: &str) -> PathBuf {
    [root().join("../shared/eval"), PathBuf::from("/work/shared/eval")]
        .into_iter()
        .map(|d| d.join(rel))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{rel} not found under ../shared/eval"))
}

/// A clip of the shared eval set by its manifest id: its path and its reference text.
pub fn shared_eval_clip(id: &str) -> (PathBuf, String) {
    let m = std::fs::read_to_string(shared_eval("manifest.jsonl")).unwrap();
    let v: serde_json::Value = m
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["id"] == id)
        .unwrap_or_else(|| panic!("no clip {id} in the shared eval manifest"));
    (
        shared_eval(v["path"].as_str().unwrap()),
        v["text"].as_str().unwrap().to_string(),
    )
}

/// The models directory the tests use.
pub fn models_dir() -> PathBuf {
    std::env::var("ASR_ROUTER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("models"))
}

impl Server {
    /// Starts with the default configuration plus `toml` (may be empty) and extra CLI args.
    pub fn start(toml: &str, args: &[&str]) -> Server {
        let dir = std::env::temp_dir().join(format!("asr-router-test-{}-{}", std::process::id(), rand_suffix()));
        Self::start_in(dir, toml, args)
    }

    /// Starts in the scratch directory `dir` (created if missing; meeting jobs live in
    /// `dir/meetings`, so a server started again in the same directory finds them).
    pub fn start_in(dir: PathBuf, toml: &str, args: &[&str]) -> Server {
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, toml).expect("write config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_asr-router"));
        cmd.arg("--config")
            .arg(&cfg)
            .arg("--models")
            .arg(models_dir())
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0");
        cmd.args(args);
        cmd.env("ASR_ROUTER_API_KEY", KEY)
            .env("ASR_ROUTER_MEETINGS_DIR", dir.join("meetings"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn asr-router");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let logs2 = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
                logs2.lock().unwrap().push(line);
            }
            // end of the log: the process has exited (or closed stderr)
            logs2.lock().unwrap().push(LOG_END.to_string());
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("server did not start; log:\n{}", logs.lock().unwrap().join("\n")));
        let addr = url.split("://").nth(1).unwrap().split(' ').next().unwrap().to_string();
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            logs,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`, …) to the server process.
    pub fn signal(&self, name: &str) {
        let st = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill(1)");
        assert!(st.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to exit (and its log to be read to the end); its
    /// status, or `None` if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                while !self.log().ends_with(LOG_END) && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Some(st);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of one unlabelled metric; panics (showing `/metrics`) when it is missing.
    pub async fn metric(&self, name: &str) -> f64 {
        let body = self.metrics().await;
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{body}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// The sum over every labelled series of one metric family (`name{…} value` lines); 0 when
    /// the family has no series yet.
    pub async fn metric_total(&self, name: &str) -> f64 {
        let prefix = format!("{name}{{");
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A suffix no other call in this process returns: a counter (servers of one test binary start
/// side by side, and two clock readings can be equal), then the clock (another run of the same
/// pid, much later).
fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{n}-{nanos}")
}

/// Reads a 16-bit mono WAV as f32 samples and its rate.
pub fn read_wav(p: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(p).expect("open wav");
    let spec = r.spec();
    let s: Vec<f32> = r.samples::<i16>().map(|x| x.unwrap() as f32 / 32768.0).collect();
    (s, spec.sample_rate)
}

/// Writes 16-bit mono WAV bytes.
pub fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    let mut cur = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
    for &x in samples {
        w.write_sample((x.clamp(-1.0, 1.0) * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    cur.into_inner()
}

/// A composed two-speaker recording from public-domain fixtures: the LibriVox reader, JFK, the
/// reader again (another sentence), JFK again, with `gap_s` of silence between turns. Each voice
/// speaks for more than the 8 s below which diarization folds a cluster into its nearest
/// neighbour (`DiarizeOptions::min_cluster_s`). Returns the WAV, the reference turns
/// `(start, end, speaker)` and the reference text.
pub fn two_speaker_recording(gap_s: f64) -> (Vec<u8>, Vec<(f64, f64, usize)>, String) {
    let parts = [
        ("en_librivox_sense_0870", 0usize),
        ("en_jfk", 1),
        ("en_librivox_sense_0880", 0),
        ("en_jfk", 1),
    ];
    let mut samples: Vec<f32> = Vec::new();
    let mut turns = Vec::new();
    let mut text = Vec::new();
    for (i, (id, speaker)) in parts.iter().enumerate() {
        if i > 0 {
            samples.extend(std::iter::repeat_n(0.0, (gap_s * 16000.0) as usize));
        }
        let (s, rate) = read_wav(&fixture(&format!("{id}.wav")));
        assert_eq!(rate, 16000);
        let start = samples.len() as f64 / 16000.0;
        samples.extend(s);
        turns.push((start, samples.len() as f64 / 16000.0, *speaker));
        text.push(reference(id));
    }
    (wav_bytes(&samples, 16000), turns, text.join(" "))
}

/// Word error rate with the eval normalisation.
pub fn wer(reference: &str, hyp: &str) -> f64 {
    asr_router::bench::wer::wer(reference, hyp)
}

/// Character error rate.
pub fn cer(reference: &str, hyp: &str) -> f64 {
    asr_router::bench::wer::cer(reference, hyp)
}

/// The reference text of a fixture from its manifest.
pub fn reference(id: &str) -> String {
    let m = std::fs::read_to_string(root().join("tests/fixtures/audio/manifest.jsonl")).unwrap();
    for l in m.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["id"] == id {
            return v["text"].as_str().unwrap().to_string();
        }
    }
    panic!("no fixture {id}")
}

/// A models directory of links to the installed models minus `leave_out`, removed on drop.
pub struct ModelsWithout(PathBuf);

impl ModelsWithout {
    pub fn new(leave_out: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "asr-router-models-without-{}-{}",
            leave_out.join("-"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(models_dir()).unwrap() {
            let e = e.unwrap();
            if !leave_out.iter().any(|l| e.file_name() == *l) {
                std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
            }
        }
        Self(dir)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ModelsWithout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Converts a WAV fixture with ffmpeg (a real encoder) into another container/codec and returns
/// the encoded file's bytes (the file itself is removed).
pub fn ffmpeg(input: &Path, out_name: &str, args: &[&str]) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!("asr-router-{}-{out_name}", std::process::id()));
    let st = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-i"])
        .arg(input)
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg is installed by scripts/install-deps --test");
    assert!(st.success(), "ffmpeg failed for {out_name}");
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    bytes
}

/// A realtime client socket.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/v1/realtime?intent=transcription` with the main key.
pub async fn ws_connect(s: &Server) -> Ws {
    ws_connect_with(s, &[("Authorization", &format!("Bearer {KEY}"))])
        .await
        .expect("handshake")
}

/// Opens `/v1/realtime?intent=transcription` with these request headers; the handshake error
/// (e.g. the HTTP 401 response) when refused.
pub async fn ws_connect_with(
    s: &Server,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://127.0.0.1:{}/v1/realtime?intent=transcription", s.port)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

/// The next text event (pings and other frames skipped); `None` when the socket closes, fails or
/// stays quiet for `quiet`.
pub async fn next_event(ws: &mut Ws, quiet: Duration) -> Option<serde_json::Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(quiet, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Reads until the close frame; its code (`None` if the socket ended without one, or stayed quiet
/// for 20 s). Text events read on the way are returned too.
pub async fn read_to_close(
    ws: &mut Ws,
) -> (
    Option<tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode>,
    Vec<serde_json::Value>,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => events.extend(serde_json::from_str(t.as_str()).ok()),
            Ok(Some(Ok(Message::Close(f)))) => return (f.map(|f| f.code), events),
            Ok(Some(Ok(_))) => continue,
            _ => return (None, events),
        }
    }
}

/// Little-endian PCM16 bytes of `[-1, 1]` samples.
pub fn pcm16(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|x| ((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect()
}

/// `POST /v1/audio/transcriptions` with the fixture `file` and the form `fields`, with the test
/// key: the status and the JSON answer.
pub async fn transcribe_fixture(s: &Server, file: &str, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    transcribe_path(s, &fixture(file), fields).await
}

/// [`transcribe_fixture`] with the audio file at `path`.
pub async fn transcribe_path(s: &Server, path: &Path, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    use reqwest::multipart::{Form, Part};
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut f = Form::new().part("file", Part::bytes(std::fs::read(path).unwrap()).file_name(name));
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    let r = reqwest::Client::new()
        .post(format!("{}/v1/audio/transcriptions", s.base))
        .bearer_auth(KEY)
        .multipart(f)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The text of a `verbose_json` answer's segments, joined.
pub fn segments_text(v: &serde_json::Value) -> String {
    v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect()
}

/// The installed Silero VAD in process (ONNX Runtime set up first).
pub fn load_silero() -> asr_router::engine::vad::SileroModel {
    let dir = models_dir();
    asr_router::engine::ort_runtime::init(&dir).expect("onnxruntime");
    asr_router::engine::vad::SileroModel::load(&dir.join("silero-vad/silero_vad.onnx"))
        .unwrap_or_else(|e| panic!("silero-vad must be installed (scripts/fetch-models): {e}"))
}

/// The installed `whisper-base` in process (int8, 2 threads, beam 5, batches of up to 4).
pub fn load_whisper_base() -> asr_router::engine::whisper::WhisperEngine {
    use asr_router::engine::whisper::{WhisperEngine, WhisperSettings};
    let dir = models_dir().join("whisper-base");
    WhisperEngine::load(
        &dir,
        WhisperSettings {
            name: "whisper-base".into(),
            compute_type: asr_router::config::ComputeType::Int8,
            threads: 2,
            beam_size: 5,
            max_batch: 4,
            replicas: 1,
        },
    )
    .unwrap_or_else(|e| panic!("whisper-base must be installed (scripts/fetch-models): {e}"))
}
