//! The data pipeline the examples rebuild the same way: the seeded train/validation split
//! of an image folder, the generators over it, and the device they put batches on.

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use wick_data::augment::Augmentation;
use wick_data::{with_sources, GeneratorOptions, ImageFolder, ImageFolderGenerator, ImageOptions, LabelMode, Subset};

use crate::Error;

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
/// the binary using it); without it, asking for CUDA says how to get it.
pub fn device(name: DeviceName, built_with_cuda: bool) -> Result<Device, Error> {
    match name {
        DeviceName::Cpu => Ok(Device::Cpu),
        DeviceName::Cuda if built_with_cuda => Device::new_cuda(0)
            .map_err(|e| format!("--device cuda: cannot open CUDA device 0: {}", with_sources(&e)).into()),
        DeviceName::Cuda => {
            Err("--device cuda: this binary was built without CUDA support; build it with `--features cuda`".into())
        }
    }
}
