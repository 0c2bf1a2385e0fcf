//! Per-thread f32 scratch buffers that the CPU ops reuse from call to call.

use std::cell::RefCell;

/// Buffers bigger than this (in f32) are freed after use instead of kept for the next call,
/// so one huge layer does not pin its scratch memory for the rest of the process.
const KEEP_MAX: usize = 16 << 20; // 64 MiB

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `N` scratch buffers taken from this thread's free list (new ones when it
/// is empty) and gives them back afterwards. Their contents are whatever an earlier call
/// left: size them with [`sized`] and write every element that is read.
///
/// The free list is not borrowed while `f` runs, so a nested call (rayon may run another
/// task on this thread while `f` waits) just takes other buffers.
pub(crate) fn with_scratch<const N: usize, R>(f: impl FnOnce(&mut [Vec<f32>; N]) -> R) -> R {
    let mut bufs: [Vec<f32>; N] =
        FREE.with(|free| std::array::from_fn(|_| free.borrow_mut().pop().unwrap_or_default()));
    let out = f(&mut bufs);
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        free.extend(bufs.into_iter().filter(|b| b.capacity() <= KEEP_MAX));
    });
    out
}

/// The first `len` elements of `v`, growing it (with zeros) when it is shorter. Elements
/// that were there already keep their old values.
#[inline]
pub(crate) fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_keep_their_size() {
        let cap = with_scratch(|[a]: &mut [Vec<f32>; 1]| {
            sized(a, 1000).fill(1.0);
            a.capacity()
        });
        with_scratch(|[a, b]: &mut [Vec<f32>; 2]| {
            // One of the two is the buffer used above, with its contents.
            let reused = if a.capacity() == cap { a } else { b };
            assert_eq!(reused.len(), 1000);
            assert_eq!(sized(reused, 10), &[1.0; 10]);
        });
    }
}
