//! Interleaved u8 pixels to planar CHW f32 at the target size: crop/pad/resize, or one deinterleaving pass when none is needed.

use std::mem::MaybeUninit;

use crate::error::{Error, Result};
use crate::image_options::{AspectMode, ImageOptions};
use crate::resize::resize_chw_into;

/// Crops/pads/resizes an interleaved u8 image (`h x w x channels`) to the target CHW f32.
/// An error when `hwc.len() != h * w * channels`.
#[cfg(test)]
pub(crate) fn hwc_u8_to_target(
    hwc: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    options: &ImageOptions,
) -> Result<Vec<f32>> {
    let mut out = vec![0f32; channels * options.height * options.width];
    hwc_u8_to_target_into(hwc, channels, h, w, options, &mut out)?;
    Ok(out)
}

/// Crops/pads/resizes an interleaved u8 image into `out` (`channels * options.height * options.width` values).
/// When no crop, pad or resize is needed (the common case of images already at the
/// target size), the pixels go straight from `hwc` to `out` in one pass.
///
/// Errors ([`Error::Shape`]) when `hwc` or `out` does not have the stated size.
pub(crate) fn hwc_u8_to_target_into(
    hwc: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    options: &ImageOptions,
    out: &mut [f32],
) -> Result<()> {
    check_sizes(hwc, channels, h, w, options, out.len())?;
    let (window, place) = placement(h, w, options);
    if place.is_none() {
        // SAFETY: `deinterleave` only ever stores initialised values (`MaybeUninit::new`),
        // so `out` stays initialised.
        deinterleave(hwc, channels, w, window, unsafe { as_room(out) });
        return Ok(());
    }
    convert_resized(hwc, channels, w, window, place, options, out);
    Ok(())
}

/// [`hwc_u8_to_target_into`] into uninitialised room, returned initialised: on the identity
/// path the pixels are the first and only write to it (the batch slots of the image
/// pipeline need no zero fill first); otherwise the room is zeroed, then written.
pub(crate) fn hwc_u8_to_target_room<'a>(
    hwc: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    options: &ImageOptions,
    room: &'a mut [MaybeUninit<f32>],
) -> Result<&'a mut [f32]> {
    check_sizes(hwc, channels, h, w, options, room.len())?;
    let (window, place) = placement(h, w, options);
    if place.is_some() {
        let out = fill_room(room, 0.0);
        convert_resized(hwc, channels, w, window, place, options, out);
        return Ok(out);
    }
    deinterleave(hwc, channels, w, window, room);
    // SAFETY: on the identity path the window is the whole `h x w` image and `h x w` is
    // the target size, so `deinterleave` stored all `channels` planes of `h * w` values,
    // i.e. every element of `room` (`check_sizes` proved `room.len() == channels * h * w`).
    Ok(unsafe { &mut *(room as *mut [MaybeUninit<f32>] as *mut [f32]) })
}

/// The shape check of [`hwc_u8_to_target_into`].
fn check_sizes(hwc: &[u8], channels: usize, h: usize, w: usize, options: &ImageOptions, out_len: usize) -> Result<()> {
    let (th, tw) = (options.height, options.width);
    if hwc.len() != h * w * channels || out_len != channels * th * tw {
        return Err(Error::Shape {
            what: "image conversion",
            message: format!(
                "{} source values for {h}x{w}x{channels} and {out_len} output values for {channels}x{th}x{tw}",
                hwc.len(),
            ),
        });
    }
    Ok(())
}

/// Where the target comes from and goes: the source window, and the destination
/// placement `(oy, ox, rh, rw)` of the resized window, or `None` when the window is the
/// whole image at the target size (no crop, pad or resize).
fn placement(h: usize, w: usize, options: &ImageOptions) -> (Window, Option<(usize, usize, usize, usize)>) {
    let (th, tw) = (options.height, options.width);
    let (mut y0, mut x0, mut ch, mut cw) = (0, 0, h, w);
    let (mut oy, mut ox, mut rh, mut rw) = (0, 0, th, tw);
    match options.aspect {
        AspectMode::Stretch => {}
        AspectMode::CropToAspectRatio => {
            // keras smart_resize: int(w * th / tw), clipped to the image.
            ch = ((w as f64 * th as f64 / tw as f64) as usize).clamp(1, h);
            cw = ((h as f64 * tw as f64 / th as f64) as usize).clamp(1, w);
            y0 = (h - ch) / 2;
            x0 = (w - cw) / 2;
        }
        AspectMode::PadToAspectRatio => {
            // tf.image.resize_with_pad: scale by the larger ratio, centre, zero borders.
            let ratio = (w as f64 / tw as f64).max(h as f64 / th as f64);
            rh = ((h as f64 / ratio).floor() as usize).clamp(1, th);
            rw = ((w as f64 / ratio).floor() as usize).clamp(1, tw);
            oy = (th - rh) / 2;
            ox = (tw - rw) / 2;
        }
    }
    let window = Window { y0, x0, height: ch, width: cw };
    let identity = (ch, cw) == (th, tw) && (rh, rw) == (th, tw);
    (window, (!identity).then_some((oy, ox, rh, rw)))
}

/// The crop/pad/resize path: a planar f32 copy of the source window, then resize into
/// `out` (buffers reused per thread). `place` as returned by [`placement`].
fn convert_resized(
    hwc: &[u8],
    channels: usize,
    w: usize,
    window: Window,
    place: Option<(usize, usize, usize, usize)>,
    options: &ImageOptions,
    out: &mut [f32],
) {
    let (th, tw) = (options.height, options.width);
    let (oy, ox, rh, rw) = place.unwrap_or((0, 0, th, tw));
    let (ch, cw) = (window.height, window.width);
    crate::scratch::with_f32(|planes, tmp, resized| {
        let n = channels * ch * cw;
        if planes.len() < n {
            planes.resize(n, 0.0);
        }
        let planes = &mut planes[..n];
        // SAFETY: `deinterleave` only ever stores initialised values, so `planes` stays
        // initialised.
        deinterleave(hwc, channels, w, window, unsafe { as_room(planes) });
        let kind = options.interpolation;
        if (rh, rw) == (th, tw) {
            resize_chw_into(planes, (channels, ch, cw), (rh, rw), kind, out, tmp);
            return;
        }
        resized.resize(channels * rh * rw, 0.0);
        resize_chw_into(planes, (channels, ch, cw), (rh, rw), kind, resized, tmp);
        out.fill(0.0);
        for c in 0..channels {
            for y in 0..rh {
                let src = &resized[c * rh * rw + y * rw..c * rh * rw + (y + 1) * rw];
                let start = c * th * tw + (oy + y) * tw + ox;
                out[start..start + rw].copy_from_slice(src);
            }
        }
    });
}

/// Fills uninitialised room with `value` and returns it initialised (the same helper as
/// wick-nn's `room::fill_room`; wick-data does not depend on wick-nn).
pub(crate) fn fill_room<T: Copy>(room: &mut [MaybeUninit<T>], value: T) -> &mut [T] {
    room.fill(MaybeUninit::new(value));
    // SAFETY: every element of `room` was written just above, and `MaybeUninit<T>` has the
    // size, alignment and layout of `T`, so the same memory read as `[T]` of the same
    // length is initialised and valid; the borrow keeps `room`'s exclusive lifetime.
    unsafe { &mut *(room as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Initialised `f32`s viewed as room that may be written.
///
/// # Safety
/// The caller must only store initialised values through the returned slice (as
/// `deinterleave` does), or the `f32`s would be left uninitialised.
pub(crate) unsafe fn as_room(out: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: same size, alignment and layout; the caller keeps every element initialised.
    unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// A rectangle of the source image: top-left corner and size.
#[derive(Clone, Copy)]
struct Window {
    y0: usize,
    x0: usize,
    height: usize,
    width: usize,
}

/// Interleaved u8 (`width_full` pixels a row, `channels` values a pixel) → planar f32 of
/// the window (`channels x height x width`).
fn deinterleave(hwc: &[u8], channels: usize, width_full: usize, win: Window, planes: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { deinterleave_avx2(hwc, channels, width_full, win, planes) };
        return;
    }
    deinterleave_body(hwc, channels, width_full, win, planes);
}

/// [`deinterleave_body`] compiled for AVX2 (the same conversions, wider vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn deinterleave_avx2(hwc: &[u8], channels: usize, width_full: usize, win: Window, planes: &mut [MaybeUninit<f32>]) {
    deinterleave_body(hwc, channels, width_full, win, planes);
}

#[inline(always)]
fn deinterleave_body(hwc: &[u8], channels: usize, width_full: usize, win: Window, planes: &mut [MaybeUninit<f32>]) {
    let plane = win.height * win.width;
    let row = |y: usize| {
        let start = ((win.y0 + y) * width_full + win.x0) * channels;
        &hwc[start..start + win.width * channels]
    };
    match channels {
        // One pass per pixel row for RGB, writing the three planes together.
        3 => {
            let (r, rest) = planes.split_at_mut(plane);
            let (g, b) = rest.split_at_mut(plane);
            let rows =
                r.chunks_exact_mut(win.width).zip(g.chunks_exact_mut(win.width)).zip(b.chunks_exact_mut(win.width));
            for (y, ((r, g), b)) in rows.enumerate() {
                for (((px, r), g), b) in row(y).chunks_exact(3).zip(r).zip(g).zip(b) {
                    *r = MaybeUninit::new(f32::from(px[0]));
                    *g = MaybeUninit::new(f32::from(px[1]));
                    *b = MaybeUninit::new(f32::from(px[2]));
                }
            }
        }
        _ => {
            for (c, dst) in planes.chunks_exact_mut(plane).enumerate() {
                for (y, drow) in dst.chunks_exact_mut(win.width).enumerate() {
                    drow.iter_mut()
                        .zip(row(y).chunks_exact(channels))
                        .for_each(|(d, px)| *d = MaybeUninit::new(f32::from(px[c])));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deinterleave_matches_a_per_value_copy() {
        let (h, w) = (5, 11);
        let win = Window { y0: 1, x0: 2, height: 3, width: 9 };
        for channels in [1, 2, 3, 4] {
            let hwc: Vec<u8> = (0..h * w * channels).map(|i| (i * 37 % 251) as u8).collect();
            let plane = win.height * win.width;
            let mut want = vec![0f32; channels * plane];
            for c in 0..channels {
                for y in 0..win.height {
                    for x in 0..win.width {
                        want[c * plane + y * win.width + x] =
                            f32::from(hwc[((win.y0 + y) * w + win.x0 + x) * channels + c]);
                    }
                }
            }
            let mut got = vec![MaybeUninit::new(-1f32); want.len()];
            deinterleave(&hwc, channels, w, win, &mut got);
            // SAFETY: every element was initialised to -1 above (and only overwritten).
            let got: Vec<f32> = got.iter().map(|v| unsafe { v.assume_init() }).collect();
            assert_eq!(got, want, "{channels} channels");
            let mut got = vec![MaybeUninit::new(-1f32); want.len()];
            deinterleave_body(&hwc, channels, w, win, &mut got);
            // SAFETY: as above.
            let got: Vec<f32> = got.iter().map(|v| unsafe { v.assume_init() }).collect();
            assert_eq!(got, want, "{channels} channels, portable build");
        }
    }
}
