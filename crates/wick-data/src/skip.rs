//! What to do with a bad image file, and the per-pass report of skipped files.

use std::fmt;
use std::path::PathBuf;

/// Policy for a file that cannot be read or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBadFile {
    /// Stop with an error naming the file (Keras' behaviour).
    #[default]
    Fail,
    /// Leave the file out, keep batches full from the following files, and report every
    /// skipped file at the end of the pass ([`SkipReport`]; also printed to stderr
    /// unless `GeneratorOptions::quiet_skips`).
    Skip,
}

/// One skipped file and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// The error message (it names the file too).
    pub reason: String,
}

/// The files skipped during one pass over the data, in stream order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipReport {
    /// The pass (0-based) the report closes; `fit` reads pass `e` in epoch `e` unless
    /// `steps_per_epoch` keeps a pass across epochs.
    pub pass: usize,
    /// Every skipped file; a file bad in every pass appears once per pass.
    pub skipped: Vec<SkippedFile>,
}

impl SkipReport {
    /// Number of skipped files.
    pub fn len(&self) -> usize {
        self.skipped.len()
    }

    /// True when nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.skipped.is_empty()
    }
}

impl fmt::Display for SkipReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wick-data: pass {}: skipped {} bad image file(s)", self.pass, self.skipped.len())?;
        for s in &self.skipped {
            write!(f, "\n  {}", s.reason)?;
        }
        Ok(())
    }
}
