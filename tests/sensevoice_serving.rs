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
