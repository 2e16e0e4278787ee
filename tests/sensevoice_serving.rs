//! SenseVoice as the fast engine of a real server, on the tiny random-weight stand-in built by
//! `tools/sensevoice-parity-setup.sh` (`ASR_ROUTER_SV_TINY`). Its text is meaningless; what is
//! checked is that the server routes short clips and live partials to it and answers in shape.

mod common;

use common::{KEY, Server, fixture};
use serde_json::Value;

fn standin() -> String {
    std::env::var("ASR_ROUTER_SV_TINY").expect(
        "ASR_ROUTER_SV_TINY is not set: run scripts/test (tools/sensevoice-parity-setup.sh builds the stand-in)",
    )
}

#[tokio::test]
async fn sensevoice_serves_short_clips_and_whisper_the_rest() {
    let s = Server::start(&format!("[engines]\nsensevoice_dir = {:?}\n", standin()), &[]);
    let c = reqwest::Client::new();
    let m: Value = c
        .get(format!("{}/v1/models", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        m["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == "sensevoice-small"),
        "{m}"
    );

    let send = |lang: &'static str, file: &'static str| {
        let c = c.clone();
        let url = format!("{}/v1/audio/transcriptions", s.base);
        async move {
            let form = reqwest::multipart::Form::new()
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(std::fs::read(fixture(file)).unwrap()).file_name(file),
                )
                .text("model", "auto")
                .text("language", lang)
                .text("response_format", "verbose_json");
            c.post(url).bearer_auth(KEY).multipart(form).send().await.unwrap()
        }
    };
    for (lang, file) in [("zh", "zh_aishell_BAC009S0724W0121.wav"), ("en", "en_jfk.wav")] {
        let r = send(lang, file).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-asr-router-model"], "sensevoice-small", "{lang}");
        let v: Value = r.json().await.unwrap();
        assert!(v["text"].is_string() && v["segments"].is_array(), "{v}");
    }
    // a language SenseVoice does not know goes to Whisper
    let r = send("de", "en_librivox_sense_0880.wav").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-asr-router-model"], "whisper-base");
}

/// Starts the server with `toml`, expecting it to refuse to start: its exit status and log.
fn refused_start(toml: &str) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("asr-router-refused-{}-{}", std::process::id(), toml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, toml).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_asr-router"))
        .arg("--config")
        .arg(&cfg)
        .arg("--models")
        .arg(common::models_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ASR_ROUTER_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started (or hung) with {toml:?}; it should have refused");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (status, log)
}

#[test]
fn an_engine_set_to_a_gpu_it_cannot_use_is_refused_at_start_up_by_name() {
    // Whisper runs on CTranslate2, built for the CPU: refused whatever the machine has
    let (st, log) = refused_start("[engines.strong]\ndevice = \"cuda\"\n");
    assert!(!st.success(), "{log}");
    assert!(log.contains("[engines.strong]") && log.contains("CTranslate2"), "{log}");

    // SenseVoice on a GPU needs the CUDA build of ONNX Runtime; the one installed here is the
    // CPU build, so the provider cannot start, and the server says so instead of quietly
    // running SenseVoice on the CPU
    let (st, log) = refused_start(&format!(
        "[engines]\nsensevoice_dir = {:?}\n[engines.fast]\ndevice = \"cuda:0\"\n",
        standin()
    ));
    assert!(!st.success(), "{log}");
    assert!(log.contains("CUDA execution provider"), "{log}");
}

#[tokio::test]
async fn without_whisper_base_sensevoice_also_finalizes_and_other_languages_are_refused() {
    let models = common::ModelsWithout::new(&["whisper-base", "whisper-tiny.en"]);
    let s = Server::start(
        &format!("[engines]\nsensevoice_dir = {:?}\n", standin()),
        &["--models", models.path()],
    );
    let m: Value = reqwest::Client::new()
        .get(format!("{}/v1/models", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"sensevoice-small") && !ids.iter().any(|i| i.starts_with("whisper")),
        "{m}"
    );

    let c = reqwest::Client::new();
    for fields in [
        vec![("language", "en")],
        // the strong engine is SenseVoice now
        vec![("language", "zh"), ("quality", "high")],
    ] {
        let mut form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(fixture("en_jfk.wav")).unwrap()).file_name("a.wav"),
            )
            .text("model", "auto");
        for (k, v) in &fields {
            form = form.text(*k, *v);
        }
        let r = c
            .post(format!("{}/v1/audio/transcriptions", s.base))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{fields:?}");
        assert_eq!(r.headers()["x-asr-router-model"], "sensevoice-small", "{fields:?}");
        let v: Value = r.json().await.unwrap();
        assert!(v["text"].is_string(), "{v}");
    }
    let (status, v) = common::transcribe_fixture(&s, "en_jfk.wav", &[("model", "auto"), ("language", "de")]).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_language", "{v}");
}
