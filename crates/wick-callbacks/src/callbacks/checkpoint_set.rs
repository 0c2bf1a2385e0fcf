//! One checkpoint set on disk: the weights, the optimizer state and the manifest that
//! commits them together (written, read back, checked, recovered after a crash).

use std::path::{Path, PathBuf};

use wick_optim::LrControl;

use crate::files::{self, crash_point};
use crate::{Context, Error, ModelVars, Result};

const NAME: &str = "ModelCheckpoint";

/// Suffix appended to a checkpoint's path for the optimizer state file.
pub const OPTIMIZER_STATE_SUFFIX: &str = ".optimizer.safetensors";

/// Suffix appended to a checkpoint's path for its manifest (the JSON file that names the
/// weights and optimizer files of one save, with their hashes and epoch).
pub const CHECKPOINT_MANIFEST_SUFFIX: &str = ".manifest.json";

const MANIFEST_FORMAT: &str = "wick-checkpoint/1";

/// What a checkpoint's manifest says, and where its files are
/// ([`ModelCheckpoint::read_checkpoint`](crate::ModelCheckpoint::read_checkpoint), [`ModelCheckpoint::load_checkpoint`](crate::ModelCheckpoint::load_checkpoint)).
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
pub(crate) struct Member {
    file: String,
    staged: String,
    crc32c: String,
    bytes: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct CheckpointManifest {
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
    /// The set to write for a save at 1-based `epoch` (and `batch`), its members filled in
    /// by [`write_checkpoint`].
    pub(crate) fn new(epoch: usize, batch: Option<usize>, global_step: u64) -> Self {
        let empty = Member { file: String::new(), staged: String::new(), crc32c: String::new(), bytes: 0 };
        CheckpointManifest { epoch, batch, global_step, weights: empty, optimizer: None }
    }

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
pub(crate) fn read_checkpoint(path: &Path) -> Result<CheckpointInfo> {
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
pub(crate) fn load_checkpoint(
    path: &Path,
    vars: &ModelVars,
    optimizer: Option<&mut dyn LrControl>,
) -> Result<CheckpointInfo> {
    let info = read_checkpoint(path)?;
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

/// Removes `path` if it exists.
fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes one checkpoint set at `file` (see the type's docs for the sequence).
pub(crate) fn write_checkpoint(
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
pub(crate) fn recover_dir(dir: &Path) -> Result<()> {
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
