//! Stage checkpoints: each stage's result as a file under `<job>/stages/`, written atomically
//! (a temporary file in the same folder, synced, then renamed over the target), so that a
//! reader sees either nothing or the whole result, even after `kill -9` mid-write.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PipelineError;
use crate::audio::SAMPLE_RATE;

/// The folder of a job's checkpoints.
pub fn stages_dir(job: &Path) -> PathBuf {
    job.join("stages")
}

/// The folder of a job's outputs.
pub fn outputs_dir(job: &Path) -> PathBuf {
    job.join("outputs")
}

/// Writes `bytes` to `path` atomically ([`crate::meeting::jobs::write_atomic`], which creates
/// the folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    crate::meeting::jobs::write_atomic(path, bytes).map_err(|e| PipelineError::io(path, e))
}

/// Writes a stage's JSON result.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), PipelineError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| PipelineError::Checkpoint {
        path: path.into(),
        reason: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}

/// Reads a stage's JSON result.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, PipelineError> {
    let bytes = std::fs::read(path).map_err(|e| PipelineError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| PipelineError::Checkpoint {
        path: path.into(),
        reason: e.to_string(),
    })
}

/// Writes 16 kHz mono audio as 16-bit PCM WAV, atomically.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), PipelineError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut buf = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut w = hound::WavWriter::new(&mut buf, spec).map_err(|e| PipelineError::Checkpoint {
            path: path.into(),
            reason: e.to_string(),
        })?;
        for &s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            w.write_sample(v).map_err(|e| PipelineError::Checkpoint {
                path: path.into(),
                reason: e.to_string(),
            })?;
        }
        w.finalize().map_err(|e| PipelineError::Checkpoint {
            path: path.into(),
            reason: e.to_string(),
        })?;
    }
    write_atomic(path, &buf.into_inner())
}

/// Reads a WAV written by [`write_wav`].
pub fn read_wav(path: &Path) -> Result<Vec<f32>, PipelineError> {
    let bad = |reason: String| PipelineError::Checkpoint {
        path: path.into(),
        reason,
    };
    let r = hound::WavReader::open(path).map_err(|e| bad(e.to_string()))?;
    let spec = r.spec();
    if spec.channels != 1 || spec.sample_rate != SAMPLE_RATE || spec.bits_per_sample != 16 {
        return Err(bad(format!("not 16 kHz mono 16-bit: {spec:?}")));
    }
    r.into_samples::<i16>()
        .map(|s| s.map(|v| v as f32 / 32768.0).map_err(|e| bad(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_and_json_round_trip_through_atomic_writes() {
        let dir = std::env::temp_dir().join(format!("asr-router-ckpt-{}", std::process::id()));
        let wav = dir.join("stages/audio.wav");
        let samples: Vec<f32> = (0..1600).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        write_wav(&wav, &samples).unwrap();
        let back = read_wav(&wav).unwrap();
        assert_eq!(back.len(), samples.len());
        assert!(back.iter().zip(&samples).all(|(a, b)| (a - b).abs() < 1e-4));
        let json = dir.join("stages/x.json");
        write_json(&json, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&json).unwrap(), vec![1, 2, 3]);
        let names: Vec<String> = std::fs::read_dir(dir.join("stages"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "no temporary file left: {names:?}"
        );
        assert!(matches!(
            read_json::<Vec<i32>>(&dir.join("none.json")),
            Err(PipelineError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
