//! `DepthwiseOp`, the depthwise conv custom op, and its Candle `CustomOp2` / `CustomOp3` entry points.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::geom::{DepthwisePadding, DwGeom};
use super::passes::{backward, forward, Needs};
use crate::util::{contiguous_f32, storage_of, tensor_of, with_f32};

/// The depthwise conv custom op: arguments `(x, weight)` or `(x, weight, bias)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct DepthwiseOp {
    pub(super) stride: usize,
    pub(super) padding: DepthwisePadding,
}

impl DepthwiseOp {
    /// The sizes of this op on input shape `x` and weight shape `w`, checked.
    pub(super) fn geometry(&self, x: &Shape, w: &Shape) -> Result<DwGeom> {
        DwGeom::new(x, w, self.stride, &self.padding)
    }

    fn fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry(l1.shape(), l2.shape())?;
        let dtype = s1.dtype();
        if s2.dtype() != dtype || bias.is_some_and(|(s, _)| s.dtype() != dtype) {
            bail!("depthwise_conv2d: input, weight and bias must have one dtype")
        }
        let x = contiguous_f32(s1, l1, "depthwise_conv2d input")?;
        let w = contiguous_f32(s2, l2, "depthwise_conv2d weight")?;
        let b = match bias {
            Some((s, l)) => {
                if l.shape().elem_count() != g.c {
                    bail!("depthwise_conv2d: bias {:?} does not match {} channels", l.shape().dims(), g.c)
                }
                Some(contiguous_f32(s, l, "depthwise_conv2d bias")?)
            }
            None => None,
        };
        let out = forward(&g, &x, &w, b.as_deref());
        Ok((storage_of(out, dtype)?, g.out_shape()))
    }

    fn bwd_impl(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let need_dx = x.track_op();
        let need_dw = w.track_op();
        let need_db = bias.is_some_and(|b| b.track_op());
        if !(need_dx || need_dw || need_db) {
            return Ok((None, None, None));
        }
        let g = self.geometry(x.shape(), w.shape())?;
        let grad = grad.contiguous()?;
        let grads = with_f32(x, "depthwise_conv2d input", |xs| {
            with_f32(w, "depthwise_conv2d weight", |ws| {
                with_f32(&grad, "depthwise_conv2d output gradient", |dy| {
                    Ok(backward(&g, xs, ws, dy, Needs { dx: need_dx, dw: need_dw, db: need_db }))
                })
            })
        })?;
        // Each gradient in its argument's dtype (Candle adds it to a zero tensor of that dtype).
        let (dev, dtype) = (x.device(), x.dtype());
        let dx = grads.dx.map(|v| tensor_of(v, x.shape(), dtype, dev)).transpose()?;
        let dw = grads.dw.map(|v| tensor_of(v, w.shape(), dtype, dev)).transpose()?;
        let db = match (grads.db, bias) {
            (Some(v), Some(b)) => Some(tensor_of(v, b.shape(), dtype, dev)?),
            _ => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for DepthwiseOp {
    fn name(&self) -> &'static str {
        "wick-depthwise-conv2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, None)
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.bwd_impl(x, w, None, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for DepthwiseOp {
    fn name(&self) -> &'static str {
        "wick-depthwise-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.bwd_impl(x, w, Some(b), grad)
    }
}
