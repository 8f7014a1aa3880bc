//! The teacher's outgoing media: capture + encode pipelines (in `aula-media`, on their
//! own threads) feeding whichever peer connection is current. Pipelines outlive
//! reconnects; a new peer connection gets a keyframe at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aula_media::{
    AudioPipeline, AudioSource, EncodedAudio, EncodedVideo, Layer, MediaError, VideoPipeline,
    VideoSettings, VideoSource, camera_layers,
};
use aula_proto::TrackKind;
use rtc::media::Sample;
use tokio::sync::{broadcast, mpsc};
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::ClientError;
use crate::rate::RateController;
use crate::rtc::{PT_H264, PT_OPUS, PeerLink};
use crate::session::SessionEvent;

/// The devices a session starts with. Any may be absent: a teacher with no camera still
/// teaches with voice and screen.
#[derive(Default)]
pub struct Sources {
    pub camera: Option<Box<dyn VideoSource>>,
    pub camera_settings: Option<VideoSettings>,
    pub microphone: Option<Box<dyn AudioSource>>,
    pub screen: Option<Box<dyn VideoSource>>,
    pub screen_settings: Option<VideoSettings>,
}

enum Encoded {
    /// A picture of one layer (index, lowest first) of a video track.
    Video(TrackKind, usize, EncodedVideo),
    Audio(EncodedAudio),
}

#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    link: Mutex<Option<Arc<PeerLink>>>,
    camera: Mutex<Option<VideoPipeline>>,
    microphone: Mutex<Option<AudioPipeline>>,
    screen: Mutex<Option<VideoPipeline>>,
    camera_on: AtomicBool,
    microphone_on: AtomicBool,
    rates: Mutex<[RateController; 2]>,
    frames: mpsc::Sender<Encoded>,
    events: broadcast::Sender<SessionEvent>,
    screen_settings: VideoSettings,
    /// The camera's simulcast layers, lowest first.
    camera_layers: Vec<Layer>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Publisher {
    pub(crate) fn start(
        sources: Sources,
        events: broadcast::Sender<SessionEvent>,
    ) -> Result<Publisher, ClientError> {
        // A few frames of slack: past that the sender is behind, and a dropped frame
        // (then a keyframe) beats growing latency.
        let (frames, rx) = mpsc::channel(16);
        let camera_settings = sources
            .camera_settings
            .unwrap_or_else(VideoSettings::camera_720p);
        let screen_settings = sources
            .screen_settings
            .unwrap_or_else(VideoSettings::screen_1080p);
        let camera_layers = camera_layers(camera_settings);
        let camera_bps: u32 = camera_layers.iter().map(|l| l.settings.bitrate_bps).sum();
        let inner = Arc::new(Inner {
            link: Mutex::new(None),
            camera: Mutex::new(None),
            microphone: Mutex::new(None),
            screen: Mutex::new(None),
            camera_on: AtomicBool::new(true),
            microphone_on: AtomicBool::new(true),
            rates: Mutex::new([
                // Every layer together: the controller follows the uplink, the pipeline
                // shares what it allows among the layers.
                RateController::new(camera_bps, 150_000, camera_bps),
                RateController::new(
                    screen_settings.bitrate_bps,
                    200_000,
                    screen_settings.bitrate_bps,
                ),
            ]),
            frames,
            events,
            screen_settings,
            camera_layers,
        });
        let publisher = Publisher { inner };
        if let Some(source) = sources.camera {
            let layers = publisher.inner.camera_layers.clone();
            *lock(&publisher.inner.camera) =
                Some(publisher.video_pipeline(TrackKind::Camera, source, layers)?);
        }
        if let Some(source) = sources.microphone {
            *lock(&publisher.inner.microphone) = Some(publisher.audio_pipeline(source)?);
        }
        if let Some(source) = sources.screen {
            let layers = screen_layers(source.as_ref(), screen_settings);
            *lock(&publisher.inner.screen) =
                Some(publisher.video_pipeline(TrackKind::Screen, source, layers)?);
        }
        tokio::spawn(pump(publisher.inner.clone(), rx));
        Ok(publisher)
    }

    fn on_error(&self, kind: TrackKind) -> Box<dyn FnMut(MediaError) + Send> {
        let events = self.inner.events.clone();
        Box::new(move |e: MediaError| {
            tracing::warn!("{kind:?} stopped: {e}");
            let _ = events.send(SessionEvent::Media {
                kind,
                code: e.code().to_owned(),
                message: e.to_string(),
            });
        })
    }

    fn video_pipeline(
        &self,
        kind: TrackKind,
        source: Box<dyn VideoSource>,
        layers: Vec<Layer>,
    ) -> Result<VideoPipeline, ClientError> {
        let frames = self.inner.frames.clone();
        let on_frame = Box::new(move |layer: usize, f: EncodedVideo| {
            // Full: the sender is behind. The frame is lost; the receiver's decoder
            // asks for a keyframe when it notices.
            let _ = frames.try_send(Encoded::Video(kind, layer, f));
        });
        Ok(VideoPipeline::start(
            source,
            layers,
            on_frame,
            self.on_error(kind),
        )?)
    }

    /// The camera's simulcast layers, lowest first, as the peer connection declares them.
    pub fn camera_layers(&self) -> &[Layer] {
        &self.inner.camera_layers
    }

    fn audio_pipeline(&self, source: Box<dyn AudioSource>) -> Result<AudioPipeline, ClientError> {
        let frames = self.inner.frames.clone();
        let on_frame = Box::new(move |f: EncodedAudio| {
            let _ = frames.try_send(Encoded::Audio(f));
        });
        Ok(AudioPipeline::start(
            source,
            on_frame,
            self.on_error(TrackKind::Microphone),
        )?)
    }

    pub(crate) fn attach(&self, link: Option<Arc<PeerLink>>) {
        *lock(&self.inner.link) = link;
    }

    pub fn request_keyframe(&self, kind: TrackKind) {
        self.request_layer_keyframe(kind, None);
    }

    /// A keyframe of one simulcast layer, or of every layer.
    pub(crate) fn request_layer_keyframe(&self, kind: TrackKind, layer: Option<usize>) {
        let slot = match kind {
            TrackKind::Camera => &self.inner.camera,
            TrackKind::Screen => &self.inner.screen,
            TrackKind::Microphone => return,
        };
        if let Some(p) = lock(slot).as_ref() {
            match layer {
                Some(l) => p.request_layer_keyframe(l),
                None => p.request_keyframe(),
            }
        }
    }

    pub(crate) fn report_loss(&self, kind: TrackKind, fraction_lost: u8) {
        let (i, slot) = match kind {
            TrackKind::Camera => (0, &self.inner.camera),
            TrackKind::Screen => (1, &self.inner.screen),
            TrackKind::Microphone => return,
        };
        if let Some(bps) = lock(&self.inner.rates)[i].on_report(fraction_lost)
            && let Some(p) = lock(slot).as_ref()
        {
            p.set_target_bitrate(bps);
        }
    }

    pub fn set_enabled(&self, kind: TrackKind, on: bool) {
        match kind {
            TrackKind::Camera => self.inner.camera_on.store(on, Ordering::Relaxed),
            TrackKind::Microphone => self.inner.microphone_on.store(on, Ordering::Relaxed),
            TrackKind::Screen => {}
        }
        if on {
            self.request_keyframe(kind);
        }
    }

    pub(crate) fn set_screen(
        &self,
        source: Option<Box<dyn VideoSource>>,
    ) -> Result<(), ClientError> {
        let old = lock(&self.inner.screen).take();
        if let Some(old) = old {
            old.stop();
        }
        if let Some(source) = source {
            let layers = screen_layers(source.as_ref(), self.inner.screen_settings);
            let p = self.video_pipeline(TrackKind::Screen, source, layers)?;
            *lock(&self.inner.screen) = Some(p);
        }
        Ok(())
    }

    pub fn is_sharing_screen(&self) -> bool {
        lock(&self.inner.screen).is_some()
    }

    /// Frames encoded so far per pipeline, for the app's diagnostics and the tests.
    pub fn stats(&self) -> PublishStats {
        PublishStats {
            camera: lock(&self.inner.camera).as_ref().map(|p| p.stats()),
            screen: lock(&self.inner.screen).as_ref().map(|p| p.stats()),
            microphone: lock(&self.inner.microphone).as_ref().map(|p| p.stats()),
        }
    }

    pub fn stop(&self) {
        for slot in [&self.inner.camera, &self.inner.screen] {
            if let Some(p) = lock(slot).take() {
                p.stop();
            }
        }
        if let Some(p) = lock(&self.inner.microphone).take() {
            p.stop();
        }
    }
}

/// A screen is sent as one encoding at its own size (never upscaled), at most 1080 lines:
/// text must stay sharp, so it steps down in size only when the uplink demands it.
fn screen_layers(source: &dyn VideoSource, mut settings: VideoSettings) -> Vec<Layer> {
    let info = source.info();
    let scale = (1080.0 / info.height.max(1) as f32).min(1.0);
    settings.width = ((info.width as f32 * scale) as u32).max(16) & !1;
    settings.height = ((info.height as f32 * scale) as u32).max(16) & !1;
    Layer::single(settings)
}

#[derive(Debug, Clone)]
pub struct PublishStats {
    pub camera: Option<aula_media::PipelineStats>,
    pub screen: Option<aula_media::PipelineStats>,
    pub microphone: Option<aula_media::PipelineStats>,
}

/// Writes encoded frames to the current peer connection's tracks.
async fn pump(inner: Arc<Inner>, mut rx: mpsc::Receiver<Encoded>) {
    // Per video track and layer: RTP time follows capture time.
    let mut last_capture: std::collections::HashMap<(TrackKind, usize), u64> =
        std::collections::HashMap::new();
    while let Some(encoded) = rx.recv().await {
        let Some(link) = lock(&inner.link).clone() else {
            continue;
        };
        // Before DTLS is up there is nothing to write to; the keyframe asked for on
        // Connected starts the picture.
        if *link.state.borrow() != RTCPeerConnectionState::Connected {
            continue;
        }
        let (kind, layer, data, duration, pt) = match encoded {
            Encoded::Video(kind, layer, f) => {
                let on = kind != TrackKind::Camera || inner.camera_on.load(Ordering::Relaxed);
                if !on {
                    continue;
                }
                // RTP time follows capture time, so pacing jitter on this side does not
                // become timestamp jitter on the student's side.
                let duration = last_capture
                    .insert((kind, layer), f.capture_us)
                    .map(|prev| Duration::from_micros(f.capture_us.saturating_sub(prev)))
                    .unwrap_or(Duration::from_millis(33));
                (kind, layer, f.data, duration, PT_H264)
            }
            Encoded::Audio(f) => {
                if !inner.microphone_on.load(Ordering::Relaxed) {
                    continue;
                }
                (
                    TrackKind::Microphone,
                    0,
                    f.data,
                    Duration::from_millis(20),
                    PT_OPUS,
                )
            }
        };
        let Some(local) = link.tracks.iter().find(|t| t.kind == kind) else {
            continue;
        };
        let Some(&ssrc) = local.ssrcs.get(layer) else {
            continue;
        };
        let sample = Sample {
            data: data.into(),
            duration,
            ..Sample::new(Instant::now())
        };
        let extensions = local.extensions(layer);
        if let Err(e) = local
            .track
            .write_sample(ssrc, pt, &sample, &extensions)
            .await
        {
            tracing::debug!("writing {kind:?}: {e}");
        }
    }
}
