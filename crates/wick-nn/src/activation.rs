//! `relu` as a CPU custom op with a one-pass backward.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Module, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::util::{contiguous_f32, is_cpu_op_tensor, storage_of, tensor_of, with_f32};

/// Elements per parallel task.
const CHUNK: usize = 1 << 16;

/// `max(x, 0)`, a drop-in for Candle's `Tensor::relu` with the same gradient (1 where
/// `x >= 0`, as Candle defines it).
///
/// On the CPU (f32, bf16, f16; the output and gradient keep the input's dtype) the backward
/// pass is a single masked copy instead of Candle's `zeros_like` + `ge` + `to_dtype` +
/// `mul`; elsewhere it calls `Tensor::relu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

impl Module for Relu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        relu(x)
    }
}

/// ReLU as a function; see [`Relu`].
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !is_cpu_op_tensor(x) {
        return x.relu();
    }
    x.contiguous()?.apply_op1(ReluOp)
}

struct ReluOp;

impl CustomOp1 for ReluOp {
    fn name(&self) -> &'static str {
        "wick-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l, "relu input")?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| {
            for (o, &v) in o.iter_mut().zip(x) {
                *o = v.max(0.0);
            }
        });
        Ok((storage_of(out, s.dtype())?, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; x.elem_count()];
        with_f32(x, "relu input", |xs| {
            with_f32(&grad, "relu output gradient", |dy| {
                dx.par_chunks_mut(CHUNK).zip(xs.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK))).for_each(|(d, (x, g))| {
                    for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
                        *d = if x >= 0.0 { g } else { 0.0 };
                    }
                });
                Ok(())
            })
        })?;
        tensor_of(dx, x.shape(), x.dtype(), x.device()).map(Some)
    }
}
