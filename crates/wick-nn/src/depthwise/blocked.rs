//! The channel-blocked depthwise kernels for small planes: 16 channels of one image at a
//! time, one channel per vector lane, so that every tap is one multiply-add per output pixel
//! with no per-plane setup and no padded columns computed.
//!
//! A block's planes `[16, h, w]` are transposed into the padded pixel-major layout
//! `[ph, pw, 16]` (zeros where padding, and in the lanes past the last channel), the kernels
//! run there, and the results are transposed back. Every sum runs in an order fixed by the
//! geometry (pixels in raster order, taps in weight order, images in batch order), so the
//! results are the same bits on every run.

use super::buffer::sized;
use super::geom::DwGeom;
use super::kernel::Isa;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};
use super::simd::{Scalar, Simd, LANES};

/// Channels per block: one per lane.
pub(super) const CB: usize = LANES;

/// Whether the blocked kernels suit `g` better than the per-plane ones: small output rows,
/// where the per-plane kernels compute many padded columns and pay their setup per plane.
pub(super) fn use_blocked(g: &DwGeom) -> bool {
    g.ow <= 16 && g.oh * g.ow <= 256
}

/// What every block of one op call shares, derived once from the geometry.
pub(super) struct BlockPlan {
    /// Per tap, in weight order: the offset of its pixel in the padded input from the
    /// window's corner.
    pub(super) fwd: Vec<usize>,
    /// Per kernel row: the offset of its first pixel from the window's corner.
    pub(super) fwd_rows: Vec<usize>,
    /// The taps in groups of at most 8 whose weight gradients stay in registers together.
    pub(super) dw_groups: Vec<std::ops::Range<usize>>,
    /// Per phase `(a, b)` (index `a * s + b`) of the padded input's gradient.
    pub(super) dx: Vec<DxPhase>,
    /// Zero rows / columns around the padded output gradient, and its row length.
    pub(super) mh: usize,
    pub(super) mw: usize,
    pub(super) dpw: usize,
}

/// One phase of the padded input's gradient in the blocked layout.
pub(super) struct DxPhase {
    /// Per tap reading the phase, by rows of `nv` taps whose pixels in the padded output
    /// gradient are consecutive: its offset there.
    pub(super) offs: Vec<usize>,
    /// The taps per row.
    pub(super) nv: usize,
    /// Per tap reading the phase: its index in the weight.
    pub(super) taps: Vec<usize>,
    /// The phase's columns `j0..j1` that lie inside the input.
    pub(super) j0: usize,
    pub(super) j1: usize,
}

impl BlockPlan {
    /// The plan of geometry `g`.
    pub(super) fn new(g: &DwGeom) -> BlockPlan {
        let (s, t) = (g.s, g.taps());
        let fwd = (0..t).map(|tap| ((tap / g.kw) * g.pw + tap % g.kw) * LANES).collect();
        let ng = t.div_ceil(8);
        let mut dw_groups = Vec::with_capacity(ng);
        let mut start = 0;
        for i in 0..ng {
            let len = t / ng + usize::from(i < t % ng);
            dw_groups.push(start..start + len);
            start += len;
        }
        let (mh, mw) = ((g.kh - 1) / s, (g.kw - 1) / s);
        let dpw = g.ow + 2 * mw;
        let cend = g.pw.min(g.pl + g.w);
        let mut dx = Vec::with_capacity(s * s);
        for a in 0..s {
            for b in 0..s {
                let (mut offs, mut taps) = (Vec::new(), Vec::new());
                let nv = (b..g.kw).step_by(s).count();
                for (u, ki) in (a..g.kh).step_by(s).enumerate() {
                    // Right to left in the kernel: left to right in the output gradient.
                    for (v, kj) in (b..g.kw).step_by(s).enumerate().rev() {
                        offs.push(((mh - u) * dpw + (mw - v)) * LANES);
                        taps.push(ki * g.kw + kj);
                    }
                }
                let j0 = g.pl.saturating_sub(b).div_ceil(s);
                let j1 = cend.saturating_sub(b).div_ceil(s).max(j0);
                dx.push(DxPhase { offs, nv, taps, j0, j1 });
            }
        }
        let fwd_rows = (0..g.kh).map(|ki| ki * g.pw * LANES).collect();
        BlockPlan { fwd, fwd_rows, dw_groups, dx, mh, mw, dpw }
    }
}

/// Buffers reused across the blocks one task processes.
#[derive(Default)]
pub(super) struct BlockScratch {
    /// The padded input block `[ph, pw, 16]`.
    pub(super) p: Vec<f32>,
    /// The output (gradient) block `[oh, ow, 16]`.
    pub(super) o: Vec<f32>,
    /// The output gradient block with zero margins `[oh + 2 mh, ow + 2 mw, 16]`.
    pub(super) dyp: Vec<f32>,
    /// The padded input gradient block `[ph, pw, 16]`.
    pub(super) dp: Vec<f32>,
}

/// Every block's weights, lane by lane (lanes past the last channel zero): per block its
/// taps in weight order, and per block and input-gradient phase that phase's taps in order.
/// Built once per op call.
pub(super) struct BlockWeights {
    pub(super) w: Vec<[f32; LANES]>,
    pub(super) wdx: Vec<Vec<[f32; LANES]>>,
}

impl BlockWeights {
    /// The block weights of `w` `[c, kh * kw]` under `plan`.
    pub(super) fn new(g: &DwGeom, plan: &BlockPlan, w: &[f32]) -> Self {
        let t = g.taps();
        let nb = g.c.div_ceil(CB);
        let mut bw = vec![[0f32; LANES]; nb * t];
        for (c, wc) in w.chunks_exact(t).enumerate().take(g.c) {
            for (tap, &v) in wc.iter().enumerate() {
                bw[(c / CB) * t + tap][c % CB] = v;
            }
        }
        let mut wdx = Vec::with_capacity(nb * plan.dx.len());
        for blk in bw.chunks_exact(t.max(1)) {
            wdx.extend(plan.dx.iter().map(|ph| ph.taps.iter().map(|&tap| blk[tap]).collect::<Vec<_>>()));
        }
        BlockWeights { w: bw, wdx }
    }

    /// Block `bi` (channels `16 * bi..`) of geometry `g` under `plan`.
    pub(super) fn block<'a>(&'a self, g: &'a DwGeom, plan: &'a BlockPlan, bi: usize) -> Block<'a> {
        let (t, np) = (g.taps(), plan.dx.len());
        let c0 = bi * CB;
        Block { g, plan, c0, cb: CB.min(g.c - c0), w: &self.w[bi * t..][..t], wdx: &self.wdx[bi * np..][..np] }
    }
}

/// One block: its geometry and plan, first channel `c0`, channel count `cb` (at most 16) and
/// weights.
#[derive(Clone, Copy)]
pub(super) struct Block<'a> {
    pub(super) g: &'a DwGeom,
    pub(super) plan: &'a BlockPlan,
    pub(super) c0: usize,
    pub(super) cb: usize,
    /// Per tap, the block's 16 weights.
    pub(super) w: &'a [[f32; LANES]],
    /// Per input-gradient phase, the weights of its taps in its order.
    pub(super) wdx: &'a [Vec<[f32; LANES]>],
}

/// The output planes `out` `[cb, oh, ow]` of input planes `x` `[cb, h, w]` (one image), with
/// per-lane `bias`.
pub(super) fn forward_block(
    isa: Isa,
    b: Block<'_>,
    x: &[f32],
    bias: &[f32; LANES],
    out: &mut [f32],
    s: &mut BlockScratch,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(t) => {
            // SAFETY: the token proves the CPU has AVX-512F and FMA.
            unsafe { forward_avx512(t, b, x, bias, out, s) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(t) => {
            // SAFETY: the token proves the CPU has AVX2 and FMA.
            unsafe { forward_avx2(t, b, x, bias, out, s) }
        }
        Isa::Base => forward_body(Scalar, b, x, bias, out, s),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn forward_avx512(t: Avx512, b: Block<'_>, x: &[f32], bias: &[f32; LANES], out: &mut [f32], s: &mut BlockScratch) {
    forward_body(t, b, x, bias, out, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2(t: Avx2, b: Block<'_>, x: &[f32], bias: &[f32; LANES], out: &mut [f32], s: &mut BlockScratch) {
    forward_body(t, b, x, bias, out, s)
}

/// The padded input's pixel `(r, c)` in `[ph, pw, 16]`.
#[inline(always)]
pub(super) fn at(g: &DwGeom, r: usize, c: usize) -> usize {
    (r * g.pw + c) * LANES
}

/// Input columns that land inside the `pw` columns the windows read.
#[inline(always)]
pub(super) fn ncols(g: &DwGeom) -> usize {
    g.w.min(g.pw.saturating_sub(g.pl))
}

/// Input rows `y` (with padded row `y + pt`) inside the `ph` rows the windows read.
#[inline(always)]
pub(super) fn nrows(g: &DwGeom) -> usize {
    g.h.min(g.ph.saturating_sub(g.pt))
}

// The transposes between the channel-major planes `[cb, n]` of a block and its pixel-major
// vectors (16 channels of one pixel, zero past `cb`) go 16 pixels at a time through an
// in-register transpose; the last `n % 16` pixels one by one. (Loops rather than closures:
// a closure would not be compiled with the caller's instruction set.)

/// Pixels `q..q + 16` of the planes `src` `[cb, n]`, pixel-major.
#[inline(always)]
pub(super) fn tile_in<S: Simd>(k: S, src: &[f32], cb: usize, n: usize, q: usize) -> [S::V; LANES] {
    let mut m = [k.zero(); LANES];
    if cb == LANES {
        for (l, m) in m.iter_mut().enumerate() {
            *m = k.load(&src[l * n + q..]);
        }
    } else {
        for (l, m) in m.iter_mut().enumerate().take(cb) {
            *m = k.load(&src[l * n + q..]);
        }
    }
    k.transpose(&mut m);
    m
}

/// Pixel `i` of the planes `src` `[cb, n]`.
#[inline(always)]
pub(super) fn pixel_in<S: Simd>(k: S, src: &[f32], cb: usize, n: usize, i: usize) -> S::V {
    let mut v = [0f32; LANES];
    for (l, v) in v.iter_mut().enumerate().take(cb) {
        *v = src[l * n + i];
    }
    k.load(&v)
}

/// Writes the pixel-major `m` (pixels `q..q + 16`) into the planes `dst` `[cb, n]`.
#[inline(always)]
pub(super) fn tile_out<S: Simd>(k: S, mut m: [S::V; LANES], dst: &mut [f32], cb: usize, n: usize, q: usize) {
    k.transpose(&mut m);
    if cb == LANES {
        for (l, v) in m.into_iter().enumerate() {
            k.store(v, &mut dst[l * n + q..]);
        }
    } else {
        for (l, v) in m.into_iter().enumerate().take(cb) {
            k.store(v, &mut dst[l * n + q..]);
        }
    }
}

/// Writes pixel `i`'s channels `v` into the planes `dst` `[cb, n]`.
#[inline(always)]
pub(super) fn pixel_out<S: Simd>(k: S, v: S::V, dst: &mut [f32], cb: usize, n: usize, i: usize) {
    let mut a = [0f32; LANES];
    k.store(v, &mut a);
    for (l, &v) in a.iter().enumerate().take(cb) {
        dst[l * n + i] = v;
    }
}

/// Transposes the block's input planes `x` `[cb, h, w]` into `p` `[ph, pw, 16]`, zeros
/// elsewhere.
#[inline(always)]
pub(super) fn pack<S: Simd>(k: S, b: Block<'_>, x: &[f32], p: &mut Vec<f32>) {
    let g = b.g;
    let p = sized(p, g.ph * g.pw * LANES);
    let (nr, nc, n) = (nrows(g), ncols(g), g.h * g.w);
    let full = n / LANES * LANES;
    for q in (0..full).step_by(LANES) {
        for (i, v) in tile_in(k, x, b.cb, n, q).into_iter().enumerate() {
            put_pixel(k, g, (nr, nc), q + i, v, p);
        }
    }
    for i in full..n {
        put_pixel(k, g, (nr, nc), i, pixel_in(k, x, b.cb, n, i), p);
    }
}

/// Stores input pixel `i`'s channels `v` at its place in the padded block `p`, if the
/// windows read it (`nr` x `nc` input pixels).
#[inline(always)]
fn put_pixel<S: Simd>(k: S, g: &DwGeom, (nr, nc): (usize, usize), i: usize, v: S::V, p: &mut [f32]) {
    let (y, xc) = (i / g.w, i % g.w);
    if y < nr && xc < nc {
        k.store(v, &mut p[at(g, y + g.pt, xc + g.pl)..]);
    }
}

/// Transposes `o` `[oh, ow, 16]` (`bias` added) into the block's output planes `out`.
#[inline(always)]
fn unpack_out<S: Simd>(k: S, b: Block<'_>, o: &[f32], bias: &[f32; LANES], out: &mut [f32]) {
    let bv = k.load(bias);
    let n = b.g.oh * b.g.ow;
    let full = n / LANES * LANES;
    for q in (0..full).step_by(LANES) {
        let mut m = [k.zero(); LANES];
        for (i, m) in m.iter_mut().enumerate() {
            *m = k.add(k.load(&o[(q + i) * LANES..]), bv);
        }
        tile_out(k, m, out, b.cb, n, q);
    }
    for i in full..n {
        pixel_out(k, k.add(k.load(&o[i * LANES..]), bv), out, b.cb, n, i);
    }
}

#[inline(always)]
fn forward_body<S: Simd>(k: S, b: Block<'_>, x: &[f32], bias: &[f32; LANES], out: &mut [f32], s: &mut BlockScratch) {
    let g = b.g;
    pack(k, b, x, &mut s.p);
    s.o.resize(g.oh * g.ow * LANES, 0.0);
    let (p, w, o) = (&s.p[..], b.w, &mut s.o[..]);
    let step = g.s * LANES;
    for oy in 0..g.oh {
        let row = &mut o[oy * g.ow * LANES..][..g.ow * LANES];
        let base = at(g, oy * g.s, 0);
        let mut quads = row.chunks_exact_mut(4 * LANES);
        for (q, dst) in (&mut quads).enumerate() {
            let base = base + 4 * q * step;
            let rows = &b.plan.fwd_rows[..];
            let acc = match (g.kw, g.s) {
                (3, 1) => rows4::<S, 3, 1>(k, p, base, rows, w),
                (5, 1) => rows4::<S, 5, 1>(k, p, base, rows, w),
                (3, 2) => rows4::<S, 3, 2>(k, p, base, rows, w),
                (5, 2) => rows4::<S, 5, 2>(k, p, base, rows, w),
                (_, 1) => taps4::<S, LANES>(k, p, base, &b.plan.fwd, w),
                (_, 2) => taps4::<S, { 2 * LANES }>(k, p, base, &b.plan.fwd, w),
                _ => taps4_strided(k, p, base, step, &b.plan.fwd, w),
            };
            for (j, a) in acc.into_iter().enumerate() {
                k.store(a, &mut dst[j * LANES..]);
            }
        }
        let done = g.ow / 4 * 4;
        for (j, dst) in quads.into_remainder().chunks_exact_mut(LANES).enumerate() {
            k.store(taps1(k, p, base + (done + j) * step, &b.plan.fwd, w), dst);
        }
    }
    unpack_out(k, b, &s.o, bias, out);
}

/// [`taps4`] for kernel rows of `KW` taps at pixel stride `ST`: row `r` reads the pixels from
/// `src[base + rows[r]]` on, each loaded once for all four outputs and taps (`w` holds the
/// rows' weights one after the other). The same sums in the same order as [`taps4`].
#[inline(always)]
pub(super) fn rows4<S: Simd, const KW: usize, const ST: usize>(
    k: S,
    src: &[f32],
    base: usize,
    rows: &[usize],
    w: &[[f32; LANES]],
) -> [S::V; 4] {
    let np = 3 * ST + KW;
    let mut acc = [k.zero(); 4];
    for (&ro, wr) in rows.iter().zip(w.chunks_exact(KW)) {
        let win = &src[base + ro..][..np * LANES];
        let mut pv = [k.zero(); 16];
        for (i, v) in pv.iter_mut().enumerate().take(np) {
            *v = k.load(&win[i * LANES..]);
        }
        for (kj, wv) in wr.iter().enumerate() {
            let wv = k.load(wv);
            for (j, a) in acc.iter_mut().enumerate() {
                *a = k.madd(wv, pv[j * ST + kj], *a);
            }
        }
    }
    acc
}

/// `Σ_i ws[i] * src[base + j * STEP + offs[i]]` for the four pixels `j < 4` (`STEP` a
/// constant, so that each tap's window is checked once).
#[inline(always)]
pub(super) fn taps4<S: Simd, const STEP: usize>(
    k: S,
    src: &[f32],
    base: usize,
    offs: &[usize],
    ws: &[[f32; LANES]],
) -> [S::V; 4] {
    let mut a = [k.zero(); 4];
    for (&off, wv) in offs.iter().zip(ws) {
        let wv = k.load(wv);
        let p = &src[base + off..][..3 * STEP + LANES];
        a[0] = k.madd(wv, k.load(p), a[0]);
        a[1] = k.madd(wv, k.load(&p[STEP..]), a[1]);
        a[2] = k.madd(wv, k.load(&p[2 * STEP..]), a[2]);
        a[3] = k.madd(wv, k.load(&p[3 * STEP..]), a[3]);
    }
    a
}

/// [`taps4`] for a stride known only at run time.
#[inline(always)]
fn taps4_strided<S: Simd>(
    k: S,
    src: &[f32],
    base: usize,
    step: usize,
    offs: &[usize],
    ws: &[[f32; LANES]],
) -> [S::V; 4] {
    let mut a = [k.zero(); 4];
    for (&off, wv) in offs.iter().zip(ws) {
        let wv = k.load(wv);
        let p = &src[base + off..];
        a[0] = k.madd(wv, k.load(p), a[0]);
        a[1] = k.madd(wv, k.load(&p[step..]), a[1]);
        a[2] = k.madd(wv, k.load(&p[2 * step..]), a[2]);
        a[3] = k.madd(wv, k.load(&p[3 * step..]), a[3]);
    }
    a
}

/// `Σ_i ws[i] * src[base + offs[i]]`, one pixel.
#[inline(always)]
pub(super) fn taps1<S: Simd>(k: S, src: &[f32], base: usize, offs: &[usize], ws: &[[f32; LANES]]) -> S::V {
    let mut a = k.zero();
    for (&off, wv) in offs.iter().zip(ws) {
        a = k.madd(k.load(wv), k.load(&src[base + off..]), a);
    }
    a
}
