//! Checking event files against what TensorBoard 2.21 needs to show them: framing and
//! CRCs, decodable events, plugin metadata, plugin content versions, scalar layout,
//! step order, wall times (see `tensorboard_format.md`, §0 and §11).
//!
//! ```
//! # fn main() -> Result<(), wick_tfevents::Error> {
//! let logs = tempfile::tempdir().unwrap();
//! let w = wick_tfevents::SummaryWriter::new(logs.path().join("train"))?;
//! w.scalar("loss", 1, 0.5)?;
//! w.scalar("loss", 1, 0.4)?; // same step again: TensorBoard keeps only the last
//! w.close()?;
//! let report = wick_tfevents::validate::validate_path(logs.path())?;
//! assert!(!report.is_ok());
//! assert!(report.problems[0].message.contains("previous step 1"));
//! # Ok(()) }
//! ```

mod checks;

use crate::lazy::LazyEvent;
use crate::masked_crc::masked_crc32c;
use crate::reader::find_runs;
use crate::record::{ReadOutcome, RecordReader};
use crate::{Error, Result};
use serde::Serialize;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// TensorBoard copes, or the file may still be growing; worth knowing.
    Warning,
    /// Data is unreadable or TensorBoard will not show (some of) it.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding, located by file, byte offset of the record and tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The event file (or the path given, for problems with no file).
    pub file: PathBuf,
    /// Byte offset of the record concerned, when there is one.
    pub offset: Option<u64>,
    /// The summary tag concerned, when there is one.
    pub tag: Option<String>,
    /// What is wrong, and what TensorBoard does about it.
    pub message: String,
}

impl fmt::Display for Problem {
    /// `error: FILE: offset N: tag "T": message` (offset and tag only when known).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.severity, self.file.display())?;
        if let Some(offset) = self.offset {
            write!(f, "offset {offset}: ")?;
        }
        if let Some(tag) = &self.tag {
            write!(f, "tag {tag:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The outcome of validating files, runs or log directories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every problem found, in reading order.
    pub problems: Vec<Problem>,
    /// Runs (directories holding event files) looked at.
    pub runs: usize,
    /// Event files read.
    pub files: usize,
    /// Events decoded.
    pub events: usize,
}

impl Report {
    /// True when no problem is an error (warnings are allowed).
    pub fn is_ok(&self) -> bool {
        self.error_count() == 0
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == Severity::Error).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == Severity::Warning).count()
    }

    /// Adds another report's problems and counts to this one.
    pub fn merge(&mut self, other: Report) {
        self.problems.extend(other.problems);
        self.runs += other.runs;
        self.files += other.files;
        self.events += other.events;
    }

    /// `validated N files, M events: K errors, W warnings`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "validated {}, {}: {}, {}",
            plural(self.files, "file"),
            plural(self.events, "event"),
            plural(self.error_count(), "error"),
            plural(self.warning_count(), "warning")
        )
    }
}

/// What [`scan_file`] finds, record by record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FileItem {
    /// A record that decodes as an event.
    Event {
        /// Byte offset of its record.
        offset: u64,
        /// The event, its summary values still encoded.
        event: LazyEvent,
    },
    /// A framing or decoding problem (CRC mismatch, undecodable payload, truncated tail).
    Problem(Problem),
}

/// Reads every record of one file, handing each event or framing problem to `on_item`,
/// which may stop the scan with `ControlFlow::Break`. Reading goes on after a bad data
/// CRC or an undecodable payload (the framing is intact) and stops at a bad length CRC
/// (record boundaries are lost). An incomplete last record is a warning. Only
/// operating-system errors are `Err`.
pub(crate) fn scan_file(path: impl AsRef<Path>, mut on_item: impl FnMut(FileItem) -> ControlFlow<()>) -> Result<()> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    let mut records = RecordReader::new(BufReader::new(file), path);
    let problem = |severity, offset, message: String| {
        FileItem::Problem(Problem { severity, file: path.to_path_buf(), offset: Some(offset), tag: None, message })
    };
    loop {
        let flow = match records.read_record() {
            Ok(ReadOutcome::Record { offset, data }) => {
                let len = data.len();
                match LazyEvent::decode(data) {
                Ok(event) => on_item(FileItem::Event { offset, event }),
                Err(e) => on_item(problem(
                    Severity::Error,
                    offset,
                    format!(
                        "record payload ({len} bytes) is not a valid Event protobuf ({e}); TensorBoard stops reading the file here"
                    ),
                )),
            }
            }
            Ok(ReadOutcome::End) => return Ok(()),
            Ok(ReadOutcome::Truncated { offset, have }) => {
                let _ = on_item(problem(
                    Severity::Warning,
                    offset,
                    format!("incomplete last record ({have} bytes): the file is still being written, or was cut short"),
                ));
                return Ok(());
            }
            Err(Error::BadDataCrc { offset, stored, computed, .. }) => on_item(problem(
                Severity::Error,
                offset,
                format!("record data CRC mismatch (stored {stored:#010x}, computed {computed:#010x}): the payload is corrupt"),
            )),
            Err(Error::BadLengthCrc { offset, stored, computed, .. }) => {
                let hint = if stored == 0 && computed == masked_crc32c(&[0; 8]) { " (a zero-filled tail?)" } else { "" };
                let _ = on_item(problem(
                    Severity::Error,
                    offset,
                    format!(
                        "record length CRC mismatch (stored {stored:#010x}, computed {computed:#010x}){hint}: the file is corrupt from here on and nothing after this offset can be read"
                    ),
                ));
                return Ok(());
            }
            Err(Error::BadEvent { offset, message, .. }) => {
                let _ = on_item(problem(Severity::Error, offset, message));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if flow.is_break() {
            return Ok(());
        }
    }
}

/// Validates one run: its event files, read in the given order (TensorBoard's: by name),
/// with per-tag checks spanning the files.
pub fn validate_run(files: &[PathBuf]) -> Result<Report> {
    let mut report = Report { runs: 1, ..Default::default() };
    let mut run = checks::RunChecker::default();
    for file in files {
        report.files += 1;
        let mut first = true;
        let mut records = 0usize;
        scan_file(file, |item| {
            records += 1;
            match item {
                FileItem::Event { offset, event } => {
                    report.events += 1;
                    run.event(file, offset, &event, first);
                }
                FileItem::Problem(p) => run.push(p),
            }
            first = false;
            ControlFlow::Continue(())
        })?;
        if records == 0 {
            run.push(Problem {
                severity: Severity::Warning,
                file: file.clone(),
                offset: None,
                tag: None,
                message: "file holds no records".into(),
            });
        }
    }
    report.problems = run.finish();
    Ok(report)
}

/// Validates a single event file, a run directory, or a log directory of runs (every
/// directory below `path` that holds event files). An error when nothing is found or
/// something cannot be read at all.
pub fn validate_path(path: impl AsRef<Path>) -> Result<Report> {
    let path = path.as_ref();
    let runs = find_runs(path)?;
    let mut report = Report::default();
    if runs.is_empty() {
        report.problems.push(Problem {
            severity: Severity::Error,
            file: path.to_path_buf(),
            offset: None,
            tag: None,
            message: "no event files (names containing \"tfevents\") found here or below".into(),
        });
    }
    for files in runs.values() {
        report.merge(validate_run(files)?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
