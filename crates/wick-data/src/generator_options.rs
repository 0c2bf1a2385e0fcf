//! [`GeneratorOptions`]: batching, seeds, prefetch and bad-file policy shared by
//! wick-data's generators.

use candle_core::Device;

use crate::error::{Error, Result};
use crate::label::LabelMode;
use crate::skip::OnBadFile;

/// What to do with the last, smaller batch of a pass over the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastBatch {
    /// Yield it (Keras: `drop_remainder=False`).
    #[default]
    Keep,
    /// Leave it out, so every batch has `batch_size` images.
    Drop,
}

/// Options common to wick-data's generators.
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    /// Images per batch (Keras default 32).
    pub batch_size: usize,
    /// Seed of the per-pass shuffles and of the per-image augmentation streams. Whether a
    /// pass is shuffled is the consumer's choice ([`Dataset::begin_pass`](crate::Dataset::begin_pass);
    /// `fit`'s `shuffle`).
    pub seed: u64,
    /// Keep or drop the last partial batch of a pass.
    pub last_batch: LastBatch,
    /// Repeat the data forever (tf.data's `dataset.repeat()`): reshuffled every pass when
    /// shuffling, batches run across pass boundaries (all full), and the stream never
    /// ends, so `fit` needs `steps_per_epoch` to place epoch boundaries. Default `false`:
    /// each pass ends with the end of the data.
    pub repeat: bool,
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
    /// Device the batch tensors are created on (by the producer thread: the upload overlaps
    /// the training step).
    pub device: Device,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            seed: 0,
            last_batch: LastBatch::Keep,
            repeat: false,
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
        let bad = |name, message: String| Err(Error::InvalidOption { context: "GeneratorOptions", name, message });
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.prefetch == 0 {
            return bad("prefetch", "must be at least 1".into());
        }
        if self.num_threads == Some(0) {
            return bad("num_threads", "must be at least 1".into());
        }
        if len == 0 {
            return bad("samples", "the dataset is empty".into());
        }
        if self.last_batch == LastBatch::Drop && !self.repeat && len < self.batch_size {
            return bad(
                "batch_size",
                format!("{} exceeds the {len} samples and the last batch is dropped: no batch", self.batch_size),
            );
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

    /// Batches per pass as [`Dataset::len_batches`](crate::Dataset::len_batches) reports
    /// it: `None` for a repeating stream.
    pub fn len_batches(&self, len: usize) -> Option<usize> {
        (!self.repeat).then(|| self.batches_per_pass(len))
    }
}
