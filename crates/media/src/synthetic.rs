//! Sources that need no device: a test pattern carrying a frame stamp, and a tone. They
//! stand in for a camera and a microphone on machines that have none (and in tests).

use std::f32::consts::TAU;
use std::time::Duration;

use crate::MediaError;
use crate::frame::{AudioFrame, CapturedFrame, PixelFormat, now_us};
use crate::source::{AudioSource, AudioSourceInfo, VideoSource, VideoSourceInfo};
use crate::stamp::{self, FrameStamp};

/// Moving colour bars with a [`stamp`] on top: the counter proves frames advance, the
/// timestamp measures glass-to-glass latency.
pub struct SyntheticPattern {
    width: u32,
    height: u32,
    counter: u32,
    /// The bars, drawn once; each frame shifts them.
    bars: Vec<u8>,
}

impl SyntheticPattern {
    pub fn new(width: u32, height: u32) -> Self {
        let (width, height) = (width.max(64) & !1, height.max(48) & !1);
        const COLOURS: [[u8; 3]; 8] = [
            [235, 235, 235],
            [235, 235, 16],
            [16, 235, 235],
            [16, 235, 16],
            [235, 16, 235],
            [235, 16, 16],
            [16, 16, 235],
            [40, 40, 40],
        ];
        let mut bars = Vec::with_capacity(width as usize * 2 * 4);
        // Two periods, so any shift is a plain slice.
        for x in 0..width * 2 {
            let c = COLOURS[((x % width) * 8 / width) as usize];
            bars.extend_from_slice(&[c[0], c[1], c[2], 255]);
        }
        SyntheticPattern {
            width,
            height,
            counter: 0,
            bars,
        }
    }
}

impl VideoSource for SyntheticPattern {
    fn info(&self) -> VideoSourceInfo {
        VideoSourceInfo {
            name: "Test pattern".into(),
            width: self.width,
            height: self.height,
        }
    }

    fn capture(&mut self) -> Result<CapturedFrame, MediaError> {
        let capture_us = now_us();
        let (w, h) = (self.width as usize, self.height as usize);
        let stride = w * 4;
        let shift = (self.counter as usize * 4) % w;
        let row = &self.bars[shift * 4..(shift + w) * 4];
        let mut data = Vec::with_capacity(stride * h);
        for _ in 0..h {
            data.extend_from_slice(row);
        }
        stamp::draw_rgba(
            &mut data,
            self.width,
            self.height,
            stride,
            FrameStamp {
                counter: self.counter,
                capture_ms: capture_us / 1000,
            },
        );
        self.counter = self.counter.wrapping_add(1);
        Ok(CapturedFrame {
            width: self.width,
            height: self.height,
            format: PixelFormat::Rgba,
            stride: stride as u32,
            data,
            capture_us,
        })
    }
}

/// A sine tone, 48 kHz mono, in 20 ms frames. It has no clock: the pipeline paces it.
pub struct Tone {
    hz: f32,
    phase: f32,
}

impl Tone {
    pub const SAMPLE_RATE: u32 = 48_000;

    pub fn new(hz: f32) -> Self {
        Tone { hz, phase: 0.0 }
    }
}

impl AudioSource for Tone {
    fn info(&self) -> AudioSourceInfo {
        AudioSourceInfo {
            name: format!("{} Hz tone", self.hz),
            sample_rate: Self::SAMPLE_RATE,
            channels: 1,
            paced: false,
        }
    }

    fn read(&mut self, _timeout: Duration) -> Result<AudioFrame, MediaError> {
        let n = (Self::SAMPLE_RATE / 50) as usize;
        let step = TAU * self.hz / Self::SAMPLE_RATE as f32;
        let samples = (0..n)
            .map(|_| {
                let s = (self.phase.sin() * 0.3 * f32::from(i16::MAX)) as i16;
                self.phase = (self.phase + step) % TAU;
                s
            })
            .collect();
        Ok(AudioFrame {
            samples,
            sample_rate: Self::SAMPLE_RATE,
            channels: 1,
            capture_us: now_us(),
        })
    }
}
