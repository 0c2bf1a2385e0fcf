//! Bucketing: many tensors reduced in a few large collectives, on host buffers.

use std::ops::Range;

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// The largest bucket, in bytes: PyTorch DDP's `bucket_cap_mb = 25`. A tensor larger than
/// this is a bucket of its own.
pub const BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// Splits tensors of `sizes` bytes, in order, into consecutive runs of at most `limit`
/// bytes (a single larger tensor gets a run of its own).
pub fn buckets(sizes: &[usize], limit: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &s) in sizes.iter().enumerate() {
        if i > start && bytes + s > limit {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += s;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// A host collective over `tensors` in buckets: each bucket's values are flattened into
/// one `f64` buffer (for `f64` tensors) or `f32` buffer (every other dtype), handed to
/// `on_f64` / `on_f32` (an all-reduce or a broadcast), and cut back into tensors of the
/// original shapes, dtypes and devices.
pub(crate) fn host_collective(
    tensors: &[Tensor],
    name: &'static str,
    on_f32: &mut dyn FnMut(&mut [f32]) -> Result<()>,
    on_f64: &mut dyn FnMut(&mut [f64]) -> Result<()>,
) -> Result<Vec<Tensor>> {
    let mut out: Vec<Option<Tensor>> = vec![None; tensors.len()];
    // f64 tensors keep their precision; every other dtype travels as f32.
    let (wide, narrow): (Vec<usize>, Vec<usize>) = (0..tensors.len()).partition(|&i| tensors[i].dtype() == DType::F64);
    for (group, dtype, width) in [(wide, DType::F64, 8), (narrow, DType::F32, 4)] {
        let sizes: Vec<usize> = group.iter().map(|&i| tensors[i].elem_count() * width).collect();
        for range in buckets(&sizes, BUCKET_BYTES) {
            let members = &group[range];
            let flat: Vec<Tensor> = members
                .iter()
                .map(|&i| tensors[i].flatten_all().and_then(|t| t.to_dtype(dtype)))
                .collect::<candle_core::Result<_>>()
                .map_err(Error::tensor(name))?;
            let joined = Tensor::cat(&flat, 0).map_err(Error::tensor(name))?;
            let reduced = if dtype == DType::F64 {
                let mut buf = joined.to_vec1::<f64>().map_err(Error::tensor(name))?;
                on_f64(&mut buf)?;
                Tensor::from_vec(buf, joined.elem_count(), &candle_core::Device::Cpu)
            } else {
                let mut buf = joined.to_vec1::<f32>().map_err(Error::tensor(name))?;
                on_f32(&mut buf)?;
                Tensor::from_vec(buf, joined.elem_count(), &candle_core::Device::Cpu)
            }
            .map_err(Error::tensor(name))?;
            let mut offset = 0;
            for &i in members {
                let t = &tensors[i];
                let n = t.elem_count();
                let piece = reduced
                    .narrow(0, offset, n)
                    .and_then(|p| p.reshape(t.shape()))
                    .and_then(|p| p.to_dtype(t.dtype()))
                    .and_then(|p| p.to_device(t.device()))
                    .map_err(Error::tensor(name))?;
                offset += n;
                out[i] = Some(piece);
            }
        }
    }
    // Every index is in exactly one bucket, so no slot is left empty.
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_respect_the_limit_and_keep_order() {
        assert_eq!(buckets(&[10, 10, 10], 25), vec![0..2, 2..3]);
        assert_eq!(buckets(&[30, 5, 5], 25), vec![0..1, 1..3]);
        assert_eq!(buckets(&[], 25), Vec::<Range<usize>>::new());
        assert_eq!(buckets(&[25, 25], 25), vec![0..1, 1..2]);
    }
}
