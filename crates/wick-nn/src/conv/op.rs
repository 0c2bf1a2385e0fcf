//! `Conv2dOp`, the conv custom op, and its Candle `CustomOp2` / `CustomOp3` entry points.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use candle_nn::Conv2dConfig;

use super::backward::{conv2d_backward, DySource};
use super::epilogue::{epilogue_pool, Epilogue};
use super::forward::conv2d_forward;
use super::geom::Geom;
use crate::util::{contiguous_f32, storage_of, tensor_of, with_f32};

/// The conv2d custom op: arguments `(x, weight)` or `(x, weight, bias)`, then the
/// epilogue; `argmax` is filled by the forward pass when the epilogue pools.
#[derive(Debug)]
pub(super) struct Conv2dOp {
    padding: usize,
    stride: usize,
    dilation: usize,
    groups: usize,
    epilogue: Epilogue,
    argmax: Mutex<Option<Vec<u32>>>,
}

impl Conv2dOp {
    /// The op for `config`, followed by `epilogue`.
    pub(super) fn new(config: &Conv2dConfig, epilogue: Epilogue) -> Self {
        Self {
            padding: config.padding,
            stride: config.stride,
            dilation: config.dilation,
            groups: config.groups,
            epilogue,
            argmax: Mutex::new(None),
        }
    }

    /// The sizes of this op on input shape `x` and weight shape `w`, checked.
    pub(super) fn geometry(&self, x: &Shape, w: &Shape) -> Result<Geom> {
        Geom::new(x, w, self.padding, self.stride, self.dilation, self.groups)
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
        let pg = epilogue_pool(&g, &self.epilogue)?;
        let x = contiguous_f32(s1, l1, "conv2d input")?;
        let w = contiguous_f32(s2, l2, "conv2d weight")?;
        let b = match bias {
            Some((s, l)) => Some(contiguous_f32(s, l, "conv2d bias")?),
            None => None,
        };
        let dtype = s1.dtype();
        if s2.dtype() != dtype || bias.is_some_and(|(s, _)| s.dtype() != dtype) {
            bail!("conv2d: input, weight and bias must have one dtype")
        }
        let (out, arg) = conv2d_forward(&g, &self.epilogue, pg.as_ref(), &x, &w, b.as_deref(), dtype);
        let shape = match &pg {
            Some(pg) => {
                match self.argmax.lock() {
                    Ok(mut slot) => *slot = Some(arg),
                    Err(_) => bail!("conv2d: argmax lock poisoned"),
                }
                Shape::from((g.n, g.o, pg.oh, pg.ow))
            }
            None => Shape::from((g.n, g.o, g.oh, g.ow)),
        };
        Ok((storage_of(out, dtype)?, shape))
    }

    fn bwd_impl(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let need_dx = x.track_op();
        let need_dw = w.track_op();
        let need_db = bias.is_some_and(|b| b.track_op());
        if !(need_dx || need_dw || need_db) {
            return Ok((None, None, None));
        }
        let g = self.geometry(x.shape(), w.shape())?;
        let pg = epilogue_pool(&g, &self.epilogue)?;
        let grad = grad.contiguous()?;
        let slot = match self.argmax.lock() {
            Ok(slot) => slot,
            Err(_) => bail!("conv2d: argmax lock poisoned"),
        };
        let grads = with_f32(x, "conv2d input", |xs| {
            with_f32(w, "conv2d weight", |ws| {
                with_f32(&grad, "conv2d output gradient", |dy| {
                    with_f32(res, "conv2d output", |y| {
                        let src = match (&pg, self.epilogue.relu) {
                            (Some(pg), relu) => match slot.as_ref() {
                                Some(arg) => DySource::Pool { dy, y, arg, pg: *pg, relu },
                                None => bail!("conv2d: backward before forward"),
                            },
                            (None, true) => DySource::Relu { dy, y },
                            (None, false) => DySource::Plain(dy),
                        };
                        Ok(conv2d_backward(&g, xs, ws, &src, need_dx, need_dw, need_db))
                    })
                })
            })
        })?;
        // Each gradient in its argument's dtype (Candle adds it to a zero tensor of that dtype).
        let (dev, dtype) = (x.device(), x.dtype());
        let dx = match grads.dx {
            Some(v) => Some(tensor_of(v, x.shape(), dtype, dev)?),
            None => None,
        };
        let dw = match grads.dw {
            Some(v) => Some(tensor_of(v, w.shape(), dtype, dev)?),
            None => None,
        };
        let db = match grads.db {
            Some(v) => Some(tensor_of(v, g.o, dtype, dev)?),
            None => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "wick-conv2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, None)
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.bwd_impl(x, w, None, res, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "wick-conv2d-bias"
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
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.bwd_impl(x, w, Some(b), res, grad)
    }
}
