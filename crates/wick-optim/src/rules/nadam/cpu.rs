//! Nadam's update as three in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! the rule's `update_with_tensor_ops` (the `+ 0` and `·1` are Candle's `affine`), so both
//! paths give the same bits, `-0.0` included. With `c1 = 1 − β1`, `c2 = 1 − β2` and the
//! step's factors `fm`, `fg`, `fv` (the rule's `factors`, in f64 as the tensor ops):
//!
//! 1. `m ← ((g − m)·c1 + 0) + m`
//! 2. `v ← ((g·g − v)·c2 + 0) + v`
//! 3. `θ ← θ − (((m·fm + 0) + (g·fg + 0))·η + 0) / (sqrt(v·fv + 0)·1 + ε)`
//!
//! Pass 3 reads three tensors; Candle's in-place ops take two, so `v` is read under its
//! own lock ([`update3`]). Used only when the variable, the gradient and both slots are
//! contiguous f32 CPU tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use crate::cpu_f32::{fusable, update1, update3};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(super) fn applies(var: &Var, grad: &Tensor, m: &Var, v: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), m.as_tensor(), v.as_tensor()])
}

/// The hyper-parameters (Keras `beta_1`, `beta_2`, `epsilon`) and the step's factors
/// the passes use.
pub(super) struct Hyper {
    pub(super) beta_1: f64,
    pub(super) beta_2: f64,
    pub(super) epsilon: f64,
    pub(super) m_factor: f64,
    pub(super) g_factor: f64,
    pub(super) v_factor: f64,
}

/// Runs the three passes (see the module docs).
pub(super) fn update(h: &Hyper, var: &Var, g: &Tensor, m: &Var, v: &Var, lr: f64) -> Result<()> {
    let (c1, c2) = ((1.0 - h.beta_1) as f32, (1.0 - h.beta_2) as f32);
    let (fm, fg, fv) = (h.m_factor as f32, h.g_factor as f32, h.v_factor as f32);
    let (lr, eps) = (lr as f32, h.epsilon as f32);
    update1(m, g, "wick-nadam-momentum", move |m, g| ((g - m) * c1 + 0.0) + m)?;
    update1(v, g, "wick-nadam-velocity", move |v, g| ((g * g - v) * c2 + 0.0) + v)?;
    update3(var, g, m, v, "wick-nadam-step", move |t, g, m, v| {
        let m_hat = (m * fm + 0.0) + (g * fg + 0.0);
        t - (m_hat * lr + 0.0) / ((v * fv + 0.0).sqrt() * 1.0 + eps)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_velocity_sharing_the_variable_takes_the_tensor_ops() {
        let dev = candle_core::Device::Cpu;
        let zeros = || Var::zeros(5, candle_core::DType::F32, &dev).unwrap();
        let (var, m) = (zeros(), zeros());
        let g = Tensor::zeros(5, candle_core::DType::F32, &dev).unwrap();
        // A `Var` made from a variable is that variable (the same storage).
        let same = Var::from_tensor(var.as_tensor()).unwrap();
        assert!(!applies(&var, &g, &m, &same));
        // Called anyway, the pass refuses instead of deadlocking on the storage's lock.
        let h = Hyper { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, m_factor: 1.0, g_factor: 1.0, v_factor: 1.0 };
        assert!(update(&h, &var, &g, &m, &same, 0.1).is_err());
    }
}
