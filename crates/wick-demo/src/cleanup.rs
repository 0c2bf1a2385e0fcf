//! Removing what a killed run left behind: the temporary files and folders the examples
//! write before renaming them into place (`tempfile` names: a prefix, 6 random
//! alphanumerics, a suffix).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::PathError;

/// Whether `name` is `prefix` + 6 ASCII alphanumerics + `suffix`: a name `tempfile`'s
/// `Builder::new().prefix(prefix).suffix(suffix)` makes.
pub fn is_temp_name(name: &str, prefix: &str, suffix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .is_some_and(|random| random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The newest modification time of `path` and, for a folder, of its direct entries (a
/// folder being filled changes its sub-folders' times, not only its own).
fn last_modified(path: &Path, is_dir: bool) -> std::io::Result<SystemTime> {
    let mut newest = std::fs::symlink_metadata(path)?.modified()?;
    if is_dir {
        for entry in std::fs::read_dir(path)? {
            let modified = entry?.metadata()?.modified()?;
            newest = newest.max(modified);
        }
    }
    Ok(newest)
}

/// Removes the leftovers of interrupted saves in `dir`: the plain files (`dirs` false) or
/// folders (`dirs` true; not symbolic links) whose names [`is_temp_name`] matches and that
/// were last modified before `older_than` (the current process's start, so a save that
/// another run is doing right now is left alone). Nothing else in `dir` is touched; a
/// missing `dir` has nothing to remove. Returns what it removed.
pub fn remove_stale_temps(
    dir: &Path,
    prefix: &str,
    suffix: &str,
    dirs: bool,
    older_than: SystemTime,
) -> Result<Vec<PathBuf>, PathError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PathError::new("list", dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(PathError::at("list", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if !is_temp_name(&name, prefix, suffix) {
            continue;
        }
        let path = entry.path();
        // Not followed: a link is never a leftover of ours.
        let Ok(kind) = entry.file_type() else { continue };
        if (dirs && !kind.is_dir()) || (!dirs && !kind.is_file()) {
            continue;
        }
        // Unreadable times: not ours to judge, leave it.
        match last_modified(&path, dirs) {
            Ok(t) if t < older_than => {}
            _ => continue,
        }
        let result = if dirs { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match result {
            Ok(()) => removed.push(path),
            // Removed meanwhile by another run.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(PathError::new("remove the leftover of an interrupted run", path, e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn temp_names() {
        assert!(is_temp_name(".shapes-a1B2c3", ".shapes-", ""));
        assert!(is_temp_name(".config-a1B2c3.json.tmp", ".config-", ".json.tmp"));
        for name in [".shapes-a1B2c", ".shapes-a1B2c34", ".shapes-a1B2c!", "shapes-a1B2c3", ".shapes-", "x"] {
            assert!(!is_temp_name(name, ".shapes-", ""), "{name}");
        }
    }

    #[test]
    fn removes_only_old_matching_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let start = SystemTime::now();
        let old = start - Duration::from_secs(3600);
        let mk_dir = |name: &str, time: SystemTime| {
            let p = dir.join(name);
            std::fs::create_dir_all(p.join("circle")).unwrap();
            std::fs::write(p.join("circle").join("0.png"), b"x").unwrap();
            for q in [p.join("circle"), p.clone()] {
                std::fs::File::open(&q).unwrap().set_modified(time).unwrap();
            }
            p
        };
        let stale = mk_dir(".shapes-aaaaaa", old);
        let other = mk_dir(".shapes-keep", old);
        let fresh = mk_dir(".shapes-bbbbbb", start + Duration::from_secs(3600));
        // Started before this process, but its class sub-folder is still being written.
        let busy = mk_dir(".shapes-cccccc", old);
        std::fs::File::open(busy.join("circle")).unwrap().set_modified(start + Duration::from_secs(1)).unwrap();
        let file = dir.join(".shapes-dddddd");
        std::fs::write(&file, b"not a folder").unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(old).unwrap();

        let removed = remove_stale_temps(dir, ".shapes-", "", true, start).unwrap();
        assert_eq!(removed, std::slice::from_ref(&stale));
        assert!(!stale.exists());
        for kept in [&other, &fresh, &busy, &file] {
            assert!(kept.exists(), "{}", kept.display());
        }
        assert!(remove_stale_temps(&dir.join("missing"), ".shapes-", "", true, SystemTime::now()).unwrap().is_empty());
    }
}
