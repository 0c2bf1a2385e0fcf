//! Max and average pooling on every other device and dtype (CUDA, bf16, …) from Candle ops
//! whose gradients are the textbook ones, unlike Candle 0.11.1's own pooling backward.
//!
//! Candle's `max_pool2d` backward scales each gradient by (ties)/(kh·kw) — a quarter of the
//! true gradient for a 2×2 pool — and both its pooling backwards use a nearest upsampling
//! that misplaces gradients when the kernel does not divide the input, and refuse
//! overlapping windows. Here the windows are gathered into a trailing axis
//! (`[n, c, oh, ow, kh·kw]`) with `narrow`/`reshape`/`permute` (stride = kernel) or
//! `index_select` (any stride), and reduced with `gather` at the argmax (max: the gradient
//! goes to one maximum per window) or `mean` (average): every op's backward is exact, so the
//! gradients equal the CPU kernels' (max-pool ties may pick another maximum, following the
//! device's argmax).

use candle_core::{DType, Result, Tensor, D};

/// The pooling windows of `x` (`[n, c, h, w]`, already checked against the kernel) as
/// `[n, c, oh, ow, kh·kw]`, each window's elements in row-major order.
fn windows(x: &Tensor, (kh, kw): (usize, usize), (sh, sw): (usize, usize)) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
    if (kh, kw) == (sh, sw) {
        // Non-overlapping: crop to whole windows, then split each spatial axis in two.
        let x = x.narrow(2, 0, oh * kh)?.narrow(3, 0, ow * kw)?;
        let x = x.reshape((n, c, oh, kh, ow, kw))?.permute((0, 1, 2, 4, 3, 5))?;
        return x.reshape((n, c, oh, ow, kh * kw));
    }
    let starts = |k: usize, s: usize, o: usize| -> Result<Tensor> {
        let idx: Vec<u32> = (0..o).map(|i| (k + i * s) as u32).collect();
        Tensor::from_vec(idx, o, x.device())
    };
    let mut parts = Vec::with_capacity(kh * kw);
    for ky in 0..kh {
        let rows = x.index_select(&starts(ky, sh, oh)?, 2)?;
        for kx in 0..kw {
            parts.push(rows.index_select(&starts(kx, sw, ow)?, 3)?);
        }
    }
    Tensor::stack(&parts, 4)
}

/// Max pooling: the value at each window's argmax, picked with `gather` (whose backward
/// scatters the gradient to that one position).
pub(crate) fn max_pool2d(x: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    let w = windows(x, kernel, stride)?.contiguous()?;
    let at = w.argmax_keepdim(D::Minus1)?;
    w.gather(&at, D::Minus1)?.squeeze(D::Minus1)
}

/// Average pooling: the mean of each window (in `f32` for half-precision inputs, so the
/// sum of `kh·kw` values does not lose bits, then back to the input dtype).
pub(crate) fn avg_pool2d(x: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    let w = windows(x, kernel, stride)?;
    match x.dtype() {
        DType::BF16 | DType::F16 => w.to_dtype(DType::F32)?.mean(D::Minus1)?.to_dtype(x.dtype()),
        _ => w.mean(D::Minus1),
    }
}
