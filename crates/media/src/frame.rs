use std::time::{SystemTime, UNIX_EPOCH};

/// Planar YUV 4:2:0 (BT.601, limited range), tightly packed: the luma stride is the
/// width and the chroma stride half of it, rounded up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I420Frame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    /// When the picture was captured, in µs since the Unix epoch.
    pub capture_us: u64,
}

impl I420Frame {
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }

    pub fn chroma_height(&self) -> u32 {
        self.height.div_ceil(2)
    }

    /// A black frame, for tests and for sources that start before their first picture.
    pub fn black(width: u32, height: u32, capture_us: u64) -> I420Frame {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        I420Frame {
            width,
            height,
            y: vec![16; (width * height) as usize],
            u: vec![128; (cw * ch) as usize],
            v: vec![128; (cw * ch) as usize],
            capture_us,
        }
    }
}

/// How a capture backend hands over its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgba,
    Bgra,
    Rgb24,
    /// Packed YUV 4:2:2, what most webcams send uncompressed.
    Yuyv,
    I420,
}

/// One picture as a source captured it, before conversion.
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// Bytes per row of `data`.
    pub stride: u32,
    pub data: Vec<u8>,
    pub capture_us: u64,
}

/// Mono or interleaved 16-bit PCM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    pub channels: u16,
    pub capture_us: u64,
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
