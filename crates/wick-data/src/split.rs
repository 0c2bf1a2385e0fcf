//! Seeded train/validation split of an [`ImageFolder`] into [`Subset`]s.
//!
//! Keras' algorithm (`get_training_or_validation_split`): shuffle the whole file list once
//! with the seed, then the **last** `floor(validation_split * N)` files are validation and
//! the rest training. Both subsets come from one call here, so they cannot be built with
//! different seeds and overlap. Unlike Keras 3.15.1, an empty subset is an error.

use std::sync::Arc;

use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::folder::{ImageFolder, Sample};
use crate::rng::{rng_for, Stream};

/// Which part of a dataset a [`Subset`] is. Only `Training` and `All` accept augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubsetKind {
    /// The whole dataset, unsplit.
    All,
    /// The training part of a split.
    Training,
    /// The validation part of a split: never shuffled per epoch, never augmented.
    Validation,
}

impl SubsetKind {
    /// `all`, `training` or `validation`.
    pub fn name(self) -> &'static str {
        match self {
            SubsetKind::All => "all",
            SubsetKind::Training => "training",
            SubsetKind::Validation => "validation",
        }
    }
}

/// A list of samples with the class names they index into.
#[derive(Debug, Clone)]
pub struct Subset {
    kind: SubsetKind,
    class_names: Arc<[String]>,
    samples: Vec<Sample>,
}

impl Subset {
    /// Builds a subset from explicit samples (labels must index `class_names`).
    pub fn new(kind: SubsetKind, class_names: Vec<String>, samples: Vec<Sample>) -> Result<Self> {
        if let Some(bad) = samples.iter().find(|s| s.label >= class_names.len()) {
            return Err(Error::InvalidOption {
                context: "Subset",
                name: "label",
                message: format!(
                    "{} has label {} but there are {} classes",
                    bad.path.display(),
                    bad.label,
                    class_names.len()
                ),
            });
        }
        Ok(Self { kind, class_names: class_names.into(), samples })
    }

    /// Which part of the dataset this is.
    pub fn kind(&self) -> SubsetKind {
        self.kind
    }

    /// Class names in label order (shared by both subsets of a split).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The samples in this subset's base order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitOptions {
    /// Fraction of files for validation, in `(0, 1)`.
    pub validation_split: f64,
    /// Seed of the global shuffle before the split.
    pub seed: u64,
    /// Split per class (each class gives `floor(split * n_class)` files), instead of
    /// Keras' global tail. Default false.
    pub stratified: bool,
}

impl SplitOptions {
    /// Keras' split: global seeded shuffle, tail to validation.
    pub fn new(validation_split: f64, seed: u64) -> Self {
        Self { validation_split, seed, stratified: false }
    }
}

impl ImageFolder {
    /// The whole dataset as one subset; with `shuffle_seed` the order is permuted once
    /// globally (Keras' index-time shuffle), otherwise it is the walk order.
    pub fn all(&self, shuffle_seed: Option<u64>) -> Subset {
        let mut samples = self.samples().to_vec();
        if let Some(seed) = shuffle_seed {
            samples.shuffle(&mut rng_for(seed, Stream::Split, &[]));
        }
        Subset { kind: SubsetKind::All, class_names: self.class_names().into(), samples }
    }

    /// Splits into `(training, validation)` Keras' way; see [`SplitOptions`].
    pub fn split(&self, validation_split: f64, seed: u64) -> Result<(Subset, Subset)> {
        self.split_with(&SplitOptions::new(validation_split, seed))
    }

    /// Splits into `(training, validation)`: disjoint, together every file, decided by
    /// the seed alone.
    pub fn split_with(&self, options: &SplitOptions) -> Result<(Subset, Subset)> {
        let split = options.validation_split;
        if !(split > 0.0 && split < 1.0) {
            return Err(Error::InvalidOption {
                context: "ImageFolder::split",
                name: "validation_split",
                message: format!("{split} is not strictly between 0 and 1"),
            });
        }
        let n = self.len();
        let mut rng = rng_for(options.seed, Stream::Split, &[]);
        let (training, validation) = if options.stratified {
            let mut training = Vec::new();
            let mut validation = Vec::new();
            for label in 0..self.num_classes() {
                let mut class: Vec<Sample> = self.samples().iter().filter(|s| s.label == label).cloned().collect();
                class.shuffle(&mut rng);
                let n_val = (split * class.len() as f64).floor() as usize;
                validation.extend(class.drain(class.len() - n_val..));
                training.extend(class);
            }
            training.shuffle(&mut rng);
            validation.shuffle(&mut rng);
            (training, validation)
        } else {
            let mut all = self.samples().to_vec();
            all.shuffle(&mut rng);
            let n_val = (split * n as f64).floor() as usize;
            let validation = all.split_off(n - n_val);
            (all, validation)
        };
        if validation.is_empty() {
            return Err(Error::EmptySubset { subset: "validation", files: n, split });
        }
        if training.is_empty() {
            return Err(Error::EmptySubset { subset: "training", files: n, split });
        }
        let names: Arc<[String]> = self.class_names().into();
        Ok((
            Subset { kind: SubsetKind::Training, class_names: names.clone(), samples: training },
            Subset { kind: SubsetKind::Validation, class_names: names, samples: validation },
        ))
    }
}
