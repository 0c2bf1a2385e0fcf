//! # wick-data
//!
//! Image datasets for Candle training, with Keras' `image_dataset_from_directory`
//! semantics, seeded train/validation generators, an augmentation hook and a synthetic
//! shapes dataset.
//!
//! - [`ImageFolder`] indexes `root/<class>/**/<image>`: class names are the sorted
//!   sub-folders (or given explicitly), files with `.bmp .gif .jpeg .jpg .png` in any case.
//! - [`ImageFolder::split`] shuffles the file list once with a seed and gives the tail to
//!   validation (Keras' algorithm); both subsets come from one call, so they never overlap.
//! - [`ImageFolderGenerator`] decodes (format sniffed from the bytes, truncated JPEGs
//!   refused), converts colour, resizes (`tf.image.resize` semantics, or crop/pad to the
//!   aspect ratio) and batches in parallel with a bounded prefetch queue. Images are
//!   `f32 [N, C, H, W]` in **0..=255, not rescaled** (as Keras). Labels: `u32 [N]`
//!   (int), `f32 [N, K]` (categorical), `f32 [N, 1]` (binary) or none.
//! - [`ImageTransform`] is the augmentation hook, training subsets only; see [`augment`].
//! - [`Dataset`] is the one trait `fit` / `evaluate` / `predict` read [`Batch`]es from:
//!   the generators implement it, [`InMemoryGenerator`] serves images already in memory,
//!   [`TensorDataset`] cuts in-memory tensors into batches (Keras' `fit(x, y)`), and a
//!   struct of your own implements it in a few lines.
//! - [`synthetic::write_shapes`] writes a deterministic shapes dataset.
//!
//! ```
//! use wick_data::{synthetic, Dataset, GeneratorOptions, ImageFolder, ImageFolderGenerator,
//!     ImageOptions, LabelMode};
//! # fn main() -> Result<(), wick_data::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let opts = synthetic::ShapesOptions { per_class: 5, height: 16, width: 16, ..Default::default() };
//! synthetic::write_shapes(dir.path(), &opts)?;
//!
//! let folder = ImageFolder::open(dir.path())?;
//! assert_eq!(folder.class_names(), ["circle", "square", "star", "triangle"]);
//! let (train, val) = folder.split(0.25, 42)?;
//!
//! let options = GeneratorOptions { batch_size: 4, seed: 42, label_mode: LabelMode::Categorical, ..Default::default() };
//! let mut train = ImageFolderGenerator::new(&train, ImageOptions::new(12, 12), options.clone())?;
//! let mut val = ImageFolderGenerator::new(&val, ImageOptions::new(12, 12), options)?;
//! train.begin_pass(0, true)?; // what fit does at the start of epoch 0
//! while let Some(batch) = train.next_batch()? {
//!     assert_eq!(batch.x.dims()[1..], [3, 12, 12]);
//!     assert_eq!(batch.y.unwrap().dims()[1], 4);
//! }
//! assert_eq!(val.len_batches(), Some(2)); // 5 validation images, batches of 4
//! assert!(val.begin_pass(0, true).is_err()); // validation data is never shuffled
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod augment;
mod batch;
mod convert;
mod dataset;
pub mod decode;
#[cfg(test)]
mod decode_path_tests;
mod error;
mod folder;
mod folder_generator;
mod generator_options;
mod image_options;
mod in_memory;
mod jpeg;
mod label;
mod pipeline;
mod reduced;
pub mod resize;
pub mod rng;
mod scratch;
mod sharded;
mod skip;
mod slice_reader;
mod split;
pub mod synthetic;
mod tensor_dataset;
mod transform;

pub use batch::Batch;
pub use dataset::Dataset;
pub use decode::{AspectMode, ColorMode, DecodeMode, ImageOptions};
pub use error::{with_sources, DecoderError, Error, Result};
pub use folder::{FolderOptions, ImageFolder, Sample, ALLOWED_EXTENSIONS};
pub use folder_generator::ImageFolderGenerator;
pub use generator_options::{GeneratorOptions, LastBatch};
pub use in_memory::{ImageArray, InMemoryGenerator};
pub use label::LabelMode;
pub use resize::Interpolation;
pub use rng::Rng;
pub use sharded::Sharded;
pub use skip::{OnBadFile, SkipReport, SkippedFile};
pub use split::{SplitOptions, Subset, SubsetKind};
pub use tensor_dataset::{TensorDataset, DEFAULT_BATCH_SIZE};
pub use transform::ImageTransform;
