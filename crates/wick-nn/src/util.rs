//! Access to the f32 data of CPU storages and tensors, and a vectorisable sum.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor};

/// The elements of a contiguous f32 CPU storage seen through `layout`.
pub(crate) fn contiguous_f32<'a>(s: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        other => bail!("{what}: expected f32, got {:?}", other.dtype()),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) if end <= data.len() => Ok(&data[start..end]),
        _ => bail!("{what}: expected a contiguous tensor, got strides {:?}", layout.stride()),
    }
}

/// Calls `f` with the elements of `t`, which must be a contiguous f32 CPU tensor.
pub(crate) fn with_f32<R>(t: &Tensor, what: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(contiguous_f32(cpu, layout, what)?),
        _ => bail!("{what}: expected a CPU tensor"),
    }
}

/// The sum of `v`, over 16 independent lanes so the compiler vectorises it.
pub(crate) fn sum_f32(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += *x;
        }
    }
    let mut s = 0f32;
    for a in acc {
        s += a;
    }
    for x in rest {
        s += *x;
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn sum_matches_sequential_on_integers() {
        let v: Vec<f32> = (0..1037).map(|i| (i % 13) as f32).collect();
        let want: f32 = v.iter().sum();
        assert_eq!(super::sum_f32(&v), want);
    }
}
