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

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var};
use rayon::prelude::*;

use super::adam::Adam;
use crate::cpu_f32::{is_cpu_f32_contiguous, slice, slice_mut, CHUNK};

/// Whether the fused path applies to these tensors.
pub(crate) fn applies(var: &Var, grad: &Tensor, m: &Var, v: &Var) -> bool {
    [var.as_tensor(), grad, m.as_tensor(), v.as_tensor()].into_iter().all(is_cpu_f32_contiguous)
}

/// Runs the three passes (see the module docs).
pub(crate) fn update(
    var: &Var,
    grad: &Tensor,
    m: &Var,
    v: &Var,
    adam: &Adam,
    alpha: f32,
) -> Result<()> {
    m.inplace_op2(grad, &Moment { c: (1.0 - adam.beta_1) as f32, square: false })?;
    v.inplace_op2(grad, &Moment { c: (1.0 - adam.beta_2) as f32, square: true })?;
    var.inplace_op3(m.as_tensor(), v.as_tensor(), &Step { alpha, epsilon: adam.epsilon as f32 })
}

fn same_len(a: usize, b: usize, what: &str) -> Result<()> {
    if a != b {
        candle_core::bail!("fused Adam: {what} has {b} elements, the variable {a}");
    }
    Ok(())
}

/// `s ← s + ((x − s)·c + 0)` with `x = g` or `g·g`: one moment's update.
struct Moment {
    c: f32,
    square: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "wick-adam-moment"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let slot = slice_mut(s1, l1, "fused Adam: slot")?;
        let g = slice(s2, l2, "fused Adam: gradient")?;
        same_len(slot.len(), g.len(), "gradient")?;
        let (c, square) = (self.c, self.square);
        let body = |(s, g): (&mut [f32], &[f32])| {
            for (s, &g) in s.iter_mut().zip(g) {
                let x = if square { g * g } else { g };
                *s += (x - *s) * c + 0.0;
            }
        };
        if slot.len() >= 2 * CHUNK {
            slot.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(body);
        } else {
            body((slot, g));
        }
        Ok(())
    }
}

/// `θ ← θ − (m·α + 0) / (sqrt(v)·1 + ε)`.
struct Step {
    alpha: f32,
    epsilon: f32,
}

impl InplaceOp3 for Step {
    fn name(&self) -> &'static str {
        "wick-adam-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let theta = slice_mut(s1, l1, "fused Adam: variable")?;
        let m = slice(s2, l2, "fused Adam: momentum")?;
        let v = slice(s3, l3, "fused Adam: velocity")?;
        same_len(theta.len(), m.len(), "momentum")?;
        same_len(theta.len(), v.len(), "velocity")?;
        let (alpha, eps) = (self.alpha, self.epsilon);
        let body = |((t, m), v): ((&mut [f32], &[f32]), &[f32])| {
            for ((t, &m), &v) in t.iter_mut().zip(m).zip(v) {
                *t -= (m * alpha + 0.0) / (v.sqrt() * 1.0 + eps);
            }
        };
        if theta.len() >= 2 * CHUNK {
            theta
                .par_chunks_mut(CHUNK)
                .zip(m.par_chunks(CHUNK))
                .zip(v.par_chunks(CHUNK))
                .for_each(body);
        } else {
            body(((theta, m), v));
        }
        Ok(())
    }
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
        for n in [1usize, 7, 1000, 3 * CHUNK + 5] {
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
