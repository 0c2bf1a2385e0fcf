//! The `wick-events` command: dump, list and validate TensorBoard event files. Built
//! with feature `cli` (on by default); the binary only calls [`run`].
//!
//! Every PATH may be a log directory (all runs below it), a run directory or a single
//! event file. Exit status: 0 when fine, 1 when the data has errors, 2 on usage or
//! I/O errors.

mod json;

use crate::decode::{plugin_name, DecodeOptions};
use crate::lazy::LazyEvent;
use crate::reader::find_runs;
use crate::validate::{scan_file, validate_path, FileItem, Problem, Report, Severity};
use clap::{Parser, Subcommand};
use json::{event_to_json, SummaryValueJson};
use serde::Serialize;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufWriter, ErrorKind, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "wick-events", version, about = "Dump, list and validate TensorBoard event files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every event as one JSON line: run, file, offset and the decoded event.
    Dump {
        /// Include the bytes of images (and audio) as base64.
        #[arg(long)]
        images_base64: bool,
        /// Log directories, run directories or event files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List each run's tags: plugin, number of values, first and last step.
    Tags {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// A log directory, a run directory or an event file.
        path: PathBuf,
    },
    /// Check files against what TensorBoard needs; exit 1 when there are errors.
    Validate {
        /// Log directories, run directories or event files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// Exit statuses.
const OK: u8 = 0;
const DATA_ERRORS: u8 = 1;
const USAGE_OR_IO: u8 = 2;

/// Why a command stopped early: stdout failed (e.g. a closed pipe).
struct OutputError(std::io::Error);

impl From<std::io::Error> for OutputError {
    fn from(e: std::io::Error) -> Self {
        OutputError(e)
    }
}

type Out<'a> = BufWriter<std::io::StdoutLock<'a>>;

/// Runs `wick-events` with these command-line arguments (the first one is the program
/// name, as in [`std::env::args_os`]), printing to stdout and stderr, and returns the exit
/// status: 0 when fine (also after `--help` and `--version`), 1 when the data has errors,
/// 2 on usage or I/O errors. A closed stdout (`| head`) ends the command with status 0.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout, usage errors to stderr, as `Cli::parse` does.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(USAGE_OR_IO));
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let result = match cli.command {
        Command::Dump { images_base64, paths } => dump(&mut out, &paths, DecodeOptions { blobs_base64: images_base64 }),
        Command::Tags { json, path } => tags(&mut out, &path, json),
        Command::Validate { paths } => validate(&mut out, &paths),
    };
    match result.and_then(|code| out.flush().map(|()| code).map_err(OutputError)) {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head`): nothing left to do.
        Err(OutputError(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::from(OK),
        Err(OutputError(e)) => {
            eprintln!("error: cannot write output: {e}");
            ExitCode::from(USAGE_OR_IO)
        }
    }
}

/// Tracks the exit status of a command that reads several paths.
#[derive(Default)]
struct Status {
    data_errors: bool,
    io_errors: bool,
}

impl Status {
    fn problem(&mut self, p: &Problem) {
        eprintln!("{p}");
        self.data_errors |= p.severity == Severity::Error;
    }

    fn io(&mut self, e: &crate::Error) {
        eprintln!("error: {e}");
        self.io_errors = true;
    }

    fn code(&self) -> u8 {
        if self.io_errors {
            USAGE_OR_IO
        } else if self.data_errors {
            DATA_ERRORS
        } else {
            OK
        }
    }

    /// The runs under `path`, or `None` (reported) when there are none or it is unreadable.
    fn runs(&mut self, path: &Path) -> Option<std::collections::BTreeMap<String, Vec<PathBuf>>> {
        match find_runs(path) {
            Ok(runs) if runs.is_empty() => {
                eprintln!(
                    "error: {}: no event files (names containing \"tfevents\") found here or below",
                    path.display()
                );
                self.io_errors = true;
                None
            }
            Ok(runs) => Some(runs),
            Err(e) => {
                self.io(&e);
                None
            }
        }
    }
}

/// One line of `dump`: where the event is, then its decoded fields.
struct DumpLine<'a> {
    run: &'a str,
    file: String,
    offset: u64,
    event: &'a LazyEvent,
}

/// Writes one `dump` line, streaming: the event's summary values are decoded and written
/// one at a time, so the memory needed is the event's bytes and one decoded value (not a
/// JSON tree of the whole event).
fn write_dump_line(out: &mut impl Write, line: &DumpLine<'_>, options: &DecodeOptions) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Where<'a> {
        run: &'a str,
        file: &'a str,
        offset: u64,
    }
    let head = serde_json::to_string(&Where { run: line.run, file: &line.file, offset: line.offset })?;
    let header = event_to_json(&line.event.header(), options);
    out.write_all(head.trim_end_matches('}').as_bytes())?;
    if let serde_json::Value::Object(fields) = &header {
        for (key, value) in fields {
            if key != "summary" {
                write!(out, ",{}:", serde_json::Value::String(key.clone()))?;
                serde_json::to_writer(&mut *out, value)?;
            }
        }
    }
    if line.event.summary_len().is_some() {
        out.write_all(b",\"summary\":[")?;
        for (i, value) in line.event.summary_values().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &SummaryValueJson::new(&value, options))?;
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"}\n")
}

fn dump(out: &mut Out<'_>, paths: &[PathBuf], options: DecodeOptions) -> Result<u8, OutputError> {
    let mut status = Status::default();
    for path in paths {
        let Some(runs) = status.runs(path) else { continue };
        for (run, files) in &runs {
            for file in files {
                let mut write_error = None;
                let scanned = scan_file(file, |item| match item {
                    FileItem::Event { offset, event } => {
                        let line = DumpLine { run, file: file.display().to_string(), offset, event: &event };
                        match write_dump_line(&mut *out, &line, &options) {
                            Ok(()) => ControlFlow::Continue(()),
                            Err(e) => {
                                write_error = Some(e);
                                ControlFlow::Break(())
                            }
                        }
                    }
                    FileItem::Problem(p) => {
                        status.problem(&p);
                        ControlFlow::Continue(())
                    }
                });
                if let Some(e) = write_error {
                    return Err(OutputError(e));
                }
                if let Err(e) = scanned {
                    status.io(&e);
                }
            }
        }
    }
    Ok(status.code())
}

/// One line of `tags`.
#[derive(Serialize)]
struct TagRow {
    run: String,
    tag: String,
    plugin: String,
    count: u64,
    first_step: i64,
    last_step: i64,
}

fn tags(out: &mut Out<'_>, path: &Path, json: bool) -> Result<u8, OutputError> {
    let mut status = Status::default();
    let mut rows: Vec<TagRow> = Vec::new();
    for (run, files) in status.runs(path).unwrap_or_default() {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut run_rows: Vec<TagRow> = Vec::new();
        for file in &files {
            let scanned = scan_file(file, |item| {
                match item {
                    FileItem::Event { event, .. } => {
                        let step = event.step();
                        for value in event.summary_values() {
                            let value = &value;
                            let i = *index.entry(value.tag.clone()).or_insert_with(|| {
                                run_rows.push(TagRow {
                                    run: run.clone(),
                                    tag: value.tag.clone(),
                                    plugin: plugin_name(value).to_string(),
                                    count: 0,
                                    first_step: step,
                                    last_step: step,
                                });
                                run_rows.len() - 1
                            });
                            run_rows[i].count += 1;
                            run_rows[i].last_step = step;
                        }
                    }
                    FileItem::Problem(p) => status.problem(&p),
                }
                ControlFlow::Continue(())
            });
            if let Err(e) = scanned {
                status.io(&e);
            }
        }
        run_rows.sort_by(|a, b| a.tag.cmp(&b.tag));
        rows.extend(run_rows);
    }
    if json {
        for row in &rows {
            serde_json::to_writer(&mut *out, row).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    } else {
        print_table(out, &rows)?;
    }
    Ok(status.code())
}

fn print_table(out: &mut Out<'_>, rows: &[TagRow]) -> std::io::Result<()> {
    let header = ["RUN", "TAG", "PLUGIN", "COUNT", "FIRST_STEP", "LAST_STEP"].map(String::from);
    let cells: Vec<[String; 6]> = std::iter::once(header)
        .chain(rows.iter().map(|r| {
            [
                r.run.clone(),
                r.tag.clone(),
                r.plugin.clone(),
                r.count.to_string(),
                r.first_step.to_string(),
                r.last_step.to_string(),
            ]
        }))
        .collect();
    let mut widths = [0usize; 6];
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &cells {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

fn validate(out: &mut Out<'_>, paths: &[PathBuf]) -> Result<u8, OutputError> {
    let mut status = Status::default();
    let mut report = Report::default();
    for path in paths {
        match validate_path(path) {
            Ok(r) => report.merge(r),
            Err(e) => status.io(&e),
        }
    }
    for p in &report.problems {
        writeln!(out, "{p}")?;
    }
    writeln!(out, "{}", report.summary())?;
    status.data_errors = !report.is_ok();
    Ok(status.code())
}
