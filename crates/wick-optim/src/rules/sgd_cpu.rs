//! SGD's update as in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! [`Sgd::update_with_tensor_ops`] (the `+ 0` are Candle's `affine`), so both paths give
//! the same bits, `-0.0` included:
//!
//! - plain: `θ ← θ − (g·η + 0)`
//! - momentum: `m ← (m·μ + 0) − (g·η + 0)`, then `θ ← θ + m`
//! - Nesterov: the same `m`, then `θ ← θ + ((m·μ + 0) − (g·η + 0))`
//!
//! Used only when the variable, the gradient and the momentum slot are contiguous f32 CPU
//! tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use super::sgd::Sgd;
use crate::cpu_f32::{fusable, update1, update2};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(crate) fn applies(sgd: &Sgd, var: &Var, g: &Tensor, slots: &[Var]) -> bool {
    let state: Vec<&Tensor> = [var]
        .into_iter()
        .chain(sgd.momentum_slot(slots))
        .map(|s| s.as_tensor())
        .collect();
    fusable(g, &state)
}

/// Runs the passes (see the module docs).
pub(crate) fn update(sgd: &Sgd, var: &Var, g: &Tensor, slots: &[Var], lr: f64) -> Result<()> {
    let lr = lr as f32;
    let Some(m) = sgd.momentum_slot(slots) else {
        return update1(var, g, "wick-sgd-step", move |t, g| t - (g * lr + 0.0));
    };
    let mu = sgd.momentum as f32;
    update1(m, g, "wick-sgd-momentum", move |m, g| {
        (m * mu + 0.0) - (g * lr + 0.0)
    })?;
    if sgd.nesterov {
        update2(var, m, g, "wick-sgd-nesterov-step", move |t, m, g| {
            t + ((m * mu + 0.0) - (g * lr + 0.0))
        })
    } else {
        update1(var, m, "wick-sgd-momentum-step", |t, m| t + m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};

    fn applies_(r: &Sgd, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        applies(r, v, g, s)
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, momentum, nesterov) in [
            ("plain", 0.0, false),
            ("momentum", 0.9, false),
            ("nesterov", 0.9, true),
            ("momentum 1", 1.0, true),
        ] {
            assert_fused_equals_tensor_ops(
                what,
                || Sgd { momentum, nesterov },
                0.01,
                &applies_,
                &|r, v, g, s, lr, _| update(r, v, g, s, lr),
                &|r, v, g, s, lr, _| r.update_with_tensor_ops(v, g, s, lr),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&Sgd::default(), &applies_);
        assert_refuses_other_layouts(
            &Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            &applies_,
        );
    }
}
