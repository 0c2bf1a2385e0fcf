//! RMSprop's update as in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! the rule's `update_with_tensor_ops` (the `+ 0` and `·1` are Candle's `affine`), so
//! both paths give the same bits, `-0.0` included. With `c = 1 − ρ`:
//!
//! 1. `v ← (v·ρ + 0) + ((g·g)·c + 0)`
//! 2. centered: `a ← (a·ρ + 0) + (g·c + 0)`
//! 3. `inc = (g·η + 0) / sqrt(d)` with `d = (v − a·a)·1 + ε` (centered) or `v·1 + ε`;
//!    with momentum, `b ← (b·μ + 0) + inc`, then `θ ← θ − b`; without, `θ ← θ − inc`.
//!
//! Used only when the variable, the gradient and every slot are contiguous f32 CPU
//! tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use crate::cpu_f32::{fusable, update1, update2, update3};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(super) fn applies(var: &Var, grad: &Tensor, slots: &[Var]) -> bool {
    let state: Vec<&Tensor> = [var].into_iter().chain(slots).map(|s| s.as_tensor()).collect();
    fusable(grad, &state)
}

/// The hyper-parameters the passes use (Keras `rho`, `momentum`, `epsilon`, `centered`).
pub(super) struct Hyper {
    pub(super) rho: f64,
    pub(super) momentum: f64,
    pub(super) epsilon: f64,
    pub(super) centered: bool,
}

/// Runs the passes (see the module docs). `slots` has the length the rule's
/// `init_slots` gives: `velocity`, then `momentum` when `momentum > 0`, then
/// `average_gradient` when `centered`.
pub(super) fn update(h: &Hyper, var: &Var, g: &Tensor, slots: &[Var], lr: f64) -> Result<()> {
    let (rho, c) = (h.rho as f32, (1.0 - h.rho) as f32);
    let (lr, eps) = (lr as f32, h.epsilon as f32);
    let v = &slots[0];
    update1(v, g, "wick-rmsprop-velocity", move |v, g| (v * rho + 0.0) + ((g * g) * c + 0.0))?;
    let momentum = (h.momentum > 0.0).then(|| (&slots[1], h.momentum as f32));
    if h.centered {
        let a = &slots[slots.len() - 1];
        update1(a, g, "wick-rmsprop-average", move |a, g| (a * rho + 0.0) + (g * c + 0.0))?;
        let inc = move |g: f32, v: f32, a: f32| (g * lr + 0.0) / ((v - a * a) * 1.0 + eps).sqrt();
        match momentum {
            Some((b, mu)) => {
                update3(b, g, v, a, "wick-rmsprop-centered-momentum", move |b, g, v, a| (b * mu + 0.0) + inc(g, v, a))?;
                update1(var, b, "wick-rmsprop-momentum-step", |t, b| t - b)
            }
            None => update3(var, g, v, a, "wick-rmsprop-centered-step", move |t, g, v, a| t - inc(g, v, a)),
        }
    } else {
        let inc = move |g: f32, v: f32| (g * lr + 0.0) / (v * 1.0 + eps).sqrt();
        match momentum {
            Some((b, mu)) => {
                update2(b, g, v, "wick-rmsprop-momentum", move |b, g, v| (b * mu + 0.0) + inc(g, v))?;
                update1(var, b, "wick-rmsprop-momentum-step", |t, b| t - b)
            }
            None => update2(var, g, v, "wick-rmsprop-step", move |t, g, v| t - inc(g, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_sharing_the_variable_take_the_tensor_ops() {
        let dev = candle_core::Device::Cpu;
        let zeros = || Var::zeros(5, candle_core::DType::F32, &dev).unwrap();
        let (var, v, a) = (zeros(), zeros(), zeros());
        let g = Tensor::zeros(5, candle_core::DType::F32, &dev).unwrap();
        assert!(applies(&var, &g, &[v.clone(), a]));
        // A `Var` made from a variable is that variable (the same storage).
        let same = Var::from_tensor(var.as_tensor()).unwrap();
        assert!(!applies(&var, &g, &[v.clone(), same.clone()]));
        assert!(!applies(&var, &g, &[v.clone(), same, v]));
    }
}
