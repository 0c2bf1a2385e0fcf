//! `ModelVars`: the model's variables as callbacks see them — snapshot, restore, save, load.

use crate::{files, Error, Result};
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// The model's variables by name, sorted by name (so iteration is stable): Keras'
/// `model.weights`, split into `trainable_weights` and `non_trainable_weights`
/// ([`trainable_vars`](Self::trainable_vars), [`non_trainable_vars`](Self::non_trainable_vars)).
///
/// All of them are checkpointed, restored and broadcast; only the trainable ones are meant
/// for the optimizer (and have gradients reduced in distributed training). Non-trainable
/// are e.g. batch-norm moving statistics and frozen layers' variables.
#[derive(Clone)]
pub struct ModelVars {
    vars: Vec<(String, Var)>,
    /// Parallel to `vars`: whether the optimizer trains it.
    trainable: Vec<bool>,
}

/// A deep copy of every variable's value, e.g. the best weights seen so far.
#[derive(Debug, Clone)]
pub struct Snapshot {
    values: Vec<(String, Tensor)>,
}

impl Snapshot {
    /// The copied values by name.
    pub fn values(&self) -> &[(String, Tensor)] {
        &self.values
    }
}

impl ModelVars {
    /// The variables of a `VarMap` (shares them: updates through either are seen by both).
    pub fn from_varmap(varmap: &VarMap) -> Self {
        let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
        Self::new(data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Named variables (any order; kept sorted by name).
    pub fn new(mut vars: Vec<(String, Var)>) -> Self {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let trainable = vec![true; vars.len()];
        ModelVars { vars, trainable }
    }

    /// The variables, sorted by name (trainable and non-trainable).
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Marks as non-trainable every variable for which `frozen(name)` holds (Keras
    /// `layer.trainable = False` for their layers); the others keep their state.
    pub fn with_non_trainable(mut self, frozen: impl Fn(&str) -> bool) -> Self {
        for ((name, _), t) in self.vars.iter().zip(self.trainable.iter_mut()) {
            if frozen(name) {
                *t = false;
            }
        }
        self
    }

    /// Marks every variable trainable again except those for which `frozen(name)` holds.
    pub fn with_trainable_except(mut self, frozen: impl Fn(&str) -> bool) -> Self {
        for ((name, _), t) in self.vars.iter().zip(self.trainable.iter_mut()) {
            *t = !frozen(name);
        }
        self
    }

    /// Whether the variable `name` is trainable (`false` for a name it does not hold).
    pub fn is_trainable(&self, name: &str) -> bool {
        self.vars.iter().zip(&self.trainable).any(|((n, _), &t)| n == name && t)
    }

    /// Keras `model.trainable_weights`: the variables the optimizer trains, sorted by name.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.filtered(true)
    }

    /// Keras `model.non_trainable_weights`, sorted by name.
    pub fn non_trainable_vars(&self) -> Vec<(String, Var)> {
        self.filtered(false)
    }

    /// Element counts: `(trainable, non_trainable)` (Keras' summary totals).
    pub fn param_counts(&self) -> (usize, usize) {
        let mut counts = (0, 0);
        for ((_, v), &t) in self.vars.iter().zip(&self.trainable) {
            if t {
                counts.0 += v.elem_count();
            } else {
                counts.1 += v.elem_count();
            }
        }
        counts
    }

    fn filtered(&self, trainable: bool) -> Vec<(String, Var)> {
        self.vars.iter().zip(&self.trainable).filter(|(_, &t)| t == trainable).map(|(nv, _)| nv.clone()).collect()
    }

    /// Copies every variable's current value.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let values =
            self.vars.iter().map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?))).collect::<Result<Vec<_>>>()?;
        Ok(Snapshot { values })
    }

    /// Writes `snapshot` back into the variables; names and shapes must match.
    pub fn restore(&self, snapshot: &Snapshot) -> Result<()> {
        let by_name: HashMap<&str, &Tensor> = snapshot.values.iter().map(|(n, t)| (n.as_str(), t)).collect();
        self.assign(&by_name, None)
    }

    /// Checks `values` against the variables (`path`: where they came from, `None` for a
    /// snapshot), then writes them.
    fn assign(&self, values: &HashMap<&str, &Tensor>, path: Option<&Path>) -> Result<()> {
        let mismatch = |message: String| Error::VariableMismatch { path: path.map(Path::to_path_buf), message };
        for (name, var) in &self.vars {
            let value = values.get(name.as_str()).ok_or_else(|| mismatch(format!("no value for variable {name:?}")))?;
            if value.dims() != var.dims() {
                return Err(mismatch(format!(
                    "variable {name:?} has shape {:?}, the model's has {:?}",
                    value.dims(),
                    var.dims()
                )));
            }
        }
        if let Some(extra) = values.keys().find(|k| !self.vars.iter().any(|(n, _)| n == *k)) {
            return Err(mismatch(format!("holds variable {extra:?}, which the model does not have")));
        }
        for (name, var) in &self.vars {
            if let Some(value) = values.get(name.as_str()) {
                var.set(&value.to_dtype(var.dtype())?.to_device(var.device())?)?;
            }
        }
        Ok(())
    }

    /// Saves every variable to a safetensors file (what `VarMap::save` writes), through a
    /// temporary file (`.wick-tmp-*`) in the same folder, synced and renamed over `path`,
    /// so a crash never leaves a half-written file. A failure is an [`Error::Write`]
    /// naming `path` and the temporary file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let dir = files::parent_dir(path);
        let fail = |temp: Option<&Path>, e: Box<dyn std::error::Error + Send + Sync>| {
            Error::write("weights file", path, temp, e)
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail(None, e.into()))?;
        let tmp = tempfile::Builder::new()
            .prefix(files::TEMP_PREFIX)
            .suffix(".safetensors")
            .tempfile_in(&dir)
            .map_err(|e| fail(None, e.into()))?;
        self.write_safetensors(tmp.path(), None).map_err(|e| fail(Some(tmp.path()), e))?;
        let temp = tmp.path().to_path_buf();
        tmp.persist(path).map_err(|e| fail(Some(&temp), e.error.into()))?;
        Ok(())
    }

    /// Writes every variable to `path` directly (no temporary file), with `metadata` in
    /// the safetensors header, and syncs it to the disk.
    pub(crate) fn write_safetensors(
        &self,
        path: &Path,
        metadata: Option<HashMap<String, String>>,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let tensors: Vec<(&str, &Tensor)> = self.vars.iter().map(|(n, v)| (n.as_str(), v.as_tensor())).collect();
        safetensors::serialize_to_file(tensors, metadata, path)?;
        files::sync_file(path)?;
        Ok(())
    }

    /// Loads every variable from a safetensors file; a missing, extra or mis-shaped
    /// variable is an error naming it, and then nothing is changed.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file")));
        }
        let device = self.vars.first().map(|(_, v)| v.device().clone()).unwrap_or(candle_core::Device::Cpu);
        let loaded = candle_core::safetensors::load(path, &device)
            .map_err(|source| Error::WeightsFile { path: path.to_path_buf(), source })?;
        let by_name: HashMap<&str, &Tensor> = loaded.iter().map(|(n, t)| (n.as_str(), t)).collect();
        self.assign(&by_name, Some(path))
    }
}

impl std::fmt::Debug for ModelVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.vars
                    .iter()
                    .zip(&self.trainable)
                    .map(|((n, v), t)| (n, v.dims(), if *t { "" } else { "non-trainable" })),
            )
            .finish()
    }
}
