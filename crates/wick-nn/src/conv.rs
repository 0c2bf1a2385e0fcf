//! `Conv2d`: candle-nn's layer and variable names, with an im2col + gemm CPU kernel for the
//! forward pass and for all three gradients.

use std::sync::{Arc, Mutex};

use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Tensor,
};
use rayon::prelude::*;

use crate::pool::{max_pool_plane, pool_geometry, MaxPool2d, PoolGeom};
use crate::sgemm::{sgemm, MatRef, Par};
use crate::util::{contiguous_f32, sum_f32, with_f32};

pub use candle_nn::Conv2dConfig;

/// A 2-D convolution over NCHW input, a drop-in replacement for [`candle_nn::Conv2d`].
///
/// The weight is `[out, in / groups, kh, kw]` and the optional bias `[out]`, under the
/// variable names `weight` and `bias`, exactly as candle-nn stores them, so a checkpoint
/// written with either layer loads into the other.
///
/// On the CPU with f32 tensors the convolution, the bias add and the backward pass run as
/// one custom op ([`conv2d_op`]); elsewhere (CUDA, Metal, other dtypes) it calls Candle's own
/// `conv2d` and `broadcast_add`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
    epilogue: Epilogue,
}

/// What a [`Conv2d`] applies to its output inside the same op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epilogue {
    /// `max(y, 0)` after the bias (Keras' `Conv2D(activation="relu")`).
    pub relu: bool,
    /// A max pool after the (activated) convolution.
    pub max_pool: Option<MaxPool2d>,
}

impl Conv2d {
    /// A layer from its weight `[out, in / groups, kh, kw]`, optional bias `[out]` and config.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Self {
            weight,
            bias,
            config,
            epilogue: Epilogue::default(),
        }
    }

    /// The same layer followed by a ReLU inside the same op, as Keras'
    /// `Conv2D(activation="relu")`: the pre-activation never becomes a graph node, so the
    /// backward pass saves a full-size tensor and its gradient. The gradient is taken as 0
    /// where the output is 0 (TensorFlow's convention; Candle's `relu` passes it where the
    /// input is exactly 0 too, which only matters on exact zeros).
    pub fn with_relu(mut self) -> Self {
        self.epilogue.relu = true;
        self
    }

    /// The same layer followed by `pool` inside the same op (after the ReLU, if any): only
    /// the pooled output is stored, and the backward pass scatters through the recorded
    /// argmax straight into the convolution's gradient.
    pub fn with_max_pool(mut self, pool: MaxPool2d) -> Self {
        self.epilogue.max_pool = Some(pool);
        self
    }

    /// What this layer fuses after the convolution.
    pub fn epilogue(&self) -> Epilogue {
        self.epilogue
    }

    /// The padding, stride, dilation and groups of this layer.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// The weight, `[out, in / groups, kh, kw]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl From<candle_nn::Conv2d> for Conv2d {
    fn from(c: candle_nn::Conv2d) -> Self {
        Self::new(c.weight().clone(), c.bias().cloned(), *c.config())
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv2d_fused(
            x,
            &self.weight,
            self.bias.as_ref(),
            &self.config,
            self.epilogue,
        )
    }
}

/// A [`Conv2d`] with a bias, created through `vb` with candle-nn's names (`weight`, `bias`),
/// shapes and initialisers (Kaiming-normal weight, uniform ±1/√in bias).
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    config: Conv2dConfig,
    vb: candle_nn::VarBuilder,
) -> Result<Conv2d> {
    candle_nn::conv2d(in_channels, out_channels, kernel_size, config, vb).map(Conv2d::from)
}

/// A [`Conv2d`] without bias, created through `vb` as [`candle_nn::conv2d_no_bias`] does.
pub fn conv2d_no_bias(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    config: Conv2dConfig,
    vb: candle_nn::VarBuilder,
) -> Result<Conv2d> {
    candle_nn::conv2d_no_bias(in_channels, out_channels, kernel_size, config, vb).map(Conv2d::from)
}

/// `conv2d(x, weight) + bias` over NCHW `x`, differentiable in all three arguments.
///
/// On the CPU with f32 tensors this is one custom op: the forward pass is im2col + gemm
/// with the bias written first; the backward pass computes the weight gradient with gemm,
/// the bias gradient as a row reduction, and the input gradient (gemm + col2im) only when
/// `x` is tracked by the graph (a `Var` or computed from one), so the first layer of a
/// network does no input-gradient work. Other devices and dtypes use Candle's ops.
pub fn conv2d_op(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: &Conv2dConfig,
) -> Result<Tensor> {
    conv2d_fused(x, weight, bias, config, Epilogue::default())
}

/// [`conv2d_op`] followed by the `epilogue` (ReLU, max pool) in the same op on the CPU;
/// elsewhere the convolution, `relu` and `max_pool2d` run as separate Candle ops.
pub fn conv2d_fused(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: &Conv2dConfig,
    epilogue: Epilogue,
) -> Result<Tensor> {
    let op = Conv2dOp {
        padding: config.padding,
        stride: config.stride,
        dilation: config.dilation,
        groups: config.groups,
        epilogue,
        argmax: Mutex::new(None),
    };
    let fast = x.device().is_cpu()
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32);
    if !fast {
        let y = x.conv2d(
            weight,
            config.padding,
            config.stride,
            config.dilation,
            config.groups,
        )?;
        let y = match bias {
            None => y,
            Some(b) => {
                let o = b.dims1()?;
                y.broadcast_add(&b.reshape((1, o, 1, 1))?)?
            }
        };
        let y = if epilogue.relu { y.relu()? } else { y };
        return match epilogue.max_pool {
            Some(p) => p.forward(&y),
            None => Ok(y),
        };
    }
    // Validate the shapes here so that errors name the layer's arguments.
    op.geometry(x.shape(), weight.shape())?;
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    match bias {
        None => x.apply_op2_arc(&weight, Arc::new(Box::new(op))),
        Some(b) => {
            let o = weight.dim(0)?;
            if b.dims1()? != o {
                bail!(
                    "conv2d: bias has {} elements, weight has {o} output channels",
                    b.dims1()?
                )
            }
            x.apply_op3_arc(&weight, &b.contiguous()?, Arc::new(Box::new(op)))
        }
    }
}

/// The conv2d custom op: arguments `(x, weight)` or `(x, weight, bias)`, then the
/// epilogue; `argmax` is filled by the forward pass when the epilogue pools.
#[derive(Debug)]
struct Conv2dOp {
    padding: usize,
    stride: usize,
    dilation: usize,
    groups: usize,
    epilogue: Epilogue,
    argmax: Mutex<Option<Vec<u32>>>,
}

/// Every size the kernels need, checked once.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    groups: usize,
    stride: usize,
    pad: usize,
    dil: usize,
}

impl Geom {
    fn cg(&self) -> usize {
        self.c / self.groups
    }
    fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of the im2col matrix: `cg * kh * kw`.
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Output pixels per plane.
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// A 1x1, stride-1, unpadded conv: the input plane block already is the im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
}

impl Conv2dOp {
    fn geometry(&self, x: &Shape, w: &Shape) -> Result<Geom> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, cg, kh, kw) = w.dims4()?;
        let (pad, stride, dil, groups) = (self.padding, self.stride, self.dilation, self.groups);
        if groups == 0 || stride == 0 || dil == 0 {
            bail!("conv2d: groups ({groups}), stride ({stride}) and dilation ({dil}) must be >= 1")
        }
        if c != cg * groups {
            bail!("conv2d: input has {c} channels, weight expects {cg} x {groups} groups")
        }
        if o % groups != 0 {
            bail!("conv2d: {o} output channels do not divide into {groups} groups")
        }
        if kh == 0 || kw == 0 {
            bail!("conv2d: empty kernel {kh}x{kw}")
        }
        let span_h = dil * (kh - 1) + 1;
        let span_w = dil * (kw - 1) + 1;
        if h + 2 * pad < span_h || wd + 2 * pad < span_w {
            bail!(
                "conv2d: input {h}x{wd} with padding {pad} is smaller than the dilated kernel {span_h}x{span_w}"
            )
        }
        let oh = (h + 2 * pad - span_h) / stride + 1;
        let ow = (wd + 2 * pad - span_w) / stride + 1;
        Ok(Geom {
            n,
            c,
            h,
            w: wd,
            o,
            kh,
            kw,
            oh,
            ow,
            groups,
            stride,
            pad,
            dil,
        })
    }
}

/// The output columns `[lo, hi)` whose input column `ox * stride + off` lies in `[0, w)`.
fn valid_range(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    let hi = if (w as isize) - off <= 0 {
        0
    } else {
        ((w as isize) - off + s - 1) / s
    };
    let lo = (lo as usize).min(ow);
    let hi = (hi as usize).min(ow).max(lo);
    (lo, hi)
}

/// Writes the `[cg*kh*kw, oh*ow]` im2col matrix of one image's group block `xg`
/// (`[cg, h, w]`) into `col`.
fn im2col(g: &Geom, xg: &[f32], col: &mut [f32]) {
    let (p, hw) = (g.p(), g.h * g.w);
    for ci in 0..g.cg() {
        let src = &xg[ci * hw..(ci + 1) * hw];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (ci * g.kh + ky) * g.kw + kx;
                let dst = &mut col[row * p..(row + 1) * p];
                let off = (kx * g.dil) as isize - g.pad as isize;
                let (lo, hi) = valid_range(off, g.stride, g.w, g.ow);
                for oy in 0..g.oh {
                    let drow = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    let iy = (oy * g.stride + ky * g.dil) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        drow.fill(0.0);
                        continue;
                    }
                    let srow = &src[iy as usize * g.w..(iy as usize + 1) * g.w];
                    drow[..lo].fill(0.0);
                    drow[hi..].fill(0.0);
                    if lo < hi {
                        let first = (lo as isize * g.stride as isize + off) as usize;
                        if g.stride == 1 {
                            drow[lo..hi].copy_from_slice(&srow[first..first + (hi - lo)]);
                        } else {
                            for (d, s) in drow[lo..hi]
                                .iter_mut()
                                .zip(srow[first..].iter().step_by(g.stride))
                            {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds the `[cg*kh*kw, oh*ow]` matrix `col` back onto one image's group block `dxg`
/// (`[cg, h, w]`): the adjoint of [`im2col`].
fn col2im(g: &Geom, col: &[f32], dxg: &mut [f32]) {
    let (p, hw) = (g.p(), g.h * g.w);
    for ci in 0..g.cg() {
        let dst = &mut dxg[ci * hw..(ci + 1) * hw];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (ci * g.kh + ky) * g.kw + kx;
                let src = &col[row * p..(row + 1) * p];
                let off = (kx * g.dil) as isize - g.pad as isize;
                let (lo, hi) = valid_range(off, g.stride, g.w, g.ow);
                if lo >= hi {
                    continue;
                }
                for oy in 0..g.oh {
                    let iy = (oy * g.stride + ky * g.dil) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let srow = &src[oy * g.ow..(oy + 1) * g.ow];
                    let drow = &mut dst[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let first = (lo as isize * g.stride as isize + off) as usize;
                    if g.stride == 1 {
                        for (d, s) in drow[first..first + (hi - lo)].iter_mut().zip(&srow[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in drow[first..]
                            .iter_mut()
                            .step_by(g.stride)
                            .zip(&srow[lo..hi])
                        {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// How the batch is spread over threads: whole images per task when there are enough of
/// them (each gemm then runs on one core), otherwise one image at a time with a parallel
/// gemm. Returns the number of images per task and the gemm parallelism.
///
/// Backward tasks each produce a partial weight / bias gradient that is summed in task
/// order, so their size depends only on the batch size (never on the thread count or on
/// scheduling): the gradients are the same bytes on every run.
fn plan(n: usize, backward: bool) -> (usize, Par) {
    let threads = candle_core::utils::get_num_threads().max(1);
    if threads > 1 && n >= threads {
        let chunk = if backward { n.div_ceil(8) } else { 1 };
        (chunk, Par::Seq)
    } else {
        (n.max(1), Par::Threads(threads))
    }
}

/// The pooling applied by an epilogue to the `[o, oh, ow]` conv output of one image.
fn epilogue_pool(g: &Geom, epi: &Epilogue) -> Result<Option<PoolGeom>> {
    match epi.max_pool {
        None => Ok(None),
        Some(p) => pool_geometry(
            "conv2d max-pool epilogue",
            &Shape::from((g.n, g.o, g.oh, g.ow)),
            p.kernel,
            p.stride,
        )
        .map(Some),
    }
}

/// Forward pass; returns the output and, when pooling, the in-plane argmax per output.
fn conv2d_forward(
    g: &Geom,
    epi: &Epilogue,
    pg: Option<&PoolGeom>,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
) -> (Vec<f32>, Vec<u32>) {
    let (k, p, og, cg, chw) = (g.k(), g.p(), g.og(), g.cg(), g.c * g.h * g.w);
    let opl = g.o * p;
    // Elements per image of the op's output (pooled or not) and of the argmax.
    let (ypl, apl) = match pg {
        Some(pg) => (g.o * pg.oh * pg.ow, g.o * pg.oh * pg.ow),
        None => (opl, 0),
    };
    let mut out = vec![0f32; g.n * ypl];
    let mut arg = vec![0u32; g.n * apl];
    if out.is_empty() || opl == 0 {
        return (out, arg);
    }
    let (chunk, par) = plan(g.n, false);
    // The convolution of image `ni` into `conv` (`[o, p]`).
    let conv_image = |ni: usize, conv: &mut [f32], col: &mut Vec<f32>| {
        for gi in 0..g.groups {
            let xg = &x[ni * chw + gi * cg * g.h * g.w..][..cg * g.h * g.w];
            let wg = &w[gi * og * k..(gi + 1) * og * k];
            let dst = &mut conv[gi * og * p..(gi + 1) * og * p];
            if let Some(b) = b {
                for (row, &bv) in dst.chunks_exact_mut(p).zip(&b[gi * og..(gi + 1) * og]) {
                    row.fill(bv);
                }
            }
            let rhs = if g.is_pointwise() {
                MatRef::row_major(xg, p)
            } else {
                col.resize(k * p, 0.0);
                im2col(g, xg, col);
                MatRef::row_major(col, p)
            };
            sgemm(
                og,
                p,
                k,
                MatRef::row_major(wg, k),
                rhs,
                dst,
                b.is_some(),
                par,
            );
        }
    };
    // One image: the convolution, then the epilogue. max(relu(v)) == relu(max(v)), so with
    // pooling the ReLU runs on the pooled values.
    let run_image = |ni: usize,
                     out_n: &mut [f32],
                     arg_n: &mut [u32],
                     col: &mut Vec<f32>,
                     scratch: &mut Vec<f32>| {
        match pg {
            Some(pg) => {
                scratch.resize(opl, 0.0);
                conv_image(ni, scratch, col);
                let ppl = pg.oh * pg.ow;
                let planes = out_n.chunks_exact_mut(ppl).zip(arg_n.chunks_exact_mut(ppl));
                for (oi, (o, a)) in planes.enumerate() {
                    max_pool_plane(pg, &scratch[oi * p..(oi + 1) * p], o, a);
                    if epi.relu {
                        o.iter_mut().for_each(|v| *v = v.max(0.0));
                    }
                }
            }
            None => {
                conv_image(ni, out_n, col);
                if epi.relu {
                    out_n.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
        }
    };
    let ychunk = chunk * ypl;
    let achunk = (chunk * apl).max(1);
    let mut dummy = vec![0u32; g.n.div_ceil(chunk)];
    let args: &mut [u32] = if apl > 0 { &mut arg } else { &mut dummy };
    out.par_chunks_mut(ychunk)
        .zip(args.par_chunks_mut(achunk))
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, scratch), (ci, (out_chunk, arg_chunk))| {
                for (j, out_n) in out_chunk.chunks_exact_mut(ypl).enumerate() {
                    let arg_n = if apl > 0 {
                        &mut arg_chunk[j * apl..(j + 1) * apl]
                    } else {
                        &mut [][..]
                    };
                    run_image(ci * chunk + j, out_n, arg_n, col, scratch);
                }
            },
        );
    (out, arg)
}

/// Gradients of the conv2d op; each is computed only when asked for.
struct Grads {
    dx: Option<Vec<f32>>,
    dw: Option<Vec<f32>>,
    db: Option<Vec<f32>>,
}

/// Where the gradient of the convolution's own output comes from.
enum DySource<'a> {
    /// The op's output gradient is it.
    Plain(&'a [f32]),
    /// Through a fused ReLU: `dy` where the op's output `y` is positive.
    Relu { dy: &'a [f32], y: &'a [f32] },
    /// Through a fused max pool (and ReLU if `relu`): each pooled gradient goes to its
    /// window's argmax.
    Pool {
        dy: &'a [f32],
        y: &'a [f32],
        arg: &'a [u32],
        pg: PoolGeom,
        relu: bool,
    },
}

impl DySource<'_> {
    /// The `[o, p]` gradient of image `ni`'s convolution output, built in `scratch` when
    /// it is not the op's output gradient itself.
    fn image<'s>(&'s self, ni: usize, g: &Geom, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        let opl = g.o * g.p();
        match self {
            DySource::Plain(dy) => &dy[ni * opl..(ni + 1) * opl],
            DySource::Relu { dy, y } => {
                scratch.clear();
                scratch.extend(
                    dy[ni * opl..(ni + 1) * opl]
                        .iter()
                        .zip(&y[ni * opl..(ni + 1) * opl])
                        .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 }),
                );
                scratch
            }
            DySource::Pool {
                dy,
                y,
                arg,
                pg,
                relu,
            } => {
                scratch.clear();
                scratch.resize(opl, 0.0);
                let ppl = pg.oh * pg.ow;
                let p = g.p();
                for oi in 0..g.o {
                    let base = (ni * g.o + oi) * ppl;
                    let plane = &mut scratch[oi * p..(oi + 1) * p];
                    for j in base..base + ppl {
                        if !relu || y[j] > 0.0 {
                            plane[arg[j] as usize] += dy[j];
                        }
                    }
                }
                scratch
            }
        }
    }
}

fn conv2d_backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &DySource<'_>,
    need_dx: bool,
    need_dw: bool,
    need_db: bool,
) -> Grads {
    let (k, p, og, cg, hw) = (g.k(), g.p(), g.og(), g.cg(), g.h * g.w);
    let chw = g.c * hw;
    let (chunk, par) = plan(g.n, true);
    let wlen = g.o * k;

    // One image: accumulates into dw / db, writes its own dx block.
    let run_image = |ni: usize,
                     dx_n: Option<&mut [f32]>,
                     dw: &mut [f32],
                     db: &mut [f32],
                     bufs: &mut [Vec<f32>; 3]| {
        let [col, dcol, scratch] = bufs;
        let dy_n = dy.image(ni, g, scratch);
        let mut dx_n = dx_n;
        for gi in 0..g.groups {
            let dyg = &dy_n[gi * og * p..(gi + 1) * og * p];
            if need_db {
                for (acc, row) in db[gi * og..(gi + 1) * og]
                    .iter_mut()
                    .zip(dyg.chunks_exact(p))
                {
                    *acc += sum_f32(row);
                }
            }
            if need_dw {
                let xg = &x[ni * chw + gi * cg * hw..][..cg * hw];
                let colm = if g.is_pointwise() {
                    MatRef::transposed(xg, p)
                } else {
                    col.resize(k * p, 0.0);
                    im2col(g, xg, col);
                    MatRef::transposed(col, p)
                };
                // dW_g [og, k] += dY_g [og, p] · col^T [p, k]
                let dwg = &mut dw[gi * og * k..(gi + 1) * og * k];
                sgemm(og, k, p, MatRef::row_major(dyg, p), colm, dwg, true, par);
            }
            if let Some(dx_n) = dx_n.as_deref_mut() {
                let wg = &w[gi * og * k..(gi + 1) * og * k];
                let dxg = &mut dx_n[gi * cg * hw..(gi + 1) * cg * hw];
                // dcol [k, p] = W_g^T [k, og] · dY_g [og, p]
                let wt = MatRef::transposed(wg, k);
                if g.is_pointwise() {
                    sgemm(k, p, og, wt, MatRef::row_major(dyg, p), dxg, false, par);
                } else {
                    dcol.resize(k * p, 0.0);
                    sgemm(k, p, og, wt, MatRef::row_major(dyg, p), dcol, false, par);
                    col2im(g, dcol, dxg);
                }
            }
        }
    };

    let mut dx = need_dx.then(|| vec![0f32; g.n * chw]);
    let chunks = g.n.div_ceil(chunk);
    // Per-chunk partial sums of dW and dB, reduced below in chunk order so the result does
    // not depend on thread scheduling.
    let work = |ci: usize, dx_chunk: Option<&mut [f32]>| -> (Vec<f32>, Vec<f32>) {
        let mut dw = if need_dw {
            vec![0f32; wlen]
        } else {
            Vec::new()
        };
        let mut db = if need_db { vec![0f32; g.o] } else { Vec::new() };
        let mut bufs = [Vec::new(), Vec::new(), Vec::new()];
        let first = ci * chunk;
        let last = (first + chunk).min(g.n);
        match dx_chunk {
            Some(dxc) => {
                for (j, dx_n) in dxc.chunks_exact_mut(chw).enumerate() {
                    run_image(first + j, Some(dx_n), &mut dw, &mut db, &mut bufs);
                }
            }
            None => {
                for ni in first..last {
                    run_image(ni, None, &mut dw, &mut db, &mut bufs);
                }
            }
        }
        (dw, db)
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = match dx.as_deref_mut() {
        Some(dx) if chw > 0 => dx
            .par_chunks_mut(chunk * chw)
            .enumerate()
            .map(|(ci, c)| work(ci, Some(c)))
            .collect(),
        _ => (0..chunks)
            .into_par_iter()
            .map(|ci| work(ci, None))
            .collect(),
    };
    let mut parts = partials.into_iter();
    let (mut dw, mut db) = parts.next().unwrap_or_else(|| {
        (
            if need_dw {
                vec![0f32; wlen]
            } else {
                Vec::new()
            },
            if need_db { vec![0f32; g.o] } else { Vec::new() },
        )
    });
    for (pw, pb) in parts {
        dw.iter_mut().zip(&pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(&pb).for_each(|(a, b)| *a += b);
    }
    Grads {
        dx,
        dw: need_dw.then_some(dw),
        db: need_db.then_some(db),
    }
}

impl Conv2dOp {
    fn fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry(l1.shape(), l2.shape())?;
        let pg = epilogue_pool(&g, &self.epilogue)?;
        let x = contiguous_f32(s1, l1, "conv2d input")?;
        let w = contiguous_f32(s2, l2, "conv2d weight")?;
        let b = match bias {
            Some((s, l)) => Some(contiguous_f32(s, l, "conv2d bias")?),
            None => None,
        };
        let (out, arg) = conv2d_forward(&g, &self.epilogue, pg.as_ref(), x, w, b);
        let shape = match &pg {
            Some(pg) => {
                match self.argmax.lock() {
                    Ok(mut slot) => *slot = Some(arg),
                    Err(_) => bail!("conv2d: argmax lock poisoned"),
                }
                Shape::from((g.n, g.o, pg.oh, pg.ow))
            }
            None => Shape::from((g.n, g.o, g.oh, g.ow)),
        };
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd_impl(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let need_dx = x.track_op();
        let need_dw = w.track_op();
        let need_db = bias.is_some_and(|b| b.track_op());
        if !(need_dx || need_dw || need_db) {
            return Ok((None, None, None));
        }
        let g = self.geometry(x.shape(), w.shape())?;
        let pg = epilogue_pool(&g, &self.epilogue)?;
        let grad = grad.contiguous()?;
        let slot = match self.argmax.lock() {
            Ok(slot) => slot,
            Err(_) => bail!("conv2d: argmax lock poisoned"),
        };
        let grads = with_f32(x, "conv2d input", |xs| {
            with_f32(w, "conv2d weight", |ws| {
                with_f32(&grad, "conv2d output gradient", |dy| {
                    with_f32(res, "conv2d output", |y| {
                        let src = match (&pg, self.epilogue.relu) {
                            (Some(pg), relu) => match slot.as_ref() {
                                Some(arg) => DySource::Pool {
                                    dy,
                                    y,
                                    arg,
                                    pg: *pg,
                                    relu,
                                },
                                None => bail!("conv2d: backward before forward"),
                            },
                            (None, true) => DySource::Relu { dy, y },
                            (None, false) => DySource::Plain(dy),
                        };
                        Ok(conv2d_backward(&g, xs, ws, &src, need_dx, need_dw, need_db))
                    })
                })
            })
        })?;
        let dev = x.device();
        let dx = match grads.dx {
            Some(v) => Some(Tensor::from_vec(v, x.shape(), dev)?),
            None => None,
        };
        let dw = match grads.dw {
            Some(v) => Some(Tensor::from_vec(v, w.shape(), dev)?),
            None => None,
        };
        let db = match grads.db {
            Some(v) => Some(Tensor::from_vec(v, g.o, dev)?),
            None => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "wick-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.bwd_impl(x, w, None, res, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "wick-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.bwd_impl(x, w, Some(b), res, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_covers_exactly_the_inside_columns() {
        for stride in 1..4 {
            for off in -4isize..4 {
                for w in 1..7usize {
                    let ow = 6;
                    let (lo, hi) = valid_range(off, stride, w, ow);
                    for ox in 0..ow {
                        let ix = ox as isize * stride as isize + off;
                        let inside = ix >= 0 && ix < w as isize;
                        assert_eq!(
                            inside,
                            ox >= lo && ox < hi,
                            "s{stride} off{off} w{w} ox{ox}"
                        );
                    }
                }
            }
        }
    }
}
