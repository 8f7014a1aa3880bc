//! A real H.264 stream for the load: encoded once by ffmpeg (libx264, constrained
//! baseline, no B-frames), split into one Annex B access unit per frame.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Encodes `seconds` of ffmpeg's test pattern at 640x360, 30 fps, about `kbps`.
pub fn encode_test_stream(out: &Path, seconds: u32, kbps: u32) -> anyhow::Result<Vec<Vec<u8>>> {
    if !out.exists() {
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=640x360:rate=30:duration={seconds}"))
            .args([
                "-c:v",
                "libx264",
                "-profile:v",
                "baseline",
                "-bf",
                "0",
                "-g",
                "60",
                "-tune",
                "zerolatency",
            ])
            .args([
                "-b:v",
                &format!("{kbps}k"),
                "-maxrate",
                &format!("{kbps}k"),
                "-bufsize",
                &format!("{}k", kbps / 2),
            ])
            .args(["-f", "h264"])
            .arg(out)
            .status()
            .context("running ffmpeg (apt-get install ffmpeg)")?;
        if !status.success() {
            bail!("ffmpeg failed to encode the test stream");
        }
    }
    let bytes = std::fs::read(out).with_context(|| format!("reading {}", out.display()))?;
    let frames = split_access_units(&bytes);
    if frames.is_empty() {
        bail!("no frames in {}", out.display());
    }
    Ok(frames)
}

/// Splits an Annex B stream into access units: parameter sets and SEI travel with the
/// slice that follows them; each slice starting at macroblock 0 begins a new frame.
pub fn split_access_units(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut has_slice = false;
    for nal in nal_units(stream) {
        let Some(&header) = nal.first() else { continue };
        let kind = header & 0x1f;
        let is_slice = kind == 1 || kind == 5;
        // first_mb_in_slice is ue(v); its first bit set means value 0.
        let starts_frame = is_slice && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        if has_slice && (starts_frame || !is_slice) {
            frames.push(std::mem::take(&mut current));
            has_slice = false;
        }
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
        has_slice |= is_slice;
    }
    if has_slice {
        frames.push(current);
    }
    frames
}

fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&n| n - 3);
        // A 4-byte start code leaves one zero behind.
        while end > s && stream[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        out.push(&stream[s..end]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parameter_sets_with_the_next_slice() {
        // SPS, PPS, IDR slice (mb 0), slice (mb 0), slice (mb 0).
        let s = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0x88, 9, 0, 0, 0, 1, 0x41,
            0x9a, 8, 0, 0, 1, 0x41, 0x9b, 7,
        ];
        let f = split_access_units(&s);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[0],
            [
                0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88, 9
            ]
        );
        assert_eq!(f[2], [0, 0, 0, 1, 0x41, 0x9b, 7]);
    }
}
