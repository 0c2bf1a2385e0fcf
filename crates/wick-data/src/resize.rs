//! Resampling planar f32 images the way `tf.image.resize` does (half-pixel centres, no
//! antialiasing), so results follow Keras' `image_dataset_from_directory`.
//!
//! Written by hand rather than with `image::imageops::resize` or `fast_image_resize`:
//! both scale the filter support when downscaling (antialiasing), which Keras does not do,
//! and both work on u8 or interleaved buffers where this pipeline holds planar f32.
//! At the image sizes of this project (≤ 256²) a separable pass costs well under a
//! millisecond, far below decode.

use std::cell::RefCell;
use std::rc::Rc;

/// Resampling filter (Keras `interpolation`).
///
/// Resizing takes all of them. The augmentation warp
/// ([`Augmentation::interpolation`](crate::augment::Augmentation::interpolation),
/// [`augment::warp`](crate::augment::warp())) takes only [`Nearest`](Self::Nearest) and
/// [`Bilinear`](Self::Bilinear), as Keras 3's augmentation layers do, and reports the others
/// as invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (the Keras default).
    #[default]
    Bilinear,
    /// Cubic convolution with `a = -0.5` (Keys), as TF's bicubic.
    Bicubic,
    /// Lanczos with 3 lobes.
    Lanczos3,
    /// Lanczos with 5 lobes.
    Lanczos5,
    /// Box average over the covered source area (TF `area`).
    Area,
}

/// Per output coordinate: the source indices and their weights.
struct Taps {
    weights: Vec<Vec<(usize, f32)>>,
    /// The same taps by rank when every output has the same number of them: `by_rank[t]`
    /// holds the `t`-th tap (index, weight) of each output. Lets the horizontal pass run
    /// one streaming loop per rank instead of a short inner loop per output.
    by_rank: Option<Vec<(Vec<usize>, Vec<f32>)>>,
}

impl Taps {
    fn new(weights: Vec<Vec<(usize, f32)>>) -> Self {
        let n = weights.first().map_or(0, Vec::len);
        let uniform = n > 0 && weights.iter().all(|w| w.len() == n);
        let by_rank = uniform
            .then(|| (0..n).map(|t| weights.iter().map(|w| w[t]).unzip()).collect::<Vec<(Vec<usize>, Vec<f32>)>>());
        Taps { weights, by_rank }
    }
}

/// The horizontal pass over one row: `dst[x] = Σ_t row[i_t(x)] * k_t(x)`, each sum taken
/// in tap order from the start value of `Iterator::sum`, as the per-output form
/// `w.iter().map(..).sum()` does, so the bits are the same either way.
#[inline(always)]
fn horizontal(tx: &Taps, row: &[f32], dst: &mut [f32]) {
    match &tx.by_rank {
        Some(ranks) => {
            // Blocks of 8 outputs held in registers across the ranks (the adds per output
            // stay in rank order), then the tail one output at a time.
            let init: f32 = std::iter::empty::<f32>().sum();
            let blocks = dst.len() / 8;
            for b in 0..blocks {
                let mut acc = [init; 8];
                for (idx, k) in ranks {
                    let (idx, k) = (&idx[b * 8..b * 8 + 8], &k[b * 8..b * 8 + 8]);
                    let px: [f32; 8] = std::array::from_fn(|j| row[idx[j]]);
                    for j in 0..8 {
                        acc[j] += px[j] * k[j];
                    }
                }
                dst[b * 8..b * 8 + 8].copy_from_slice(&acc);
            }
            for (x, d) in dst.iter_mut().enumerate().skip(blocks * 8) {
                *d = ranks.iter().map(|(idx, k)| row[idx[x]] * k[x]).fold(init, |a, b| a + b);
            }
        }
        None => {
            for (d, w) in dst.iter_mut().zip(&tx.weights) {
                *d = w.iter().map(|&(i, k)| row[i] * k).sum();
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-9 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

fn kernel(kind: Interpolation, x: f64) -> f64 {
    let ax = x.abs();
    match kind {
        Interpolation::Bilinear => (1.0 - ax).max(0.0),
        Interpolation::Bicubic => {
            let a = -0.5;
            if ax <= 1.0 {
                ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1.0
            } else if ax < 2.0 {
                ((a * ax - 5.0 * a) * ax + 8.0 * a) * ax - 4.0 * a
            } else {
                0.0
            }
        }
        Interpolation::Lanczos3 => {
            if ax < 3.0 {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            }
        }
        Interpolation::Lanczos5 => {
            if ax < 5.0 {
                sinc(x) * sinc(x / 5.0)
            } else {
                0.0
            }
        }
        Interpolation::Nearest | Interpolation::Area => 0.0,
    }
}

fn support(kind: Interpolation) -> f64 {
    match kind {
        Interpolation::Bicubic => 2.0,
        Interpolation::Lanczos3 => 3.0,
        Interpolation::Lanczos5 => 5.0,
        _ => 1.0,
    }
}

fn taps(kind: Interpolation, in_size: usize, out_size: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let last = in_size as isize - 1;
    let mut weights = Vec::with_capacity(out_size);
    for o in 0..out_size {
        let mut w: Vec<(usize, f32)> = Vec::new();
        match kind {
            Interpolation::Nearest => {
                let i = (((o as f64 + 0.5) * scale).floor() as isize).clamp(0, last);
                w.push((i as usize, 1.0));
            }
            Interpolation::Area => {
                let (lo, hi) = (o as f64 * scale, (o as f64 + 1.0) * scale);
                let mut i = lo.floor() as isize;
                while (i as f64) < hi && i <= last {
                    let cover = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
                    if cover > 0.0 {
                        w.push((i as usize, (cover / scale) as f32));
                    }
                    i += 1;
                }
            }
            _ => {
                let centre = (o as f64 + 0.5) * scale - 0.5;
                let s = support(kind);
                let (first, end) = ((centre - s).floor() as isize, (centre + s).ceil() as isize);
                let mut total = 0.0;
                let mut acc: Vec<(usize, f64)> = Vec::new();
                for i in first..=end {
                    let k = kernel(kind, i as f64 - centre);
                    if k != 0.0 {
                        let idx = i.clamp(0, last) as usize;
                        total += k;
                        match acc.iter_mut().find(|(j, _)| *j == idx) {
                            Some(e) => e.1 += k,
                            None => acc.push((idx, k)),
                        }
                    }
                }
                let norm = if total.abs() > 1e-12 { total } else { 1.0 };
                w.extend(acc.into_iter().map(|(i, k)| (i, (k / norm) as f32)));
            }
        }
        weights.push(w);
    }
    Taps::new(weights)
}

/// Tap tables kept per thread: a folder's images mostly share one size, so the tables
/// of its resize are computed once per thread instead of twice per image.
const CACHED_TAPS: usize = 8;

/// One cached table: the filter, the input and output sizes, the taps.
type CachedTaps = (Interpolation, usize, usize, Rc<Taps>);

thread_local! {
    static TAPS: RefCell<Vec<CachedTaps>> = const { RefCell::new(Vec::new()) };
}

/// [`taps`], from this thread's cache of the last [`CACHED_TAPS`] tables used.
fn cached_taps(kind: Interpolation, in_size: usize, out_size: usize) -> Rc<Taps> {
    TAPS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((.., t)) = cache.iter().find(|(k, i, o, _)| (*k, *i, *o) == (kind, in_size, out_size)) {
            return Rc::clone(t);
        }
        let t = Rc::new(taps(kind, in_size, out_size));
        if cache.len() == CACHED_TAPS {
            cache.remove(0);
        }
        cache.push((kind, in_size, out_size, Rc::clone(&t)));
        t
    })
}

/// Resizes a planar `channels x in_h x in_w` buffer to `channels x out_h x out_w`.
pub fn resize_chw(
    src: &[f32],
    channels: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    kind: Interpolation,
) -> Vec<f32> {
    if (in_h, in_w) == (out_h, out_w) {
        return src.to_vec();
    }
    let mut out = vec![0f32; channels * out_h * out_w];
    resize_chw_into(src, (channels, in_h, in_w), (out_h, out_w), kind, &mut out, &mut Vec::new());
    out
}

/// [`resize_chw`] into `out` (`channels * out_h * out_w` values, overwritten), with `tmp`
/// as the scratch of the horizontal pass (grown as needed): the same operations in the
/// same order, so the same bits, without the two allocations per call.
pub(crate) fn resize_chw_into(
    src: &[f32],
    (channels, in_h, in_w): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
    kind: Interpolation,
    out: &mut [f32],
    tmp: &mut Vec<f32>,
) {
    if (in_h, in_w) == (out_h, out_w) {
        out.copy_from_slice(&src[..out.len()]);
        return;
    }
    let tx = cached_taps(kind, in_w, out_w);
    let ty = cached_taps(kind, in_h, out_h);
    if tmp.len() < in_h * out_w {
        tmp.resize(in_h * out_w, 0.0);
    }
    let tmp = &mut tmp[..in_h * out_w];
    out.fill(0.0);
    for c in 0..channels {
        let plane = &src[c * in_h * in_w..(c + 1) * in_h * in_w];
        for (row, dst) in plane.chunks_exact(in_w).zip(tmp.chunks_exact_mut(out_w)) {
            horizontal(&tx, row, dst);
        }
        vertical(&ty, tmp, &mut out[c * out_h * out_w..(c + 1) * out_h * out_w], out_w);
    }
}

/// The vertical pass of one plane: adds each output row's taps of the horizontally resized
/// rows `tmp` (`out_w` wide) onto `dst` (zeroed by the caller), tap by tap.
fn vertical(ty: &Taps, tmp: &[f32], dst: &mut [f32], out_w: usize) {
    for (y, w) in ty.weights.iter().enumerate() {
        let drow = &mut dst[y * out_w..(y + 1) * out_w];
        for &(i, k) in w {
            let srow = &tmp[i * out_w..(i + 1) * out_w];
            for (d, s) in drow.iter_mut().zip(srow) {
                *d += s * k;
            }
        }
    }
}

/// The resize as first written (fresh buffers, returns a `Vec`): the oracle the faster
/// paths are checked against, bit for bit.
#[cfg(test)]
pub(crate) fn resize_chw_reference(
    src: &[f32],
    (channels, in_h, in_w): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
    kind: Interpolation,
) -> Vec<f32> {
    if (in_h, in_w) == (out_h, out_w) {
        return src.to_vec();
    }
    let tx = taps(kind, in_w, out_w);
    let ty = taps(kind, in_h, out_h);
    let mut tmp = vec![0f32; in_h * out_w];
    let mut out = vec![0f32; channels * out_h * out_w];
    for c in 0..channels {
        let plane = &src[c * in_h * in_w..(c + 1) * in_h * in_w];
        for y in 0..in_h {
            let row = &plane[y * in_w..(y + 1) * in_w];
            for (x, w) in tx.weights.iter().enumerate() {
                tmp[y * out_w + x] = w.iter().map(|&(i, k)| row[i] * k).sum();
            }
        }
        vertical(&ty, &tmp, &mut out[c * out_h * out_w..(c + 1) * out_h * out_w], out_w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_KINDS: [Interpolation; 6] = [
        Interpolation::Nearest,
        Interpolation::Bilinear,
        Interpolation::Bicubic,
        Interpolation::Lanczos3,
        Interpolation::Lanczos5,
        Interpolation::Area,
    ];

    #[test]
    fn bilinear_matches_half_pixel_centres() {
        // 1x2 -> 1x4: TF gives [a, a+0.25(b-a), a+0.75(b-a), b].
        let out = resize_chw(&[0.0, 100.0], 1, 1, 2, 1, 4, Interpolation::Bilinear);
        assert_eq!(out, vec![0.0, 25.0, 75.0, 100.0]);
    }

    #[test]
    fn constant_image_stays_constant() {
        for kind in ALL_KINDS {
            let out = resize_chw(&[7.0; 2 * 5 * 3], 2, 5, 3, 4, 9, kind);
            assert!(out.iter().all(|v| (v - 7.0).abs() < 1e-4), "{kind:?}: {out:?}");
            let out = resize_chw(&[7.0; 2 * 9 * 8], 2, 9, 8, 3, 2, kind);
            assert!(out.iter().all(|v| (v - 7.0).abs() < 1e-4), "{kind:?}: {out:?}");
        }
    }

    #[test]
    fn the_fast_passes_give_the_reference_bits() {
        // Signed values, negative zeros and every filter, up and down, so that the
        // by-rank horizontal pass (uniform tap counts) and the per-output one both run.
        let mut seed = 1u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed
        };
        let kinds = ALL_KINDS;
        let mut tmp = Vec::new();
        for kind in kinds {
            for (in_h, in_w, out_h, out_w) in
                [(128, 128, 64, 64), (9, 13, 4, 6), (5, 7, 11, 3), (16, 16, 16, 5), (3, 40, 7, 40)]
            {
                let src: Vec<f32> = (0..2 * in_h * in_w)
                    .map(|_| match next() % 7 {
                        0 => -0.0,
                        1 => 0.0,
                        r => (next() % 512) as f32 / 2.0 - 100.0 * (r % 2) as f32,
                    })
                    .collect();
                let want = resize_chw_reference(&src, (2, in_h, in_w), (out_h, out_w), kind);
                let mut got = vec![f32::NAN; want.len()];
                resize_chw_into(&src, (2, in_h, in_w), (out_h, out_w), kind, &mut got, &mut tmp);
                let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{kind:?} {in_h}x{in_w} -> {out_h}x{out_w}");
            }
        }
    }

    #[test]
    fn area_averages_blocks() {
        let out = resize_chw(&[0.0, 2.0, 4.0, 6.0], 1, 1, 4, 1, 2, Interpolation::Area);
        assert_eq!(out, vec![1.0, 5.0]);
    }
}
