//! Images: a rank-1 `DT_STRING` tensor `[width, height, png...]` with plugin `images`.

use super::{check_tag, metadata, plugin, string_tensor, tensor_value, Value};
use crate::{Error, Result};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// Pixel data of one image, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
enum Pixels<'a> {
    U8Hwc(&'a [u8]),
    F32Hwc(&'a [f32]),
    F32Chw(&'a [f32]),
}

/// One image to log: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels.
///
/// `f32` pixels are taken as intensities in `[0, 1]`; as TensorFlow's
/// `convert_image_dtype(saturate=True)` does, they are scaled by 255.5, truncated, and
/// values outside the range (and NaN) are clamped.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    height: usize,
    width: usize,
    channels: usize,
    pixels: Pixels<'a>,
}

impl<'a> Image<'a> {
    /// `u8` pixels in height × width × channels order (what `image::RgbImage` holds).
    pub fn from_u8_hwc(height: usize, width: usize, channels: usize, data: &'a [u8]) -> Self {
        Image { height, width, channels, pixels: Pixels::U8Hwc(data) }
    }

    /// `f32` pixels in `[0, 1]`, height × width × channels order.
    pub fn from_f32_hwc(height: usize, width: usize, channels: usize, data: &'a [f32]) -> Self {
        Image { height, width, channels, pixels: Pixels::F32Hwc(data) }
    }

    /// `f32` pixels in `[0, 1]`, channels × height × width order (a Candle NCHW slice).
    pub fn from_f32_chw(channels: usize, height: usize, width: usize, data: &'a [f32]) -> Self {
        Image { height, width, channels, pixels: Pixels::F32Chw(data) }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Encodes the image as PNG; errors name `tag` and the expected and given sizes.
    pub fn to_png(&self, tag: &str) -> Result<Vec<u8>> {
        let color = match self.channels {
            1 => ExtendedColorType::L8,
            2 => ExtendedColorType::La8,
            3 => ExtendedColorType::Rgb8,
            4 => ExtendedColorType::Rgba8,
            c => {
                return Err(Error::InvalidValue {
                    tag: tag.to_string(),
                    message: format!("image has {c} channels; expected 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)"),
                })
            }
        };
        if self.width == 0 || self.height == 0 || self.width > u32::MAX as usize || self.height > u32::MAX as usize {
            return Err(Error::InvalidValue {
                tag: tag.to_string(),
                message: format!("image size {}x{} (width x height) is not encodable", self.width, self.height),
            });
        }
        let expected = self.height * self.width * self.channels;
        let (given, unit) = match self.pixels {
            Pixels::U8Hwc(d) => (d.len(), "bytes"),
            Pixels::F32Hwc(d) | Pixels::F32Chw(d) => (d.len(), "f32 values"),
        };
        if given != expected {
            return Err(Error::InvalidValue {
                tag: tag.to_string(),
                message: format!(
                    "image buffer has {given} {unit}, expected {expected} (height {} x width {} x channels {})",
                    self.height, self.width, self.channels
                ),
            });
        }
        let hwc: std::borrow::Cow<'_, [u8]> = match self.pixels {
            Pixels::U8Hwc(d) => d.into(),
            Pixels::F32Hwc(d) => d.iter().map(|&v| to_u8(v)).collect::<Vec<u8>>().into(),
            Pixels::F32Chw(d) => {
                let plane = self.height * self.width;
                let mut out = vec![0u8; expected];
                for (c, chunk) in d.chunks_exact(plane).enumerate() {
                    for (i, &v) in chunk.iter().enumerate() {
                        out[i * self.channels + c] = to_u8(v);
                    }
                }
                out.into()
            }
        };
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(&hwc, self.width as u32, self.height as u32, color)
            .map_err(|e| Error::Png { tag: tag.to_string(), message: e.to_string() })?;
        Ok(png)
    }
}

fn to_u8(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.5).min(255.0) as u8
    }
}

/// An image summary of one image.
pub fn image(tag: &str, image: &Image<'_>) -> Result<Value> {
    images(tag, std::slice::from_ref(image), 1)
}

/// An image summary of up to `max_outputs` images of one size (TensorBoard shows them
/// under one tag with a sample slider). Images past `max_outputs` are not encoded.
pub fn images(tag: &str, images: &[Image<'_>], max_outputs: usize) -> Result<Value> {
    check_tag(tag)?;
    let Some(first) = images.first() else {
        return Err(Error::InvalidValue { tag: tag.to_string(), message: "no image given".into() });
    };
    let mut strings = vec![first.width.to_string().into_bytes(), first.height.to_string().into_bytes()];
    for (i, img) in images.iter().take(max_outputs).enumerate() {
        if (img.width, img.height) != (first.width, first.height) {
            return Err(Error::InvalidValue {
                tag: tag.to_string(),
                message: format!(
                    "image {i} is {}x{} but image 0 is {}x{}: all images of one summary share a size",
                    img.width, img.height, first.width, first.height
                ),
            });
        }
        strings.push(img.to_png(tag)?);
    }
    let n = strings.len();
    Ok(tensor_value(tag, metadata(plugin::IMAGES, Vec::new()), string_tensor(&[n], strings)))
}
