//! `BackupAndRestore`: Keras' fault-tolerance callback. Backs the run up as it goes and,
//! when a killed run is started again with the same arguments, restores the backup so
//! the loop continues where it stopped.

use crate::callback::Callback;
use crate::context::Context;
use crate::logs::Logs;
use crate::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "BackupAndRestore";
const MANIFEST: &str = "checkpoint";
const MANIFEST_HEADER: &str = "wick-backup 1";
const CKPT_PREFIX: &str = "ckpt-";
const TMP_PREFIX: &str = ".tmp-ckpt-";
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
/// (`backup_dir/.tmp-ckpt-*`), synced, and renamed to `backup_dir/ckpt-NNNNNNNN`; then the
/// small manifest `backup_dir/checkpoint`, which names the current folder, is replaced by
/// a temp-file-and-rename, and only then is the previous folder deleted. A process killed
/// at any moment therefore leaves a manifest naming a complete backup (or no manifest
/// before the first backup); leftovers of an interrupted save are removed at the next
/// start. With `double_checkpoint`, the previous backup is kept too and named in the
/// manifest, and restoring falls back to it when the latest cannot be loaded.
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

    fn save(&mut self, ctx: &mut Context<'_>, epoch: usize, step: usize) -> Result<()> {
        let dir = self.backup_dir.clone();
        let model = ctx.model(NAME)?;
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let tmp = tempfile::Builder::new().prefix(TMP_PREFIX).tempdir_in(&dir).map_err(|e| Error::io(&dir, e))?;
        model.save(tmp.path().join(MODEL_FILE))?;
        let has_optimizer = ctx.has_optimizer();
        if has_optimizer {
            ctx.optimizer(NAME)?.save_state(&tmp.path().join(OPTIMIZER_FILE))?;
        }
        let state = BackupState { epoch, step, global_step: self.global_step, has_optimizer };
        write_file(&tmp.path().join(STATE_FILE), format_state(&state).as_bytes())?;
        for name in [MODEL_FILE, OPTIMIZER_FILE] {
            let path = tmp.path().join(name);
            if path.exists() {
                sync_file(&path)?;
            }
        }
        sync_dir(tmp.path());

        self.seq += 1;
        let name = format!("{CKPT_PREFIX}{:08}", self.seq);
        let target = dir.join(&name);
        if target.exists() {
            fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        }
        let tmp_path = tmp.keep();
        if let Err(e) = fs::rename(&tmp_path, &target) {
            let _ = fs::remove_dir_all(&tmp_path);
            return Err(Error::io(&target, e));
        }
        sync_dir(&dir);

        let previous = read_manifest(&dir)?.map(|m| m.latest);
        let manifest = Manifest { latest: name, previous: if self.double_checkpoint { previous } else { None } };
        write_manifest(&dir, &manifest)?;
        remove_unreferenced(&dir, &manifest)
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
        ctx.model(NAME)?.load(folder.join(MODEL_FILE))?;
        if state.has_optimizer {
            ctx.optimizer(NAME)?.load_state(&folder.join(OPTIMIZER_FILE))?;
        }
        Ok(state)
    }
}

impl Callback for BackupAndRestore {
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
        // Fail at start, not after the first epoch, when the folder cannot be written.
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        tempfile::Builder::new().prefix(".write-test-").tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        let Some(manifest) = read_manifest(&dir)? else {
            // No complete backup: remove what an interrupted first save may have left.
            if dir.is_dir() {
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
        remove_unreferenced(&dir, &manifest)?;
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
                self.save(ctx, epoch, step)?;
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, _logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Epoch {
            self.save(ctx, epoch + 1, 0)?;
        }
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        if !self.delete_checkpoint {
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
    let mut tmp = tempfile::Builder::new().prefix(TMP_PREFIX).tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    sync_dir(dir);
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

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| Error::io(path, e))
}

fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| Error::io(path, e))
}

/// Makes a rename inside `dir` durable; best effort (not possible on every platform).
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Removes this callback's folders in `dir` that `keep` does not name: older backups and
/// leftovers of interrupted saves. Other files are left alone.
fn remove_unreferenced(dir: &Path, keep: &Manifest) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = seq_of(&name).is_some() || name.starts_with(TMP_PREFIX);
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
