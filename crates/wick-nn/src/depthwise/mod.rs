//! `DepthwiseConv2d`: the layer, its config and constructors, and the CPU-op / Candle-fallback dispatch.

mod blocked;
mod blocked_backward;
mod buffer;
mod geom;
mod kernel;
mod op;
mod passes;
mod simd;

use std::sync::Arc;

use candle_core::{bail, Module, Result, Tensor};

use crate::policy::DTypePolicy;
use crate::util::is_cpu_op_tensor;
use op::DepthwiseOp;

pub use geom::DepthwisePadding;

/// Stride and padding of a [`DepthwiseConv2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DepthwiseConv2dConfig {
    /// How the input is padded (resolved per input size for `Same`).
    pub padding: DepthwisePadding,
    /// The step between windows, in both dimensions.
    pub stride: usize,
}

impl Default for DepthwiseConv2dConfig {
    /// Stride 1, no padding.
    fn default() -> Self {
        Self { padding: DepthwisePadding::Valid, stride: 1 }
    }
}

impl DepthwiseConv2dConfig {
    /// Keras' `padding="same"` with `stride` (`out = ceil(in / stride)`).
    pub fn same(stride: usize) -> Self {
        Self { padding: DepthwisePadding::Same, stride }
    }

    /// Keras' `padding="valid"` with `stride`.
    pub fn valid(stride: usize) -> Self {
        Self { padding: DepthwisePadding::Valid, stride }
    }

    /// Fixed zeros on each side, with `stride`.
    pub fn explicit(top: usize, bottom: usize, left: usize, right: usize, stride: usize) -> Self {
        Self { padding: DepthwisePadding::Explicit { top, bottom, left, right }, stride }
    }
}

/// A depthwise 2-D convolution over NCHW input (channel multiplier 1): each channel is
/// convolved with its own `kh` x `kw` kernel, as Keras' `DepthwiseConv2D` and PyTorch's
/// `Conv2d(c, c, k, groups=c)`.
///
/// The weight is `[channels, 1, kh, kw]` and the optional bias `[channels]`, under the
/// variable names `weight` and `bias`: the layout and names of candle-nn's (and PyTorch's)
/// grouped conv with `groups = channels`, so such a checkpoint loads as is.
///
/// On the CPU with f32, bf16 or f16 tensors the forward pass and the three gradients run as
/// one custom op of direct loops over each (image, channel) plane ([`depthwise_conv2d_op`]);
/// elsewhere (CUDA, Metal, other dtypes) it pads with `pad_with_zeros` and calls Candle's
/// `conv2d` with `groups = channels`.
///
/// With [`with_policy`](Self::with_policy) the layer computes in the policy's
/// `compute_dtype` while its variables stay as created (Keras' mixed precision).
#[derive(Clone, Debug)]
pub struct DepthwiseConv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: DepthwiseConv2dConfig,
    policy: Option<DTypePolicy>,
}

impl DepthwiseConv2d {
    /// A layer from its weight `[channels, 1, kh, kw]`, optional bias `[channels]` and config.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: DepthwiseConv2dConfig) -> Self {
        Self { weight, bias, config, policy: None }
    }

    /// The same layer under `policy`: a floating input, the weight and the bias are cast to
    /// `policy.compute_dtype()` at each call (graph nodes, so the gradients reach the
    /// variables in their dtype). On the CPU bf16 / f16 run the f32 loops on the widened
    /// values and round each result once, as [`Conv2d::with_policy`](crate::Conv2d::with_policy).
    pub fn with_policy(mut self, policy: DTypePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The policy this layer runs under, if any.
    pub fn policy(&self) -> Option<DTypePolicy> {
        self.policy
    }

    /// The stride and padding of this layer.
    pub fn config(&self) -> &DepthwiseConv2dConfig {
        &self.config
    }

    /// The weight, `[channels, 1, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[channels]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for DepthwiseConv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.policy {
            None => depthwise_conv2d_op(x, &self.weight, self.bias.as_ref(), &self.config),
            Some(p) => {
                let dtype = p.compute_dtype();
                let bias = self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?;
                let weight = self.weight.to_dtype(dtype)?;
                depthwise_conv2d_op(&p.convert_input(x)?, &weight, bias.as_ref(), &self.config)
            }
        }
    }
}

/// The candle-nn config of the equivalent grouped conv (used to create the variables).
fn grouped(channels: usize) -> candle_nn::Conv2dConfig {
    candle_nn::Conv2dConfig { groups: channels, ..Default::default() }
}

/// A [`DepthwiseConv2d`] with a bias over `channels` channels and a square `kernel_size`
/// kernel, its variables created through `vb` as candle-nn's
/// `conv2d(channels, channels, kernel_size, groups = channels)` creates them (names
/// `weight`, `bias`; Kaiming-normal weight, candle-nn's uniform bias).
pub fn depthwise_conv2d(
    channels: usize,
    kernel_size: usize,
    config: DepthwiseConv2dConfig,
    vb: candle_nn::VarBuilder<'_>,
) -> Result<DepthwiseConv2d> {
    let c = candle_nn::conv2d(channels, channels, kernel_size, grouped(channels), vb)?;
    Ok(DepthwiseConv2d::new(c.weight().clone(), c.bias().cloned(), config))
}

/// A [`DepthwiseConv2d`] without bias (Keras' `use_bias=False`, as EfficientNet uses it
/// before a batch norm), its weight created through `vb` as [`depthwise_conv2d`] does.
pub fn depthwise_conv2d_no_bias(
    channels: usize,
    kernel_size: usize,
    config: DepthwiseConv2dConfig,
    vb: candle_nn::VarBuilder<'_>,
) -> Result<DepthwiseConv2d> {
    let c = candle_nn::conv2d_no_bias(channels, channels, kernel_size, grouped(channels), vb)?;
    Ok(DepthwiseConv2d::new(c.weight().clone(), None, config))
}

/// The depthwise convolution of NCHW `x` `[n, c, h, w]` with `weight` `[c, 1, kh, kw]`, plus
/// `bias` `[c]`, differentiable in all three.
///
/// On the CPU with f32 (or bf16 / f16, computed in f32 and rounded) tensors of one dtype this
/// is one custom op: the forward pass and the input, weight and bias gradients are direct
/// loops over each (image, channel) plane, run in parallel over planes, each tap a
/// unit-stride vectorised pass (a stride-2 input is first split into its four
/// even/odd-row/column phases). The input gradient is skipped when `x` is not tracked by the
/// graph; the weight and bias gradients are summed over the batch in a fixed order, so they
/// are the same bits on every run. Other devices and dtypes pad with `pad_with_zeros` and
/// call Candle's `conv2d` with `groups = c`.
///
/// Errors (never panics) on a non-4-D input, a weight that is not `[c, 1, kh, kw]`, a bias
/// that is not `[c]`, stride 0, or an input smaller than the kernel after padding.
pub fn depthwise_conv2d_op(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: &DepthwiseConv2dConfig,
) -> Result<Tensor> {
    let op = DepthwiseOp { stride: config.stride, padding: config.padding };
    // Validate the shapes here so that errors name the layer's arguments on every path.
    let g = op.geometry(x.shape(), weight.shape())?;
    if let Some(b) = bias {
        if b.dims() != [g.c] {
            bail!("depthwise_conv2d: bias {:?} must be [{}] for input {:?}", b.dims(), g.c, x.dims())
        }
    }
    let fast = is_cpu_op_tensor(x)
        && weight.dtype() == x.dtype()
        && weight.device().is_cpu()
        && bias.is_none_or(|b| b.dtype() == x.dtype() && b.device().is_cpu());
    if !fast {
        let [pt, pb, pl, pr] = config.padding.resolve(g.h, g.w, g.kh, g.kw, config.stride);
        let xp = x.pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)?;
        let y = xp.conv2d(weight, 0, config.stride, 1, g.c)?;
        return match bias {
            None => Ok(y),
            Some(b) => y.broadcast_add(&b.reshape((1, g.c, 1, 1))?),
        };
    }
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    match bias {
        None => x.apply_op2_arc(&weight, Arc::new(Box::new(op))),
        Some(b) => x.apply_op3_arc(&weight, &b.contiguous()?, Arc::new(Box::new(op))),
    }
}
