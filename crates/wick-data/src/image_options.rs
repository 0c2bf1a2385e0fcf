//! `ImageOptions` (Keras' `image_size`, `color_mode`, `crop_to_aspect_ratio` / `pad_to_aspect_ratio`, `interpolation`) and its mode enums.

use crate::error::{Error, Result};
use crate::resize::Interpolation;

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
