//! Capture → convert → (scale) → encode on a thread of its own, paced by a clock, with a
//! control handle for keyframe requests and the bitrate the connection allows.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::MediaError;
use crate::audio::{EncodedAudio, OpusEncoder, To48kMono};
use crate::convert::{captured_to_i420_scaled, scale_i420};
use crate::h264::{EncodedVideo, H264Encoder, VideoSettings, camera_bitrate};
use crate::source::{AudioSource, VideoSource};

/// Counters of one pipeline; CPU times are the pipeline thread's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub frames_captured: u64,
    pub frames_encoded: u64,
    /// Frames the encoder's rate control skipped or that could not be captured in time.
    pub frames_dropped: u64,
    pub bytes: u64,
    pub capture_cpu_us: u64,
    pub convert_cpu_us: u64,
    pub encode_cpu_us: u64,
    pub width: u32,
    pub height: u32,
    /// Each layer's own counters, lowest first (one for a video that is not simulcast).
    pub layers: Vec<LayerStats>,
}

/// This thread's CPU time, so that costs are measured, not guessed from wall time.
pub fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// The resolution step for a bitrate, as a fraction of full size: a link that carries
/// less gets fewer, sharper pixels rather than blocky ones.
///
/// | share of the full bitrate | size |
/// |---|---|
/// | ≥ 60 % | full |
/// | ≥ 30 % | 3/4 |
/// | ≥ 12 % | 1/2 |
/// | below  | 1/4 |
pub fn ladder_step(target_bps: u32, full_bps: u32) -> (u32, u32) {
    let share = f64::from(target_bps) / f64::from(full_bps.max(1));
    if share >= 0.6 {
        (1, 1)
    } else if share >= 0.3 {
        (3, 4)
    } else if share >= 0.12 {
        (1, 2)
    } else {
        (1, 4)
    }
}

/// One encoding of a video: its name on the wire (the simulcast rid; empty for a single
/// encoding), its size, and the bitrate it is sent at when the link allows.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub rid: String,
    pub settings: VideoSettings,
}

impl Layer {
    /// The only encoding of a video that is not simulcast.
    pub fn single(settings: VideoSettings) -> Vec<Layer> {
        vec![Layer {
            rid: String::new(),
            settings,
        }]
    }
}

/// The least a small layer is given.
const LAYER_MIN_BPS: u32 = 50_000;

/// Layers shorter than this are not worth a decoder's time: the next layer up is sent alone.
const MIN_LAYER_HEIGHT: u32 = 90;

/// A camera's simulcast layers, lowest first: quarter, half and full size, each with the
/// bitrate a camera of that size gets. The rids are the browser client's (q, h, f), so the
/// SFU treats the teacher app and a browser alike.
pub fn camera_layers(full: VideoSettings) -> Vec<Layer> {
    [("q", 4), ("h", 2), ("f", 1)]
        .into_iter()
        .filter(|&(_, d)| d == 1 || full.height / d >= MIN_LAYER_HEIGHT)
        .map(|(rid, d)| {
            let (width, height) = (
                (full.width / d).max(16) & !1,
                (full.height / d).max(16) & !1,
            );
            // A small layer needs little: a full camera's floor would make it cost as
            // much as the layer above it.
            let bitrate_bps = if d == 1 {
                full.bitrate_bps
            } else {
                camera_bitrate(width, height).clamp(LAYER_MIN_BPS, full.bitrate_bps)
            };
            Layer {
                rid: rid.to_owned(),
                settings: VideoSettings {
                    width,
                    height,
                    bitrate_bps,
                    ..full
                },
            }
        })
        .collect()
}

/// A layer above the lowest is sent only when it gets this share of its own bitrate:
/// starved, it would look worse than the layer below it and still cost the uplink.
const LAYER_MIN_SHARE: f64 = 0.4;

/// Each layer's bitrate for a `total` the uplink allows, lowest first, given each layer's
/// full bitrate: lower layers are filled first; `None` is a layer paused for lack of room,
/// and every layer above a paused one is paused too. The lowest layer always runs.
pub fn split_bitrate(total: u32, full: &[u32]) -> Vec<Option<u32>> {
    let mut left = total;
    let mut paused = false;
    full.iter()
        .enumerate()
        .map(|(i, &max)| {
            if paused || (i > 0 && f64::from(left) < f64::from(max) * LAYER_MIN_SHARE) {
                paused = true;
                return None;
            }
            let bps = left.min(max).max(1);
            left = left.saturating_sub(bps);
            Some(bps)
        })
        .collect()
}

/// What one layer of a pipeline has done, for diagnostics and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    pub rid: String,
    pub width: u32,
    pub height: u32,
    pub frames_encoded: u64,
    pub bytes: u64,
    /// Whether the layer is being sent (the uplink has room for it).
    pub active: bool,
}

struct Shared {
    /// One flag per layer.
    keyframe: Vec<AtomicBool>,
    target_bps: AtomicU32,
    stop: AtomicBool,
    stats: Mutex<PipelineStats>,
    frames_encoded: AtomicU64,
}

/// The thread of a pipeline and what it shares with its handle.
struct Worker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    fn new(shared: Arc<Shared>, thread: JoinHandle<()>) -> Worker {
        Worker {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    fn stats(&self) -> PipelineStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops and waits for the thread (one frame at most).
    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct VideoPipeline {
    worker: Worker,
}

/// Gets each encoded picture with the index of its layer.
type OnVideo = Box<dyn FnMut(usize, EncodedVideo) + Send>;
type OnError = Box<dyn FnMut(MediaError) + Send>;

/// One layer's encoder and how it was last set.
struct Encoding {
    layer: Layer,
    encoder: H264Encoder,
    /// The resolution step of a single encoding (see [`ladder_step`]).
    step: (u32, u32),
    applied_bps: u32,
    active: bool,
}

impl Encoding {
    /// A single encoding follows the bitrate down the resolution ladder.
    fn follow_ladder(&mut self, target: u32) {
        let full = self.layer.settings;
        let want = ladder_step(target, full.bitrate_bps);
        if want != self.step {
            let (n, d) = want;
            let scaled = VideoSettings {
                width: (full.width * n / d).max(16) & !1,
                height: (full.height * n / d).max(16) & !1,
                bitrate_bps: target,
                ..full
            };
            match H264Encoder::new(&scaled) {
                Ok(e) => {
                    self.encoder = e;
                    self.step = want;
                    self.applied_bps = target;
                }
                Err(e) => tracing::warn!("cannot rescale the encoder: {e}"),
            }
        } else {
            self.set_bitrate(target);
        }
    }

    fn set_bitrate(&mut self, bps: u32) {
        // Small changes are not worth resetting the encoder's rate control.
        if bps.abs_diff(self.applied_bps) > self.applied_bps / 20 {
            if let Err(e) = self.encoder.set_bitrate(bps) {
                tracing::warn!("{e}");
            }
            self.applied_bps = bps;
        }
    }
}

impl VideoPipeline {
    /// Starts encoding `layers` (lowest first) from one capture. A single layer adapts its
    /// size to the bitrate; several keep their sizes and share the bitrate, the highest
    /// paused first ([`split_bitrate`]).
    pub fn start(
        mut source: Box<dyn VideoSource>,
        layers: Vec<Layer>,
        mut on_frame: OnVideo,
        mut on_error: OnError,
    ) -> Result<VideoPipeline, MediaError> {
        let Some(top) = layers.last() else {
            return Err(MediaError::Unsupported("a video needs one layer".into()));
        };
        let full_total: u32 = layers.iter().map(|l| l.settings.bitrate_bps).sum();
        let fps = top.settings.fps;
        let name = format!("encode {:?}", top.settings.content);
        let shared = Arc::new(Shared {
            keyframe: layers.iter().map(|_| AtomicBool::new(true)).collect(),
            target_bps: AtomicU32::new(full_total),
            stop: AtomicBool::new(false),
            stats: Mutex::new(PipelineStats {
                layers: layers
                    .iter()
                    .map(|l| LayerStats {
                        rid: l.rid.clone(),
                        ..LayerStats::default()
                    })
                    .collect(),
                ..PipelineStats::default()
            }),
            frames_encoded: AtomicU64::new(0),
        });
        // Fail now, not on the thread, when the settings cannot be encoded.
        let mut encodings = layers
            .into_iter()
            .map(|layer| {
                Ok(Encoding {
                    encoder: H264Encoder::new(&layer.settings)?,
                    applied_bps: layer.settings.bitrate_bps,
                    layer,
                    step: (1, 1),
                    active: true,
                })
            })
            .collect::<Result<Vec<_>, MediaError>>()?;
        let full_bps: Vec<u32> = encodings
            .iter()
            .map(|e| e.layer.settings.bitrate_bps)
            .collect();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let interval = Duration::from_secs_f32(1.0 / fps.max(1.0));
                let mut next = Instant::now();
                'frames: while !s.stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep(next - now);
                    }
                    next += interval;
                    // Behind by more than a frame (a slow camera, a busy machine): skip
                    // ahead rather than burst.
                    if Instant::now() > next + interval {
                        next = Instant::now() + interval;
                        s.stats
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .frames_dropped += 1;
                    }
                    let target = s.target_bps.load(Ordering::Relaxed);
                    if let [only] = encodings.as_mut_slice() {
                        only.follow_ladder(target);
                    } else {
                        for (i, (e, bps)) in encodings
                            .iter_mut()
                            .zip(split_bitrate(target, &full_bps))
                            .enumerate()
                        {
                            match bps {
                                Some(bps) => {
                                    if !e.active {
                                        // A resumed layer starts on a keyframe.
                                        s.keyframe[i].store(true, Ordering::Relaxed);
                                    }
                                    e.active = true;
                                    e.set_bitrate(bps);
                                }
                                None => e.active = false,
                            }
                        }
                    }
                    let t0 = thread_cpu_us();
                    let captured = match source.capture() {
                        Ok(f) => f,
                        Err(e) => {
                            on_error(e);
                            break;
                        }
                    };
                    let t1 = thread_cpu_us();
                    let mut stats = s.stats.lock().unwrap_or_else(|p| p.into_inner());
                    stats.frames_captured += 1;
                    stats.capture_cpu_us += t1 - t0;
                    drop(stats);
                    let top = encodings.iter().rposition(|e| e.active).unwrap_or(0);
                    // The top layer is converted from the capture; the layers below are
                    // scaled from it as I420 (cheaper than scaling the capture again).
                    let t1 = thread_cpu_us();
                    let top_frame = match captured_to_i420_scaled(
                        &captured,
                        Some(encodings[top].encoder.size()),
                    ) {
                        Ok(f) => f,
                        Err(err) => {
                            on_error(err);
                            break 'frames;
                        }
                    };
                    s.stats
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .convert_cpu_us += thread_cpu_us() - t1;
                    let mut top_frame = Some(top_frame);
                    for (i, e) in encodings.iter_mut().enumerate() {
                        if !e.active {
                            s.stats.lock().unwrap_or_else(|p| p.into_inner()).layers[i].active =
                                false;
                            continue;
                        }
                        let t1 = thread_cpu_us();
                        let (w, h) = e.encoder.size();
                        let frame = if i == top {
                            top_frame.take().map(Ok)
                        } else {
                            top_frame.as_ref().map(|f| scale_i420(f, w, h))
                        };
                        let frame = match frame {
                            Some(Ok(f)) => f,
                            Some(Err(err)) => {
                                on_error(err);
                                break 'frames;
                            }
                            None => continue,
                        };
                        let t2 = thread_cpu_us();
                        let force = s.keyframe[i].swap(false, Ordering::Relaxed);
                        let encoded = e.encoder.encode(&frame, force);
                        let t3 = thread_cpu_us();
                        let mut st = s.stats.lock().unwrap_or_else(|p| p.into_inner());
                        st.convert_cpu_us += t2 - t1;
                        st.encode_cpu_us += t3 - t2;
                        // The pipeline's size is its top layer's.
                        st.width = w;
                        st.height = h;
                        let ls = &mut st.layers[i];
                        ls.width = w;
                        ls.height = h;
                        ls.active = true;
                        match encoded {
                            Ok(Some(out)) => {
                                ls.frames_encoded += 1;
                                ls.bytes += out.data.len() as u64;
                                // Counted once per captured picture, on its top layer.
                                if i == top {
                                    st.frames_encoded += 1;
                                }
                                st.bytes += out.data.len() as u64;
                                drop(st);
                                s.frames_encoded.fetch_add(1, Ordering::Relaxed);
                                on_frame(i, out);
                            }
                            Ok(None) => {
                                st.frames_dropped += 1;
                                // A skipped forced keyframe must still come.
                                if force {
                                    s.keyframe[i].store(true, Ordering::Relaxed);
                                }
                            }
                            Err(err) => {
                                drop(st);
                                on_error(err);
                                break 'frames;
                            }
                        }
                    }
                }
            })
            .map_err(|e| MediaError::Unsupported(format!("no encoder thread: {e}")))?;
        Ok(VideoPipeline {
            worker: Worker::new(shared, thread),
        })
    }

    /// A keyframe on every layer.
    pub fn request_keyframe(&self) {
        for k in &self.worker.shared.keyframe {
            k.store(true, Ordering::Relaxed);
        }
    }

    /// A keyframe on one layer (a viewer of that layer lost its picture).
    pub fn request_layer_keyframe(&self, layer: usize) {
        match self.worker.shared.keyframe.get(layer) {
            Some(k) => k.store(true, Ordering::Relaxed),
            None => self.request_keyframe(),
        }
    }

    /// What the uplink allows for the whole video, every layer together.
    pub fn set_target_bitrate(&self, bps: u32) {
        self.worker.shared.target_bps.store(bps, Ordering::Relaxed);
    }

    pub fn stats(&self) -> PipelineStats {
        self.worker.stats()
    }

    /// Stops and waits for the thread (one frame at most).
    pub fn stop(&self) {
        self.worker.stop();
    }
}

type OnAudio = Box<dyn FnMut(EncodedAudio) + Send>;

pub struct AudioPipeline {
    worker: Worker,
}

impl AudioPipeline {
    pub fn start(
        mut source: Box<dyn AudioSource>,
        mut on_frame: OnAudio,
        mut on_error: OnError,
    ) -> Result<AudioPipeline, MediaError> {
        let info = source.info();
        let mut to48k = To48kMono::new(info.sample_rate, info.channels)?;
        let mut encoder = OpusEncoder::new()?;
        let shared = Arc::new(Shared {
            keyframe: Vec::new(),
            target_bps: AtomicU32::new(32_000),
            stop: AtomicBool::new(false),
            stats: Mutex::new(PipelineStats::default()),
            frames_encoded: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("encode audio".into())
            .spawn(move || {
                let mut next = Instant::now();
                while !s.stop.load(Ordering::Relaxed) {
                    if !info.paced {
                        // An unpaced source (the tone) is paced here, at 20 ms.
                        let now = Instant::now();
                        if now < next {
                            std::thread::sleep(next - now);
                        }
                        next += Duration::from_millis(20);
                    }
                    let t0 = thread_cpu_us();
                    let block = match source.read(Duration::from_secs(2)) {
                        Ok(b) => b,
                        Err(e) => {
                            on_error(e);
                            break;
                        }
                    };
                    let frames = match to48k.push(&block.samples) {
                        Ok(f) => f,
                        Err(e) => {
                            on_error(e);
                            break;
                        }
                    };
                    let t1 = thread_cpu_us();
                    for pcm in frames {
                        match encoder.encode(&pcm) {
                            Ok(data) => {
                                {
                                    let mut st = s.stats.lock().unwrap_or_else(|p| p.into_inner());
                                    st.frames_encoded += 1;
                                    st.bytes += data.len() as u64;
                                }
                                on_frame(EncodedAudio {
                                    data,
                                    capture_us: block.capture_us,
                                });
                            }
                            Err(e) => tracing::warn!("{e}"),
                        }
                    }
                    let t2 = thread_cpu_us();
                    let mut st = s.stats.lock().unwrap_or_else(|p| p.into_inner());
                    st.frames_captured += 1;
                    st.capture_cpu_us += t1 - t0;
                    st.encode_cpu_us += t2 - t1;
                }
            })
            .map_err(|e| MediaError::Unsupported(format!("no audio thread: {e}")))?;
        Ok(AudioPipeline {
            worker: Worker::new(shared, thread),
        })
    }

    pub fn stats(&self) -> PipelineStats {
        self.worker.stats()
    }

    pub fn stop(&self) {
        self.worker.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_steps_down_with_the_bitrate() {
        assert_eq!(ladder_step(2_500_000, 2_500_000), (1, 1));
        assert_eq!(ladder_step(1_000_000, 2_500_000), (3, 4));
        assert_eq!(ladder_step(400_000, 2_500_000), (1, 2));
        assert_eq!(ladder_step(150_000, 2_500_000), (1, 4));
    }

    #[test]
    fn a_720p_camera_has_quarter_half_and_full_layers() {
        let layers = camera_layers(VideoSettings::camera_720p());
        let sizes: Vec<_> = layers
            .iter()
            .map(|l| (l.rid.as_str(), l.settings.width, l.settings.height))
            .collect();
        assert_eq!(sizes, [("q", 320, 180), ("h", 640, 360), ("f", 1280, 720)]);
        let bps: Vec<_> = layers.iter().map(|l| l.settings.bitrate_bps).collect();
        assert!(bps.windows(2).all(|w| w[0] < w[1]), "{bps:?}");
        // A small camera keeps only layers a viewer can use.
        let small = camera_layers(VideoSettings::camera(320, 240));
        assert_eq!(
            small.iter().map(|l| l.rid.as_str()).collect::<Vec<_>>(),
            ["h", "f"]
        );
    }

    #[test]
    fn the_top_layers_pause_first_when_the_uplink_shrinks() {
        let full = [150_000, 600_000, 2_500_000];
        assert_eq!(
            split_bitrate(10_000_000, &full),
            [Some(150_000), Some(600_000), Some(2_500_000)]
        );
        // 1.75 Mbit/s leaves 1 Mbit/s for the top: 40 % of it, still worth sending.
        assert_eq!(
            split_bitrate(1_750_000, &full),
            [Some(150_000), Some(600_000), Some(1_000_000)]
        );
        assert_eq!(
            split_bitrate(1_000_000, &full),
            [Some(150_000), Some(600_000), None]
        );
        assert_eq!(split_bitrate(300_000, &full), [Some(150_000), None, None]);
        assert_eq!(split_bitrate(50_000, &full), [Some(50_000), None, None]);
    }

    proptest::proptest! {
        #[test]
        fn a_split_never_exceeds_the_budget_nor_a_layer(
            total in 1u32..20_000_000,
            full in proptest::collection::vec(1u32..5_000_000, 1..4),
        ) {
            let split = split_bitrate(total, &full);
            proptest::prop_assert_eq!(split.len(), full.len());
            proptest::prop_assert!(split[0].is_some());
            let sum: u64 = split.iter().flatten().map(|&b| u64::from(b)).sum();
            proptest::prop_assert!(sum <= u64::from(total));
            for (b, m) in split.iter().zip(&full) {
                if let Some(b) = b {
                    proptest::prop_assert!(b <= m);
                }
            }
            // Once paused, every layer above is paused.
            if let Some(p) = split.iter().position(Option::is_none) {
                proptest::prop_assert!(split[p..].iter().all(Option::is_none));
            }
        }
    }
}
