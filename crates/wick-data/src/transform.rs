//! The augmentation hook: [`ImageTransform`], applied to training images only.
//!
//! The generator calls [`ImageTransform::transform`] once per training image, after
//! decode and resize, on a planar **CHW** f32 buffer with values in `0.0..=255.0`
//! (Keras' un-rescaled range). Validation and evaluation generators never call it.
//!
//! The RNG passed in is seeded from `(seed, epoch, position in epoch)` (see
//! [`crate::rng::image_rng`]), so the same seed gives the same augmented batch whatever
//! the thread scheduling.

use crate::rng::Rng;

/// An in-place transform of one image, run in parallel on the decode workers.
///
/// `image` is CHW: `image.len() == channels * height * width`, element
/// `[c * height * width + y * width + x]`, values nominally `0.0..=255.0`.
/// Implementations must keep the shape (the batch has one shape).
pub trait ImageTransform: Send + Sync {
    /// Transforms `image` in place, drawing any randomness from `rng` only.
    fn transform(&self, image: &mut [f32], channels: usize, height: usize, width: usize, rng: &mut Rng);
}

/// Any `Fn(&mut [f32], channels, height, width, &mut Rng)` closure is a transform.
impl<F> ImageTransform for F
where
    F: Fn(&mut [f32], usize, usize, usize, &mut Rng) + Send + Sync,
{
    fn transform(&self, image: &mut [f32], channels: usize, height: usize, width: usize, rng: &mut Rng) {
        self(image, channels, height, width, rng)
    }
}

/// Runs several transforms in order.
impl ImageTransform for Vec<std::sync::Arc<dyn ImageTransform>> {
    fn transform(&self, image: &mut [f32], channels: usize, height: usize, width: usize, rng: &mut Rng) {
        for t in self {
            t.transform(image, channels, height, width, rng);
        }
    }
}
