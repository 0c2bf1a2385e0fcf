//! The opt-in reduced-size JPEG decode ([`DecodeMode::ReducedSize`](crate::DecodeMode)):
//! jpeg-decoder's DCT scaling to the smallest scale that still covers the target size.

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

/// The scales jpeg-decoder implements, in eighths of the full size, smallest first
/// (8/8 is the full decode, left to the exact path).
const SCALES: [u32; 3] = [1, 2, 4];

/// `ceil(len * eighths / 8)`: a side's length at a DCT scale (libjpeg's and
/// jpeg-decoder's rounding).
pub(crate) fn scaled_len(len: u32, eighths: u32) -> u32 {
    (len * eighths).div_ceil(8)
}

/// The smallest scale (in eighths: 1, 2, 4 or 8) at which a `width x height` JPEG decodes
/// to at least `target_width x target_height` in both dimensions; 8 (no reduction) when
/// only the full size does, or when that scale would not shrink the image at all (a
/// 1-pixel image is 1 pixel at every scale).
pub(crate) fn scale_eighths(width: u32, height: u32, target_width: usize, target_height: usize) -> u32 {
    let covers = |len: u32, eighths: u32, target: usize| scaled_len(len, eighths) as usize >= target;
    SCALES
        .into_iter()
        .find(|&s| covers(width, s, target_width) && covers(height, s, target_height))
        .filter(|&s| (scaled_len(width, s), scaled_len(height, s)) != (width, height))
        .unwrap_or(8)
}

/// Decodes a JPEG at the reduced size for a `target_width x target_height` output.
/// `None` means "use the exact path": no scale below 8/8 reaches the target, the file is
/// not an 8-bit grey or colour JPEG, or jpeg-decoder fails or panics on it (the exact
/// decoder then reports the file its usual way).
pub(crate) fn decode_reduced(bytes: &[u8], target_width: usize, target_height: usize) -> Option<DynamicImage> {
    let attempt = || decode_reduced_unguarded(bytes, target_width, target_height);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt)).ok().flatten()
}

fn decode_reduced_unguarded(bytes: &[u8], target_width: usize, target_height: usize) -> Option<DynamicImage> {
    let mut decoder = Decoder::new(bytes);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let channels = match info.pixel_format {
        PixelFormat::L8 => 1,
        PixelFormat::RGB24 => 3,
        PixelFormat::L16 | PixelFormat::CMYK32 => return None,
    };
    let eighths = scale_eighths(width, height, target_width, target_height);
    if eighths == 8 {
        return None;
    }
    let (want_w, want_h) = (scaled_len(width, eighths), scaled_len(height, eighths));
    // jpeg-decoder picks the smallest scale covering the request in *one* axis; asking for
    // exactly the sizes of our scale gives that scale or a smaller one, checked here.
    let (w, h) = decoder.scale(u16::try_from(want_w).ok()?, u16::try_from(want_h).ok()?).ok()?;
    if (u32::from(w), u32::from(h)) != (want_w, want_h) {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    let (w, h) = (u32::from(w), u32::from(h));
    if pixels.len() != w as usize * h as usize * channels {
        return None;
    }
    match channels {
        1 => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_scale_covering_both_sides() {
        for (w, h, tw, th, want) in [
            (128, 128, 64, 64, 4),    // exactly half
            (128, 128, 65, 64, 8),    // just over half: full size
            (128, 128, 32, 32, 2),    // a quarter
            (128, 128, 16, 16, 1),    // an eighth
            (128, 128, 17, 16, 2),    // just over an eighth
            (128, 128, 128, 128, 8),  // same size
            (128, 128, 256, 256, 8),  // upscaling
            (1024, 768, 224, 224, 4), // the short side decides: 768 / 4 = 192 < 224
            (1024, 768, 96, 96, 1),   // 128 x 96
            (1024, 768, 96, 97, 2),   // 97 rows need 2/8 (192)
            (640, 480, 100, 200, 4),  // 320 x 240
            (100, 75, 13, 10, 1),     // ceil(12.5) = 13, ceil(9.375) = 10
            (100, 75, 13, 11, 2),
            (1, 1, 1, 1, 8), // a 1-pixel image is 1 pixel at every scale: no reduction
            (7, 5, 1, 1, 1),
        ] {
            assert_eq!(scale_eighths(w, h, tw, th), want, "{w}x{h} -> {tw}x{th}");
        }
    }

    #[test]
    fn scaled_sizes_round_up_like_libjpeg() {
        assert_eq!(scaled_len(100, 1), 13);
        assert_eq!(scaled_len(100, 2), 25);
        assert_eq!(scaled_len(101, 4), 51);
        assert_eq!(scaled_len(128, 8), 128);
    }
}
