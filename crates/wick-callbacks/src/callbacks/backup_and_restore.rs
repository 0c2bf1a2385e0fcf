//! `BackupAndRestore`: Keras' fault-tolerance callback. Backs the run up as it goes and,
//! when a killed run is started again with the same arguments, restores the backup so
//! the loop continues where it stopped.

use crate::callback::Callback;
use crate::context::Context;
use crate::files::{self, crash_point, TEMP_PREFIX};
use crate::logs::Logs;
use crate::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "BackupAndRestore";
const MANIFEST: &str = "checkpoint";
const MANIFEST_HEADER: &str = "wick-backup 1";
const CKPT_PREFIX: &str = "ckpt-";
/// Temporary names of earlier wick versions, removed like [`TEMP_PREFIX`]'s.
const LEGACY_TEMP_PREFIXES: &[&str] = &[".tmp-ckpt-", ".write-test-"];
const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "state.txt";

// When `BackupAndRestore` saves (Keras' `save_freq`; the type `ModelCheckpoint` uses):
// `SaveFreq::Epoch` at every epoch end, `SaveFreq::Batches(n)` after every `n` training
// batches, counted over the whole run (across epochs and restarts).
use super::model_checkpoint::SaveFreq;

/// Where a backup says the run stands: what the loop runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackupState {
    /// The epoch to run next (0-based).
    pub epoch: usize,
    /// The batch of that epoch to run next (0 with epoch-wise saving).
    pub step: usize,
    /// Training batches run so far over the whole run.
    pub global_step: u64,
    /// Whether the backup holds optimizer state.
    pub has_optimizer: bool,
}

/// Keras' `BackupAndRestore(backup_dir, save_freq="epoch", double_checkpoint=False,
/// delete_checkpoint=True)`.
///
/// **Saving.** With [`SaveFreq::Epoch`], at `on_epoch_end(e)` it saves the state "next:
/// epoch `e+1`, batch 0"; with [`SaveFreq::Batches`]`(n)`, after every `n`-th training batch
/// it saves "next: this epoch, the following batch". A backup holds the model's variables
/// ([`ModelVars::save`](crate::ModelVars::save)), the optimizer's state
/// ([`LrControl::save_state`](wick_optim::LrControl::save_state): iterations, learning
/// rate, slots) when the loop provides an optimizer, and the epoch, batch and global batch
/// counter.
///
/// **Atomicity.** Each backup is written into a fresh temporary folder
/// (`backup_dir/.wick-tmp-*`): the model file, the optimizer file (both carrying the epoch
/// in their safetensors metadata) and `state.txt` (epoch, batch, global step, and each
/// file's CRC-32C), each synced; the folder is synced and renamed to
/// `backup_dir/ckpt-NNNNNNNN`; then the small manifest `backup_dir/checkpoint`, which
/// names the current folder, is replaced by a synced temp-file-and-rename (the commit),
/// and only then is the previous folder deleted. A process killed at any moment therefore
/// leaves a manifest naming a complete backup (or no manifest before the first backup):
/// killed before the folder's rename, the old manifest and folder are untouched and the
/// temporary folder is a leftover; killed after it, the renamed folder is not named by
/// the manifest until the commit, and is removed at the next start; killed after the
/// commit, the previous folder is an unreferenced leftover. At the next `on_train_begin`
/// unreferenced `ckpt-*` folders and wick's temporary files older than the process are
/// removed (nothing else). Restoring checks each file against the CRC-32C in `state.txt`:
/// a folder whose files do not match (replaced or damaged) is an
/// [`Error::CheckpointMismatch`] naming the files and the epochs they hold, and nothing
/// is loaded. With `double_checkpoint`, the previous backup is kept too and named in the
/// manifest, and restoring falls back to it when the latest cannot be loaded.
///
/// The save steps call a test-only crash hook (environment variable
/// `WICK_TEST_CRASH_AT=backup:<n>`, see [`ModelCheckpoint`](crate::ModelCheckpoint)).
///
/// **Restoring.** At `on_train_begin`, if the manifest exists, the backup is loaded into
/// the model and optimizer and `ctx.state.initial_epoch`, `ctx.state.initial_step` and
/// `ctx.state.global_step` are set: the loop then runs epochs `initial_epoch..epochs`
/// (`epochs` is the total, as in Keras) and, in its first epoch, skips the batches before
/// `initial_step` (Keras restarts an interrupted epoch from its first batch; resuming at the
/// batch keeps the run identical to an uninterrupted one). The loop must report the true
/// batch index of the epoch in the batch hooks.
///
/// **Randomness.** Nothing random is saved: a resumed run is identical to an uninterrupted
/// one (bit for bit on CPU) when the loop derives its randomness (shuffling, dropout) from
/// its seed and the epoch (and batch) number, as wick's loop does, so epoch and batch are
/// all that is needed. Running metric values of an epoch resumed mid-way cover only the
/// batches run after the restart.
///
/// **Deleting.** At `on_train_end` (a run that completed, also after early stopping), with
/// `delete_checkpoint` (the default) the backup files are deleted, then `backup_dir` if it
/// is left empty (other files in it are kept; Keras deletes the whole tree). A run that
/// ends with an error never reaches `on_train_end`, so its backup stays for the restart.
///
/// **Distributed runs** (Keras' multi-worker rule; [`Context::worker`]): only the chief
/// (rank 0) creates, writes, tidies and deletes the backup; every rank restores from it at
/// `on_train_begin`, so a restarted job resumes with all ranks at the same epoch and batch.
/// `backup_dir` must therefore be on storage every rank reads (a shared file system when
/// the ranks run on several machines).
#[derive(Debug)]
pub struct BackupAndRestore {
    backup_dir: PathBuf,
    save_freq: SaveFreq,
    delete_checkpoint: bool,
    double_checkpoint: bool,
    global_step: u64,
    epoch: usize,
    step_in_epoch: usize,
    resume_step: Option<usize>,
    seq: u64,
    restored: Option<BackupState>,
}

impl BackupAndRestore {
    /// Backs up into `backup_dir` at every epoch end, deleting the backup when training
    /// completes.
    pub fn new(backup_dir: impl AsRef<Path>) -> Self {
        BackupAndRestore {
            backup_dir: backup_dir.as_ref().to_path_buf(),
            save_freq: SaveFreq::Epoch,
            delete_checkpoint: true,
            double_checkpoint: false,
            global_step: 0,
            epoch: 0,
            step_in_epoch: 0,
            resume_step: None,
            seq: 0,
            restored: None,
        }
    }

    /// When to save: [`SaveFreq::Epoch`] (default) or every `n` batches.
    pub fn save_freq(mut self, freq: SaveFreq) -> Self {
        self.save_freq = freq;
        self
    }

    /// Whether to delete the backup when training completes (default `true`).
    pub fn delete_checkpoint(mut self, on: bool) -> Self {
        self.delete_checkpoint = on;
        self
    }

    /// Keep the previous backup as well, as a fallback if the latest cannot be loaded
    /// (default `false`).
    pub fn double_checkpoint(mut self, on: bool) -> Self {
        self.double_checkpoint = on;
        self
    }

    /// The backup folder.
    pub fn backup_dir(&self) -> &Path {
        &self.backup_dir
    }

    /// What the last `on_train_begin` restored, if it found a backup.
    pub fn restored(&self) -> Option<BackupState> {
        self.restored
    }

    /// The state of the latest complete backup in `backup_dir`, if there is one.
    pub fn latest(backup_dir: impl AsRef<Path>) -> Result<Option<BackupState>> {
        let dir = backup_dir.as_ref();
        match read_manifest(dir)? {
            Some(m) => Ok(Some(read_state(&dir.join(&m.latest))?)),
            None => Ok(None),
        }
    }

    /// Saves a backup whose state is "next: `epoch`, `step`", taken during epoch
    /// `tag_epoch` (1-based, for the files' metadata).
    fn save(&mut self, ctx: &mut Context<'_>, epoch: usize, step: usize, tag_epoch: usize) -> Result<()> {
        if !ctx.worker().is_chief() {
            // Keras' multi-worker rule: the chief writes the backup, every rank restores it.
            return Ok(());
        }
        let dir = self.backup_dir.clone();
        let model = ctx.model(NAME)?;
        let name = format!("{CKPT_PREFIX}{:08}", self.seq + 1);
        let target = dir.join(&name);
        let fail =
            |temp: Option<&Path>, e: Box<dyn std::error::Error + Send + Sync>| Error::write("backup", &target, temp, e);
        fs::create_dir_all(&dir).map_err(|e| fail(None, e.into()))?;
        let tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir_in(&dir).map_err(|e| fail(None, e.into()))?;
        let t = tmp.path();
        let tags: Vec<(String, String)> = vec![
            ("wick.epoch".into(), tag_epoch.to_string()),
            ("wick.global_step".into(), self.global_step.to_string()),
        ];
        let model_path = t.join(MODEL_FILE);
        model
            .write_safetensors(&model_path, Some(tags.iter().cloned().collect()))
            .map_err(|e| fail(Some(&model_path), e))?;
        let model_crc = files::crc32c_file(&model_path).map_err(|e| fail(Some(&model_path), e.into()))?;
        crash_point("backup", "model written");
        let has_optimizer = ctx.has_optimizer();
        let mut optimizer_crc = None;
        if has_optimizer {
            let path = t.join(OPTIMIZER_FILE);
            ctx.optimizer(NAME)?.save_state_with_metadata(&path, &tags).map_err(|e| fail(Some(&path), e.into()))?;
            files::sync_file(&path).map_err(|e| fail(Some(&path), e.into()))?;
            optimizer_crc = Some(files::crc32c_file(&path).map_err(|e| fail(Some(&path), e.into()))?);
        }
        crash_point("backup", "optimizer state written");
        let state = BackupState { epoch, step, global_step: self.global_step, has_optimizer };
        let mut text = format_state(&state);
        text.push_str(&format!("saved_in_epoch {tag_epoch}\n{MODEL_FILE} crc32c {}\n", files::crc_hex(model_crc)));
        if let Some(crc) = optimizer_crc {
            text.push_str(&format!("{OPTIMIZER_FILE} crc32c {}\n", files::crc_hex(crc)));
        }
        let state_path = t.join(STATE_FILE);
        write_file(&state_path, text.as_bytes()).map_err(|e| fail(Some(&state_path), e.into()))?;
        crash_point("backup", "state written");
        files::sync_dir(t);
        crash_point("backup", "folder synced");

        if target.exists() {
            fs::remove_dir_all(&target).map_err(|e| fail(None, e.into()))?;
        }
        let tmp_path = tmp.keep();
        if let Err(e) = fs::rename(&tmp_path, &target) {
            let _ = fs::remove_dir_all(&tmp_path);
            return Err(fail(Some(&tmp_path), e.into()));
        }
        self.seq += 1;
        files::sync_dir(&dir);
        crash_point("backup", "folder renamed");

        let previous = read_manifest(&dir)?.map(|m| m.latest);
        let manifest = Manifest { latest: name, previous: if self.double_checkpoint { previous } else { None } };
        write_manifest(&dir, &manifest)?;
        remove_unreferenced(&dir, &manifest)?;
        crash_point("backup", "old backups removed");
        Ok(())
    }

    /// Loads the backup folder `name` into the model and optimizer.
    fn load(&self, ctx: &mut Context<'_>, name: &str) -> Result<BackupState> {
        let folder = self.backup_dir.join(name);
        let state = read_state(&folder)?;
        match (state.has_optimizer, ctx.has_optimizer()) {
            (true, false) => {
                return Err(Error::BackupMismatch {
                    context: NAME,
                    path: folder,
                    message: "holds optimizer state, but this training loop provides no optimizer".into(),
                })
            }
            (false, true) => {
                return Err(Error::BackupMismatch {
                    context: NAME,
                    path: folder,
                    message: "holds no optimizer state (it was written by a loop without optimizer)".into(),
                })
            }
            _ => {}
        }
        verify_backup(&folder, state.has_optimizer)?;
        ctx.model(NAME)?.load(folder.join(MODEL_FILE))?;
        if state.has_optimizer {
            ctx.optimizer(NAME)?.load_state(&folder.join(OPTIMIZER_FILE))?;
        }
        Ok(state)
    }
}

impl Callback for BackupAndRestore {
    fn needs_batch_logs(&self) -> bool {
        // Counts batches; never reads their logs.
        false
    }

    fn name(&self) -> &str {
        NAME
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                context: NAME,
                message: "save_freq must be at least 1 step; received 0".into(),
            });
        }
        if !ctx.has_model() {
            return Err(Error::Missing { context: NAME, what: "the model's variables" });
        }
        self.restored = None;
        self.global_step = 0;
        self.resume_step = None;
        self.seq = 0;
        let dir = self.backup_dir.clone();
        // In a distributed run only the chief writes and tidies; every rank restores.
        let chief = ctx.worker().is_chief();
        if chief {
            // Fail at start, not after the first epoch, when the folder cannot be written.
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
            // Leftovers of a killed run (never this process's own files).
            files::remove_stale_temps(&dir, LEGACY_TEMP_PREFIXES)?;
        }
        let Some(manifest) = read_manifest(&dir)? else {
            // No complete backup: remove what an interrupted first save may have left.
            if chief && dir.is_dir() {
                remove_unreferenced(&dir, &Manifest { latest: String::new(), previous: None })?;
            }
            return Ok(());
        };
        self.seq = [Some(&manifest.latest), manifest.previous.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|n| seq_of(n))
            .max()
            .unwrap_or(0);
        let state = match self.load(ctx, &manifest.latest) {
            Ok(state) => state,
            Err(latest_error) => match &manifest.previous {
                Some(previous) => self.load(ctx, previous).map_err(|e| Error::BackupUnusable {
                    context: NAME,
                    path: dir.clone(),
                    latest: Box::new(latest_error),
                    previous: Box::new(e),
                })?,
                None => return Err(latest_error),
            },
        };
        if chief {
            remove_unreferenced(&dir, &manifest)?;
        }
        ctx.state.initial_epoch = state.epoch;
        ctx.state.initial_step = state.step;
        ctx.state.global_step = state.global_step;
        self.global_step = state.global_step;
        self.resume_step = Some(state.step);
        self.restored = Some(state);
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut Context<'_>) -> Result<()> {
        self.epoch = epoch;
        self.step_in_epoch = self.resume_step.take().unwrap_or(0);
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, _logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.global_step += 1;
        self.step_in_epoch = self.step_in_epoch.max(batch) + 1;
        if let SaveFreq::Batches(n) = self.save_freq {
            if n > 0 && self.global_step.is_multiple_of(n as u64) {
                let (epoch, step) = (self.epoch, self.step_in_epoch);
                self.save(ctx, epoch, step, epoch + 1)?;
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, _logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Epoch {
            self.save(ctx, epoch + 1, 0, epoch + 1)?;
        }
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if !self.delete_checkpoint || !ctx.worker().is_chief() {
            return Ok(());
        }
        let dir = &self.backup_dir;
        if !dir.is_dir() {
            return Ok(());
        }
        let manifest = dir.join(MANIFEST);
        if manifest.exists() {
            fs::remove_file(&manifest).map_err(|e| Error::io(&manifest, e))?;
        }
        remove_unreferenced(dir, &Manifest { latest: String::new(), previous: None })?;
        // Only when nothing else is in it.
        let _ = fs::remove_dir(dir);
        Ok(())
    }
}

struct Manifest {
    latest: String,
    previous: Option<String>,
}

fn seq_of(name: &str) -> Option<u64> {
    name.strip_prefix(CKPT_PREFIX)
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

fn bad(path: &Path, what: &str) -> Error {
    Error::Corrupt { context: NAME, path: path.to_path_buf(), message: what.to_string() }
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut lines = text.lines();
    if lines.next() != Some(MANIFEST_HEADER) {
        return Err(bad(&path, "not a wick backup manifest"));
    }
    let (mut latest, mut previous) = (None, None);
    for line in lines {
        match line.split_once(' ') {
            Some(("latest", v)) if seq_of(v).is_some() => latest = Some(v.to_string()),
            Some(("previous", v)) if seq_of(v).is_some() => previous = Some(v.to_string()),
            _ if line.trim().is_empty() => {}
            _ => return Err(bad(&path, &format!("unexpected line {line:?}"))),
        }
    }
    let latest = latest.ok_or_else(|| bad(&path, "no `latest` entry"))?;
    Ok(Some(Manifest { latest, previous }))
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let mut text = format!("{MANIFEST_HEADER}\nlatest {}\n", m.latest);
    if let Some(p) = &m.previous {
        text.push_str(&format!("previous {p}\n"));
    }
    let path = dir.join(MANIFEST);
    let fail = |temp: Option<&Path>, e: std::io::Error| Error::write("backup manifest", &path, temp, e);
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir).map_err(|e| fail(None, e))?;
    let written = tmp.write_all(text.as_bytes()).and_then(|()| tmp.as_file().sync_all());
    written.map_err(|e| fail(Some(tmp.path()), e))?;
    crash_point("backup", "manifest written");
    let temp = tmp.path().to_path_buf();
    tmp.persist(&path).map_err(|e| fail(Some(&temp), e.error))?;
    files::sync_dir(dir);
    crash_point("backup", "manifest committed");
    Ok(())
}

fn format_state(s: &BackupState) -> String {
    format!(
        "epoch {}\nstep {}\nglobal_step {}\noptimizer {}\n",
        s.epoch,
        s.step,
        s.global_step,
        if s.has_optimizer { "yes" } else { "no" }
    )
}

fn read_state(folder: &Path) -> Result<BackupState> {
    let path = folder.join(STATE_FILE);
    let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let get = |key: &str| -> Result<&str> {
        text.lines()
            .find_map(|l| l.split_once(' ').filter(|(k, _)| *k == key).map(|(_, v)| v.trim()))
            .ok_or_else(|| bad(&path, &format!("no `{key}` entry")))
    };
    let num = |key: &str| -> Result<u64> { get(key)?.parse().map_err(|_| bad(&path, &format!("bad `{key}` value"))) };
    Ok(BackupState {
        epoch: num("epoch")? as usize,
        step: num("step")? as usize,
        global_step: num("global_step")?,
        has_optimizer: get("optimizer")? == "yes",
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Checks that the files of the backup in `folder` are the ones its `state.txt` records
/// (size and CRC-32C; backups of older wick versions record none and are not checked).
fn verify_backup(folder: &Path, has_optimizer: bool) -> Result<()> {
    let state_path = folder.join(STATE_FILE);
    let text = fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let recorded = |file: &str| {
        text.lines().find_map(|l| l.strip_prefix(file)?.strip_prefix(" crc32c ").map(|c| c.trim().to_string()))
    };
    let saved_in = text.lines().find_map(|l| l.strip_prefix("saved_in_epoch ")).map(str::trim).unwrap_or("?");
    let mut names = vec![MODEL_FILE];
    if has_optimizer {
        names.push(OPTIMIZER_FILE);
    }
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for name in names {
        let path = folder.join(name);
        let Some(expected) = recorded(name) else { continue };
        if files::crc32c_file(&path).is_ok_and(|c| files::crc_hex(c) == expected) {
            lines.push(format!("{} holds epoch {saved_in} as {STATE_FILE} says", path.display()));
        } else {
            lines.push(format!(
                "{} {}, not the save of epoch {saved_in} {STATE_FILE} records",
                path.display(),
                describe_file(&path)
            ));
            bad.push(path);
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::CheckpointMismatch { manifest: state_path, files: bad, message: lines.join("; ") })
    }
}

/// What the file at `path` says it holds, from its safetensors metadata.
fn describe_file(path: &Path) -> String {
    if !path.exists() {
        return "is missing".into();
    }
    match files::safetensors_metadata(path) {
        Some(meta) => {
            let epoch = meta.get("wick.epoch").map_or("of unknown epoch", String::as_str);
            let step = meta.get("wick.global_step").map(|g| format!(" (global step {g})")).unwrap_or_default();
            format!("holds the save of epoch {epoch}{step}")
        }
        None => "is damaged (not a readable safetensors file)".into(),
    }
}

/// Removes this callback's backup folders in `dir` that `keep` does not name: older
/// backups and ones an interrupted save renamed but never committed. Other files (and
/// temporary ones, see [`files::remove_stale_temps`]) are left alone.
fn remove_unreferenced(dir: &Path, keep: &Manifest) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = seq_of(&name).is_some();
        let kept = name == keep.latest || keep.previous.as_deref() == Some(name.as_str());
        if !ours || kept {
            continue;
        }
        let path = entry.path();
        let result = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(())
}
