//! REST API against a real server with the real Whisper models: transcripts of real recordings,
//! every response format, SSE, routing, containers and codecs, and every kind of bad input.

mod common;

use common::{KEY, Server, cer, ffmpeg, fixture, read_wav, reference, wav_bytes, wer};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn form(bytes: Vec<u8>, filename: &str, fields: &[(&str, &str)]) -> Form {
    let mut f = Form::new().part("file", Part::bytes(bytes).file_name(filename.to_string()));
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    f
}

async fn post(s: &Server, path: &str, f: Form) -> reqwest::Response {
    client()
        .post(format!("{}{path}", s.base))
        .bearer_auth(KEY)
        .multipart(f)
        .send()
        .await
        .unwrap()
}

async fn transcribe(s: &Server, file: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    post(
        s,
        "/v1/audio/transcriptions",
        form(std::fs::read(fixture(file)).unwrap(), file, fields),
    )
    .await
}

fn assert_openai_error(v: &Value) {
    let e = &v["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
}

#[tokio::test]
async fn rest_api_end_to_end() {
    let mut s = Server::start("", &[]);

    // health is open, models needs the key
    let h: Value = client()
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r = client().get(format!("{}/v1/models", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_openai_error(&r.json().await.unwrap());
    let m: Value = client()
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
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"whisper-base") && ids.contains(&"whisper-tiny.en") && ids.contains(&"auto"),
        "{ids:?}"
    );

    // json (default format), OpenAI's model name routes to auto → fast engine for a short English clip
    let r = transcribe(&s, "en_jfk.wav", &[("model", "whisper-1"), ("language", "en")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-asr-router-model"], "whisper-tiny.en");
    let v: Value = r.json().await.unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(wer(&reference("en_jfk"), text) <= 0.15, "{text}");
    assert_eq!(v["usage"]["type"], "duration");
    // terms to correct towards send the short clip to the strong engine; without a review they
    // are not corrected towards, and the clip stays on the fast one
    let terms = [("model", "auto"), ("language", "en"), ("keywords", "Kubernetes")];
    let r = transcribe(&s, "en_jfk.wav", &terms).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-asr-router-model"], "whisper-base");
    let r = transcribe(&s, "en_jfk.wav", &[terms[0], terms[1], terms[2], ("review", "none")]).await;
    assert_eq!(r.headers()["x-asr-router-model"], "whisper-tiny.en");

    // text / srt / vtt
    let t = transcribe(
        &s,
        "en_librivox_sense_0870.wav",
        &[("model", "auto"), ("response_format", "text")],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(wer(&reference("en_librivox_sense_0870"), &t) <= 0.2, "{t}");
    let srt = transcribe(
        &s,
        "en_jfk.wav",
        &[("model", "whisper-base"), ("response_format", "srt")],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(srt.starts_with("1\n00:00:0"), "{srt}");
    assert!(srt.contains(" --> ") && srt.to_lowercase().contains("country"), "{srt}");
    let vtt = transcribe(
        &s,
        "en_jfk.wav",
        &[("model", "whisper-tiny.en"), ("response_format", "vtt")],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n00:00:"), "{vtt}");

    // verbose_json with words and segments
    let v: Value = transcribe(
        &s,
        "en_jfk.wav",
        &[
            ("model", "whisper-base"),
            ("language", "en"),
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
            ("timestamp_granularities[]", "segment"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["language"], "english");
    assert!((v["duration"].as_f64().unwrap() - 11.0).abs() < 0.2, "{v}");
    let segs = v["segments"].as_array().unwrap();
    assert!(!segs.is_empty());
    let words = v["words"].as_array().unwrap();
    assert!(words.len() >= 15, "{v}");
    let mut last = 0.0;
    for w in words {
        let (a, b) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(a >= last - 1e-3 && b >= a && b <= 11.5, "non-monotonic word times: {w}");
        last = a;
    }
    let country = words
        .iter()
        .find(|w| w["word"].as_str().unwrap().to_lowercase().contains("country"))
        .expect("a word 'country'");
    // "ask not what your country can do for you" is spoken around 4-6 s into the clip
    let t = country["start"].as_f64().unwrap();
    assert!((3.0..8.0).contains(&t), "country at {t}");

    // Chinese with the multilingual engine, auto-detected language; the prompt (Whisper's usual
    // trick) asks for simplified characters
    let v: Value = transcribe(
        &s,
        "zh_aishell_BAC009S0724W0121.wav",
        &[
            ("model", "auto"),
            ("response_format", "verbose_json"),
            ("prompt", "以下是普通话的句子。"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["language"], "chinese", "{v}");
    let c = cer(&reference("zh_aishell_BAC009S0724W0121"), v["text"].as_str().unwrap());
    assert!(c <= 0.3, "CER {c}: {v}");

    // Chinese words: written without spaces, so each character (or the token that holds a few)
    // is a word, as OpenAI's reference splits them, not the whole sentence as one word
    let v: Value = transcribe(
        &s,
        "zh_aishell_BAC009S0724W0121.wav",
        &[
            ("model", "whisper-base"),
            ("language", "zh"),
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let words = v["words"].as_array().unwrap();
    let han = |w: &Value| {
        w["word"]
            .as_str()
            .unwrap()
            .chars()
            .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
            .count()
    };
    let total: usize = words.iter().map(han).sum();
    assert!(total >= 8, "{v}");
    assert!(
        words.len() * 2 >= total,
        "{} words for {total} characters: {v}",
        words.len()
    );
    assert!(words.iter().all(|w| han(w) <= 4), "{v}");
    let mut last = 0.0;
    for w in words {
        let (a, b) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(a >= last - 1e-3 && b >= a, "non-monotonic word times: {w}");
        last = a;
    }

    // translation to English
    let v: Value = post(
        &s,
        "/v1/audio/translations",
        form(
            std::fs::read(fixture("zh_aishell_BAC009S0724W0121.wav")).unwrap(),
            "zh.wav",
            &[("model", "whisper-1")],
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    let t = v["text"].as_str().unwrap();
    assert!(!t.is_empty() && t.is_ascii(), "translation should be English: {t}");

    // SSE
    let r = transcribe(
        &s,
        "en_jfk.wav",
        &[("model", "auto"), ("language", "en"), ("stream", "true")],
    )
    .await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = r.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(events.iter().any(|e| e["type"] == "transcript.text.delta"), "{body}");
    let done = events.last().unwrap();
    assert_eq!(done["type"], "transcript.text.done");
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "transcript.text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas.trim(), done["text"].as_str().unwrap().trim());
    assert!(body.trim_end().ends_with("data: [DONE]"));

    // bad inputs: each a clear 4xx in OpenAI's shape
    let bad: Vec<(reqwest::Response, u16, &str)> = vec![
        (
            post(
                &s,
                "/v1/audio/transcriptions",
                form(vec![], "empty.wav", &[("model", "auto")]),
            )
            .await,
            400,
            "file",
        ),
        (
            post(
                &s,
                "/v1/audio/transcriptions",
                form(
                    (0..50_000u32)
                        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                        .collect(),
                    "noise.mp3",
                    &[("model", "auto")],
                ),
            )
            .await,
            400,
            "file",
        ),
        (transcribe(&s, "en_jfk.wav", &[]).await, 400, "model"),
        (
            post(&s, "/v1/audio/transcriptions", Form::new().text("model", "auto")).await,
            400,
            "file",
        ),
        (
            transcribe(&s, "en_jfk.wav", &[("model", "nope-9000")]).await,
            400,
            "model",
        ),
        (
            transcribe(&s, "en_jfk.wav", &[("model", "auto"), ("response_format", "xml")]).await,
            400,
            "response_format",
        ),
        (
            transcribe(&s, "en_jfk.wav", &[("model", "auto"), ("temperature", "hot")]).await,
            400,
            "temperature",
        ),
        (
            transcribe(&s, "en_jfk.wav", &[("model", "whisper-tiny.en"), ("language", "zh")]).await,
            400,
            "language",
        ),
        (
            client()
                .post(format!("{}/v1/audio/transcriptions", s.base))
                .bearer_auth(KEY)
                .json(&serde_json::json!({"model": "auto"}))
                .send()
                .await
                .unwrap(),
            400,
            "",
        ),
        (
            client()
                .post(format!("{}/v1/audio/transcriptions", s.base))
                .bearer_auth("sk-wrong")
                .multipart(form(vec![1, 2, 3], "a.wav", &[("model", "auto")]))
                .send()
                .await
                .unwrap(),
            401,
            "",
        ),
    ];
    for (r, status, param) in bad {
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.unwrap();
        assert_openai_error(&v);
        if !param.is_empty() {
            assert_eq!(v["error"]["param"], param, "{v}");
        }
    }
    // the unknown-model error lists what is available
    let v: Value = transcribe(&s, "en_jfk.wav", &[("model", "nope-9000")])
        .await
        .json()
        .await
        .unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("whisper-base"), "{v}");

    // a truncated MP3 (real encoder, cut inside its first frame) is refused, not a panic
    let bytes = ffmpeg(
        &fixture("en_jfk.wav"),
        "jfk.mp3",
        &["-codec:a", "libmp3lame", "-b:a", "64k"],
    );
    let r = post(
        &s,
        "/v1/audio/transcriptions",
        form(bytes[..300].to_vec(), "cut.mp3", &[("model", "auto")]),
    )
    .await;
    assert_eq!(r.status(), 400);

    // and the server still serves
    assert!(s.alive());
    let r = transcribe(
        &s,
        "en_librivox_sense_0880.wav",
        &[("model", "auto"), ("language", "en")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        // 8 words; tiny.en hears "ill disposed" as one word
        wer(&reference("en_librivox_sense_0880"), v["text"].as_str().unwrap()) <= 0.3,
        "{v}"
    );
}

#[tokio::test]
async fn containers_and_codecs_decode_to_the_same_words() {
    let s = Server::start("", &[]);
    let src = fixture("en_librivox_sense_0870.wav");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("a.mp3", vec!["-codec:a", "libmp3lame", "-b:a", "64k"]),
        ("a.flac", vec![]),
        ("a.ogg", vec!["-codec:a", "libvorbis"]),
        ("a.m4a", vec!["-codec:a", "aac", "-b:a", "64k"]),
        ("a.opus", vec!["-codec:a", "libopus", "-b:a", "24k"]),
        ("a.webm", vec!["-codec:a", "libopus", "-b:a", "24k"]),
        (
            "a48k-stereo.wav",
            vec!["-ar", "48000", "-ac", "2", "-codec:a", "pcm_s24le"],
        ),
        ("a8k-float.wav", vec!["-ar", "8000", "-codec:a", "pcm_f32le"]),
    ];
    for (name, args) in cases {
        let encoded = ffmpeg(&src, name, &args);
        let r = post(
            &s,
            "/v1/audio/transcriptions",
            form(encoded, name, &[("model", "whisper-base"), ("language", "en")]),
        )
        .await;
        assert_eq!(r.status(), 200, "{name}");
        let v: Value = r.json().await.unwrap();
        let w = wer(&reference("en_librivox_sense_0870"), v["text"].as_str().unwrap());
        let bound = if name.contains("8k") { 0.35 } else { 0.2 };
        assert!(w <= bound, "{name}: WER {w} {v}");
    }
}

#[tokio::test]
async fn long_audio_goes_to_the_strong_engine_in_windows() {
    let s = Server::start("", &[]);
    // ~44 s: four real recordings separated by 1.5 s pauses
    let mut all = Vec::new();
    let mut refs = Vec::new();
    for id in ["en_jfk", "en_librivox_sense_0870", "en_jfk", "en_librivox_sense_0870"] {
        let (x, _) = common::read_wav(&fixture(&format!("{id}.wav")));
        all.extend(x);
        all.extend(std::iter::repeat_n(0.0, 24_000));
        refs.push(reference(id));
    }
    all.extend(std::iter::repeat_n(0.0, 16_000 * 3));
    let r = post(
        &s,
        "/v1/audio/transcriptions",
        form(
            common::wav_bytes(&all, 16_000),
            "long.wav",
            &[
                ("model", "auto"),
                ("language", "en"),
                ("response_format", "verbose_json"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-asr-router-model"], "whisper-base");
    let v: Value = r.json().await.unwrap();
    let w = wer(&refs.join(" "), v["text"].as_str().unwrap());
    assert!(w <= 0.15, "WER {w}: {v}");
    let segs = v["segments"].as_array().unwrap();
    let last_end = segs.last().unwrap()["end"].as_f64().unwrap();
    assert!(last_end > 35.0, "segments must carry absolute times: {last_end}");
}

#[tokio::test]
async fn limits_full_queue_and_upload_size() {
    // one-slot queues and a 200 kB upload cap
    let s = Server::start(
        "[engines]\nqueue_capacity = 1\nbatch_wait_ms = 0\n[engines.strong]\nmax_batch = 1\n[batch]\nmax_upload_bytes = 200000\n",
        &[],
    );
    let r = transcribe(&s, "en_jfk.wav", &[("model", "auto")]).await; // 352 kB
    assert_eq!(r.status(), 413);
    assert_openai_error(&r.json().await.unwrap());

    let clip = std::fs::read(fixture("en_librivox_sense_0880.wav")).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, b, base) = (client(), clip.clone(), s.base.clone());
        tasks.push(tokio::spawn(async move {
            c.post(format!("{base}/v1/audio/transcriptions"))
                .bearer_auth(KEY)
                .multipart(form(b, "a.wav", &[("model", "whisper-base")]))
                .send()
                .await
                .unwrap()
        }));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                assert_openai_error(&r.json().await.unwrap());
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok} busy {busy}");
}

#[tokio::test]
async fn audio_under_a_tenth_of_a_second_is_audio_too_short() {
    let s = Server::start("", &[]);
    let (samples, rate) = read_wav(&fixture("en_jfk.wav"));
    for (n, what) in [(28, "a 100-byte WAV"), (1_500, "94 ms")] {
        let bytes = wav_bytes(&samples[16_000..16_000 + n], rate);
        let r = post(
            &s,
            "/v1/audio/transcriptions",
            form(bytes, "short.wav", &[("model", "auto")]),
        )
        .await;
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_openai_error(&v);
        assert_eq!(v["error"]["code"], "audio_too_short", "{what}: {v}");
        assert_eq!(v["error"]["param"], "file", "{what}: {v}");
    }
    // 100 ms is enough
    let bytes = wav_bytes(&samples[16_000..17_600], rate);
    let r = post(
        &s,
        "/v1/audio/transcriptions",
        form(bytes, "short.wav", &[("model", "auto")]),
    )
    .await;
    assert_eq!(r.status(), 200);
}
