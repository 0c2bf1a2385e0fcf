//! The one error type of this crate.

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong while writing or reading event files.
///
/// Each variant names what it is about: the file, the tag or the value.
#[derive(Debug, thiserror::Error, Clone)]
pub enum Error {
    /// Creating the log directory, or creating, writing or flushing an event file failed.
    /// Writing stops: the writer reports this on every later call, since the file may be
    /// missing records.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Reading a file failed at the operating-system level.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The writer was closed; nothing more can be written through it.
    #[error("event writer for {path} is closed")]
    Closed {
        /// The event file the writer wrote.
        path: PathBuf,
    },
    /// A tag was empty or not usable.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag {
        /// The tag as given.
        tag: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// An argument's value cannot be encoded.
    #[error("tag {tag:?}: {message}")]
    InvalidValue {
        /// The tag of the summary being written.
        tag: String,
        /// What is wrong with the value, with the expected and given sizes where relevant.
        message: String,
    },
    /// Encoding an image as PNG failed.
    #[error("tag {tag:?}: cannot encode PNG: {message}")]
    Png {
        /// The tag of the image summary.
        tag: String,
        /// The encoder's message.
        message: String,
    },
    /// The length header of a record does not match its CRC: the file is corrupt from
    /// this offset on. Stop reading the file.
    #[error("{path}: corrupt record length at byte offset {offset} (masked CRC stored {stored:#010x}, computed {computed:#010x})")]
    BadLengthCrc {
        /// The event file.
        path: PathBuf,
        /// Byte offset of the record's start.
        offset: u64,
        /// CRC stored in the file.
        stored: u32,
        /// CRC computed from the length bytes.
        computed: u32,
    },
    /// A record's payload does not match its CRC.
    #[error("{path}: corrupt record data at byte offset {offset} (masked CRC stored {stored:#010x}, computed {computed:#010x})")]
    BadDataCrc {
        /// The event file.
        path: PathBuf,
        /// Byte offset of the record's start.
        offset: u64,
        /// CRC stored in the file.
        stored: u32,
        /// CRC computed from the payload.
        computed: u32,
    },
    /// A record's payload is not a valid `Event` protobuf.
    #[error("{path}: record at byte offset {offset} is not a valid Event: {message}")]
    BadEvent {
        /// The event file.
        path: PathBuf,
        /// Byte offset of the record's start.
        offset: u64,
        /// The protobuf decoder's message.
        message: String,
    },
    /// Decoded whole, a record's event would take more memory than the reader allows
    /// (see [`EventFileReader::set_max_decoded_bytes`](crate::reader::EventFileReader::set_max_decoded_bytes));
    /// read it value by value with `next_lazy_event` instead.
    #[error("{path}: event at byte offset {offset} would take about {estimate} bytes decoded ({values} summary values), more than the limit of {limit} bytes; read it value by value (EventFileReader::next_lazy_event)")]
    EventTooLarge {
        /// The event file.
        path: PathBuf,
        /// Byte offset of the record's start.
        offset: u64,
        /// Estimated bytes of the decoded event.
        estimate: u64,
        /// Its number of summary values.
        values: u64,
        /// The limit.
        limit: u64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write { path: path.into(), source: Arc::new(source) }
    }

    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read { path: path.into(), source: Arc::new(source) }
    }
}
