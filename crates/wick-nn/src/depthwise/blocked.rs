//! The channel-blocked depthwise kernels for small planes: 16 channels of one image at a
//! time, one channel per vector lane, so that every tap is one multiply-add per output pixel
//! with no per-plane setup and no padded columns computed.
//!
//! A block's planes `[16, h, w]` are transposed into the padded pixel-major layout
//! `[ph, pw, 16]` (zeros where padding, and in the lanes past the last channel), the kernels
//! run there, and the results are transposed back. Every sum runs in an order fixed by the
//! geometry (pixels in raster order, taps in weight order, images in batch order), so the
//! results are the same bits on every run.

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
    fwd: Vec<usize>,
    /// Per kernel row: the offset of its first pixel from the window's corner.
    fwd_rows: Vec<usize>,
    /// The taps in groups of at most 8 whose weight gradients stay in registers together.
    dw_groups: Vec<std::ops::Range<usize>>,
    /// Per phase `(a, b)` (index `a * s + b`) of the padded input's gradient.
    dx: Vec<DxPhase>,
    /// Zero rows / columns around the padded output gradient, and its row length.
    mh: usize,
    mw: usize,
    dpw: usize,
}

/// One phase of the padded input's gradient in the blocked layout.
struct DxPhase {
    /// Per tap reading the phase, by rows of `nv` taps whose pixels in the padded output
    /// gradient are consecutive: its offset there.
    offs: Vec<usize>,
    /// The taps per row.
    nv: usize,
    /// Per tap reading the phase: its index in the weight.
    taps: Vec<usize>,
    /// The phase's columns `j0..j1` that lie inside the input.
    j0: usize,
    j1: usize,
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
    p: Vec<f32>,
    /// The output (gradient) block `[oh, ow, 16]`.
    o: Vec<f32>,
    /// The output gradient block with zero margins `[oh + 2 mh, ow + 2 mw, 16]`.
    dyp: Vec<f32>,
    /// The padded input gradient block `[ph, pw, 16]`.
    dp: Vec<f32>,
}

/// `v` resized to `len` zeros when its length differs, left as it is otherwise: the
/// padded buffers of one geometry keep their zeros where no pixel is ever written, so they
/// need zeroing only when first sized.
#[inline(always)]
pub(super) fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() != len {
        v.clear();
        v.resize(len, 0.0);
    }
    v
}

/// Every block's weights, lane by lane (lanes past the last channel zero): per block its
/// taps in weight order, and per block and input-gradient phase that phase's taps in order.
/// Built once per op call.
pub(super) struct BlockWeights {
    w: Vec<[f32; LANES]>,
    wdx: Vec<Vec<[f32; LANES]>>,
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
    w: &'a [[f32; LANES]],
    /// Per input-gradient phase, the weights of its taps in its order.
    wdx: &'a [Vec<[f32; LANES]>],
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

/// Where one image's block gradients go; each is computed only when present.
pub(super) struct BlockGrads<'a> {
    /// The input gradient planes `[cb, h, w]`, zero on entry.
    pub(super) dx: Option<&'a mut [f32]>,
    /// Per tap, the block's weight gradients so far, which this image adds to.
    pub(super) dw: Option<&'a mut [[f32; LANES]]>,
    /// The block's bias gradients so far, which this image adds to.
    pub(super) db: Option<&'a mut [f32; LANES]>,
}

/// One image's gradients of a block (see [`BlockGrads`]) from its input planes `x` and output
/// gradient planes `dy` `[cb, oh, ow]`.
pub(super) fn backward_block(isa: Isa, b: Block<'_>, x: &[f32], dy: &[f32], out: BlockGrads<'_>, s: &mut BlockScratch) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(t) => {
            // SAFETY: the token proves the CPU has AVX-512F and FMA.
            unsafe { backward_avx512(t, b, x, dy, out, s) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(t) => {
            // SAFETY: the token proves the CPU has AVX2 and FMA.
            unsafe { backward_avx2(t, b, x, dy, out, s) }
        }
        Isa::Base => backward_body(Scalar, b, x, dy, out, s),
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn backward_avx512(t: Avx512, b: Block<'_>, x: &[f32], dy: &[f32], out: BlockGrads<'_>, s: &mut BlockScratch) {
    backward_body(t, b, x, dy, out, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_avx2(t: Avx2, b: Block<'_>, x: &[f32], dy: &[f32], out: BlockGrads<'_>, s: &mut BlockScratch) {
    backward_body(t, b, x, dy, out, s)
}

/// The padded input's pixel `(r, c)` in `[ph, pw, 16]`.
#[inline(always)]
fn at(g: &DwGeom, r: usize, c: usize) -> usize {
    (r * g.pw + c) * LANES
}

/// Input columns that land inside the `pw` columns the windows read.
#[inline(always)]
fn ncols(g: &DwGeom) -> usize {
    g.w.min(g.pw.saturating_sub(g.pl))
}

/// Input rows `y` (with padded row `y + pt`) inside the `ph` rows the windows read.
#[inline(always)]
fn nrows(g: &DwGeom) -> usize {
    g.h.min(g.ph.saturating_sub(g.pt))
}

// The transposes between the channel-major planes `[cb, n]` of a block and its pixel-major
// vectors (16 channels of one pixel, zero past `cb`) go 16 pixels at a time through an
// in-register transpose; the last `n % 16` pixels one by one. (Loops rather than closures:
// a closure would not be compiled with the caller's instruction set.)

/// Pixels `q..q + 16` of the planes `src` `[cb, n]`, pixel-major.
#[inline(always)]
fn tile_in<S: Simd>(k: S, src: &[f32], cb: usize, n: usize, q: usize) -> [S::V; LANES] {
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
fn pixel_in<S: Simd>(k: S, src: &[f32], cb: usize, n: usize, i: usize) -> S::V {
    let mut v = [0f32; LANES];
    for (l, v) in v.iter_mut().enumerate().take(cb) {
        *v = src[l * n + i];
    }
    k.load(&v)
}

/// Writes the pixel-major `m` (pixels `q..q + 16`) into the planes `dst` `[cb, n]`.
#[inline(always)]
fn tile_out<S: Simd>(k: S, mut m: [S::V; LANES], dst: &mut [f32], cb: usize, n: usize, q: usize) {
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
fn pixel_out<S: Simd>(k: S, v: S::V, dst: &mut [f32], cb: usize, n: usize, i: usize) {
    let mut a = [0f32; LANES];
    k.store(v, &mut a);
    for (l, &v) in a.iter().enumerate().take(cb) {
        dst[l * n + i] = v;
    }
}

/// Transposes the block's input planes `x` `[cb, h, w]` into `p` `[ph, pw, 16]`, zeros
/// elsewhere.
#[inline(always)]
fn pack<S: Simd>(k: S, b: Block<'_>, x: &[f32], p: &mut Vec<f32>) {
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

/// The padded input gradient block `dp` at input pixel `i` (zero where the windows do not
/// reach).
#[inline(always)]
fn get_pixel<S: Simd>(k: S, g: &DwGeom, (nr, nc): (usize, usize), i: usize, dp: &[f32]) -> S::V {
    let (y, xc) = (i / g.w, i % g.w);
    if y < nr && xc < nc {
        k.load(&dp[at(g, y + g.pt, xc + g.pl)..])
    } else {
        k.zero()
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
fn rows4<S: Simd, const KW: usize, const ST: usize>(
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
fn taps4<S: Simd, const STEP: usize>(k: S, src: &[f32], base: usize, offs: &[usize], ws: &[[f32; LANES]]) -> [S::V; 4] {
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

/// [`rows4`] at pixel stride 1 over (at most 8) rows of `KW` taps given by the offsets of all
/// their taps (`offs[r * KW]` starts row `r`).
#[inline(always)]
fn rows4_dx<S: Simd, const KW: usize>(k: S, src: &[f32], base: usize, offs: &[usize], w: &[[f32; LANES]]) -> [S::V; 4] {
    let mut rows = [0usize; 8];
    let n = (offs.len() / KW).min(8);
    for (r, o) in rows.iter_mut().zip(offs.chunks_exact(KW)).take(n) {
        *r = o[0];
    }
    rows4::<S, KW, 1>(k, src, base, &rows[..n], w)
}

/// `Σ_i ws[i] * src[base + offs[i]]`, one pixel.
#[inline(always)]
fn taps1<S: Simd>(k: S, src: &[f32], base: usize, offs: &[usize], ws: &[[f32; LANES]]) -> S::V {
    let mut a = k.zero();
    for (&off, wv) in offs.iter().zip(ws) {
        a = k.madd(k.load(wv), k.load(&src[base + off..]), a);
    }
    a
}

#[inline(always)]
fn backward_body<S: Simd>(k: S, b: Block<'_>, x: &[f32], dy: &[f32], out: BlockGrads<'_>, s: &mut BlockScratch) {
    let (g, plan) = (b.g, b.plan);
    let ohw = g.oh * g.ow;
    // The output gradient, pixel-major `[oh, ow, 16]`.
    s.o.resize(ohw * LANES, 0.0);
    let full = ohw / LANES * LANES;
    for q in (0..full).step_by(LANES) {
        for (i, v) in tile_in(k, dy, b.cb, ohw, q).into_iter().enumerate() {
            k.store(v, &mut s.o[(q + i) * LANES..]);
        }
    }
    for i in full..ohw {
        k.store(pixel_in(k, dy, b.cb, ohw, i), &mut s.o[i * LANES..]);
    }
    let o = &s.o[..];
    if let Some(db) = out.db {
        let mut acc = k.load(&db[..]);
        for i in 0..ohw {
            acc = k.add(acc, k.load(&o[i * LANES..]));
        }
        k.store(acc, &mut db[..]);
    }
    if let Some(dw) = out.dw {
        pack(k, b, x, &mut s.p);
        let p = &s.p[..];
        if matches!((g.kw, g.s), (3 | 5, 1 | 2)) {
            // (Loops rather than closures, which would miss the caller's instruction set.)
            for (ki, a) in dw.chunks_exact_mut(g.kw).enumerate() {
                match (g.kw, g.s) {
                    (3, 1) => dw_row::<S, 3, 1>(k, g, ki, o, p, a),
                    (5, 1) => dw_row::<S, 5, 1>(k, g, ki, o, p, a),
                    (3, _) => dw_row::<S, 3, 2>(k, g, ki, o, p, a),
                    _ => dw_row::<S, 5, 2>(k, g, ki, o, p, a),
                }
            }
        } else {
            dw_groups(k, b, o, p, dw);
        }
    }
    if let Some(dx) = out.dx {
        // The output gradient with `mh` / `mw` zero rows and columns around it.
        let dpw = plan.dpw;
        sized(&mut s.dyp, (g.oh + 2 * plan.mh) * dpw * LANES);
        for oy in 0..g.oh {
            let dst = ((oy + plan.mh) * dpw + plan.mw) * LANES;
            s.dyp[dst..dst + g.ow * LANES].copy_from_slice(&o[oy * g.ow * LANES..][..g.ow * LANES]);
        }
        s.dp.resize(g.ph * g.pw * LANES, 0.0);
        let (dyp, dp, wdx) = (&s.dyp[..], &mut s.dp[..], b.wdx);
        // Each padded input pixel inside the input, as a sum over the taps of its phase.
        for r in g.pt..g.ph.min(g.pt + g.h) {
            let (a, i) = (r % g.s, r / g.s);
            for bp in 0..g.s {
                let ph = &plan.dx[a * g.s + bp];
                let ws = &wdx[a * g.s + bp][..];
                let mut j = ph.j0;
                while j < ph.j1 {
                    if j + 4 <= ph.j1 {
                        let base = (i * dpw + j) * LANES;
                        let rows = &ph.offs[..];
                        let nv = if ph.offs.len() <= 8 * ph.nv { ph.nv } else { 0 };
                        let acc = match nv {
                            1 => rows4_dx::<S, 1>(k, dyp, base, rows, ws),
                            2 => rows4_dx::<S, 2>(k, dyp, base, rows, ws),
                            3 => rows4_dx::<S, 3>(k, dyp, base, rows, ws),
                            5 => rows4_dx::<S, 5>(k, dyp, base, rows, ws),
                            _ => taps4::<S, LANES>(k, dyp, base, rows, ws),
                        };
                        for (q, v) in acc.into_iter().enumerate() {
                            k.store(v, &mut dp[at(g, r, g.s * (j + q) + bp)..]);
                        }
                        j += 4;
                    } else {
                        k.store(taps1(k, dyp, (i * dpw + j) * LANES, &ph.offs, ws), &mut dp[at(g, r, g.s * j + bp)..]);
                        j += 1;
                    }
                }
            }
        }
        let (cov, n, dp) = ((nrows(g), ncols(g)), g.h * g.w, &s.dp[..]);
        let full = n / LANES * LANES;
        for q in (0..full).step_by(LANES) {
            let mut m = [k.zero(); LANES];
            for (i, m) in m.iter_mut().enumerate() {
                *m = get_pixel(k, g, cov, q + i, dp);
            }
            tile_out(k, m, dx, b.cb, n, q);
        }
        for i in full..n {
            pixel_out(k, get_pixel(k, g, cov, i, dp), dx, b.cb, n, i);
        }
    }
}

/// Adds to the weight gradients `accs` of the `N` taps at pixel offsets `offs` the sum over
/// the output pixels of the output gradient `o` times the input `p` under each tap; the `N`
/// accumulators stay in registers.
#[inline(always)]
fn dw_taps<S: Simd, const N: usize>(k: S, g: &DwGeom, offs: &[usize], o: &[f32], p: &[f32], accs: &mut [[f32; LANES]]) {
    let mut at_tap = [0usize; N];
    let mut a = [k.zero(); N];
    for j in 0..N {
        at_tap[j] = offs[j];
        a[j] = k.load(&accs[j]);
    }
    let offs = at_tap;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let dv = k.load(&o[(oy * g.ow + ox) * LANES..]);
            let base = at(g, oy * g.s, ox * g.s);
            for (a, &off) in a.iter_mut().zip(&offs) {
                *a = k.madd(dv, k.load(&p[base + off..]), *a);
            }
        }
    }
    for (r, a) in accs.iter_mut().zip(a) {
        k.store(a, r);
    }
}

/// The weight gradients of all taps, [`dw_taps`] over the plan's tap groups.
#[inline(always)]
fn dw_groups<S: Simd>(k: S, b: Block<'_>, o: &[f32], p: &[f32], dw: &mut [[f32; LANES]]) {
    let (g, plan) = (b.g, b.plan);
    for r in plan.dw_groups.iter().cloned() {
        let offs = &plan.fwd[r.clone()];
        let accs = &mut dw[r];
        match accs.len() {
            1 => dw_taps::<S, 1>(k, g, offs, o, p, accs),
            2 => dw_taps::<S, 2>(k, g, offs, o, p, accs),
            3 => dw_taps::<S, 3>(k, g, offs, o, p, accs),
            4 => dw_taps::<S, 4>(k, g, offs, o, p, accs),
            5 => dw_taps::<S, 5>(k, g, offs, o, p, accs),
            6 => dw_taps::<S, 6>(k, g, offs, o, p, accs),
            7 => dw_taps::<S, 7>(k, g, offs, o, p, accs),
            _ => dw_taps::<S, 8>(k, g, offs, o, p, accs),
        }
    }
}

/// Adds to the weight gradients `accs` of kernel row `ki` (`KW` taps, stride `ST`) the sum over
/// the output pixels of the output gradient `o` times the input `p` under each tap, four
/// pixels at a time with each input pixel loaded once; the same sums in the same order as
/// [`dw_taps`].
#[inline(always)]
fn dw_row<S: Simd, const KW: usize, const ST: usize>(
    k: S,
    g: &DwGeom,
    ki: usize,
    o: &[f32],
    p: &[f32],
    accs: &mut [[f32; LANES]],
) {
    let np = 3 * ST + KW;
    let mut a = [k.zero(); KW];
    for (a, r) in a.iter_mut().zip(accs.iter()) {
        *a = k.load(r);
    }
    let quads = g.ow / 4;
    for oy in 0..g.oh {
        let prow = at(g, oy * ST + ki, 0);
        let orow = &o[oy * g.ow * LANES..][..g.ow * LANES];
        for q in 0..quads {
            let mut dv = [k.zero(); 4];
            for (j, d) in dv.iter_mut().enumerate() {
                *d = k.load(&orow[(4 * q + j) * LANES..]);
            }
            let win = &p[prow + 4 * q * ST * LANES..][..np * LANES];
            let mut pv = [k.zero(); 16];
            for (i, v) in pv.iter_mut().enumerate().take(np) {
                *v = k.load(&win[i * LANES..]);
            }
            for (j, &d) in dv.iter().enumerate() {
                for (kj, a) in a.iter_mut().enumerate() {
                    *a = k.madd(d, pv[j * ST + kj], *a);
                }
            }
        }
        for ox in 4 * quads..g.ow {
            let d = k.load(&orow[ox * LANES..]);
            let win = &p[prow + ox * ST * LANES..][..KW * LANES];
            for (kj, a) in a.iter_mut().enumerate() {
                *a = k.madd(d, k.load(&win[kj * LANES..]), *a);
            }
        }
    }
    for (r, a) in accs.iter_mut().zip(a) {
        k.store(a, r);
    }
}
