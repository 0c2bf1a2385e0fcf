//! Keras' `CSVLogger`: one CSV row per epoch.

use super::pyfmt::repr_f64;
use crate::{Callback, Context, Error, Logs, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Keras' `CSVLogger(filename, separator=",", append=False)`.
///
/// * `on_train_begin` opens the file, truncating it, or appending with `append`; in
///   append mode the header is written only when the file is missing or its first line is
///   empty. Missing parent folders are created; a file that cannot be opened fails the run
///   at its start with an error naming the path.
/// * At the first `on_epoch_end` the columns are fixed: `epoch` (0-based), then the sorted
///   log keys; if no key starts with `val_`, a `val_<key>` column is added for every key
///   (filled with `NA` while there is no validation). Later new keys are dropped, missing
///   ones written as `NA`.
/// * Rows are written like Python's `csv.DictWriter` (excel dialect): CRLF line ends,
///   fields holding the separator, a quote or a line break quoted; floats as Python's
///   `str(float)` (`0.699999988079071`, `1e-05`, `nan`). Each row goes to the operating
///   system as it is written (the file is unbuffered; Keras flushes per epoch), so a
///   failing write in a later epoch (a full disk) keeps every earlier row; a row whose
///   write fails is cut off again (no half row) and the error, an [`Error::Write`], names
///   the file. The file is closed at `on_train_end`.
#[derive(Debug)]
pub struct CSVLogger {
    /// The CSV file.
    pub filename: PathBuf,
    /// The field separator (Keras' `separator`).
    pub separator: String,
    /// Append to an existing file instead of overwriting it.
    pub append: bool,
    file: Option<File>,
    keys: Option<Vec<String>>,
    write_header: bool,
    good_len: u64,
}

impl CSVLogger {
    /// Keras' defaults: `separator=","`, `append=False`.
    pub fn new(filename: impl Into<PathBuf>) -> Self {
        CSVLogger {
            filename: filename.into(),
            separator: ",".into(),
            append: false,
            file: None,
            keys: None,
            write_header: true,
            good_len: 0,
        }
    }

    /// Sets the separator.
    pub fn separator(mut self, separator: impl Into<String>) -> Self {
        self.separator = separator.into();
        self
    }

    /// Sets `append`.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(&self.filename, e)
    }

    /// One field, quoted as Python's csv module does (minimal quoting).
    fn field(&self, text: &str) -> String {
        if text.contains(self.separator.as_str()) || text.contains(['"', '\r', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }

    fn write_row(&mut self, fields: &[String]) -> Result<()> {
        let line = fields.iter().map(|f| self.field(f)).collect::<Vec<_>>().join(&self.separator) + "\r\n";
        let Some(file) = self.file.as_mut() else {
            return Err(Error::NotStarted { context: "CSVLogger", what: "the CSV file" });
        };
        // Unbuffered: each row reaches the operating system when written, so a failure in
        // a later epoch (a full disk) never loses an earlier row.
        match file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            Ok(()) => {
                self.good_len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // No half row: cut the file back to its last complete row.
                let good = self.good_len;
                let _ = file.set_len(good).and_then(|()| file.seek(SeekFrom::Start(good)));
                Err(Error::write("CSV file", &self.filename, None, e))
            }
        }
    }
}

/// True when `path` is missing or its first line is empty (Keras' append-mode header rule).
fn first_line_empty(path: &Path) -> Result<bool> {
    match File::open(path) {
        Ok(f) => {
            let mut line = String::new();
            BufReader::new(f).read_line(&mut line).map_err(|e| Error::io(path, e))?;
            Ok(line.is_empty())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl Callback for CSVLogger {
    fn chief_only(&self) -> bool {
        true
    }

    fn needs_batch_logs(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "CSVLogger"
    }

    fn on_train_begin(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        if self.separator.is_empty() {
            return Err(Error::InvalidArgument { context: "CSVLogger", message: "separator must not be empty".into() });
        }
        if let Some(dir) = self.filename.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        self.file = None;
        let file = if self.append {
            self.write_header = first_line_empty(&self.filename)?;
            OpenOptions::new().append(true).create(true).open(&self.filename)
        } else {
            self.write_header = true;
            File::create(&self.filename)
        };
        let file = file.map_err(|e| self.io(e))?;
        self.good_len = file.metadata().map_err(|e| self.io(e))?.len();
        self.file = Some(file);
        self.keys = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        let keys = match &self.keys {
            Some(k) => k.clone(),
            None => {
                let mut keys: Vec<String> = logs.keys().map(str::to_string).collect();
                keys.sort();
                if !keys.is_empty() && !keys.iter().any(|k| k.starts_with("val_")) {
                    let val: Vec<String> = keys.iter().map(|k| format!("val_{k}")).collect();
                    keys.extend(val);
                }
                if self.write_header {
                    let header: Vec<String> =
                        std::iter::once("epoch".to_string()).chain(keys.iter().cloned()).collect();
                    self.write_row(&header)?;
                }
                self.keys = Some(keys.clone());
                keys
            }
        };
        let mut row = vec![epoch.to_string()];
        row.extend(keys.iter().map(|k| logs.get(k).map_or_else(|| "NA".to_string(), repr_f64)));
        self.write_row(&row)
    }

    fn on_train_end(&mut self, _logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}
