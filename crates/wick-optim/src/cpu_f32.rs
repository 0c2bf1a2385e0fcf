//! Plain f32 slices of contiguous CPU tensors, for the fused in-place updates
//! ([`crate::rules::adam`]'s CPU path and the decoupled weight decay).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Tensor};

/// Elements per parallel chunk: below this one thread is faster than waking others.
pub(crate) const CHUNK: usize = 1 << 15;

/// Whether `t` is an f32 tensor in contiguous CPU memory (what the fused paths take).
pub(crate) fn is_cpu_f32_contiguous(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous()
}

/// The contiguous f32 slice a layout selects.
pub(crate) fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let (start, end) = match l.contiguous_offsets() {
        Some(o) => o,
        None => candle_core::bail!("{what} is not contiguous"),
    };
    match s {
        CpuStorage::F32(data) => Ok(&data[start..end]),
        other => candle_core::bail!("{what} is {:?}, expected f32", other.dtype()),
    }
}

/// The mutable contiguous f32 slice a layout selects.
pub(crate) fn slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout, what: &str) -> Result<&'a mut [f32]> {
    let (start, end) = match l.contiguous_offsets() {
        Some(o) => o,
        None => candle_core::bail!("{what} is not contiguous"),
    };
    match s {
        CpuStorage::F32(data) => Ok(&mut data[start..end]),
        other => candle_core::bail!("{what} is {:?}, expected f32", other.dtype()),
    }
}

