//! The data pipeline the examples rebuild the same way: the seeded train/validation split
//! of an image folder, the generators over it, and the device they put batches on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use candle_core::Device;
use wick_data::augment::{Augmentation, FillMode, FlipMode};
use wick_data::synthetic::{write_shapes, ShapesOptions};
use wick_data::{with_sources, GeneratorOptions, ImageFolder, ImageFolderGenerator, ImageOptions, LabelMode, Subset};

use crate::{remove_stale_temps, Augment, Error, PathError};

/// How `ensure_shapes` names its temporary folder beside the dataset (then 6 random
/// alphanumerics); a run killed while generating leaves one, which the next run removes.
const SHAPES_TMP_PREFIX: &str = ".shapes-";

/// The class folders under `dir`, split by `seed` (Keras' `validation_split` + `seed`):
/// `(class names, training subset, validation subset)`. The same arguments give the same
/// split, which is how `evaluate` finds the images a run validated on.
pub fn split(dir: &Path, validation_split: f64, seed: u64) -> Result<(Vec<String>, Subset, Subset), Error> {
    let folder = ImageFolder::open(dir)
        .map_err(|e| format!("cannot open the image folder {}: {}", dir.display(), with_sources(&e)))?;
    let (train, val) = folder.split(validation_split, seed)?;
    Ok((folder.class_names().to_vec(), train, val))
}

/// A generator over `subset` (integer labels, on `device`): a dataset `fit` reads;
/// training subsets get `augment` (and `fit` reshuffles them every epoch).
pub fn dataset(
    subset: &Subset,
    size: usize,
    batch_size: usize,
    seed: u64,
    device: &Device,
    augment: Option<Augmentation>,
) -> Result<ImageFolderGenerator, Error> {
    let options = GeneratorOptions {
        label_mode: LabelMode::Int,
        device: device.clone(),
        ..GeneratorOptions::new(batch_size, seed)
    };
    let mut generator = ImageFolderGenerator::new(subset, ImageOptions::new(size, size), options)?;
    if let Some(aug) = augment {
        generator = generator.with_transform(Arc::new(aug))?;
    }
    Ok(generator)
}

/// Where the model and the batches live (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceName {
    /// The CPU.
    Cpu,
    /// GPU 0, with Candle's CUDA backend (needs a build with `--features cuda`).
    Cuda,
}

/// Opens `name`. `built_with_cuda` says whether the calling binary was built with wick's
/// `cuda` feature (pass `cfg!(feature = "cuda")`: this crate cannot see the features of
/// the binary using it); without it, asking for CUDA says how to get it. A cuda build on a
/// machine whose driver cannot open GPU 0 gets the driver's reason and what it means.
pub fn device(name: DeviceName, built_with_cuda: bool) -> Result<Device, Error> {
    match name {
        DeviceName::Cpu => Ok(Device::Cpu),
        DeviceName::Cuda if built_with_cuda => Device::new_cuda(0).map_err(|e| {
            let reason = with_sources(&e);
            format!("--device cuda: cannot open CUDA device 0: {reason}{}", cuda_hint(&reason)).into()
        }),
        DeviceName::Cuda => {
            Err("--device cuda: this binary was built without CUDA support; build it with `--features cuda`".into())
        }
    }
}

/// What a CUDA driver error code means for someone who asked for `--device cuda` (the
/// codes appear in the error's text as cudarc names them).
fn cuda_hint(reason: &str) -> &'static str {
    const HINTS: [(&str, &str); 4] = [
        (
            "CUDA_ERROR_STUB_LIBRARY",
            " (the libcuda.so.1 on the library path is a link stub, such as the one \
             scripts/ensure_cuda_toolkit.sh makes, not the NVIDIA driver: this machine has no usable GPU driver)",
        ),
        ("CUDA_ERROR_NO_DEVICE", " (the NVIDIA driver sees no GPU: check `nvidia-smi` and CUDA_VISIBLE_DEVICES)"),
        (
            "CUDA_ERROR_INSUFFICIENT_DRIVER",
            " (the NVIDIA driver is older than the CUDA 13.0 runtime this binary was built with; it needs driver 580 or newer)",
        ),
        ("CUDA_ERROR_INVALID_DEVICE", " (GPU 0 does not exist: check CUDA_VISIBLE_DEVICES)"),
    ];
    HINTS.iter().find(|(code, _)| reason.contains(code)).map_or("", |(_, hint)| hint)
}

/// The training images' augmentation at `level` (`train --augment`).
pub fn augmentation(level: Augment) -> Result<Option<Augmentation>, Error> {
    let aug = match level {
        Augment::None => return Ok(None),
        Augment::Light => Augmentation::new().random_flip(FlipMode::Horizontal).random_translation(0.05, 0.05),
        Augment::Full => Augmentation::new()
            .random_flip(FlipMode::Horizontal)
            .random_rotation(0.05)
            .random_zoom(0.1)
            .random_translation(0.1, 0.1)
            .random_contrast(0.2)
            .fill_mode(FillMode::Reflect),
    };
    Ok(Some(aug.checked()?))
}

/// Writes the synthetic shapes dataset (`options`) into `dir` unless `dir` exists, first
/// removing the temporary folders that runs killed while generating left beside it (only
/// `.shapes-XXXXXX` folders last modified before this process `started`). Returns whether
/// it wrote the dataset, and the leftovers it removed.
pub fn ensure_shapes(dir: &Path, options: &ShapesOptions, started: SystemTime) -> Result<(bool, Vec<PathBuf>), Error> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let removed = remove_stale_temps(parent, SHAPES_TMP_PREFIX, "", true, started)?;
    if dir.exists() {
        return Ok((false, removed));
    }
    // Written next to `dir` and renamed, so an interrupted run leaves no half dataset.
    std::fs::create_dir_all(parent).map_err(|e| {
        PathError::new(format!("generate the dataset {}: cannot create its folder", dir.display()), parent, e)
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(SHAPES_TMP_PREFIX)
        .tempdir_in(parent)
        .map_err(PathError::at("create a temporary folder for the generated dataset in", parent))?;
    write_shapes(tmp.path(), options)
        .map_err(|e| format!("cannot generate the dataset {}: {}", dir.display(), with_sources(&e)))?;
    match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            let _ = tmp.keep();
            Ok((true, removed))
        }
        // Another run generated it meanwhile: use that one (`tmp` is removed on drop).
        Err(_) if dir.is_dir() => Ok((false, removed)),
        Err(e) => Err(PathError::new("move the generated dataset to", dir, e).into()),
    }
}
