//! [`Batch`]: the one batch type of wick — inputs, targets, sample weights, sample indices.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::label::LabelMode;

/// One batch, as every [`Dataset`](crate::Dataset) yields it and `fit` / `evaluate` /
/// `predict` read it: inputs `x`, optional targets `y` and per-sample weights, all with
/// the batch on axis 0 and on the same device (Keras' `(x, y, sample_weight)` tuple).
///
/// The image generators fill `x` with `f32 [N, C, H, W]` images in `0..=255` (not
/// rescaled, as Keras) and `y` per [`LabelMode`]: `u32 [N]` (int), `f32 [N, K]`
/// (categorical), `f32 [N, 1]` (binary) or `None`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Inputs (batch on axis 0).
    pub x: Tensor,
    /// Targets; `None` for inputs-only data, which only `predict` accepts.
    pub y: Option<Tensor>,
    /// Per-sample weights (Keras `sample_weight`), shape `[N]` or broadcastable to the
    /// per-sample loss values.
    pub sample_weight: Option<Tensor>,
    /// For each sample, its index in the dataset's base order (the image generators'
    /// sample list, a [`TensorDataset`](crate::TensorDataset)'s rows), when the dataset
    /// tracks it.
    pub indices: Option<Vec<usize>>,
}

impl Batch {
    /// A batch of inputs and targets.
    pub fn new(x: Tensor, y: Tensor) -> Self {
        Batch { x, y: Some(y), sample_weight: None, indices: None }
    }

    /// A batch of inputs only (for `predict`).
    pub fn inputs(x: Tensor) -> Self {
        Batch { x, y: None, sample_weight: None, indices: None }
    }

    /// Adds per-sample weights.
    pub fn with_sample_weight(mut self, sample_weight: Tensor) -> Self {
        self.sample_weight = Some(sample_weight);
        self
    }

    /// Records each sample's index in the dataset's base order.
    pub fn with_indices(mut self, indices: Vec<usize>) -> Self {
        self.indices = Some(indices);
        self
    }

    /// Number of samples: the length of axis 0 of `x` (0 for a scalar `x`).
    pub fn len(&self) -> usize {
        self.x.dims().first().copied().unwrap_or(0)
    }

    /// True when the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An image batch from a CHW-contiguous buffer of `labels.len()` images.
    pub(crate) fn from_images(
        images: Vec<f32>,
        (channels, height, width): (usize, usize, usize),
        labels: &[usize],
        indices: Vec<usize>,
        mode: LabelMode,
        num_classes: usize,
        device: &Device,
    ) -> Result<Self> {
        let n = labels.len();
        let x = Tensor::from_vec(images, (n, channels, height, width), device)?;
        let y = mode.tensor(labels, num_classes, device)?;
        Ok(Batch { x, y, sample_weight: None, indices: Some(indices) })
    }
}
