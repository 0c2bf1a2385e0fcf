//! Output room that the parallel tasks writing it fill in place, instead of the calling thread zeroing it up front.

use std::mem::MaybeUninit;

/// Fills a chunk of uninitialised room with `value` and returns it as initialised `T`s.
///
/// The CPU ops allocate their outputs with `Vec::with_capacity`, hand chunks of the spare
/// capacity to their rayon tasks, and `set_len` once every chunk has passed through here:
/// the zeroing that `vec![0.0; n]` would do on the Candle thread alone (while the other
/// cores wait) is spread over the tasks, each on the memory it is about to write.
pub(crate) fn fill_room<T: Copy>(room: &mut [MaybeUninit<T>], value: T) -> &mut [T] {
    room.fill(MaybeUninit::new(value));
    // SAFETY: every element of `room` was written just above, and `MaybeUninit<T>` has the
    // size, alignment and layout of `T`, so the same memory read as `[T]` of the same
    // length is initialised and valid; the returned borrow keeps `room`'s exclusive
    // lifetime.
    unsafe { &mut *(room as *mut [MaybeUninit<T>] as *mut [T]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_room_reads_back_the_value() {
        let mut v: Vec<u32> = Vec::with_capacity(10);
        let room = &mut v.spare_capacity_mut()[..10];
        assert_eq!(fill_room(room, 7u32), &[7; 10]);
        // SAFETY: the 10 elements were filled just above.
        unsafe { v.set_len(10) };
        assert_eq!(v, vec![7; 10]);
    }
}
