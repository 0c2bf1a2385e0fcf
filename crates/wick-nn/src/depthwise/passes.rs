//! The depthwise op's CPU passes, per plane or per block of 16 channels (small planes): the
//! forward pass over all of them in parallel, the backward pass one channel (block) per task
//! so that its weight and bias gradients are summed over the batch in a fixed order.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::blocked::{forward_block, use_blocked, BlockPlan, BlockScratch, BlockWeights, CB};
use super::blocked_backward::{backward_block, BlockGrads};
use super::geom::DwGeom;
use super::kernel::{backward_plane, forward_plane, lane_sum, prefetch, Isa, Plan, PlaneGrads, PlaneIn, Scratch};
use super::simd::LANES;

/// Gradients of the depthwise op; each is computed only when asked for.
pub(super) struct DwGrads {
    pub(super) dx: Option<Vec<f32>>,
    pub(super) dw: Option<Vec<f32>>,
    pub(super) db: Option<Vec<f32>>,
}

/// A vector of `len` f32 that parallel tasks initialise chunk by chunk through [`zeroed`], so
/// that the zeros a kernel may rely on are written in cache just before it runs instead of in
/// a separate pass over the whole buffer.
struct Slots(Vec<f32>, usize);

impl Slots {
    fn new(len: usize) -> Self {
        Slots(Vec::with_capacity(len), len)
    }

    /// The `len` uninitialised elements.
    fn get(&mut self) -> &mut [MaybeUninit<f32>] {
        let len = self.1;
        &mut self.0.spare_capacity_mut()[..len]
    }

    /// The vector, once every element of [`get`](Self::get) went through [`zeroed`].
    ///
    /// # Safety
    /// All `len` elements must have been initialised.
    unsafe fn assume_init(mut self) -> Vec<f32> {
        // SAFETY: the caller guarantees the first `len` elements (within the capacity) are
        // initialised.
        unsafe { self.0.set_len(self.1) };
        self.0
    }
}

/// `c` set to zeros, as f32.
fn zeroed(c: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    c.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just initialised, and `MaybeUninit<f32>` has the layout of
    // `f32`.
    unsafe { &mut *(c as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Which gradients the backward pass computes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Needs {
    pub(super) dx: bool,
    pub(super) dw: bool,
    pub(super) db: bool,
}

/// The output `[n, c, oh, ow]` of input `x` `[n, c, h, w]`, weight `w` `[c, kh * kw]` and
/// optional bias `b` `[c]`, by the kernels that suit the geometry.
pub(super) fn forward(g: &DwGeom, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    forward_with(g, x, w, b, use_blocked(g), Isa::detect())
}

/// [`forward`] by the channel-blocked kernels (one task per image and block of channels) or
/// the per-plane ones (one task per run of planes).
fn forward_with(g: &DwGeom, x: &[f32], w: &[f32], b: Option<&[f32]>, blocked: bool, isa: Isa) -> Vec<f32> {
    let (hw, ohw, t) = (g.h * g.w, g.oh * g.ow, g.taps());
    let mut out = Slots::new(g.n * g.c * ohw);
    if blocked {
        forward_blocked(g, x, w, b, out.get(), isa);
    } else {
        let plan = Plan::new(g);
        out.get().par_chunks_mut(ohw).enumerate().for_each_init(Scratch::default, |s, (p, o)| {
            let c = p % g.c;
            let bias = b.map_or(0.0, |b| b[c]);
            let next = x.get((p + 1) * hw..(p + 2) * hw).unwrap_or_default();
            let input = PlaneIn { g, plan: &plan, x: &x[p * hw..][..hw], w: &w[c * t..][..t], next: [next, &[]] };
            forward_plane(isa, input, bias, zeroed(o), s);
        });
    }
    // SAFETY: the output planes (`ohw >= 1`) or blocks cover it and each went through `zeroed`.
    unsafe { out.assume_init() }
}

/// The gradients asked for, from input `x`, weight `w` and output gradient `dy`, by the
/// kernels that suit the geometry.
///
/// One parallel task per channel (or block of channels): it runs the channel's planes in
/// image order, each writing its own input-gradient plane and adding to the channel's weight
/// and bias gradients, so the sums do not depend on the thread count or on scheduling (the
/// same bits on every run).
pub(super) fn backward(g: &DwGeom, x: &[f32], w: &[f32], dy: &[f32], needs: Needs) -> DwGrads {
    if use_blocked(g) {
        backward_blocked(g, x, w, dy, needs, Isa::detect())
    } else {
        backward_planes(g, x, w, dy, needs, Isa::detect())
    }
}

/// [`backward`] by the per-plane kernels.
fn backward_planes(g: &DwGeom, x: &[f32], w: &[f32], dy: &[f32], needs: Needs, isa: Isa) -> DwGrads {
    let (hw, ohw, t) = (g.h * g.w, g.oh * g.ow, g.taps());
    let Needs { dx: need_dx, dw: need_dw, db: need_db } = needs;
    let mut dx = need_dx.then(|| Slots::new(g.n * g.c * hw));
    // Per channel, its input-gradient planes in image order.
    let mut dx_planes: Vec<Vec<&mut [MaybeUninit<f32>]>> = (0..g.c).map(|_| Vec::new()).collect();
    if let Some(dx) = dx.as_mut().filter(|_| hw > 0) {
        for (p, plane) in dx.get().chunks_exact_mut(hw).enumerate() {
            dx_planes[p % g.c].push(plane);
        }
    }
    let plan = Plan::new(g);
    let per_channel: Vec<(Vec<f32>, f32)> = dx_planes
        .into_par_iter()
        .enumerate()
        .map_init(
            || (Scratch::default(), Vec::new()),
            |(s, acc), (c, planes)| {
                acc.clear();
                acc.resize(if need_dw { t } else { 0 }, [0f32; LANES]);
                let mut db = 0f32;
                let mut planes = planes.into_iter();
                for n in 0..g.n {
                    let p = n * g.c + c;
                    let out = PlaneGrads {
                        dx: planes.next().map(zeroed),
                        dw: need_dw.then_some(&mut acc[..]),
                        db: need_db.then_some(&mut db),
                    };
                    let q = p + g.c;
                    let next = [
                        x.get(q * hw..(q + 1) * hw).unwrap_or_default(),
                        dy.get(q * ohw..(q + 1) * ohw).unwrap_or_default(),
                    ];
                    let input = PlaneIn { g, plan: &plan, x: &x[p * hw..][..hw], w: &w[c * t..][..t], next };
                    backward_plane(isa, input, &dy[p * ohw..][..ohw], out, s);
                }
                (acc.iter().map(|a| lane_sum(*a)).collect(), db)
            },
        )
        .collect();
    let dw = need_dw.then(|| per_channel.iter().flat_map(|(d, _)| d.iter().copied()).collect());
    let db = need_db.then(|| per_channel.iter().map(|(_, b)| *b).collect());
    // SAFETY: every input-gradient plane went through `zeroed` in its channel's task (or
    // there are none: `hw == 0`).
    DwGrads { dx: dx.map(|d| unsafe { d.assume_init() }), dw, db }
}

/// `img` `[c, len]` (one image) cut into its blocks of [`CB`] channels.
fn blocks_of<'a, T>(g: &DwGeom, img: &'a mut [T], len: usize) -> Vec<&'a mut [T]> {
    let mut rest = img;
    let mut out = Vec::with_capacity(g.c.div_ceil(CB));
    for c0 in (0..g.c).step_by(CB) {
        let (head, tail) = rest.split_at_mut(CB.min(g.c - c0) * len);
        out.push(head);
        rest = tail;
    }
    out
}

/// [`forward`] with the channel-blocked kernels: one task per (image, block).
fn forward_blocked(g: &DwGeom, x: &[f32], w: &[f32], b: Option<&[f32]>, out: &mut [MaybeUninit<f32>], isa: Isa) {
    if out.is_empty() {
        return;
    }
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut units = Vec::with_capacity(g.n * g.c.div_ceil(CB));
    for (ni, img) in out.chunks_exact_mut(g.c * ohw).enumerate() {
        units.extend(blocks_of(g, img, ohw).into_iter().enumerate().map(|(bi, o)| (ni, bi, o)));
    }
    let plan = BlockPlan::new(g);
    let weights = BlockWeights::new(g, &plan, w);
    units.into_par_iter().for_each_init(BlockScratch::default, |s, (ni, bi, o)| {
        let block = weights.block(g, &plan, bi);
        let c0 = block.c0;
        let mut bias = [0f32; LANES];
        if let Some(b) = b {
            bias[..block.cb].copy_from_slice(&b[c0..c0 + block.cb]);
        }
        let first = ni * g.c + c0;
        // The next unit's planes follow these in memory.
        let next = first + block.cb;
        prefetch([x.get(next * hw..(next + block.cb) * hw).unwrap_or_default(), &[]]);
        let xs = &x[first * hw..][..block.cb * hw];
        forward_block(isa, block, xs, &bias, zeroed(o), s);
    });
}

/// [`backward`] with the channel-blocked kernels: one task per block, over the images in order.
fn backward_blocked(g: &DwGeom, x: &[f32], w: &[f32], dy: &[f32], needs: Needs, isa: Isa) -> DwGrads {
    let (hw, ohw, t) = (g.h * g.w, g.oh * g.ow, g.taps());
    let Needs { dx: need_dx, dw: need_dw, db: need_db } = needs;
    let mut dx = need_dx.then(|| Slots::new(g.n * g.c * hw));
    // Per block, its input-gradient planes in image order.
    let mut dx_blocks: Vec<Vec<&mut [MaybeUninit<f32>]>> = (0..g.c.div_ceil(CB)).map(|_| Vec::new()).collect();
    if let Some(dx) = dx.as_mut().filter(|_| hw > 0) {
        for img in dx.get().chunks_exact_mut(g.c * hw) {
            for (bi, blk) in blocks_of(g, img, hw).into_iter().enumerate() {
                dx_blocks[bi].push(blk);
            }
        }
    }
    let plan = BlockPlan::new(g);
    let weights = BlockWeights::new(g, &plan, w);
    let per_block: Vec<(Vec<[f32; LANES]>, [f32; LANES])> = dx_blocks
        .into_par_iter()
        .enumerate()
        .map_init(BlockScratch::default, |s, (bi, planes)| {
            let block = weights.block(g, &plan, bi);
            let c0 = block.c0;
            let mut dw = vec![[0f32; LANES]; if need_dw { t } else { 0 }];
            let mut db = [0f32; LANES];
            let mut planes = planes.into_iter();
            for ni in 0..g.n {
                let first = ni * g.c + c0;
                let out = BlockGrads {
                    dx: planes.next().map(zeroed),
                    dw: need_dw.then_some(&mut dw[..]),
                    db: need_db.then_some(&mut db),
                };
                let next = first + g.c;
                prefetch([
                    x.get(next * hw..(next + block.cb) * hw).unwrap_or_default(),
                    dy.get(next * ohw..(next + block.cb) * ohw).unwrap_or_default(),
                ]);
                let xs = &x[first * hw..][..block.cb * hw];
                let dys = &dy[first * ohw..][..block.cb * ohw];
                backward_block(isa, block, xs, dys, out, s);
            }
            (dw, db)
        })
        .collect();
    let dw = need_dw.then(|| (0..g.c * t).map(|i| per_block[i / t / CB].0[i % t][(i / t) % CB]).collect());
    let db = need_db.then(|| (0..g.c).map(|c| per_block[c / CB].1[c % CB]).collect());
    // SAFETY: every block of input-gradient planes went through `zeroed` in its block's task
    // (or there are none: `hw == 0`).
    DwGrads { dx: dx.map(|d| unsafe { d.assume_init() }), dw, db }
}

#[cfg(test)]
mod tests {
    use candle_core::Shape;

    use super::*;
    use crate::depthwise::geom::DepthwisePadding;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-5 * scale, "{what}: {diff:e} vs scale {scale:e}");
    }

    /// The per-plane and the channel-blocked kernels agree on every geometry, whichever one
    /// the dispatch would pick, and on every instruction set (the baseline's sums round each
    /// product, so it agrees to rounding).
    #[test]
    fn plane_and_blocked_kernels_agree() -> candle_core::Result<()> {
        let pads = [
            DepthwisePadding::Same,
            DepthwisePadding::Valid,
            DepthwisePadding::Explicit { top: 2, bottom: 0, left: 1, right: 3 },
        ];
        let mut seed = 1;
        for (n, c, h, w) in [(2, 16, 9, 9), (3, 21, 12, 7), (1, 5, 20, 18), (2, 40, 5, 6)] {
            for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (2, 3), (1, 2)] {
                for pad in pads {
                    let Ok(g) = DwGeom::new(&Shape::from((n, c, h, w)), &Shape::from((c, 1, k, k)), s, &pad) else {
                        continue;
                    };
                    seed += 1;
                    let x = data(n * c * h * w, seed);
                    let wt = data(c * k * k, seed + 100);
                    let b = data(c, seed + 200);
                    let dy = data(n * c * g.oh * g.ow, seed + 300);
                    let what = format!("{g:?}");
                    let needs = Needs { dx: true, dw: true, db: true };
                    // The reference: per-plane kernels, best instruction set.
                    let best = Isa::detect();
                    let y = forward_with(&g, &x, &wt, Some(&b), false, best);
                    let r = backward_planes(&g, &x, &wt, &dy, needs, best);
                    for isa in [best, Isa::Base] {
                        for blocked in [true, false] {
                            let what = format!("{what} blocked {blocked} {isa:?}");
                            close(&what, &forward_with(&g, &x, &wt, Some(&b), blocked, isa), &y);
                            let got = if blocked {
                                backward_blocked(&g, &x, &wt, &dy, needs, isa)
                            } else {
                                backward_planes(&g, &x, &wt, &dy, needs, isa)
                            };
                            for (name, a, b) in [("dx", &got.dx, &r.dx), ("dw", &got.dw, &r.dw), ("db", &got.db, &r.db)]
                            {
                                match (a, b) {
                                    (Some(a), Some(b)) => close(&format!("{name} {what}"), a, b),
                                    _ => panic!("{name} missing for {what}"),
                                }
                            }
                        }
                    }
                    // Only the weight gradient: the input gradient is not computed.
                    let only_dw = Needs { dx: false, dw: true, db: false };
                    for r in [
                        backward_blocked(&g, &x, &wt, &dy, only_dw, best),
                        backward_planes(&g, &x, &wt, &dy, only_dw, best),
                    ] {
                        assert!(r.dx.is_none() && r.db.is_none() && r.dw.is_some());
                    }
                }
            }
        }
        Ok(())
    }

    /// The gradients are the same bits whatever the number of threads.
    #[test]
    fn gradients_do_not_depend_on_the_thread_count() {
        for (n, c, h, k, s) in [(8, 40, 8, 5, 1), (8, 6, 36, 3, 2)] {
            let g = DwGeom::new(&Shape::from((n, c, h, h)), &Shape::from((c, 1, k, k)), s, &DepthwisePadding::Same)
                .expect("geometry");
            let (x, wt) = (data(n * c * h * h, 7), data(c * k * k, 8));
            let dy = data(n * c * g.oh * g.ow, 9);
            let needs = Needs { dx: true, dw: true, db: true };
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
                let r = pool.install(|| backward(&g, &x, &wt, &dy, needs));
                [r.dx, r.dw, r.db].map(|v| v.expect("gradient").iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
            };
            assert!(run(1) == run(3), "{g:?}");
        }
    }
}
