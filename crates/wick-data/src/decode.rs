//! Reading one image file: sniff the format from the bytes (not the extension), refuse
//! truncated JPEGs, decode, convert the colour mode, then crop/pad/resize to a planar CHW
//! f32 buffer in `0.0..=255.0`.

use std::borrow::Cow;
use std::path::Path;

use image::{DynamicImage, ImageFormat};
use zune_core::colorspace::ColorSpace;

use crate::error::{DecoderError, Error, Result};
use crate::resize::{resize_chw_into, Interpolation};

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
    /// Full-size decode (Keras-exact, the default) or the opt-in reduced-size JPEG decode.
    pub decode_mode: DecodeMode,
}

/// How JPEGs are decoded before the resize ([`ImageOptions::decode_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodeMode {
    /// Decode at full size, then crop/pad/resize: the pixels Keras'
    /// `image_dataset_from_directory` gives (the default).
    #[default]
    Exact,
    /// **Not Keras-exact.** Decode JPEGs at a reduced size with libjpeg-style DCT scaling
    /// (the `jpeg-decoder` crate's `Decoder::scale`: the inverse DCT is run at 1/8, 2/8
    /// or 4/8 of the block size, so the image comes out at that fraction of its size for
    /// far less work), picking the smallest scale whose output is at least the target
    /// `height x width` in both dimensions, then apply the same crop/pad/resize as
    /// [`Exact`](Self::Exact) to that smaller image. The result approximates, but does not
    /// equal, the exact pixels: the downscaling happens in the DCT domain (a low-pass
    /// close to a box filter) instead of `tf.image.resize`'s bilinear taps on the full
    /// image, and a different decoder does the colour conversion and chroma upsampling.
    /// Measured (`BENCHMARKS.md`): mean absolute differences of 0.4–0.9 levels of 255 on a
    /// smooth 1024×768 JPEG resized to 224² or 96², and 4.8 (max 52) on the noisy 128²
    /// bench JPEGs resized to 64².
    ///
    /// Speed: the entropy decoding is not reduced and jpeg-decoder's is slower than
    /// zune-jpeg's (the exact decoder), so this pays off only where the skipped work is
    /// large: at 1/8 scale about 2× faster than exact on a 1024×768 photo to 96², but at
    /// 4/8 scale slower than or level with the exact path.
    ///
    /// Falls back to the exact path, with identical output, when no scale below 8/8
    /// reaches the target (target ≥ half the image), for non-JPEG files, and for JPEGs the
    /// scaled decoder refuses or cannot represent (12-bit, CMYK/YCCK, a decoder error or
    /// panic): those then give exactly what [`Exact`](Self::Exact) gives, including its
    /// typed errors.
    ReducedSize,
}

impl ImageOptions {
    /// `height x width`, RGB, bilinear, stretched (Keras defaults apart from the size).
    pub fn new(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            color_mode: ColorMode::Rgb,
            interpolation: Interpolation::Bilinear,
            aspect: AspectMode::Stretch,
            decode_mode: DecodeMode::Exact,
        }
    }

    /// The same options with `decode_mode` set (e.g. [`DecodeMode::ReducedSize`]).
    pub fn with_decode_mode(self, decode_mode: DecodeMode) -> Self {
        Self { decode_mode, ..self }
    }

    /// Number of f32 values of one output image (`C * H * W`).
    pub fn image_len(&self) -> usize {
        self.color_mode.channels() * self.height * self.width
    }

    /// Checks that the size is non-zero.
    pub fn validate(&self) -> Result<()> {
        if self.height == 0 || self.width == 0 {
            return Err(Error::InvalidOption {
                context: "ImageOptions",
                name: "image_size",
                message: format!("{}x{} has a zero side", self.height, self.width),
            });
        }
        Ok(())
    }
}

/// The formats accepted (those Keras' extension allow-list names).
pub(crate) fn accepted_format(format: ImageFormat) -> bool {
    matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::Bmp)
}

/// Sniffs the format from the content; `path` is only used in errors.
pub(crate) fn sniff(path: &Path, bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(Error::EmptyFile { path: path.to_path_buf() });
    }
    match image::guess_format(bytes) {
        Ok(format) if accepted_format(format) => Ok(format),
        Ok(format) => Err(Error::NotAnImage { path: path.to_path_buf(), detected: format!("{format:?}") }),
        Err(_) => Err(Error::NotAnImage { path: path.to_path_buf(), detected: "unknown".into() }),
    }
}

pub(crate) use crate::jpeg::jpeg_is_complete;

/// Decodes bytes to an image, refusing truncated JPEGs and catching decoder panics.
///
/// JPEGs go straight to zune-jpeg (see `jpeg.rs`), which gives the same pixels as
/// `image`'s JPEG path; the other formats go through `image`.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    let format = sniff_complete(path, bytes)?;
    guarded(path, format, || match format {
        ImageFormat::Jpeg => crate::jpeg::decode_jpeg(bytes),
        _ => image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string()),
    })
}

/// [`sniff`], then refuses a truncated JPEG.
fn sniff_complete(path: &Path, bytes: &[u8]) -> Result<ImageFormat> {
    let format = sniff(path, bytes)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::TruncatedJpeg { path: path.to_path_buf() });
    }
    Ok(format)
}

/// Runs a decoder of `format`, turning its message into [`Error::Decode`] and a panic
/// into one too (`image` documents that some decoders may panic on malicious input).
fn guarded<T>(path: &Path, format: ImageFormat, f: impl FnOnce() -> Result<T, String>) -> Result<T> {
    let decoder = if format == ImageFormat::Jpeg { "zune-jpeg" } else { "image" };
    let fail = |message: String| Error::Decode { path: path.to_path_buf(), source: DecoderError { decoder, message } };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(fail(message)),
        Err(_) => Err(fail("the decoder panicked".into())),
    }
}

/// Reads, decodes and converts one file to a CHW f32 buffer of `options.image_len()`
/// values in `0.0..=255.0`.
pub fn load_image(path: &Path, options: &ImageOptions) -> Result<Vec<f32>> {
    let mut out = vec![0f32; options.image_len()];
    load_image_into(path, options, &mut out)?;
    Ok(out)
}

/// [`load_image`] into a caller's buffer (e.g. the image's slot in a batch), which must
/// hold exactly `options.image_len()` values.
///
/// The file's bytes and the decoded pixels live in per-thread buffers reused from image
/// to image, and a JPEG already in the requested colour type is converted from the
/// decoder's buffer straight into `out`; the values are those of
/// `image_to_chw_into(&decode_bytes(..)?, ..)`.
pub fn load_image_into(path: &Path, options: &ImageOptions, out: &mut [f32]) -> Result<()> {
    crate::scratch::with_file(path, |bytes, pixels| bytes_to_chw_into(path, bytes, options, out, pixels))
}

/// Decodes `bytes` (of the file `path`, named in errors) and converts them into `out`,
/// using `pixels` as the decoder's scratch buffer.
fn bytes_to_chw_into(
    path: &Path,
    bytes: &[u8],
    options: &ImageOptions,
    out: &mut [f32],
    pixels: &mut Vec<u8>,
) -> Result<()> {
    let format = sniff_complete(path, bytes)?;
    if format != ImageFormat::Jpeg {
        let image =
            guarded(path, format, || image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string()))?;
        return image_to_chw_into(&image, options, out);
    }
    if options.decode_mode == DecodeMode::ReducedSize {
        if let Some(image) = crate::reduced::decode_reduced(bytes, options.width, options.height) {
            return image_to_chw_into(&image, options, out);
        }
    }
    let d = guarded(path, format, || crate::jpeg::decode_jpeg_into(bytes, pixels))?;
    let hwc = &pixels[..d.len];
    let in_place = matches!(
        (options.color_mode, d.space),
        (ColorMode::Rgb, ColorSpace::RGB)
            | (ColorMode::Grayscale, ColorSpace::Luma)
            | (ColorMode::Rgba, ColorSpace::RGBA)
    );
    if in_place {
        return hwc_u8_to_target_into(hwc, options.color_mode.channels(), d.height, d.width, options, out);
    }
    // Another colour type: convert through `image`, as `image_to_chw_into` does (rare).
    let image = crate::jpeg::into_dynamic(hwc.to_vec(), d.width, d.height, d.space).map_err(|message| {
        Error::Decode { path: path.to_path_buf(), source: DecoderError { decoder: "zune-jpeg", message } }
    })?;
    image_to_chw_into(&image, options, out)
}

/// Converts a decoded image to the requested colour mode, then crops/pads/resizes it to
/// a CHW f32 buffer.
pub fn image_to_chw(image: &DynamicImage, options: &ImageOptions) -> Vec<f32> {
    let mut out = vec![0f32; options.image_len()];
    // The buffer is sized from `options` and the pixels from `image`: this cannot fail.
    let _ = image_to_chw_into(image, options, &mut out);
    out
}

/// [`image_to_chw`] into a caller's buffer of `options.image_len()` values. The pixels are
/// read in place when the image already has the requested colour type (no copy).
pub fn image_to_chw_into(image: &DynamicImage, options: &ImageOptions, out: &mut [f32]) -> Result<()> {
    let channels = options.color_mode.channels();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let hwc: Cow<'_, [u8]> = match (options.color_mode, image) {
        (ColorMode::Grayscale, DynamicImage::ImageLuma8(b)) => Cow::Borrowed(b.as_raw()),
        (ColorMode::Rgb, DynamicImage::ImageRgb8(b)) => Cow::Borrowed(b.as_raw()),
        (ColorMode::Rgba, DynamicImage::ImageRgba8(b)) => Cow::Borrowed(b.as_raw()),
        (ColorMode::Grayscale, _) => Cow::Owned(image.to_luma8().into_raw()),
        (ColorMode::Rgb, _) => Cow::Owned(image.to_rgb8().into_raw()),
        (ColorMode::Rgba, _) => Cow::Owned(image.to_rgba8().into_raw()),
    };
    hwc_u8_to_target_into(&hwc, channels, h, w, options, out)
}

/// Crops/pads/resizes an interleaved u8 image (`h x w x channels`) to the target CHW f32.
/// An error when `hwc.len() != h * w * channels`.
#[cfg(test)]
fn hwc_u8_to_target(hwc: &[u8], channels: usize, h: usize, w: usize, options: &ImageOptions) -> Result<Vec<f32>> {
    let mut out = vec![0f32; channels * options.height * options.width];
    hwc_u8_to_target_into(hwc, channels, h, w, options, &mut out)?;
    Ok(out)
}

/// Crops/pads/resizes an interleaved u8 image into `out` (`channels * options.height * options.width` values).
/// When no crop, pad or resize is needed (the common case of images already at the
/// target size), the pixels go straight from `hwc` to `out` in one pass.
///
/// Errors ([`Error::Shape`]) when `hwc` or `out` does not have the stated size.
pub(crate) fn hwc_u8_to_target_into(
    hwc: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    options: &ImageOptions,
    out: &mut [f32],
) -> Result<()> {
    let (th, tw) = (options.height, options.width);
    if hwc.len() != h * w * channels || out.len() != channels * th * tw {
        return Err(Error::Shape {
            what: "image conversion",
            message: format!(
                "{} source values for {h}x{w}x{channels} and {} output values for {channels}x{th}x{tw}",
                hwc.len(),
                out.len()
            ),
        });
    }
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
    let window = Window { y0, x0, height: ch, width: cw };
    if (ch, cw) == (th, tw) && (rh, rw) == (th, tw) {
        // Identity: straight into the output.
        deinterleave(hwc, channels, w, window, out);
        return Ok(());
    }
    // Planar f32 copy of the source window, then resize (buffers reused per thread).
    crate::scratch::with_f32(|planes, tmp, resized| {
        let n = channels * ch * cw;
        if planes.len() < n {
            planes.resize(n, 0.0);
        }
        let planes = &mut planes[..n];
        deinterleave(hwc, channels, w, window, planes);
        let kind = options.interpolation;
        if (rh, rw) == (th, tw) {
            resize_chw_into(planes, (channels, ch, cw), (rh, rw), kind, out, tmp);
            return;
        }
        resized.resize(channels * rh * rw, 0.0);
        resize_chw_into(planes, (channels, ch, cw), (rh, rw), kind, resized, tmp);
        out.fill(0.0);
        for c in 0..channels {
            for y in 0..rh {
                let src = &resized[c * rh * rw + y * rw..c * rh * rw + (y + 1) * rw];
                let start = c * th * tw + (oy + y) * tw + ox;
                out[start..start + rw].copy_from_slice(src);
            }
        }
    });
    Ok(())
}

/// A rectangle of the source image: top-left corner and size.
#[derive(Clone, Copy)]
struct Window {
    y0: usize,
    x0: usize,
    height: usize,
    width: usize,
}

/// Interleaved u8 (`width_full` pixels a row, `channels` values a pixel) → planar f32 of
/// the window (`channels x height x width`).
fn deinterleave(hwc: &[u8], channels: usize, width_full: usize, win: Window, planes: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { deinterleave_avx2(hwc, channels, width_full, win, planes) };
        return;
    }
    deinterleave_body(hwc, channels, width_full, win, planes);
}

/// [`deinterleave_body`] compiled for AVX2 (the same conversions, wider vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn deinterleave_avx2(hwc: &[u8], channels: usize, width_full: usize, win: Window, planes: &mut [f32]) {
    deinterleave_body(hwc, channels, width_full, win, planes);
}

#[inline(always)]
fn deinterleave_body(hwc: &[u8], channels: usize, width_full: usize, win: Window, planes: &mut [f32]) {
    let plane = win.height * win.width;
    let row = |y: usize| {
        let start = ((win.y0 + y) * width_full + win.x0) * channels;
        &hwc[start..start + win.width * channels]
    };
    match channels {
        // One pass per pixel row for RGB, writing the three planes together.
        3 => {
            let (r, rest) = planes.split_at_mut(plane);
            let (g, b) = rest.split_at_mut(plane);
            let rows =
                r.chunks_exact_mut(win.width).zip(g.chunks_exact_mut(win.width)).zip(b.chunks_exact_mut(win.width));
            for (y, ((r, g), b)) in rows.enumerate() {
                for (((px, r), g), b) in row(y).chunks_exact(3).zip(r).zip(g).zip(b) {
                    *r = f32::from(px[0]);
                    *g = f32::from(px[1]);
                    *b = f32::from(px[2]);
                }
            }
        }
        _ => {
            for (c, dst) in planes.chunks_exact_mut(plane).enumerate() {
                for (y, drow) in dst.chunks_exact_mut(win.width).enumerate() {
                    drow.iter_mut().zip(row(y).chunks_exact(channels)).for_each(|(d, px)| *d = f32::from(px[c]));
                }
            }
        }
    }
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
        let o = ImageOptions {
            color_mode: ColorMode::Grayscale,
            aspect: AspectMode::CropToAspectRatio,
            ..ImageOptions::new(2, 4)
        };
        assert_eq!(hwc_u8_to_target(&src, 1, 2, 8, &o).unwrap(), vec![0.0; 8]);
        let stretch = ImageOptions { aspect: AspectMode::Stretch, ..o };
        assert!(hwc_u8_to_target(&src, 1, 2, 8, &stretch).unwrap().contains(&255.0));
    }

    #[test]
    fn pad_letterboxes_with_zeros() {
        // 2x4 white image into 4x4: rows 1..3 white, rows 0 and 3 zero.
        let src = gray(2, 4, |_, _| 255);
        let o = ImageOptions {
            color_mode: ColorMode::Grayscale,
            aspect: AspectMode::PadToAspectRatio,
            ..ImageOptions::new(4, 4)
        };
        let out = hwc_u8_to_target(&src, 1, 2, 4, &o).unwrap();
        assert_eq!(&out[0..4], &[0.0; 4]);
        assert_eq!(&out[4..12], &[255.0; 8]);
        assert_eq!(&out[12..16], &[0.0; 4]);
    }

    #[test]
    fn deinterleave_matches_a_per_value_copy() {
        let (h, w) = (5, 11);
        let win = Window { y0: 1, x0: 2, height: 3, width: 9 };
        for channels in [1, 2, 3, 4] {
            let hwc: Vec<u8> = (0..h * w * channels).map(|i| (i * 37 % 251) as u8).collect();
            let plane = win.height * win.width;
            let mut want = vec![0f32; channels * plane];
            for c in 0..channels {
                for y in 0..win.height {
                    for x in 0..win.width {
                        want[c * plane + y * win.width + x] =
                            f32::from(hwc[((win.y0 + y) * w + win.x0 + x) * channels + c]);
                    }
                }
            }
            let mut got = vec![-1f32; want.len()];
            deinterleave(&hwc, channels, w, win, &mut got);
            assert_eq!(got, want, "{channels} channels");
            let mut got = vec![-1f32; want.len()];
            deinterleave_body(&hwc, channels, w, win, &mut got);
            assert_eq!(got, want, "{channels} channels, portable build");
        }
    }

    #[test]
    fn colour_modes_read_in_place_or_convert_like_image() {
        let rgb = image::RgbImage::from_fn(6, 4, |x, y| image::Rgb([(x * 40) as u8, (y * 60) as u8, 200]));
        let images = [
            DynamicImage::ImageRgb8(rgb.clone()),
            DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb.clone()).to_luma8()),
            DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb.clone()).to_rgba8()),
            DynamicImage::ImageLumaA8(DynamicImage::ImageRgb8(rgb).to_luma_alpha8()),
        ];
        for image in &images {
            for (mode, hwc) in [
                (ColorMode::Grayscale, image.to_luma8().into_raw()),
                (ColorMode::Rgb, image.to_rgb8().into_raw()),
                (ColorMode::Rgba, image.to_rgba8().into_raw()),
            ] {
                for (th, tw) in [(4, 6), (3, 5)] {
                    let o = ImageOptions { color_mode: mode, ..ImageOptions::new(th, tw) };
                    let want = hwc_u8_to_target(&hwc, mode.channels(), 4, 6, &o).unwrap();
                    assert_eq!(image_to_chw(image, &o), want, "{:?} as {mode:?} to {th}x{tw}", image.color());
                }
            }
        }
    }

    #[test]
    fn wrong_buffer_sizes_are_shape_errors() {
        let o = ImageOptions::new(2, 2);
        let mut out = vec![0f32; 12];
        assert!(matches!(hwc_u8_to_target_into(&[0; 11], 3, 2, 2, &o, &mut out), Err(Error::Shape { .. })));
        assert!(matches!(hwc_u8_to_target_into(&[0; 12], 3, 2, 2, &o, &mut out[..11]), Err(Error::Shape { .. })));
        assert!(hwc_u8_to_target_into(&[0; 12], 3, 2, 2, &o, &mut out).is_ok());
    }

    #[test]
    fn truncated_jpeg_detection() {
        let mut complete = vec![0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD9];
        assert!(jpeg_is_complete(&complete));
        complete.truncate(9);
        assert!(!jpeg_is_complete(&complete));
    }
}
