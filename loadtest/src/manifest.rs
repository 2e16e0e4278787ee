//! The eval manifest (JSON lines) and its recordings, loaded once and converted to the
//! 24 kHz PCM16 mono stream the Realtime protocol expects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Output sample rate of the stream (OpenAI's only PCM rate).
pub const RATE: u32 = 24_000;

/// Longest recording accepted, in seconds.
pub const MAX_DURATION_S: f64 = 30.0;

/// One usable manifest row with its audio, ready to stream.
#[derive(Debug)]
pub struct Recording {
    /// Row id (or the path when the row has none).
    pub id: String,
    /// ISO-639 language code of the row.
    pub lang: String,
    /// Reference transcript.
    pub text: String,
    /// PCM16 little-endian mono 24 kHz bytes.
    pub pcm: Vec<u8>,
}

impl Recording {
    /// Audio length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        (self.pcm.len() as u64 / 2) * 1000 / u64::from(RATE)
    }
}

/// Why rows were left out.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Skipped {
    /// Rows without a reference text.
    pub no_text: usize,
    /// Rows over [`MAX_DURATION_S`].
    pub too_long: usize,
    /// Rows tagged `possible-training-data`.
    pub training_data: usize,
    /// Rows of another language than `--lang`.
    pub other_lang: usize,
    /// Rows whose audio could not be read.
    pub unreadable: usize,
}

/// The recordings grouped by language.
#[derive(Debug)]
pub struct Corpus {
    /// Recordings per language (sorted by language code).
    pub by_lang: BTreeMap<String, Vec<Arc<Recording>>>,
    /// Counts of rows left out.
    pub skipped: Skipped,
}

#[derive(serde::Deserialize)]
struct Row {
    #[serde(default)]
    id: Option<String>,
    path: String,
    lang: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    duration_s: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
}

/// Loads the manifest at `path` and every usable recording it names (paths relative to the
/// manifest's folder), keeping only `lang` when given.
pub fn load(path: &Path, lang: Option<&str>) -> Result<Corpus, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut by_lang: BTreeMap<String, Vec<Arc<Recording>>> = BTreeMap::new();
    let mut skipped = Skipped::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        let Some(reference) = row.text.filter(|t| !t.trim().is_empty()) else {
            skipped.no_text += 1;
            continue;
        };
        if row.tags.iter().any(|t| t == "possible-training-data") {
            skipped.training_data += 1;
            continue;
        }
        if row.duration_s.is_some_and(|d| d > MAX_DURATION_S) {
            skipped.too_long += 1;
            continue;
        }
        if lang.is_some_and(|l| l != row.lang) {
            skipped.other_lang += 1;
            continue;
        }
        let pcm = match read_wav_24k(&base.join(&row.path)) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("skipping {}: {e}", row.path);
                skipped.unreadable += 1;
                continue;
            }
        };
        let rec = Recording {
            id: row.id.unwrap_or(row.path),
            lang: row.lang.clone(),
            text: reference,
            pcm,
        };
        if rec.duration_ms() as f64 > MAX_DURATION_S * 1000.0 {
            skipped.too_long += 1;
            continue;
        }
        by_lang.entry(row.lang).or_default().push(Arc::new(rec));
    }
    Ok(Corpus { by_lang, skipped })
}

/// Reads a WAV file (any rate, channel count, integer or float samples), mixes it down to mono
/// and resamples it to 24 kHz PCM16 LE by linear interpolation.
pub fn read_wav_24k(path: &Path) -> Result<Vec<u8>, String> {
    let mut r = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = r.spec();
    let ch = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let mono: Vec<f32> = interleaved
        .chunks(ch)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    let out = resample_linear(&mono, spec.sample_rate, RATE);
    let mut pcm = Vec::with_capacity(out.len() * 2);
    for s in out {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        pcm.extend_from_slice(&v.to_le_bytes());
    }
    Ok(pcm)
}

/// Linear-interpolation resampler from `from` Hz to `to` Hz.
pub fn resample_linear(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if x.is_empty() || from == 0 || from == to {
        return x.to_vec();
    }
    let n = (x.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    (0..n)
        .map(|i| {
            let pos = i as f64 * step;
            let j = pos.floor() as usize;
            let frac = (pos - j as f64) as f32;
            let a = x[j.min(x.len() - 1)];
            let b = x[(j + 1).min(x.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_16k_to_24k() {
        let x: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let y = resample_linear(&x, 16_000, 24_000);
        assert_eq!(y.len(), 24);
        assert!((y[1] - 2.0 / 3.0).abs() < 1e-6);
        assert!((y[3] - 2.0).abs() < 1e-6);
    }
}
