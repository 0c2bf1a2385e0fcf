//! SGD's update as in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! the rule's `update_with_tensor_ops` (the `+ 0` are Candle's `affine`), so both paths give
//! the same bits, `-0.0` included:
//!
//! - plain: `θ ← θ − (g·η + 0)`
//! - momentum: `m ← (m·μ + 0) − (g·η + 0)`, then `θ ← θ + m`
//! - Nesterov: the same `m`, then `θ ← θ + ((m·μ + 0) − (g·η + 0))`
//!
//! Used only when the variable, the gradient and the momentum slot are contiguous f32 CPU
//! tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use crate::cpu_f32::{fusable, update1, update2};

/// Whether the fused path applies to these tensors (see [`fusable`]); `m` is the
/// momentum slot, when the update uses one.
pub(super) fn applies(var: &Var, g: &Tensor, m: Option<&Var>) -> bool {
    let state: Vec<&Tensor> = [var].into_iter().chain(m).map(|s| s.as_tensor()).collect();
    fusable(g, &state)
}

/// The hyper-parameters the passes use (Keras `momentum`, `nesterov`).
pub(super) struct Hyper {
    pub(super) momentum: f64,
    pub(super) nesterov: bool,
}

/// Runs the passes (see the module docs); `m` is the momentum slot, when the update uses
/// one.
pub(super) fn update(h: &Hyper, var: &Var, g: &Tensor, m: Option<&Var>, lr: f64) -> Result<()> {
    let lr = lr as f32;
    let Some(m) = m else {
        return update1(var, g, "wick-sgd-step", move |t, g| t - (g * lr + 0.0));
    };
    let mu = h.momentum as f32;
    update1(m, g, "wick-sgd-momentum", move |m, g| (m * mu + 0.0) - (g * lr + 0.0))?;
    if h.nesterov {
        update2(var, m, g, "wick-sgd-nesterov-step", move |t, m, g| t + ((m * mu + 0.0) - (g * lr + 0.0)))
    } else {
        update1(var, m, "wick-sgd-momentum-step", |t, m| t + m)
    }
}
