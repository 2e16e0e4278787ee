//! Session input audio: bytes in the session's declared format → 16 kHz mono `f32`.
//! PCM16 (24 or 16 kHz), G.711 µ-law/A-law (8 kHz), and the Opus extension (raw packets, or an
//! Ogg/Opus byte stream).

use super::ogg::OggPacketReader;
use super::protocol::{AudioFormat, OpusContainer};
use crate::audio::g711;
use crate::audio::opus_decode::{OpusPacketDecoder, opus_head_pre_skip};
use crate::audio::{AudioError, StreamResampler, pcm16le_to_f32};

/// Converts one session's input to 16 kHz, keeping codec and resampler state across appends.
pub struct InputDecoder {
    format: AudioFormat,
    resampler: StreamResampler,
    opus: Option<OpusPacketDecoder>,
    ogg: Option<OggPacketReader>,
    odd_byte: Option<u8>,
}

impl InputDecoder {
    /// A decoder for `format`.
    pub fn new(format: AudioFormat) -> Result<Self, AudioError> {
        let resampler = StreamResampler::new(format.sample_rate())?;
        let (opus, ogg) = match format {
            AudioFormat::Opus {
                container: OpusContainer::Raw,
            } => (Some(OpusPacketDecoder::new(0)?), None),
            AudioFormat::Opus {
                container: OpusContainer::Ogg,
            } => (None, Some(OggPacketReader::default())),
            AudioFormat::Opus {
                container: OpusContainer::Webm,
            } => {
                return Err(AudioError::Unsupported(
                    "streaming WebM is not supported on the realtime socket; send raw Opus packets or Ogg/Opus".into(),
                ));
            }
            _ => (None, None),
        };
        Ok(Self {
            format,
            resampler,
            opus,
            ogg,
            odd_byte: None,
        })
    }

    /// The format this decoder reads.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Decodes one append's bytes and appends 16 kHz samples to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let native: Vec<f32> = match self.format {
            AudioFormat::Pcm16 { .. } => {
                // keep a dangling odd byte for the next append so samples never shift
                let mut joined;
                let data = if let Some(b) = self.odd_byte.take() {
                    joined = Vec::with_capacity(bytes.len() + 1);
                    joined.push(b);
                    joined.extend_from_slice(bytes);
                    &joined[..]
                } else {
                    bytes
                };
                if data.len() % 2 == 1 {
                    self.odd_byte = data.last().copied();
                }
                pcm16le_to_f32(data)
            }
            AudioFormat::Pcmu => g711::decode_ulaw(bytes)
                .into_iter()
                .map(|s| s as f32 / 32768.0)
                .collect(),
            AudioFormat::Pcma => g711::decode_alaw(bytes)
                .into_iter()
                .map(|s| s as f32 / 32768.0)
                .collect(),
            AudioFormat::Opus { .. } => {
                let mut pcm = Vec::new();
                if let Some(ogg) = self.ogg.as_mut() {
                    // Ogg/Opus byte stream: the decoder is created from the stream's own OpusHead.
                    for packet in ogg.push(bytes)? {
                        if packet.starts_with(b"OpusHead") {
                            self.opus = Some(OpusPacketDecoder::new(opus_head_pre_skip(Some(&packet)))?);
                        } else if packet.starts_with(b"OpusTags") {
                            continue;
                        } else if let Some(dec) = self.opus.as_mut() {
                            dec.decode(&packet, &mut pcm)?;
                        } else {
                            return Err(AudioError::Corrupt("Ogg stream did not start with OpusHead".into()));
                        }
                    }
                } else if let Some(dec) = self.opus.as_mut() {
                    // raw packets: one per append or binary frame
                    dec.decode(bytes, &mut pcm)?;
                }
                pcm
            }
        };
        self.resampler.push(&native, out)
    }
}
