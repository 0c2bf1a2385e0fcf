//! Adagrad's update as two in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! the rule's `update_with_tensor_ops` (the `+ 0` and `·1` are Candle's `affine`), so both
//! paths give the same bits, `-0.0` included:
//!
//! 1. `A ← A + g·g`
//! 2. `θ ← θ − (g·η + 0) / sqrt(A·1 + ε)`
//!
//! Used only when the variable, the gradient and the accumulator are contiguous f32 CPU
//! tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use crate::cpu_f32::{fusable, update1, update2};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(super) fn applies(var: &Var, grad: &Tensor, acc: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), acc.as_tensor()])
}

/// Runs the two passes (see the module docs); `epsilon` is the rule's ε.
pub(super) fn update(var: &Var, g: &Tensor, acc: &Var, lr: f64, epsilon: f64) -> Result<()> {
    let (lr, eps) = (lr as f32, epsilon as f32);
    update1(acc, g, "wick-adagrad-accumulator", |a, g| a + g * g)?;
    update2(var, g, acc, "wick-adagrad-step", move |t, g, a| t - (g * lr + 0.0) / (a * 1.0 + eps).sqrt())
}
