//! The platform backends: cameras (nokhwa, V4L2 on Linux), microphones (cpal) and
//! screens (xcap), behind the same traits as the synthetic sources. Listing never fails:
//! a machine with no device gets an empty list plus the synthetic sources.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use serde::Serialize;
use ts_rs::TS;

use crate::frame::{AudioFrame, CapturedFrame, PixelFormat, now_us};
use crate::source::{AudioSource, AudioSourceInfo, VideoSource, VideoSourceInfo};
use crate::synthetic::{SyntheticPattern, Tone};
use crate::{DeviceKind, MediaError};

pub const SYNTHETIC_PATTERN: &str = "synthetic:pattern";
pub const SYNTHETIC_TONE: &str = "synthetic:tone";
pub const SYNTHETIC_SCREEN: &str = "synthetic:screen";

#[derive(Serialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
    pub kind: DeviceKind,
}

fn synthetic(id: &str, name: &str, kind: DeviceKind) -> DeviceInfo {
    DeviceInfo {
        id: id.into(),
        name: name.into(),
        kind,
    }
}

pub fn list_cameras() -> Vec<DeviceInfo> {
    let mut out: Vec<DeviceInfo> = nokhwa::query(nokhwa::utils::ApiBackend::Auto)
        .unwrap_or_default()
        .into_iter()
        .map(|c| DeviceInfo {
            id: format!("camera:{}", c.index()),
            name: c.human_name(),
            kind: DeviceKind::Camera,
        })
        .collect();
    out.push(synthetic(
        SYNTHETIC_PATTERN,
        "Test pattern (no camera needed)",
        DeviceKind::Camera,
    ));
    out
}

pub fn list_microphones() -> Vec<DeviceInfo> {
    let host = cpal::default_host();
    let mut out: Vec<DeviceInfo> = host
        .input_devices()
        .map(|devs| {
            devs.filter_map(|d| {
                let id = d.id().ok()?.to_string();
                let name = d
                    .description()
                    .map(|x| x.name().to_owned())
                    .unwrap_or_else(|_| id.clone());
                // ALSA lists plugin devices that cannot capture; only keep ones that can.
                d.default_input_config().ok()?;
                Some(DeviceInfo {
                    id: format!("mic:{id}"),
                    name,
                    kind: DeviceKind::Microphone,
                })
            })
            .collect()
        })
        .unwrap_or_default();
    out.push(synthetic(
        SYNTHETIC_TONE,
        "Test tone (no microphone needed)",
        DeviceKind::Microphone,
    ));
    out
}

pub fn list_screens() -> Vec<DeviceInfo> {
    let mut out: Vec<DeviceInfo> = xcap::Monitor::all()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            Some(DeviceInfo {
                id: format!("screen:{}", m.id().ok()?),
                name: format!(
                    "{} ({}x{})",
                    m.name().unwrap_or_else(|_| "Screen".into()),
                    m.width().unwrap_or(0),
                    m.height().unwrap_or(0)
                ),
                kind: DeviceKind::Screen,
            })
        })
        .collect();
    out.push(synthetic(
        SYNTHETIC_SCREEN,
        "Test pattern screen",
        DeviceKind::Screen,
    ));
    out
}

pub fn open_camera(id: &str) -> Result<Box<dyn VideoSource>, MediaError> {
    if id == SYNTHETIC_PATTERN {
        return Ok(Box::new(SyntheticPattern::new(1280, 720)));
    }
    let index: u32 = id
        .strip_prefix("camera:")
        .and_then(|i| i.parse().ok())
        .ok_or(MediaError::NoDevice {
            kind: DeviceKind::Camera,
        })?;
    Ok(Box::new(CameraSource::open(index)?))
}

pub fn open_microphone(id: &str) -> Result<Box<dyn AudioSource>, MediaError> {
    if id == SYNTHETIC_TONE {
        return Ok(Box::new(Tone::new(440.0)));
    }
    let wanted = id.strip_prefix("mic:");
    Ok(Box::new(MicrophoneSource::open(wanted)?))
}

/// `None` is the primary screen.
pub fn open_screen(id: Option<&str>) -> Result<Box<dyn VideoSource>, MediaError> {
    if id == Some(SYNTHETIC_SCREEN) {
        return Ok(Box::new(SyntheticPattern::new(1920, 1080)));
    }
    Ok(Box::new(ScreenSource::open(id)?))
}

/// A camera on its own thread: nokhwa's camera is not `Send` on every platform and
/// `frame()` blocks, so the source hands frames over a one-deep channel.
pub struct CameraSource {
    info: VideoSourceInfo,
    frames: Receiver<Result<CapturedFrame, MediaError>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CameraSource {
    pub fn open(index: u32) -> Result<Self, MediaError> {
        let (ready_tx, ready_rx) = sync_channel::<Result<VideoSourceInfo, MediaError>>(1);
        let (tx, frames) = sync_channel(1);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let halt = stop.clone();
        std::thread::Builder::new()
            .name(format!("camera {index}"))
            .spawn(move || camera_thread(index, ready_tx, tx, halt))
            .map_err(|e| MediaError::Unsupported(e.to_string()))?;
        let info = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| MediaError::DeviceLost {
                kind: DeviceKind::Camera,
                detail: "the camera did not start within 10 s".into(),
            })??;
        Ok(CameraSource { info, frames, stop })
    }
}

fn camera_thread(
    index: u32,
    ready: SyncSender<Result<VideoSourceInfo, MediaError>>,
    frames: SyncSender<Result<CapturedFrame, MediaError>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
    let opened = nokhwa::Camera::new(
        CameraIndex::Index(index),
        RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate),
    )
    .and_then(|mut c| c.open_stream().map(|_| c));
    let mut camera = match opened {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(MediaError::from_backend(
                DeviceKind::Camera,
                true,
                e.to_string(),
            )));
            return;
        }
    };
    let res = camera.resolution();
    let _ = ready.send(Ok(VideoSourceInfo {
        name: camera.info().human_name(),
        width: res.width(),
        height: res.height(),
    }));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let frame = camera
            .frame()
            .map_err(|e| MediaError::from_backend(DeviceKind::Camera, false, e.to_string()))
            .and_then(|buf| {
                let res = buf.resolution();
                let (format, stride) = match buf.source_frame_format() {
                    FrameFormat::YUYV => (PixelFormat::Yuyv, res.width() * 2),
                    FrameFormat::RAWRGB => (PixelFormat::Rgb24, res.width() * 3),
                    other => {
                        return Err(MediaError::Unsupported(format!(
                            "the camera sends {other:?}; Aula reads YUYV or RGB cameras"
                        )));
                    }
                };
                Ok(CapturedFrame {
                    width: res.width(),
                    height: res.height(),
                    format,
                    stride,
                    data: buf.buffer().to_vec(),
                    capture_us: now_us(),
                })
            });
        let failed = frame.is_err();
        if frames.send(frame).is_err() || failed {
            break;
        }
    }
    let _ = camera.stop_stream();
}

impl VideoSource for CameraSource {
    fn info(&self) -> VideoSourceInfo {
        self.info.clone()
    }

    fn capture(&mut self) -> Result<CapturedFrame, MediaError> {
        match self.frames.recv_timeout(Duration::from_secs(3)) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => Err(MediaError::DeviceLost {
                kind: DeviceKind::Camera,
                detail: "no picture for 3 s".into(),
            }),
            Err(RecvTimeoutError::Disconnected) => Err(MediaError::DeviceLost {
                kind: DeviceKind::Camera,
                detail: "the camera stopped".into(),
            }),
        }
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A microphone through cpal. The stream lives on its own thread (cpal streams are not
/// `Send`); samples come over a bounded channel, and a stream error ends the source.
pub struct MicrophoneSource {
    info: AudioSourceInfo,
    blocks: Receiver<Result<Vec<i16>, MediaError>>,
    stop: SyncSender<()>,
}

impl MicrophoneSource {
    pub fn open(wanted: Option<&str>) -> Result<Self, MediaError> {
        let wanted = wanted.map(str::to_owned);
        let (ready_tx, ready_rx) = sync_channel::<Result<AudioSourceInfo, MediaError>>(1);
        // ~2 s of 10 ms blocks: a slow encoder loses audio rather than memory.
        let (tx, blocks) = sync_channel(200);
        let (stop, stop_rx) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("microphone".into())
            .spawn(move || mic_thread(wanted, ready_tx, tx, stop_rx))
            .map_err(|e| MediaError::Unsupported(e.to_string()))?;
        let info = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| MediaError::DeviceLost {
                kind: DeviceKind::Microphone,
                detail: "the microphone did not start within 10 s".into(),
            })??;
        Ok(MicrophoneSource { info, blocks, stop })
    }
}

fn mic_error(opening: bool, e: cpal::Error) -> MediaError {
    use cpal::ErrorKind as K;
    match e.kind() {
        K::DeviceNotAvailable if opening => MediaError::NoDevice {
            kind: DeviceKind::Microphone,
        },
        K::DeviceBusy => MediaError::DeviceBusy {
            kind: DeviceKind::Microphone,
        },
        _ => MediaError::from_backend(DeviceKind::Microphone, opening, e.to_string()),
    }
}

fn mic_thread(
    wanted: Option<String>,
    ready: SyncSender<Result<AudioSourceInfo, MediaError>>,
    blocks: SyncSender<Result<Vec<i16>, MediaError>>,
    stop: Receiver<()>,
) {
    let host = cpal::default_host();
    let device = match &wanted {
        None => host.default_input_device(),
        Some(id) => host
            .input_devices()
            .ok()
            .and_then(|mut ds| ds.find(|d| d.id().map(|i| i.to_string() == *id).unwrap_or(false))),
    };
    let Some(device) = device else {
        let _ = ready.send(Err(MediaError::NoDevice {
            kind: DeviceKind::Microphone,
        }));
        return;
    };
    let config = match device.default_input_config() {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(mic_error(true, e)));
            return;
        }
    };
    let name = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| "Microphone".into());
    let stream_config = config.config();
    let errors = blocks.clone();
    let on_error = move |e: cpal::Error| {
        let _ = errors.try_send(Err(mic_error(false, e)));
    };
    let stream = match config.sample_format() {
        cpal::SampleFormat::I16 => device.build_input_stream::<i16, _, _>(
            stream_config,
            move |data: &[i16], _: &cpal::InputCallbackInfo| {
                let _ = blocks.try_send(Ok(data.to_vec()));
            },
            on_error,
            None,
        ),
        cpal::SampleFormat::F32 => device.build_input_stream::<f32, _, _>(
            stream_config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                let pcm = data
                    .iter()
                    .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
                    .collect();
                let _ = blocks.try_send(Ok(pcm));
            },
            on_error,
            None,
        ),
        other => {
            let _ = ready.send(Err(MediaError::Unsupported(format!(
                "microphone sample format {other:?}"
            ))));
            return;
        }
    };
    let stream = match stream.and_then(|s| s.play().map(|_| s)) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(mic_error(true, e)));
            return;
        }
    };
    let _ = ready.send(Ok(AudioSourceInfo {
        name,
        sample_rate: stream_config.sample_rate,
        channels: stream_config.channels,
        paced: true,
    }));
    // Keep the stream alive until the source is dropped.
    let _ = stop.recv();
    drop(stream);
}

impl AudioSource for MicrophoneSource {
    fn info(&self) -> AudioSourceInfo {
        self.info.clone()
    }

    fn read(&mut self, timeout: Duration) -> Result<AudioFrame, MediaError> {
        match self.blocks.recv_timeout(timeout) {
            Ok(Ok(samples)) => Ok(AudioFrame {
                samples,
                sample_rate: self.info.sample_rate,
                channels: self.info.channels,
                capture_us: now_us(),
            }),
            Ok(Err(e)) => Err(e),
            Err(RecvTimeoutError::Timeout) => Err(MediaError::DeviceLost {
                kind: DeviceKind::Microphone,
                detail: "no samples arrived".into(),
            }),
            Err(RecvTimeoutError::Disconnected) => Err(MediaError::DeviceLost {
                kind: DeviceKind::Microphone,
                detail: "the microphone stopped".into(),
            }),
        }
    }
}

impl Drop for MicrophoneSource {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
    }
}

/// A whole monitor through xcap (X11, or the desktop portal on Wayland).
pub struct ScreenSource {
    monitor: xcap::Monitor,
    info: VideoSourceInfo,
}

// xcap's Monitor is plain data plus an X connection opened per capture.
unsafe impl Send for ScreenSource {}

impl ScreenSource {
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let monitors = xcap::Monitor::all()
            .map_err(|e| MediaError::from_backend(DeviceKind::Screen, true, e.to_string()))?;
        let want = id
            .and_then(|i| i.strip_prefix("screen:"))
            .and_then(|i| i.parse::<u32>().ok());
        let monitor = monitors
            .into_iter()
            .find(|m| match want {
                Some(w) => m.id().ok() == Some(w),
                None => m.is_primary().unwrap_or(false),
            })
            .or_else(|| xcap::Monitor::all().ok()?.into_iter().next())
            .ok_or(MediaError::NoDevice {
                kind: DeviceKind::Screen,
            })?;
        let info = VideoSourceInfo {
            name: monitor.name().unwrap_or_else(|_| "Screen".into()),
            width: monitor.width().unwrap_or(0),
            height: monitor.height().unwrap_or(0),
        };
        Ok(ScreenSource { monitor, info })
    }
}

impl VideoSource for ScreenSource {
    fn info(&self) -> VideoSourceInfo {
        self.info.clone()
    }

    fn capture(&mut self) -> Result<CapturedFrame, MediaError> {
        let capture_us = now_us();
        let image = self
            .monitor
            .capture_image()
            .map_err(|e| MediaError::from_backend(DeviceKind::Screen, false, e.to_string()))?;
        let (width, height) = image.dimensions();
        Ok(CapturedFrame {
            width,
            height,
            format: PixelFormat::Rgba,
            stride: width * 4,
            data: image.into_raw(),
            capture_us,
        })
    }
}
