//! The teacher app's media: capture behind one small trait per kind (platform backends
//! and synthetic sources are interchangeable), SIMD conversion, H.264 and Opus encoding,
//! H.264 and VP8 decoding, and the pipelines that tie them together on their own threads.
//! No async runtime here: the client wraps the callbacks.

mod audio;
mod convert;
mod devices;
mod error;
mod frame;
mod h264;
mod pipeline;
mod source;
pub mod stamp;
mod synthetic;
mod vp8;

pub use audio::{EncodedAudio, FRAME_SAMPLES, OPUS_RATE, OpusDecoder, OpusEncoder, To48kMono};
pub use convert::{
    Thumbnail, captured_to_i420, captured_to_i420_scaled, i420_to_rgba, scale_i420, thumbnail_jpeg,
};
pub use devices::{
    CameraSource, DeviceInfo, MicrophoneSource, SYNTHETIC_PATTERN, SYNTHETIC_SCREEN,
    SYNTHETIC_TONE, ScreenSource, list_cameras, list_microphones, list_screens, open_camera,
    open_microphone, open_screen,
};
pub use error::{DeviceKind, MediaError};
pub use frame::{AudioFrame, CapturedFrame, I420Frame, PixelFormat, now_us};
pub use h264::{Content, EncodedVideo, H264Decoder, H264Encoder, VideoSettings};
pub use pipeline::{
    AudioPipeline, Layer, LayerStats, PipelineStats, VideoPipeline, camera_layers, ladder_step,
    split_bitrate, thread_cpu_us,
};
pub use source::{AudioSource, AudioSourceInfo, VideoSource, VideoSourceInfo};
pub use synthetic::{SyntheticPattern, Tone};
pub use vp8::{VideoDecoder, Vp8Decoder};
