//! `Epilogue`, what a conv applies to its output in the same op, and the pool sizes it implies.

use candle_core::{Result, Shape};

use super::geom::Geom;
use crate::pool::{pool_geometry, MaxPool2d, PoolGeom};

/// What a [`Conv2d`](crate::Conv2d) applies to its output inside the same op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epilogue {
    /// `max(y, 0)` after the bias (Keras' `Conv2D(activation="relu")`).
    pub relu: bool,
    /// A max pool after the (activated) convolution.
    pub max_pool: Option<MaxPool2d>,
}

/// The pooling applied by an epilogue to the `[o, oh, ow]` conv output of one image.
pub(super) fn epilogue_pool(g: &Geom, epi: &Epilogue) -> Result<Option<PoolGeom>> {
    match epi.max_pool {
        None => Ok(None),
        Some(p) => pool_geometry("conv2d max-pool epilogue", &Shape::from((g.n, g.o, g.oh, g.ow)), p.kernel, p.stride)
            .map(Some),
    }
}
