//! Data for the demo scripts: the default synthetic dataset, the seeded train/validation
//! split and the generators. Included with
//! `#[path = "demo/data.rs"] mod data;`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use wick::data::augment::{Augmentation, FillMode, FlipMode};
use wick::data::synthetic::{write_shapes, ShapesOptions};
use wick::data::{GeneratorOptions, ImageFolder, ImageFolderGenerator, ImageOptions, LabelMode, Subset};

type Error = Box<dyn std::error::Error>;

/// Writes the synthetic shapes dataset (4 classes of `size × size` PNGs, `per_class`
/// each) into `dir` unless `dir` exists. Returns whether it wrote it.
pub fn ensure_shapes(dir: &Path, per_class: usize, size: u32, seed: u64) -> Result<bool, Error> {
    if dir.exists() {
        return Ok(false);
    }
    let options = ShapesOptions { per_class, height: size, width: size, seed, ..Default::default() };
    // Written next to `dir` and renamed, so an interrupted run leaves no half dataset.
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new().prefix(".shapes-").tempdir_in(parent)?;
    write_shapes(tmp.path(), &options)?;
    std::fs::rename(tmp.path(), dir).map_err(|e| format!("cannot move the generated dataset to {}: {e}", dir.display()))?;
    let _ = tmp.keep();
    Ok(true)
}

/// The class folders under `dir`, split by `seed` (Keras' `validation_split` + `seed`):
/// `(class names, training subset, validation subset)`.
pub fn split(dir: &Path, validation_split: f64, seed: u64) -> Result<(Vec<String>, Subset, Subset), Error> {
    let folder = ImageFolder::open(dir).map_err(|e| format!("cannot open the image folder {}: {e}", dir.display()))?;
    let (train, val) = folder.split(validation_split, seed)?;
    Ok((folder.class_names().to_vec(), train, val))
}

/// How much the training images are augmented.
pub fn augmentation(level: &str) -> Result<Option<Augmentation>, Error> {
    let aug = match level {
        "none" => return Ok(None),
        "light" => Augmentation::new().random_flip(FlipMode::Horizontal).random_translation(0.05, 0.05),
        "full" => Augmentation::new()
            .random_flip(FlipMode::Horizontal)
            .random_rotation(0.05)
            .random_zoom(0.1)
            .random_translation(0.1, 0.1)
            .random_contrast(0.2)
            .fill_mode(FillMode::Reflect),
        other => return Err(format!("unknown augmentation {other:?}: use none, light or full").into()),
    };
    Ok(Some(aug.checked()?))
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

/// `cpu` or `cuda` (GPU 0; needs a build with `--features cuda`).
pub fn device(name: &str) -> Result<Device, Error> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| format!("--device cuda: {e} (build with `--features cuda`)").into()),
        other => Err(format!("unknown device {other:?}: use cpu or cuda").into()),
    }
}
