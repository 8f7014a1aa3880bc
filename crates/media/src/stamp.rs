//! The frame stamp the synthetic video source draws, so that a receiver (a browser
//! reading a canvas, or our own decoder) can tell which frame it shows and when it was
//! captured. It survives H.264 at low bitrates because each bit is a large flat block.
//!
//! Geometry, for a frame of width `W` and height `H`:
//! - 64 blocks per row, `bw = floor(W / 64)` pixels wide; rows are
//!   `bh = max(8, floor(H / 24))` pixels tall; row `r` covers `y ∈ [r·bh, (r+1)·bh)` and
//!   block `i` covers `x ∈ [i·bw, (i+1)·bw)`.
//! - A block is white for 1 and black for 0. A reader averages the luma of the centre
//!   half of the block (`x0 = i·bw + floor(bw/4)`, width `max(1, floor(bw/2))`, likewise
//!   in y) and reads 1 when the mean is above 128.
//! - Row 0: the 32-bit frame counter, most significant bit first, then its bitwise
//!   complement (a check).
//! - Row 1: the capture time in ms since the Unix epoch as 48 bits, most significant
//!   first, then a 16-bit check: the sum of those six bytes, mod 2^16.
//!
//! `tests/e2e/teacher-core.test.mjs` holds the JavaScript twin of [`read_stamp_from_luma`].

pub const COLUMNS: u32 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameStamp {
    pub counter: u32,
    pub capture_ms: u64,
}

pub fn block_size(width: u32, height: u32) -> (u32, u32) {
    ((width / COLUMNS).max(1), (height / 24).max(8))
}

fn rows(stamp: FrameStamp) -> [u64; 2] {
    let row0 = (u64::from(stamp.counter) << 32) | u64::from(!stamp.counter);
    let ts = stamp.capture_ms & 0xffff_ffff_ffff;
    let check = (0..6).map(|k| (ts >> (8 * k)) & 0xff).sum::<u64>() & 0xffff;
    [row0, (ts << 16) | check]
}

/// Draws the stamp into an RGBA picture (`stride` bytes per row).
pub fn draw_rgba(rgba: &mut [u8], width: u32, height: u32, stride: usize, stamp: FrameStamp) {
    let (bw, bh) = block_size(width, height);
    for (r, bits) in rows(stamp).into_iter().enumerate() {
        for i in 0..COLUMNS {
            let on = (bits >> (63 - i)) & 1 == 1;
            let value = if on { 255 } else { 0 };
            for y in (r as u32 * bh)..((r as u32 + 1) * bh).min(height) {
                let row = &mut rgba[y as usize * stride..];
                let x0 = (i * bw) as usize * 4;
                let x1 = (((i + 1) * bw).min(width)) as usize * 4;
                for px in row[x0..x1].chunks_exact_mut(4) {
                    px.copy_from_slice(&[value, value, value, 255]);
                }
            }
        }
    }
}

/// Reads a stamp back from a luma plane; `None` when a check fails (no stamp, or a
/// picture too damaged to trust).
pub fn read_stamp_from_luma(y: &[u8], width: u32, height: u32) -> Option<FrameStamp> {
    let (bw, bh) = block_size(width, height);
    if 2 * bh > height || COLUMNS * bw > width {
        return None;
    }
    let bit = |r: u32, i: u32| -> u64 {
        let (x0, y0) = (i * bw + bw / 4, r * bh + bh / 4);
        let (w, h) = ((bw / 2).max(1), (bh / 2).max(1));
        let mut sum = 0u64;
        for yy in y0..y0 + h {
            let row = &y[(yy * width) as usize..];
            sum += row[x0 as usize..(x0 + w) as usize]
                .iter()
                .map(|&p| u64::from(p))
                .sum::<u64>();
        }
        u64::from(sum / u64::from(w * h) > 128)
    };
    let read = |r: u32| (0..COLUMNS).fold(0u64, |acc, i| (acc << 1) | bit(r, i));
    let (row0, row1) = (read(0), read(1));
    let counter = (row0 >> 32) as u32;
    if !counter != row0 as u32 {
        return None;
    }
    let ts = row1 >> 16;
    let expect = rows(FrameStamp {
        counter,
        capture_ms: ts,
    })[1];
    (expect == row1).then_some(FrameStamp {
        counter,
        capture_ms: ts,
    })
}
