//! The conv op's CPU backward pass: gradient through the epilogue, then db, dw and dx by gemm.

use rayon::prelude::*;

use super::geom::{plan, Geom};
use super::im2col::{col2im, im2col};
use crate::pool::PoolGeom;
use crate::room::fill_room;
use crate::scratch::{sized, with_scratch};
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
    /// The `[o, pitch]` gradient of image `ni`'s convolution output (row `oi` holds plane
    /// `oi` in its first `p` elements, zeros after them), built in `scratch` unless it is
    /// the op's output gradient itself.
    fn image<'s>(&'s self, ni: usize, g: &Geom, pitch: usize, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        let p = g.p();
        let opl = g.o * p;
        if let DySource::Plain(dy) = self {
            if pitch == p {
                return &dy[ni * opl..(ni + 1) * opl];
            }
        }
        let out = sized(scratch, g.o * pitch);
        for (oi, row) in out.chunks_exact_mut(pitch).enumerate() {
            let (plane, pad) = row.split_at_mut(p);
            pad.fill(0.0);
            let at = (ni * g.o + oi) * p;
            match self {
                DySource::Plain(dy) => plane.copy_from_slice(&dy[at..at + p]),
                DySource::Relu { dy, y } => {
                    for ((d, &gv), &v) in plane.iter_mut().zip(&dy[at..at + p]).zip(&y[at..at + p]) {
                        *d = if v > 0.0 { gv } else { 0.0 };
                    }
                }
                DySource::Pool { dy, y, arg, pg, relu } => {
                    let ppl = pg.oh * pg.ow;
                    let base = (ni * g.o + oi) * ppl;
                    let (dy, y, arg) = (&dy[base..base + ppl], &y[base..base + ppl], &arg[base..base + ppl]);
                    plane.fill(0.0);
                    for ((&d, &v), &a) in dy.iter().zip(y).zip(arg) {
                        // Without a branch (whether the ReLU passes is data, so a branch
                        // mispredicts): a dropped gradient adds +0.0.
                        let mask = if !relu || v > 0.0 { u32::MAX } else { 0 };
                        plane[a as usize] += f32::from_bits(d.to_bits() & mask);
                    }
                }
            }
        }
        out
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
    let pitch = g.pitch();
    let wlen = g.o * k;
    // gemm copies ("packs") the `pitch`-strided operand of the weight-gradient product whose
    // rows become its output's columns: col (`k` rows) in dW = dY·colᵀ, dY (`og` rows) in
    // dWᵀ = col·dYᵀ. Compute whichever form packs the smaller one; the transposed partial
    // sums are turned back into `[og, k]` once, at the end. Measured at the benchmark CNN's
    // second conv (k = 288, og = 64): 102 vs 82 GF/s.
    let dw_transposed = og < k;

    // One image: accumulates into dw / db, writes its own dx block.
    let run_image = |ni: usize, dx_n: Option<&mut [f32]>, dw: &mut [f32], db: &mut [f32], bufs: &mut [Vec<f32>; 3]| {
        let [col, dcol, scratch] = bufs;
        let dy_n = dy.image(ni, g, pitch, scratch);
        let mut dx_n = dx_n;
        for gi in 0..g.groups {
            let dyg = &dy_n[gi * og * pitch..(gi + 1) * og * pitch];
            if need_db {
                for (acc, row) in db[gi * og..(gi + 1) * og].iter_mut().zip(dyg.chunks_exact(pitch)) {
                    *acc += sum_f32(&row[..p]);
                }
            }
            if need_dw {
                let xg = &x[ni * chw + gi * cg * hw..][..cg * hw];
                let col: &[f32] = if g.is_pointwise() {
                    xg
                } else {
                    let col = sized(col, k * pitch);
                    im2col(g, xg, col, pitch);
                    col
                };
                // The pad columns of dY_g and col are both zero.
                let dwg = &mut dw[gi * og * k..(gi + 1) * og * k];
                if dw_transposed {
                    // dW_g^T [k, og] += col [k, pitch] · dY_g^T [pitch, og]
                    let dyt = MatRef::transposed(dyg, pitch);
                    sgemm(k, og, pitch, MatRef::row_major(col, pitch), dyt, dwg, true, par);
                } else {
                    // dW_g [og, k] += dY_g [og, pitch] · col^T [pitch, k]
                    let colt = MatRef::transposed(col, pitch);
                    sgemm(og, k, pitch, MatRef::row_major(dyg, pitch), colt, dwg, true, par);
                }
            }
            if let Some(dx_n) = dx_n.as_deref_mut() {
                let wg = &w[gi * og * k..(gi + 1) * og * k];
                let dxg = &mut dx_n[gi * cg * hw..(gi + 1) * cg * hw];
                // dcol [k, p] = W_g^T [k, og] · dY_g [og, p]
                let wt = MatRef::transposed(wg, k);
                if g.is_pointwise() {
                    sgemm(k, p, og, wt, MatRef::row_major(dyg, p), dxg, false, par);
                } else {
                    let dcol = sized(dcol, k * pitch);
                    sgemm(k, pitch, og, wt, MatRef::row_major(dyg, pitch), dcol, false, par);
                    col2im(g, dcol, dxg, pitch);
                }
            }
        }
    };

    // Allocated, not zeroed: each task fills its own chunk (see `fill_room`).
    let mut dx: Option<Vec<f32>> = need_dx.then(|| Vec::with_capacity(g.n * chw));
    let chunks = g.n.div_ceil(chunk);
    // Per-chunk partial sums of dW and dB, reduced below in chunk order so the result does
    // not depend on thread scheduling.
    let work = |ci: usize, dx_chunk: Option<&mut [f32]>| -> (Vec<f32>, Vec<f32>) {
        let mut dw = if need_dw { vec![0f32; wlen] } else { Vec::new() };
        let mut db = if need_db { vec![0f32; g.o] } else { Vec::new() };
        let first = ci * chunk;
        let last = (first + chunk).min(g.n);
        with_scratch(|bufs| match dx_chunk {
            Some(dxc) => {
                for (j, dx_n) in dxc.chunks_exact_mut(chw).enumerate() {
                    run_image(first + j, Some(dx_n), &mut dw, &mut db, bufs);
                }
            }
            None => {
                for ni in first..last {
                    run_image(ni, None, &mut dw, &mut db, bufs);
                }
            }
        });
        (dw, db)
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = match dx.as_mut() {
        Some(dx) if chw > 0 => {
            let room = &mut dx.spare_capacity_mut()[..g.n * chw];
            let parts =
                room.par_chunks_mut(chunk * chw).enumerate().map(|(ci, c)| work(ci, Some(fill_room(c, 0.0)))).collect();
            // SAFETY: the map above returned normally (a panic would have unwound past
            // this), and its chunks cover all `g.n * chw` elements of room that
            // `with_capacity` reserved, each initialised by `fill_room`.
            unsafe { dx.set_len(g.n * chw) };
            parts
        }
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
    if need_dw && dw_transposed {
        dw = untranspose_groups(&dw, g.groups, og, k);
    }
    Grads { dx, dw: need_dw.then_some(dw), db: need_db.then_some(db) }
}

/// `[groups][k][og]` blocks (each the transpose of a group's weight gradient) as
/// `[groups][og][k]`, the weight's layout.
fn untranspose_groups(dwt: &[f32], groups: usize, og: usize, k: usize) -> Vec<f32> {
    let mut dw = vec![0f32; dwt.len()];
    for (src, dst) in dwt.chunks_exact(og * k).zip(dw.chunks_exact_mut(og * k)).take(groups) {
        for (kk, row) in src.chunks_exact(og).enumerate() {
            for (o, &v) in row.iter().enumerate() {
                dst[o * k + kk] = v;
            }
        }
    }
    dw
}
