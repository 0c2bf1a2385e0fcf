//! Adam's update as three in-place passes over CPU memory, with no allocation.
//!
//! The generic path in [`adam`](super::adam) builds about ten Candle tensors per
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

use super::adam::Adam;
use crate::cpu_f32::{fusable, update1, update2};

/// Whether the fused path applies to these tensors (see [`fusable`]).
pub(crate) fn applies(var: &Var, grad: &Tensor, m: &Var, v: &Var) -> bool {
    fusable(grad, &[var.as_tensor(), m.as_tensor(), v.as_tensor()])
}

/// Runs the three passes (see the module docs).
pub(crate) fn update(var: &Var, grad: &Tensor, m: &Var, v: &Var, adam: &Adam, alpha: f32) -> Result<()> {
    let (c1, c2, eps) = ((1.0 - adam.beta_1) as f32, (1.0 - adam.beta_2) as f32, adam.epsilon as f32);
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

    /// Deterministic values in roughly [-2, 2), with exact zeros and -0.0 mixed in.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match i % 97 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => ((x >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0,
                }
            })
            .collect()
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
    }

    /// Both paths, several steps, sizes below and above the parallel threshold: the
    /// variable and both slots agree bit for bit.
    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        let adam = Adam::default();
        for n in [1usize, 7, 1000, 3 * crate::cpu_f32::CHUNK + 5] {
            let dev = Device::Cpu;
            let init = Tensor::from_vec(values(n, 1), n, &dev).unwrap();
            let (fv, gv) = (Var::from_tensor(&init).unwrap(), Var::from_tensor(&init).unwrap());
            let slots = |_: ()| -> Vec<Var> {
                (0..2).map(|_| Var::zeros(n, candle_core::DType::F32, &dev).unwrap()).collect()
            };
            let (fs, gs) = (slots(()), slots(()));
            for step in 1..=4u64 {
                let g = Tensor::from_vec(values(n, 10 + step), n, &dev).unwrap();
                let alpha = 0.01f32 * (1.0 - 0.999f32.powf(step as f32)).sqrt() / (1.0 - 0.9f32.powf(step as f32));
                assert!(applies(&fv, &g, &fs[0], &fs[1]));
                update(&fv, &g, &fs[0], &fs[1], &adam, alpha).unwrap();
                super::super::adam::update_with_tensor_ops(&adam, &gv, &g, &gs, alpha).unwrap();
                assert_eq!(bits(&fv), bits(&gv), "variable, n = {n}, step {step}");
                assert_eq!(bits(&fs[0]), bits(&gs[0]), "momentum, n = {n}, step {step}");
                assert_eq!(bits(&fs[1]), bits(&gs[1]), "velocity, n = {n}, step {step}");
            }
        }
    }

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
