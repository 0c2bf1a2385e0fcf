//! TFRecord framing: `len: u64 LE | masked_crc32c(len) | data | masked_crc32c(data)`,
//! written with [`append_record`] and read incrementally with [`RecordReader`].

use crate::masked_crc::masked_crc32c;
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes before the payload: the length and its masked CRC.
pub const HEADER_LENGTH: usize = 12;
/// Bytes after the payload: its masked CRC.
pub const FOOTER_LENGTH: usize = 4;

/// Most bytes the record buffer grows by before they are read.
const GROW_STEP: usize = 16 << 20;

/// Appends one framed record holding `data` to `out`.
pub fn append_record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.reserve(HEADER_LENGTH + data.len() + FOOTER_LENGTH);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// Appends one framed record whose payload `encode` writes directly into `out`, so no
/// intermediate buffer is needed.
pub fn append_record_with(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LENGTH]);
    encode(out);
    let data_start = start + HEADER_LENGTH;
    let len = ((out.len() - data_start) as u64).to_le_bytes();
    out[start..start + 8].copy_from_slice(&len);
    out[start + 8..data_start].copy_from_slice(&masked_crc32c(&len).to_le_bytes());
    let crc = masked_crc32c(&out[data_start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// What [`RecordReader::read_record`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A complete record whose CRCs both match.
    Record {
        /// Byte offset of the record's start in the stream.
        offset: u64,
        /// The payload.
        data: Vec<u8>,
    },
    /// The stream ended exactly at a record boundary. More may come if the file grows.
    End,
    /// The stream ends inside a record: the file is still being written (or was cut).
    /// Call again once it has grown; the partial record is kept.
    Truncated {
        /// Byte offset of the incomplete record's start.
        offset: u64,
        /// Bytes of it read so far.
        have: usize,
    },
}

/// Reads records one at a time from a stream that may still be growing.
///
/// A bad length CRC is fatal: every later call returns the same error, since record
/// boundaries are lost. A bad data CRC is reported once with its offset; reading then
/// goes on with the next record.
pub struct RecordReader<R> {
    inner: R,
    name: PathBuf,
    /// Bytes of the record being read (header, payload, footer), possibly partial.
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: u64,
    fatal: Option<Error>,
}

impl<R: Read> RecordReader<R> {
    /// Wraps `inner`; `name` (usually the file path) appears in errors.
    pub fn new(inner: R, name: impl AsRef<Path>) -> Self {
        RecordReader { inner, name: name.as_ref().to_path_buf(), buf: Vec::new(), offset: 0, fatal: None }
    }

    /// Offset of the next record to be read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads from `inner` until `buf` holds `want` bytes; false if the stream ran dry.
    /// The buffer grows to exactly `want` (no doubling), in steps of at most
    /// [`GROW_STEP`] so that a corrupt length reserves memory only as data arrives.
    fn fill(&mut self, want: usize) -> Result<bool> {
        while self.buf.len() < want {
            let need = want - self.buf.len();
            let spare = self.buf.capacity() - self.buf.len();
            if spare == 0 {
                self.buf.reserve_exact(need.min(GROW_STEP));
            }
            let step = need.min(self.buf.capacity() - self.buf.len()) as u64;
            let got = (&mut self.inner).take(step).read_to_end(&mut self.buf);
            match got {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::read(&self.name, e)),
            }
        }
        Ok(true)
    }

    /// Reads the next record. See [`ReadOutcome`] for what a caller should do next.
    pub fn read_record(&mut self) -> Result<ReadOutcome> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        let start = self.offset;
        if !self.fill(HEADER_LENGTH)? {
            return Ok(if self.buf.is_empty() {
                ReadOutcome::End
            } else {
                ReadOutcome::Truncated { offset: start, have: self.buf.len() }
            });
        }
        let len_bytes: [u8; 8] = self.buf[..8].try_into().unwrap_or_default();
        let stored = u32::from_le_bytes(self.buf[8..12].try_into().unwrap_or_default());
        let computed = masked_crc32c(&len_bytes);
        if stored != computed {
            let e = Error::BadLengthCrc { path: self.name.clone(), offset: start, stored, computed };
            self.fatal = Some(e.clone());
            return Err(e);
        }
        let len = u64::from_le_bytes(len_bytes);
        let total =
            usize::try_from(len).ok().and_then(|l| l.checked_add(HEADER_LENGTH + FOOTER_LENGTH)).ok_or_else(|| {
                Error::BadEvent {
                    path: self.name.clone(),
                    offset: start,
                    message: format!("record length {len} does not fit in memory"),
                }
            });
        let total = match total {
            Ok(t) => t,
            Err(e) => {
                self.fatal = Some(e.clone());
                return Err(e);
            }
        };
        if !self.fill(total)? {
            return Ok(ReadOutcome::Truncated { offset: start, have: self.buf.len() });
        }
        let data_end = total - FOOTER_LENGTH;
        let stored = u32::from_le_bytes(self.buf[data_end..total].try_into().unwrap_or_default());
        let computed = masked_crc32c(&self.buf[HEADER_LENGTH..data_end]);
        self.offset += total as u64;
        if stored != computed {
            self.buf.clear();
            return Err(Error::BadDataCrc { path: self.name.clone(), offset: start, stored, computed });
        }
        // Hand the buffer over without copying the payload.
        let mut data = std::mem::take(&mut self.buf);
        data.truncate(data_end);
        data.drain(..HEADER_LENGTH);
        Ok(ReadOutcome::Record { offset: start, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            append_record(&mut out, p);
        }
        out
    }

    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Result<ReadOutcome>) {
        let mut r = RecordReader::new(bytes, "mem");
        let mut got = Vec::new();
        loop {
            match r.read_record() {
                Ok(ReadOutcome::Record { data, .. }) => got.push(data),
                other => return (got, other),
            }
        }
    }

    #[test]
    fn append_with_equals_append() {
        let mut a = Vec::new();
        append_record(&mut a, b"hello");
        let mut b = Vec::new();
        append_record_with(&mut b, |o| o.extend_from_slice(b"hello"));
        assert_eq!(a, b);
    }

    #[test]
    fn reads_a_file_that_grows_in_pieces() {
        let all = framed(&[b"one".to_vec(), b"two two".to_vec(), vec![7u8; 300]]);
        // A reader over a shared, growing buffer: feed it a few bytes at a time.
        struct Growing<'a> {
            all: &'a [u8],
            visible: usize,
            pos: usize,
        }
        impl Read for Growing<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = out.len().min(self.visible - self.pos);
                out[..n].copy_from_slice(&self.all[self.pos..self.pos + n]);
                self.pos += n;
                Ok(n)
            }
        }
        let mut reader = RecordReader::new(Growing { all: &all, visible: 0, pos: 0 }, "grow");
        let mut got = Vec::new();
        for visible in (0..=all.len()).step_by(5).chain([all.len()]) {
            reader.inner.visible = visible;
            while let ReadOutcome::Record { data, .. } = reader.read_record().unwrap() {
                got.push(data);
            }
        }
        assert_eq!(got, vec![b"one".to_vec(), b"two two".to_vec(), vec![7u8; 300]]);
        assert_eq!(reader.read_record().unwrap(), ReadOutcome::End);
    }

    #[test]
    fn flipped_bytes_report_their_offsets() {
        let mut bytes = framed(&[b"first".to_vec(), b"second".to_vec()]);
        let second = HEADER_LENGTH + 5 + FOOTER_LENGTH;
        bytes[second + HEADER_LENGTH + 1] ^= 1; // payload of record 2
        let (got, end) = read_all(&bytes);
        assert_eq!(got, vec![b"first".to_vec()]);
        match end {
            Err(Error::BadDataCrc { offset, .. }) => assert_eq!(offset, second as u64),
            other => panic!("expected BadDataCrc, got {other:?}"),
        }
        let mut bytes = framed(&[b"first".to_vec(), b"second".to_vec()]);
        bytes[second + 2] ^= 0x80; // length of record 2
        let (_, end) = read_all(&bytes);
        assert!(matches!(end, Err(Error::BadLengthCrc { offset, .. }) if offset == second as u64));
    }

    #[test]
    fn zero_filled_tail_is_a_length_crc_error() {
        let mut bytes = framed(&[b"x".to_vec()]);
        bytes.extend_from_slice(&[0u8; 32]);
        let (got, end) = read_all(&bytes);
        assert_eq!(got.len(), 1);
        assert!(matches!(end, Err(Error::BadLengthCrc { stored: 0, computed: 0x0798_0329, .. })));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut r = RecordReader::new(&bytes[..], "fuzz");
            for _ in 0..bytes.len() + 2 {
                match r.read_record() {
                    Ok(ReadOutcome::Record { .. }) | Err(Error::BadDataCrc { .. }) => {}
                    _ => break,
                }
            }
        }

        #[test]
        fn truncation_yields_every_complete_record(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
            cut in any::<proptest::sample::Index>(),
        ) {
            let bytes = framed(&payloads);
            let cut = cut.index(bytes.len() + 1);
            let (got, end) = read_all(&bytes[..cut]);
            let mut boundary = 0;
            let mut complete = 0;
            for p in &payloads {
                let next = boundary + HEADER_LENGTH + p.len() + FOOTER_LENGTH;
                if next > cut { break; }
                boundary = next;
                complete += 1;
            }
            prop_assert_eq!(&got[..], &payloads[..complete]);
            if cut == boundary {
                prop_assert_eq!(end.unwrap(), ReadOutcome::End);
            } else {
                prop_assert_eq!(end.unwrap(), ReadOutcome::Truncated { offset: boundary as u64, have: cut - boundary });
            }
        }
    }
}
