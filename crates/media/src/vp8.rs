//! VP8 decoding with the system's libvpx: browsers publish VP8 unless told otherwise,
//! and the SFU forwards what they send.

use std::mem::MaybeUninit;
use std::ptr;

use vpx_sys as vpx;

use crate::MediaError;
use crate::frame::I420Frame;

pub struct Vp8Decoder {
    // Boxed: libvpx keeps pointers into the context, so it must not move.
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

// The context is only touched through &mut self.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self, MediaError> {
        // SAFETY: a zeroed context is what vpx_codec_dec_init_ver expects to fill.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        // SAFETY: valid context pointer, the VP8 interface, default config.
        let err = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                ptr::null(),
                0,
                vpx::VPX_DECODER_ABI_VERSION as i32,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(MediaError::Decode(format!("VP8 decoder init: {err:?}")));
        }
        Ok(Vp8Decoder { ctx })
    }

    /// Decodes one frame; `None` when libvpx produced no picture for it.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, MediaError> {
        if data.is_empty() {
            return Ok(None);
        }
        // SAFETY: data outlives the call; the context was initialised in new().
        let err = unsafe {
            vpx::vpx_codec_decode(
                &mut *self.ctx,
                data.as_ptr(),
                data.len() as u32,
                ptr::null_mut(),
                0,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(MediaError::Decode(format!("VP8: {err:?}")));
        }
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        let mut last = None;
        loop {
            // SAFETY: iterating the frames of the decode call above.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: libvpx returned a valid image, alive until the next decode.
            let img = unsafe { &*img };
            if img.fmt != vpx::vpx_img_fmt_t::VPX_IMG_FMT_I420 {
                return Err(MediaError::Decode(format!("VP8 picture in {:?}", img.fmt)));
            }
            let (w, h) = (img.d_w as usize, img.d_h as usize);
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let plane = |i: usize, pw: usize, ph: usize| {
                let stride = img.stride[i] as usize;
                let mut out = Vec::with_capacity(pw * ph);
                for row in 0..ph {
                    // SAFETY: each plane holds `ph` rows of `stride` bytes.
                    let src =
                        unsafe { std::slice::from_raw_parts(img.planes[i].add(row * stride), pw) };
                    out.extend_from_slice(src);
                }
                out
            };
            last = Some(I420Frame {
                width: w as u32,
                height: h as u32,
                y: plane(0, w, h),
                u: plane(1, cw, ch),
                v: plane(2, cw, ch),
                capture_us: 0,
            });
        }
        Ok(last)
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in new(), destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A decoder for whichever codec a student's track arrived in.
pub enum VideoDecoder {
    H264(crate::h264::H264Decoder),
    Vp8(Vp8Decoder),
}

impl VideoDecoder {
    pub fn h264() -> Result<Self, MediaError> {
        Ok(VideoDecoder::H264(crate::h264::H264Decoder::new()?))
    }

    pub fn vp8() -> Result<Self, MediaError> {
        Ok(VideoDecoder::Vp8(Vp8Decoder::new()?))
    }

    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, MediaError> {
        match self {
            VideoDecoder::H264(d) => d.decode(data),
            VideoDecoder::Vp8(d) => d.decode(data),
        }
    }
}
