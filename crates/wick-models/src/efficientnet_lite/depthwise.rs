//! The depthwise convolution of an MBConv block ("same" padding, no bias).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::same_padding::same_padding;

/// Depthwise `kernel×kernel` convolution with TensorFlow "same" padding; weight
/// `[channels, 1, k, k]` named `weight`.
#[derive(Debug)]
pub struct Depthwise {
    weight: Tensor,
    kernel: usize,
    stride: usize,
}

impl Depthwise {
    /// The layer with its weight under `vb`.
    pub fn new(channels: usize, kernel: usize, stride: usize, vb: VarBuilder<'_>) -> Result<Self> {
        let fan = (kernel * kernel) as f64;
        let bound = (6.0 / (fan + fan)).sqrt();
        let weight = vb.get_with_hints(
            (channels, 1, kernel, kernel),
            "weight",
            candle_nn::Init::Uniform { lo: -bound, up: bound },
        )?;
        Ok(Depthwise { weight, kernel, stride })
    }

    /// Applies it to NCHW `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        let (t, b) = same_padding(h, self.kernel, self.stride);
        let (l, r) = same_padding(w, self.kernel, self.stride);
        let x = x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?;
        x.conv2d(&self.weight, 0, self.stride, 1, c)
    }
}
