//! Keras' `ModelCheckpoint`.

use super::monitor::{Mode, Monitor};
use super::pyfmt::{format_template, PyValue};
use crate::files::{self, crash_point};
use crate::{Callback, Context, Error, Logs, ModelVars, Result};
use std::path::{Component, Path, PathBuf};
use wick_optim::LrControl;

/// When [`ModelCheckpoint`] considers saving (Keras' `save_freq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFreq {
    /// At every `on_epoch_end`, with the epoch logs (Keras `"epoch"`).
    #[default]
    Epoch,
    /// Every N training batches, counted across epochs, at `on_train_batch_end` with the
    /// batch logs (Keras' int `save_freq`). N must be at least 1.
    Batches(usize),
}

/// Keras' `ModelCheckpoint(filepath, monitor="val_loss", verbose=0, save_best_only=False,
/// save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None)`.
///
/// **File name**: `filepath` is a Python format string, filled like Keras'
/// `filepath.format(epoch=epoch+1, **logs)` — `{epoch}` is 1-based, any log key can be
/// used, with Python format specs (`{epoch:02d}`, `{val_loss:.2f}`, `{loss:.3e}`,
/// `{accuracy:g}`, widths, fills, ...); with [`SaveFreq::Batches`] `{batch}` (1-based) is
/// available too. A missing key is an error naming the template and the key.
///
/// **Decision** (at each epoch end, or every N batches):
/// * `save_best_only=false`: always save (verbose: `\nEpoch {e}: saving model to {path}`).
/// * `save_best_only=true`: if `logs[monitor]` is missing, warn
///   (`Can save best model only with {monitor} available.`) and save anyway; if it improves
///   strictly on the best so far (starting from `initial_value_threshold`, `min_delta` 0,
///   direction from `mode` as in [`Monitor`]), print
///   `\nEpoch {e}: {monitor} improved from {best:.5f|None} to {cur:.5f}, saving model to {path}`,
///   take it as the new best and save; otherwise print
///   `\nEpoch {e}: {monitor} did not improve from {best:.5f|None}`.
/// * After each save (verbose): `\nEpoch {e}: finished saving model to {path}`.
///
/// **What is written**: the model's variables as a plain safetensors file at the
/// formatted path (the extension is yours to choose; Keras' `.keras`/`.h5` rule does not
/// apply). Unless `save_weights_only`, the optimizer state is saved next to it, at
/// `<path>.optimizer.safetensors` ([`OPTIMIZER_STATE_SUFFIX`]), when the loop provides
/// the optimizer. Beside them, `<path>.manifest.json` ([`CHECKPOINT_MANIFEST_SUFFIX`])
/// names the set: the epoch, the batch, and each file's name, size and CRC-32C. Both
/// safetensors files also carry the epoch in their metadata (`wick.epoch`, `wick.batch`,
/// `wick.global_step`), so a file found beside the wrong partner can say where it came
/// from.
///
/// **One unit.** A save writes the weights and the optimizer state to temporary files
/// (`.wick-tmp-*`, synced) in the destination folder, then writes the new manifest to a
/// temporary file and renames it over the old one: that rename is the commit. Only then
/// are the temporary files renamed over the weights and optimizer files. A process killed
/// at any moment thus leaves either the previous manifest with the previous, untouched
/// files, or the new manifest, whose files are at their final names or still at the
/// temporary names it records. [`ModelCheckpoint::load_checkpoint`] checks the hashes and
/// reads each file from where its content is; it never loads a mixed set: a file that
/// matches neither is an [`Error::CheckpointMismatch`] naming the files and their epochs.
/// The next run's `on_train_begin` finishes an interrupted commit (renames the recorded
/// temporary files into place) and removes the temporary files a killed save left. A
/// weights-only save removes an optimizer file left by an earlier full save at the same
/// path, after its commit.
///
/// **At `on_train_begin`** the folder part of `filepath` that holds no `{field}` is
/// created and checked for writing; if that fails, the run fails at its start with an
/// error naming the folder. In that folder, interrupted commits are finished and wick's
/// temporary files older than the current process are removed (leftovers of a killed
/// run; nothing else is touched). The model's variables must be in the [`Context`].
///
/// **Test hook.** The save steps call a crash hook that only acts when the environment
/// variable `WICK_TEST_CRASH_AT` is `checkpoint:<n>`: the `n`-th step of the process
/// then SIGKILLs it (used by this crate's crash tests; never set it otherwise).
///
/// The best value is kept across runs (Keras sets it once, in the constructor). Unlike
/// Keras, the comparison direction is only resolved when `save_best_only` needs it, so an
/// unknown `monitor` in auto mode is harmless without `save_best_only`, and batch-level
/// best-only saving works from the first batch.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    /// The file-name template.
    pub filepath: String,
    /// The log key compared with `save_best_only`.
    pub monitor: String,
    /// 0 silent, >0 prints Keras' messages.
    pub verbose: u8,
    /// Save only when `monitor` improves.
    pub save_best_only: bool,
    /// Save only the model's variables, not the optimizer state.
    pub save_weights_only: bool,
    /// Direction of improvement.
    pub mode: Mode,
    /// When to consider saving.
    pub save_freq: SaveFreq,
    /// The starting best value for `save_best_only`.
    pub initial_value_threshold: Option<f64>,
    state: Option<Monitor>,
    best: Option<f64>,
    best_initialized: bool,
    current_epoch: usize,
    batches_seen_since_last_saving: usize,
    last_batch_seen: usize,
    last_saved: Option<PathBuf>,
}

/// Suffix appended to a checkpoint's path for the optimizer state file.
pub const OPTIMIZER_STATE_SUFFIX: &str = ".optimizer.safetensors";

/// Suffix appended to a checkpoint's path for its manifest (the JSON file that names the
/// weights and optimizer files of one save, with their hashes and epoch).
pub const CHECKPOINT_MANIFEST_SUFFIX: &str = ".manifest.json";

const NAME: &str = "ModelCheckpoint";
const MANIFEST_FORMAT: &str = "wick-checkpoint/1";

/// What a checkpoint's manifest says, and where its files are
/// ([`ModelCheckpoint::read_checkpoint`], [`ModelCheckpoint::load_checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The epoch saved (1-based, as `{epoch}` in file names and Keras' messages).
    pub epoch: usize,
    /// With batch-level saving, the batch of that epoch (1-based, as `{batch}`).
    pub batch: Option<usize>,
    /// Training batches run since `fit` started, when saved.
    pub global_step: u64,
    /// The file holding the weights: the checkpoint's path, or the temporary file the
    /// manifest records when the process was killed between the commit and the renames.
    pub weights: PathBuf,
    /// The file holding the optimizer state (likewise), if the checkpoint has one.
    pub optimizer: Option<PathBuf>,
}

/// One file of a checkpoint as its manifest records it.
#[derive(Debug, Clone)]
struct Member {
    file: String,
    staged: String,
    crc32c: String,
    bytes: u64,
}

#[derive(Debug, Clone)]
struct CheckpointManifest {
    epoch: usize,
    batch: Option<usize>,
    global_step: u64,
    weights: Member,
    optimizer: Option<Member>,
}

/// The manifest's path for the checkpoint at `path`.
fn manifest_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(CHECKPOINT_MANIFEST_SUFFIX);
    PathBuf::from(s)
}

fn optimizer_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(OPTIMIZER_STATE_SUFFIX);
    PathBuf::from(s)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn member_json(m: &Member) -> serde_json::Value {
    serde_json::json!({ "file": m.file, "staged": m.staged, "crc32c": m.crc32c, "bytes": m.bytes })
}

impl CheckpointManifest {
    fn to_json(&self) -> String {
        let v = serde_json::json!({
            "format": MANIFEST_FORMAT,
            "epoch": self.epoch,
            "batch": self.batch,
            "global_step": self.global_step,
            "weights": member_json(&self.weights),
            "optimizer": self.optimizer.as_ref().map(member_json),
        });
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    }

    fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |message: &str| Error::Corrupt { context: NAME, path: path.to_path_buf(), message: message.into() };
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(&format!("not a checkpoint manifest: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(MANIFEST_FORMAT) {
            return Err(bad(&format!("not a {MANIFEST_FORMAT} manifest")));
        }
        let num = |key: &str| v.get(key).and_then(|n| n.as_u64()).ok_or_else(|| bad(&format!("no `{key}` number")));
        let member = |key: &str| -> Result<Option<Member>> {
            let Some(m) = v.get(key).filter(|m| !m.is_null()) else { return Ok(None) };
            let text = |k: &str| {
                m.get(k)
                    .and_then(|s| s.as_str())
                    .filter(|s| !s.is_empty() && !s.contains(['/', '\\']))
                    .map(str::to_string)
                    .ok_or_else(|| bad(&format!("no `{key}.{k}` file name")))
            };
            Ok(Some(Member {
                file: text("file")?,
                staged: text("staged")?,
                crc32c: text("crc32c")?,
                bytes: m.get("bytes").and_then(|b| b.as_u64()).ok_or_else(|| bad(&format!("no `{key}.bytes`")))?,
            }))
        };
        Ok(CheckpointManifest {
            epoch: num("epoch")? as usize,
            batch: v.get("batch").and_then(|b| b.as_u64()).map(|b| b as usize),
            global_step: num("global_step")?,
            weights: member("weights")?.ok_or_else(|| bad("no `weights` entry"))?,
            optimizer: member("optimizer")?,
        })
    }

    /// Reads the manifest at `path`; `None` when there is none.
    fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// `"epoch 2"`, `"epoch 2, batch 3"`.
fn describe_save(epoch: usize, batch: Option<usize>) -> String {
    match batch {
        Some(b) => format!("epoch {epoch}, batch {b}"),
        None => format!("epoch {epoch}"),
    }
}

/// What the file at `path` says it holds, from its safetensors metadata.
fn describe_file(path: &Path) -> String {
    if !path.exists() {
        return "is missing".into();
    }
    match files::safetensors_metadata(path) {
        Some(meta) => match meta.get("wick.epoch") {
            Some(e) => {
                let batch = meta.get("wick.batch").map(|b| format!(", batch {b}")).unwrap_or_default();
                format!("holds epoch {e}{batch}")
            }
            None => "holds a save of unknown epoch (no wick.epoch metadata)".into(),
        },
        None => "is not a readable safetensors file".into(),
    }
}

/// Where the content `m` records is: the final file or the staged one; `None` if neither.
fn locate(dir: &Path, m: &Member) -> Option<PathBuf> {
    let matches = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|md| md.len() == m.bytes)
            && files::crc32c_file(p).is_ok_and(|c| files::crc_hex(c) == m.crc32c)
    };
    let final_path = dir.join(&m.file);
    if matches(&final_path) {
        return Some(final_path);
    }
    let staged = dir.join(&m.staged);
    matches(&staged).then_some(staged)
}

impl ModelCheckpoint {
    /// Keras' defaults for `filepath` (see the type's docs).
    pub fn new(filepath: impl Into<String>) -> Self {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: "val_loss".into(),
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            save_freq: SaveFreq::Epoch,
            initial_value_threshold: None,
            state: None,
            best: None,
            best_initialized: false,
            current_epoch: 0,
            batches_seen_since_last_saving: 0,
            last_batch_seen: 0,
            last_saved: None,
        }
    }

    /// Sets `monitor`.
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    /// Sets `verbose`.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Sets `save_best_only`.
    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }

    /// Sets `save_weights_only`.
    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }

    /// Sets `mode`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `save_freq`.
    pub fn save_freq(mut self, save_freq: SaveFreq) -> Self {
        self.save_freq = save_freq;
        self
    }

    /// Sets `initial_value_threshold`.
    pub fn initial_value_threshold(mut self, threshold: Option<f64>) -> Self {
        self.initial_value_threshold = threshold;
        self
    }

    /// The best monitored value so far (with `save_best_only`).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The last file written.
    pub fn last_saved(&self) -> Option<&Path> {
        self.last_saved.as_deref()
    }

    /// The folder part of `filepath` before any `{field}` (`"."` when there is none).
    pub fn static_dir(&self) -> PathBuf {
        let mut dir = PathBuf::new();
        if let Some(parent) = Path::new(&self.filepath).parent() {
            for c in parent.components() {
                if let Component::Normal(s) = c {
                    if s.to_string_lossy().contains(['{', '}']) {
                        break;
                    }
                }
                dir.push(c.as_os_str());
            }
        }
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }

    /// The file name for `epoch` (0-based) and, at batch level, `batch` (0-based), as
    /// Keras' `_get_file_path`.
    pub fn file_path(&self, epoch: usize, batch: Option<usize>, logs: &Logs) -> Result<String> {
        let lookup = |name: &str| -> Option<PyValue> {
            match name {
                "epoch" => Some(PyValue::Int(epoch as i64 + 1)),
                "batch" if logs.get("batch").is_none() => batch.map(|b| PyValue::Int(b as i64 + 1)),
                _ => logs.get(name).map(PyValue::Float),
            }
        };
        format_template(&self.filepath, lookup).map_err(|reason| Error::InvalidArgument {
            context: "ModelCheckpoint",
            message: format!("failed to format this callback filepath: {:?}. Reason: {reason}", self.filepath),
        })
    }

    fn should_save_on_batch(&mut self, batch: usize) -> bool {
        let SaveFreq::Batches(n) = self.save_freq else { return false };
        let add = if batch <= self.last_batch_seen { batch + 1 } else { batch - self.last_batch_seen };
        self.batches_seen_since_last_saving += add;
        self.last_batch_seen = batch;
        if self.batches_seen_since_last_saving >= n {
            self.batches_seen_since_last_saving = 0;
            true
        } else {
            false
        }
    }

    fn should_save(&mut self, epoch: usize, logs: &Logs, path: &str) -> Result<bool> {
        if !self.save_best_only {
            if self.verbose > 0 {
                say!("\nEpoch {}: saving model to {path}", epoch + 1);
            }
            return Ok(true);
        }
        let Some(current) = logs.get(&self.monitor) else {
            eprintln!("WARNING: Can save best model only with {} available.", self.monitor);
            return Ok(true);
        };
        let monitor =
            self.state.get_or_insert_with(|| Monitor::new("ModelCheckpoint", self.monitor.clone(), self.mode, 0.0));
        let best_str = self.best.map_or_else(|| "None".to_string(), five_decimals);
        if monitor.is_improvement(current, self.best)? {
            if self.verbose > 0 {
                say!(
                    "\nEpoch {}: {} improved from {best_str} to {}, saving model to {path}",
                    epoch + 1,
                    self.monitor,
                    five_decimals(current)
                );
            }
            self.best = Some(current);
            Ok(true)
        } else {
            if self.verbose > 0 {
                say!("\nEpoch {}: {} did not improve from {best_str}", epoch + 1, self.monitor);
            }
            Ok(false)
        }
    }

    fn save_model(&mut self, epoch: usize, batch: Option<usize>, logs: &Logs, ctx: &mut Context<'_>) -> Result<()> {
        let path = self.file_path(epoch, batch, logs)?;
        if !self.should_save(epoch, logs, &path)? {
            return Ok(());
        }
        let file = Path::new(&path);
        if file.is_dir() {
            return Err(Error::InvalidArgument {
                context: "ModelCheckpoint",
                message: format!("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an existing directory: {path}"),
            });
        }
        let global_step = ctx.state.global_step;
        let set = CheckpointManifest {
            epoch: epoch + 1,
            batch: batch.map(|b| b + 1),
            global_step,
            weights: Member { file: String::new(), staged: String::new(), crc32c: String::new(), bytes: 0 },
            optimizer: None,
        };
        write_checkpoint(file, set, !self.save_weights_only, ctx)?;
        if self.verbose > 0 {
            say!("\nEpoch {}: finished saving model to {path}", epoch + 1);
        }
        self.last_saved = Some(PathBuf::from(path));
        Ok(())
    }
}

impl ModelCheckpoint {
    /// Checks the checkpoint at `path` (the weights file; its manifest is
    /// `<path>.manifest.json`) without loading it: the manifest is read and every file it
    /// names is found with the recorded size and CRC-32C, at its final name or at the
    /// temporary name of a commit that was interrupted before its renames.
    ///
    /// Errors: [`Error::CheckpointMismatch`] when a file is missing or holds another save
    /// (naming the files and the epochs they hold), or when the weights file exists
    /// without a manifest (a checkpoint of an older wick, or a first save that never
    /// committed: [`ModelVars::load`] still reads such weights alone);
    /// [`Error::Corrupt`] for a damaged manifest; [`Error::Io`] when neither exists.
    pub fn read_checkpoint(path: impl AsRef<Path>) -> Result<CheckpointInfo> {
        let path = path.as_ref();
        let manifest_file = manifest_path(path);
        let dir = files::parent_dir(path);
        let Some(m) = CheckpointManifest::read(&manifest_file)? else {
            if path.exists() {
                return Err(Error::CheckpointMismatch {
                    manifest: manifest_file.clone(),
                    files: vec![path.to_path_buf()],
                    message: format!(
                        "{} exists but its manifest {} does not (written by an older wick, or its first save \
                         was interrupted); load the weights alone with ModelVars::load",
                        path.display(),
                        manifest_file.display()
                    ),
                });
            }
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint")));
        };
        let save = describe_save(m.epoch, m.batch);
        let mut found = Vec::new();
        let mut bad = Vec::new();
        let mut lines = Vec::new();
        let members = [("weights", Some(&m.weights)), ("optimizer state", m.optimizer.as_ref())];
        for (what, member) in members {
            let Some(member) = member else { continue };
            let final_path = dir.join(&member.file);
            match locate(&dir, member) {
                Some(p) => {
                    lines.push(format!("{what} {} holds {save} as the manifest says", p.display()));
                    found.push(Some(p));
                }
                None => {
                    lines.push(format!(
                        "{what} {} {}, not {save} as the manifest says",
                        final_path.display(),
                        describe_file(&final_path)
                    ));
                    bad.push(final_path);
                    found.push(None);
                }
            }
        }
        if !bad.is_empty() {
            return Err(Error::CheckpointMismatch { manifest: manifest_file, files: bad, message: lines.join("; ") });
        }
        let weights = found[0].clone().unwrap_or_default();
        let optimizer = found.get(1).cloned().flatten();
        Ok(CheckpointInfo { epoch: m.epoch, batch: m.batch, global_step: m.global_step, weights, optimizer })
    }

    /// Loads the checkpoint at `path` (see [`read_checkpoint`](Self::read_checkpoint)) into
    /// `vars` and, when given, `optimizer`: the way to resume from a `ModelCheckpoint`
    /// file. The whole set is checked before anything changes; if the optimizer state then
    /// fails to load (another optimizer, other variables), the weights are put back.
    ///
    /// Asking for the optimizer state of a checkpoint saved without it (weights only, or
    /// a loop without optimizer) is an [`Error::CheckpointMismatch`]; pass `None` to load
    /// the weights alone.
    pub fn load_checkpoint(
        path: impl AsRef<Path>,
        vars: &ModelVars,
        optimizer: Option<&mut dyn LrControl>,
    ) -> Result<CheckpointInfo> {
        let path = path.as_ref();
        let info = Self::read_checkpoint(path)?;
        let optimizer_file = match (&optimizer, &info.optimizer) {
            (Some(_), None) => {
                let o = optimizer_path(path);
                return Err(Error::CheckpointMismatch {
                    manifest: manifest_path(path),
                    files: vec![o.clone()],
                    message: format!(
                        "the checkpoint of {} holds no optimizer state (saved weights only, or without \
                         optimizer); {} {}",
                        describe_save(info.epoch, info.batch),
                        o.display(),
                        if o.exists() { describe_file(&o) + " but is not part of it" } else { "is missing".into() }
                    ),
                });
            }
            (_, o) => o.clone(),
        };
        let before = vars.snapshot()?;
        vars.load(&info.weights)?;
        if let (Some(opt), Some(file)) = (optimizer, optimizer_file) {
            if let Err(e) = opt.load_state(&file) {
                vars.restore(&before)?;
                return Err(e.into());
            }
        }
        Ok(info)
    }
}

/// Removes `path` if it exists.
fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes one checkpoint set at `file` (see the type's docs for the sequence).
fn write_checkpoint(
    file: &Path,
    mut set: CheckpointManifest,
    with_optimizer: bool,
    ctx: &mut Context<'_>,
) -> Result<()> {
    let dir = files::parent_dir(file);
    let weights_file = file.to_path_buf();
    let optimizer_file = optimizer_path(file);
    let manifest_file = manifest_path(file);
    let fail = |dest: &Path, temp: Option<&Path>, e: Box<dyn std::error::Error + Send + Sync>| {
        Error::write("checkpoint", dest, temp, e)
    };
    let mut tags: Vec<(String, String)> =
        vec![("wick.epoch".into(), set.epoch.to_string()), ("wick.global_step".into(), set.global_step.to_string())];
    if let Some(b) = set.batch {
        tags.push(("wick.batch".into(), b.to_string()));
    }
    let with_optimizer = with_optimizer && ctx.has_optimizer();
    let model = ctx.model(NAME)?;

    // Temporary files removed if the save fails before its commit.
    let mut temps: Vec<PathBuf> = Vec::new();
    let staged = (|| -> Result<PathBuf> {
        std::fs::create_dir_all(&dir).map_err(|e| fail(&weights_file, None, e.into()))?;
        let new_temp = |suffix: &str, dest: &Path, temps: &mut Vec<PathBuf>| -> Result<PathBuf> {
            let t = files::new_temp_file(&dir, suffix).map_err(|e| fail(dest, None, e.into()))?;
            temps.push(t.clone());
            Ok(t)
        };
        // 1. The weights, under a temporary name, synced.
        let w_tmp = new_temp(".safetensors", &weights_file, &mut temps)?;
        model
            .write_safetensors(&w_tmp, Some(tags.iter().cloned().collect()))
            .map_err(|e| fail(&weights_file, Some(&w_tmp), e))?;
        set.weights = member(&weights_file, &w_tmp)?;
        crash_point("checkpoint", "weights written");
        // 2. The optimizer state, likewise.
        if with_optimizer {
            let o_tmp = new_temp(OPTIMIZER_STATE_SUFFIX, &optimizer_file, &mut temps)?;
            ctx.optimizer(NAME)?
                .save_state_with_metadata(&o_tmp, &tags)
                .and_then(|()| {
                    files::sync_file(&o_tmp).map_err(|source| wick_optim::Error::StateWrite {
                        path: o_tmp.clone(),
                        temp: None,
                        source,
                    })
                })
                .map_err(|e| fail(&optimizer_file, Some(&o_tmp), e.into()))?;
            set.optimizer = Some(member(&optimizer_file, &o_tmp)?);
        }
        crash_point("checkpoint", "optimizer state written");
        // 3. The new manifest, under a temporary name, synced.
        let m_tmp = new_temp(".json", &manifest_file, &mut temps)?;
        std::fs::write(&m_tmp, set.to_json())
            .and_then(|()| files::sync_file(&m_tmp))
            .map_err(|e| fail(&manifest_file, Some(&m_tmp), e.into()))?;
        crash_point("checkpoint", "manifest written");
        Ok(m_tmp)
    })();
    let m_tmp = match staged {
        Ok(m) => m,
        Err(e) => {
            for t in &temps {
                let _ = std::fs::remove_file(t);
            }
            return Err(e);
        }
    };
    // 4. The commit: one rename of the manifest.
    if let Err(e) = std::fs::rename(&m_tmp, &manifest_file) {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        return Err(fail(&manifest_file, Some(&m_tmp), e.into()));
    }
    files::sync_dir(&dir);
    crash_point("checkpoint", "manifest committed");
    // 5, 6. The files into place (after a crash here, loading reads the staged files and
    // the next run renames them).
    let w_tmp = dir.join(&set.weights.staged);
    std::fs::rename(&w_tmp, &weights_file).map_err(|e| fail(&weights_file, Some(&w_tmp), e.into()))?;
    crash_point("checkpoint", "weights renamed");
    match &set.optimizer {
        Some(o) => {
            let o_tmp = dir.join(&o.staged);
            std::fs::rename(&o_tmp, &optimizer_file).map_err(|e| fail(&optimizer_file, Some(&o_tmp), e.into()))?;
        }
        // An optimizer file of an earlier save is not part of this set.
        None => remove_if_exists(&optimizer_file).map_err(|e| fail(&optimizer_file, None, e.into()))?,
    }
    files::sync_dir(&dir);
    crash_point("checkpoint", "optimizer state renamed");
    Ok(())
}

/// The manifest entry of `dest`, whose content is in the synced file `staged`.
fn member(dest: &Path, staged: &Path) -> Result<Member> {
    let fail = |e: std::io::Error| Error::write("checkpoint", dest, Some(staged), e);
    let bytes = std::fs::metadata(staged).map_err(fail)?.len();
    let crc = files::crc32c_file(staged).map_err(fail)?;
    Ok(Member { file: file_name(dest), staged: file_name(staged), crc32c: files::crc_hex(crc), bytes })
}

/// Finishes the commits interrupted in `dir` (renames the staged files a committed
/// manifest records into place), then removes wick's stale temporary files there.
fn recover_dir(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(files::TEMP_PREFIX) || !name.ends_with(CHECKPOINT_MANIFEST_SUFFIX) {
            continue;
        }
        // Someone else's JSON, or a damaged manifest: left alone (loading it reports it).
        let Ok(Some(m)) = CheckpointManifest::read(&entry.path()) else { continue };
        for member in std::iter::once(&m.weights).chain(m.optimizer.as_ref()) {
            let staged = dir.join(&member.staged);
            if !staged.exists() {
                continue;
            }
            if locate(dir, member).as_deref() == Some(staged.as_path()) {
                let dest = dir.join(&member.file);
                std::fs::rename(&staged, &dest).map_err(|e| Error::write("checkpoint", &dest, Some(&staged), e))?;
            }
        }
        files::sync_dir(dir);
    }
    files::remove_stale_temps(dir, &[".wick-write-test-"])?;
    Ok(())
}

/// Python's `f"{x:.5f}"`.
fn five_decimals(x: f64) -> String {
    super::pyfmt::format_value(PyValue::Float(x), ".5f").unwrap_or_else(|_| x.to_string())
}

impl Callback for ModelCheckpoint {
    fn name(&self) -> &str {
        "ModelCheckpoint"
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                context: "ModelCheckpoint",
                message: "unrecognized save_freq: Batches(0); expected Epoch or Batches(n) with n >= 1".into(),
            });
        }
        if self.filepath.is_empty() {
            return Err(Error::InvalidArgument { context: "ModelCheckpoint", message: "filepath is empty".into() });
        }
        ctx.model("ModelCheckpoint")?;
        let dir = self.static_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        tempfile::Builder::new().prefix(files::TEMP_PREFIX).tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        recover_dir(&dir)?;
        if !self.best_initialized {
            self.best = self.initial_value_threshold;
            self.best_initialized = true;
        }
        self.state = Some(Monitor::new("ModelCheckpoint", self.monitor.clone(), self.mode, 0.0));
        self.batches_seen_since_last_saving = 0;
        self.last_batch_seen = 0;
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut Context<'_>) -> Result<()> {
        self.current_epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.should_save_on_batch(batch) {
            let epoch = self.current_epoch;
            self.save_model(epoch, Some(batch), logs, ctx)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Epoch {
            self.save_model(epoch, None, logs, ctx)?;
        }
        Ok(())
    }
}
