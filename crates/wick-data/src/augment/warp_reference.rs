//! The straightforward per-pixel warp that `warp.rs` replaced, kept as the oracle of the
//! equality tests (test builds only): the fast path must give the same bits.

use super::modes::{FillMode, Sampling};
use super::projective::Projective;
use super::warp::Displacement;

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
            Some(if m >= n { (2 * n - 1 - m) as usize } else { m as usize })
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
        let weights = [(1.0 - fy) * (1.0 - fx), (1.0 - fy) * fx, fy * (1.0 - fx), fy * fx];
        let mut t = Tap { weight: weights, ..Tap::default() };
        if ix >= 0 && iy >= 0 && ix + 1 < width as i64 && iy + 1 < height as i64 {
            // Fast path: all four neighbours inside.
            let o = iy as usize * width + ix as usize;
            t.offset = [o as u32, (o + 1) as u32, (o + width) as u32, (o + width + 1) as u32];
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

/// Resamples `src` (CHW) into `dst` (CHW, same shape): `dst(x, y) = src(m · (p + d(p)))`.
///
/// The caller guarantees `src.len() == dst.len() == channels * height * width` and that
/// `height * width` fits in `u32` (checked by `warp::check_shape`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn reference_warp_into(
    src: &[f32],
    dst: &mut [f32],
    channels: usize,
    height: usize,
    width: usize,
    m: &Projective,
    displacement: Option<Displacement<'_>>,
    fill: FillMode,
    interpolation: Sampling,
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
                Sampling::Nearest => Tap::nearest(sx, sy, height, width, fill),
                Sampling::Bilinear => Tap::bilinear(sx, sy, height, width, fill),
            };
        }
        for c in 0..channels {
            let s = &src[c * plane..(c + 1) * plane];
            let d = &mut dst[c * plane + row..c * plane + row + width];
            match interpolation {
                Sampling::Nearest => {
                    for (o, t) in d.iter_mut().zip(&taps) {
                        *o = t.weight[0] * s[t.offset[0] as usize] + t.fill_weight * fill_value;
                    }
                }
                Sampling::Bilinear => {
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

mod tests {
    use super::super::warp::warp_with;
    use super::*;
    use crate::rng::Rng;
    use rand::{Rng as _, SeedableRng};

    /// The production warp, with and without the SIMD row loops, must both match.
    #[allow(clippy::too_many_arguments)]
    fn check(
        src: &[f32],
        c: usize,
        h: usize,
        w: usize,
        m: &Projective,
        field: Option<&(Vec<f32>, Vec<f32>)>,
        fill: FillMode,
        interpolation: Sampling,
        what: &str,
    ) {
        let disp = || field.map(|(dx, dy)| Displacement { dx, dy });
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut want = vec![0.0; src.len()];
        reference_warp_into(src, &mut want, c, h, w, m, disp(), fill, interpolation);
        for simd in [false, true] {
            let mut got = vec![1.0; src.len()];
            warp_with(src, &mut got, c, h, w, m, disp(), fill, interpolation, simd);
            assert_eq!(
                bits(&got),
                bits(&want),
                "{what} (simd {simd}): {c}x{h}x{w}, {m:?}, {fill:?}, {interpolation:?}"
            );
        }
    }

    const FILLS: [FillMode; 5] =
        [FillMode::Reflect, FillMode::Wrap, FillMode::Nearest, FillMode::Constant(0.0), FillMode::Constant(-7.5)];

    /// A random matrix: mostly augmentation-like (rotation, zoom, shift, shear about the
    /// centre, sometimes a tilt), sometimes whole-pixel moves that must snap, sometimes
    /// wild entries (huge, tiny, a vanishing denominator).
    fn random_matrix(rng: &mut Rng, h: usize, w: usize) -> Projective {
        match rng.random_range(0..6) {
            0 => {
                let mut m = [0.0; 9];
                for v in &mut m {
                    *v = rng.random_range(-3.0..3.0) * 10f64.powi(rng.random_range(-3..4));
                }
                Projective::from_matrix(m)
            }
            1 => {
                // Quarter turns, flips and whole-pixel shifts, with or without a hair of noise.
                let turns = f64::from(rng.random_range(0..4)) * 0.25;
                let hair = if rng.random() { 0.0 } else { rng.random_range(-2e-6..2e-6) };
                Projective::rotation(turns, h, w)
                    .then(&Projective::translation(
                        f64::from(rng.random_range(-3..4)) + hair,
                        f64::from(rng.random_range(-3..4)),
                    ))
                    .then(&if rng.random() { Projective::flip_horizontal(w) } else { Projective::flip_vertical(h) })
            }
            _ => {
                let mut m = Projective::rotation(rng.random_range(-0.2..0.2), h, w)
                    .then(&Projective::zoom(rng.random_range(0.5..1.6), rng.random_range(0.5..1.6), h, w))
                    .then(&Projective::translation(
                        rng.random_range(-0.5..0.5) * h as f64,
                        rng.random_range(-0.5..0.5) * w as f64,
                    ))
                    .then(&Projective::shear(rng.random_range(-0.3..0.3), rng.random_range(-0.3..0.3), h, w));
                if rng.random() {
                    let mut p = m.matrix();
                    p[6] = rng.random_range(-0.05..0.05);
                    p[7] = rng.random_range(-0.05..0.05);
                    m = Projective::from_matrix(p);
                }
                m
            }
        }
    }

    #[test]
    fn fast_warp_equals_the_reference_bit_for_bit() {
        let mut rng = Rng::seed_from_u64(11);
        let sizes = [(1, 1), (1, 6), (5, 1), (7, 3), (2, 9), (16, 16), (33, 17), (20, 40)];
        for round in 0..600 {
            let (h, w) = sizes[round % sizes.len()];
            let c = [1, 3, 4][round % 3];
            let src: Vec<f32> = (0..c * h * w).map(|_| rng.random_range(-10.0..300.0)).collect();
            let m = random_matrix(&mut rng, h, w);
            let field: Option<(Vec<f32>, Vec<f32>)> = (round % 4 == 0).then(|| {
                let mut d = || (0..h * w).map(|_| rng.random_range(-4.0..4.0)).collect::<Vec<f32>>();
                (d(), d())
            });
            for fill in FILLS {
                for interpolation in [Sampling::Bilinear, Sampling::Nearest] {
                    check(&src, c, h, w, &m, field.as_ref(), fill, interpolation, &format!("round {round}"));
                }
            }
        }
    }

    #[test]
    fn non_finite_coordinates_match_the_reference() {
        // z = 0 on a whole row/column gives ±inf and NaN coordinates.
        let (c, h, w) = (2, 5, 6);
        let src: Vec<f32> = (0..c * h * w).map(|i| i as f32).collect();
        for m in [
            Projective::from_matrix([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, -2.0]),
            Projective::from_matrix([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            Projective::from_matrix([1e300, 0.0, 0.0, 0.0, -1e300, 0.0, 0.0, 0.0, 1.0]),
        ] {
            for fill in FILLS {
                for interpolation in [Sampling::Bilinear, Sampling::Nearest] {
                    check(&src, c, h, w, &m, None, fill, interpolation, "non-finite");
                }
            }
        }
    }

    #[test]
    fn nested_copies_do_not_share_the_buffer() {
        use super::super::warp::with_copy;
        let mut outer = vec![1.0, 2.0, 3.0];
        let mut inner = vec![7.0, 8.0];
        with_copy(&mut outer, |a, outer| {
            with_copy(&mut inner, |b, inner| {
                assert_eq!(b, [7.0, 8.0]);
                inner[0] = b[1];
            });
            assert_eq!(a, [1.0, 2.0, 3.0]);
            outer[2] = a[0];
        });
        assert_eq!((outer, inner), (vec![1.0, 2.0, 1.0], vec![8.0, 8.0]));
    }
}
