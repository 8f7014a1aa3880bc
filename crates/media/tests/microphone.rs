//! A real cpal capture through ALSA, from a fake microphone: ALSA's `file` plugin reads a
//! raw 440 Hz sine (S16, mono, 48 kHz) as if it were a sound card. This file is its own
//! test binary because ALSA reads `ALSA_CONFIG_PATH` once per process.

use std::f32::consts::TAU;
use std::time::Duration;

use aula_media::{AudioSource, MicrophoneSource};

const HZ: f32 = 440.0;

fn fake_microphone(dir: &std::path::Path) {
    let sine = dir.join("sine.raw");
    let samples: Vec<u8> = (0..48_000 * 5)
        .flat_map(|i| {
            let s = ((i as f32 * TAU * HZ / 48_000.0).sin() * 12_000.0) as i16;
            s.to_le_bytes()
        })
        .collect();
    std::fs::write(&sine, samples).unwrap();
    // The plug above the file plugin pins the file's format and converts to whatever
    // cpal asks for, so channel 0 always carries the sine at its true pitch.
    let conf = format!(
        r#"
pcm.nul {{ type null }}
pcm.filemic {{
  type file
  slave.pcm "nul"
  file "/dev/null"
  infile "{}"
  format "raw"
}}
pcm.!default {{
  type asym
  playback.pcm "nul"
  capture.pcm {{
    type plug
    slave {{ pcm "filemic" format S16_LE channels 1 rate 48000 }}
  }}
}}
"#,
        sine.display()
    );
    let path = dir.join("asound.conf");
    std::fs::write(&path, conf).unwrap();
    // SAFETY: set before any thread of this test binary touches ALSA or the environment.
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", &path) };
}

#[test]
fn cpal_captures_the_fake_microphone_at_its_true_pitch() {
    let dir = tempfile::tempdir().unwrap();
    fake_microphone(dir.path());
    let mut mic = MicrophoneSource::open(None).expect("the fake ALSA microphone opens");
    let info = mic.info();
    assert!(info.paced, "a device delivers on its own clock");
    let channels = usize::from(info.channels);
    // The file has no clock: count samples, not seconds.
    let want = info.sample_rate as usize; // one second of frames
    let mut mono = Vec::with_capacity(want);
    for _ in 0..2000 {
        if mono.len() >= want {
            break;
        }
        let block = mic
            .read(Duration::from_secs(2))
            .expect("samples keep coming");
        mono.extend(block.samples.chunks(channels).map(|c| c[0]));
    }
    assert!(mono.len() >= want, "got {} of {want} samples", mono.len());
    let mono = &mono[..want];
    let crossings = mono.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    let hz = crossings as f32 / 2.0;
    assert!(
        (hz - HZ).abs() < 15.0,
        "pitch {hz} Hz at {} Hz x{} (want {HZ})",
        info.sample_rate,
        info.channels
    );
    let peak = mono.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 8000, "the sine's level comes through: peak {peak}");
}
