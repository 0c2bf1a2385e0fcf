//! A bounds-checked f32 matrix product over the `gemm` crate (the one candle-core uses).

/// A read-only strided view of an `rows × cols` f32 matrix: element `(r, c)` is
/// `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major matrix with `cols` columns.
    pub(crate) fn row_major(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub(crate) fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: 1, cs: cols }
    }

    /// Whether every element of a `rows × cols` matrix lies inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1)
            .checked_mul(self.rs)
            .and_then(|a| (cols - 1).checked_mul(self.cs).and_then(|b| a.checked_add(b)));
        matches!(last, Some(i) if i < self.data.len())
            && self.rs <= isize::MAX as usize
            && self.cs <= isize::MAX as usize
    }
}

/// How a product is parallelised.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Par {
    /// On the calling thread only (the caller already runs one product per core).
    Seq,
    /// Over this many rayon threads.
    Threads(usize),
}

/// `c = a · b` (or `c += a · b` when `accumulate`), with `a: m × k`, `b: k × n` and `c` a
/// row-major `m × n` matrix.
///
/// Panics (a bug in this crate, never user input) if a view does not cover its matrix.
#[allow(clippy::too_many_arguments)] // mirrors the BLAS call it wraps
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    accumulate: bool,
    par: Par,
) {
    assert!(a.fits(m, k), "sgemm: lhs view out of bounds");
    assert!(b.fits(k, n), "sgemm: rhs view out of bounds");
    assert!(m.checked_mul(n).is_some_and(|mn| c.len() >= mn), "sgemm: dst too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let parallelism = match par {
        Par::Threads(t) if t > 1 => gemm::Parallelism::Rayon(t),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: `gemm` reads lhs(i, l) at `a + i*rs + l*cs` for i < m, l < k, rhs likewise for
    // l < k, j < n, and reads/writes dst(i, j) at `c + i*n + j` for i < m, j < n; here
    // m, n, k >= 1. The `fits` asserts prove the largest lhs and rhs offsets are inside their
    // slices (computed without overflow) and that both strides fit in isize; the dst assert
    // proves m*n does not overflow and the largest dst offset, (m-1)*n + n-1 = m*n - 1, is
    // inside `c`, so `n <= c.len() <= isize::MAX` fits in isize too. All three pointers come
    // from live slices of f32, so they are non-null, aligned and valid for those offsets for
    // the whole call. `c` is borrowed mutably, so it aliases neither `a` nor `b`, which are
    // only read (shared reads of `&[f32]` from gemm's rayon threads are fine: f32 is Sync).
    // With `read_dst == false` gemm ignores the prior content of dst (alpha is unused), with
    // `true` it computes dst = 1·dst + 1·a·b.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_product_with_transposes() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 - 1.5).collect(); // n × k
        let mut c = vec![1.0f32; m * n];
        sgemm(m, n, k, MatRef::row_major(&a, k), MatRef::transposed(&bt, k), &mut c, true, Par::Seq);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f32>();
                assert!((c[i * n + j] - want).abs() < 1e-5);
            }
        }
    }
}
