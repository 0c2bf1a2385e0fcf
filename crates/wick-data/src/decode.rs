//! Reading one image file: sniff the format from the bytes (not the extension), refuse
//! truncated JPEGs, decode, convert the colour mode, then crop/pad/resize to a planar CHW
//! f32 buffer in `0.0..=255.0`.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::path::Path;

use image::{DynamicImage, ImageFormat};
use zune_core::colorspace::ColorSpace;

pub(crate) use crate::convert::{as_room, fill_room, hwc_u8_to_target_into, hwc_u8_to_target_room};
use crate::error::{DecoderError, Error, Result};
pub use crate::image_options::{AspectMode, ColorMode, DecodeMode, ImageOptions};

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
    // SAFETY: `bytes_to_chw_room` only stores initialised values into the room it is given
    // (zero fills, converted pixels, resized values), so `out` stays initialised.
    let room = unsafe { as_room(out) };
    crate::scratch::with_file(path, |bytes, pixels| bytes_to_chw_room(path, bytes, options, room, pixels)).map(|_| ())
}

/// [`load_image_into`] into uninitialised room (an image's slot in a batch being filled),
/// returned initialised. A JPEG at the target size in the requested colour type is
/// written once, by the conversion; other files zero the room first.
pub(crate) fn load_image_room<'a>(
    path: &Path,
    options: &ImageOptions,
    room: &'a mut [MaybeUninit<f32>],
) -> Result<&'a mut [f32]> {
    crate::scratch::with_file(path, |bytes, pixels| bytes_to_chw_room(path, bytes, options, room, pixels))
}

/// Decodes `bytes` (of the file `path`, named in errors) and converts them into `room`,
/// using `pixels` as the decoder's scratch buffer; returns `room`, initialised.
fn bytes_to_chw_room<'a>(
    path: &Path,
    bytes: &[u8],
    options: &ImageOptions,
    room: &'a mut [MaybeUninit<f32>],
    pixels: &mut Vec<u8>,
) -> Result<&'a mut [f32]> {
    let format = sniff_complete(path, bytes)?;
    let via_image = |image: &DynamicImage, room: &'a mut [MaybeUninit<f32>]| {
        let out = fill_room(room, 0.0);
        image_to_chw_into(image, options, out).map(|()| out)
    };
    if format != ImageFormat::Jpeg {
        let image =
            guarded(path, format, || image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string()))?;
        return via_image(&image, room);
    }
    if options.decode_mode == DecodeMode::ReducedSize {
        if let Some(image) = crate::reduced::decode_reduced(bytes, options.width, options.height) {
            return via_image(&image, room);
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
        return hwc_u8_to_target_room(hwc, options.color_mode.channels(), d.height, d.width, options, room);
    }
    // Another colour type: convert through `image`, as `image_to_chw_into` does (rare).
    let image = crate::jpeg::into_dynamic(hwc.to_vec(), d.width, d.height, d.space).map_err(|message| {
        Error::Decode { path: path.to_path_buf(), source: DecoderError { decoder: "zune-jpeg", message } }
    })?;
    via_image(&image, room)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::hwc_u8_to_target;

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
