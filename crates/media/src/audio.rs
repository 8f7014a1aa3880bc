//! Opus at 48 kHz in 20 ms frames, and the resampler that brings a device's rate to 48 kHz.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::MediaError;

pub const OPUS_RATE: u32 = 48_000;
/// 20 ms at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;

/// One encoded 20 ms Opus packet.
#[derive(Clone, Debug)]
pub struct EncodedAudio {
    pub data: Vec<u8>,
    pub capture_us: u64,
}

pub struct OpusEncoder {
    inner: opus::Encoder,
    out: Vec<u8>,
}

impl OpusEncoder {
    /// Mono speech at 32 kbit/s with in-band FEC, which is what a classroom voice needs.
    pub fn new() -> Result<Self, MediaError> {
        let mut inner =
            opus::Encoder::new(OPUS_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(|e| MediaError::Encode(format!("Opus: {e}")))?;
        let _ = inner.set_bitrate(opus::Bitrate::Bits(32_000));
        let _ = inner.set_inband_fec(true);
        Ok(OpusEncoder {
            inner,
            out: vec![0; 1500],
        })
    }

    /// Encodes exactly [`FRAME_SAMPLES`] mono samples.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, MediaError> {
        if pcm.len() != FRAME_SAMPLES {
            return Err(MediaError::Config(format!(
                "Opus frames are {FRAME_SAMPLES} samples, got {}",
                pcm.len()
            )));
        }
        let n = self
            .inner
            .encode(pcm, &mut self.out)
            .map_err(|e| MediaError::Encode(format!("Opus: {e}")))?;
        Ok(self.out[..n].to_vec())
    }
}

pub struct OpusDecoder {
    inner: opus::Decoder,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(OpusDecoder {
            inner: opus::Decoder::new(OPUS_RATE, opus::Channels::Mono)
                .map_err(|e| MediaError::Decode(format!("Opus: {e}")))?,
        })
    }

    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        let mut pcm = vec![0i16; 5760];
        let n = self
            .inner
            .decode(packet, &mut pcm, false)
            .map_err(|e| MediaError::Decode(format!("Opus: {e}")))?;
        pcm.truncate(n);
        Ok(pcm)
    }
}

/// Mixes to mono and resamples to 48 kHz, handing out whole 20 ms frames.
pub struct To48kMono {
    channels: usize,
    resampler: Option<Fft<f32>>,
    pending_in: Vec<f32>,
    pending_out: Vec<i16>,
}

impl To48kMono {
    pub fn new(rate: u32, channels: u16) -> Result<Self, MediaError> {
        if rate == 0 || channels == 0 {
            return Err(MediaError::Config(format!(
                "{rate} Hz × {channels} channels"
            )));
        }
        let resampler = (rate != OPUS_RATE)
            .then(|| {
                Fft::<f32>::new(
                    rate as usize,
                    OPUS_RATE as usize,
                    FRAME_SAMPLES,
                    1,
                    FixedSync::Output,
                )
                .map_err(|e| MediaError::Config(format!("resampler: {e}")))
            })
            .transpose()?;
        Ok(To48kMono {
            channels: channels as usize,
            resampler,
            pending_in: Vec::new(),
            pending_out: Vec::new(),
        })
    }

    /// Adds interleaved samples; returns every complete 20 ms frame now available.
    pub fn push(&mut self, interleaved: &[i16]) -> Result<Vec<Vec<i16>>, MediaError> {
        let mono = interleaved
            .chunks_exact(self.channels)
            .map(|c| c.iter().map(|&s| f32::from(s)).sum::<f32>() / self.channels as f32);
        match &mut self.resampler {
            None => self.pending_out.extend(mono.map(|s| s as i16)),
            Some(r) => {
                self.pending_in.extend(mono);
                loop {
                    let need = r.input_frames_next();
                    if self.pending_in.len() < need {
                        break;
                    }
                    let input = InterleavedSlice::new(&self.pending_in[..need], 1, need)
                        .map_err(|e| MediaError::Config(format!("resampler: {e}")))?;
                    let out = r
                        .process(&input, None)
                        .map_err(|e| MediaError::Config(format!("resampler: {e}")))?;
                    self.pending_out.extend(
                        out.take_data()
                            .into_iter()
                            .map(|s| s.clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16),
                    );
                    self.pending_in.drain(..need);
                }
            }
        }
        let mut frames = Vec::new();
        while self.pending_out.len() >= FRAME_SAMPLES {
            frames.push(self.pending_out.drain(..FRAME_SAMPLES).collect());
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f32 * std::f32::consts::TAU * hz / rate as f32).sin() * 10_000.0) as i16
            })
            .collect()
    }

    /// Frequency from zero crossings: a resampler or codec that mangles pitch fails this.
    fn frequency(pcm: &[i16], rate: u32) -> f32 {
        let crossings = pcm.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        crossings as f32 * rate as f32 / pcm.len() as f32
    }

    #[test]
    fn resampling_44k1_to_48k_keeps_length_and_pitch() {
        let mut r = To48kMono::new(44_100, 2).unwrap();
        let mono = sine(44_100, 440.0, 44_100);
        let stereo: Vec<i16> = mono.iter().flat_map(|&s| [s, s]).collect();
        let frames = r.push(&stereo).unwrap();
        let out: Vec<i16> = frames.concat();
        // One second in; all but the resampler's latency comes out.
        assert!(
            out.len() >= 46_000 && out.len() <= 48_000,
            "{} samples",
            out.len()
        );
        let f = frequency(&out[4800..], 48_000);
        assert!((f - 440.0).abs() < 5.0, "{f} Hz");
    }

    #[test]
    fn opus_round_trip_keeps_the_tone() {
        let mut enc = OpusEncoder::new().unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let pcm = sine(48_000, 440.0, 48_000);
        let mut out = Vec::new();
        for frame in pcm.chunks_exact(FRAME_SAMPLES) {
            let packet = enc.encode(frame).unwrap();
            assert!(!packet.is_empty() && packet.len() < 400);
            out.extend(dec.decode(&packet).unwrap());
        }
        assert_eq!(out.len(), pcm.len());
        let f = frequency(&out[4800..], 48_000);
        assert!((f - 440.0).abs() < 5.0, "{f} Hz");
        let energy = out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / out.len() as f64;
        assert!(energy.sqrt() > 3000.0, "rms {}", energy.sqrt());
    }
}
