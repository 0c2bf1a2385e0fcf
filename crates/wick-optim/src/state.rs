//! Saving and loading optimizer state (slots, EMA, accumulators, step, learning rate,
//! the rule's scalars) as safetensors.
//!
//! Tensors are keyed `"<variable>/<slot>"`, `"<variable>/ema"` and
//! `"<variable>/gradient_accumulator"`; the scalars are in the safetensors metadata (`optimizer`,
//! `raw_step`, `learning_rate` when it is a constant, `scalar.<name>` for the rule's
//! scalars, `variable.<name>` = the variable's shape), written as decimal strings that read
//! back to the same `f64`.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use candle_core::{Tensor, Var};

use crate::error::{Error, Result};
use crate::optimizer::{KerasOptimizer, EMA, GRAD_ACCUMULATOR};
use crate::rule::UpdateRule;
use crate::schedule::LearningRate;

const FORMAT: &str = "wick-optim-state/1";
const SCALAR_PREFIX: &str = "scalar.";
const VARIABLE_PREFIX: &str = "variable.";
/// The prefix of wick's temporary files (the same as wick-callbacks', whose callbacks
/// remove stale ones).
const TEMP_PREFIX: &str = ".wick-tmp-";

fn shape_string(var: &Var) -> String {
    var.dims().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
}

fn state_err(path: &Path, message: impl Into<String>) -> Error {
    Error::State { path: path.to_path_buf(), message: message.into() }
}

impl<R: UpdateRule> KerasOptimizer<R> {
    /// Every state tensor with its key, its variable's name and its short (slot) name.
    fn state_entries(&self) -> Vec<(String, &str, &str, &Var)> {
        let mut out = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            for (slot, var) in self.slot_names[i].iter().zip(&self.slots[i]) {
                out.push((format!("{name}/{slot}"), name.as_str(), *slot, var));
            }
            if let Some(avg) = self.ema.get(i) {
                out.push((format!("{name}/{EMA}"), name.as_str(), EMA, avg));
            }
            if let Some(acc) = self.accumulators.get(i) {
                out.push((format!("{name}/{GRAD_ACCUMULATOR}"), name.as_str(), GRAD_ACCUMULATOR, acc));
            }
        }
        out
    }

    /// Saves the optimizer's state to a safetensors file at `path` (written to a temporary
    /// file in the same folder, then renamed over `path`). Missing parent folders are
    /// created, as Keras' `ModelCheckpoint` does.
    pub fn save_state(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_state_with_metadata(path, &[])
    }

    /// [`save_state`](Self::save_state) with extra safetensors metadata entries (e.g. the
    /// epoch of a checkpoint, so a file found beside the wrong weights can say where it
    /// came from). The optimizer's own entries (`format`, `optimizer`, `raw_step`, ...)
    /// take precedence over extra entries of the same name; [`load_state`](Self::load_state)
    /// ignores the extra ones.
    ///
    /// The temporary file is `.wick-tmp-*` in the destination folder; an I/O error is an
    /// [`Error::StateWrite`] naming the destination and the temporary file.
    pub fn save_state_with_metadata(&self, path: impl AsRef<Path>, extra: &[(String, String)]) -> Result<()> {
        let path = path.as_ref();
        let tensors: Vec<(String, Tensor)> =
            self.state_entries().into_iter().map(|(key, _, _, var)| (key, var.as_tensor().clone())).collect();
        let mut meta: HashMap<String, String> = extra.iter().cloned().collect();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("optimizer".to_string(), self.rule.name().to_string());
        meta.insert("raw_step".to_string(), self.raw_step.to_string());
        if let LearningRate::Constant(lr) = self.learning_rate {
            meta.insert("learning_rate".to_string(), lr.to_string());
        }
        for (name, value) in self.rule.scalars() {
            meta.insert(format!("{SCALAR_PREFIX}{name}"), value.to_string());
        }
        for (name, var) in self.names.iter().zip(&self.vars) {
            meta.insert(format!("{VARIABLE_PREFIX}{name}"), shape_string(var));
        }
        let bytes = safetensors::serialize(tensors, Some(meta))
            .map_err(|e| state_err(path, format!("cannot serialize: {e}")))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let io = |temp: Option<&Path>| {
            let temp = temp.map(Path::to_path_buf);
            move |source: std::io::Error| Error::StateWrite { path: path.to_path_buf(), temp, source }
        };
        std::fs::create_dir_all(dir).map_err(io(None))?;
        let mut tmp =
            tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(".safetensors").tempfile_in(dir).map_err(io(None))?;
        let written = tmp.write_all(&bytes).and_then(|()| tmp.as_file().sync_all());
        written.map_err(io(Some(tmp.path())))?;
        let temp = tmp.path().to_path_buf();
        tmp.persist(path).map_err(|e| io(Some(&temp))(e.error))?;
        Ok(())
    }

    /// Loads state saved by [`save_state`](Self::save_state) into this optimizer, whose
    /// variables must have the same names and shapes. Everything is checked before
    /// anything changes; a mismatch (another optimizer class, a missing, extra or
    /// mis-shaped variable or slot, missing scalars) is an `Error::State` naming it.
    ///
    /// A learning rate saved as a constant replaces this optimizer's learning rate; a
    /// state saved with a schedule leaves the learning rate as constructed.
    pub fn load_state(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| state_err(path, format!("cannot read: {e}")))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| state_err(path, format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| meta.get(k).ok_or_else(|| state_err(path, format!("no {k:?} entry")));
        if get("format")? != FORMAT {
            return Err(state_err(path, format!("not a {FORMAT} file")));
        }
        let class = get("optimizer")?;
        if class != self.rule.name() {
            return Err(state_err(path, format!("saved by optimizer {class}, loaded into {}", self.rule.name())));
        }
        let parse =
            |k: &str, v: &str| v.parse::<f64>().map_err(|_| state_err(path, format!("bad value {v:?} for {k:?}")));
        let raw_step: u64 = get("raw_step")?.parse().map_err(|_| state_err(path, "bad value for \"raw_step\""))?;
        let lr = meta.get("learning_rate").map(|v| parse("learning_rate", v)).transpose()?;
        let mut scalars = Vec::new();
        for (k, v) in &meta {
            if let Some(name) = k.strip_prefix(SCALAR_PREFIX) {
                scalars.push((name.to_string(), parse(k, v)?));
            }
        }
        let expected: BTreeSet<&str> = self.rule.scalars().into_iter().map(|(n, _)| n).collect();
        let found: BTreeSet<&str> = scalars.iter().map(|(n, _)| n.as_str()).collect();
        if expected != found {
            return Err(state_err(path, format!("optimizer scalars {found:?} in the file, {expected:?} expected")));
        }

        for (name, var) in self.names.iter().zip(&self.vars) {
            match meta.get(&format!("{VARIABLE_PREFIX}{name}")) {
                None => return Err(state_err(path, format!("variable {name:?} is not in the file"))),
                Some(shape) if *shape != shape_string(var) => {
                    return Err(state_err(
                        path,
                        format!("variable {name:?} has shape [{shape}] in the file, [{}] here", shape_string(var)),
                    ))
                }
                Some(_) => {}
            }
        }
        let extra =
            meta.keys().filter_map(|k| k.strip_prefix(VARIABLE_PREFIX)).filter(|n| !self.names.iter().any(|m| m == n));
        if let Some(name) = extra.min() {
            return Err(state_err(
                path,
                format!("variable {name:?} in the file is not among the optimizer's variables"),
            ));
        }

        let device = self.vars.first().map(|v| v.device().clone()).unwrap_or(candle_core::Device::Cpu);
        let mut file = candle_core::safetensors::load_buffer(&bytes, &device)
            .map_err(|e| state_err(path, format!("cannot load tensors: {e}")))?;
        let mut pending = Vec::new();
        for (key, var_name, slot, var) in self.state_entries() {
            let t = file
                .remove(&key)
                .ok_or_else(|| state_err(path, format!("variable {var_name:?}: slot {slot:?} is missing")))?;
            if t.shape() != var.shape() || t.dtype() != var.dtype() {
                return Err(state_err(
                    path,
                    format!(
                        "variable {var_name:?}: slot {slot:?} is {:?} {:?} in the file, \
                         {:?} {:?} expected",
                        t.dtype(),
                        t.shape(),
                        var.dtype(),
                        var.shape()
                    ),
                ));
            }
            pending.push((var.clone(), t));
        }
        if let Some(key) = file.keys().min() {
            let (var_name, slot) = key.rsplit_once('/').unwrap_or((key.as_str(), ""));
            let message = if self.names.iter().any(|n| n == var_name) {
                format!("variable {var_name:?}: unexpected slot {slot:?} in the file")
            } else {
                format!("variable {var_name:?} in the file is not among the optimizer's variables")
            };
            return Err(state_err(path, message));
        }

        for (var, t) in pending {
            var.set(&t)?;
        }
        for (name, value) in scalars {
            self.rule.set_scalar(&name, value)?;
        }
        self.raw_step = raw_step;
        if let Some(lr) = lr {
            self.learning_rate = LearningRate::Constant(lr);
        }
        Ok(())
    }
}
