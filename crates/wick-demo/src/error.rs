//! The examples' errors: [`Error`] for anything, [`PathError`] for an I/O error about one
//! path, and [`is_broken_pipe`] to tell a closed stdout from a real failure.

use std::io;
use std::path::{Path, PathBuf};

/// The examples' error: any error, with its source chain (print it with
/// `wick::data::with_sources`).
pub type Error = Box<dyn std::error::Error>;

/// An I/O error about one path: `cannot <action> <path>`, with the OS error as its source.
#[derive(Debug)]
pub struct PathError {
    /// What was being done, e.g. `"write the run configuration"`.
    pub action: String,
    /// The path it was about (the final destination when a temporary file failed).
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

impl PathError {
    /// `cannot <action> <path>: <source>`.
    pub fn new(action: impl Into<String>, path: impl Into<PathBuf>, source: io::Error) -> Self {
        PathError { action: action.into(), path: path.into(), source }
    }

    /// A `map_err` closure: `.map_err(PathError::at("read", &path))`.
    pub fn at<'a>(action: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> PathError + 'a {
        move |source| PathError::new(action, path, source)
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot {} {}", self.action, self.path.display())
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Whether `error` or one of its sources is an I/O error of kind
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe): stdout's reader went away (`| head`). The
/// examples then end quietly, with status 0, as `wick-events` does.
pub fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) {
            return true;
        }
        next = e.source();
    }
    false
}

/// The examples' stdout: each write goes through [`std::io::stdout`], and a failed one is
/// an I/O error of the same kind naming stdout (a closed reader stays
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe), see [`is_broken_pipe`]). Unlike `println!`,
/// it never panics. A quiet one ([`Stdout::quiet_unless`]) drops everything: the
/// non-chief ranks of a distributed run print nothing.
#[derive(Debug)]
pub struct Stdout(Option<io::Stdout>);

/// The examples' [`Stdout`].
pub fn stdout() -> Stdout {
    Stdout(Some(io::stdout()))
}

impl Stdout {
    /// The examples' stdout when `speak` holds (the chief of a distributed run), else one
    /// that discards what is written.
    pub fn quiet_unless(speak: bool) -> Stdout {
        Stdout(speak.then(io::stdout))
    }
}

fn named_stdout(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), PathError::new("write to", "stdout", e))
}

impl io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(out) => out.write(buf).map_err(named_stdout),
            None => Ok(buf.len()),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Some(out) => out.write_all(buf).map_err(named_stdout),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Some(out) => out.flush().map_err(named_stdout),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_error_names_the_path_and_keeps_the_source() {
        let e = PathError::new("write", "/x/config.json", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), "cannot write /x/config.json");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let pipe = PathError::new("write to", "stdout", io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&pipe));
        let boxed: Error = Box::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&*boxed));
        let other = PathError::new("write", "f", io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!is_broken_pipe(&other));
        // As Stdout reports it: the kind is kept, the message names stdout.
        let named = named_stdout(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&named));
        assert!(named.to_string().contains("stdout"), "{named}");
    }
}
