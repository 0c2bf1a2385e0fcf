//! # wick-nn
//!
//! Drop-in replacements for candle-nn's vision layers whose CPU forward **and backward**
//! passes are fast: [`Conv2d`], [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool2d`] and the
//! dense [`Linear`].
//!
//! Candle 0.11 trains CNNs on the CPU an order of magnitude slower than Keras, mostly in
//! the backward pass: the conv input gradient is a direct `conv_transpose2d` loop (and is
//! computed even for the network input), the bias gradient is a slow strided reduction and
//! the max-pool gradient is rebuilt from five elementwise ops. Here each layer is one Candle
//! custom op ([`candle_core::CustomOp1`]/[`CustomOp2`](candle_core::CustomOp2)/
//! [`CustomOp3`](candle_core::CustomOp3)) on CPU f32 tensors:
//!
//! - conv forward: im2col + gemm (the `gemm` crate Candle itself uses), bias fused;
//! - conv backward: weight gradient by gemm against the recomputed im2col matrix, bias
//!   gradient as a row reduction, input gradient by gemm + col2im — skipped when the input
//!   is not tracked by the graph (the batch fed to the first layer);
//! - max-pool backward: a scatter through the argmax recorded by the forward pass;
//! - [`relu`]: a one-pass masked backward instead of four tensor ops.
//! - [`DepthwiseConv2d`]: Keras' `DepthwiseConv2D` (explicit, `"same"` or `"valid"` padding),
//!   forward and all three gradients as direct vectorised loops per (image, channel) plane
//!   instead of Candle's grouped `conv2d`, one group per channel.
//! - [`BatchNorm`]: Keras' `BatchNormalization` (moving statistics updated by training steps,
//!   inference mode when frozen), optionally fused with ReLU6; one op per mode.
//!
//! [`Conv2d::with_relu`] and [`Conv2d::with_max_pool`] fuse the activation and the pool
//! into the same op (as Keras' `Conv2D(activation="relu")`), so the full-size
//! pre-activation and pre-pool tensors never enter Candle's graph; in the reference CNN
//! this about halves the backward time again (BENCHMARKS.md, "wick-nn").
//!
//! - [`Linear`]: `x·wᵀ + b` as one op (candle-nn's adds a transpose and a broadcast node,
//!   each costing a full-size zero tensor and sum in Candle's backward).
//!
//! On CUDA, Metal or other dtypes every layer calls Candle's own ops instead (conv2d:
//! Candle's im2col + cuBLAS gemm on CUDA, no cuDNN), except the pooling backward: Candle
//! 0.11.1's is wrong, so a training-mode pool gathers its windows with differentiable ops
//! that give the same gradients as the CPU kernels.
//!
//! ## Mixed precision
//!
//! [`DTypePolicy`] is Keras' dtype policy (`"float32"`, `"mixed_bfloat16"`,
//! `"mixed_float16"`, …). [`Conv2d::with_policy`] and [`Linear::with_policy`] make a layer
//! compute in the policy's `compute_dtype` while its variables stay f32: input, weight and
//! bias are cast at each call (graph nodes, so gradients come back to the f32 variables in
//! f32). The pools and [`relu`] have no variables and run in their input's dtype.
//!
//! On the CPU, bf16 and f16 tensors take the same custom ops as f32: their values are widened
//! to f32 (exactly), multiplied and accumulated in f32 by the same gemm, and every tensor an
//! op produces (outputs, and each gradient in the backward pass; inside a fused conv the
//! pre-pool output too) is rounded to nearest-even in bf16 / f16 — the arithmetic of tensor
//! cores (bf16 / f16 operands, f32 accumulation). There is no bf16 gemm on the CPU here:
//! the speed is f32's plus the conversions, so mixed precision does not make CPU training
//! faster; it makes CPU runs numerically what a GPU run computes. Candle's own CPU bf16 ops
//! (used for everything outside wick-nn's layers, e.g. a `max` reduction) are generic loops.
//! On CUDA the layers call Candle's bf16 / f16 `conv2d` and `matmul` (cuDNN / cuBLAS).
//!
//! Call [`tune_cpu_allocator`] once at the start of a CPU training program: Candle
//! allocates every op's output, and glibc's default of handing large blocks back to the
//! kernel makes each step page-fault through them again (≈ 1.3–1.4× on the reference CNN).
//! Call [`tune_cpu_threads`] there too: it fixes the thread count Candle would otherwise
//! recompute for every op and shortens the spinning of Candle's own worker threads.
//!
//! Gradients follow the textbook definitions, which differs from Candle 0.11.1 in three
//! places: Candle's `max_pool2d` backward scales the gradient by 1/(kh·kw); its
//! `avg_pool2d` backward is wrong when the kernel does not divide the input; its conv2d
//! backward fails when height and width leave different remainders under the stride.
//! wick-nn's max pool sends each gradient to the first maximum of its window.
//!
//! Layers are built with the same [`VarBuilder`](candle_nn::VarBuilder) paths, variable
//! names (`weight` `[out, in/groups, kh, kw]`, `bias` `[out]`), shapes and initialisers as
//! candle-nn, so a checkpoint loads into either.
//!
//! Errors are Candle's ([`candle_core::Error`]), since the layers implement
//! [`candle_core::Module`].
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//!
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
//! let conv = wick_nn::conv2d(3, 8, 3, wick_nn::Conv2dConfig::default(), vb.pp("conv1"))?;
//! let pool = wick_nn::MaxPool2d::new(2);
//! let x = Tensor::randn(0f32, 1., (2, 3, 16, 16), &dev)?;
//! let y = pool.forward(&conv.forward(&x)?.relu()?)?;
//! assert_eq!(y.dims(), &[2, 8, 7, 7]);
//! let grads = y.sum_all()?.backward()?;
//! assert!(grads.get(conv.weight()).is_some());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod activation;
mod allocator;
mod batch_norm;
mod batch_norm_op;
mod conv;
mod depthwise;
mod linear;
mod policy;
mod pool;
mod pool_windows;
mod room;
mod scratch;
mod sgemm;
mod threads;
mod util;

pub use activation::{relu, Relu};
pub use allocator::{tune_cpu_allocator, tune_cpu_allocator_with, AllocatorTuning};
pub use batch_norm::{batch_norm, BatchNorm, BatchNormConfig, BATCH_NORM_NON_TRAINABLE};
pub use conv::{conv2d, conv2d_fused, conv2d_no_bias, conv2d_op, Conv2d, Conv2dConfig, Epilogue};
pub use depthwise::{
    depthwise_conv2d, depthwise_conv2d_no_bias, depthwise_conv2d_op, DepthwiseConv2d, DepthwiseConv2dConfig,
    DepthwisePadding,
};
pub use linear::{linear, linear_no_bias, Linear};
pub use policy::{DTypePolicy, UnknownPolicy};
pub use pool::{avg_pool2d, global_avg_pool2d, max_pool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use threads::{tune_cpu_threads, BARRIER_POOL_SPIN_LIMIT};
