//! The teacher app's media cost: capture + convert + encode CPU per frame, on the same
//! code the app runs (aula-media), against ffmpeg's libx264 on the same pictures.
//!
//! - camera: the synthetic test pattern at 1280x720 (what a camera hands over, RGBA);
//! - screen: a real X screen at 1920x1080 captured through xcap, on an Xvfb of our own
//!   showing a page of text (screens are mostly text; an empty screen would flatter us);
//! - audio: Opus on 20 ms frames of a tone.
//!
//! Frames are encoded back to back (unpaced) so the run is short; CPU is the process's
//! own user + system time over the run, which includes any encoder threads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aula_media::{
    AudioSource, Content, H264Encoder, I420Frame, Layer, OpusEncoder, SyntheticPattern, Tone,
    VideoSettings, VideoSource, camera_layers, captured_to_i420, captured_to_i420_scaled,
    scale_i420,
};

use crate::procstat;

#[derive(clap::Args, Clone)]
pub struct EncodeArgs {
    /// Frames per video case.
    #[arg(long, default_value_t = 300)]
    frames: u32,
    /// Skip the screen case (it needs Xvfb and ImageMagick).
    #[arg(long)]
    no_screen: bool,
    /// Size of the captured X screen.
    #[arg(long, default_value = "1920x1080")]
    screen_size: String,
}

struct VideoResult {
    name: &'static str,
    width: u32,
    height: u32,
    fps: f32,
    frames: u32,
    capture_us: f64,
    convert_us: f64,
    encode_us: f64,
    bytes: u64,
    x264_us: Option<f64>,
}

impl VideoResult {
    fn total_us(&self) -> f64 {
        self.capture_us + self.convert_us + self.encode_us
    }

    fn print(&self) {
        let total = self.total_us();
        let core = total * f64::from(self.fps) / 1e6 * 100.0;
        let kbps =
            self.bytes as f64 * 8.0 / (f64::from(self.frames) / f64::from(self.fps)) / 1000.0;
        println!(
            "{:<8} {}x{} @{} fps, {} frames: capture {:.2} ms + convert {:.2} ms + encode {:.2} ms = {:.2} ms/frame CPU ({:.0}% of a core at {} fps), {:.0} kbit/s",
            self.name,
            self.width,
            self.height,
            self.fps,
            self.frames,
            self.capture_us / 1000.0,
            self.convert_us / 1000.0,
            self.encode_us / 1000.0,
            total / 1000.0,
            core,
            self.fps,
            kbps
        );
        if let Some(x) = self.x264_us {
            println!(
                "{:<8} reference ffmpeg libx264 ultrafast (tune zerolatency/stillimage), 1 thread, same frames: {:.2} ms/frame encode; ratio openh264 encode / x264 = {:.2}x",
                "",
                x / 1000.0,
                self.encode_us / x
            );
        }
    }
}

/// CPU of this whole process (all threads), in µs.
fn process_cpu_us() -> u64 {
    procstat::cpu_micros(std::process::id()).unwrap_or(0)
}

/// Fine-grained CPU of the calling thread, in µs (capture and convert run here).
fn thread_cpu() -> u64 {
    aula_media::thread_cpu_us()
}

fn run_video(
    name: &'static str,
    source: &mut dyn VideoSource,
    settings: VideoSettings,
    frames: u32,
    keep_raw: Option<&Path>,
) -> anyhow::Result<VideoResult> {
    let mut encoder = H264Encoder::new(&settings)?;
    let mut raw = match keep_raw {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let (mut capture, mut convert, mut encode, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..frames {
        let t0 = thread_cpu();
        let captured = source.capture()?;
        let t1 = thread_cpu();
        let frame: I420Frame = captured_to_i420(&captured)?;
        let t2 = thread_cpu();
        // Encoder threads, if any, count too: take the process's CPU around the call.
        let p0 = process_cpu_us();
        let out = encoder.encode(&frame, i == 0)?;
        let p1 = process_cpu_us();
        let t3 = thread_cpu();
        capture += t1 - t0;
        convert += t2 - t1;
        // /proc ticks are 10 ms coarse; the thread clock is exact. Take the larger so
        // extra encoder threads cannot hide.
        encode += (t3 - t2).max(p1.saturating_sub(p0));
        bytes += out.map(|o| o.data.len() as u64).unwrap_or(0);
        if let Some(w) = raw.as_mut() {
            w.write_all(&frame.y)?;
            w.write_all(&frame.u)?;
            w.write_all(&frame.v)?;
        }
    }
    if let Some(mut w) = raw {
        w.flush()?;
    }
    let n = f64::from(frames);
    let (width, height) = encoder.size();
    Ok(VideoResult {
        name,
        width,
        height,
        fps: settings.fps,
        frames,
        capture_us: capture as f64 / n,
        convert_us: convert as f64 / n,
        encode_us: encode as f64 / n,
        bytes,
        x264_us: None,
    })
}

/// The teacher app's simulcast camera: one capture and one conversion at the top size,
/// then a scale and an encode per layer, as `VideoPipeline` does. Returns the per-frame totals over every layer.
fn run_simulcast(
    source: &mut dyn VideoSource,
    layers: &[Layer],
    frames: u32,
) -> anyhow::Result<VideoResult> {
    let mut encoders = layers
        .iter()
        .map(|l| H264Encoder::new(&l.settings))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut capture, mut convert, mut encode, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..frames {
        let t0 = thread_cpu();
        let captured = source.capture()?;
        capture += thread_cpu() - t0;
        // As the pipeline: the top layer from the capture, the others scaled from it.
        let t1 = thread_cpu();
        let top = captured_to_i420_scaled(&captured, encoders.last().map(|e| e.size()))?;
        convert += thread_cpu() - t1;
        for e in &mut encoders {
            let t1 = thread_cpu();
            let (w, h) = e.size();
            let frame = scale_i420(&top, w, h)?;
            let t2 = thread_cpu();
            let p0 = process_cpu_us();
            let out = e.encode(&frame, i == 0)?;
            let p1 = process_cpu_us();
            let t3 = thread_cpu();
            convert += t2 - t1;
            encode += (t3 - t2).max(p1.saturating_sub(p0));
            bytes += out.map(|o| o.data.len() as u64).unwrap_or(0);
        }
    }
    let n = f64::from(frames);
    let top = &layers[layers.len() - 1].settings;
    Ok(VideoResult {
        name: "simulcast",
        width: top.width,
        height: top.height,
        fps: top.fps,
        frames,
        capture_us: capture as f64 / n,
        convert_us: convert as f64 / n,
        encode_us: encode as f64 / n,
        bytes,
        x264_us: None,
    })
}

/// The reference, or why there is none.
fn reference(raw: &Path, s: &VideoSettings, frames: u32) -> Option<f64> {
    x264_reference(raw, s, frames)
        .inspect_err(|e| println!("         no x264 reference: {e:#}"))
        .ok()
}

/// ffmpeg libx264 on the same I420 frames, one thread, its CPU from its own rusage.
fn x264_reference(raw: &Path, s: &VideoSettings, frames: u32) -> anyhow::Result<f64> {
    let tune = match s.content {
        Content::Camera => "zerolatency",
        Content::Screen => "stillimage",
    };
    let started = Instant::now();
    let child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-s", &format!("{}x{}", s.width, s.height)])
        .args(["-r", &format!("{}", s.fps), "-i"])
        .arg(raw)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            tune,
            "-threads",
            "1",
        ])
        .args(["-b:v", &s.bitrate_bps.to_string(), "-f", "null", "-"])
        .stdout(Stdio::null())
        .spawn()
        .context("running ffmpeg (apt-get install ffmpeg)")?;
    let (status, cpu_us) = wait_with_cpu(child)?;
    if !status.success() {
        bail!("ffmpeg failed: {status}");
    }
    // Decoding raw frames costs next to nothing; the wall time bounds it.
    let _ = started.elapsed();
    Ok(cpu_us as f64 / f64::from(frames))
}

/// Waits for a child and returns its user + system CPU time.
fn wait_with_cpu(mut child: Child) -> anyhow::Result<(std::process::ExitStatus, u64)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child; status and usage are valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        // Fall back to the ordinary wait so the child is reaped.
        let st = child.wait()?;
        return Ok((st, 0));
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    use std::os::unix::process::ExitStatusExt;
    Ok((std::process::ExitStatus::from_raw(status), cpu))
}

/// An Xvfb of our own, showing a page of text.
struct OwnScreen {
    xvfb: Child,
    display: String,
    viewer: Option<Child>,
}

impl OwnScreen {
    fn start(width: u32, height: u32, dir: &Path) -> anyhow::Result<OwnScreen> {
        let (xvfb, display) = start_xvfb(width, height)?;
        let screen = OwnScreen {
            xvfb,
            display,
            viewer: None,
        };
        let text: String = (0..120)
            .map(|i| format!("{i:03}  The quick brown fox jumps over the lazy dog; x = (a + b)^2 = a^2 + 2ab + b^2  "))
            .collect::<Vec<_>>()
            .join("\n");
        let page = dir.join("screen-page.png");
        let ok = Command::new("convert")
            .args([
                "-size",
                &format!("{width}x{height}"),
                "xc:white",
                "-fill",
                "black",
            ])
            // A font file rather than a name: ImageMagick's default (Helvetica) is often absent.
            .args([
                "-font",
                "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
            ])
            .args(["-pointsize", "15", "-annotate", "+20+20"])
            .arg(&text)
            .arg(&page)
            .status()
            .context("running ImageMagick convert")?;
        if !ok.success() {
            bail!("convert failed");
        }
        // `display` exits 1 after painting the root window; the capture shows the page.
        // A window showing the page (no window manager: it sits at 0,0). Painting the
        // root window instead (`display -window root`) breaks xcap's next capture.
        let viewer = Command::new("display")
            .env("DISPLAY", &screen.display)
            .args(["-geometry", &format!("{width}x{height}+0+0")])
            .arg(&page)
            .stderr(Stdio::null())
            .spawn()
            .context("running ImageMagick display")?;
        let mut screen = screen;
        screen.viewer = Some(viewer);
        // Let it map before the first capture.
        std::thread::sleep(Duration::from_secs(1));
        Ok(screen)
    }
}

impl Drop for OwnScreen {
    fn drop(&mut self) {
        if let Some(v) = self.viewer.as_mut() {
            let _ = v.kill();
            let _ = v.wait();
        }
        // SIGTERM, so that Xvfb removes its lock file and socket.
        // SAFETY: the pid is our own child, not yet waited for.
        unsafe { libc::kill(self.xvfb.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.xvfb.wait();
    }
}

/// Xvfb on the first free display number from 150 (bounded tries), once its socket is up.
fn start_xvfb(width: u32, height: u32) -> anyhow::Result<(Child, String)> {
    for n in 150..190 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args([
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (apt-get install xvfb)")?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return Ok((child, format!(":{n}")));
            }
            if child.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    bail!("no free X display between :150 and :189")
}

pub fn run(args: EncodeArgs) -> anyhow::Result<()> {
    let dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&dir)?;
    println!(
        "aula-media capture + convert + encode, {} frames per case, unpaced, on {} cores",
        args.frames,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // Camera: 720p30.
    let settings = VideoSettings::camera_720p();
    let raw = dir.join("camera-720p.yuv");
    let mut pattern = SyntheticPattern::new(settings.width, settings.height);
    let mut camera = run_video("camera", &mut pattern, settings, args.frames, Some(&raw))?;
    camera.x264_us = reference(&raw, &settings, args.frames);
    let _ = std::fs::remove_file(&raw);
    camera.print();

    // The same camera as the app sends it: three simulcast layers from one capture.
    let layers = camera_layers(settings);
    let mut pattern = SyntheticPattern::new(settings.width, settings.height);
    let simulcast = run_simulcast(&mut pattern, &layers, args.frames)?;
    simulcast.print();
    println!(
        "{:<8} layers {}; ratio simulcast / one 720p encoding = {:.2}x per frame (capture + convert + encode)",
        "",
        layers
            .iter()
            .map(|l| format!("{} {}x{}", l.rid, l.settings.width, l.settings.height))
            .collect::<Vec<_>>()
            .join(", "),
        simulcast.total_us() / camera.total_us()
    );

    if !args.no_screen {
        let (w, h) = args
            .screen_size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .context("--screen-size must look like 1920x1080")?;
        let settings = VideoSettings {
            width: w,
            height: h,
            ..VideoSettings::screen_1080p()
        };
        let screen = OwnScreen::start(settings.width, settings.height, &dir)?;
        // xcap reads $DISPLAY; nothing else in this process has started threads that
        // read the environment yet.
        // SAFETY: single-threaded at this point (the bench runs encode before any runtime).
        unsafe { std::env::set_var("DISPLAY", &screen.display) };
        let mut source = aula_media::open_screen(None).context("opening the X screen")?;
        let raw = dir.join("screen-1080p.yuv");
        let mut r = run_video("screen", source.as_mut(), settings, args.frames, Some(&raw))?;
        r.x264_us = reference(&raw, &settings, args.frames);
        let _ = std::fs::remove_file(&raw);
        drop(source);
        drop(screen);
        r.print();
    }

    // Audio: 10 s of 20 ms frames.
    let mut tone = Tone::new(440.0);
    let mut opus = OpusEncoder::new()?;
    let frames = 500u32;
    let t0 = thread_cpu();
    let mut bytes = 0usize;
    for _ in 0..frames {
        let f = tone.read(Duration::ZERO)?;
        bytes += opus.encode(&f.samples)?.len();
    }
    let us = (thread_cpu() - t0) as f64 / f64::from(frames);
    println!(
        "audio    Opus 48 kHz mono 32 kbit/s, {frames} x 20 ms: {:.3} ms/frame CPU = {:.0}x real time, {:.1} kbit/s",
        us / 1000.0,
        20_000.0 / us,
        bytes as f64 * 8.0 / (f64::from(frames) * 0.02) / 1000.0
    );
    Ok(())
}
