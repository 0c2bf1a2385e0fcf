//! Reading one image file: sniff the format from the bytes (not the extension), refuse
//! truncated JPEGs, decode, convert the colour mode, then crop/pad/resize to a planar CHW
//! f32 buffer in `0.0..=255.0`.

use std::path::Path;

use image::{DynamicImage, ImageFormat};

use crate::error::{Error, Result};
use crate::resize::{resize_chw, Interpolation};

/// Channels of the decoded image (Keras `color_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// One channel (luma as computed by `image`: Rec. 709 weights).
    Grayscale,
    /// Three channels (the Keras default). Grey images are expanded.
    #[default]
    Rgb,
    /// Four channels; images without alpha get 255.
    Rgba,
}

impl ColorMode {
    /// Number of channels: 1, 3 or 4.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// How the decoded image reaches `image_size` (Keras `crop_to_aspect_ratio` /
/// `pad_to_aspect_ratio`; they are one choice here, so both at once cannot be asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AspectMode {
    /// Resize to the target, distorting the aspect ratio (Keras default).
    #[default]
    Stretch,
    /// Take the largest centred window with the target's aspect ratio, then resize
    /// (Keras `smart_resize`).
    CropToAspectRatio,
    /// Resize to fit inside the target keeping the aspect ratio, centred on zeros
    /// (`tf.image.resize_with_pad`).
    PadToAspectRatio,
}

/// Target shape and conversions of loaded images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageOptions {
    /// Output height in pixels.
    pub height: usize,
    /// Output width in pixels.
    pub width: usize,
    /// Output channels.
    pub color_mode: ColorMode,
    /// Resampling filter.
    pub interpolation: Interpolation,
    /// Stretch, crop or pad to the target aspect ratio.
    pub aspect: AspectMode,
}

impl ImageOptions {
    /// `height x width`, RGB, bilinear, stretched (Keras defaults apart from the size).
    pub fn new(height: usize, width: usize) -> Self {
        Self { height, width, color_mode: ColorMode::Rgb, interpolation: Interpolation::Bilinear, aspect: AspectMode::Stretch }
    }

    /// Number of f32 values of one output image (`C * H * W`).
    pub fn image_len(&self) -> usize {
        self.color_mode.channels() * self.height * self.width
    }

    /// Checks that the size is non-zero.
    pub fn validate(&self) -> Result<()> {
        if self.height == 0 || self.width == 0 {
            return Err(Error::InvalidOption { name: "image_size", message: format!("{}x{} has a zero side", self.height, self.width) });
        }
        Ok(())
    }
}

/// The formats accepted (those Keras' extension allow-list names).
pub fn accepted_format(format: ImageFormat) -> bool {
    matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::Bmp)
}

/// Sniffs the format from the content; `path` is only used in errors.
pub fn sniff(path: &Path, bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(Error::EmptyFile { path: path.to_path_buf() });
    }
    match image::guess_format(bytes) {
        Ok(format) if accepted_format(format) => Ok(format),
        Ok(format) => Err(Error::NotAnImage { path: path.to_path_buf(), detected: format!("{format:?}") }),
        Err(_) => Err(Error::NotAnImage { path: path.to_path_buf(), detected: "unknown".into() }),
    }
}

/// True when a JPEG stream has an end-of-image marker (`FF D9`) after its last
/// start-of-scan marker (`FF DA`). Neither pair can occur inside entropy-coded data
/// (there `FF` is followed by `00` or a restart marker), so a file cut anywhere in or
/// after its last scan fails this test, while trailing bytes after EOI are tolerated.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(sos) => bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// Decodes bytes to an image, refusing truncated JPEGs and catching decoder panics.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    let format = sniff(path, bytes)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::TruncatedJpeg { path: path.to_path_buf() });
    }
    // `image` documents that some decoders may panic on malicious input: contain it.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| image::load_from_memory_with_format(bytes, format)));
    match decoded {
        Ok(Ok(image)) => Ok(image),
        Ok(Err(e)) => Err(Error::Decode { path: path.to_path_buf(), message: e.to_string() }),
        Err(_) => Err(Error::Decode { path: path.to_path_buf(), message: "the decoder panicked".into() }),
    }
}

/// Reads, decodes and converts one file to a CHW f32 buffer of `options.image_len()`
/// values in `0.0..=255.0`.
pub fn load_image(path: &Path, options: &ImageOptions) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let image = decode_bytes(path, &bytes)?;
    Ok(image_to_chw(&image, options))
}

/// Converts a decoded image to the requested colour mode, then crops/pads/resizes it to
/// a CHW f32 buffer.
pub fn image_to_chw(image: &DynamicImage, options: &ImageOptions) -> Vec<f32> {
    let channels = options.color_mode.channels();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let hwc: Vec<u8> = match options.color_mode {
        ColorMode::Grayscale => image.to_luma8().into_raw(),
        ColorMode::Rgb => image.to_rgb8().into_raw(),
        ColorMode::Rgba => image.to_rgba8().into_raw(),
    };
    hwc_u8_to_target(&hwc, channels, h, w, options)
}

/// Crops/pads/resizes an interleaved u8 image (`h x w x channels`) to the target CHW f32.
pub fn hwc_u8_to_target(hwc: &[u8], channels: usize, h: usize, w: usize, options: &ImageOptions) -> Vec<f32> {
    let (th, tw) = (options.height, options.width);
    // Source window (y0, x0, ch, cw) and destination placement (oy, ox, rh, rw).
    let (mut y0, mut x0, mut ch, mut cw) = (0, 0, h, w);
    let (mut oy, mut ox, mut rh, mut rw) = (0, 0, th, tw);
    match options.aspect {
        AspectMode::Stretch => {}
        AspectMode::CropToAspectRatio => {
            // keras smart_resize: int(w * th / tw), clipped to the image.
            ch = ((w as f64 * th as f64 / tw as f64) as usize).clamp(1, h);
            cw = ((h as f64 * tw as f64 / th as f64) as usize).clamp(1, w);
            y0 = (h - ch) / 2;
            x0 = (w - cw) / 2;
        }
        AspectMode::PadToAspectRatio => {
            // tf.image.resize_with_pad: scale by the larger ratio, centre, zero borders.
            let ratio = (w as f64 / tw as f64).max(h as f64 / th as f64);
            rh = ((h as f64 / ratio).floor() as usize).clamp(1, th);
            rw = ((w as f64 / ratio).floor() as usize).clamp(1, tw);
            oy = (th - rh) / 2;
            ox = (tw - rw) / 2;
        }
    }
    // Planar f32 copy of the source window.
    let mut planes = vec![0f32; channels * ch * cw];
    for y in 0..ch {
        let row = &hwc[((y0 + y) * w + x0) * channels..((y0 + y) * w + x0 + cw) * channels];
        for (x, px) in row.chunks_exact(channels).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                planes[c * ch * cw + y * cw + x] = v as f32;
            }
        }
    }
    let resized = resize_chw(&planes, channels, ch, cw, rh, rw, options.interpolation);
    if (rh, rw) == (th, tw) {
        return resized;
    }
    let mut out = vec![0f32; channels * th * tw];
    for c in 0..channels {
        for y in 0..rh {
            let src = &resized[c * rh * rw + y * rw..c * rh * rw + (y + 1) * rw];
            let start = c * th * tw + (oy + y) * tw + ox;
            out[start..start + rw].copy_from_slice(src);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(h: usize, w: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        (0..h).flat_map(|y| (0..w).map(move |x| (y, x))).map(|(y, x)| f(y, x)).collect()
    }

    #[test]
    fn crop_takes_the_centred_window() {
        // 2x8 image whose left and right quarters are white: a 2x4 centre crop is black.
        let src = gray(2, 8, |_, x| if !(2..6).contains(&x) { 255 } else { 0 });
        let o = ImageOptions { color_mode: ColorMode::Grayscale, aspect: AspectMode::CropToAspectRatio, ..ImageOptions::new(2, 4) };
        assert_eq!(hwc_u8_to_target(&src, 1, 2, 8, &o), vec![0.0; 8]);
        let stretch = ImageOptions { aspect: AspectMode::Stretch, ..o };
        assert!(hwc_u8_to_target(&src, 1, 2, 8, &stretch).contains(&255.0));
    }

    #[test]
    fn pad_letterboxes_with_zeros() {
        // 2x4 white image into 4x4: rows 1..3 white, rows 0 and 3 zero.
        let src = gray(2, 4, |_, _| 255);
        let o = ImageOptions { color_mode: ColorMode::Grayscale, aspect: AspectMode::PadToAspectRatio, ..ImageOptions::new(4, 4) };
        let out = hwc_u8_to_target(&src, 1, 2, 4, &o);
        assert_eq!(&out[0..4], &[0.0; 4]);
        assert_eq!(&out[4..12], &[255.0; 8]);
        assert_eq!(&out[12..16], &[0.0; 4]);
    }

    #[test]
    fn truncated_jpeg_detection() {
        let mut complete = vec![0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD9];
        assert!(jpeg_is_complete(&complete));
        complete.truncate(9);
        assert!(!jpeg_is_complete(&complete));
    }
}
