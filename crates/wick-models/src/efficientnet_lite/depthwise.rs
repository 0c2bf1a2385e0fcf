//! The depthwise convolution of an MBConv block: wick-nn's [`DepthwiseConv2d`] with
//! TensorFlow "same" padding and no bias.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use wick_nn::{DepthwiseConv2d, DepthwiseConv2dConfig};

/// Depthwise `kernel×kernel` convolution with TensorFlow "same" padding; weight
/// `[channels, 1, k, k]` named `weight` (Keras' `DepthwiseConv2D(padding="same",
/// use_bias=False)`, Glorot-uniform initial weights).
#[derive(Debug)]
pub struct Depthwise {
    conv: DepthwiseConv2d,
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
        Ok(Depthwise { conv: DepthwiseConv2d::new(weight, None, DepthwiseConv2dConfig::same(stride)) })
    }

    /// Applies it to NCHW `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_core::Module::forward(&self.conv, x)
    }
}
