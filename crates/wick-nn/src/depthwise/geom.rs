//! `DepthwisePadding`, its resolution per input size, and `DwGeom`, the checked sizes of one
//! depthwise convolution and of the phase planes its kernels work on.

use candle_core::{bail, Result, Shape};

/// Padding of a [`DepthwiseConv2d`](super::DepthwiseConv2d).
///
/// [`Same`](Self::Same) and [`Valid`](Self::Valid) follow TensorFlow / Keras and are resolved
/// for each input size at call time; [`Explicit`](Self::Explicit) pads each side by a fixed
/// amount (PyTorch's symmetric padding is `Explicit` with equal sides).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DepthwisePadding {
    /// No padding: only windows that fit inside the input (`out = (in - k) / stride + 1`).
    #[default]
    Valid,
    /// Keras' `padding="same"`: `out = ceil(in / stride)`, padded by
    /// `total = max((out - 1) * stride + k - in, 0)` zeros per dimension, `total / 2` before
    /// (top, left) and the rest after (bottom, right).
    Same,
    /// Fixed zeros on each side.
    Explicit {
        /// Rows of zeros above the input.
        top: usize,
        /// Rows of zeros below the input.
        bottom: usize,
        /// Columns of zeros left of the input.
        left: usize,
        /// Columns of zeros right of the input.
        right: usize,
    },
}

impl DepthwisePadding {
    /// The same padding on all four sides.
    pub fn symmetric(p: usize) -> Self {
        Self::Explicit { top: p, bottom: p, left: p, right: p }
    }

    /// The zeros added `[top, bottom, left, right]` for an `h`x`w` input, a `kh`x`kw` kernel
    /// and `stride`.
    pub fn resolve(&self, h: usize, w: usize, kh: usize, kw: usize, stride: usize) -> [usize; 4] {
        match *self {
            Self::Valid => [0; 4],
            Self::Explicit { top, bottom, left, right } => [top, bottom, left, right],
            Self::Same => {
                let total = |n: usize, k: usize| {
                    let out = n.div_ceil(stride.max(1));
                    (out.saturating_sub(1) * stride + k).saturating_sub(n)
                };
                let (th, tw) = (total(h, kh), total(w, kw));
                [th / 2, th - th / 2, tw / 2, tw - tw / 2]
            }
        }
    }
}

/// Every size the depthwise kernels need, checked once.
///
/// The kernels see the padded input plane (only its `ph` x `pw` top-left part is ever read)
/// split into `stride * stride` phase planes: phase `(a, b)` holds the padded pixels
/// `(stride * i + a, stride * j + b)` at `i * qw + j`. A tap `(ki, kj)` of the kernel then
/// reads phase `(ki % s, kj % s)` at the constant offset `(ki / s) * qw + kj / s` from the
/// output's index `oy * qw + ox`, so every tap is a unit-stride pass for any stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DwGeom {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) s: usize,
    /// Zeros above and left of the input.
    pub(super) pt: usize,
    pub(super) pl: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    /// The part of the padded plane the windows cover: `(oh - 1) * s + kh` x `(ow - 1) * s + kw`.
    pub(super) ph: usize,
    pub(super) pw: usize,
    /// Rows and row length of each phase plane.
    pub(super) qh: usize,
    pub(super) qw: usize,
}

impl DwGeom {
    /// Checks input `x` `[n, c, h, w]` and weight `[c, 1, kh, kw]` against `stride` and
    /// `padding`, and derives the output size. Errors name both shapes.
    pub(super) fn new(x: &Shape, weight: &Shape, stride: usize, padding: &DepthwisePadding) -> Result<DwGeom> {
        let Ok((n, c, h, w)) = x.dims4() else {
            bail!("depthwise_conv2d: input {:?} must be NCHW (rank 4), weight is {:?}", x.dims(), weight.dims())
        };
        let Ok((wc, one, kh, kw)) = weight.dims4() else {
            bail!("depthwise_conv2d: weight {:?} must be [channels, 1, kh, kw], input is {:?}", weight.dims(), x.dims())
        };
        if wc != c || one != 1 {
            bail!(
                "depthwise_conv2d: weight {:?} does not match input {:?}: expected [{c}, 1, kh, kw]",
                weight.dims(),
                x.dims()
            )
        }
        if stride == 0 || kh == 0 || kw == 0 {
            bail!("depthwise_conv2d: stride ({stride}) and kernel {kh}x{kw} (weight {:?}) must be >= 1", weight.dims())
        }
        let [pt, pb, pl, pr] = padding.resolve(h, w, kh, kw, stride);
        if h + pt + pb < kh || w + pl + pr < kw {
            bail!(
                "depthwise_conv2d: input {:?} padded by [{pt}, {pb}, {pl}, {pr}] (top, bottom, left, right) \
                 is smaller than the kernel {kh}x{kw}",
                x.dims()
            )
        }
        let oh = (h + pt + pb - kh) / stride + 1;
        let ow = (w + pl + pr - kw) / stride + 1;
        let ph = (oh - 1) * stride + kh;
        let pw = (ow - 1) * stride + kw;
        Ok(DwGeom {
            n,
            c,
            h,
            w,
            kh,
            kw,
            s: stride,
            pt,
            pl,
            oh,
            ow,
            ph,
            pw,
            qh: ph.div_ceil(stride),
            qw: pw.div_ceil(stride),
        })
    }

    /// Kernel taps per channel.
    pub(super) fn taps(&self) -> usize {
        self.kh * self.kw
    }

    /// Number of phase planes.
    pub(super) fn phases(&self) -> usize {
        self.s * self.s
    }

    /// Elements of the output laid out in rows of `qw` (valid columns `0..ow`).
    pub(super) fn wide_len(&self) -> usize {
        self.oh * self.qw
    }

    /// The largest offset of a tap inside its phase plane.
    pub(super) fn max_offset(&self) -> usize {
        ((self.kh - 1) / self.s) * self.qw + (self.kw - 1) / self.s
    }

    /// The offset of tap `(ki, kj)` inside its phase plane.
    pub(super) fn offset(&self, ki: usize, kj: usize) -> usize {
        (ki / self.s) * self.qw + kj / self.s
    }

    /// The phase plane tap `(ki, kj)` reads.
    pub(super) fn phase(&self, ki: usize, kj: usize) -> usize {
        (ki % self.s) * self.s + kj % self.s
    }

    /// The output shape `[n, c, oh, ow]`.
    pub(super) fn out_shape(&self) -> Shape {
        Shape::from((self.n, self.c, self.oh, self.ow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        let same = DepthwisePadding::Same;
        // 64 -> 64, k3 s1: one zero each side.
        assert_eq!(same.resolve(64, 64, 3, 3, 1), [1, 1, 1, 1]);
        // 64 -> 32, k3 s2: total 1, all after.
        assert_eq!(same.resolve(64, 64, 3, 3, 2), [0, 1, 0, 1]);
        // 32 -> 16, k5 s2: total 3, one before, two after.
        assert_eq!(same.resolve(32, 32, 5, 5, 2), [1, 2, 1, 2]);
        // 7 -> 4, k3 s2: total 2.
        assert_eq!(same.resolve(7, 7, 3, 3, 2), [1, 1, 1, 1]);
        // 4x5, k5 s1.
        assert_eq!(same.resolve(4, 5, 5, 5, 1), [2, 2, 2, 2]);
    }

    #[test]
    fn geometry_of_a_strided_same_conv() -> Result<()> {
        let g = DwGeom::new(&Shape::from((2, 3, 9, 8)), &Shape::from((3, 1, 5, 5)), 2, &DepthwisePadding::Same)?;
        assert_eq!((g.oh, g.ow), (5, 4));
        assert_eq!((g.ph, g.pw), (13, 11));
        assert_eq!((g.qh, g.qw), (7, 6));
        assert_eq!(g.max_offset(), 2 * 6 + 2);
        Ok(())
    }
}
