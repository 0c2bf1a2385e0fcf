//! im2col and its adjoint col2im over one image's group block, and `valid_range` for them.

use super::geom::Geom;

/// The output columns `[lo, hi)` whose input column `ox * stride + off` lies in `[0, w)`.
fn valid_range(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    let hi = if (w as isize) - off <= 0 { 0 } else { ((w as isize) - off + s - 1) / s };
    let lo = (lo as usize).min(ow);
    let hi = (hi as usize).min(ow).max(lo);
    (lo, hi)
}

/// `dst.copy_from_slice(src)` for the short rows of an im2col matrix, as 16-float block
/// copies the compiler keeps inline (the last block overlaps the one before it when the
/// length is not a multiple of 16): `copy_from_slice` calls `memcpy`, whose call and size
/// dispatch cost about as much as copying a row of a few dozen floats.
#[inline]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let len = dst.len().min(src.len());
    if len < 16 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
        return;
    }
    let block = |dst: &mut [f32], src: &[f32], at: usize| {
        if let (Some(d), Some(s)) = (dst.get_mut(at..at + 16), src.get(at..at + 16)) {
            let s: [f32; 16] = s.try_into().unwrap_or([0.0; 16]);
            d.copy_from_slice(&s);
        }
    };
    let mut at = 0;
    while at + 16 <= len {
        block(dst, src, at);
        at += 16;
    }
    if at < len {
        block(dst, src, len - 16);
    }
}

/// Writes the `[cg*kh*kw, oh*ow]` im2col matrix of one image's group block `xg`
/// (`[cg, h, w]`) into `col`, rows `pitch` apart (`pitch >= oh*ow`; the columns past
/// `oh*ow` are set to zero).
pub(super) fn im2col(g: &Geom, xg: &[f32], col: &mut [f32], pitch: usize) {
    let (p, hw) = (g.p(), g.h * g.w);
    for ci in 0..g.cg() {
        let src = &xg[ci * hw..(ci + 1) * hw];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (ci * g.kh + ky) * g.kw + kx;
                let (dst, pad) = col[row * pitch..(row + 1) * pitch].split_at_mut(p);
                pad.fill(0.0);
                let off = (kx * g.dil) as isize - g.pad as isize;
                let (lo, hi) = valid_range(off, g.stride, g.w, g.ow);
                for oy in 0..g.oh {
                    let drow = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    let iy = (oy * g.stride + ky * g.dil) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        drow.fill(0.0);
                        continue;
                    }
                    let srow = &src[iy as usize * g.w..(iy as usize + 1) * g.w];
                    if lo > 0 {
                        drow[..lo].fill(0.0);
                    }
                    if hi < g.ow {
                        drow[hi..].fill(0.0);
                    }
                    if lo < hi {
                        let first = (lo as isize * g.stride as isize + off) as usize;
                        if g.stride == 1 {
                            copy_short(&mut drow[lo..hi], &srow[first..first + (hi - lo)]);
                        } else {
                            for (d, s) in drow[lo..hi].iter_mut().zip(srow[first..].iter().step_by(g.stride)) {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds the `[cg*kh*kw, oh*ow]` matrix `col` (rows `pitch` apart) back onto one image's
/// group block `dxg` (`[cg, h, w]`): the adjoint of [`im2col`].
pub(super) fn col2im(g: &Geom, col: &[f32], dxg: &mut [f32], pitch: usize) {
    let hw = g.h * g.w;
    for ci in 0..g.cg() {
        let dst = &mut dxg[ci * hw..(ci + 1) * hw];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (ci * g.kh + ky) * g.kw + kx;
                let src = &col[row * pitch..row * pitch + g.p()];
                let off = (kx * g.dil) as isize - g.pad as isize;
                let (lo, hi) = valid_range(off, g.stride, g.w, g.ow);
                if lo >= hi {
                    continue;
                }
                for oy in 0..g.oh {
                    let iy = (oy * g.stride + ky * g.dil) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let srow = &src[oy * g.ow..(oy + 1) * g.ow];
                    let drow = &mut dst[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let first = (lo as isize * g.stride as isize + off) as usize;
                    if g.stride == 1 {
                        for (d, s) in drow[first..first + (hi - lo)].iter_mut().zip(&srow[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in drow[first..].iter_mut().step_by(g.stride).zip(&srow[lo..hi]) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_covers_exactly_the_inside_columns() {
        for stride in 1..4 {
            for off in -4isize..4 {
                for w in 1..7usize {
                    let ow = 6;
                    let (lo, hi) = valid_range(off, stride, w, ow);
                    for ox in 0..ow {
                        let ix = ox as isize * stride as isize + off;
                        let inside = ix >= 0 && ix < w as isize;
                        assert_eq!(inside, ox >= lo && ox < hi, "s{stride} off{off} w{w} ox{ox}");
                    }
                }
            }
        }
    }
}
