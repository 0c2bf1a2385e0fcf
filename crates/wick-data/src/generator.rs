//! The [`Generator`] trait (what a trainer pulls batches from) and the options shared by
//! wick-data's generators.

use candle_core::Device;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::label::LabelMode;
use crate::skip::{OnBadFile, SkipReport};

/// A source of batches, epoch after epoch.
///
/// `next_batch` returns `Ok(Some(batch))` within an epoch and `Ok(None)` at each epoch
/// boundary; the call after a boundary starts the next epoch. An endless generator without
/// `steps_per_epoch` never returns `Ok(None)`: the caller decides where epochs end, as with
/// Keras' `fit(generator, steps_per_epoch=...)`.
///
/// Write one for your own data by implementing the two required methods; see
/// `examples/in_memory_generator.rs`.
pub trait Generator: Send {
    /// Batches per epoch when known in advance (files skipped by [`OnBadFile::Skip`] can
    /// make an epoch shorter).
    fn steps_per_epoch(&self) -> Option<usize>;

    /// The next batch, or `Ok(None)` at the end of an epoch.
    fn next_batch(&mut self) -> Result<Option<Batch>>;

    /// Files skipped during the last completed epoch, when the generator skips bad files.
    fn skip_report(&self) -> Option<&SkipReport> {
        None
    }
}

impl<G: Generator + ?Sized> Generator for Box<G> {
    fn steps_per_epoch(&self) -> Option<usize> {
        (**self).steps_per_epoch()
    }
    fn next_batch(&mut self) -> Result<Option<Batch>> {
        (**self).next_batch()
    }
    fn skip_report(&self) -> Option<&SkipReport> {
        (**self).skip_report()
    }
}

/// What to do with the last, smaller batch of a pass over the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastBatch {
    /// Yield it (Keras: `drop_remainder=False`).
    #[default]
    Keep,
    /// Leave it out, so every batch has `batch_size` images.
    Drop,
}

/// How the stream of samples maps onto epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpochMode {
    /// An epoch is one pass over the data (or its first `steps_per_epoch` batches); each
    /// epoch starts a fresh pass with its own shuffle.
    #[default]
    Finite,
    /// The data repeats forever, reshuffled every pass, and batches run across pass
    /// boundaries (all full). `steps_per_epoch`, if set, places the epoch boundaries.
    Endless,
}

/// Options common to wick-data's generators.
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    /// Images per batch (Keras default 32).
    pub batch_size: usize,
    /// Reshuffle every pass (training and unsplit data only: a validation subset keeps
    /// its order, as in Keras).
    pub shuffle: bool,
    /// Seed of the per-pass shuffles and of the per-image augmentation streams.
    pub seed: u64,
    /// Keep or drop the last partial batch of a pass.
    pub last_batch: LastBatch,
    /// Finite epochs or an endless stream.
    pub epochs: EpochMode,
    /// Batches per epoch; `None`: a full pass (finite) or no boundary (endless).
    pub steps_per_epoch: Option<usize>,
    /// Batches decoded ahead of the consumer (the bound of the prefetch queue), ≥ 1.
    pub prefetch: usize,
    /// Decode threads; `None` uses rayon's global pool (`RAYON_NUM_THREADS`).
    pub num_threads: Option<usize>,
    /// Fail on a bad file (default) or skip and report it.
    pub on_bad_file: OnBadFile,
    /// Do not print skip reports to stderr (they stay readable via `skip_report`).
    pub quiet_skips: bool,
    /// Label encoding.
    pub label_mode: LabelMode,
    /// Device the batch tensors are created on.
    pub device: Device,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            shuffle: true,
            seed: 0,
            last_batch: LastBatch::Keep,
            epochs: EpochMode::Finite,
            steps_per_epoch: None,
            prefetch: 2,
            num_threads: None,
            on_bad_file: OnBadFile::Fail,
            quiet_skips: false,
            label_mode: LabelMode::Int,
            device: Device::Cpu,
        }
    }
}

impl GeneratorOptions {
    /// Defaults with the given batch size and seed.
    pub fn new(batch_size: usize, seed: u64) -> Self {
        Self { batch_size, seed, ..Self::default() }
    }

    /// Checks the options against a dataset of `len` samples.
    pub fn validate(&self, len: usize) -> Result<()> {
        let bad = |name, message: String| Err(Error::InvalidOption { name, message });
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.prefetch == 0 {
            return bad("prefetch", "must be at least 1".into());
        }
        if self.steps_per_epoch == Some(0) {
            return bad("steps_per_epoch", "must be at least 1".into());
        }
        if self.num_threads == Some(0) {
            return bad("num_threads", "must be at least 1".into());
        }
        if len == 0 {
            return bad("samples", "the dataset is empty".into());
        }
        if self.last_batch == LastBatch::Drop && self.epochs == EpochMode::Finite && len < self.batch_size {
            return bad("batch_size", format!("{} exceeds the {len} samples and the last batch is dropped: no batch", self.batch_size));
        }
        Ok(())
    }

    /// Batches in one pass over `len` samples under the last-batch policy.
    pub fn batches_per_pass(&self, len: usize) -> usize {
        match self.last_batch {
            LastBatch::Keep => len.div_ceil(self.batch_size),
            LastBatch::Drop => len / self.batch_size,
        }
    }

    /// Batches per epoch as [`Generator::steps_per_epoch`] reports it.
    pub fn steps(&self, len: usize) -> Option<usize> {
        match (self.epochs, self.steps_per_epoch) {
            (EpochMode::Finite, Some(s)) => Some(s.min(self.batches_per_pass(len))),
            (EpochMode::Finite, None) => Some(self.batches_per_pass(len)),
            (EpochMode::Endless, s) => s,
        }
    }
}
