//! Loading a network's variables from a safetensors file, checked name by name and shape by
//! shape before anything is written.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use crate::error::{Error, Result};

/// Writes the tensors of the safetensors file `path` into the variables of `varmap`.
///
/// Every variable must have a tensor of its name and shape in the file (else
/// [`Error::MissingTensor`] / [`Error::ShapeMismatch`], naming the tensor and both shapes);
/// a tensor of the file that is no variable is an [`Error::UnexpectedTensor`] unless
/// `ignore(name)` holds (e.g. the classifier's when the network is built without it).
/// Nothing is written unless everything fits. Values are converted to each variable's
/// dtype and device. `hint` is what a missing file's error tells the user to run.
pub fn load_into(varmap: &VarMap, path: &Path, ignore: impl Fn(&str) -> bool, hint: &str) -> Result<()> {
    if !path.is_file() {
        return Err(Error::MissingWeights { path: path.to_path_buf(), hint: hint.to_string() });
    }
    let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in &names {
        let var = &data[*name];
        let Some(t) = tensors.get(*name) else {
            return Err(Error::MissingTensor {
                path: path.to_path_buf(),
                name: (*name).clone(),
                expected: var.dims().to_vec(),
            });
        };
        if t.dims() != var.dims() {
            return Err(Error::ShapeMismatch {
                path: path.to_path_buf(),
                name: (*name).clone(),
                expected: var.dims().to_vec(),
                found: t.dims().to_vec(),
            });
        }
    }
    let mut extra: Vec<&String> = tensors.keys().filter(|k| !data.contains_key(*k) && !ignore(k)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(Error::UnexpectedTensor { path: path.to_path_buf(), name: (*name).clone() });
    }
    for name in names {
        let var = &data[name];
        var.set(&tensors[name].to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}
