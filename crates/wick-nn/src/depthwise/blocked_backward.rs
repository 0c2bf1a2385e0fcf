//! The backward pass of the channel-blocked depthwise kernels (see `blocked`): one image's
//! input, weight and bias gradients of a 16-channel block, in the same padded pixel-major
//! layout as the forward pass, each sum in an order fixed by the geometry.

use super::blocked::{
    at, ncols, nrows, pack, pixel_in, pixel_out, rows4, taps1, taps4, tile_in, tile_out, Block, BlockScratch,
};
use super::buffer::sized;
use super::geom::DwGeom;
use super::kernel::Isa;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};
use super::simd::{Scalar, Simd, LANES};

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
fn backward_avx512(t: Avx512, b: Block<'_>, x: &[f32], dy: &[f32], out: BlockGrads<'_>, s: &mut BlockScratch) {
    backward_body(t, b, x, dy, out, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_avx2(t: Avx2, b: Block<'_>, x: &[f32], dy: &[f32], out: BlockGrads<'_>, s: &mut BlockScratch) {
    backward_body(t, b, x, dy, out, s)
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
