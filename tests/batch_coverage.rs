//! A file window whose decode leaves most of its speech out: on the code-switched meeting of the
//! shared terminology set (`../shared/eval/terminology/meetings/mtg_mx_a.wav`, 73 s),
//! `whisper-base` writes the first sentence of its first window (13 characters for 21 s of
//! talk) and stops. The batch pipeline decodes that window again in pieces cut at its pauses
//! (`asr_router::batch::coverage`); over REST, with the real model.

mod common;

use common::Server;

#[tokio::test]
async fn a_window_whose_text_is_too_short_for_its_speech_is_decoded_again_in_pieces() {
    let s = Server::start("", &[]);
    let meeting = common::shared_eval("terminology/meetings/mtg_mx_a.wav");
    let fields = [("model", "whisper-base"), ("response_format", "verbose_json")];
    let (status, v) = common::transcribe_path(&s, &meeting, &fields).await;
    assert_eq!(status, 200, "{v}");
    let text = v["text"].as_str().unwrap();
    // spoken between 10 and 20 s: "那个 OOM 的问题呢？ 是 JVM 的 heap 设小了，已经改了"
    assert!(text.contains("问题呢") && text.contains("已经改了"), "{v}");
    // the first window's talk (0.3–23 s) is in the segments, not only its first sentence
    let segments = v["segments"].as_array().expect("segments");
    let early = segments.iter().filter(|x| x["start"].as_f64().unwrap() < 23.0).count();
    assert!(early >= 3, "{early} segments in the first 23 s: {v}");
    let kept = r#"asr_router_window_redecodes_total{outcome="kept"}"#;
    assert!(s.metric(kept).await >= 1.0, "{}", s.log());
}
