//! Per-thread reusable buffers (a file's bytes, its decoded pixels, the resize's f32
//! planes), so that the decode threads do not allocate (and, above glibc's mmap
//! threshold, page-fault) fresh buffers for every image.

use std::cell::Cell;
use std::io::Read as _;
use std::path::Path;

use crate::error::{Error, Result};

/// Buffers above this size are dropped after use rather than kept for the next image
/// (one huge file should not pin its memory on every decode thread).
const KEEP_AT_MOST: usize = 32 * 1024 * 1024;

thread_local! {
    static FILE_BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static PIXELS: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static F32: Cell<[Vec<f32>; 3]> = const { Cell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// Runs `f` with this thread's three f32 scratch buffers (the resize's planar source, its
/// horizontal pass and a padded result), taken out for the call like the byte buffers.
pub(crate) fn with_f32<T>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>, &mut Vec<f32>) -> T) -> T {
    let mut bufs = F32.with(Cell::take);
    let [a, b, c] = &mut bufs;
    let out = f(a, b, c);
    if bufs.iter().all(|v| v.capacity() * 4 <= KEEP_AT_MOST) {
        F32.with(|cell| cell.set(bufs));
    }
    out
}

/// Runs `f` with this thread's two scratch buffers (taken out for the call, so a nested
/// call on the same thread, e.g. from a job rayon runs while `f` waits, simply gets
/// fresh ones).
fn with_buffers<T>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> T) -> T {
    let mut bytes = FILE_BYTES.with(Cell::take);
    let mut pixels = PIXELS.with(Cell::take);
    let out = f(&mut bytes, &mut pixels);
    if bytes.capacity() <= KEEP_AT_MOST {
        FILE_BYTES.with(|c| c.set(bytes));
    }
    if pixels.capacity() <= KEEP_AT_MOST {
        PIXELS.with(|c| c.set(pixels));
    }
    out
}

/// Reads `path` into a reused buffer and calls `f(bytes, pixel_scratch)`.
pub(crate) fn with_file<T>(path: &Path, f: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<T>) -> Result<T> {
    with_buffers(|bytes, pixels| {
        read_into(path, bytes).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        f(bytes, pixels)
    })
}

/// `std::fs::read` into `buf` (cleared first, its capacity reused).
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    let mut file = std::fs::File::open(path)?;
    if let Ok(meta) = file.metadata() {
        buf.reserve(usize::try_from(meta.len()).unwrap_or(0));
    }
    file.read_to_end(buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_fs_read_and_reuses_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, vec![7u8; 5000]).unwrap();
        std::fs::write(&b, b"short").unwrap();
        for path in [&a, &b, &a] {
            let got = with_file(path, |bytes, _| Ok(bytes.to_vec())).unwrap();
            assert_eq!(got, std::fs::read(path).unwrap());
        }
        let missing = dir.path().join("missing");
        assert!(matches!(with_file(&missing, |_, _| Ok(())), Err(Error::Io { .. })));
    }

    #[test]
    fn nested_calls_get_their_own_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"outer").unwrap();
        std::fs::write(&b, b"inner").unwrap();
        let both = with_file(&a, |outer, _| {
            let inner = with_file(&b, |inner, _| Ok(inner.to_vec()))?;
            Ok((outer.to_vec(), inner))
        })
        .unwrap();
        assert_eq!(both, (b"outer".to_vec(), b"inner".to_vec()));
    }
}
