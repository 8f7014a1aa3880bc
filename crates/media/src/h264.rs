//! H.264 constrained baseline with openh264: what every browser decodes.

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Level, Profile,
    RateControlMode, SpsPpsStrategy, UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};
use serde::Serialize;

use crate::MediaError;
use crate::frame::I420Frame;

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Motion matters: the encoder favours frame rate.
    Camera,
    /// Text must stay sharp: screen-content tools, lower frame rate.
    Screen,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    pub bitrate_bps: u32,
    pub content: Content,
}

/// What a camera picture of this size needs at 30 fps: ~0.09 bit per pixel per frame,
/// 2.5 Mbit/s at 720p.
pub fn camera_bitrate(width: u32, height: u32) -> u32 {
    (u64::from(width) * u64::from(height) * 30 * 9 / 100).min(u64::from(u32::MAX)) as u32
}

impl VideoSettings {
    pub fn camera(width: u32, height: u32) -> Self {
        let bitrate = camera_bitrate(width, height).clamp(150_000, 4_000_000);
        VideoSettings {
            width,
            height,
            fps: 30.0,
            bitrate_bps: bitrate,
            content: Content::Camera,
        }
    }

    pub fn camera_720p() -> Self {
        Self::camera(1280, 720)
    }

    pub fn screen_1080p() -> Self {
        VideoSettings {
            width: 1920,
            height: 1080,
            fps: 15.0,
            bitrate_bps: 3_000_000,
            content: Content::Screen,
        }
    }
}

/// One encoded picture, Annex-B.
#[derive(Clone, Debug)]
pub struct EncodedVideo {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub capture_us: u64,
    pub width: u32,
    pub height: u32,
}

pub struct H264Encoder {
    encoder: Encoder,
    width: u32,
    height: u32,
}

fn enc(e: impl std::fmt::Display) -> MediaError {
    MediaError::Encode(format!("H.264: {e}"))
}

impl H264Encoder {
    pub fn new(s: &VideoSettings) -> Result<Self, MediaError> {
        if s.width < 16 || s.height < 16 || s.width % 2 == 1 || s.height % 2 == 1 {
            return Err(MediaError::Config(format!(
                "{}x{} is not an encodable size",
                s.width, s.height
            )));
        }
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(s.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(s.fps))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(match s.content {
                Content::Camera => UsageType::CameraVideoRealTime,
                Content::Screen => UsageType::ScreenContentRealTime,
            })
            .profile(Profile::Baseline)
            .level(if s.width * s.height <= 1280 * 720 {
                Level::Level_3_1
            } else {
                Level::Level_4_0
            })
            .complexity(Complexity::Low)
            // A new viewer or a lost packet asks for a keyframe; periodic ones only
            // cover receivers whose request got lost.
            .intra_frame_period(IntraFramePeriod::from_num_frames((s.fps as u32).max(1) * 4))
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .skip_frames(true)
            .num_threads(1);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config).map_err(enc)?;
        Ok(H264Encoder {
            encoder,
            width: s.width,
            height: s.height,
        })
    }

    /// Changes the target bitrate of the running encoder, with no keyframe.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), MediaError> {
        let mut info = openh264_sys2::SBitrateInfo {
            iLayer: openh264_sys2::SPATIAL_LAYER_ALL,
            iBitrate: bps.min(i32::MAX as u32) as i32,
        };
        // SAFETY: the option and its argument type match openh264's SetOption contract,
        // and `info` outlives the call.
        let rc = unsafe {
            self.encoder.raw_api().set_option(
                openh264_sys2::ENCODER_OPTION_BITRATE,
                (&raw mut info).cast(),
            )
        };
        if rc != 0 {
            return Err(enc(format!("SetOption(bitrate) = {rc}")));
        }
        Ok(())
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Encodes one picture; `None` when the rate controller skipped it.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedVideo>, MediaError> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(MediaError::Config(format!(
                "frame {}x{} given to a {}x{} encoder",
                frame.width, frame.height, self.width, self.height
            )));
        }
        if force_keyframe {
            self.encoder.force_intra_frame();
        }
        let cw = frame.chroma_width() as usize;
        let yuv = YUVSlices::new(
            (&frame.y, &frame.u, &frame.v),
            (frame.width as usize, frame.height as usize),
            (frame.width as usize, cw, cw),
        );
        let stream = self.encoder.encode(&yuv).map_err(enc)?;
        let data = stream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        let keyframe = matches!(
            stream.frame_type(),
            openh264::encoder::FrameType::IDR | openh264::encoder::FrameType::I
        );
        Ok(Some(EncodedVideo {
            data,
            keyframe,
            capture_us: frame.capture_us,
            width: self.width,
            height: self.height,
        }))
    }
}

pub struct H264Decoder {
    decoder: openh264::decoder::Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(H264Decoder {
            decoder: openh264::decoder::Decoder::new()
                .map_err(|e| MediaError::Decode(e.to_string()))?,
        })
    }

    /// Decodes one Annex-B access unit; `None` while the decoder has no picture yet.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, MediaError> {
        let Some(pic) = self
            .decoder
            .decode(data)
            .map_err(|e| MediaError::Decode(format!("H.264: {e}")))?
        else {
            return Ok(None);
        };
        let (w, h) = pic.dimensions();
        let (sy, su, sv) = pic.strides();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let copy = |plane: &[u8], stride: usize, pw: usize, ph: usize| {
            let mut out = Vec::with_capacity(pw * ph);
            for row in plane.chunks(stride).take(ph) {
                out.extend_from_slice(&row[..pw]);
            }
            out
        };
        Ok(Some(I420Frame {
            width: w as u32,
            height: h as u32,
            y: copy(pic.y(), sy, w, h),
            u: copy(pic.u(), su, cw, ch),
            v: copy(pic.v(), sv, cw, ch),
            capture_us: 0,
        }))
    }
}
