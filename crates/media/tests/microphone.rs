//! A real cpal capture through ALSA, from a fake microphone: ALSA's `file` plugin reads a
//! raw 440 Hz sine (S16, mono, 48 kHz) as if it were a sound card, and cpal really
//! captures it. This file is its own
//! test binary because ALSA reads `ALSA_CONFIG_PATH` once per process.

use std::f32::consts::TAU;
use std::time::Duration;

use aula_media::{AudioSource, MicrophoneSource};

const HZ: f32 = 440.0;

/// Five seconds of the sine.
fn sine() -> Vec<i16> {
    (0..48_000 * 5)
        .map(|i| ((i as f32 * TAU * HZ / 48_000.0).sin() * 12_000.0) as i16)
        .collect()
}

fn fake_microphone(dir: &std::path::Path) {
    let raw = dir.join("sine.raw");
    let samples: Vec<u8> = sine().into_iter().flat_map(i16::to_le_bytes).collect();
    std::fs::write(&raw, samples).unwrap();
    // The plug above the file plugin pins the file's format and converts to whatever
    // cpal asks for.
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
    slave {{
      pcm "filemic"
      format S16_LE
      channels 1
      rate 48000
    }}
  }}
}}
"#,
        raw.display()
    );
    let path = dir.join("asound.conf");
    std::fs::write(&path, conf).unwrap();
    // SAFETY: set before any thread of this test binary touches ALSA or the environment.
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", &path) };
}

#[test]
fn cpal_captures_the_fake_microphone() {
    let dir = tempfile::tempdir().unwrap();
    fake_microphone(dir.path());
    let mut mic = MicrophoneSource::open(None).expect("the fake ALSA microphone opens");
    let info = mic.info();
    assert!(info.paced, "a device delivers on its own clock");
    let channels = usize::from(info.channels);
    // The file has no clock: count samples, not seconds.
    let want = info.sample_rate as usize; // one second of frames
    let mut mono = Vec::with_capacity(want);
    let started = std::time::Instant::now();
    let mut blocks = 0;
    while mono.len() < want && started.elapsed() < Duration::from_secs(60) {
        let block = mic
            .read(Duration::from_secs(2))
            .expect("samples keep coming");
        mono.extend(block.samples.chunks(channels).map(|c| c[0]));
        blocks += 1;
    }
    eprintln!(
        "{} Hz x{channels}: {} samples in {blocks} blocks",
        info.sample_rate,
        mono.len()
    );
    assert!(mono.len() >= want, "got {} of {want} samples", mono.len());
    // That source has no clock, so it runs far ahead of the reader and the source's
    // bounded queue drops blocks, as it must rather than grow; so pitch is not checked
    // here, only that a real, loud, two-sided signal arrives through cpal.
    let peak = mono.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 11_000, "the sine's level comes through: peak {peak}");
    assert!(mono.iter().any(|&s| s < -11_000), "both half-waves arrive");
}
