//! Reading event files back: one file ([`EventFileReader`]), one run directory
//! ([`read_run`]) or a whole log directory of runs ([`find_runs`]).

use crate::file_name::is_event_file;
use crate::lazy::LazyEvent;
use crate::proto::Event;
use crate::record::{ReadOutcome, RecordReader};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// An event with where it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadEvent {
    /// The event file.
    pub file: PathBuf,
    /// Byte offset of the event's record in the file.
    pub offset: u64,
    /// The decoded event.
    pub event: Event,
}

/// Default of [`EventFileReader::set_max_decoded_bytes`]: 1 GiB. Real TensorBoard data is
/// far below it (a TF histogram has ~30 buckets, an image summary a few MB of PNG); an
/// event above it holds millions of values, and is read with
/// [`EventFileReader::next_lazy_event`].
pub const MAX_DECODED_EVENT_BYTES: u64 = 1 << 30;

/// Reads the events of one file, in order; the file may still be growing.
///
/// Memory per event is bounded: a record's bytes are read once (no copy), and
/// [`next_event`](Self::next_event) refuses, with [`Error::EventTooLarge`] naming the
/// file and offset, an event whose decoded form would exceed
/// [`MAX_DECODED_EVENT_BYTES`] (by default). [`next_lazy_event`](Self::next_lazy_event)
/// reads any event, decoding its summary values one at a time.
pub struct EventFileReader {
    records: RecordReader<BufReader<File>>,
    path: PathBuf,
    tail: Option<(u64, usize)>,
    max_decoded_bytes: u64,
}

impl EventFileReader {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::read(&path, e))?;
        Ok(EventFileReader {
            records: RecordReader::new(BufReader::new(file), &path),
            path,
            tail: None,
            max_decoded_bytes: MAX_DECODED_EVENT_BYTES,
        })
    }

    /// Sets the most memory (estimated: the record's bytes plus one `Value` struct per
    /// summary value) a decoded event from [`next_event`](Self::next_event) may take.
    pub fn set_max_decoded_bytes(&mut self, limit: u64) {
        self.max_decoded_bytes = limit;
    }

    /// The next complete event, or `None` when the file ends (for now: call again after
    /// it grows). Framing errors and undecodable payloads are errors naming the offset; after
    /// a bad data CRC or a bad payload, reading can go on with the next record. An event
    /// too large to decode whole is [`Error::EventTooLarge`]; reading can go on too.
    pub fn next_event(&mut self) -> Result<Option<ReadEvent>> {
        let Some((offset, lazy)) = self.next_lazy_event()? else { return Ok(None) };
        let estimate = lazy.decoded_size_estimate();
        if estimate > self.max_decoded_bytes {
            return Err(Error::EventTooLarge {
                path: self.path.clone(),
                offset,
                estimate,
                values: lazy.summary_len().unwrap_or(0),
                limit: self.max_decoded_bytes,
            });
        }
        let event = lazy.to_event().map_err(|e| self.bad_event(offset, e))?;
        Ok(Some(ReadEvent { file: self.path.clone(), offset, event }))
    }

    fn bad_event(&self, offset: u64, e: prost::DecodeError) -> Error {
        Error::BadEvent { path: self.path.clone(), offset, message: e.to_string() }
    }

    /// Like [`next_event`](Self::next_event), with the record's offset and the event
    /// checked but its summary values left encoded: memory for the record's bytes only,
    /// whatever it holds.
    pub fn next_lazy_event(&mut self) -> Result<Option<(u64, LazyEvent)>> {
        match self.records.read_record()? {
            ReadOutcome::Record { offset, data } => {
                self.tail = None;
                let event = LazyEvent::decode(data).map_err(|e| self.bad_event(offset, e))?;
                Ok(Some((offset, event)))
            }
            ReadOutcome::End => {
                self.tail = None;
                Ok(None)
            }
            ReadOutcome::Truncated { offset, have } => {
                self.tail = Some((offset, have));
                Ok(None)
            }
        }
    }

    /// After `next_event` returned `None`: the offset and length of an incomplete last
    /// record, if the file ends inside one.
    pub fn truncated_tail(&self) -> Option<(u64, usize)> {
        self.tail
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every event of one file, stopping at the first error. An incomplete last record is
/// not an error (the file may still be growing); it is simply not returned.
pub fn read_file(path: impl AsRef<Path>) -> Result<Vec<ReadEvent>> {
    let mut reader = EventFileReader::open(path)?;
    let mut out = Vec::new();
    while let Some(e) = reader.next_event()? {
        out.push(e);
    }
    Ok(out)
}

/// The event files directly inside `dir` (names containing `tfevents`), sorted by name,
/// which is the order TensorBoard reads them in.
pub fn event_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))? {
        let entry = entry.map_err(|e| Error::read(dir, e))?;
        let is_file = entry.file_type().map_err(|e| Error::read(entry.path(), e))?.is_file();
        if is_file && is_event_file(&entry.file_name().to_string_lossy()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Every event of every file of one run directory, files in name order.
pub fn read_run(dir: impl AsRef<Path>) -> Result<Vec<ReadEvent>> {
    let mut out = Vec::new();
    for file in event_files(dir)? {
        out.extend(read_file(file)?);
    }
    Ok(out)
}

/// The runs under `logdir` as TensorBoard names them: each directory that directly holds
/// an event file, keyed by its path relative to `logdir` with `/` separators (`"."` for
/// `logdir` itself). A path that is itself an event file is one run named `"."`.
pub fn find_runs(logdir: impl AsRef<Path>) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let logdir = logdir.as_ref();
    let mut runs = BTreeMap::new();
    let meta = std::fs::metadata(logdir).map_err(|e| Error::read(logdir, e))?;
    if meta.is_file() {
        runs.insert(".".to_string(), vec![logdir.to_path_buf()]);
        return Ok(runs);
    }
    let mut stack = vec![logdir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let files = event_files(&dir)?;
        if !files.is_empty() {
            let rel = dir.strip_prefix(logdir).unwrap_or(&dir);
            let name =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
            runs.insert(if name.is_empty() { ".".to_string() } else { name }, files);
        }
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::read(&dir, e))? {
            let entry = entry.map_err(|e| Error::read(&dir, e))?;
            if entry.file_type().map_err(|e| Error::read(entry.path(), e))?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::summary::{value, Value};
    use crate::proto::{event::What, Summary};
    use prost::Message;

    #[test]
    fn an_event_too_large_to_decode_whole_is_an_error_naming_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.1.x");
        let values = (0..1000)
            .map(|i| Value { tag: format!("t{i}"), value: Some(value::Value::SimpleValue(1.0)), ..Default::default() })
            .collect();
        let big = Event { step: 1, what: Some(What::Summary(Summary { value: values })), ..Default::default() };
        let mut bytes = Vec::new();
        crate::record::append_record(&mut bytes, &Event::default().encode_to_vec());
        let second = bytes.len() as u64;
        crate::record::append_record(&mut bytes, &big.encode_to_vec());
        std::fs::write(&path, bytes).unwrap();

        let mut r = EventFileReader::open(&path).unwrap();
        r.set_max_decoded_bytes(100_000);
        assert!(r.next_event().unwrap().is_some());
        let e = r.next_event().unwrap_err();
        assert!(matches!(e, Error::EventTooLarge { offset, values: 1000, .. } if offset == second), "{e}");
        assert!(
            e.to_string().contains(&path.display().to_string()) && e.to_string().contains(&format!("offset {second}"))
        );
        assert!(r.next_event().unwrap().is_none());

        let mut r = EventFileReader::open(&path).unwrap();
        r.next_lazy_event().unwrap();
        let (_, lazy) = r.next_lazy_event().unwrap().unwrap();
        assert_eq!(lazy.summary_values().count(), 1000);
        assert_eq!(read_file(&path).unwrap()[1].event, big);
    }
}
