//! `EventWriter`: one event file, fed from any thread, written by a background thread.
//!
//! Callers encode and frame each record straight into a shared in-memory buffer (one
//! short lock, no allocation once the buffer has grown); the writer thread swaps the
//! buffer out and hands it to the operating system in one `write_all`, every
//! `flush_interval`, whenever `chunk_bytes` are pending, on [`EventWriter::flush`], on
//! [`EventWriter::close`] and on drop. A caller waits only when `max_pending_bytes` are
//! already queued, i.e. when the disk cannot keep up for a long time.

use crate::file_name::event_file_name;
use crate::proto::{event, Event};
use crate::record::{append_record, append_record_with};
use crate::{Error, Result};
use prost::Message;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The `file_version` of the first event of every file.
pub const FILE_VERSION: &str = "brain.Event:2";

/// Tuning of an [`EventWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Longest time a written event waits in memory before it reaches the file. Short
    /// by default, so a live TensorBoard (reloading every 5 s) sees points within seconds.
    pub flush_interval: Duration,
    /// Pending bytes that wake the writer thread before the interval is up.
    pub chunk_bytes: usize,
    /// Pending bytes at which callers block until the writer thread catches up.
    pub max_pending_bytes: usize,
    /// Appended to the file name, e.g. `".v2"`; empty by default.
    pub filename_suffix: String,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            flush_interval: Duration::from_secs(1),
            chunk_bytes: 1 << 20,
            max_pending_bytes: 16 << 20,
            filename_suffix: String::new(),
        }
    }
}

struct State {
    pending: Vec<u8>,
    /// Flushes asked for / completed; a flush waits until `done >= its ticket`.
    flush_asked: u64,
    flush_done: u64,
    closing: bool,
    error: Option<Error>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread.
    work: Condvar,
    /// Wakes callers waiting for space or for a flush to complete.
    progress: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` inconsistent (every update
        // is a single assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes events to one new file `events.out.tfevents.<secs>.<host>.<pid>.<n>` in a
/// directory (a TensorBoard "run").
///
/// Write errors are never dropped: the first one is returned by the next write,
/// [`flush`](Self::flush) or [`close`](Self::close), and every later call fails too.
/// Dropping the writer closes it; an error found then can only be printed to stderr,
/// so call `close` to see it.
///
/// ```
/// # fn main() -> Result<(), wick_tfevents::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let writer = wick_tfevents::EventWriter::new(dir.path())?;
/// writer.write_event(&wick_tfevents::proto::Event { wall_time: 1.0, step: 3, ..Default::default() })?;
/// writer.close()?;
/// # Ok(()) }
/// ```
pub struct EventWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    max_pending_bytes: usize,
    chunk_bytes: usize,
}

impl EventWriter {
    /// Creates `logdir` if needed and a new event file in it, with default options.
    pub fn new(logdir: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(logdir, WriterOptions::default())
    }

    /// Creates `logdir` if needed and a new event file in it. The first record
    /// (`file_version`) is on disk when this returns. Every error names the path it is
    /// about: the log directory (missing and not creatable, or a file) or the event file.
    pub fn with_options(logdir: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let logdir = logdir.as_ref();
        std::fs::create_dir_all(logdir).map_err(|e| Error::write(logdir, e))?;
        let now = wall_time_now();
        let (path, mut file) = create_unique(logdir, now, &options.filename_suffix)?;
        let mut first = Vec::new();
        let version =
            Event { wall_time: now, what: Some(event::What::FileVersion(FILE_VERSION.into())), ..Default::default() };
        append_record(&mut first, &version.encode_to_vec());
        file.write_all(&first).map_err(|e| Error::write(&path, e))?;

        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::new(),
                flush_asked: 0,
                flush_done: 0,
                closing: false,
                error: None,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread_path = path.clone();
        let interval = options.flush_interval;
        let chunk = options.chunk_bytes.max(1);
        let thread = std::thread::Builder::new()
            .name("wick-tfevents-writer".into())
            .spawn(move || writer_loop(&thread_shared, file, &thread_path, interval, chunk))
            .map_err(|e| Error::write(&path, e))?;
        Ok(EventWriter {
            shared,
            thread: Some(thread),
            path,
            max_pending_bytes: options.max_pending_bytes.max(1),
            chunk_bytes: chunk,
        })
    }

    /// Path of the event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one event.
    pub fn write_event(&self, event: &Event) -> Result<()> {
        self.write_payload(|out| {
            event.encode_raw(out);
        })
    }

    /// Queues one record whose payload (a serialized `Event`) `encode` appends to the
    /// buffer it is given. The buffer is shared: `encode` must only append.
    pub fn write_payload(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut st = self.shared.lock();
        loop {
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.closing {
                return Err(Error::Closed { path: self.path.clone() });
            }
            if st.pending.len() < self.max_pending_bytes {
                break;
            }
            self.shared.work.notify_one();
            st = self.shared.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let before = st.pending.len();
        append_record_with(&mut st.pending, encode);
        if before < self.chunk_bytes && st.pending.len() >= self.chunk_bytes {
            self.shared.work.notify_one();
        }
        Ok(())
    }

    /// Blocks until every event queued so far has been handed to the operating system
    /// (a process killed afterwards loses none of them), and returns any write error.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.shared.lock();
        if let Some(e) = &st.error {
            return Err(e.clone());
        }
        if st.closing {
            return Err(Error::Closed { path: self.path.clone() });
        }
        st.flush_asked += 1;
        let ticket = st.flush_asked;
        self.shared.work.notify_one();
        while st.flush_done < ticket && st.error.is_none() {
            st = self.shared.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.error.clone().map_or(Ok(()), Err)
    }

    /// Writes everything queued, stops the writer thread and returns any write error.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        {
            let mut st = self.shared.lock();
            st.closing = true;
            self.shared.work.notify_one();
        }
        if thread.join().is_err() {
            return Err(Error::write(&self.path, std::io::Error::other("event writer thread panicked")));
        }
        self.shared.lock().error.clone().map_or(Ok(()), Err)
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("wick-tfevents: {e}");
        }
    }
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter").field("path", &self.path).finish_non_exhaustive()
    }
}

fn writer_loop(shared: &Shared, mut file: File, path: &Path, interval: Duration, chunk: usize) {
    let mut spare: Vec<u8> = Vec::new();
    let mut deadline = Instant::now() + interval;
    loop {
        let mut st = shared.lock();
        while !(st.closing || st.flush_asked > st.flush_done || st.pending.len() >= chunk) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = shared.work.wait_timeout(st, deadline - now).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
        let ticket = st.flush_asked;
        let closing = st.closing;
        std::mem::swap(&mut st.pending, &mut spare);
        drop(st);
        shared.progress.notify_all();

        let result = if spare.is_empty() { Ok(()) } else { file.write_all(&spare).and_then(|()| file.flush()) };
        spare.clear();
        deadline = Instant::now() + interval;

        let mut st = shared.lock();
        if let Err(e) = result {
            if st.error.is_none() {
                st.error = Some(Error::write(path, e));
            }
        }
        st.flush_done = st.flush_done.max(ticket);
        drop(st);
        shared.progress.notify_all();
        if closing {
            // Anything queued after `closing` was set is refused, so nothing is left.
            return;
        }
    }
}

/// Seconds since the Unix epoch, as event files store time.
pub fn wall_time_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Creates a file with a fresh name in `dir`, never reusing an existing one.
fn create_unique(dir: &Path, now: f64, suffix: &str) -> Result<(PathBuf, File)> {
    loop {
        let path = dir.join(event_file_name(now, suffix));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::write(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests run as root in CI, so errors are provoked with paths, not permissions.
    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        for logdir in [file.clone(), file.join("run"), file.join("a/b")] {
            let e = EventWriter::new(&logdir).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, Error::Write { .. }), "{text}");
            assert!(text.contains(&logdir.display().to_string()), "{text}");
        }
        let e = crate::SummaryWriter::new(file.join("run")).unwrap_err();
        assert!(e.to_string().contains(&file.join("run").display().to_string()), "{e}");
    }
}
