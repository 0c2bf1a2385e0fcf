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
    assert!(m.checked_mul(n).is_some_and(|mn| c.len() >= mn), "sgemm: dst too small");
    // SAFETY: `c` is a live, exclusively borrowed slice of at least m * n f32 (checked just
    // above), so `c + i*n + j` for i < m, j < n is in bounds, initialised and touched by
    // nothing else during the call.
    unsafe { sgemm_ptr(m, n, k, a, b, c.as_mut_ptr(), accumulate, par) }
}

/// `a · b` (`a: m × k`, `b: k × n`) as a new row-major `m × n` buffer: what
/// `let mut c = vec![0.0; m * n]; sgemm(.., &mut c, false, ..)` gives, without first
/// zeroing `c` (gemm overwrites every element when it does not accumulate). Saves a
/// memset of the whole output, which the calling (Candle) thread would run alone.
///
/// Panics (a bug in this crate, never user input) if a view does not cover its matrix.
pub(crate) fn sgemm_new(m: usize, n: usize, k: usize, a: MatRef<'_>, b: MatRef<'_>, par: Par) -> Vec<f32> {
    let len = m.checked_mul(n).expect("sgemm_new: m * n overflows");
    let mut c = Vec::with_capacity(len);
    // SAFETY: `c` owns room for `len` = m * n f32 that nothing else can reach, so
    // `c + i*n + j` for i < m, j < n is valid for writes (reads need initialised data,
    // and with `accumulate == false` `sgemm_ptr` never reads dst: it fills it when k == 0
    // and otherwise lets gemm write dst = a·b without reading it).
    unsafe { sgemm_ptr(m, n, k, a, b, c.as_mut_ptr(), false, par) };
    // SAFETY: `sgemm_ptr` returned normally (a panic would have unwound past this), and
    // with `accumulate == false` it writes every element of the m × n row-major dst, i.e.
    // all `len` elements of the room reserved above.
    unsafe { c.set_len(len) };
    c
}

/// [`sgemm`] into the m × n row-major matrix (row stride n) at `c`.
///
/// # Safety
/// `c + i*n + j` for i < m, j < n must be valid for writes of f32 that nothing else
/// accesses during the call, and, when `accumulate`, initialised (with `accumulate ==
/// false` dst is only written, never read).
#[allow(clippy::too_many_arguments)] // mirrors the BLAS call it wraps
unsafe fn sgemm_ptr(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: *mut f32,
    accumulate: bool,
    par: Par,
) {
    assert!(a.fits(m, k), "sgemm: lhs view out of bounds");
    assert!(b.fits(k, n), "sgemm: rhs view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m * n {
                // SAFETY: i < m*n: in bounds of dst (caller's contract).
                unsafe { c.add(i).write(0.0) };
            }
        }
        return;
    }
    match par {
        // gemm's own threading is slow when `b` is stored transposed (its columns
        // contiguous, as a `[out, in]` weight read as `wᵀ`): gemm then copies ("packs") the
        // whole of `b` on every thread. Measured at the benchmark CNN's first Dense layer
        // (32 × 128 × 12544): 26 GF/s with gemm's 2 threads, 46 GF/s on one, 78 GF/s as
        // two one-thread products over halves of the columns. So split the columns here.
        Par::Threads(t) if t > 1 && b.rs == 1 && b.cs != 1 && n >= 32 * t => {
            let block = n.div_ceil(t).next_multiple_of(16);
            let dst = DstPtr(c);
            rayon::scope(|s| {
                for j0 in (0..n).step_by(block) {
                    let nb = block.min(n - j0);
                    let bj = MatRef { data: &b.data[j0 * b.cs..], rs: b.rs, cs: b.cs };
                    s.spawn(move |_| {
                        let dst = dst;
                        // SAFETY: column block [j0, j0 + nb) of the m × n row-major dst:
                        // the blocks of the spawned tasks are disjoint, so no element is
                        // written by two tasks, and the caller keeps dst to this call until
                        // the scope has joined every task. `bj` covers rows < k and columns
                        // < nb of the block (a sub-view of `b`, which fits k × n). Offsets
                        // j0 + i*n + j < m*n are in dst (caller's contract).
                        unsafe { gemm_raw(m, nb, k, a, bj, dst.0.add(j0), n, accumulate, gemm::Parallelism::None) }
                    });
                }
            });
        }
        _ => {
            let parallelism = match par {
                Par::Threads(t) if t > 1 => gemm::Parallelism::Rayon(t),
                _ => gemm::Parallelism::None,
            };
            // SAFETY: the asserts above prove that `a` and `b` cover their m × k and k × n
            // views, and the caller that dst is the m × n row-major matrix (row stride n).
            unsafe { gemm_raw(m, n, k, a, b, c, n, accumulate, parallelism) }
        }
    }
}

/// The dst pointer, sent to the tasks that write disjoint blocks of it.
#[derive(Clone, Copy)]
struct DstPtr(*mut f32);
// SAFETY: each task writes only its own column block of the dst (see `sgemm`), and the
// scope that spawns them joins before the dst borrow ends.
unsafe impl Send for DstPtr {}
// SAFETY: the scope's closure (which holds the pointer by reference while it spawns) only
// copies it into the tasks; they write disjoint elements, as for `Send`.
unsafe impl Sync for DstPtr {}

/// `dst = a · b` (or `+=`), `dst` an m × n matrix with row stride `ldc` and unit column
/// stride, on gemm's kernels.
///
/// # Safety
/// `a` must cover its m × k view and `b` its k × n view (`MatRef::fits`), m, n, k >= 1,
/// and `dst + i*ldc + j` for i < m, j < n must be valid for writes of f32 that nothing
/// else accesses during the call, and initialised when `accumulate` (otherwise gemm only
/// writes dst, see below).
#[allow(clippy::too_many_arguments)] // mirrors the BLAS call it wraps
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    dst: *mut f32,
    ldc: usize,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: `gemm` reads lhs(i, l) at `a + i*rs + l*cs` for i < m, l < k, rhs likewise for
    // l < k, j < n, and reads/writes dst(i, j) at `dst + i*ldc + j` for i < m, j < n. The
    // caller guarantees that these offsets are in bounds of live f32 data (the views come
    // from slices, so their pointers are non-null and aligned, and strides of a fitting
    // view fit in isize), and that no one else touches that part of dst meanwhile; `a` and
    // `b` are only read (shared reads from gemm's rayon threads are fine: f32 is Sync).
    // With `read_dst == false` gemm ignores the prior content of dst (alpha is unused), with
    // `true` it computes dst = 1·dst + 1·a·b.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ldc as isize,
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

    #[test]
    fn column_split_for_a_transposed_rhs_matches_the_naive_product() {
        // n = 100 over 2 or 3 threads: blocks of 64 / 48 columns, the last one shorter.
        let (m, n, k) = (3, 100, 37);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i % 11) as f32 * 0.25).collect(); // n × k
        for threads in [2, 3] {
            for accumulate in [false, true] {
                let mut c = vec![2.0f32; m * n];
                let (av, bv) = (MatRef::row_major(&a, k), MatRef::transposed(&bt, k));
                sgemm(m, n, k, av, bv, &mut c, accumulate, Par::Threads(threads));
                for i in 0..m {
                    for j in 0..n {
                        let dot: f32 = (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum();
                        let want = if accumulate { 2.0 + dot } else { dot };
                        assert!((c[i * n + j] - want).abs() < 1e-3, "t{threads} acc{accumulate} ({i},{j})");
                    }
                }
            }
        }
    }

    #[test]
    fn new_buffer_product_equals_the_zeroed_one() {
        // k = 0 (all zeros), one thread, and the column split (transposed rhs, 2 threads).
        for (m, n, k) in [(4, 70, 0), (3, 9, 5), (5, 100, 17)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.5).collect(); // n × k
            for par in [Par::Seq, Par::Threads(2)] {
                let (av, bv) = (MatRef::row_major(&a, k), MatRef::transposed(&bt, k));
                let mut want = vec![0f32; m * n];
                sgemm(m, n, k, av, bv, &mut want, false, par);
                let got = sgemm_new(m, n, k, av, bv, par);
                assert_eq!(got, want, "{m}x{n}x{k} {par:?}");
            }
        }
    }
}
