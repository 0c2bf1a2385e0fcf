//! AVX2 versions of the bilinear warp's two row loops (`warp.rs`): the input cells of 4
//! pixels at a time (f64), then the interior samples of 8 pixels at a time (f32, with
//! gathers). Each lane does exactly the scalar code's operations in the same order (no
//! fused multiply-add), so the output bits are the same; `warp_reference.rs` tests that.
//!
//! Taps that leave the image are folded back per the fill mode (reflect, wrap, nearest)
//! when they are at most one image away, so border pixels stay on the vector path. Both
//! loops stop at the last whole vector; the scalar code finishes the row, and writes the
//! pixels listed in `RowScratch::border` (a constant fill's border, far-away taps) over
//! whatever was stored here.

use std::arch::x86_64::*;

use super::modes::FillMode;
use super::row::{Plan, RowScratch, COORD_LIMIT, SNAP};

/// True when the sampling loop may run: the image is not empty, and every offset and
/// index (up to `2 · side`) fits the gathers' `i32` lanes.
pub(super) fn fits(height: usize, width: usize) -> bool {
    let limit = i32::MAX as usize / 4;
    height >= 1 && width >= 1 && height < limit && width < limit && height.checked_mul(width).is_some_and(|p| p < limit)
}

/// `cell` of `warp.rs` on four lanes: `(floor(x), x − floor(x))` of the limited,
/// snapped coordinate.
#[inline]
#[target_feature(enable = "avx2")]
fn cell4(v: __m256d) -> (__m128i, __m128) {
    let one = _mm256_set1_pd(1.0);
    let nan = _mm256_cmp_pd::<_CMP_UNORD_Q>(v, v);
    let v = _mm256_blendv_pd(v, _mm256_set1_pd(-COORD_LIMIT), nan);
    let v = _mm256_min_pd(_mm256_max_pd(v, _mm256_set1_pd(-COORD_LIMIT)), _mm256_set1_pd(COORD_LIMIT));
    let t = _mm256_cvtepi32_pd(_mm256_cvttpd_epi32(v));
    let fl = _mm256_sub_pd(t, _mm256_and_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(t, v), one));
    let frac = _mm256_sub_pd(v, fl);
    let snap = _mm256_set1_pd(SNAP);
    let low = _mm256_cmp_pd::<_CMP_LT_OQ>(frac, snap);
    let high = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_sub_pd(one, frac), snap);
    let i = _mm256_cvttpd_epi32(_mm256_add_pd(fl, _mm256_and_pd(high, one)));
    let f = _mm256_cvtpd_ps(_mm256_andnot_pd(_mm256_or_pd(low, high), frac));
    (i, f)
}

/// Pass 1 (bilinear): the cells and fractions of output row `y`, 4 pixels at a time.
/// Returns how many pixels it did (the row's whole vectors).
#[target_feature(enable = "avx2")]
pub(super) fn map_row(p: &Plan<'_>, y: usize, disp: Option<(&[f32], &[f32])>, r: &mut RowScratch) -> usize {
    let n = r.ix.len() / 4 * 4;
    let m: [__m256d; 9] = p.matrix.map(|v| _mm256_set1_pd(v));
    let lanes = _mm256_set_pd(3.0, 2.0, 1.0, 0.0);
    for x in (0..n).step_by(4) {
        let mut px = _mm256_add_pd(_mm256_set1_pd(x as f64), lanes);
        let mut py = _mm256_set1_pd(y as f64);
        if let Some((dx, dy)) = disp {
            // SAFETY: each slice has 4 values (bounds-checked).
            let (dx, dy) = unsafe { (_mm_loadu_ps(dx[x..x + 4].as_ptr()), _mm_loadu_ps(dy[x..x + 4].as_ptr())) };
            px = _mm256_add_pd(px, _mm256_cvtps_pd(dx));
            py = _mm256_add_pd(py, _mm256_cvtps_pd(dy));
        }
        let affine = |a: __m256d, b: __m256d, c: __m256d| {
            _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(a, px), _mm256_mul_pd(b, py)), c)
        };
        let (mut sx, mut sy) = (affine(m[0], m[1], m[2]), affine(m[3], m[4], m[5]));
        if !p.affine {
            let z = affine(m[6], m[7], m[8]);
            sx = _mm256_div_pd(sx, z);
            sy = _mm256_div_pd(sy, z);
        }
        let ((ix, fx), (iy, fy)) = (cell4(sx), cell4(sy));
        // SAFETY: each destination slice has 4 values (bounds-checked).
        unsafe {
            _mm_storeu_si128(r.ix[x..x + 4].as_mut_ptr().cast(), ix);
            _mm_storeu_si128(r.iy[x..x + 4].as_mut_ptr().cast(), iy);
            _mm_storeu_ps(r.fx[x..x + 4].as_mut_ptr(), fx);
            _mm_storeu_ps(r.fy[x..x + 4].as_mut_ptr(), fy);
        }
    }
    n
}

/// Folds tap indices back into `0..n` per the fill mode, for lanes at most one image
/// away (`−n ≤ i < 2n`, checked by the caller; any `i` for nearest). The same results as
/// `resolve` in `warp.rs`.
#[inline]
#[target_feature(enable = "avx2")]
fn fold(i: __m256i, n: __m256i, fill: FillMode) -> __m256i {
    let zero = _mm256_setzero_si256();
    let below = _mm256_cmpgt_epi32(zero, i);
    let above = _mm256_cmpgt_epi32(i, _mm256_sub_epi32(n, _mm256_set1_epi32(1)));
    match fill {
        // Only inside lanes are kept for a constant fill.
        FillMode::Constant(_) => i,
        FillMode::Nearest => _mm256_min_epi32(_mm256_max_epi32(i, zero), _mm256_sub_epi32(n, _mm256_set1_epi32(1))),
        // i < 0 → −1 − i; i ≥ n → 2n − 1 − i.
        FillMode::Reflect => {
            let low = _mm256_sub_epi32(_mm256_set1_epi32(-1), i);
            let high = _mm256_sub_epi32(_mm256_sub_epi32(_mm256_add_epi32(n, n), _mm256_set1_epi32(1)), i);
            _mm256_blendv_epi8(_mm256_blendv_epi8(i, low, below), high, above)
        }
        // i < 0 → i + n; i ≥ n → i − n.
        FillMode::Wrap => {
            _mm256_blendv_epi8(_mm256_blendv_epi8(i, _mm256_add_epi32(i, n), below), _mm256_sub_epi32(i, n), above)
        }
    }
}

/// Lanes whose taps this loop cannot fold: for a constant fill, any tap outside
/// `0..n` (`i < 0` or `i + 1 ≥ n`); for reflect and wrap, a tap more than one image away
/// (`i < −n` or `i + 1 ≥ 2n`); none for nearest.
#[inline]
#[target_feature(enable = "avx2")]
fn far(i: __m256i, n: i32, fill: FillMode) -> __m256i {
    let (lo, hi) = match fill {
        FillMode::Nearest => return _mm256_setzero_si256(),
        FillMode::Constant(_) => (0, n - 2),
        FillMode::Reflect | FillMode::Wrap => (-n, 2 * n - 2),
    };
    _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo), i), _mm256_cmpgt_epi32(i, _mm256_set1_epi32(hi)))
}

/// Pass 2 (bilinear): samples 8 pixels at a time of the row starting at plane offset
/// `row`, into every channel of `dst`. Taps outside the image are folded back per the
/// fill mode; pixels this cannot do (see [`far`]) are listed in `r.border` for the
/// scalar code. Returns how many pixels it did (the row's whole vectors). The caller
/// checked [`fits`].
#[target_feature(enable = "avx2")]
pub(super) fn sample_row(p: &Plan<'_>, r: &mut RowScratch, dst: &mut [f32], row: usize) -> usize {
    let (w, h, plane) = (p.width as i32, p.height as i32, p.height * p.width);
    let n = p.width / 8 * 8;
    let (wv, hv, one) = (_mm256_set1_epi32(w), _mm256_set1_epi32(h), _mm256_set1_epi32(1));
    let (onef, zero_fill) = (_mm256_set1_ps(1.0), _mm256_set1_ps(p.zero_fill));
    for x in (0..n).step_by(8) {
        // SAFETY: each slice has 8 values (bounds-checked).
        let (ix, iy, fx, fy) = unsafe {
            (
                _mm256_loadu_si256(r.ix[x..x + 8].as_ptr().cast()),
                _mm256_loadu_si256(r.iy[x..x + 8].as_ptr().cast()),
                _mm256_loadu_ps(r.fx[x..x + 8].as_ptr()),
                _mm256_loadu_ps(r.fy[x..x + 8].as_ptr()),
            )
        };
        let far = _mm256_or_si256(far(ix, w, p.fill), far(iy, h, p.fill));
        let mut bits = _mm256_movemask_ps(_mm256_castsi256_ps(far)) as u32;
        while bits != 0 {
            r.border.push(x + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
        // Tap offsets, all 0 for far lanes (their values are overwritten by the caller).
        let (c0, c1) = (fold(ix, wv, p.fill), fold(_mm256_add_epi32(ix, one), wv, p.fill));
        let (r0, r1) = (
            _mm256_mullo_epi32(fold(iy, hv, p.fill), wv),
            _mm256_mullo_epi32(fold(_mm256_add_epi32(iy, one), hv, p.fill), wv),
        );
        let taps =
            [(r0, c0), (r0, c1), (r1, c0), (r1, c1)].map(|(r, c)| _mm256_andnot_si256(far, _mm256_add_epi32(r, c)));
        let (gx, gy) = (_mm256_sub_ps(onef, fx), _mm256_sub_ps(onef, fy));
        let weight = [_mm256_mul_ps(gy, gx), _mm256_mul_ps(gy, fx), _mm256_mul_ps(fy, gx), _mm256_mul_ps(fy, fx)];
        for c in 0..p.channels {
            let s = &p.src[c * plane..(c + 1) * plane];
            // SAFETY: every offset is below `plane`: kept lanes fold their taps into the
            // image, far lanes read offset 0, and `fits` guarantees a non-empty plane.
            let g = unsafe { taps.map(|t| _mm256_i32gather_ps::<4>(s.as_ptr(), t)) };
            let mut v = _mm256_mul_ps(weight[0], g[0]);
            v = _mm256_add_ps(v, _mm256_mul_ps(weight[1], g[1]));
            v = _mm256_add_ps(v, _mm256_mul_ps(weight[2], g[2]));
            v = _mm256_add_ps(v, _mm256_mul_ps(weight[3], g[3]));
            v = _mm256_add_ps(v, zero_fill);
            let start = c * plane + row + x;
            // SAFETY: the slice has 8 values (bounds-checked).
            unsafe { _mm256_storeu_ps(dst[start..start + 8].as_mut_ptr(), v) };
        }
    }
    n
}
