//! The one resampling pass (inverse mapping per output pixel, fill modes, interpolation)
//! and its public entry [`warp()`].
//!
//! Hand-written rather than `imageproc::geometric_transformations::warp`: the images here
//! are planar f32 CHW (imageproc wants interleaved `image::ImageBuffer`s, so every call
//! would pay two layout conversions), imageproc 0.27's `Border` has no `Reflect` (Keras 3's
//! default fill), and data_pipeline.md §4.1 measured a plain inverse-affine bilinear warp at
//! about 2× imageproc's `warp` at 128².
//!
//! Per output row, two passes:
//! 1. [`map_row`]: the input point of every pixel, as an integer cell and a fraction
//!    (f64 maths; the floor is inline because `f64::floor` is a libm call on the baseline
//!    x86-64 target).
//! 2. Sampling: a pixel whose 2×2 neighbourhood lies inside the image reads its four
//!    taps directly, for every channel; only pixels near or past the border build the
//!    general [`Tap`] with the fill-mode logic.
//!
//! On x86-64 CPUs with AVX2, bilinear rows run both passes 4 or 8 pixels at a time
//! (`warp_avx2.rs`, which also folds border taps for reflect, wrap and nearest fills);
//! the scalar code does the rest of each row and the pixels the vector loop leaves out.
//! All paths do the same arithmetic, operation for operation, as the plain per-pixel
//! version kept in `warp_reference.rs`; tests check that they give the same bits. At 128²
//! with the Keras flip/rotate/zoom/translate stack this took the warp from ≈ 450 µs to
//! ≈ 115 µs per RGB image on one core.

use super::modes::{FillMode, Sampling};
use super::projective::Projective;
use super::row::{Plan, RowScratch, COORD_LIMIT, SNAP};
use crate::error::{Error, Result};
use crate::resize::Interpolation;

/// Maps a (possibly outside) index onto `0..len` per the fill mode; `None` = constant fill.
#[inline]
fn resolve(i: i64, len: usize, fill: FillMode) -> Option<usize> {
    let n = len as i64;
    if (i as u64) < len as u64 {
        return Some(i as usize); // 0 <= i < len, in one comparison
    }
    match fill {
        FillMode::Constant(_) => None,
        FillMode::Nearest => Some(i.clamp(0, n - 1) as usize),
        // (d c b a | a b c d | d c b a): half-sample symmetric, period 2n. One image away
        // (the common case) needs no division.
        FillMode::Reflect => {
            let m = match i {
                _ if (-n..0).contains(&i) => i + 2 * n,
                _ if (n..2 * n).contains(&i) => i,
                _ => i.rem_euclid(2 * n),
            };
            Some(if m >= n { (2 * n - 1 - m) as usize } else { m as usize })
        }
        // (a b c d | a b c d | a b c d)
        FillMode::Wrap => Some(if (-n..0).contains(&i) {
            (i + n) as usize
        } else if (n..2 * n).contains(&i) {
            (i - n) as usize
        } else {
            i.rem_euclid(n) as usize
        }),
    }
}

/// NaN → `-COORD_LIMIT`, then clamped to `±COORD_LIMIT`.
#[inline(always)]
fn limit(v: f64) -> f64 {
    if v.is_nan() {
        -COORD_LIMIT
    } else {
        v.clamp(-COORD_LIMIT, COORD_LIMIT)
    }
}

/// `floor` of a [`limit`]ed value, as f64, without a libm call.
#[inline(always)]
fn floor_limited(v: f64) -> f64 {
    let t = f64::from(v as i32);
    if t > v {
        t - 1.0
    } else {
        t
    }
}

/// The cell and fraction `(floor(x), x − floor(x))` of `x`, the [`limit`]ed `v` snapped to
/// an integer when closer than `SNAP` (then the fraction is `0`).
///
/// `v − floor(v)` is exact in f64 (Sterbenz), and so is `1 − frac`, which equals
/// `round(v) − v` when `frac > ½`: this snaps exactly when `|v − round(v)| < SNAP`.
#[inline(always)]
fn cell(v: f64) -> (i32, f32) {
    let v = limit(v);
    let fl = floor_limited(v);
    let frac = v - fl;
    let low = frac < SNAP;
    let high = 1.0 - frac < SNAP;
    let i = fl as i32 + i32::from(high);
    (i, if low || high { 0.0 } else { frac as f32 })
}

/// The index nearest sampling reads: `floor(x + ½)` of the snapped `x` (halves round up).
#[inline(always)]
fn nearest_index(v: f64) -> i32 {
    let (i, frac) = cell(v);
    let x = if frac == 0.0 { f64::from(i) } else { limit(v) };
    floor_limited(x + 0.5) as i32
}

/// One output pixel's sampling recipe: up to four taps in a plane plus a weight on the fill
/// value (non-zero only with constant fill).
#[derive(Clone, Copy, Default)]
struct Tap {
    offset: [u32; 4],
    weight: [f32; 4],
    fill_weight: f32,
}

impl Tap {
    fn nearest(ix: i32, iy: i32, height: usize, width: usize, fill: FillMode) -> Tap {
        let mut t = Tap::default();
        match (resolve(iy.into(), height, fill), resolve(ix.into(), width, fill)) {
            (Some(r), Some(c)) => {
                t.offset[0] = (r * width + c) as u32;
                t.weight[0] = 1.0;
            }
            _ => t.fill_weight = 1.0,
        }
        t
    }

    fn bilinear(c: &RowScratch, x: usize, height: usize, width: usize, fill: FillMode) -> Tap {
        let (ix, iy) = (i64::from(c.ix[x]), i64::from(c.iy[x]));
        let mut t = Tap { weight: weights(c.fx[x], c.fy[x]), ..Tap::default() };
        let rows = [resolve(iy, height, fill), resolve(iy + 1, height, fill)];
        let cols = [resolve(ix, width, fill), resolve(ix + 1, width, fill)];
        for k in 0..4 {
            match (rows[k / 2], cols[k % 2]) {
                (Some(r), Some(c)) => t.offset[k] = (r * width + c) as u32,
                _ => {
                    t.fill_weight += t.weight[k];
                    t.weight[k] = 0.0;
                }
            }
        }
        t
    }

    /// The nearest-neighbour value: `weight·src[offset] + fill_weight·fill`.
    #[inline(always)]
    fn sample_nearest(&self, s: &[f32], fill_value: f32) -> f32 {
        self.weight[0] * s[self.offset[0] as usize] + self.fill_weight * fill_value
    }

    /// The bilinear value: `Σ weight·src[offset] + fill_weight·fill`, in the reference's order.
    #[inline(always)]
    fn sample(&self, s: &[f32], fill_value: f32) -> f32 {
        self.weight[0] * s[self.offset[0] as usize]
            + self.weight[1] * s[self.offset[1] as usize]
            + self.weight[2] * s[self.offset[2] as usize]
            + self.weight[3] * s[self.offset[3] as usize]
            + self.fill_weight * fill_value
    }
}

/// Bilinear weights of the taps (top-left, top-right, bottom-left, bottom-right).
#[inline(always)]
fn weights(fx: f32, fy: f32) -> [f32; 4] {
    [(1.0 - fy) * (1.0 - fx), (1.0 - fy) * fx, fy * (1.0 - fx), fy * fx]
}

/// A per-pixel displacement added to the output coordinate before the matrix (elastic
/// distortion); both fields are `height × width`, row-major.
pub(crate) struct Displacement<'a> {
    pub(crate) dx: &'a [f32],
    pub(crate) dy: &'a [f32],
}

/// Fills the cells of pixels `start..` of output row `y`: `m · (x + dx, y + dy)`, divided
/// by its third coordinate unless `m` is affine.
#[inline(always)]
fn map_row<const AFFINE: bool, const NEAREST: bool>(
    m: &[f64; 9],
    y: usize,
    start: usize,
    disp: Option<(&[f32], &[f32])>,
    r: &mut RowScratch,
) {
    let [m0, m1, m2, m3, m4, m5, m6, m7, m8] = *m;
    for x in start..r.ix.len() {
        let (mut px, mut py) = (x as f64, y as f64);
        if let Some((dx, dy)) = disp {
            px += f64::from(dx[x]);
            py += f64::from(dy[x]);
        }
        let (mut sx, mut sy) = (m0 * px + m1 * py + m2, m3 * px + m4 * py + m5);
        if !AFFINE {
            let z = m6 * px + m7 * py + m8;
            sx /= z;
            sy /= z;
        }
        if NEAREST {
            r.ix[x] = nearest_index(sx);
            r.iy[x] = nearest_index(sy);
        } else {
            (r.ix[x], r.fx[x]) = cell(sx);
            (r.iy[x], r.fy[x]) = cell(sy);
        }
    }
}

/// Runs `f(copy, image)` with `copy` a copy of `image` (the warp reads the copy and
/// writes the image). The copy lives in a per-thread buffer that is reused, so warping allocates
/// nothing after a thread's first image; it keeps the size of the largest image seen.
pub(crate) fn with_copy<R>(image: &mut [f32], f: impl FnOnce(&[f32], &mut [f32]) -> R) -> R {
    thread_local! {
        static COPY: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    COPY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend_from_slice(image);
            f(&buf, image)
        }
        // Re-entered from inside `f` (a transform within a transform): a fresh copy.
        Err(_) => {
            let copy = image.to_vec();
            f(&copy, image)
        }
    })
}

/// Resamples `src` (CHW) into `dst` (CHW, same shape): `dst(x, y) = src(m · (p + d(p)))`.
///
/// The caller guarantees `src.len() == dst.len() == channels * height * width` and that
/// `height * width` fits in `u32` (both checked by [`check_shape`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn warp_into(
    src: &[f32],
    dst: &mut [f32],
    channels: usize,
    height: usize,
    width: usize,
    m: &Projective,
    displacement: Option<Displacement<'_>>,
    fill: FillMode,
    sampling: Sampling,
) {
    warp_with(src, dst, channels, height, width, m, displacement, fill, sampling, true);
}

/// [`warp_into`]; the AVX2 row loops run only when `simd` is set, the CPU has AVX2 and the
/// interpolation is bilinear (tests turn them off to check the scalar code too).
#[allow(clippy::too_many_arguments)]
pub(super) fn warp_with(
    src: &[f32],
    dst: &mut [f32],
    channels: usize,
    height: usize,
    width: usize,
    m: &Projective,
    displacement: Option<Displacement<'_>>,
    fill: FillMode,
    sampling: Sampling,
    simd: bool,
) {
    let matrix = m.matrix();
    let fill_value = match fill {
        FillMode::Constant(v) => v,
        _ => 0.0,
    };
    let p = Plan {
        src,
        channels,
        height,
        width,
        matrix,
        affine: matrix[6] == 0.0 && matrix[7] == 0.0 && matrix[8] == 1.0,
        fill,
        zero_fill: 0.0 * fill_value,
    };
    let nearest = sampling == Sampling::Nearest;
    #[cfg(target_arch = "x86_64")]
    let simd = simd && !nearest && std::arch::is_x86_feature_detected!("avx2") && super::warp_avx2::fits(height, width);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = simd;
    let plane = height * width;
    let mut r = RowScratch::new(width);
    for y in 0..height {
        let row = y * width;
        let disp = displacement.as_ref().map(|d| (&d.dx[row..row + width], &d.dy[row..row + width]));
        // Pass 1: input cells.
        #[cfg(target_arch = "x86_64")]
        let start = if simd {
            // SAFETY: `simd` implies the CPU has AVX2 (checked above).
            unsafe { super::warp_avx2::map_row(&p, y, disp, &mut r) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let start = 0;
        match (p.affine, nearest) {
            (true, false) => map_row::<true, false>(&matrix, y, start, disp, &mut r),
            (false, false) => map_row::<false, false>(&matrix, y, start, disp, &mut r),
            (true, true) => map_row::<true, true>(&matrix, y, start, disp, &mut r),
            (false, true) => map_row::<false, true>(&matrix, y, start, disp, &mut r),
        }
        // Pass 2: samples, and the list of border pixels for pass 3.
        r.border.clear();
        #[cfg(target_arch = "x86_64")]
        let start = if simd {
            // SAFETY: `simd` implies the CPU has AVX2 (checked above); `fits` was checked.
            unsafe { super::warp_avx2::sample_row(&p, &mut r, dst, row) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let start = 0;
        for x in start..width {
            let (ix, iy) = (r.ix[x], r.iy[x]);
            let span = if nearest { 1 } else { 2 };
            if !(ix >= 0 && iy >= 0 && ix as usize + span <= width && iy as usize + span <= height) {
                r.border.push(x);
                continue;
            }
            let o = iy as usize * width + ix as usize;
            if nearest {
                for c in 0..channels {
                    dst[c * plane + row + x] = 1.0 * src[c * plane + o] + p.zero_fill;
                }
            } else {
                let [w0, w1, w2, w3] = weights(r.fx[x], r.fy[x]);
                for c in 0..channels {
                    let s = &src[c * plane + o..c * plane + o + width + 2];
                    dst[c * plane + row + x] = w0 * s[0] + w1 * s[1] + w2 * s[width] + w3 * s[width + 1] + p.zero_fill;
                }
            }
        }
        // Pass 3: the border pixels, with the fill-mode logic.
        for &x in &r.border {
            let t = if nearest {
                Tap::nearest(r.ix[x], r.iy[x], height, width, fill)
            } else {
                Tap::bilinear(&r, x, height, width, fill)
            };
            for c in 0..channels {
                let s = &src[c * plane..(c + 1) * plane];
                dst[c * plane + row + x] =
                    if nearest { t.sample_nearest(s, fill_value) } else { t.sample(s, fill_value) };
            }
        }
    }
}

/// Resamples one CHW image in place through a given matrix (no randomness): the building
/// block [`Augmentation`](crate::augment::Augmentation) uses, exposed for fixed transforms
/// and tests.
///
/// `interpolation` must be [`Interpolation::Nearest`] or [`Interpolation::Bilinear`]; any
/// other filter is an [`Error::InvalidOption`].
///
/// `m` maps output pixel coordinates to input coordinates (see [`Projective`]).
///
/// ```
/// use wick_data::augment::{warp, FillMode, Projective};
/// use wick_data::Interpolation;
///
/// // A 1×2×3 image, flipped left ↔ right.
/// let mut image = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
/// warp(&mut image, 1, 2, 3, &Projective::flip_horizontal(3), FillMode::Reflect, Interpolation::Bilinear)?;
/// assert_eq!(image, [2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
/// # Ok::<(), wick_data::Error>(())
/// ```
pub fn warp(
    image: &mut [f32],
    channels: usize,
    height: usize,
    width: usize,
    m: &Projective,
    fill: FillMode,
    interpolation: Interpolation,
) -> Result<()> {
    check_shape(image.len(), channels, height, width)?;
    if !m.is_finite() {
        return Err(Error::InvalidOption {
            context: "warp",
            name: "warp matrix",
            message: format!("{:?} has a non-finite entry", m.matrix()),
        });
    }
    if let FillMode::Constant(v) = fill {
        if !v.is_finite() {
            return Err(Error::InvalidOption {
                context: "warp",
                name: "fill_mode",
                message: format!("constant fill value {v} must be finite"),
            });
        }
    }
    let sampling = Sampling::of(interpolation).map_err(|message| Error::InvalidOption {
        context: "warp",
        name: "interpolation",
        message,
    })?;
    if image.is_empty() || m.is_identity() {
        return Ok(());
    }
    with_copy(image, |src, image| warp_into(src, image, channels, height, width, m, None, fill, sampling));
    Ok(())
}

/// `len == channels × height × width`, with the plane small enough for 32-bit offsets.
pub(super) fn check_shape(len: usize, channels: usize, height: usize, width: usize) -> Result<()> {
    let plane = height.checked_mul(width);
    let expected = plane.and_then(|p| p.checked_mul(channels));
    if expected != Some(len) {
        return Err(Error::Shape {
            what: "augmentation input",
            message: format!("buffer of {len} values for channels×height×width = {channels}×{height}×{width}"),
        });
    }
    if plane.is_some_and(|p| p > u32::MAX as usize) {
        return Err(Error::Shape {
            what: "augmentation input",
            message: format!("{height}×{width} plane exceeds 2^32 pixels"),
        });
    }
    Ok(())
}
