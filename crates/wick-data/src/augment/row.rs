//! What the scalar (`warp.rs`) and AVX2 (`warp_avx2.rs`) warp kernels share: the
//! coordinate limits, the per-row scratch and the warp's fixed plan.

use super::modes::FillMode;

/// Coordinates are clamped to this magnitude before they become indices, so any finite or
/// infinite input maps to a well-defined index without overflow (and fits in `i32`).
pub(super) const COORD_LIMIT: f64 = 1.0e9;

/// A coordinate this close to an integer is taken as that integer, so identity, flips,
/// quarter turns and whole-pixel shifts copy pixels exactly instead of blending 1e-15 of a
/// neighbour.
pub(super) const SNAP: f64 = 1.0e-6;

/// Per-row scratch: the input cell and fraction of every pixel of the row (fractions
/// unused for nearest), and the border pixels (a tap outside the image), in order.
pub(super) struct RowScratch {
    pub(super) ix: Vec<i32>,
    pub(super) iy: Vec<i32>,
    pub(super) fx: Vec<f32>,
    pub(super) fy: Vec<f32>,
    pub(super) border: Vec<usize>,
}

impl RowScratch {
    pub(super) fn new(width: usize) -> Self {
        Self {
            ix: vec![0; width],
            iy: vec![0; width],
            fx: vec![0.0; width],
            fy: vec![0.0; width],
            border: Vec::with_capacity(width),
        }
    }
}

/// The warp's fixed parameters (most of them read by the AVX2 loops only).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) struct Plan<'a> {
    pub(super) src: &'a [f32],
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) matrix: [f64; 9],
    pub(super) affine: bool,
    pub(super) fill: FillMode,
    /// What `fill_weight · fill` adds where the fill weight is zero (it can be −0.0).
    pub(super) zero_fill: f32,
}
