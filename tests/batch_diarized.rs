//! `response_format=diarized_json` through the real server: a clip of two real voices comes back
//! in OpenAI's `TranscriptionDiarized` shape with two speakers at the right places and the right
//! words; a known speaker's reference clip names its speaker; requests that cannot be answered
//! get a 400 naming the field (a translation, a stream, unpaired or unreadable reference clips, a
//! server without the speaker model); through an upstream engine, which cannot time the words of
//! its text, each speaker's turn is heard alone.

mod common;

use base64::Engine as _;
use common::{KEY, Server};
use serde_json::Value;

async fn transcribe(s: &Server, wav: Vec<u8>, path: &str, fields: &[(&str, String)]) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(wav)
            .file_name("clip.wav")
            .mime_str("audio/wav")
            .unwrap(),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.clone());
    }
    let r = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn fields(extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let mut f: Vec<(&'static str, String)> = vec![
        ("model", "auto".into()),
        ("language", "en".into()),
        ("response_format", "diarized_json".into()),
    ];
    for (k, v) in extra {
        f.push((Box::leak(k.to_string().into_boxed_str()), v.to_string()));
    }
    f
}

/// The speaker label covering most of `[a, b)`.
fn label_of(segs: &[Value], a: f64, b: f64) -> String {
    let mut by: Vec<(String, f64)> = Vec::new();
    for g in segs {
        let o = (g["end"].as_f64().unwrap().min(b) - g["start"].as_f64().unwrap().max(a)).max(0.0);
        let who = g["speaker"].as_str().unwrap().to_string();
        match by.iter_mut().find(|x| x.0 == who) {
            Some(x) => x.1 += o,
            None => by.push((who, o)),
        }
    }
    by.into_iter().max_by(|x, y| x.1.total_cmp(&y.1)).unwrap().0
}

/// Checks the body against OpenAI's `TranscriptionDiarized` and the reference turns; returns the
/// label of each turn.
fn check_shape(body: &Value, turns: &[(f64, f64, usize)], text: &str) -> Vec<String> {
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["task", "duration", "text", "segments", "usage"] {
        assert!(keys.contains(&k), "{k} missing: {body}");
    }
    assert_eq!(body["task"], "transcribe");
    let total = turns.last().unwrap().1;
    assert!((body["duration"].as_f64().unwrap() - total).abs() < 0.02, "{body}");
    assert_eq!(body["usage"]["type"], "duration");
    let segs = body["segments"].as_array().unwrap();
    assert!(segs.len() >= turns.len(), "{body}");
    let mut ids = std::collections::BTreeSet::new();
    let mut last_end = 0.0;
    for g in segs {
        let mut k: Vec<&str> = g.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, ["end", "id", "speaker", "start", "text", "type"], "{g}");
        assert_eq!(g["type"], "transcript.text.segment");
        assert!(ids.insert(g["id"].as_str().unwrap().to_string()), "ids are unique: {g}");
        let (a, b) = (g["start"].as_f64().unwrap(), g["end"].as_f64().unwrap());
        assert!(
            a < b && a >= last_end - 1e-6 && b <= total + 0.01,
            "times in order: {g}"
        );
        last_end = b;
        assert!(!g["text"].as_str().unwrap().trim().is_empty(), "{g}");
    }
    let joined: Vec<&str> = segs.iter().map(|g| g["text"].as_str().unwrap()).collect();
    assert_eq!(body["text"].as_str().unwrap(), joined.join(" "));
    let wer = common::wer(text, body["text"].as_str().unwrap());
    assert!(wer <= 0.3, "WER {wer:.2}: {body}");
    let labels: Vec<String> = turns.iter().map(|&(a, b, _)| label_of(segs, a, b)).collect();
    for (i, &(_, _, who)) in turns.iter().enumerate() {
        let first = turns.iter().position(|t| t.2 == who).unwrap();
        assert_eq!(labels[i], labels[first], "one voice, one speaker: {labels:?}\n{body}");
    }
    assert_ne!(labels[0], labels[1], "JFK is another speaker: {labels:?}\n{body}");
    // every segment lies within 1 s of a reference turn of its speaker
    for g in segs {
        let (a, b) = (g["start"].as_f64().unwrap(), g["end"].as_f64().unwrap());
        let fits = turns
            .iter()
            .zip(&labels)
            .any(|(&(ta, tb, _), l)| l == g["speaker"].as_str().unwrap() && a >= ta - 1.0 && b <= tb + 1.0);
        assert!(fits, "segment {g} outside its speaker's turns {turns:?}");
    }
    labels
}

#[tokio::test(flavor = "multi_thread")]
async fn two_voices_come_back_as_two_speakers_in_openais_shape() {
    let s = Server::start("", &[]);
    let (wav, turns, text) = common::two_speaker_recording(1.0);

    let (code, body) = transcribe(&s, wav.clone(), "/v1/audio/transcriptions", &fields(&[])).await;
    assert_eq!(code, 200, "{body}");
    let labels = check_shape(&body, &turns, &text);
    assert_eq!(labels, ["A", "B", "A", "B"], "letters by first appearance");
    let segs = body["segments"].as_array().unwrap();
    let jfk: Vec<&str> = segs
        .iter()
        .filter(|g| g["speaker"] == "B")
        .map(|g| g["text"].as_str().unwrap())
        .collect();
    assert!(jfk.join(" ").to_lowercase().contains("fellow americans"), "{jfk:?}");

    // a known speaker: four seconds of JFK name his cluster; the reader stays a letter
    let (clip, _) = common::read_wav(&common::fixture("en_jfk.wav"));
    let reference = common::wav_bytes(&clip[..4 * 16000], 16000);
    let data_url = format!(
        "data:audio/wav;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&reference)
    );
    let known = fields(&[
        ("known_speaker_names[]", "jfk"),
        ("known_speaker_references[]", &data_url),
    ]);
    let (code, body) = transcribe(&s, wav.clone(), "/v1/audio/transcriptions", &known).await;
    assert_eq!(code, 200, "{body}");
    let labels = check_shape(&body, &turns, &text);
    assert_eq!(labels, ["A", "jfk", "A", "jfk"], "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_that_cannot_time_words_hears_each_speaker_alone() {
    // A transcribes through B, an upstream OpenAI-compatible server (another real instance):
    // the upstream answers text and segments but cannot time the words of a text, so A cannot
    // split a window between speakers and must send each speaker's turn on its own
    let b = Server::start("", &[]);
    let a = Server::start(
        &format!(
            r#"
[[engines.upstream]]
name = "b-asr"
base_url = "{}"
api_key = "{KEY}"
model = "whisper-base"
timeout_ms = 120000
strong = true
"#,
            b.base
        ),
        &[],
    );
    let (wav, turns, text) = common::two_speaker_recording(1.0);
    let (code, body) = transcribe(&a, wav, "/v1/audio/transcriptions", &fields(&[("model", "b-asr")])).await;
    assert_eq!(code, 200, "{body}");
    let labels = check_shape(&body, &turns, &text);
    assert_eq!(labels, ["A", "B", "A", "B"], "{body}");
    // one upstream request per turn at least (windows across speakers would be two in all)
    let m = a.metrics().await;
    let ok = m
        .lines()
        .find(|l| {
            l.starts_with("asr_router_upstream_requests_total{")
                && l.contains("upstream=\"b-asr\"")
                && l.contains("outcome=\"ok\"")
        })
        .and_then(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no ok count for b-asr in:\n{m}"));
    assert!(
        ok >= turns.len() as f64,
        "{ok} upstream requests for {} turns",
        turns.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diarized_requests_that_cannot_be_answered_get_a_400_naming_the_field() {
    let s = Server::start("", &[]);
    let (wav, _, _) = common::two_speaker_recording(1.0);
    let err = |body: &Value| {
        (
            body["error"]["param"].as_str().unwrap_or_default().to_string(),
            body["error"]["message"].as_str().unwrap_or_default().to_string(),
        )
    };

    let (code, body) = transcribe(&s, wav.clone(), "/v1/audio/translations", &fields(&[])).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(err(&body).0, "response_format", "{body}");
    assert!(err(&body).1.contains("translations have no speakers"), "{body}");

    let (code, body) = transcribe(
        &s,
        wav.clone(),
        "/v1/audio/transcriptions",
        &fields(&[("stream", "true")]),
    )
    .await;
    assert_eq!((code, err(&body).0.as_str()), (400, "response_format"), "{body}");

    let (code, body) = transcribe(
        &s,
        wav.clone(),
        "/v1/audio/transcriptions",
        &fields(&[("known_speaker_names[]", "jfk")]),
    )
    .await;
    assert_eq!((code, err(&body).0.as_str()), (400, "known_speaker_names"), "{body}");
    assert!(err(&body).1.contains("give one clip per name"), "{body}");

    let (code, body) = transcribe(
        &s,
        wav.clone(),
        "/v1/audio/transcriptions",
        &fields(&[
            ("known_speaker_names[]", "jfk"),
            ("known_speaker_references[]", "https://example.invalid/jfk.wav"),
        ]),
    )
    .await;
    assert_eq!(
        (code, err(&body).0.as_str()),
        (400, "known_speaker_references"),
        "{body}"
    );

    // a data URL of something that is no audio: refused when it is decoded, naming the speaker
    let junk = format!(
        "data:audio/wav;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(b"not a wav file at all")
    );
    let (code, body) = transcribe(
        &s,
        wav.clone(),
        "/v1/audio/transcriptions",
        &fields(&[("known_speaker_names[]", "jfk"), ("known_speaker_references[]", &junk)]),
    )
    .await;
    assert_eq!(
        (code, err(&body).0.as_str()),
        (400, "known_speaker_references"),
        "{body}"
    );
    assert!(err(&body).1.contains("\"jfk\""), "{body}");

    // known speakers without diarized_json
    let (code, body) = transcribe(
        &s,
        wav.clone(),
        "/v1/audio/transcriptions",
        &[
            ("model", "auto".into()),
            ("known_speaker_names[]", "jfk".into()),
            ("known_speaker_references[]", junk.clone()),
        ],
    )
    .await;
    assert_eq!((code, err(&body).0.as_str()), (400, "known_speaker_names"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_speaker_model_diarized_json_is_refused_and_the_rest_works() {
    // the installed models minus the speaker model
    let models = common::ModelsWithout::new(&["speaker"]);
    let s = Server::start("", &["--models", models.path()]);
    let (clip, _) = common::read_wav(&common::fixture("en_jfk.wav"));
    let wav = common::wav_bytes(&clip, 16000);
    let (code, body) = transcribe(&s, wav.clone(), "/v1/audio/transcriptions", &fields(&[])).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"]["param"], "response_format", "{body}");
    assert_eq!(body["error"]["code"], "speaker_model_missing", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("speaker/ge2e.onnx"),
        "{body}"
    );
    let (code, body) = transcribe(
        &s,
        wav,
        "/v1/audio/transcriptions",
        &[("model", "auto".into()), ("language", "en".into())],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("fellow americans"),
        "{body}"
    );
}
