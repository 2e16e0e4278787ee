//! The utterance as the file an OpenAI-compatible server expects: a 16 kHz mono 16-bit PCM WAV.

use crate::audio::SAMPLE_RATE;

/// `samples` (16 kHz mono, [-1, 1]; values outside are clipped) as WAV bytes.
pub fn pcm16_wav(samples: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // 44-byte RIFF header, then two bytes a sample
    let mut cur = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        // Writing into memory cannot fail short of a 4 GiB file, which an utterance never is.
        let mut w = hound::WavWriter::new(&mut cur, spec).expect("WAV header into memory");
        for &x in samples {
            let v = (x.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
            w.write_sample(v).expect("WAV sample into memory");
        }
        w.finalize().expect("WAV trailer into memory");
    }
    cur.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_wav_reader() {
        let samples = [0.0f32, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0];
        let bytes = pcm16_wav(&samples);
        assert_eq!(bytes.len(), 44 + samples.len() * 2);
        let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
        let spec = r.spec();
        assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 16_000, 16));
        let back: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(back, [0, 16384, -16384, 32767, -32767, 32767, -32767]);
    }
}
