//! Reading event files back: one file ([`EventFileReader`]), one run directory
//! ([`read_run`]) or a whole log directory of runs ([`find_runs`]).

use crate::file_name::is_event_file;
use crate::proto::Event;
use crate::record::{ReadOutcome, RecordReader};
use crate::{Error, Result};
use prost::Message;
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

/// Reads the events of one file, in order; the file may still be growing.
pub struct EventFileReader {
    records: RecordReader<BufReader<File>>,
    path: PathBuf,
    tail: Option<(u64, usize)>,
}

impl EventFileReader {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::read(&path, e))?;
        Ok(EventFileReader { records: RecordReader::new(BufReader::new(file), &path), path, tail: None })
    }

    /// The next complete event, or `None` when the file ends (for now: call again after
    /// it grows). Framing errors and undecodable payloads are errors naming the offset; after
    /// a bad data CRC or a bad payload, reading can go on with the next record.
    pub fn next_event(&mut self) -> Result<Option<ReadEvent>> {
        match self.records.read_record()? {
            ReadOutcome::Record { offset, data } => {
                self.tail = None;
                let event = Event::decode(data.as_slice()).map_err(|e| Error::BadEvent {
                    path: self.path.clone(),
                    offset,
                    message: e.to_string(),
                })?;
                Ok(Some(ReadEvent { file: self.path.clone(), offset, event }))
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
