//! The one resampling pass: inverse mapping per output pixel, fill modes, interpolation.
//!
//! Hand-written rather than `imageproc::geometric_transformations::warp`: the images here
//! are planar f32 CHW (imageproc wants interleaved `image::ImageBuffer`s, so every call
//! would pay two layout conversions), imageproc 0.27's `Border` has no `Reflect` (Keras 3's
//! default fill), and data_pipeline.md §4.1 measured a plain inverse-affine bilinear warp at
//! about 2× imageproc's `warp` at 128². The sampling taps are computed once per output pixel
//! and reused for every channel.

use super::projective::Projective;
use super::{FillMode, Interpolation};

/// Coordinates are clamped to this magnitude before they become indices, so any finite or
/// infinite input maps to a well-defined index without overflow.
const COORD_LIMIT: f64 = 1.0e9;

/// A coordinate this close to an integer is taken as that integer, so identity, flips,
/// quarter turns and whole-pixel shifts copy pixels exactly instead of blending 1e-15 of a
/// neighbour.
const SNAP: f64 = 1.0e-6;

/// Maps a (possibly outside) index onto `0..len` per the fill mode; `None` = constant fill.
#[inline]
fn resolve(i: i64, len: usize, fill: FillMode) -> Option<usize> {
    let n = len as i64;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match fill {
        FillMode::Constant(_) => None,
        FillMode::Nearest => Some(i.clamp(0, n - 1) as usize),
        // (d c b a | a b c d | d c b a): half-sample symmetric, period 2n.
        FillMode::Reflect => {
            let m = i.rem_euclid(2 * n);
            Some(if m >= n {
                (2 * n - 1 - m) as usize
            } else {
                m as usize
            })
        }
        // (a b c d | a b c d | a b c d)
        FillMode::Wrap => Some(i.rem_euclid(n) as usize),
    }
}

/// One output pixel's sampling recipe: up to four taps in a plane plus a weight on the fill
/// value (non-zero only with constant fill).
#[derive(Clone, Copy, Default)]
struct Tap {
    offset: [u32; 4],
    weight: [f32; 4],
    fill_weight: f32,
}

#[inline]
fn clean(v: f64) -> f64 {
    if v.is_nan() {
        return -COORD_LIMIT;
    }
    let v = v.clamp(-COORD_LIMIT, COORD_LIMIT);
    let r = v.round();
    if (v - r).abs() < SNAP {
        r
    } else {
        v
    }
}

impl Tap {
    #[inline]
    fn nearest(x: f64, y: f64, height: usize, width: usize, fill: FillMode) -> Tap {
        // Round half up, like `floor(x + 0.5)`.
        let ix = (x + 0.5).floor() as i64;
        let iy = (y + 0.5).floor() as i64;
        let mut t = Tap::default();
        match (resolve(iy, height, fill), resolve(ix, width, fill)) {
            (Some(r), Some(c)) => {
                t.offset[0] = (r * width + c) as u32;
                t.weight[0] = 1.0;
            }
            _ => t.fill_weight = 1.0,
        }
        t
    }

    #[inline]
    fn bilinear(x: f64, y: f64, height: usize, width: usize, fill: FillMode) -> Tap {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
        let (ix, iy) = (x0 as i64, y0 as i64);
        let weights = [
            (1.0 - fy) * (1.0 - fx),
            (1.0 - fy) * fx,
            fy * (1.0 - fx),
            fy * fx,
        ];
        let mut t = Tap {
            weight: weights,
            ..Tap::default()
        };
        if ix >= 0 && iy >= 0 && ix + 1 < width as i64 && iy + 1 < height as i64 {
            // Fast path: all four neighbours inside.
            let o = iy as usize * width + ix as usize;
            t.offset = [
                o as u32,
                (o + 1) as u32,
                (o + width) as u32,
                (o + width + 1) as u32,
            ];
            return t;
        }
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
}

/// A per-pixel displacement added to the output coordinate before the matrix (elastic
/// distortion); both fields are `height × width`, row-major.
pub(crate) struct Displacement<'a> {
    pub dx: &'a [f32],
    pub dy: &'a [f32],
}

/// Resamples `src` (CHW) into `dst` (CHW, same shape): `dst(x, y) = src(m · (p + d(p)))`.
///
/// The caller guarantees `src.len() == dst.len() == channels * height * width` and that
/// `height * width` fits in `u32` (checked in [`super::Augmentation::apply`] and [`super::warp`]).
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
    interpolation: Interpolation,
) {
    let plane = height * width;
    let [m0, m1, m2, m3, m4, m5, m6, m7, m8] = m.matrix();
    let affine = m6 == 0.0 && m7 == 0.0 && m8 == 1.0;
    let fill_value = match fill {
        FillMode::Constant(v) => v,
        _ => 0.0,
    };
    let mut taps = vec![Tap::default(); width];
    for y in 0..height {
        let row = y * width;
        for (x, tap) in taps.iter_mut().enumerate() {
            let (mut px, mut py) = (x as f64, y as f64);
            if let Some(d) = &displacement {
                px += f64::from(d.dx[row + x]);
                py += f64::from(d.dy[row + x]);
            }
            let (mut sx, mut sy) = (m0 * px + m1 * py + m2, m3 * px + m4 * py + m5);
            if !affine {
                let z = m6 * px + m7 * py + m8;
                sx /= z;
                sy /= z;
            }
            let (sx, sy) = (clean(sx), clean(sy));
            *tap = match interpolation {
                Interpolation::Nearest => Tap::nearest(sx, sy, height, width, fill),
                Interpolation::Bilinear => Tap::bilinear(sx, sy, height, width, fill),
            };
        }
        for c in 0..channels {
            let s = &src[c * plane..(c + 1) * plane];
            let d = &mut dst[c * plane + row..c * plane + row + width];
            match interpolation {
                Interpolation::Nearest => {
                    for (o, t) in d.iter_mut().zip(&taps) {
                        *o = t.weight[0] * s[t.offset[0] as usize] + t.fill_weight * fill_value;
                    }
                }
                Interpolation::Bilinear => {
                    for (o, t) in d.iter_mut().zip(&taps) {
                        *o = t.weight[0] * s[t.offset[0] as usize]
                            + t.weight[1] * s[t.offset[1] as usize]
                            + t.weight[2] * s[t.offset[2] as usize]
                            + t.weight[3] * s[t.offset[3] as usize]
                            + t.fill_weight * fill_value;
                    }
                }
            }
        }
    }
}
