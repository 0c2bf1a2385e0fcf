//! [`SliceReader`]: the byte source zune-jpeg reads a file from.
//!
//! zune-core's own `ZCursor`, with zune-core's `std` feature (which `image` turns on),
//! reaches zune-jpeg through the blanket `impl<T: BufRead + Seek> ZByteReaderTrait`:
//! every 4-byte refill of the Huffman bit reader becomes an `io::Read::read` loop with a
//! variable-length `memcpy` call, and every single-byte read a `read` into a one-byte
//! buffer. That was ≈ 13 % of a 128² JPEG decode. This reader works on the slice
//! directly, with the same observable behaviour as `ZCursor` through that blanket impl
//! (positions, partial reads, end of data), so the decoder sees the same bytes and
//! decodes the same pixels; `jpeg.rs` tests it against `ZCursor` on damaged files.

use zune_core::bytestream::{ZByteIoError, ZByteReaderTrait, ZSeekFrom};

/// An in-memory byte stream with a position, for zune-jpeg.
pub(crate) struct SliceReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceReader<'a> {
    /// A reader at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// The bytes from the position on (none when the position is past the end).
    #[inline(always)]
    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }
}

impl ZByteReaderTrait for SliceReader<'_> {
    /// The next byte, or 0 (without moving) at the end.
    #[inline(always)]
    fn read_byte_no_error(&mut self) -> u8 {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    /// All of `buf`, or an error that leaves the position where it was (the available
    /// bytes are copied into `buf` all the same, as `ZCursor` does).
    #[inline(always)]
    fn read_exact_bytes(&mut self, buf: &mut [u8]) -> Result<(), ZByteIoError> {
        let rest = self.rest();
        match rest.get(..buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                self.pos += buf.len();
                Ok(())
            }
            None => {
                buf[..rest.len()].copy_from_slice(rest);
                Err(ZByteIoError::NotEnoughBytes(rest.len(), buf.len()))
            }
        }
    }

    #[inline(always)]
    fn read_bytes(&mut self, buf: &mut [u8]) -> Result<usize, ZByteIoError> {
        let n = self.peek_bytes(buf)?;
        self.pos += n;
        Ok(n)
    }

    #[inline(always)]
    fn peek_bytes(&mut self, buf: &mut [u8]) -> Result<usize, ZByteIoError> {
        let rest = self.rest();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    #[inline(always)]
    fn peek_exact_bytes(&mut self, buf: &mut [u8]) -> Result<(), ZByteIoError> {
        self.read_exact_bytes(buf)?;
        self.pos -= buf.len();
        Ok(())
    }

    fn z_seek(&mut self, from: ZSeekFrom) -> Result<u64, ZByteIoError> {
        let (base, offset) = match from {
            ZSeekFrom::Start(n) => {
                self.pos = n as usize;
                return Ok(n);
            }
            ZSeekFrom::End(n) => (self.data.len(), n as isize),
            ZSeekFrom::Current(n) => (self.pos, n as isize),
        };
        match base.checked_add_signed(offset) {
            Some(n) => {
                self.pos = n;
                Ok(n as u64)
            }
            None => Err(ZByteIoError::SeekError("Negative seek")),
        }
    }

    fn is_eof(&mut self) -> Result<bool, ZByteIoError> {
        Ok(self.pos >= self.data.len())
    }

    fn z_position(&mut self) -> Result<u64, ZByteIoError> {
        Ok(self.pos as u64)
    }

    fn read_remaining(&mut self, sink: &mut Vec<u8>) -> Result<usize, ZByteIoError> {
        let rest = self.rest();
        sink.extend_from_slice(rest);
        self.pos += rest.len();
        Ok(rest.len())
    }
}
