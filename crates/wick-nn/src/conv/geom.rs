//! `Geom`, the checked sizes of one convolution, and `plan`, how its batch is split over threads.

use candle_core::{bail, Result, Shape};

use crate::sgemm::Par;

/// Every size the kernels need, checked once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) groups: usize,
    pub(super) stride: usize,
    pub(super) pad: usize,
    pub(super) dil: usize,
}

impl Geom {
    /// Checks the shapes `x` `[n, c, h, w]` and `w` `[o, c / groups, kh, kw]` against the
    /// padding, stride, dilation and groups, and derives the output size.
    pub(super) fn new(
        x: &Shape,
        w: &Shape,
        padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Geom> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, cg, kh, kw) = w.dims4()?;
        let (pad, dil) = (padding, dilation);
        if groups == 0 || stride == 0 || dil == 0 {
            bail!("conv2d: groups ({groups}), stride ({stride}) and dilation ({dil}) must be >= 1")
        }
        if c != cg * groups {
            bail!("conv2d: input has {c} channels, weight expects {cg} x {groups} groups")
        }
        if o % groups != 0 {
            bail!("conv2d: {o} output channels do not divide into {groups} groups")
        }
        if kh == 0 || kw == 0 {
            bail!("conv2d: empty kernel {kh}x{kw}")
        }
        let span_h = dil * (kh - 1) + 1;
        let span_w = dil * (kw - 1) + 1;
        if h + 2 * pad < span_h || wd + 2 * pad < span_w {
            bail!("conv2d: input {h}x{wd} with padding {pad} is smaller than the dilated kernel {span_h}x{span_w}")
        }
        let oh = (h + 2 * pad - span_h) / stride + 1;
        let ow = (wd + 2 * pad - span_w) / stride + 1;
        Ok(Geom { n, c, h, w: wd, o, kh, kw, oh, ow, groups, stride, pad, dil })
    }

    /// Input channels per group.
    pub(super) fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Output channels per group.
    pub(super) fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of the im2col matrix: `cg * kh * kw`.
    pub(super) fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Output pixels per plane.
    pub(super) fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// Row pitch of the `[rows, p]` matrices the gemms see (im2col, the conv output before
    /// its pool, the output gradient, dcol): `p` rounded up to a multiple of 16 f32 (one
    /// AVX-512 vector), so that gemm's swapped left operand has whole vectors per column
    /// and gemm skips its copy ("prepack") of that operand. The pad columns are zero in
    /// every operand that a product contracts over. Small planes (`p < 128`) and pointwise
    /// convs, whose input block is used as it is, keep `p`.
    pub(super) fn pitch(&self) -> usize {
        let p = self.p();
        if self.is_pointwise() || p < 128 {
            p
        } else {
            p.next_multiple_of(16)
        }
    }
    /// A 1x1, stride-1, unpadded conv: the input plane block already is the im2col matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
}

/// How the batch is spread over threads: whole images per task when there are enough of
/// them (each gemm then runs on one core), otherwise one image at a time with a parallel
/// gemm. Returns the number of images per task and the gemm parallelism.
///
/// Backward tasks each produce a partial weight / bias gradient that is summed in task
/// order, so their size depends only on the batch size (never on the thread count or on
/// scheduling): the gradients are the same bytes on every run.
pub(super) fn plan(n: usize, backward: bool) -> (usize, Par) {
    let threads = candle_core::utils::get_num_threads().max(1);
    if threads > 1 && n >= threads {
        let chunk = if backward { n.div_ceil(8) } else { 1 };
        (chunk, Par::Seq)
    } else {
        (n.max(1), Par::Threads(threads))
    }
}
