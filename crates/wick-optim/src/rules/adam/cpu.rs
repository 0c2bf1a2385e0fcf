//! Adam's update as three in-place passes over CPU memory, with no allocation.
//!
//! The generic path (the rule's tensor ops) builds about ten Candle tensors per
//! variable and step, each a fresh allocation the size of the variable: for the 1.6 M
//! weights of a small CNN's dense layer that is ~45 ms of a ~50 ms Keras step. Here the
//! same arithmetic, in the same float32 order as the Candle ops (so the results are
//! bit-identical to the generic path), runs as Candle in-place ops:
//!
//! 1. `m ← m + ((g − m)·c1 + 0)`            (`c1 = 1 − β1`)
//! 2. `v ← v + ((g·g − v)·c2 + 0)`          (`c2 = 1 − β2`)
//! 3. `θ ← θ − (m·α + 0) / (sqrt(v)·1 + ε)`
//!
//! The `+ 0` and `·1` are what Candle's `affine` computes; they are kept so that the two
//! paths agree bit for bit, `-0.0` included. Used only for contiguous f32 CPU tensors
//! without AMSGrad; everything else takes the generic path.

use candle_core::{Result, Tensor, Var};

use crate::cpu_f32::{fusable, update1, update2};

/// The hyper-parameters the passes use (Keras `beta_1`, `beta_2`, `epsilon`).
pub(super) struct Hyper {
    pub(super) beta_1: f64,
    pub(super) beta_2: f64,
    pub(super) epsilon: f64,
}

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(super) fn applies(var: &Var, grad: &Tensor, m: &Var, v: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), m.as_tensor(), v.as_tensor()])
}

/// Runs the three passes (see the module docs).
pub(super) fn update(var: &Var, grad: &Tensor, m: &Var, v: &Var, h: &Hyper, alpha: f32) -> Result<()> {
    let (c1, c2, eps) = ((1.0 - h.beta_1) as f32, (1.0 - h.beta_2) as f32, h.epsilon as f32);
    update1(m, grad, "wick-adam-momentum", move |m, g| m + ((g - m) * c1 + 0.0))?;
    update1(v, grad, "wick-adam-velocity", move |v, g| v + ((g * g - v) * c2 + 0.0))?;
    update2(var, m.as_tensor(), v.as_tensor(), "wick-adam-step", move |t, m, v| {
        t - (m * alpha + 0.0) / (v.sqrt() * 1.0 + eps)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn other_dtypes_and_layouts_take_the_generic_path() {
        let dev = Device::Cpu;
        let var = Var::zeros((4, 3), candle_core::DType::F32, &dev).unwrap();
        let m = Var::zeros((4, 3), candle_core::DType::F32, &dev).unwrap();
        let v = Var::zeros((4, 3), candle_core::DType::F32, &dev).unwrap();
        let g = Tensor::zeros((3, 4), candle_core::DType::F32, &dev).unwrap().t().unwrap();
        assert!(!applies(&var, &g, &m, &v), "a transposed gradient is not contiguous");
        let v64 = Var::zeros((4, 3), candle_core::DType::F64, &dev).unwrap();
        let g64 = Tensor::zeros((4, 3), candle_core::DType::F64, &dev).unwrap();
        assert!(!applies(&v64, &g64, &m, &v));
    }
}
