//! Adamax's update as three in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! the rule's `update_with_tensor_ops` (the `+ 0` are Candle's `affine`; `max(a, b)` is
//! Candle's `maximum`, `if a < b { b } else { a }`), so both paths give the same bits,
//! `-0.0` included. With `c = 1 − β1` and `k = 1 − β1^t` (in f64, as the tensor ops):
//!
//! 1. `m ← ((g − m)·c + 0) + m`
//! 2. `u ← max(u·β2 + 0, |g|)`
//! 3. `θ ← θ − (m·η + 0) / (u·k + ε·k)`
//!
//! Used only when the variable, the gradient and both slots are contiguous f32 CPU
//! tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use crate::cpu_f32::{fusable, update1, update2};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(super) fn applies(var: &Var, grad: &Tensor, m: &Var, u: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), m.as_tensor(), u.as_tensor()])
}

/// The hyper-parameters the passes use (Keras `beta_1`, `beta_2`, `epsilon`).
pub(super) struct Hyper {
    pub(super) beta_1: f64,
    pub(super) beta_2: f64,
    pub(super) epsilon: f64,
}

/// Runs the three passes (see the module docs).
pub(super) fn update(h: &Hyper, var: &Var, g: &Tensor, m: &Var, u: &Var, lr: f64, t: u64) -> Result<()> {
    let (c, beta_2) = ((1.0 - h.beta_1) as f32, h.beta_2 as f32);
    let bias = 1.0 - h.beta_1.powf(t as f64);
    let (lr, k, eps_k) = (lr as f32, bias as f32, (h.epsilon * bias) as f32);
    update1(m, g, "wick-adamax-momentum", move |m, g| ((g - m) * c + 0.0) + m)?;
    update1(u, g, "wick-adamax-norm", move |u, g| {
        let (a, b) = (u * beta_2 + 0.0, g.abs());
        if a < b {
            b
        } else {
            a
        }
    })?;
    update2(var, m, u, "wick-adamax-step", move |t, m, u| t - (m * lr + 0.0) / (u * k + eps_k))
}
