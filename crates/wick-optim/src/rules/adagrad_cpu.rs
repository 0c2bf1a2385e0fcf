//! Adagrad's update as two in-place passes over CPU memory, with no allocation.
//!
//! The same float32 expressions, in the same order, as the tensor ops of
//! [`Adagrad::update_with_tensor_ops`] (the `+ 0` and `·1` are Candle's `affine`), so both
//! paths give the same bits, `-0.0` included:
//!
//! 1. `A ← A + g·g`
//! 2. `θ ← θ − (g·η + 0) / sqrt(A·1 + ε)`
//!
//! Used only when the variable, the gradient and the accumulator are contiguous f32 CPU
//! tensors; everything else takes the tensor ops.

use candle_core::{Result, Tensor, Var};

use super::adagrad::Adagrad;
use crate::cpu_f32::{fusable, update1, update2};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(crate) fn applies(var: &Var, grad: &Tensor, acc: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), acc.as_tensor()])
}

/// Runs the two passes (see the module docs).
pub(crate) fn update(r: &Adagrad, var: &Var, g: &Tensor, acc: &Var, lr: f64) -> Result<()> {
    let (lr, eps) = (lr as f32, r.epsilon as f32);
    update1(acc, g, "wick-adagrad-accumulator", |a, g| a + g * g)?;
    update2(var, g, acc, "wick-adagrad-step", move |t, g, a| {
        t - (g * lr + 0.0) / (a * 1.0 + eps).sqrt()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};

    fn applies_(_: &Adagrad, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        applies(v, g, &s[0])
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, init) in [("default", 0.1), ("accumulator from 0", 0.0)] {
            assert_fused_equals_tensor_ops(
                what,
                || Adagrad {
                    initial_accumulator_value: init,
                    ..Adagrad::default()
                },
                0.1,
                &applies_,
                &|r, v, g, s, lr, _| update(r, v, g, &s[0], lr),
                &|r, v, g, s, lr, _| r.update_with_tensor_ops(v, g, &s[0], lr),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&Adagrad::default(), &applies_);
    }
}
