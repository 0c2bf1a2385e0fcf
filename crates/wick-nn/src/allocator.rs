//! Keeping freed memory in the process, so that Candle's per-op allocations stop
//! page-faulting.
//!
//! Every Candle op allocates its output, and every backward node allocates a zero tensor
//! and a sum (`zeros_like + add`). On a CNN step that is tens of megabytes allocated and
//! freed per step. With glibc's default settings large blocks are returned to the kernel
//! (`munmap`, heap trimming) and fetched again on the next step; the first write to each
//! fresh page faults, and a page that was only read (calloc'ed zeros map the shared zero
//! page) faults again on its first write with a TLB shoot-down to the other cores. `perf`
//! on the reference CNN showed about a quarter of the step in those faults; with the
//! settings below the same step ran 1.3–1.4× faster (BENCHMARKS.md, "wick-nn").

/// What [`tune_cpu_allocator`] sets, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorTuning {
    /// Blocks smaller than this come from the heap rather than their own `mmap`
    /// (glibc `M_MMAP_THRESHOLD`; 32 MiB, glibc's upper limit on 64-bit).
    pub mmap_threshold: i32,
    /// Free memory at the top of the heap kept rather than trimmed (`M_TRIM_THRESHOLD`).
    pub trim_threshold: i32,
    /// Extra memory requested with each heap extension (`M_TOP_PAD`).
    pub top_pad: i32,
}

impl Default for AllocatorTuning {
    fn default() -> Self {
        AllocatorTuning { mmap_threshold: 32 << 20, trim_threshold: i32::MAX, top_pad: 64 << 20 }
    }
}

/// Tells the C allocator to keep freed memory for reuse instead of returning it to the
/// kernel, which makes Candle training on the CPU markedly faster (see the module docs).
/// Call it once, at the start of `main`, before the first tensor; the examples do.
///
/// This changes process-wide `malloc` settings, so the library never calls it on its own.
/// The cost is memory: the process keeps its peak heap instead of shrinking after it.
/// Returns `true` when the settings were applied: on Linux with glibc. Elsewhere it does
/// nothing and returns `false` (musl, macOS and Windows allocators behave differently and
/// have no such knobs).
pub fn tune_cpu_allocator() -> bool {
    tune_cpu_allocator_with(AllocatorTuning::default())
}

/// [`tune_cpu_allocator`] with explicit values.
pub fn tune_cpu_allocator_with(tuning: AllocatorTuning) -> bool {
    imp::apply(tuning.mmap_threshold, tuning.trim_threshold, tuning.top_pad)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    /// Sets `M_MMAP_THRESHOLD`, `M_TRIM_THRESHOLD` and `M_TOP_PAD`; `true` if all three took.
    pub(super) fn apply(mmap_threshold: i32, trim_threshold: i32, top_pad: i32) -> bool {
        // SAFETY: mallopt takes two plain integers, no pointers, so it cannot touch Rust-owned
        // memory. The `M_*` constants are valid parameter numbers; glibc checks `value` itself
        // and returns 0 for one it rejects. An accepted value only changes when glibc takes
        // memory from the kernel or gives it back (heap or mmap, trim or keep), never a block
        // already handed out. Concurrency: mallopt holds the main arena's lock while it writes,
        // so calls from several threads are serialised. glibc's manual marks it MT-Unsafe
        // (`init`, `const:mallopt`), for two reasons. `init`: the first call into malloc
        // initialises it; a second thread exists only after a `pthread_create`, which
        // allocates (the thread's TLS vector) through malloc, so that is done before any
        // concurrent caller can exist. `const`: other arenas read these integers without a
        // lock; glibc's own `free` rewrites the same fields unlocked (its dynamic mmap
        // threshold) in every multi-threaded program, so a concurrent reader gets the old or
        // the new value, both valid settings. The documented use, once at the start of `main`
        // before other threads start, has no concurrent reader at all.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, trim_threshold) == 1
                && libc::mallopt(libc::M_TOP_PAD, top_pad) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    /// No such knobs here: does nothing.
    pub(super) fn apply(_mmap_threshold: i32, _trim_threshold: i32, _top_pad: i32) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_on_glibc() {
        let applied = tune_cpu_allocator();
        assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
        // Allocation still works afterwards, large and small.
        let big = vec![1u8; 48 << 20];
        let small: Vec<u8> = (0..100).collect();
        assert_eq!(big[big.len() - 1] + small[99], 100);
    }
}
