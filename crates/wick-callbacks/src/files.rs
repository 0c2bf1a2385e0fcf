//! What the file-writing callbacks share: wick's temporary-file prefix and the removal of
//! stale temporary files, content hashes, durable renames, and the test-only crash hook.

use crate::{Error, Result};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The prefix of every temporary file and folder wick's callbacks (and
/// [`ModelVars::save`](crate::ModelVars::save), and wick-optim's `save_state`) create
/// beside their destination. A name starting with it that is older than the current
/// process is a leftover of a killed run, which the next run's `ModelCheckpoint` /
/// `BackupAndRestore` removes at `on_train_begin`.
pub const TEMP_PREFIX: &str = ".wick-tmp-";

/// Test-only crash hook: the environment variable read (once per process) by
/// [`crash_point`]. See its docs.
pub const CRASH_ENV: &str = "WICK_TEST_CRASH_AT";

/// **Test-only** crash hook, used by this crate's crash tests. When the environment
/// variable [`CRASH_ENV`] (`WICK_TEST_CRASH_AT`) is `<sequence>:<n>` (e.g. `checkpoint:3`),
/// the `n`-th call (1-based, counted over the whole process) with that `sequence` kills
/// the process with SIGKILL (falling back to `abort`) before returning, as a `kill -9` at
/// that point would. The save sequences call it after each write, fsync, rename and
/// removal: `"checkpoint"` (ModelCheckpoint) and `"backup"` (BackupAndRestore). Without
/// the variable (always, outside tests) it does nothing but count.
pub(crate) fn crash_point(sequence: &str, step: &str) {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static CHECKPOINT: AtomicU64 = AtomicU64::new(0);
    static BACKUP: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let value = std::env::var(CRASH_ENV).ok()?;
        let (name, n) = value.rsplit_once(':')?;
        Some((name.to_string(), n.trim().parse().ok()?))
    });
    let counter = match sequence {
        "checkpoint" => &CHECKPOINT,
        _ => &BACKUP,
    };
    let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some((name, n)) = target {
        if name == sequence && *n == count {
            eprintln!("{CRASH_ENV}: killing the process at {sequence} step {count} ({step})");
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
            std::thread::sleep(Duration::from_secs(5));
            std::process::abort();
        }
    }
}

/// When the current process started, a little early rather than late (Linux: its age from
/// `/proc/self/stat` and `/proc/uptime`, to about 10 ms, minus 50 ms; elsewhere the first
/// time this is asked, which is before any of this process's saves).
pub(crate) fn process_start() -> SystemTime {
    static START: OnceLock<SystemTime> = OnceLock::new();
    *START.get_or_init(|| {
        let now = SystemTime::now();
        match process_age() {
            Some(age) => now.checked_sub(age + Duration::from_millis(50)).unwrap_or(SystemTime::UNIX_EPOCH),
            None => now,
        }
    })
}

/// How long ago the current process started, from the clock since boot.
fn process_age() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22 (starttime, in clock ticks of 1/100 s since boot); the command name (field
    // 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let age = uptime - ticks as f64 / 100.0;
    (age.is_finite() && age >= 0.0).then(|| Duration::from_secs_f64(age))
}

/// True for the names of wick's temporary files and folders (and those of older wick
/// versions, `legacy`).
fn is_temp_name(name: &str, legacy: &[&str]) -> bool {
    name.starts_with(TEMP_PREFIX) || legacy.iter().any(|p| name.starts_with(p))
}

/// Removes wick's temporary files and folders in `dir` (not recursively) that were last
/// modified before this process started: leftovers of a killed run. Names not starting
/// with [`TEMP_PREFIX`] (or one of `legacy`) and newer entries are left alone. A missing
/// `dir` is fine.
pub(crate) fn remove_stale_temps(dir: &Path, legacy: &[&str]) -> Result<Vec<PathBuf>> {
    let start = process_start();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_temp_name(&name, legacy) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        match meta.modified() {
            Ok(t) if t < start => {}
            _ => continue,
        }
        let result = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(removed)
}

/// The CRC-32C of a file's content, read in blocks (bounded memory).
pub(crate) fn crc32c_file(path: &Path) -> std::io::Result<u32> {
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = 0u32;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(crc);
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
}

/// Formats a CRC-32C for a manifest.
pub(crate) fn crc_hex(crc: u32) -> String {
    format!("{crc:08x}")
}

/// Flushes `path`'s content to the disk.
pub(crate) fn sync_file(path: &Path) -> std::io::Result<()> {
    fs::File::open(path)?.sync_all()
}

/// Makes renames inside `dir` durable; best effort (not possible on every platform).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// `path`'s folder (`"."` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A fresh, empty temporary file `dir/.wick-tmp-*<suffix>` that stays (the caller renames
/// or removes it).
pub(crate) fn new_temp_file(dir: &Path, suffix: &str) -> std::io::Result<PathBuf> {
    let tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(suffix).tempfile_in(dir)?;
    tmp.into_temp_path().keep().map_err(|e| e.error)
}

/// The safetensors metadata of `path` (empty when it has none); `None` when the file
/// cannot be read or is not safetensors.
pub(crate) fn safetensors_metadata(path: &Path) -> Option<std::collections::HashMap<String, String>> {
    let mut f = fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let meta = value.get("__metadata__").and_then(|m| m.as_object());
    Some(
        meta.map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default(),
    )
}
