//! The per-plane depthwise kernels — phase packing, the tap gather (forward, input gradient)
//! and the tap dot products (weight gradient) — compiled for AVX-512, AVX2 + FMA or the baseline.
//!
//! Every pass is a sum over the kernel's taps of a weight times a unit-stride window of a
//! phase plane (see [`DwGeom`]), computed over blocks of outputs held in registers. The
//! order of every sum is fixed by the geometry alone, so a plane gives the same bits on
//! every run; the AVX-512 and AVX2 builds use the same order and fused multiply-adds
//! ([`Simd`]), so they agree bit for bit too (the baseline, without FMA, rounds each product).

use super::buffer::sized;
use super::geom::DwGeom;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};
use super::simd::{Scalar, Simd, LANES};
use crate::util::sum_f32;

/// Outputs per block of the gather: two vectors, each summed over the taps in two chains
/// (even and odd taps) to hide the multiply-add latency.
const B: usize = 2 * LANES;
/// The most taps per group of dot products (one accumulator each, sharing the loaded gradient).
const G: usize = 5;

/// The instruction set the kernels run with, detected once per op call; the x86 variants
/// carry the token that proves the CPU has it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Isa {
    /// AVX-512F and FMA: one register per vector.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
    /// AVX2 and FMA: two registers per vector.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// Whatever the crate is compiled for, without fused multiply-adds.
    Base,
}

impl Isa {
    /// The best instruction set this CPU has.
    pub(super) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(t) = Avx512::new() {
                return Isa::Avx512(t);
            }
            if let Some(t) = Avx2::new() {
                return Isa::Avx2(t);
            }
        }
        Isa::Base
    }
}

/// What every plane of one op call shares: the taps' offsets, derived once from the geometry.
pub(super) struct Plan {
    /// Per tap, in weight order: its window's offset in the stacked phase planes.
    fwd: Vec<usize>,
    /// Per phase plane that some tap reads, for the input gradient.
    dx: Vec<DxPhase>,
}

/// One phase `(a, b)` of the padded input's gradient.
struct DxPhase {
    a: usize,
    /// `(offset into the shifted output gradient, weight index)` of each tap reading it.
    taps: Vec<(usize, usize)>,
    /// Its columns `j0..j1` land inside the input, from input column `x0` every `s`.
    j0: usize,
    j1: usize,
    x0: usize,
}

impl Plan {
    /// The plan of geometry `g`.
    pub(super) fn new(g: &DwGeom) -> Plan {
        let qs = phase_stride(g);
        let mut fwd = Vec::with_capacity(g.taps());
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                fwd.push(g.phase(ki, kj) * qs + g.offset(ki, kj));
            }
        }
        let (m, s) = (g.max_offset(), g.s);
        // Padded columns s * j + b inside the input: pl <= s * j + b < min(pl + w, pw).
        let col_end = g.pw.min(g.pl + g.w);
        let mut dx = Vec::new();
        for a in 0..s {
            for b in 0..s {
                let mut taps = Vec::new();
                for ki in (a..g.kh).step_by(s) {
                    for kj in (b..g.kw).step_by(s) {
                        taps.push((m - g.offset(ki, kj), ki * g.kw + kj));
                    }
                }
                let j0 = g.pl.saturating_sub(b).div_ceil(s);
                let j1 = col_end.saturating_sub(b).div_ceil(s);
                if !taps.is_empty() && j0 < j1 {
                    dx.push(DxPhase { a, taps, j0, j1, x0: s * j0 + b - g.pl });
                }
            }
        }
        Plan { fwd, dx }
    }
}

/// Buffers reused across the planes one task processes.
#[derive(Default)]
pub(super) struct Scratch {
    /// Phase planes of the padded input.
    q: Vec<f32>,
    /// A result in rows of `qw`.
    wide: Vec<f32>,
    /// A second one (the odd columns' phase of a stride-2 input gradient).
    wide2: Vec<f32>,
    /// The output gradient in rows of `qw`, after `max_offset` leading zeros.
    dyp: Vec<f32>,
    /// `(offset, weight)` per tap.
    taps: Vec<(usize, f32)>,
}

/// Where one plane's backward results go; each is computed only when present.
pub(super) struct PlaneGrads<'a> {
    /// The input gradient plane `[h, w]`, zero on entry.
    pub(super) dx: Option<&'a mut [f32]>,
    /// The channel's weight gradient so far, per tap `[kh * kw]` a vector of lane partial
    /// sums this plane adds to (reduced by [`lane_sum`] once all planes are in).
    pub(super) dw: Option<&'a mut [[f32; LANES]]>,
    /// The channel's bias gradient so far, which this plane's sum is added to.
    pub(super) db: Option<&'a mut f32>,
}

/// Elements between consecutive phase planes in [`Scratch::q`]: a plane plus one row and one
/// block of zeros, so that blocks running past the last output stay in bounds.
fn phase_stride(g: &DwGeom) -> usize {
    g.qh * g.qw + g.qw + B
}

/// One plane's inputs: its geometry and plan, the input plane `x` `[h, w]` and the
/// channel's kernel `w` `[kh * kw]`.
#[derive(Clone, Copy)]
pub(super) struct PlaneIn<'a> {
    pub(super) g: &'a DwGeom,
    pub(super) plan: &'a Plan,
    pub(super) x: &'a [f32],
    pub(super) w: &'a [f32],
    /// The planes the same task reads next (empty at the end), prefetched while this one is
    /// computed: one plane at a time is a single memory stream, too few to hide the latency.
    pub(super) next: [&'a [f32]; 2],
}

/// The output plane `out` `[oh, ow]` of `p`, plus `bias`.
pub(super) fn forward_plane(isa: Isa, p: PlaneIn<'_>, bias: f32, out: &mut [f32], s: &mut Scratch) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(t) => {
            // SAFETY: the token proves the CPU has AVX-512F and FMA.
            unsafe { forward_avx512(t, p, bias, out, s) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(t) => {
            // SAFETY: the token proves the CPU has AVX2 and FMA.
            unsafe { forward_avx2(t, p, bias, out, s) }
        }
        Isa::Base => forward_body(Scalar, p, bias, out, s),
    }
}

/// The gradients of plane `p` (see [`PlaneGrads`]) from its output gradient `dy` `[oh, ow]`.
pub(super) fn backward_plane(isa: Isa, p: PlaneIn<'_>, dy: &[f32], out: PlaneGrads<'_>, s: &mut Scratch) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(t) => {
            // SAFETY: the token proves the CPU has AVX-512F and FMA.
            unsafe { backward_avx512(t, p, dy, out, s) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(t) => {
            // SAFETY: the token proves the CPU has AVX2 and FMA.
            unsafe { backward_avx2(t, p, dy, out, s) }
        }
        Isa::Base => backward_body(Scalar, p, dy, out, s),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn forward_avx512(t: Avx512, p: PlaneIn<'_>, bias: f32, out: &mut [f32], s: &mut Scratch) {
    forward_body(t, p, bias, out, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2(t: Avx2, p: PlaneIn<'_>, bias: f32, out: &mut [f32], s: &mut Scratch) {
    forward_body(t, p, bias, out, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn backward_avx512(t: Avx512, p: PlaneIn<'_>, dy: &[f32], out: PlaneGrads<'_>, s: &mut Scratch) {
    backward_body(t, p, dy, out, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_avx2(t: Avx2, p: PlaneIn<'_>, dy: &[f32], out: PlaneGrads<'_>, s: &mut Scratch) {
    backward_body(t, p, dy, out, s)
}

#[inline(always)]
fn forward_body<S: Simd>(k: S, p: PlaneIn<'_>, bias: f32, out: &mut [f32], s: &mut Scratch) {
    let g = p.g;
    prefetch(p.next);
    pack(g, p.x, &mut s.q);
    s.taps.clear();
    s.taps.extend(p.plan.fwd.iter().zip(p.w).map(|(&o, &w)| (o, w)));
    let len = g.wide_len().next_multiple_of(B);
    if s.wide.len() < len {
        s.wide.resize(len, 0.0);
    }
    let wide = &mut s.wide[..len];
    gather(k, &s.q, &s.taps, wide);
    for (orow, wrow) in out.chunks_exact_mut(g.ow).zip(wide.chunks(g.qw)) {
        for (o, &v) in orow.iter_mut().zip(wrow) {
            *o = v + bias;
        }
    }
}

#[inline(always)]
fn backward_body<S: Simd>(k: S, p: PlaneIn<'_>, dy: &[f32], out: PlaneGrads<'_>, s: &mut Scratch) {
    let g = p.g;
    prefetch(p.next);
    if let Some(db) = out.db {
        *db += sum_f32(dy);
    }
    if out.dw.is_none() && out.dx.is_none() {
        return;
    }
    // The output gradient in rows of `qw` (zeros in the columns past `ow`, so that the
    // outputs the forward pass computed and dropped get no gradient), after `m` zeros.
    let m = g.max_offset();
    sized(&mut s.dyp, m + g.qh * g.qw + g.qw + B);
    for (drow, row) in s.dyp[m..].chunks_mut(g.qw).zip(dy.chunks_exact(g.ow)) {
        drow[..g.ow].copy_from_slice(row);
    }
    if let Some(dw) = out.dw {
        pack(g, p.x, &mut s.q);
        let len = g.wide_len().next_multiple_of(LANES);
        dots(k, &s.dyp[m..], &s.q, &p.plan.fwd, len, dw);
    }
    if let Some(dx) = out.dx {
        let len = (g.qh * g.qw).next_multiple_of(B);
        match &p.plan.dx[..] {
            [p00, p01, p10, p11] if g.s == 2 => {
                for (a, (pa0, pa1)) in [(p00, p01), (p10, p11)].into_iter().enumerate() {
                    dx_phase(k, pa0, p.w, &s.dyp, &mut s.taps, &mut s.wide, len);
                    dx_phase(k, pa1, p.w, &s.dyp, &mut s.taps, &mut s.wide2, len);
                    unpack_pair(g, a, &s.wide, &s.wide2, dx);
                }
            }
            phases => {
                for ph in phases {
                    dx_phase(k, ph, p.w, &s.dyp, &mut s.taps, &mut s.wide, len);
                    unpack(g, ph, &s.wide, dx);
                }
            }
        }
    }
}

/// Phase `ph` of the padded input's gradient into `wide[..len]`: each tap reading the phase
/// gathers the shifted output gradient `dyp` at minus its offset. (A function, not a
/// closure, so that it inlines into the kernels compiled with the wider instructions.)
#[inline(always)]
fn dx_phase<S: Simd>(
    k: S,
    ph: &DxPhase,
    w: &[f32],
    dyp: &[f32],
    taps: &mut Vec<(usize, f32)>,
    wide: &mut Vec<f32>,
    len: usize,
) {
    if wide.len() < len {
        wide.resize(len, 0.0);
    }
    taps.clear();
    taps.extend(ph.taps.iter().map(|&(o, wi)| (o, w[wi])));
    gather(k, dyp, taps, &mut wide[..len]);
}

/// Asks the CPU to bring every cache line of `planes` into its caches.
#[inline(always)]
pub(super) fn prefetch(planes: [&[f32]; 2]) {
    #[cfg(target_arch = "x86_64")]
    for plane in planes {
        for line in plane.chunks(16) {
            // SAFETY: a prefetch reads nothing architecturally and cannot fault; the address is
            // inside `plane` anyway.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = planes;
}

/// Writes the phase planes of input plane `x` into `q` (see [`DwGeom`]), zeros where the
/// padded plane is padding.
#[inline(always)]
fn pack(g: &DwGeom, x: &[f32], q: &mut Vec<f32>) {
    let qs = phase_stride(g);
    let q = sized(q, g.phases() * qs);
    let s = g.s;
    // Input columns that land inside the `pw` columns the windows read.
    let ncols = g.w.min(g.pw.saturating_sub(g.pl));
    for r in 0..g.ph {
        let Some(y) = r.checked_sub(g.pt).filter(|&y| y < g.h) else { continue };
        let row = &x[y * g.w..][..ncols];
        let base = (r % s) * s * qs + (r / s) * g.qw;
        if s == 1 {
            q[base + g.pl..][..ncols].copy_from_slice(row);
            continue;
        }
        if s == 2 {
            // Columns 2i and 2i + 1 go to the phase of padded column pl and to the other one.
            let (plane, off) = ((r % 2) * 2 * qs, (r / 2) * g.qw);
            let (lo, hi) = q[plane..plane + 2 * qs].split_at_mut(qs);
            let (first, second) = if g.pl.is_multiple_of(2) { (lo, hi) } else { (hi, lo) };
            split_row(row, &mut first[off + g.pl / 2..], &mut second[off + g.pl.div_ceil(2)..]);
            continue;
        }
        for b in 0..s {
            // The first input column whose padded column `col + pl` is in phase `b`.
            let first = (b + s - g.pl % s) % s;
            if first >= ncols {
                continue;
            }
            let dst = &mut q[base + b * qs + (first + g.pl) / s..];
            for (d, &v) in dst.iter_mut().zip(row[first..].iter().step_by(s)) {
                *d = v;
            }
        }
    }
}

/// `row[2i] -> even[i]`, `row[2i + 1] -> odd[i]` for the whole row (`even` and `odd` hold at
/// least `ceil(len / 2)` and `floor(len / 2)`); written as pairs so the compiler vectorises
/// it with shuffles.
#[inline(always)]
fn split_row(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let n = row.len() / 2;
    let (e, o) = (&mut even[..n], &mut odd[..n]);
    for ((e, o), p) in e.iter_mut().zip(o.iter_mut()).zip(row.chunks_exact(2)) {
        *e = p[0];
        *o = p[1];
    }
    if row.len() % 2 == 1 {
        even[n] = row[2 * n];
    }
}

/// [`split_row`]'s inverse: `even[i] -> row[2i]`, `odd[i] -> row[2i + 1]`.
#[inline(always)]
fn merge_rows(row: &mut [f32], even: &[f32], odd: &[f32]) {
    let n = row.len() / 2;
    let (e, o) = (&even[..n], &odd[..n]);
    for ((p, &e), &o) in row.chunks_exact_mut(2).zip(e).zip(o) {
        p[0] = e;
        p[1] = o;
    }
    if row.len() % 2 == 1 {
        row[2 * n] = even[n];
    }
}

/// For stride 2 with all four phases present: phases `(a, 0)` and `(a, 1)` of the padded
/// input's gradient, `w0` and `w1` (rows of `qw`), merged into the rows of `dx` they cover.
#[inline(always)]
fn unpack_pair(g: &DwGeom, a: usize, w0: &[f32], w1: &[f32], dx: &mut [f32]) {
    let (first, second) = if g.pl.is_multiple_of(2) { (w0, w1) } else { (w1, w0) };
    let ncols = g.w.min(g.pw.saturating_sub(g.pl));
    let (j0, j1) = (g.pl / 2, g.pl.div_ceil(2));
    for i in 0..g.qh {
        let r = 2 * i + a;
        if r >= g.ph {
            break;
        }
        let Some(y) = r.checked_sub(g.pt).filter(|&y| y < g.h) else { continue };
        let row = &mut dx[y * g.w..][..ncols];
        merge_rows(row, &first[i * g.qw + j0..], &second[i * g.qw + j1..]);
    }
}

/// Copies phase `ph` of the padded input's gradient, `wide` (rows of `qw`), into the input
/// gradient plane `dx` where it is not padding.
#[inline(always)]
fn unpack(g: &DwGeom, ph: &DxPhase, wide: &[f32], dx: &mut [f32]) {
    let s = g.s;
    for i in 0..g.qh {
        let r = s * i + ph.a;
        if r >= g.ph {
            break;
        }
        let Some(y) = r.checked_sub(g.pt).filter(|&y| y < g.h) else { continue };
        let src = &wide[i * g.qw + ph.j0..i * g.qw + ph.j1];
        let row = &mut dx[y * g.w..(y + 1) * g.w];
        if s == 1 {
            row[ph.x0..ph.x0 + src.len()].copy_from_slice(src);
        } else {
            for (d, &v) in row[ph.x0..].iter_mut().step_by(s).zip(src) {
                *d = v;
            }
        }
    }
}

/// `out[t] = Σ_k w_k * src[t + off_k]` over `taps` `(off_k, w_k)`, for every `t` of `out`
/// (a whole number of blocks of [`B`]); the even and odd taps are summed apart, then added.
#[inline(always)]
fn gather<S: Simd>(k: S, src: &[f32], taps: &[(usize, f32)], out: &mut [f32]) {
    for (bi, o) in out.chunks_exact_mut(B).enumerate() {
        let t0 = bi * B;
        let (mut a0, mut b0, mut a1, mut b1) = (k.zero(), k.zero(), k.zero(), k.zero());
        let mut pairs = taps.chunks_exact(2);
        for p in &mut pairs {
            let ((o0, w0), (o1, w1)) = (p[0], p[1]);
            let (w0, w1) = (k.splat(w0), k.splat(w1));
            let s0 = &src[t0 + o0..][..B];
            let s1 = &src[t0 + o1..][..B];
            a0 = k.madd(k.load(s0), w0, a0);
            b0 = k.madd(k.load(&s0[LANES..]), w0, b0);
            a1 = k.madd(k.load(s1), w1, a1);
            b1 = k.madd(k.load(&s1[LANES..]), w1, b1);
        }
        if let [(o0, w0)] = *pairs.remainder() {
            let w0 = k.splat(w0);
            let s0 = &src[t0 + o0..][..B];
            a0 = k.madd(k.load(s0), w0, a0);
            b0 = k.madd(k.load(&s0[LANES..]), w0, b0);
        }
        k.store(k.add(a0, a1), o);
        k.store(k.add(b0, b1), &mut o[LANES..]);
    }
}

/// `acc[i] += Σ_{t < len} d[t] * q[t + offs[i]]` lane by lane (lane `l` sums the `t` with
/// `t % LANES == l`) for each offset (`len` a multiple of [`LANES`]), in balanced groups of at
/// most [`G`] offsets so that each vector of `d` is loaded once per group.
#[inline(always)]
fn dots<S: Simd>(k: S, d: &[f32], q: &[f32], offs: &[usize], len: usize, acc: &mut [[f32; LANES]]) {
    let d = &d[..len];
    let groups = offs.len().div_ceil(G);
    let mut start = 0;
    for gi in 0..groups {
        let n = offs.len() / groups + usize::from(gi < offs.len() % groups);
        let (o, a) = (&offs[start..start + n], &mut acc[start..start + n]);
        match n {
            1 => dots_n::<S, 1>(k, d, q, o, a),
            2 => dots_n::<S, 2>(k, d, q, o, a),
            3 => dots_n::<S, 3>(k, d, q, o, a),
            4 => dots_n::<S, 4>(k, d, q, o, a),
            _ => dots_n::<S, 5>(k, d, q, o, a),
        }
        start += n;
    }
}

/// [`dots`] for `N` offsets, their accumulators in registers.
#[inline(always)]
fn dots_n<S: Simd, const N: usize>(k: S, d: &[f32], q: &[f32], offs: &[usize], acc: &mut [[f32; LANES]]) {
    let len = d.len();
    let mut qs: [&[f32]; N] = [&[]; N];
    let mut a = [k.zero(); N];
    for j in 0..N {
        qs[j] = &q[offs[j]..offs[j] + len];
        a[j] = k.load(&acc[j]);
    }
    for t0 in (0..len).step_by(LANES) {
        let dv = k.load(&d[t0..]);
        for j in 0..N {
            a[j] = k.madd(dv, k.load(&qs[j][t0..]), a[j]);
        }
    }
    for j in 0..N {
        k.store(a[j], &mut acc[j]);
    }
}

/// The sum of one vector's lanes as a fixed pairwise tree.
pub(super) fn lane_sum(a: [f32; LANES]) -> f32 {
    let mut v = a;
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for l in 0..n {
            v[l] += v[l + n];
        }
    }
    v[0]
}
