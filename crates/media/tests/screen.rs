//! Screen capture through xcap from a real X server: an Xvfb of this test's own, its root
//! an 800x600 screen. Its own test binary because it sets
//! `DISPLAY`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aula_media::{DeviceKind, MediaError, PixelFormat, open_screen};

struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so that Xvfb removes its lock file and socket.
        // SAFETY: the pid is our own child, not yet waited for.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on the first free display number from 140 (bounded tries).
fn start_xvfb() -> (Xvfb, String) {
    for n in 140..180 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", "800x600x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed by scripts/setup.sh --test");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return (Xvfb(child), format!(":{n}"));
            }
            if child.try_wait().unwrap().is_some() {
                break; // taken meanwhile: try the next one
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no free X display between :140 and :179");
}

#[test]
fn xcap_captures_a_real_x_screen_and_a_missing_one_is_a_typed_error() {
    // No X server at all: a clear error, not a panic.
    // SAFETY: this test binary has one test; nothing else reads the environment now.
    unsafe { std::env::set_var("DISPLAY", ":179") };
    match open_screen(None) {
        Err(e) => assert!(
            matches!(
                e,
                MediaError::NoDevice {
                    kind: DeviceKind::Screen
                } | MediaError::DeviceLost {
                    kind: DeviceKind::Screen,
                    ..
                }
            ),
            "{e:?}"
        ),
        Ok(_) => panic!("a screen on a display that does not exist"),
    }

    let (_xvfb, display) = start_xvfb();
    // SAFETY: as above.
    unsafe { std::env::set_var("DISPLAY", &display) };
    let mut screen = open_screen(None).expect("the Xvfb screen opens");
    let info = screen.info();
    assert_eq!((info.width, info.height), (800, 600));
    // A server that has only just opened its socket may drop the first connections:
    // a few tries, bounded.
    let mut frame = screen.capture();
    for _ in 0..20 {
        if frame.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        frame = screen.capture();
    }
    let frame = frame.expect("a capture");
    assert_eq!((frame.width, frame.height), (800, 600));
    assert_eq!(frame.format, PixelFormat::Rgba);
    assert_eq!(frame.data.len(), (frame.stride * frame.height) as usize);
}
