//! The conv op's CPU backward pass: gradient through the epilogue, then db, dw and dx by gemm.

use rayon::prelude::*;

use super::geom::{plan, Geom};
use super::im2col::{col2im, im2col};
use crate::pool::PoolGeom;
use crate::sgemm::{sgemm, MatRef};
use crate::util::sum_f32;

/// Gradients of the conv2d op; each is computed only when asked for.
pub(super) struct Grads {
    pub(super) dx: Option<Vec<f32>>,
    pub(super) dw: Option<Vec<f32>>,
    pub(super) db: Option<Vec<f32>>,
}

/// Where the gradient of the convolution's own output comes from.
pub(super) enum DySource<'a> {
    /// The op's output gradient is it.
    Plain(&'a [f32]),
    /// Through a fused ReLU: `dy` where the op's output `y` is positive.
    Relu { dy: &'a [f32], y: &'a [f32] },
    /// Through a fused max pool (and ReLU if `relu`): each pooled gradient goes to its
    /// window's argmax.
    Pool { dy: &'a [f32], y: &'a [f32], arg: &'a [u32], pg: PoolGeom, relu: bool },
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
                scratch.extend(dy[ni * opl..(ni + 1) * opl].iter().zip(&y[ni * opl..(ni + 1) * opl]).map(
                    |(&d, &v)| {
                        if v > 0.0 {
                            d
                        } else {
                            0.0
                        }
                    },
                ));
                scratch
            }
            DySource::Pool { dy, y, arg, pg, relu } => {
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

/// Backward pass: the input, weight and bias gradients asked for, from the gradient of the
/// convolution's output given by `dy`.
pub(super) fn conv2d_backward(
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
    let run_image = |ni: usize, dx_n: Option<&mut [f32]>, dw: &mut [f32], db: &mut [f32], bufs: &mut [Vec<f32>; 3]| {
        let [col, dcol, scratch] = bufs;
        let dy_n = dy.image(ni, g, scratch);
        let mut dx_n = dx_n;
        for gi in 0..g.groups {
            let dyg = &dy_n[gi * og * p..(gi + 1) * og * p];
            if need_db {
                for (acc, row) in db[gi * og..(gi + 1) * og].iter_mut().zip(dyg.chunks_exact(p)) {
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
        let mut dw = if need_dw { vec![0f32; wlen] } else { Vec::new() };
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
        Some(dx) if chw > 0 => dx.par_chunks_mut(chunk * chw).enumerate().map(|(ci, c)| work(ci, Some(c))).collect(),
        _ => (0..chunks).into_par_iter().map(|ci| work(ci, None)).collect(),
    };
    let mut parts = partials.into_iter();
    let (mut dw, mut db) = parts.next().unwrap_or_else(|| {
        (if need_dw { vec![0f32; wlen] } else { Vec::new() }, if need_db { vec![0f32; g.o] } else { Vec::new() })
    });
    for (pw, pb) in parts {
        dw.iter_mut().zip(&pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(&pb).for_each(|(a, b)| *a += b);
    }
    Grads { dx, dw: need_dw.then_some(dw), db: need_db.then_some(db) }
}
