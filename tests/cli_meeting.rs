//! `asr-router meeting FILE --out DIR`: the meeting pipeline offline, on a recording of two real
//! voices: five outputs, a known speaker named from another clip of their voice, and a second
//! run that resumes from the checkpoints with the same result.

mod common;

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_asr-router"))
        .arg("--models")
        .arg(common::models_dir())
        .arg("meeting")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run asr-router meeting");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The LibriVox reader, JFK, the reader again, JFK again (the same clips), with silences
/// between: each voice speaks for more than the 8 s below which a cluster is folded into its
/// nearest neighbour (`DiarizeOptions::min_cluster_s`).
fn write_meeting(path: &Path) {
    let mut samples: Vec<f32> = Vec::new();
    for (i, id) in ["en_librivox_sense_0870", "en_jfk", "en_librivox_sense_0870", "en_jfk"]
        .iter()
        .enumerate()
    {
        if i > 0 {
            samples.extend(std::iter::repeat_n(0.0, 16000));
        }
        samples.extend(common::read_wav(&common::fixture(&format!("{id}.wav"))).0);
    }
    std::fs::write(path, common::wav_bytes(&samples, 16000)).unwrap();
}

#[test]
fn a_recording_becomes_five_outputs_with_a_known_speaker_named_and_a_rerun_resumes() {
    let dir = std::env::temp_dir().join(format!("asr-router-cli-meeting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("meeting.wav");
    write_meeting(&wav);
    let out = dir.join("minutes");
    // another utterance of the reader, not one in the meeting
    let reference = common::fixture("en_librivox_sense_0880.wav");
    let known = format!("Reader={}", reference.display());
    let args = [
        wav.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--language",
        "en",
        "--known-speaker",
        &known,
    ];
    let (ok, log) = run(&args);
    assert!(ok, "{log}");
    assert!(log.contains("stage seconds: decode"), "{log}");
    for name in [
        "transcript.txt",
        "transcript.md",
        "timeline.json",
        "subtitles.srt",
        "summary.md",
    ] {
        let p = out.join(name);
        assert!(
            p.is_file() && std::fs::metadata(&p).unwrap().len() > 0,
            "{name} missing: {log}"
        );
    }
    let md = std::fs::read_to_string(out.join("transcript.md")).unwrap();
    assert!(md.contains("2 speakers"), "{md}");
    assert_eq!(
        md.matches("**Reader**").count(),
        2,
        "the reader is named in both turns: {md}"
    );
    assert_eq!(
        md.matches("**SPEAKER\\_01**").count(),
        2,
        "JFK stays unnamed (the reader is SPEAKER_00, named): {md}"
    );
    assert!(md.to_lowercase().contains("fellow americans"), "{md}");
    let timeline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("timeline.json")).unwrap()).unwrap();
    let named: Vec<&str> = timeline["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(named, ["Reader"], "{timeline}");

    // the same command again: every stage resumes, the outputs are the same
    let before = std::fs::read(out.join("timeline.json")).unwrap();
    let (ok, log) = run(&args);
    assert!(ok, "{log}");
    assert_eq!(log.matches("resumed from its checkpoint").count(), 7, "{log}");
    assert_eq!(std::fs::read(out.join("timeline.json")).unwrap(), before);

    // a bad argument is refused before any model is loaded
    let (ok, log) = run(&[wav.to_str().unwrap(), "--out", out.to_str().unwrap(), "--speakers", "0"]);
    assert!(!ok);
    assert!(log.contains("--speakers"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
