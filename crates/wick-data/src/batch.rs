//! One batch as Candle tensors.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::label::LabelMode;

/// A batch: images `f32 [N, C, H, W]` (values in `0..=255` unless the producer rescales,
/// as Keras leaves them) and labels per [`LabelMode`].
#[derive(Debug, Clone)]
pub struct Batch {
    /// Images, `f32 [N, C, H, W]`.
    pub images: Tensor,
    /// Labels: `u32 [N]` (int), `f32 [N, K]` (categorical), `f32 [N, 1]` (binary), or none.
    pub labels: Option<Tensor>,
    /// For each image, its index in the generator's sample list (the subset's base order).
    pub indices: Vec<usize>,
}

impl Batch {
    /// Builds a batch from a CHW-contiguous buffer of `labels.len()` images.
    pub fn from_parts(
        images: Vec<f32>,
        (channels, height, width): (usize, usize, usize),
        labels: &[usize],
        indices: Vec<usize>,
        mode: LabelMode,
        num_classes: usize,
        device: &Device,
    ) -> Result<Self> {
        let n = labels.len();
        let images = Tensor::from_vec(images, (n, channels, height, width), device)?;
        let labels = mode.tensor(labels, num_classes, device)?;
        Ok(Self { images, labels, indices })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True for a batch without images (generators never yield one).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}
