//! Whole-file decoding: WAV, FLAC, MP3, Ogg/Vorbis, M4A/AAC, Opus in Ogg or WebM, to 16 kHz mono.
//!
//! Containers and most codecs come from `symphonia`; Opus packets go to libopus. Damaged input
//! is reported as an [`AudioError`], never a panic.

use std::io::Cursor;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{AudioDecoderOptions, well_known::CODEC_ID_OPUS};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::opus_decode::{OPUS_RATE, OpusPacketDecoder, opus_head_pre_skip};
use super::{AudioError, SAMPLE_RATE, resample_to_16k};

/// Decoded audio at 16 kHz mono, with what was learned about the source.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    /// Samples in `[-1, 1]` at 16 kHz.
    pub samples: Vec<f32>,
    /// The source's sample rate.
    pub source_rate: u32,
    /// The source's channel count.
    pub source_channels: usize,
}

impl DecodedAudio {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}

/// Shortest audio accepted for transcription, seconds (OpenAI refuses shorter files with
/// `audio_too_short`).
pub const MIN_DURATION_S: f64 = 0.1;

/// Decodes a complete file held in memory. `max_duration_s` bounds the decoded length so that a
/// small compressed upload cannot expand into unbounded memory; audio shorter than
/// [`MIN_DURATION_S`] is refused with [`AudioError::TooShort`].
pub fn decode_bytes(bytes: Vec<u8>, max_duration_s: f64) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| AudioError::Unsupported(e.to_string()))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::Unsupported("no audio track".into()))?
        .clone();
    let Some(CodecParameters::Audio(params)) = track.codec_params.clone() else {
        return Err(AudioError::Unsupported("track has no audio codec parameters".into()));
    };
    let (mono, rate, channels) = if params.codec == CODEC_ID_OPUS {
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(1);
        let pre_skip = opus_head_pre_skip(params.extra_data.as_deref());
        let mono = decode_opus_track(format.as_mut(), track.id, pre_skip, max_duration_s)?;
        (mono, OPUS_RATE, channels)
    } else {
        decode_symphonia_track(format.as_mut(), &params, track.id, max_duration_s)?
    };
    if mono.is_empty() {
        return Err(AudioError::Empty);
    }
    let got_s = mono.len() as f64 / rate.max(1) as f64;
    if got_s < MIN_DURATION_S {
        return Err(AudioError::TooShort {
            got_s,
            min_s: MIN_DURATION_S,
        });
    }
    let samples = resample_to_16k(mono, rate)?;
    Ok(DecodedAudio {
        samples,
        source_rate: rate,
        source_channels: channels,
    })
}

fn too_long(frames: usize, rate: u32, max_s: f64) -> Result<(), AudioError> {
    let got_s = frames as f64 / rate.max(1) as f64;
    if got_s > max_s {
        Err(AudioError::TooLong { got_s, max_s })
    } else {
        Ok(())
    }
}

/// Whether a demuxer error means "the stream simply ended" (possibly early).
fn is_end_of_stream(e: &SymError) -> bool {
    matches!(e, SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
}

fn decode_symphonia_track(
    format: &mut dyn FormatReader,
    params: &symphonia::core::codecs::audio::AudioCodecParameters,
    track_id: u32,
    max_s: f64,
) -> Result<(Vec<f32>, u32, usize), AudioError> {
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::Unsupported(e.to_string()))?;
    let mut rate = params.sample_rate.unwrap_or(0);
    let mut channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    let mut mono = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut decoded_packets = 0usize;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if is_end_of_stream(&e) => break,
            Err(SymError::ResetRequired) => break,
            Err(e) if decoded_packets > 0 => {
                tracing::debug!("stopping at demux error after {decoded_packets} packets: {e}");
                break;
            }
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                decoded_packets += 1;
                let spec = buf.spec();
                rate = spec.rate();
                channels = spec.channels().count().max(1);
                interleaved.clear();
                buf.copy_to_vec_interleaved(&mut interleaved);
                if channels == 1 {
                    mono.extend_from_slice(&interleaved);
                } else {
                    let inv = 1.0 / channels as f32;
                    mono.extend(interleaved.chunks_exact(channels).map(|f| f.iter().sum::<f32>() * inv));
                }
                too_long(mono.len(), rate, max_s)?;
            }
            Err(SymError::DecodeError(e)) => {
                bad_packets += 1;
                tracing::debug!("skipping undecodable packet: {e}");
                if bad_packets > 50 && decoded_packets == 0 {
                    return Err(AudioError::Corrupt(e.to_string()));
                }
            }
            Err(e) if is_end_of_stream(&e) => break,
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        }
    }
    if decoded_packets == 0 && bad_packets > 0 {
        return Err(AudioError::Corrupt("no packet could be decoded".into()));
    }
    Ok((mono, rate, channels))
}

fn decode_opus_track(
    format: &mut dyn FormatReader,
    track_id: u32,
    pre_skip: usize,
    max_s: f64,
) -> Result<Vec<f32>, AudioError> {
    let mut dec = OpusPacketDecoder::new(pre_skip)?;
    let mut out = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if is_end_of_stream(&e) => break,
            Err(e) if !out.is_empty() => {
                tracing::debug!("stopping at demux error: {e}");
                break;
            }
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        dec.decode(&packet.data, &mut out)?;
        too_long(out.len(), OPUS_RATE, max_s)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(spec: hound::WavSpec, frames: usize, f: impl Fn(usize, u16) -> f32) -> Vec<u8> {
        let mut cur = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
            for i in 0..frames {
                for c in 0..spec.channels {
                    let v = f(i, c);
                    match (spec.sample_format, spec.bits_per_sample) {
                        (hound::SampleFormat::Float, _) => w.write_sample(v).unwrap(),
                        (_, 8) => w.write_sample((v * 127.0) as i8).unwrap(),
                        (_, 16) => w.write_sample((v * 32767.0) as i16).unwrap(),
                        (_, 24) => w.write_sample((v * 8_388_607.0) as i32).unwrap(),
                        _ => w.write_sample((v * 2_147_483_647.0) as i32).unwrap(),
                    }
                }
            }
            w.finalize().unwrap();
        }
        cur.into_inner()
    }

    #[test]
    fn wav_variants_become_16k_mono() {
        for (bits, fmt) in [
            (8, hound::SampleFormat::Int),
            (16, hound::SampleFormat::Int),
            (24, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Float),
        ] {
            for (rate, ch) in [(8000u32, 1u16), (44_100, 2), (48_000, 6)] {
                let spec = hound::WavSpec {
                    channels: ch,
                    sample_rate: rate,
                    bits_per_sample: bits,
                    sample_format: fmt,
                };
                let bytes = wav(spec, rate as usize / 2, |i, _| {
                    (2.0 * std::f32::consts::PI * 200.0 * i as f32 / rate as f32).sin() * 0.5
                });
                let d = decode_bytes(bytes, 60.0).unwrap_or_else(|e| panic!("{bits} {fmt:?} {rate} {ch}: {e}"));
                assert_eq!(d.source_rate, rate);
                assert_eq!(d.source_channels, ch as usize);
                assert!(
                    (d.samples.len() as i64 - 8000).abs() <= 2,
                    "{} samples",
                    d.samples.len()
                );
                let peak = d.samples.iter().fold(0f32, |m, x| m.max(x.abs()));
                assert!((0.4..0.6).contains(&peak), "peak {peak} for {bits} {fmt:?} {rate} {ch}");
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(decode_bytes(vec![], 60.0), Err(AudioError::Empty)));
        let noise: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(decode_bytes(noise, 60.0).is_err());
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let full = wav(spec, 16_000, |_, _| 0.1);
        assert!(
            decode_bytes(full[..30].to_vec(), 60.0).is_err(),
            "header-only WAV must fail"
        );
    }

    #[test]
    fn duration_cap_is_enforced() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let bytes = wav(spec, 16_000 * 3, |_, _| 0.1);
        assert!(matches!(decode_bytes(bytes, 2.0), Err(AudioError::TooLong { .. })));
    }

    #[test]
    fn audio_under_a_tenth_of_a_second_is_too_short() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let wav = |n: usize| wav(spec, n, |_, _| 0.1);
        assert!(matches!(decode_bytes(wav(40), 10.0), Err(AudioError::TooShort { .. })));
        assert!(matches!(
            decode_bytes(wav(1_599), 10.0),
            Err(AudioError::TooShort { .. })
        ));
        assert_eq!(decode_bytes(wav(1_600), 10.0).unwrap().samples.len(), 1_600);
    }
}
