//! What `asr-router eval` reports: one [`ItemResult`] per recording, a [`GroupSummary`] per
//! language group and one over everything, as a table for people and as JSON for tools.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::score::{Counts, Metric, percentile, relative_cut};

/// One recording's result: both texts of one decode, scored.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    /// The manifest row's id.
    pub id: String,
    /// The group it is reported in (`en`, `zh`, `zh+en`, `meeting:zh` …).
    pub group: String,
    /// The manifest's language.
    pub lang: String,
    /// WER or CER.
    pub metric: Metric,
    /// The engine that answered (the fallback's name when every window fell back).
    pub engine: String,
    /// The language the recognizer reported (detected or forced).
    pub language: Option<String>,
    /// Audio duration, seconds.
    pub duration_s: f64,
    /// Wall time of the request (decode and review), seconds.
    pub request_s: f64,
    /// Wall time of the review step alone, milliseconds (see `src/cli/eval.rs` for how).
    pub review_ms: f64,
    /// Whether the timed review gave the request's reviewed text again.
    pub review_reproduced: bool,
    /// The reference.
    pub reference: String,
    /// The recognizer's text (before review).
    pub raw_text: String,
    /// The reviewed text.
    pub text: String,
    /// Edits the reviewers made.
    pub edits: usize,
    /// Reviewers that failed or were skipped, with why.
    pub review_skipped: Vec<String>,
    /// Scores of `raw_text`.
    pub raw: Counts,
    /// Scores of `text`.
    pub reviewed: Counts,
    /// A meeting's speaker-attributed error of the reviewed text (cpWER/cpCER,
    /// [`super::score::speaker_attributed`]): `errors`, `units` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker_attributed: Option<Counts>,
}

/// A group's totals.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    /// The group (`all` for the summary over every item).
    pub group: String,
    /// WER or CER; `None` for a summary that mixes both (`all` over English and Chinese).
    pub metric: Option<Metric>,
    /// Items.
    pub items: usize,
    /// Audio, seconds.
    pub audio_s: f64,
    /// Items per engine that answered.
    pub engines: BTreeMap<String, usize>,
    /// Summed counts of the raw texts.
    pub raw: Counts,
    /// Summed counts of the reviewed texts.
    pub reviewed: Counts,
    /// Corpus-level error rate of the raw texts.
    pub raw_error_rate: f64,
    /// Corpus-level error rate of the reviewed texts.
    pub reviewed_error_rate: f64,
    /// `(raw − reviewed) / raw`; `None` when the raw texts had no errors.
    pub error_cut: Option<f64>,
    /// Term recall of the raw texts; `None` when the references have no terms.
    pub raw_term_recall: Option<f64>,
    /// Term recall of the reviewed texts.
    pub reviewed_term_recall: Option<f64>,
    /// Edits made, all items together.
    pub edits: usize,
    /// Median review time, milliseconds.
    pub review_ms_p50: Option<f64>,
    /// 95th-percentile review time, milliseconds.
    pub review_ms_p95: Option<f64>,
}

impl GroupSummary {
    /// The totals of `items` under the name `group`.
    pub fn of<'a>(group: &str, items: impl IntoIterator<Item = &'a ItemResult>) -> Self {
        let items: Vec<&ItemResult> = items.into_iter().collect();
        let (mut raw, mut reviewed) = (Counts::default(), Counts::default());
        let mut engines = BTreeMap::new();
        for i in &items {
            raw += i.raw;
            reviewed += i.reviewed;
            *engines.entry(i.engine.clone()).or_insert(0) += 1;
        }
        let metric = items
            .first()
            .map(|i| i.metric)
            .filter(|m| items.iter().all(|i| i.metric == *m));
        let ms: Vec<f64> = items.iter().map(|i| i.review_ms).collect();
        Self {
            group: group.to_string(),
            metric,
            items: items.len(),
            audio_s: items.iter().map(|i| i.duration_s).sum(),
            engines,
            raw,
            reviewed,
            raw_error_rate: raw.error_rate(),
            reviewed_error_rate: reviewed.error_rate(),
            error_cut: relative_cut(raw.error_rate(), reviewed.error_rate()),
            raw_term_recall: raw.term_recall(),
            reviewed_term_recall: reviewed.term_recall(),
            edits: items.iter().map(|i| i.edits).sum(),
            review_ms_p50: percentile(&ms, 50.0),
            review_ms_p95: percentile(&ms, 95.0),
        }
    }
}

/// A group summary per group (sentences first, then meetings, each by name) and, when there is
/// more than one group, `all`.
pub fn summarize(items: &[ItemResult]) -> Vec<GroupSummary> {
    let mut groups: BTreeMap<(bool, &str), Vec<&ItemResult>> = BTreeMap::new();
    for i in items {
        groups
            .entry((i.group.starts_with("meeting:"), i.group.as_str()))
            .or_default()
            .push(i);
    }
    let mut out: Vec<GroupSummary> = groups
        .iter()
        .map(|((_, name), v)| GroupSummary::of(name, v.iter().copied()))
        .collect();
    if out.len() > 1 {
        out.push(GroupSummary::of("all", items));
    }
    out
}

/// The whole report: what was run, the summaries and every item.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command's settings (manifest, glossary, review, model, languages …).
    pub settings: serde_json::Value,
    /// Per group, then `all`.
    pub summary: Vec<GroupSummary>,
    /// Per item, in manifest order.
    pub items: Vec<ItemResult>,
}

/// The summaries as a plain-text table.
pub fn table(summary: &[GroupSummary]) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let signed = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:+.1}%", 100.0 * v));
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<15} {:>5} {:>7} {:<7} {:>7} {:>8} {:>7} {:>7} {:>8} {:>6} {:>5} {:>17}  engines",
        "group",
        "items",
        "audio_s",
        "metric",
        "raw",
        "reviewed",
        "cut",
        "terms",
        "raw",
        "review",
        "edits",
        "review ms p50/p95"
    );
    for g in summary {
        let engines: Vec<String> = g.engines.iter().map(|(e, n)| format!("{e}×{n}")).collect();
        let _ = writeln!(
            s,
            "{:<15} {:>5} {:>7.1} {:<7} {:>7} {:>8} {:>7} {:>7} {:>8} {:>6} {:>5} {:>17}  {}",
            g.group,
            g.items,
            g.audio_s,
            g.metric.map_or("WER/CER", Metric::label),
            pct(Some(g.raw_error_rate)),
            pct(Some(g.reviewed_error_rate)),
            signed(g.error_cut),
            g.raw.terms,
            pct(g.raw_term_recall),
            pct(g.reviewed_term_recall),
            g.edits,
            format!("{} / {}", ms(g.review_ms_p50), ms(g.review_ms_p95)),
            engines.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(
        group: &str,
        metric: Metric,
        raw: (usize, usize, usize, usize),
        rev: (usize, usize),
        ms: f64,
    ) -> ItemResult {
        ItemResult {
            id: format!("{group}-{ms}"),
            group: group.into(),
            lang: group.trim_start_matches("meeting:").into(),
            metric,
            engine: "whisper-base".into(),
            language: None,
            duration_s: 2.0,
            request_s: 1.0,
            review_ms: ms,
            review_reproduced: true,
            reference: String::new(),
            raw_text: String::new(),
            text: String::new(),
            edits: 1,
            review_skipped: Vec::new(),
            raw: Counts {
                errors: raw.0,
                units: raw.1,
                terms_found: raw.2,
                terms: raw.3,
            },
            speaker_attributed: None,
            reviewed: Counts {
                errors: rev.0,
                units: raw.1,
                terms_found: rev.1,
                terms: raw.3,
            },
        }
    }

    #[test]
    fn groups_sum_counts_and_order_meetings_last() {
        let items = [
            item("zh", Metric::Cer, (2, 10, 0, 1), (1, 1), 0.2),
            item("meeting:en", Metric::Wer, (1, 10, 1, 2), (1, 2), 0.4),
            item("en", Metric::Wer, (4, 10, 0, 2), (1, 2), 0.1),
            item("zh", Metric::Cer, (2, 10, 1, 1), (0, 1), 0.3),
        ];
        let s = summarize(&items);
        let names: Vec<&str> = s.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["en", "zh", "meeting:en", "all"]);
        let zh = &s[1];
        assert_eq!(
            (zh.items, zh.raw.errors, zh.reviewed.errors, zh.raw.units),
            (2, 4, 1, 20)
        );
        assert_eq!(zh.metric, Some(Metric::Cer));
        assert!((zh.raw_error_rate - 0.2).abs() < 1e-12 && (zh.reviewed_error_rate - 0.05).abs() < 1e-12);
        assert!((zh.error_cut.unwrap() - 0.75).abs() < 1e-12);
        assert_eq!((zh.raw_term_recall, zh.reviewed_term_recall), (Some(0.5), Some(1.0)));
        assert_eq!((zh.review_ms_p50, zh.review_ms_p95), (Some(0.2), Some(0.3)));
        let all = &s[3];
        assert_eq!((all.items, all.metric, all.edits), (4, None, 4));
        assert_eq!(all.engines.get("whisper-base"), Some(&4));

        let t = table(&s);
        assert_eq!(t.lines().count(), 5, "{t}");
        assert!(t.lines().nth(2).unwrap().starts_with("zh "), "{t}");
        assert!(t.contains("+75.0%") && t.contains("WER/CER"), "{t}");
        // one group: no `all`
        assert_eq!(summarize(&items[..1]).len(), 1);
    }
}
