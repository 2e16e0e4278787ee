//! `asr-router transcribe FILE --format txt|srt|vtt|json` with the real binary and the installed
//! models: the content of every format for a real recording, a recording longer than one 30 s
//! window (absolute cue times, clean stdout while the progress bar runs), and clear errors with a
//! non-zero exit for a missing and a corrupt file, for audio too short to transcribe, and for a
//! model asked for what it cannot do (the same routing checks as REST).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{fixture, models_dir, read_wav, reference, wav_bytes, wer};
use serde_json::Value;

/// One cue of an SRT or WebVTT file.
#[derive(Debug)]
struct Cue {
    start: f64,
    end: f64,
    text: String,
}

fn transcribe(file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asr-router"))
        .arg("--models")
        .arg(models_dir())
        .arg("transcribe")
        .arg(file)
        .args(extra)
        .env_remove("ASR_ROUTER_CONFIG")
        .env("RUST_LOG", "info")
        .output()
        .expect("run asr-router")
}

fn stdout_ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}; stderr:\n{err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    let out = String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8");
    // nothing but the transcript on stdout: no progress bar, no terminal control, no log lines
    assert!(
        !out.contains('\r') && !out.contains('\u{1b}'),
        "control characters on stdout: {out:?}"
    );
    assert!(
        !out.contains(" INFO ") && !out.contains(" WARN "),
        "log lines on stdout: {out:?}"
    );
    out
}

/// `HH:MM:SS{sep}mmm` → seconds.
fn parse_stamp(s: &str, sep: char) -> f64 {
    let (hms, ms) = s.split_once(sep).unwrap_or_else(|| panic!("bad timestamp {s:?}"));
    let parts: Vec<&str> = hms.split(':').collect();
    assert_eq!(parts.len(), 3, "bad timestamp {s:?}");
    assert!(
        parts.iter().all(|p| p.len() == 2) && ms.len() == 3,
        "bad timestamp {s:?}"
    );
    let n: Vec<u64> = parts.iter().map(|p| p.parse().unwrap()).collect();
    assert!(n[1] < 60 && n[2] < 60, "bad timestamp {s:?}");
    (n[0] * 3600 + n[1] * 60 + n[2]) as f64 + ms.parse::<u64>().unwrap() as f64 / 1000.0
}

fn parse_timing(line: &str, sep: char) -> (f64, f64) {
    let (a, b) = line
        .split_once(" --> ")
        .unwrap_or_else(|| panic!("bad timing line {line:?}"));
    (parse_stamp(a, sep), parse_stamp(b, sep))
}

fn parse_srt(s: &str) -> Vec<Cue> {
    assert!(s.ends_with("\n\n"), "SRT must end with a blank line: {s:?}");
    let mut cues = Vec::new();
    for (i, block) in s.trim_end().split("\n\n").enumerate() {
        let lines: Vec<&str> = block.lines().collect();
        assert!(lines.len() >= 3, "SRT cue needs index, timing and text: {block:?}");
        assert_eq!(lines[0], (i + 1).to_string(), "SRT cues are numbered from 1");
        let (start, end) = parse_timing(lines[1], ',');
        cues.push(Cue {
            start,
            end,
            text: lines[2..].join(" "),
        });
    }
    cues
}

fn parse_vtt(s: &str) -> Vec<Cue> {
    let body = s
        .strip_prefix("WEBVTT\n\n")
        .unwrap_or_else(|| panic!("WebVTT must start with the header: {s:?}"));
    body.trim_end()
        .split("\n\n")
        .map(|block| {
            let lines: Vec<&str> = block.lines().collect();
            assert!(lines.len() >= 2, "VTT cue needs timing and text: {block:?}");
            let (start, end) = parse_timing(lines[0], '.');
            Cue {
                start,
                end,
                text: lines[1..].join(" "),
            }
        })
        .collect()
}

/// Cues are non-empty, ordered, inside the audio, and say what was said.
fn check_cues(cues: &[Cue], duration: f64, reference: &str, max_wer: f64) {
    assert!(!cues.is_empty());
    let mut prev_start = 0.0;
    for c in cues {
        assert!(!c.text.trim().is_empty(), "empty cue {c:?}");
        assert!(c.start < c.end, "cue ends before it starts: {c:?}");
        assert!(c.start >= prev_start, "cues out of order at {c:?}");
        assert!(
            c.end <= duration + 0.5,
            "cue past the end of the audio ({duration} s): {c:?}"
        );
        prev_start = c.start;
    }
    let text: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
    let w = wer(reference, &text.join(" "));
    assert!(w <= max_wer, "WER {w:.2}: {cues:?}");
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("asr-router-cli-{}-{name}", std::process::id()))
}

#[test]
fn every_format_of_a_real_recording() {
    let jfk = fixture("en_jfk.wav");
    let reference = reference("en_jfk");

    let txt = stdout_ok(&transcribe(&jfk, &["--format", "txt"]));
    assert!(txt.ends_with('\n') && txt.trim().lines().count() == 1, "{txt:?}");
    let w = wer(&reference, &txt);
    assert!(w <= 0.15, "WER {w:.2}: {txt:?}");
    // txt is the default
    assert_eq!(stdout_ok(&transcribe(&jfk, &[])), txt);

    let srt = parse_srt(&stdout_ok(&transcribe(&jfk, &["--format", "srt"])));
    check_cues(&srt, 11.0, &reference, 0.15);

    let vtt = parse_vtt(&stdout_ok(&transcribe(&jfk, &["--format", "vtt"])));
    check_cues(&vtt, 11.0, &reference, 0.15);
    assert_eq!(srt.len(), vtt.len(), "SRT and VTT carry the same cues");
    for (a, b) in srt.iter().zip(&vtt) {
        assert_eq!((a.start, a.end, &a.text), (b.start, b.end, &b.text));
    }

    let json = stdout_ok(&transcribe(&jfk, &["--format", "json"]));
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json:?}"));
    assert_eq!(v["task"], "transcribe");
    assert_eq!(v["language"], "english");
    let duration = v["duration"].as_f64().unwrap();
    assert!((duration - 11.0).abs() < 0.05, "duration {duration}");
    let text = v["text"].as_str().unwrap();
    assert!(wer(&reference, text) <= 0.15, "{text:?}");
    let segs = v["segments"].as_array().unwrap();
    let cues: Vec<Cue> = segs
        .iter()
        .map(|s| Cue {
            start: s["start"].as_f64().unwrap(),
            end: s["end"].as_f64().unwrap(),
            text: s["text"].as_str().unwrap().to_string(),
        })
        .collect();
    check_cues(&cues, duration, &reference, 0.15);
    assert_eq!(cues.len(), srt.len(), "json segments are the subtitle cues");

    // an unknown format is refused by the argument parser
    let o = transcribe(&jfk, &["--format", "docx"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn long_recording_keeps_stdout_clean_and_times_absolute() {
    // ~35 s of real speech, over the 30 s window: the strong engine, several windows, progress
    let ids = ["en_jfk", "en_librivox_sense_0870", "en_librivox_sense_0880", "en_jfk"];
    let mut all = Vec::new();
    let mut starts = Vec::new();
    for id in ids {
        let (x, rate) = read_wav(&fixture(&format!("{id}.wav")));
        assert_eq!(rate, 16_000);
        starts.push(all.len() as f64 / 16_000.0);
        all.extend(x);
        all.extend(std::iter::repeat_n(0.0, 16_000));
    }
    let duration = all.len() as f64 / 16_000.0;
    assert!(duration > 30.0);
    let path = temp_path("long.wav");
    std::fs::write(&path, wav_bytes(&all, 16_000)).unwrap();
    let refs: Vec<String> = ids.iter().map(|id| reference(id)).collect();

    let o = transcribe(&path, &["--format", "srt", "--language", "en"]);
    let srt = stdout_ok(&o);
    let cues = parse_srt(&srt);
    check_cues(&cues, duration, &refs.join(" "), 0.15);
    let last = cues.last().unwrap();
    assert!(last.end > 30.0, "cue times must be absolute across windows: {cues:?}");
    // the second "ask not what your country" is said from ~24 s on, the Dashwood line from ~12 s
    let at = |word: &str| -> Vec<f64> {
        cues.iter()
            .filter(|c| c.text.to_lowercase().contains(word))
            .map(|c| c.start)
            .collect()
    };
    let dashwood = at("dashwood");
    assert!(
        dashwood
            .iter()
            .any(|&t| (starts[1] - 1.0..starts[1] + 6.0).contains(&t)),
        "Dashwood cue at {dashwood:?}, speech starts at {:.1} s",
        starts[1]
    );
    let ask = at("ask not");
    assert!(ask.iter().any(|&t| t < 11.0), "first 'ask not' at {ask:?}");
    assert!(
        ask.iter().any(|&t| t >= starts[3] - 1.0),
        "second 'ask not' at {ask:?}, expected after {:.1} s",
        starts[3]
    );

    let txt = stdout_ok(&transcribe(&path, &["--format", "txt", "--language", "en"]));
    assert_eq!(txt.trim().lines().count(), 1, "{txt:?}");
    assert!(wer(&refs.join(" "), &txt) <= 0.15, "{txt:?}");
    let _ = std::fs::remove_file(&path);
}

fn assert_clear_failure(o: &Output, expect: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "expected exit 1; stderr:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic:\n{err}"
    );
    assert!(o.stdout.is_empty(), "stdout: {:?}", String::from_utf8_lossy(&o.stdout));
    for e in expect {
        assert!(err.contains(e), "stderr lacks {e:?}:\n{err}");
    }
}

#[test]
fn missing_and_corrupt_files_fail_clearly() {
    let missing = temp_path("no-such-file.wav");
    let o = transcribe(&missing, &["--format", "srt"]);
    assert_clear_failure(&o, &["reading", missing.to_str().unwrap(), "No such file"]);

    // a WAV header followed by garbage, and bytes that are no audio at all
    let mut bad_wav = std::fs::read(fixture("en_jfk.wav")).unwrap();
    bad_wav.truncate(64);
    bad_wav[8..12].copy_from_slice(b"JUNK");
    bad_wav.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    for (name, bytes) in [
        ("corrupt.wav", bad_wav),
        ("notes.mp3", b"this is not audio, just some text\n".repeat(50)),
        ("empty.wav", Vec::new()),
    ] {
        let path = temp_path(name);
        std::fs::write(&path, bytes).unwrap();
        let o = transcribe(&path, &["--format", "json"]);
        assert_clear_failure(&o, &["decoding", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn audio_under_a_tenth_of_a_second_is_refused() {
    // a 100-byte WAV: the 44-byte header and 28 samples (1.75 ms)
    let (samples, rate) = read_wav(&fixture("en_jfk.wav"));
    let bytes = wav_bytes(&samples[16_000..16_028], rate);
    assert_eq!(bytes.len(), 100);
    let path = temp_path("tiny.wav");
    std::fs::write(&path, bytes).unwrap();
    let o = transcribe(&path, &["--format", "json"]);
    assert_clear_failure(&o, &["decoding", "below the minimum of 0.1 s"]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn models_refuse_what_they_cannot_do_as_rest_does() {
    // whisper-tiny.en only knows English: Chinese is refused before it is transcribed, as REST
    // answers 400 param=language
    let zh = fixture("zh_aishell_BAC009S0724W0121.wav");
    let o = transcribe(&zh, &["--model", "whisper-tiny.en", "--language", "zh"]);
    assert_clear_failure(
        &o,
        &[zh.to_str().unwrap(), "whisper-tiny.en", "only transcribes English"],
    );

    // an unknown model names the installed ones
    let jfk = fixture("en_jfk.wav");
    let o = transcribe(&jfk, &["--model", "nope-9000"]);
    assert_clear_failure(&o, &["nope-9000", "does not exist", "whisper-base"]);

    // the same model in its own language transcribes
    let txt = stdout_ok(&transcribe(&jfk, &["--model", "whisper-tiny.en", "--language", "en"]));
    assert!(wer(&reference("en_jfk"), &txt) <= 0.15, "{txt:?}");
}
