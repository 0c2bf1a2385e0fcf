//! Access to the data of CPU storages and tensors as f32 (bf16 and f16 widened exactly, results
//! rounded back), and a vectorisable sum.

use std::borrow::Cow;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, Device, Layout, Result, Shape, Storage, Tensor};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;

/// Elements per parallel task of a dtype conversion.
const CONVERT_CHUNK: usize = 1 << 15;

/// Whether wick-nn's CPU ops take tensors of `dtype`: f32, and bf16 / f16, which they widen to
/// f32 (exactly), compute in f32 and round back (see the crate docs, "Mixed precision").
pub(crate) fn cpu_op_dtype(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::BF16 | DType::F16)
}

/// Whether `t` is a CPU tensor of a dtype wick-nn's CPU ops take.
pub(crate) fn is_cpu_op_tensor(t: &Tensor) -> bool {
    t.device().is_cpu() && cpu_op_dtype(t.dtype())
}

fn slice<'a, T>(data: &'a [T], layout: &Layout, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) if end <= data.len() => Ok(&data[start..end]),
        _ => bail!("{what}: expected a contiguous tensor, got strides {:?}", layout.stride()),
    }
}

/// `v` converted chunk by chunk in parallel by `f(src, dst)`.
fn convert<T: Copy + Send + Sync, U: Copy + Default + Send + Sync>(
    v: &[T],
    f: impl Fn(&[T], &mut [U]) + Sync,
) -> Vec<U> {
    let mut out = vec![U::default(); v.len()];
    out.par_chunks_mut(CONVERT_CHUNK).zip(v.par_chunks(CONVERT_CHUNK)).for_each(|(o, v)| f(v, o));
    out
}

fn widen_bf16(v: &[bf16]) -> Vec<f32> {
    convert(v, |v, o: &mut [f32]| o.iter_mut().zip(v).for_each(|(o, x)| *o = x.to_f32()))
}

fn narrow_bf16(v: &[f32]) -> Vec<bf16> {
    convert(v, |v, o: &mut [bf16]| o.iter_mut().zip(v).for_each(|(o, &x)| *o = bf16_of(x)))
}

/// f16 through `half`'s slice conversions, which use the CPU's F16C instructions when it has
/// them (detected once per slice, not per element).
fn widen_f16(v: &[f16]) -> Vec<f32> {
    convert(v, |v, o| v.convert_to_f32_slice(o))
}

fn narrow_f16(v: &[f32]) -> Vec<f16> {
    convert(v, |v, o: &mut [f16]| o.convert_from_f32_slice(v))
}

/// The elements of a contiguous CPU storage seen through `layout`, as f32: borrowed for f32,
/// widened (exactly) for bf16 and f16.
pub(crate) fn contiguous_f32<'a>(s: &'a CpuStorage, layout: &Layout, what: &str) -> Result<Cow<'a, [f32]>> {
    Ok(match s {
        CpuStorage::F32(v) => Cow::Borrowed(slice(v, layout, what)?),
        CpuStorage::BF16(v) => Cow::Owned(widen_bf16(slice(v, layout, what)?)),
        CpuStorage::F16(v) => Cow::Owned(widen_f16(slice(v, layout, what)?)),
        other => bail!("{what}: expected f32, bf16 or f16, got {:?}", other.dtype()),
    })
}

/// Calls `f` with the elements of `t` as f32; `t` must be a contiguous CPU tensor of f32, bf16
/// or f16.
pub(crate) fn with_f32<R>(t: &Tensor, what: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(&contiguous_f32(cpu, layout, what)?),
        _ => bail!("{what}: expected a CPU tensor"),
    }
}

/// `x` rounded to bf16, to nearest with ties to even (NaN stays a quiet NaN): the same bits
/// as `half::bf16::from_f32`, written so that the compiler vectorises it.
#[inline(always)]
fn bf16_of(x: f32) -> bf16 {
    let b = x.to_bits();
    let nan = b & 0x7FFF_FFFF > 0x7F80_0000;
    let rounded = b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16;
    bf16::from_bits(if nan { (b >> 16) | 0x40 } else { rounded } as u16)
}

/// `v` as a CPU storage of `dtype` (f32 as is; bf16 and f16 rounded to nearest, ties to even,
/// as Candle's `to_dtype`).
pub(crate) fn storage_of(v: Vec<f32>, dtype: DType) -> Result<CpuStorage> {
    Ok(match dtype {
        DType::F32 => CpuStorage::F32(v),
        DType::BF16 => CpuStorage::BF16(narrow_bf16(&v)),
        DType::F16 => CpuStorage::F16(narrow_f16(&v)),
        other => bail!("wick-nn CPU op: cannot produce {other:?}"),
    })
}

/// `v` as a tensor of `shape` and `dtype` on `device` (see [`storage_of`] for the rounding).
pub(crate) fn tensor_of(v: Vec<f32>, shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
    match dtype {
        DType::F32 => Tensor::from_vec(v, shape, device),
        DType::BF16 => Tensor::from_vec(narrow_bf16(&v), shape, device),
        DType::F16 => Tensor::from_vec(narrow_f16(&v), shape, device),
        other => bail!("wick-nn CPU op: cannot produce {other:?}"),
    }
}

/// Rounds `v` in place to the precision of `dtype` (nothing to do for f32), so that values
/// an op keeps in f32 between two stages are what a `dtype` tensor would hold.
pub(crate) fn round_to(dtype: DType, v: &mut [f32]) {
    match dtype {
        DType::BF16 => v.iter_mut().for_each(|x| *x = bf16_of(*x).to_f32()),
        DType::F16 => {
            let mut buf = [f16::ZERO; 256];
            for chunk in v.chunks_mut(buf.len()) {
                let b = &mut buf[..chunk.len()];
                b.convert_from_f32_slice(chunk);
                b.convert_to_f32_slice(chunk);
            }
        }
        _ => {}
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

    #[test]
    fn bf16_rounding_matches_half_bit_for_bit() {
        use half::bf16;
        let mut bits: Vec<u32> = vec![
            0,
            0x8000_0000,
            0x7F80_0000,
            0xFF80_0000,
            0x7FC0_0000,
            0x7F80_0001,
            0xFF80_8001,
            0x7F7F_FFFF,
            0x0000_8000,
            0x0000_8001,
            0x3F80_8000,
            0x3F81_8000,
            0x3F80_7FFF,
            0x0001_0000,
        ];
        let mut x = 0x1234_5678u32;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bits.push(x);
        }
        for b in bits {
            let v = f32::from_bits(b);
            assert_eq!(super::bf16_of(v).to_bits(), bf16::from_f32(v).to_bits(), "{b:#010x}");
        }
    }

    #[test]
    fn half_storages_widen_exactly_and_round_to_nearest() {
        use super::*;
        let v = [1.0f32, 1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0, -3.5e-3, 65520.0];
        let b = storage_of(v.to_vec(), DType::BF16).unwrap();
        let layout = Layout::contiguous(v.len());
        let back = contiguous_f32(&b, &layout, "test").unwrap();
        let want: Vec<f32> = v.iter().map(|&x| bf16::from_f32(x).to_f32()).collect();
        assert_eq!(&*back, &want[..]);
        // Ties to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
        assert_eq!(back[1], 1.0);
        assert_eq!(back[2], 1.0 + 4.0 / 256.0);
        let h = storage_of(v.to_vec(), DType::F16).unwrap();
        let back = contiguous_f32(&h, &layout, "test").unwrap();
        assert!(back[4].is_infinite(), "65520 overflows f16: {}", back[4]);
        let mut r = v.to_vec();
        round_to(DType::BF16, &mut r);
        assert_eq!(r, want);
        assert!(contiguous_f32(&CpuStorage::U8(vec![1]), &Layout::contiguous(1), "u8").is_err());
    }
}
