//! The CPU kernels of [`BatchNorm`](crate::BatchNorm): training-mode normalisation with batch
//! statistics, the inference-mode per-channel affine, each with an optional fused ReLU6.

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::util::{contiguous_f32, storage_of, sum_f32, tensor_of, with_f32};

/// Per-channel statistics of one training-mode forward pass: what the backward pass needs
/// and what the layer folds into its moving averages.
#[derive(Debug, Clone, Default)]
pub(crate) struct BatchStats {
    /// Mean over batch and space, per channel.
    pub mean: Vec<f32>,
    /// Biased variance (divided by the element count, as Keras' `moments`), per channel.
    pub var: Vec<f32>,
    /// `1 / sqrt(var + epsilon)`, per channel.
    pub inv_std: Vec<f32>,
}

/// `(n, c, h·w)` of an NCHW tensor (a rank-2 `(n, c)` tensor is one pixel per plane).
pub(crate) fn planes(dims: &[usize]) -> Result<(usize, usize, usize)> {
    match *dims {
        [n, c] => Ok((n, c, 1)),
        [n, c, ref rest @ ..] => Ok((n, c, rest.iter().product())),
        _ => bail!("batch norm: expected an input of rank ≥ 2 (N, C, …), got shape {dims:?}"),
    }
}

fn check_channels(what: &str, len: usize, c: usize) -> Result<()> {
    if len != c {
        bail!("batch norm: {what} has {len} values, the input has {c} channels");
    }
    Ok(())
}

/// Elements one parallel task should cover at least (smaller tasks cost more to schedule
/// than to run).
const MIN_TASK: usize = 1 << 13;

/// How many planes of `hw` elements make one parallel task.
fn planes_per_task(hw: usize) -> usize {
    (MIN_TASK / hw.max(1)).max(1)
}

/// Clamps to [0, 6] when `relu6`.
#[inline(always)]
fn activate(v: f32, relu6: bool) -> f32 {
    if relu6 {
        v.clamp(0.0, 6.0)
    } else {
        v
    }
}

/// The output gradient of the fused activation: `dy` where the output lies strictly inside
/// (0, 6) — where the pre-activation did (PyTorch's `hardtanh` / Keras' `relu6` gradient,
/// zero at and beyond both ends) — else 0.
fn masked_grad(dy: &[f32], y: &[f32], relu6: bool) -> Vec<f32> {
    if !relu6 {
        return dy.to_vec();
    }
    dy.par_iter().zip(y.par_iter()).map(|(&g, &y)| if y > 0.0 && y < 6.0 { g } else { 0.0 }).collect()
}

/// `act(x·scale[c] + shift[c])` over the `(n, c)` planes of `hw` elements of `x`.
fn affine_planes(x: &[f32], c: usize, hw: usize, scale: &[f32], shift: &[f32], relu6: bool) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(hw.max(1)).zip(x.par_chunks(hw.max(1))).enumerate().with_min_len(planes_per_task(hw)).for_each(
        |(p, (o, x))| {
            let (a, b) = (scale[p % c], shift[p % c]);
            for (o, &v) in o.iter_mut().zip(x) {
                *o = activate(v * a + b, relu6);
            }
        },
    );
    out
}

/// The gradient before the fused activation, from the output gradient and the output.
fn output_grad(grad: &Tensor, res: &Tensor, relu6: bool) -> Result<Vec<f32>> {
    let (grad, res) = (grad.contiguous()?, res.contiguous()?);
    with_f32(&grad, "batch norm output gradient", |dy| {
        with_f32(&res, "batch norm output", |y| Ok(masked_grad(dy, y, relu6)))
    })
}

/// Per channel: `(Σ a, Σ a·b)` over the batch and space (`b = None`: only `Σ a`, the second
/// value is 0). Sums are accumulated per plane in f32 lanes and across planes in f64.
fn channel_sums(a: &[f32], b: Option<&[f32]>, n: usize, c: usize, hw: usize) -> Vec<(f64, f64)> {
    (0..c)
        .into_par_iter()
        .with_min_len(planes_per_task(n * hw))
        .map(|ch| {
            let (mut s, mut sp) = (0f64, 0f64);
            for img in 0..n {
                let off = (img * c + ch) * hw;
                let pa = &a[off..off + hw];
                s += f64::from(sum_f32(pa));
                if let Some(b) = b {
                    sp += f64::from(dot(pa, &b[off..off + hw]));
                }
            }
            (s, sp)
        })
        .collect()
}

/// `Σ a·b` over 16 independent lanes (vectorises).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Per channel, the batch mean and biased variance (two passes: mean, then squared
/// deviations).
fn batch_stats(x: &[f32], n: usize, c: usize, hw: usize, epsilon: f64) -> BatchStats {
    let count = (n * hw) as f64;
    let per_channel: Vec<(f32, f32, f32)> = (0..c)
        .into_par_iter()
        .with_min_len(planes_per_task(n * hw))
        .map(|ch| {
            let mut s = 0f64;
            for img in 0..n {
                let off = (img * c + ch) * hw;
                s += f64::from(sum_f32(&x[off..off + hw]));
            }
            let mean = s / count;
            let m32 = mean as f32;
            let mut ss = 0f64;
            let mut dev = vec![0f32; hw];
            for img in 0..n {
                let off = (img * c + ch) * hw;
                for (d, &v) in dev.iter_mut().zip(&x[off..off + hw]) {
                    *d = v - m32;
                }
                ss += f64::from(dot(&dev, &dev));
            }
            let var = ss / count;
            (m32, var as f32, (1.0 / (var + epsilon).sqrt()) as f32)
        })
        .collect();
    BatchStats {
        mean: per_channel.iter().map(|s| s.0).collect(),
        var: per_channel.iter().map(|s| s.1).collect(),
        inv_std: per_channel.iter().map(|s| s.2).collect(),
    }
}

/// Training mode: `y = act(γ·(x − mean)·inv_std + β)` with the batch's statistics, which it
/// leaves in `stats` for the layer (moving averages) and for its own backward pass.
pub(crate) struct TrainOp {
    pub epsilon: f64,
    pub relu6: bool,
    pub stats: Arc<Mutex<BatchStats>>,
}

impl CustomOp3 for TrainOp {
    fn name(&self) -> &'static str {
        "wick-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, hw) = planes(xl.dims())?;
        let x = contiguous_f32(xs, xl, "batch norm input")?;
        let gamma = contiguous_f32(gs, gl, "batch norm gamma")?;
        let beta = contiguous_f32(bs, bl, "batch norm beta")?;
        check_channels("gamma", gamma.len(), c)?;
        check_channels("beta", beta.len(), c)?;
        let stats = batch_stats(&x, n, c, hw, self.epsilon);
        let scale: Vec<f32> = gamma.iter().zip(&stats.inv_std).map(|(g, s)| g * s).collect();
        let shift: Vec<f32> = beta.iter().zip(&stats.mean).zip(&scale).map(|((b, m), a)| b - m * a).collect();
        let out = affine_planes(&x, c, hw, &scale, &shift, self.relu6);
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = stats;
        Ok((storage_of(out, xs.dtype())?, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, hw) = planes(x.dims())?;
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let g = output_grad(grad, res, self.relu6)?;
        // x̂ = (x − mean)·inv_std, kept for Σ g·x̂ and the input gradient.
        let shift: Vec<f32> = stats.mean.iter().zip(&stats.inv_std).map(|(m, s)| -m * s).collect();
        let xhat = with_f32(x, "batch norm input", |xs| Ok(affine_planes(xs, c, hw, &stats.inv_std, &shift, false)))?;
        let sums = channel_sums(&g, Some(&xhat), n, c, hw);
        let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
        let dgamma: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
        let dx = if x.track_op() {
            let count = (n * hw) as f32;
            let gamma: Vec<f32> = with_f32(&gamma.contiguous()?, "batch norm gamma", |v| Ok(v.to_vec()))?;
            let mut dx = vec![0f32; g.len()];
            dx.par_chunks_mut(hw.max(1))
                .zip(g.par_chunks(hw.max(1)).zip(xhat.par_chunks(hw.max(1))))
                .enumerate()
                .with_min_len(planes_per_task(hw))
                .for_each(|(p, (d, (g, xh)))| {
                    let ch = p % c;
                    let k = gamma[ch] * stats.inv_std[ch];
                    let (mg, mgx) = (dbeta[ch] / count, dgamma[ch] / count);
                    for ((d, &g), &xh) in d.iter_mut().zip(g).zip(xh) {
                        *d = k * (g - mg - xh * mgx);
                    }
                });
            Some(tensor_of(dx, x.shape(), x.dtype(), x.device())?)
        } else {
            None
        };
        let dgamma = tensor_of(dgamma, c, gamma.dtype(), gamma.device())?;
        let dbeta = tensor_of(dbeta, c, gamma.dtype(), gamma.device())?;
        Ok((dx, Some(dgamma), Some(dbeta)))
    }
}

/// Inference mode: `y = act(x·scale + shift)` per channel, `scale` and `shift` folded from γ,
/// β and the moving statistics by the layer (so their gradients reach γ and β through it).
pub(crate) struct AffineOp {
    pub relu6: bool,
}

impl CustomOp3 for AffineOp {
    fn name(&self) -> &'static str {
        "wick-batch-norm-affine"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, c, hw) = planes(xl.dims())?;
        let x = contiguous_f32(xs, xl, "batch norm input")?;
        let scale = contiguous_f32(ss, sl, "batch norm scale")?;
        let shift = contiguous_f32(bs, bl, "batch norm shift")?;
        check_channels("scale", scale.len(), c)?;
        check_channels("shift", shift.len(), c)?;
        let out = affine_planes(&x, c, hw, &scale, &shift, self.relu6);
        Ok((storage_of(out, xs.dtype())?, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        shift: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, hw) = planes(x.dims())?;
        let g = output_grad(grad, res, self.relu6)?;
        let (dscale, dshift) = if scale.track_op() || shift.track_op() {
            let sums = with_f32(x, "batch norm input", |xs| Ok(channel_sums(&g, Some(xs), n, c, hw)))?;
            let dshift = tensor_of(sums.iter().map(|s| s.0 as f32).collect(), c, shift.dtype(), shift.device())?;
            let dscale = tensor_of(sums.iter().map(|s| s.1 as f32).collect(), c, scale.dtype(), scale.device())?;
            (Some(dscale), Some(dshift))
        } else {
            (None, None)
        };
        let dx = if x.track_op() {
            let a: Vec<f32> = with_f32(&scale.contiguous()?, "batch norm scale", |v| Ok(v.to_vec()))?;
            let mut dx = g;
            dx.par_chunks_mut(hw.max(1)).enumerate().with_min_len(planes_per_task(hw)).for_each(|(p, d)| {
                let k = a[p % c];
                d.iter_mut().for_each(|v| *v *= k);
            });
            Some(tensor_of(dx, x.shape(), x.dtype(), x.device())?)
        } else {
            None
        };
        Ok((dx, dscale, dshift))
    }
}
