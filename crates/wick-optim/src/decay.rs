//! Keras' decoupled weight decay, `θ ← θ − θ·wd·η`, applied before the update rule.
//!
//! As Candle tensor ops it is three full-size temporaries per variable (`θ·wd`, `·η`, the
//! difference) plus a copy back. On contiguous f32 CPU variables it runs as one in-place
//! pass computing the same float32 expression in the same order,
//! `θ − ((θ·wd + 0)·η + 0)` (the `+ 0` are Candle's `affine`), so both paths give the same
//! bits.

use crate::cpu_f32::{chunked, is_cpu_f32_contiguous, slice_mut};
use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Var};

/// `var ← var − var·wd·lr`.
pub(crate) fn apply_weight_decay(var: &Var, wd: f64, lr: f64) -> Result<()> {
    if is_cpu_f32_contiguous(var.as_tensor()) {
        return var.inplace_op1(&Decay { wd: wd as f32, lr: lr as f32 });
    }
    with_tensor_ops(var, wd, lr)
}

/// The same update as Candle tensor ops (any device and dtype).
fn with_tensor_ops(var: &Var, wd: f64, lr: f64) -> Result<()> {
    let d = var.as_tensor().affine(wd, 0.0)?.affine(lr, 0.0)?;
    var.set(&(var.as_tensor() - d)?)
}

struct Decay {
    wd: f32,
    lr: f32,
}

impl InplaceOp1 for Decay {
    fn name(&self) -> &'static str {
        "wick-weight-decay"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let theta = slice_mut(storage, layout, "weight decay: variable")?;
        let (wd, lr) = (self.wd, self.lr);
        chunked(theta, |_, t| {
            for t in t {
                *t -= (*t * wd + 0.0) * lr + 0.0;
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn bits(v: &Var) -> Vec<u32> {
        v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn in_place_equals_tensor_ops_bit_for_bit() {
        for n in [1usize, 5, 3 * crate::cpu_f32::CHUNK + 7] {
            let values: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.013 + if i % 13 == 0 { -0.0 } else { 0.0 })
                .collect();
            let t = Tensor::from_vec(values, n, &Device::Cpu).unwrap();
            let (a, b) = (Var::from_tensor(&t).unwrap(), Var::from_tensor(&t).unwrap());
            for _ in 0..3 {
                apply_weight_decay(&a, 0.004, 0.001).unwrap();
                with_tensor_ops(&b, 0.004, 0.001).unwrap();
                assert_eq!(bits(&a), bits(&b), "n = {n}");
            }
            assert_ne!(bits(&a), bits(&Var::from_tensor(&t).unwrap()), "the decay changed nothing");
        }
    }
}
