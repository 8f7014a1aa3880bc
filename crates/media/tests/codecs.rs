//! Real codecs end to end: the synthetic pattern's stamp survives H.264 encoding and
//! decoding, and VP8 produced by ffmpeg (libvpx) decodes to the right pictures.

use std::process::Command;

use aula_media::stamp::read_stamp_from_luma;
use aula_media::{
    H264Decoder, H264Encoder, SyntheticPattern, VideoDecoder, VideoSettings, VideoSource,
    captured_to_i420,
};

#[test]
fn the_stamp_survives_h264_and_counts_every_frame() {
    let settings = VideoSettings::camera(640, 360);
    let mut source = SyntheticPattern::new(640, 360);
    let mut encoder = H264Encoder::new(&settings).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut counters = Vec::new();
    for i in 0..30 {
        let frame = captured_to_i420(&source.capture().unwrap()).unwrap();
        let Some(encoded) = encoder.encode(&frame, i == 0).unwrap() else {
            continue;
        };
        assert_eq!(
            encoded.keyframe,
            i == 0,
            "only the first frame is a keyframe"
        );
        if let Some(decoded) = decoder.decode(&encoded.data).unwrap() {
            assert_eq!((decoded.width, decoded.height), (640, 360));
            let stamp = read_stamp_from_luma(&decoded.y, decoded.width, decoded.height)
                .expect("a readable stamp after H.264");
            assert!(
                stamp.capture_ms > 1_600_000_000_000,
                "a wall-clock capture time"
            );
            counters.push(stamp.counter);
        }
    }
    assert!(counters.len() >= 25, "most frames decode: {counters:?}");
    assert!(
        counters.windows(2).all(|w| w[1] > w[0]),
        "counters strictly advance: {counters:?}"
    );
}

#[test]
fn a_frame_of_the_wrong_size_is_refused_not_encoded() {
    let mut encoder = H264Encoder::new(&VideoSettings::camera(640, 360)).unwrap();
    let mut source = SyntheticPattern::new(320, 180);
    let frame = captured_to_i420(&source.capture().unwrap()).unwrap();
    let err = encoder.encode(&frame, false).unwrap_err();
    assert!(err.to_string().contains("320x180"), "{err}");
}

#[test]
fn garbage_is_a_decode_error_not_a_crash() {
    let mut h264 = VideoDecoder::h264().unwrap();
    let mut vp8 = VideoDecoder::vp8().unwrap();
    let junk: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
    // Either refused or silently skipped; never a panic, and the decoder stays usable.
    let _ = h264.decode(&junk);
    assert!(vp8.decode(&junk).is_err(), "libvpx refuses a non-VP8 frame");
}

/// Frames of an IVF file (32-byte header, then 12-byte frame headers).
fn ivf_frames(data: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&data[0..4], b"DKIF", "an IVF file");
    let mut out = Vec::new();
    let mut at = 32;
    while at + 12 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        at += 12;
        out.push(&data[at..at + len]);
        at += len;
    }
    out
}

#[test]
fn vp8_from_libvpx_decodes_to_the_right_picture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("red.ivf");
    // A solid red picture: its colour is checkable after decoding.
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "color=c=red:s=320x240:r=30:d=1", "-c:v", "libvpx"])
        .args(["-b:v", "500k", "-f", "ivf"])
        .arg(&path)
        .status()
        .expect("ffmpeg is installed by scripts/setup.sh --test");
    assert!(status.success());
    let data = std::fs::read(&path).unwrap();
    let mut decoder = VideoDecoder::vp8().unwrap();
    let mut decoded = 0;
    for frame in ivf_frames(&data) {
        if let Some(pic) = decoder.decode(frame).unwrap() {
            assert_eq!((pic.width, pic.height), (320, 240));
            // Red in BT.601 limited range: Y ≈ 81, U ≈ 90, V ≈ 240.
            let mid = |plane: &[u8], w: u32, h: u32| plane[(h / 2 * w + w / 2) as usize];
            let (y, v) = (mid(&pic.y, 320, 240), mid(&pic.v, 160, 120));
            assert!((70..=95).contains(&y), "luma of red: {y}");
            assert!(v > 200, "red chroma: {v}");
            decoded += 1;
        }
    }
    assert_eq!(decoded, 30);
}
