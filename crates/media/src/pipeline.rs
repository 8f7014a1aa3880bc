//! Capture → convert → (scale) → encode on a thread of its own, paced by a clock, with a
//! control handle for keyframe requests and the bitrate the connection allows.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::MediaError;
use crate::audio::{EncodedAudio, OpusEncoder, To48kMono};
use crate::convert::captured_to_i420_scaled;
use crate::h264::{EncodedVideo, H264Encoder, VideoSettings};
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

struct Shared {
    keyframe: AtomicBool,
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

type OnVideo = Box<dyn FnMut(EncodedVideo) + Send>;
type OnError = Box<dyn FnMut(MediaError) + Send>;

impl VideoPipeline {
    pub fn start(
        mut source: Box<dyn VideoSource>,
        settings: VideoSettings,
        mut on_frame: OnVideo,
        mut on_error: OnError,
    ) -> Result<VideoPipeline, MediaError> {
        let shared = Arc::new(Shared {
            keyframe: AtomicBool::new(true),
            target_bps: AtomicU32::new(settings.bitrate_bps),
            stop: AtomicBool::new(false),
            stats: Mutex::new(PipelineStats::default()),
            frames_encoded: AtomicU64::new(0),
        });
        // Fail now, not on the thread, when the settings cannot be encoded.
        let mut encoder = H264Encoder::new(&settings)?;
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("encode {:?}", settings.content))
            .spawn(move || {
                let interval = Duration::from_secs_f32(1.0 / settings.fps.max(1.0));
                let mut next = Instant::now();
                let mut step = (1, 1);
                let mut applied_bps = settings.bitrate_bps;
                while !s.stop.load(Ordering::Relaxed) {
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
                    let want_step = ladder_step(target, settings.bitrate_bps);
                    if want_step != step {
                        let (n, d) = want_step;
                        let scaled = VideoSettings {
                            width: (settings.width * n / d).max(16) & !1,
                            height: (settings.height * n / d).max(16) & !1,
                            bitrate_bps: target,
                            ..settings
                        };
                        match H264Encoder::new(&scaled) {
                            Ok(e) => {
                                encoder = e;
                                step = want_step;
                                applied_bps = target;
                            }
                            Err(e) => tracing::warn!("cannot rescale the encoder: {e}"),
                        }
                    } else if target.abs_diff(applied_bps) > applied_bps / 20 {
                        if let Err(e) = encoder.set_bitrate(target) {
                            tracing::warn!("{e}");
                        }
                        applied_bps = target;
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
                    let (w, h) = encoder.size();
                    let frame = match captured_to_i420_scaled(&captured, Some((w, h))) {
                        Ok(f) => f,
                        Err(e) => {
                            on_error(e);
                            break;
                        }
                    };
                    let t2 = thread_cpu_us();
                    let force = s.keyframe.swap(false, Ordering::Relaxed);
                    let encoded = encoder.encode(&frame, force);
                    let t3 = thread_cpu_us();
                    let mut st = s.stats.lock().unwrap_or_else(|p| p.into_inner());
                    st.frames_captured += 1;
                    st.capture_cpu_us += t1 - t0;
                    st.convert_cpu_us += t2 - t1;
                    st.encode_cpu_us += t3 - t2;
                    st.width = w;
                    st.height = h;
                    match encoded {
                        Ok(Some(out)) => {
                            st.frames_encoded += 1;
                            st.bytes += out.data.len() as u64;
                            drop(st);
                            s.frames_encoded.fetch_add(1, Ordering::Relaxed);
                            on_frame(out);
                        }
                        Ok(None) => {
                            st.frames_dropped += 1;
                            // A skipped forced keyframe must still come.
                            if force {
                                s.keyframe.store(true, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            drop(st);
                            on_error(e);
                            break;
                        }
                    }
                }
            })
            .map_err(|e| MediaError::Unsupported(format!("no encoder thread: {e}")))?;
        Ok(VideoPipeline {
            worker: Worker::new(shared, thread),
        })
    }

    pub fn request_keyframe(&self) {
        self.worker.shared.keyframe.store(true, Ordering::Relaxed);
    }

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
            keyframe: AtomicBool::new(false),
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
}
