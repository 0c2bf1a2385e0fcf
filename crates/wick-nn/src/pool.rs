//! Pooling layers: `MaxPool2d` (argmax recorded in the forward pass), `AvgPool2d` and
//! `GlobalAvgPool2d`, as CPU custom ops with Candle fallbacks elsewhere.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Module, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::pool_windows;
use crate::util::{contiguous_f32, is_cpu_op_tensor, storage_of, sum_f32, tensor_of, with_f32};

/// Checked pooling sizes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolGeom {
    pub(crate) planes: usize,
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) sh: usize,
    pub(crate) sw: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

pub(crate) fn pool_geometry(
    what: &str,
    shape: &Shape,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
) -> Result<PoolGeom> {
    let (n, c, h, w) = shape.dims4()?;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        bail!("{what}: kernel {kh}x{kw} and stride {sh}x{sw} must be >= 1")
    }
    if h < kh || w < kw {
        bail!("{what}: input {h}x{w} is smaller than the kernel {kh}x{kw}")
    }
    if h * w > u32::MAX as usize {
        bail!("{what}: a {h}x{w} plane is too large")
    }
    Ok(PoolGeom { planes: n * c, n, c, h, w, kh, kw, sh, sw, oh: (h - kh) / sh + 1, ow: (w - kw) / sw + 1 })
}

/// The CPU ops take f32, bf16 and f16 (computed in f32, output in the input's dtype).
fn fast_path(x: &Tensor) -> bool {
    is_cpu_op_tensor(x)
}

/// 2-D max pooling over NCHW input without padding (output size `(h - k) / s + 1`, as
/// Candle's `max_pool2d_with_stride` and Keras' `padding="valid"`).
///
/// On the CPU (f32, bf16 or f16) the forward pass records the position of each window's maximum, and the
/// backward pass sends each output gradient to that position only; when a window holds
/// several equal maxima the first one (in row-major order) gets it, as in PyTorch and
/// TensorFlow (Candle 0.11.1 instead splits it among the ties, and scales every max-pool
/// gradient by 1/(kh·kw)). Overlapping windows
/// (stride < kernel) are supported. Elsewhere (CUDA, other dtypes) the forward pass is
/// Candle's `max_pool2d_with_stride` when no gradient is needed, and a window gather with
/// the same gradient rule otherwise (Candle's own backward is wrong; see `pool_windows`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal step between windows.
    pub stride: (usize, usize),
}

impl MaxPool2d {
    /// A square `k × k` pool with stride `k`.
    pub fn new(k: usize) -> Self {
        Self { kernel: (k, k), stride: (k, k) }
    }

    /// The same pool with another (square) stride.
    pub fn with_stride(self, s: usize) -> Self {
        Self { stride: (s, s), ..self }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        max_pool2d(x, self.kernel, self.stride)
    }
}

/// Max pooling as a function; see [`MaxPool2d`].
pub fn max_pool2d(x: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    if !fast_path(x) {
        if !x.track_op() {
            // Inference: Candle's forward is right (and one kernel); only its backward is not.
            return x.max_pool2d_with_stride(kernel, stride);
        }
        pool_geometry("max_pool2d", x.shape(), kernel, stride)?;
        return pool_windows::max_pool2d(x, kernel, stride);
    }
    pool_geometry("max_pool2d", x.shape(), kernel, stride)?;
    x.contiguous()?.apply_op1(MaxPoolOp { kernel, stride, argmax: Mutex::new(None) })
}

/// Whether `v` replaces the running maximum `best`: strictly larger, so the first of
/// equal maxima (in row-major order) wins. A NaN never replaces a number, and a window whose
/// first element is NaN yields NaN only if nothing compares larger (as with `>`).
#[inline(always)]
fn beats(v: f32, best: f32) -> bool {
    v > best
}

/// Max-pools one `h × w` plane into `out` (`oh × ow`), recording in `arg` the in-plane
/// index of each window's maximum.
pub(crate) fn max_pool_plane(g: &PoolGeom, src: &[f32], out: &mut [f32], arg: &mut [u32]) {
    if (g.kh, g.kw, g.sh, g.sw) == (2, 2, 2, 2) {
        return max_pool_2x2(g, src, out, arg);
    }
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let (y0, x0) = (oy * g.sh, ox * g.sw);
            let mut best = y0 * g.w + x0;
            let mut bv = src[best];
            for ky in 0..g.kh {
                let row = (y0 + ky) * g.w + x0;
                for (kx, &v) in src[row..row + g.kw].iter().enumerate() {
                    let take = beats(v, bv);
                    bv = if take { v } else { bv };
                    best = if take { row + kx } else { best };
                }
            }
            out[oy * g.ow + ox] = bv;
            arg[oy * g.ow + ox] = best as u32;
        }
    }
}

/// The 2x2, stride-2 window of one plane, unrolled.
fn max_pool_2x2(g: &PoolGeom, src: &[f32], out: &mut [f32], arg: &mut [u32]) {
    for oy in 0..g.oh {
        let r0 = 2 * oy * g.w;
        let r1 = r0 + g.w;
        let (top, bottom) = (&src[r0..r0 + 2 * g.ow], &src[r1..r1 + 2 * g.ow]);
        let orow = &mut out[oy * g.ow..(oy + 1) * g.ow];
        let arow = &mut arg[oy * g.ow..(oy + 1) * g.ow];
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for (ox, ((o, a), (t, b))) in orow.iter_mut().zip(arow.iter_mut()).zip(windows).enumerate() {
            // Selects rather than branches (the winner is unpredictable on real data); ties
            // go to the earlier element in row-major order, as in `beats`.
            let c = 2 * ox;
            let t1 = beats(t[1], t[0]);
            let (m1, i1) = if t1 { (t[1], r0 + c + 1) } else { (t[0], r0 + c) };
            let t2 = beats(b[1], b[0]);
            let (m2, i2) = if t2 { (b[1], r1 + c + 1) } else { (b[0], r1 + c) };
            let t3 = beats(m2, m1);
            *o = if t3 { m2 } else { m1 };
            *a = if t3 { i2 } else { i1 } as u32;
        }
    }
}

/// The max-pool op; `argmax` holds, per output element, the in-plane index of its maximum.
struct MaxPoolOp {
    kernel: (usize, usize),
    stride: (usize, usize),
    argmax: Mutex<Option<Vec<u32>>>,
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "wick-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = pool_geometry("max_pool2d", l.shape(), self.kernel, self.stride)?;
        let x = contiguous_f32(s, l, "max_pool2d input")?;
        let (hw, opl) = (g.h * g.w, g.oh * g.ow);
        let mut out = vec![0f32; g.planes * opl];
        let mut arg = vec![0u32; g.planes * opl];
        if opl > 0 {
            out.par_chunks_mut(opl).zip(arg.par_chunks_mut(opl)).enumerate().for_each(|(pi, (o, a))| {
                max_pool_plane(&g, &x[pi * hw..(pi + 1) * hw], o, a);
            });
        }
        match self.argmax.lock() {
            Ok(mut slot) => *slot = Some(arg),
            Err(_) => bail!("max_pool2d: argmax lock poisoned"),
        }
        Ok((storage_of(out, s.dtype())?, Shape::from((g.n, g.c, g.oh, g.ow))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let g = pool_geometry("max_pool2d", x.shape(), self.kernel, self.stride)?;
        let (hw, opl) = (g.h * g.w, g.oh * g.ow);
        let slot = match self.argmax.lock() {
            Ok(slot) => slot,
            Err(_) => bail!("max_pool2d: argmax lock poisoned"),
        };
        let Some(arg) = slot.as_ref() else { bail!("max_pool2d: backward before forward") };
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; g.planes * hw];
        with_f32(&grad, "max_pool2d output gradient", |dy| {
            if opl > 0 && hw > 0 {
                dx.par_chunks_mut(hw).enumerate().for_each(|(pi, d)| {
                    let dyp = &dy[pi * opl..(pi + 1) * opl];
                    let ap = &arg[pi * opl..(pi + 1) * opl];
                    for (&gv, &i) in dyp.iter().zip(ap) {
                        d[i as usize] += gv;
                    }
                });
            }
            Ok(())
        })?;
        tensor_of(dx, x.shape(), x.dtype(), x.device()).map(Some)
    }
}

/// 2-D average pooling over NCHW input without padding; on the CPU (f32, bf16, f16) a custom
/// op whose backward also handles overlapping windows; elsewhere Candle's
/// `avg_pool2d_with_stride` for inference and, when a gradient is needed, the mean of
/// gathered windows (Candle's own backward misplaces gradients when the kernel does not
/// divide the input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal step between windows.
    pub stride: (usize, usize),
}

impl AvgPool2d {
    /// A square `k × k` pool with stride `k`.
    pub fn new(k: usize) -> Self {
        Self { kernel: (k, k), stride: (k, k) }
    }

    /// The same pool with another (square) stride.
    pub fn with_stride(self, s: usize) -> Self {
        Self { stride: (s, s), ..self }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        avg_pool2d(x, self.kernel, self.stride)
    }
}

/// Average pooling as a function; see [`AvgPool2d`].
pub fn avg_pool2d(x: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    if !fast_path(x) {
        if !x.track_op() {
            return x.avg_pool2d_with_stride(kernel, stride);
        }
        pool_geometry("avg_pool2d", x.shape(), kernel, stride)?;
        return pool_windows::avg_pool2d(x, kernel, stride);
    }
    pool_geometry("avg_pool2d", x.shape(), kernel, stride)?;
    x.contiguous()?.apply_op1(AvgPoolOp { kernel, stride })
}

struct AvgPoolOp {
    kernel: (usize, usize),
    stride: (usize, usize),
}

impl CustomOp1 for AvgPoolOp {
    fn name(&self) -> &'static str {
        "wick-avg-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = pool_geometry("avg_pool2d", l.shape(), self.kernel, self.stride)?;
        let x = contiguous_f32(s, l, "avg_pool2d input")?;
        let (hw, opl) = (g.h * g.w, g.oh * g.ow);
        let scale = 1.0 / (g.kh * g.kw) as f32;
        let mut out = vec![0f32; g.planes * opl];
        if opl > 0 {
            out.par_chunks_mut(opl).enumerate().for_each(|(pi, o)| {
                let src = &x[pi * hw..(pi + 1) * hw];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let (y0, x0) = (oy * g.sh, ox * g.sw);
                        let mut s = 0f32;
                        for ky in 0..g.kh {
                            let row = (y0 + ky) * g.w + x0;
                            for &v in &src[row..row + g.kw] {
                                s += v;
                            }
                        }
                        o[oy * g.ow + ox] = s * scale;
                    }
                }
            });
        }
        Ok((storage_of(out, s.dtype())?, Shape::from((g.n, g.c, g.oh, g.ow))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let g = pool_geometry("avg_pool2d", x.shape(), self.kernel, self.stride)?;
        let (hw, opl) = (g.h * g.w, g.oh * g.ow);
        let scale = 1.0 / (g.kh * g.kw) as f32;
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; g.planes * hw];
        with_f32(&grad, "avg_pool2d output gradient", |dy| {
            if opl > 0 && hw > 0 {
                dx.par_chunks_mut(hw).enumerate().for_each(|(pi, d)| {
                    let dyp = &dy[pi * opl..(pi + 1) * opl];
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let gv = dyp[oy * g.ow + ox] * scale;
                            let (y0, x0) = (oy * g.sh, ox * g.sw);
                            for ky in 0..g.kh {
                                let row = (y0 + ky) * g.w + x0;
                                for v in &mut d[row..row + g.kw] {
                                    *v += gv;
                                }
                            }
                        }
                    }
                });
            }
            Ok(())
        })?;
        tensor_of(dx, x.shape(), x.dtype(), x.device()).map(Some)
    }
}

/// Global average pooling: `[n, c, h, w] -> [n, c]`, the mean of each plane (Keras'
/// `GlobalAveragePooling2D`). On the CPU (f32, bf16, f16) a custom op, elsewhere `mean((2, 3))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalAvgPool2d;

impl Module for GlobalAvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        global_avg_pool2d(x)
    }
}

/// Global average pooling as a function; see [`GlobalAvgPool2d`].
pub fn global_avg_pool2d(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if h * w == 0 {
        bail!("global_avg_pool2d: empty {h}x{w} planes")
    }
    if !fast_path(x) {
        return x.mean((2, 3));
    }
    x.contiguous()?.apply_op1(GlobalAvgPoolOp)
}

struct GlobalAvgPoolOp;

impl CustomOp1 for GlobalAvgPoolOp {
    fn name(&self) -> &'static str {
        "wick-global-avg-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let x = contiguous_f32(s, l, "global_avg_pool2d input")?;
        let hw = h * w;
        let scale = 1.0 / hw as f32;
        let out: Vec<f32> = x.par_chunks(hw).map(|p| sum_f32(p) * scale).collect();
        Ok((storage_of(out, s.dtype())?, Shape::from((n, c))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let (_, _, h, w) = x.dims4()?;
        let hw = h * w;
        let scale = 1.0 / hw as f32;
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; x.elem_count()];
        with_f32(&grad, "global_avg_pool2d output gradient", |dy| {
            dx.par_chunks_mut(hw).zip(dy.par_iter()).for_each(|(d, &gv)| d.fill(gv * scale));
            Ok(())
        })?;
        tensor_of(dx, x.shape(), x.dtype(), x.device()).map(Some)
    }
}
