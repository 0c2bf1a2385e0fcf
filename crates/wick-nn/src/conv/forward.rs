//! The conv op's CPU forward pass: bias, im2col + gemm per image and group, fused epilogue.

use std::mem::MaybeUninit;

use candle_core::DType;
use rayon::prelude::*;

use super::epilogue::Epilogue;
use super::geom::{plan, Geom};
use super::im2col::im2col;
use crate::pool::{max_pool_plane, PoolGeom};
use crate::room::fill_room;
use crate::scratch::{sized, with_scratch};
use crate::sgemm::{sgemm, MatRef};
use crate::util::round_to;

/// Forward pass; returns the output and, when pooling, the in-plane argmax per output.
///
/// `dtype` is the op's tensor dtype: for bf16 / f16 the convolution's output is rounded to it
/// before the pool, so the pool (and its argmax) sees what a `dtype` tensor would hold; the
/// caller rounds the returned output.
pub(super) fn conv2d_forward(
    g: &Geom,
    epi: &Epilogue,
    pg: Option<&PoolGeom>,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    dtype: DType,
) -> (Vec<f32>, Vec<u32>) {
    let (k, p, og, cg, chw) = (g.k(), g.p(), g.og(), g.cg(), g.c * g.h * g.w);
    let opl = g.o * p;
    // Elements per image of the op's output (pooled or not) and of the argmax.
    let (ypl, apl) = match pg {
        Some(pg) => (g.o * pg.oh * pg.ow, g.o * pg.oh * pg.ow),
        None => (opl, 0),
    };
    let (ylen, alen) = (g.n * ypl, g.n * apl);
    if ylen == 0 || opl == 0 {
        return (vec![0f32; ylen], vec![0u32; alen]);
    }
    // Allocated, not zeroed: each task fills its own chunk (see `fill_room`).
    let mut out: Vec<f32> = Vec::with_capacity(ylen);
    let mut arg: Vec<u32> = Vec::with_capacity(alen);
    let (chunk, par) = plan(g.n, false);
    let pitch = g.pitch();
    // The convolution of image `ni` into `conv` (`[o, pitch]`: row `oi` holds output plane
    // `oi` in its first `p` elements).
    let conv_image = |ni: usize, conv: &mut [f32], col: &mut Vec<f32>| {
        for gi in 0..g.groups {
            let xg = &x[ni * chw + gi * cg * g.h * g.w..][..cg * g.h * g.w];
            let wg = &w[gi * og * k..(gi + 1) * og * k];
            let dst = &mut conv[gi * og * pitch..(gi + 1) * og * pitch];
            if let Some(b) = b {
                for (row, &bv) in dst.chunks_exact_mut(pitch).zip(&b[gi * og..(gi + 1) * og]) {
                    row.fill(bv);
                }
            }
            let rhs = if g.is_pointwise() {
                MatRef::row_major(xg, p)
            } else {
                let col = sized(col, k * pitch);
                im2col(g, xg, col, pitch);
                MatRef::row_major(col, pitch)
            };
            sgemm(og, pitch, k, MatRef::row_major(wg, k), rhs, dst, b.is_some(), par);
        }
    };
    // One image: the convolution, then the epilogue. max(relu(v)) == relu(max(v)), so with
    // pooling the ReLU runs on the pooled values.
    let run_image = |ni: usize, out_n: &mut [f32], arg_n: &mut [u32], bufs: &mut [Vec<f32>; 2]| {
        let [col, scratch] = bufs;
        match pg {
            Some(pg) => {
                let conv = sized(scratch, g.o * pitch);
                conv_image(ni, conv, col);
                let ppl = pg.oh * pg.ow;
                let planes = out_n.chunks_exact_mut(ppl).zip(arg_n.chunks_exact_mut(ppl));
                for (oi, (o, a)) in planes.enumerate() {
                    let plane = &mut conv[oi * pitch..oi * pitch + p];
                    round_to(dtype, plane);
                    max_pool_plane(pg, plane, o, a);
                    if epi.relu {
                        o.iter_mut().for_each(|v| *v = v.max(0.0));
                    }
                }
            }
            None if pitch == p => conv_image(ni, out_n, col),
            None => {
                let conv = sized(scratch, g.o * pitch);
                conv_image(ni, conv, col);
                for (o, row) in out_n.chunks_exact_mut(p).zip(conv.chunks_exact(pitch)) {
                    o.copy_from_slice(&row[..p]);
                }
            }
        }
        if pg.is_none() && epi.relu {
            out_n.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    };
    let ychunk = chunk * ypl;
    let achunk = (chunk * apl).max(1);
    let mut dummy = vec![MaybeUninit::new(0u32); g.n.div_ceil(chunk)];
    let args: &mut [MaybeUninit<u32>] = if apl > 0 { &mut arg.spare_capacity_mut()[..alen] } else { &mut dummy };
    let outs = &mut out.spare_capacity_mut()[..ylen];
    outs.par_chunks_mut(ychunk).zip(args.par_chunks_mut(achunk)).enumerate().for_each(
        |(ci, (out_chunk, arg_chunk))| {
            let out_chunk = fill_room(out_chunk, 0.0);
            let arg_chunk = fill_room(arg_chunk, 0);
            with_scratch(|bufs| {
                for (j, out_n) in out_chunk.chunks_exact_mut(ypl).enumerate() {
                    let arg_n = if apl > 0 { &mut arg_chunk[j * apl..(j + 1) * apl] } else { &mut [][..] };
                    run_image(ci * chunk + j, out_n, arg_n, bufs);
                }
            })
        },
    );
    // SAFETY: the loop above returned normally (a panic would have unwound past this), and
    // its chunks cover all of `out`'s first `ylen` and (when `apl > 0`) `arg`'s first `alen`
    // elements of room, each of which `fill_room` initialised; `with_capacity` reserved them.
    unsafe {
        out.set_len(ylen);
        if apl > 0 {
            arg.set_len(alen);
        }
    }
    (out, arg)
}
