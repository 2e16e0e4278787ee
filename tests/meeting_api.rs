//! Meeting jobs through the real server: a recording of two real speakers goes in over
//! `/v1/meetings`, the five outputs come out with the right speakers, turns and words; bad
//! requests get OpenAI-shaped errors; a `kill -9` in the middle of a job and a restart finish the
//! job once.

mod common;

use std::time::{Duration, Instant};

use common::{KEY, Server};
use serde_json::Value;

/// Silence between turns, seconds.
const GAP_S: f64 = 1.0;

/// The composed two-speaker recording ([`common::two_speaker_recording`]).
fn two_speaker_meeting() -> (Vec<u8>, Vec<(f64, f64, usize)>, String) {
    common::two_speaker_recording(GAP_S)
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn submit(s: &Server, wav: Vec<u8>, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(wav)
            .file_name("meeting.wav")
            .mime_str("audio/wav")
            .unwrap(),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    client()
        .post(format!("{}/v1/meetings", s.base))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn get_json(s: &Server, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}{path}", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the job until `done(job)` or the limit; the last state.
async fn poll(s: &Server, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (code, job) = get_json(s, &format!("/v1/meetings/{id}")).await;
        assert_eq!(code, 200, "{job}");
        if done(&job) || Instant::now() > deadline {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn output(s: &Server, id: &str, name: &str) -> (u16, String, String) {
    let r = client()
        .get(format!("{}/v1/meetings/{id}/outputs/{name}", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// Every stage of the pipeline recorded done, once each, in order.
fn assert_stages_once(job: &Value) {
    let stages: Vec<&str> = job["stages_done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(stages, asr_router::meeting::STAGES, "{job}");
}

fn finished(job: &Value) -> bool {
    matches!(job["status"].as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Checks the outputs of the composed meeting against its reference.
async fn check_outputs(s: &Server, id: &str, turns: &[(f64, f64, usize)], text: &str) {
    let (code, ct, timeline) = output(s, id, "timeline.json").await;
    assert_eq!((code, ct.as_str()), (200, "application/json"), "{timeline}");
    let t: Value = serde_json::from_str(&timeline).unwrap();
    let speakers = t["speakers"].as_array().unwrap();
    assert_eq!(speakers.len(), 2, "two voices: {timeline}");
    let segs = t["segments"].as_array().unwrap();
    // Each reference turn is heard as one speaker: the label covering most of its segments.
    let label_of = |a: f64, b: f64| -> String {
        let mut best: Option<(f64, String)> = None;
        for sp in speakers {
            let id = sp["id"].as_str().unwrap();
            let overlap: f64 = segs
                .iter()
                .filter(|g| g["speaker"] == id)
                .map(|g| (g["end"].as_f64().unwrap().min(b) - g["start"].as_f64().unwrap().max(a)).max(0.0))
                .sum();
            if best.as_ref().is_none_or(|(o, _)| overlap > *o) {
                best = Some((overlap, id.to_string()));
            }
        }
        best.unwrap().1
    };
    let labels: Vec<String> = turns.iter().map(|&(a, b, _)| label_of(a, b)).collect();
    assert_eq!(
        labels[0], labels[2],
        "the reader's two turns are one speaker: {labels:?}\n{timeline}"
    );
    assert_eq!(
        labels[1], labels[3],
        "JFK's two turns are one speaker: {labels:?}\n{timeline}"
    );
    assert_ne!(labels[0], labels[1], "JFK is another speaker: {labels:?}\n{timeline}");
    // Turn boundaries: every segment lies within 1 s of a reference turn of its speaker.
    for g in segs {
        let (a, b) = (g["start"].as_f64().unwrap(), g["end"].as_f64().unwrap());
        let who = g["speaker"].as_str().unwrap();
        let fits = turns
            .iter()
            .zip(&labels)
            .any(|(&(ta, tb, _), l)| l == who && a >= ta - 1.0 && b <= tb + 1.0);
        assert!(fits, "segment {g} outside its speaker's turns {turns:?}");
        assert!(g["raw_text"].is_string() && g["text"].is_string(), "{g}");
    }
    let raw: Vec<&str> = segs.iter().map(|g| g["raw_text"].as_str().unwrap()).collect();
    let wer = common::wer(text, &raw.join(" "));
    assert!(wer <= 0.3, "WER {wer:.2}: {raw:?}");

    let (code, ct, txt) = output(s, id, "transcript.txt").await;
    assert_eq!(code, 200);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(
        txt.lines().all(|l| l.starts_with("[00:00:") && l.contains(": ")),
        "{txt}"
    );
    assert!(txt.to_lowercase().contains("fellow americans"), "{txt}");

    let (code, ct, md) = output(s, id, "transcript.md").await;
    assert_eq!(code, 200);
    assert!(ct.starts_with("text/markdown"), "{ct}");
    assert!(md.starts_with("# Meeting transcript"), "{md}");
    assert_eq!(
        md.matches("**SPEAKER\\_0").count(),
        4,
        "four paragraphs, one per turn: {md}"
    );

    let (code, _, srt) = output(s, id, "subtitles.srt").await;
    assert_eq!(code, 200);
    let cues: Vec<&str> = srt.split("\n\n").filter(|c| !c.trim().is_empty()).collect();
    assert!(cues.len() >= 3, "{srt}");
    for (i, c) in cues.iter().enumerate() {
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines[0], (i + 1).to_string(), "{c}");
        assert!(lines[1].contains(" --> ") && lines[1].len() == 29, "{c}");
        assert!(lines[2].starts_with("SPEAKER_0"), "{c}");
    }

    let (code, _, summary) = output(s, id, "summary.md").await;
    assert_eq!(code, 200);
    assert!(
        summary.starts_with("# Meeting summary\n\n_Extractive summary"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_goes_in_and_five_outputs_come_out() {
    let s = Server::start("", &[]);
    let (wav, turns, text) = two_speaker_meeting();
    let r = submit(&s, wav, &[("language", "en")]).await;
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/meetings/{id}"));
    assert!(matches!(job["status"].as_str(), Some("queued" | "running")), "{job}");
    assert_eq!(job["object"], "meeting");

    // outputs before completion: 409 (or the job finished already)
    let (code, _, body) = output(&s, &id, "transcript.md").await;
    assert!(code == 409 || code == 200, "{code} {body}");

    let job = poll(&s, &id, Duration::from_secs(600), finished).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"].as_f64(), Some(1.0), "{job}");
    assert_stages_once(&job);
    assert_eq!(job["timings"].as_object().unwrap().len(), 7, "{job}");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 5, "{job}");
    check_outputs(&s, &id, &turns, &text).await;

    // listed, newest first
    let (code, list) = get_json(&s, "/v1/meetings?limit=5").await;
    assert_eq!(code, 200);
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], id.as_str());

    // deleted: gone, files and all
    let r = client()
        .delete(format!("{}/v1/meetings/{id}", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get_json(&s, &format!("/v1/meetings/{id}")).await.0, 404);
    assert!(!s.dir.join("meetings").join(&id).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chinese_meeting_with_a_glossary_is_decoded_again_with_it_as_the_prompt() {
    let s = Server::start("", &[]);
    let wav = std::fs::read(common::fixture("zh_aishell_BAC009S0724W0121.wav")).unwrap();
    let g = serde_json::json!([{"term": "Zorblax", "lang": "en"}]).to_string();
    let base = [("language", "zh"), ("model", "whisper-base"), ("glossary", g.as_str())];
    // the request turns it off: no second decode
    let r = submit(&s, wav.clone(), &[&base[..], &[("glossary_prompt", "false")]].concat()).await;
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let job = poll(&s, &id, Duration::from_secs(300), finished).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        s.metric_total("asr_router_glossary_prompt_decodes_total").await,
        0.0,
        "glossary_prompt=false"
    );
    // the server's default (on): each Chinese piece is decoded a second time with the prompt
    let r = submit(&s, wav, &base).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let job = poll(&s, &id, Duration::from_secs(300), finished).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(
        s.metric_total("asr_router_glossary_prompt_decodes_total").await >= 1.0,
        "a prompted decode per Chinese piece"
    );
    let (code, _, text) = output(&s, &id, "transcript.txt").await;
    assert_eq!(code, 200);
    assert!(text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_meeting_requests_get_clear_errors_and_leave_nothing_behind() {
    let s = Server::start("", &[]);
    let (wav, _, _) = two_speaker_meeting();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("speakers", "0")], "speakers"),
        (&[("speakers", "two")], "speakers"),
        (&[("min_speakers", "4"), ("max_speakers", "2")], "min_speakers"),
        (&[("review", "maybe")], "review"),
        (&[("review", "llm")], "review"),
        (&[("glossary", "{not json")], "glossary"),
        (&[("glossary_id", "no-such-glossary")], "glossary_id"),
        (&[("glossary_prompt", "sometimes")], "glossary_prompt"),
        (&[("language", "English")], "language"),
        (&[("known_speaker_names[]", "Ana")], "known_speaker_references"),
    ];
    for (fields, param) in cases {
        let r = submit(&s, wav.clone(), fields).await;
        assert_eq!(r.status().as_u16(), 400, "{fields:?}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["param"], *param, "{fields:?}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    }
    // no file at all
    let r = client()
        .post(format!("{}/v1/meetings", s.base))
        .bearer_auth(KEY)
        .multipart(reqwest::multipart::Form::new().text("language", "en"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "file");
    // refused submissions left no job folders and no jobs
    let dirs: Vec<_> = std::fs::read_dir(s.dir.join("meetings"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(dirs.is_empty(), "{dirs:?}");
    assert_eq!(
        get_json(&s, "/v1/meetings").await.1["data"].as_array().unwrap().len(),
        0
    );

    // corrupt audio is accepted (it is decoded by the job) and the job fails saying why
    let r = submit(&s, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk".to_vec(), &[]).await;
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let job = poll(&s, &id, Duration::from_secs(60), finished).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"]["message"].as_str().unwrap().contains("recording"), "{job}");
    let (code, _, body) = output(&s, &id, "transcript.txt").await;
    assert_eq!(code, 409, "{body}");
    let (code, _, body) = output(&s, &id, "secrets.txt").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(get_json(&s, "/v1/meetings/mtg_nope").await.0, 404);
    assert_eq!(get_json(&s, "/v1/meetings?after=mtg_nope").await.0, 404);
    assert_eq!(get_json(&s, "/v1/meetings?limit=0").await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_survives_kill_9_and_completes_once_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("asr-router-meeting-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first = Server::start_in(dir.clone(), "", &[]);
    let (wav, turns, text) = two_speaker_meeting();
    let r = submit(&first, wav, &[("language", "en")]).await;
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // kill it once the speaker stages are done, while it transcribes (or later)
    let job = poll(&first, &id, Duration::from_secs(300), |j| {
        j["stages_done"]
            .as_array()
            .is_some_and(|d| d.iter().any(|s| s == "cluster"))
            || finished(j)
    })
    .await;
    assert!(
        !finished(&job),
        "the job finished before the kill; nothing was tested: {job}"
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).expect("killed");

    let second = Server::start_in(dir.clone(), "", &[]);
    let job = poll(&second, &id, Duration::from_secs(600), finished).await;
    assert_eq!(job["status"], "completed", "{job}\n{}", second.log());
    assert_stages_once(&job);
    assert_eq!(job["attempts"], 2, "the crashed run and the resumed one: {job}");
    assert!(
        second.log().contains("queued again"),
        "the restart requeued the job: {}",
        second.log()
    );
    check_outputs(&second, &id, &turns, &text).await;
    drop(second);
    drop(first);
}
