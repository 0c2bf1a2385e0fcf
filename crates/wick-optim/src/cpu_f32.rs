//! Plain f32 slices of contiguous CPU tensors, for the fused in-place updates (the CPU
//! paths of the update rules and the decoupled weight decay), and the element-wise
//! in-place passes ([`update1`], [`update2`], [`update3`]) the fused rules are built from.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Storage, Tensor, Var};
use rayon::prelude::*;

/// Elements per parallel chunk: below this one thread is faster than waking others.
pub(crate) const CHUNK: usize = 1 << 15;

/// Whether `t` is an f32 tensor in contiguous CPU memory (what the fused paths take).
pub(crate) fn is_cpu_f32_contiguous(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous()
}

/// Whether a fused update applies: the variable and its slots (`state`, any order) and the
/// gradient are contiguous f32 CPU tensors of one shape, not empty, and no two of the
/// variable and its slots share an allocation (one pass may write one while reading
/// another, see [`update3`]; Candle's own in-place ops refuse aliased operands too).
/// Anything else takes the tensor ops, which also report a shape mismatch.
pub(crate) fn fusable(grad: &Tensor, state: &[&Tensor]) -> bool {
    grad.elem_count() > 0
        && is_cpu_f32_contiguous(grad)
        && state.iter().all(|t| is_cpu_f32_contiguous(t) && t.shape() == grad.shape())
        && distinct_storages(state)
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

/// Runs `body(offset, chunk)` over `dst`: over parallel chunks of [`CHUNK`] elements when
/// `dst` is large, else once over all of it. `offset` is the chunk's start in `dst`, so
/// the body slices its sources the same way.
pub(crate) fn chunked(dst: &mut [f32], body: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if dst.len() >= 2 * CHUNK {
        dst.par_chunks_mut(CHUNK).enumerate().for_each(|(i, d)| body(i * CHUNK, d));
    } else {
        body(0, dst);
    }
}

// In the element loops below, `let op = f;` takes a local copy of the closure: its captured
// scalars then stay in registers (through a reference the compiler reloads them every
// element, and does not vectorize).

/// `dst[i] ← f(dst[i], a[i])` for every `i`, over parallel chunks of [`CHUNK`] when large.
pub(crate) fn zip1(dst: &mut [f32], a: &[f32], f: impl Fn(f32, f32) -> f32 + Copy + Sync + Send) {
    chunked(dst, |o, d| {
        let (op, a) = (f, &a[o..o + d.len()]);
        for (d, &a) in d.iter_mut().zip(a) {
            *d = op(*d, a);
        }
    });
}

/// `dst[i] ← f(dst[i], a[i], b[i])` for every `i` (see [`zip1`]).
pub(crate) fn zip2(dst: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Copy + Sync + Send) {
    chunked(dst, |o, d| {
        let (op, a, b) = (f, &a[o..o + d.len()], &b[o..o + d.len()]);
        for ((d, &a), &b) in d.iter_mut().zip(a).zip(b) {
            *d = op(*d, a, b);
        }
    });
}

/// `dst[i] ← f(dst[i], a[i], b[i], c[i])` for every `i` (see [`zip1`]).
pub(crate) fn zip3(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32, f32) -> f32 + Copy + Sync + Send,
) {
    chunked(dst, |o, d| {
        let n = d.len();
        let (op, a, b, c) = (f, &a[o..o + n], &b[o..o + n], &c[o..o + n]);
        for (((d, &a), &b), &c) in d.iter_mut().zip(a).zip(b).zip(c) {
            *d = op(*d, a, b, c);
        }
    });
}

fn same_len(name: &str, dst: usize, src: &[f32], which: usize) -> Result<()> {
    if src.len() != dst {
        candle_core::bail!("{name}: operand {which} has {} elements, the destination {dst}", src.len());
    }
    Ok(())
}

/// `dst ← f(dst, a)` element-wise, in place: one pass, no allocation.
///
/// All tensors must be contiguous f32 CPU tensors of the same size (else an error).
pub(crate) fn update1(
    dst: &Var,
    a: &Tensor,
    name: &'static str,
    f: impl Fn(f32, f32) -> f32 + Copy + Sync + Send,
) -> Result<()> {
    dst.inplace_op2(a, &Op1 { name, f })
}

/// `dst ← f(dst, a, b)` element-wise, in place (see [`update1`]).
pub(crate) fn update2(
    dst: &Var,
    a: &Tensor,
    b: &Tensor,
    name: &'static str,
    f: impl Fn(f32, f32, f32) -> f32 + Copy + Sync + Send,
) -> Result<()> {
    dst.inplace_op3(a, b, &Op2 { name, f })
}

/// `dst ← f(dst, a, b, c)` element-wise, in place (see [`update1`]).
///
/// Candle's in-place ops take at most two sources, so `c` is read through its storage's
/// read lock, held for the pass. `c` must not share `dst`'s storage (that would deadlock
/// on the lock; it is an error here, and [`shares_storage`] lets callers check first).
pub(crate) fn update3(
    dst: &Var,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    name: &'static str,
    f: impl Fn(f32, f32, f32, f32) -> f32 + Copy + Sync + Send,
) -> Result<()> {
    if shares_storage(dst.as_tensor(), c) {
        candle_core::bail!("{name}: operand 3 shares the destination's storage");
    }
    let (storage, layout) = c.storage_and_layout();
    let c = match &*storage {
        Storage::Cpu(s) => slice(s, layout, name)?,
        _ => candle_core::bail!("{name}: operand 3 is not on the CPU"),
    };
    dst.inplace_op3(a, b, &Op3 { name, c, f })
}

/// The address of the f32 CPU allocation under `t` (read-locked for the look-up only).
fn storage_base(t: &Tensor) -> Option<usize> {
    let (storage, _) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => Some(v.as_ptr() as usize),
        _ => None,
    }
}

/// Whether `a` and `b` are f32 CPU tensors over the same storage (the same allocation).
pub(crate) fn shares_storage(a: &Tensor, b: &Tensor) -> bool {
    matches!((storage_base(a), storage_base(b)), (Some(x), Some(y)) if x == y)
}

/// Whether no two of `ts` (f32 CPU tensors) share a storage: what [`update3`] needs of
/// its destination and third operand. Callers check a variable and all its slots.
pub(crate) fn distinct_storages(ts: &[&Tensor]) -> bool {
    let bases: Vec<Option<usize>> = ts.iter().map(|t| storage_base(t)).collect();
    bases.iter().enumerate().all(|(i, b)| b.is_some() && !bases[..i].contains(b))
}

struct Op1<F> {
    name: &'static str,
    f: F,
}

impl<F: Fn(f32, f32) -> f32 + Copy + Sync + Send> InplaceOp2 for Op1<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let dst = slice_mut(s1, l1, self.name)?;
        let a = slice(s2, l2, self.name)?;
        same_len(self.name, dst.len(), a, 1)?;
        zip1(dst, a, self.f);
        Ok(())
    }
}

struct Op2<F> {
    name: &'static str,
    f: F,
}

impl<F: Fn(f32, f32, f32) -> f32 + Copy + Sync + Send> InplaceOp3 for Op2<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let dst = slice_mut(s1, l1, self.name)?;
        let (a, b) = (slice(s2, l2, self.name)?, slice(s3, l3, self.name)?);
        same_len(self.name, dst.len(), a, 1)?;
        same_len(self.name, dst.len(), b, 2)?;
        zip2(dst, a, b, self.f);
        Ok(())
    }
}

struct Op3<'c, F> {
    name: &'static str,
    c: &'c [f32],
    f: F,
}

impl<F: Fn(f32, f32, f32, f32) -> f32 + Copy + Sync + Send> InplaceOp3 for Op3<'_, F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let dst = slice_mut(s1, l1, self.name)?;
        let (a, b) = (slice(s2, l2, self.name)?, slice(s3, l3, self.name)?);
        same_len(self.name, dst.len(), a, 1)?;
        same_len(self.name, dst.len(), b, 2)?;
        same_len(self.name, dst.len(), self.c, 3)?;
        zip3(dst, a, b, self.c, self.f);
        Ok(())
    }
}

/// Shared fixtures of the tests that check a fused rule against its tensor ops.
#[cfg(test)]
pub(crate) mod testing {
    use super::CHUNK;
    use candle_core::{Device, Result, Tensor, Var};

    use crate::rule::UpdateRule;

    /// Sizes below and above the parallel threshold (the last one ends in a partial chunk).
    pub(crate) const SIZES: [usize; 4] = [1, 7, 1000, 2 * CHUNK + 5];

    /// Deterministic values in roughly [-2, 2), with exact zeros and -0.0 mixed in (one
    /// element in 11 of each, placed by `seed`, so that size 1 also sees both).
    pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match (i as u64 + seed) % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => ((x >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0,
                }
            })
            .collect()
    }

    pub(crate) fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
    }

    /// A path of a rule's update: `(rule, var, grad, slots, lr, t)`.
    pub(crate) type Path<'a, R> = &'a dyn Fn(&R, &Var, &Tensor, &[Var], f64, u64) -> Result<()>;

    /// A rule's `applies`: `(rule, var, grad, slots)`.
    pub(crate) type Applies<'a, R> = &'a dyn Fn(&R, &Var, &Tensor, &[Var]) -> bool;

    /// For every size in [`SIZES`], twin variables and slots (from `make()`'s
    /// `init_slots`) take five steps, one through `fused`, one through `tensor_ops`, with
    /// `begin_step` before each; after every step the variable and every slot agree bit
    /// for bit, and `applies` holds for the fused twin.
    pub(crate) fn assert_fused_equals_tensor_ops<R: UpdateRule>(
        what: &str,
        make: impl Fn() -> R,
        lr: f64,
        applies: Applies<'_, R>,
        fused: Path<'_, R>,
        tensor_ops: Path<'_, R>,
    ) {
        let dev = Device::Cpu;
        for n in SIZES {
            let mut rule = make();
            let init = Tensor::from_vec(values(n, 1), n, &dev).unwrap();
            let twin = || {
                let var = Var::from_tensor(&init).unwrap();
                let slots: Vec<Var> = rule.init_slots(&init).unwrap().into_iter().map(|(_, s)| s).collect();
                (var, slots)
            };
            let ((fv, fs), (tv, ts)) = (twin(), twin());
            for t in 1..=5u64 {
                rule.begin_step(t).unwrap();
                let g = Tensor::from_vec(values(n, 10 + t), n, &dev).unwrap();
                assert!(applies(&rule, &fv, &g, &fs), "{what}: fused path refused, n = {n}");
                fused(&rule, &fv, &g, &fs, lr, t).unwrap();
                tensor_ops(&rule, &tv, &g, &ts, lr, t).unwrap();
                assert_eq!(bits(&fv), bits(&tv), "{what}: variable, n = {n}, step {t}");
                for (i, (f, o)) in fs.iter().zip(&ts).enumerate() {
                    assert_eq!(bits(f), bits(o), "{what}: slot {i}, n = {n}, step {t}");
                }
            }
            assert_ne!(bits(&fv), bits(&init), "{what}: the variable did not move, n = {n}");
        }
    }

    /// `applies` refuses a transposed (non-contiguous) gradient and f64 tensors.
    pub(crate) fn assert_refuses_other_layouts<R: UpdateRule>(rule: &R, applies: Applies<'_, R>) {
        use candle_core::DType;
        let dev = Device::Cpu;
        let var = Var::zeros((4, 3), DType::F32, &dev).unwrap();
        let slots: Vec<Var> = rule.init_slots(&var).unwrap().into_iter().map(|(_, s)| s).collect();
        let g = Tensor::zeros((4, 3), DType::F32, &dev).unwrap();
        assert!(applies(rule, &var, &g, &slots), "a contiguous f32 gradient is fused");
        let gt = Tensor::zeros((3, 4), DType::F32, &dev).unwrap().t().unwrap();
        assert!(!applies(rule, &var, &gt, &slots), "a transposed gradient is not contiguous");
        let v64 = Var::zeros((4, 3), DType::F64, &dev).unwrap();
        let s64: Vec<Var> = rule.init_slots(&v64).unwrap().into_iter().map(|(_, s)| s).collect();
        let g64 = Tensor::zeros((4, 3), DType::F64, &dev).unwrap();
        assert!(!applies(rule, &v64, &g64, &s64), "f64 takes the tensor ops");
    }
}
