//! Nadam's update as three in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! [`Nadam::update_with_tensor_ops`] (the `+ 0` and `·1` are Candle's `affine`), so both
//! paths give the same bits, `-0.0` included. With `c1 = 1 − β1`, `c2 = 1 − β2` and the
//! step's factors `fm`, `fg`, `fv` ([`Nadam::factors`], in f64 as the tensor ops):
//!
//! 1. `m ← ((g − m)·c1 + 0) + m`
//! 2. `v ← ((g·g − v)·c2 + 0) + v`
//! 3. `θ ← θ − (((m·fm + 0) + (g·fg + 0))·η + 0) / (sqrt(v·fv + 0)·1 + ε)`
//!
//! Pass 3 reads three tensors; Candle's in-place ops take two, so `v` is read under its
//! own lock ([`update3`]). Used only when the variable, the gradient and both slots are
//! contiguous f32 CPU tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use super::nadam::Nadam;
use crate::cpu_f32::{fusable, update1, update3};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(crate) fn applies(var: &Var, grad: &Tensor, m: &Var, v: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), m.as_tensor(), v.as_tensor()])
}

/// Runs the three passes (see the module docs); `begin_step(t)` has run.
pub(crate) fn update(
    r: &Nadam,
    var: &Var,
    g: &Tensor,
    m: &Var,
    v: &Var,
    lr: f64,
    t: u64,
) -> Result<()> {
    let (c1, c2) = ((1.0 - r.beta_1) as f32, (1.0 - r.beta_2) as f32);
    let f = r.factors(t);
    let (fm, fg, fv) = (f.m_factor as f32, f.g_factor as f32, f.v_factor as f32);
    let (lr, eps) = (lr as f32, r.epsilon as f32);
    update1(m, g, "wick-nadam-momentum", move |m, g| {
        ((g - m) * c1 + 0.0) + m
    })?;
    update1(v, g, "wick-nadam-velocity", move |v, g| {
        ((g * g - v) * c2 + 0.0) + v
    })?;
    update3(var, g, m, v, "wick-nadam-step", move |t, g, m, v| {
        let m_hat = (m * fm + 0.0) + (g * fg + 0.0);
        t - (m_hat * lr + 0.0) / ((v * fv + 0.0).sqrt() * 1.0 + eps)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};

    fn applies_(_: &Nadam, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        applies(v, g, &s[0], &s[1])
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, lr) in [("lr 0.1", 0.1), ("lr 0.001", 0.001)] {
            assert_fused_equals_tensor_ops(
                what,
                Nadam::default,
                lr,
                &applies_,
                &|r, v, g, s, lr, t| update(r, v, g, &s[0], &s[1], lr, t),
                &|r, v, g, s, lr, t| r.update_with_tensor_ops(v, g, &s[0], &s[1], lr, t),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&Nadam::default(), &applies_);
    }

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
        assert!(update(&Nadam::default(), &var, &g, &m, &same, 0.1, 1).is_err());
    }
}
