//! `Conv2d`: the layer, its constructors and the CPU-op / Candle-fallback dispatch.

mod backward;
mod epilogue;
mod forward;
mod geom;
mod im2col;
mod op;

use std::sync::Arc;

use candle_core::{bail, Module, Result, Tensor};

use crate::policy::DTypePolicy;
use crate::pool::MaxPool2d;
use crate::util::is_cpu_op_tensor;
use op::Conv2dOp;

pub use candle_nn::Conv2dConfig;
pub use epilogue::Epilogue;

/// A 2-D convolution over NCHW input, a drop-in replacement for [`candle_nn::Conv2d`].
///
/// The weight is `[out, in / groups, kh, kw]` and the optional bias `[out]`, under the
/// variable names `weight` and `bias`, exactly as candle-nn stores them, so a checkpoint
/// written with either layer loads into the other.
///
/// On the CPU with f32, bf16 or f16 tensors the convolution, the bias add and the backward
/// pass run as one custom op ([`conv2d_op`]); elsewhere (CUDA, Metal, other dtypes) it calls
/// Candle's own `conv2d` and `broadcast_add`.
///
/// With [`with_policy`](Self::with_policy) the layer computes in the policy's
/// `compute_dtype` while its variables stay as created (Keras' mixed precision).
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
    epilogue: Epilogue,
    policy: Option<DTypePolicy>,
}

impl Conv2d {
    /// A layer from its weight `[out, in / groups, kh, kw]`, optional bias `[out]` and config.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Self { weight, bias, config, epilogue: Epilogue::default(), policy: None }
    }

    /// The same layer under `policy` (Keras' `Conv2D(..., dtype=policy)`): a floating input,
    /// the weight and the bias are cast to `policy.compute_dtype()` at each call, so the
    /// output is in that dtype, while the variables keep their dtype (create them in
    /// `policy.variable_dtype()`); the casts are graph nodes, so their gradients arrive in
    /// the variables' dtype. Without a policy the layer computes in its arguments' dtype.
    ///
    /// On the CPU a bf16 or f16 call runs the same gemm custom op as f32: the (already
    /// rounded) bf16 / f16 values are widened to f32, multiplied and accumulated in f32, and
    /// every result (output, and in the backward pass each gradient) is rounded once to
    /// the compute dtype — what tensor cores do, at f32 speed plus the conversions. On CUDA
    /// Candle's bf16 / f16 `conv2d` runs (cuDNN / cuBLAS).
    pub fn with_policy(mut self, policy: DTypePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The policy this layer runs under, if any.
    pub fn policy(&self) -> Option<DTypePolicy> {
        self.policy
    }

    /// The same layer followed by a ReLU inside the same op, as Keras'
    /// `Conv2D(activation="relu")`: the pre-activation never becomes a graph node, so the
    /// backward pass saves a full-size tensor and its gradient. The gradient is taken as 0
    /// where the output is 0 (TensorFlow's convention; Candle's `relu` passes it where the
    /// input is exactly 0 too, which only matters on exact zeros).
    pub fn with_relu(mut self) -> Self {
        self.epilogue.relu = true;
        self
    }

    /// The same layer followed by `pool` inside the same op (after the ReLU, if any): only
    /// the pooled output is stored, and the backward pass scatters through the recorded
    /// argmax straight into the convolution's gradient.
    pub fn with_max_pool(mut self, pool: MaxPool2d) -> Self {
        self.epilogue.max_pool = Some(pool);
        self
    }

    /// What this layer fuses after the convolution.
    pub fn epilogue(&self) -> Epilogue {
        self.epilogue
    }

    /// The padding, stride, dilation and groups of this layer.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// The weight, `[out, in / groups, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl From<candle_nn::Conv2d> for Conv2d {
    fn from(c: candle_nn::Conv2d) -> Self {
        Self::new(c.weight().clone(), c.bias().cloned(), *c.config())
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.policy {
            None => conv2d_fused(x, &self.weight, self.bias.as_ref(), &self.config, self.epilogue),
            Some(p) => {
                let dtype = p.compute_dtype();
                let bias = self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?;
                let weight = self.weight.to_dtype(dtype)?;
                conv2d_fused(&p.convert_input(x)?, &weight, bias.as_ref(), &self.config, self.epilogue)
            }
        }
    }
}

/// A [`Conv2d`] with a bias, created through `vb` with candle-nn's names (`weight`, `bias`),
/// shapes and initialisers (Kaiming-normal weight, uniform ±1/√in bias).
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    config: Conv2dConfig,
    vb: candle_nn::VarBuilder<'_>,
) -> Result<Conv2d> {
    candle_nn::conv2d(in_channels, out_channels, kernel_size, config, vb).map(Conv2d::from)
}

/// A [`Conv2d`] without bias, created through `vb` as [`candle_nn::conv2d_no_bias`] does.
pub fn conv2d_no_bias(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    config: Conv2dConfig,
    vb: candle_nn::VarBuilder<'_>,
) -> Result<Conv2d> {
    candle_nn::conv2d_no_bias(in_channels, out_channels, kernel_size, config, vb).map(Conv2d::from)
}

/// `conv2d(x, weight) + bias` over NCHW `x`, differentiable in all three arguments.
///
/// On the CPU with f32 (or bf16 / f16, computed in f32 and rounded, see
/// [`Conv2d::with_policy`]) tensors of one dtype this is one custom op: the forward pass is im2col + gemm
/// with the bias written first; the backward pass computes the weight gradient with gemm,
/// the bias gradient as a row reduction, and the input gradient (gemm + col2im) only when
/// `x` is tracked by the graph (a `Var` or computed from one), so the first layer of a
/// network does no input-gradient work. Other devices and dtypes use Candle's ops.
pub fn conv2d_op(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, config: &Conv2dConfig) -> Result<Tensor> {
    conv2d_fused(x, weight, bias, config, Epilogue::default())
}

/// [`conv2d_op`] followed by the `epilogue` (ReLU, max pool) in the same op on the CPU;
/// elsewhere the convolution, `relu` and `max_pool2d` run as separate Candle ops.
pub fn conv2d_fused(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: &Conv2dConfig,
    epilogue: Epilogue,
) -> Result<Tensor> {
    let op = Conv2dOp::new(config, epilogue);
    let fast = is_cpu_op_tensor(x)
        && weight.dtype() == x.dtype()
        && weight.device().is_cpu()
        && bias.is_none_or(|b| b.dtype() == x.dtype() && b.device().is_cpu());
    if !fast {
        let y = x.conv2d(weight, config.padding, config.stride, config.dilation, config.groups)?;
        let y = match bias {
            None => y,
            Some(b) => {
                let o = b.dims1()?;
                y.broadcast_add(&b.reshape((1, o, 1, 1))?)?
            }
        };
        let y = if epilogue.relu { y.relu()? } else { y };
        return match epilogue.max_pool {
            Some(p) => p.forward(&y),
            None => Ok(y),
        };
    }
    // Validate the shapes here so that errors name the layer's arguments.
    op.geometry(x.shape(), weight.shape())?;
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    match bias {
        None => x.apply_op2_arc(&weight, Arc::new(Box::new(op))),
        Some(b) => {
            let o = weight.dim(0)?;
            if b.dims1()? != o {
                bail!("conv2d: bias has {} elements, weight has {o} output channels", b.dims1()?)
            }
            x.apply_op3_arc(&weight, &b.contiguous()?, Arc::new(Box::new(op)))
        }
    }
}
