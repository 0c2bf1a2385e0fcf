//! Data for `fit` / `evaluate` / `predict`: the [`Dataset`] trait and [`TensorDataset`]
//! over in-memory tensors (Keras' `fit(x, y, batch_size=…, shuffle=…)` on arrays).

use candle_core::{DType, Tensor};

use crate::train_error::{TrainError, TrainResult};

/// One batch: inputs, targets and optional per-sample weights, all with the batch on
/// axis 0 and on the same device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Inputs `x` (batch on axis 0).
    pub x: Tensor,
    /// Targets `y`; `None` for inputs-only data (what `predict` needs). `fit` and
    /// `evaluate` report an error for a batch without targets.
    pub y: Option<Tensor>,
    /// Per-sample weights (Keras `sample_weight`), shape `[batch]` or broadcastable to the
    /// per-sample loss values.
    pub sample_weight: Option<Tensor>,
}

impl Batch {
    /// A batch of inputs and targets.
    pub fn new(x: Tensor, y: Tensor) -> Self {
        Batch { x, y: Some(y), sample_weight: None }
    }

    /// A batch of inputs only (for `predict`).
    pub fn inputs(x: Tensor) -> Self {
        Batch { x, y: None, sample_weight: None }
    }

    /// Adds per-sample weights.
    pub fn with_sample_weight(mut self, sample_weight: Tensor) -> Self {
        self.sample_weight = Some(sample_weight);
        self
    }

    /// Number of samples (axis 0 of `x`).
    pub fn len(&self) -> TrainResult<usize> {
        Ok(self.x.dim(0)?)
    }

    /// True when the batch holds no sample.
    pub fn is_empty(&self) -> TrainResult<bool> {
        Ok(self.len()? == 0)
    }
}

/// The batches of one pass over a dataset. The iterator owns what it needs (tensors are
/// reference-counted, so cloning them into it is cheap), so the loop can keep it across
/// epochs when `steps_per_epoch` cuts a pass into several epochs, as Keras does.
pub type BatchIter = Box<dyn Iterator<Item = TrainResult<Batch>>>;

/// A source of batches for the training loop (Keras' data adapters).
///
/// `batches` starts a new pass over the data. The loop starts one per epoch, except when
/// `steps_per_epoch` is set: then a pass continues across epochs until it runs out (Keras'
/// `EpochIterator`).
pub trait Dataset {
    /// Batches in one pass, when known (Keras' `params["steps"]`; `None` shows
    /// `"n/Unknown"` in the progress bar).
    fn len_batches(&self) -> Option<usize>;

    /// Starts a pass over the data for epoch `epoch` (0-based). `shuffle` is `fit`'s
    /// `shuffle` for training data and always `false` for `evaluate`, validation and
    /// `predict`; a dataset with its own order (a generator) may ignore it, as Keras
    /// ignores `shuffle` for datasets and generators.
    fn batches(&mut self, epoch: usize, shuffle: bool) -> TrainResult<BatchIter>;
}

impl<D: Dataset + ?Sized> Dataset for &mut D {
    fn len_batches(&self) -> Option<usize> {
        (**self).len_batches()
    }
    fn batches(&mut self, epoch: usize, shuffle: bool) -> TrainResult<BatchIter> {
        (**self).batches(epoch, shuffle)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn len_batches(&self) -> Option<usize> {
        (**self).len_batches()
    }
    fn batches(&mut self, epoch: usize, shuffle: bool) -> TrainResult<BatchIter> {
        (**self).batches(epoch, shuffle)
    }
}

/// Keras' default `batch_size`.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// In-memory tensors cut into batches along axis 0, as Keras' `fit(x, y)` does with
/// arrays:
///
/// * `ceil(N / batch_size)` batches; the last one may be partial and is kept;
/// * with `shuffle` (fit's default), a fresh full permutation every epoch, drawn from
///   `seed` and the epoch number (so a run is reproducible, and a run resumed at epoch
///   `e` sees the same order as an uninterrupted one);
/// * without `shuffle` (evaluate, validation, predict), the rows in order;
/// * [`split_validation`](Self::split_validation) takes the **last** rows as validation
///   data before any shuffling (Keras' `validation_split`).
///
/// Everything stays on the tensors' device: a permutation is uploaded once per epoch
/// and batches are gathered with `index_select` (or `narrow` in order).
#[derive(Debug, Clone)]
pub struct TensorDataset {
    x: Tensor,
    y: Option<Tensor>,
    sample_weight: Option<Tensor>,
    batch_size: usize,
    seed: u64,
}

impl TensorDataset {
    /// Inputs `x` and targets `y` with the same number of rows (axis 0), batch size 32,
    /// seed 0.
    pub fn new(x: Tensor, y: Tensor) -> TrainResult<Self> {
        let n = rows(&x, "x")?;
        let ny = rows(&y, "y")?;
        if n != ny {
            return Err(TrainError::invalid(
                "TensorDataset",
                format!("x has {n} rows (shape {:?}) but y has {ny} (shape {:?})", x.dims(), y.dims()),
            ));
        }
        Ok(TensorDataset { x, y: Some(y), sample_weight: None, batch_size: DEFAULT_BATCH_SIZE, seed: 0 })
    }

    /// Inputs only (for `predict`), batch size 32.
    pub fn inputs(x: Tensor) -> TrainResult<Self> {
        rows(&x, "x")?;
        Ok(TensorDataset { x, y: None, sample_weight: None, batch_size: DEFAULT_BATCH_SIZE, seed: 0 })
    }

    /// Adds per-sample weights (Keras `sample_weight`), one row per sample.
    pub fn with_sample_weight(mut self, sample_weight: Tensor) -> TrainResult<Self> {
        let n = self.num_samples();
        let nw = rows(&sample_weight, "sample_weight")?;
        if nw != n {
            return Err(TrainError::invalid(
                "TensorDataset",
                format!("sample_weight has {nw} rows (shape {:?}) but x has {n}", sample_weight.dims()),
            ));
        }
        self.sample_weight = Some(sample_weight);
        Ok(self)
    }

    /// Sets the batch size (Keras `batch_size`; default 32); it must be positive.
    pub fn with_batch_size(mut self, batch_size: usize) -> TrainResult<Self> {
        if batch_size == 0 {
            return Err(TrainError::invalid("TensorDataset", "batch_size must be positive; received 0"));
        }
        self.batch_size = batch_size;
        Ok(self)
    }

    /// Sets the seed of the per-epoch shuffling (default 0).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Number of samples (rows).
    pub fn num_samples(&self) -> usize {
        // Checked at construction: x has at least one axis.
        self.x.dims().first().copied().unwrap_or(0)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The inputs.
    pub fn x(&self) -> &Tensor {
        &self.x
    }

    /// The targets, if any.
    pub fn y(&self) -> Option<&Tensor> {
        self.y.as_ref()
    }

    /// Keras' `validation_split`: rows `split_at..N`, with
    /// `split_at = floor(N · (1 − validation_split))`, become the validation set (taken before any shuffling); the rest stay for training. Both keep
    /// this dataset's batch size and seed. `validation_split` must be in `(0, 1)`.
    pub fn split_validation(self, validation_split: f64) -> TrainResult<(TensorDataset, TensorDataset)> {
        if !(validation_split > 0.0 && validation_split < 1.0) {
            return Err(TrainError::invalid(
                "TensorDataset::split_validation",
                format!("validation_split must be in (0, 1); received {validation_split}"),
            ));
        }
        let n = self.num_samples();
        let split_at = (n as f64 * (1.0 - validation_split)).floor() as usize;
        if split_at == 0 || split_at == n {
            return Err(TrainError::invalid(
                "TensorDataset::split_validation",
                format!("validation_split={validation_split} of {n} samples leaves an empty training or validation set"),
            ));
        }
        let part = |start: usize, len: usize| -> TrainResult<TensorDataset> {
            Ok(TensorDataset {
                x: self.x.narrow(0, start, len)?,
                y: self.y.as_ref().map(|y| y.narrow(0, start, len)).transpose()?,
                sample_weight: self.sample_weight.as_ref().map(|w| w.narrow(0, start, len)).transpose()?,
                batch_size: self.batch_size,
                seed: self.seed,
            })
        };
        Ok((part(0, split_at)?, part(split_at, n - split_at)?))
    }

    /// The row order that shuffling uses in epoch `epoch`: a permutation of `0..N`
    /// determined by the seed and the epoch.
    pub fn permutation(&self, epoch: usize) -> Vec<u32> {
        let n = self.num_samples();
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let mut rng = SplitMix64::new(self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
        // Fisher–Yates.
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            perm.swap(i, j);
        }
        perm
    }
}

fn rows(t: &Tensor, name: &str) -> TrainResult<usize> {
    match t.dims().first() {
        Some(&n) => Ok(n),
        None => Err(TrainError::invalid("TensorDataset", format!("{name} is a scalar; it needs a batch axis 0"))),
    }
}

impl Dataset for TensorDataset {
    fn len_batches(&self) -> Option<usize> {
        Some(self.num_samples().div_ceil(self.batch_size))
    }

    fn batches(&mut self, epoch: usize, shuffle: bool) -> TrainResult<BatchIter> {
        let n = self.num_samples();
        let order = if shuffle && n > 1 {
            let perm = self.permutation(epoch);
            Some(Tensor::from_vec(perm, n, self.x.device())?)
        } else {
            None
        };
        Ok(Box::new(TensorBatches {
            x: self.x.clone(),
            y: self.y.clone(),
            sample_weight: self.sample_weight.clone(),
            order,
            batch_size: self.batch_size,
            n,
            start: 0,
        }))
    }
}

/// The batches of one pass of a [`TensorDataset`].
struct TensorBatches {
    x: Tensor,
    y: Option<Tensor>,
    sample_weight: Option<Tensor>,
    /// Row order (U32 on the device) when shuffled.
    order: Option<Tensor>,
    batch_size: usize,
    n: usize,
    start: usize,
}

impl TensorBatches {
    fn take(&self, t: &Tensor, start: usize, len: usize) -> TrainResult<Tensor> {
        Ok(match &self.order {
            Some(order) => t.index_select(&order.narrow(0, start, len)?, 0)?,
            None => t.narrow(0, start, len)?,
        })
    }

    fn batch(&self, start: usize, len: usize) -> TrainResult<Batch> {
        Ok(Batch {
            x: self.take(&self.x, start, len)?,
            y: self.y.as_ref().map(|y| self.take(y, start, len)).transpose()?,
            sample_weight: self.sample_weight.as_ref().map(|w| self.take(w, start, len)).transpose()?,
        })
    }
}

impl Iterator for TensorBatches {
    type Item = TrainResult<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.start >= self.n {
            return None;
        }
        let len = self.batch_size.min(self.n - self.start);
        let start = self.start;
        self.start += len;
        Some(self.batch(start, len))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.n - self.start.min(self.n)).div_ceil(self.batch_size);
        (left, Some(left))
    }

    fn nth(&mut self, k: usize) -> Option<Self::Item> {
        // Skip without gathering the skipped batches.
        self.start = self.start.saturating_add(k.saturating_mul(self.batch_size)).min(self.n);
        self.next()
    }
}

/// SplitMix64: a small, fast, well-mixed generator; enough for shuffling row order.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`), without modulo bias (Lemire's method).
    fn below(&mut self, bound: u64) -> u64 {
        loop {
            let m = (self.next_u64() as u128) * (bound as u128);
            let low = m as u64;
            if low >= bound.wrapping_neg() % bound {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Casts integer sample weights to `f32` (float weights are kept as they are).
pub(crate) fn float_weights(w: &Tensor) -> TrainResult<Tensor> {
    Ok(if w.dtype().is_float() { w.clone() } else { w.to_dtype(DType::F32)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn batches_keep_partial_last_and_order() {
        let x = Tensor::arange(0f32, 10.0, &Device::Cpu).unwrap().reshape((10, 1)).unwrap();
        let mut ds = TensorDataset::inputs(x).unwrap().with_batch_size(4).unwrap();
        assert_eq!(ds.len_batches(), Some(3));
        let sizes: Vec<usize> = ds.batches(0, false).unwrap().map(|b| b.unwrap().len().unwrap()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let p0 = ds.permutation(0);
        let p1 = ds.permutation(1);
        assert_ne!(p0, p1);
        let mut sorted = p0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<u32>>());
        assert_eq!(p0, ds.clone().permutation(0));
    }

    #[test]
    fn split_takes_last_rows() {
        let x = Tensor::arange(0f32, 10.0, &Device::Cpu).unwrap().reshape((10, 1)).unwrap();
        let ds = TensorDataset::new(x.clone(), x).unwrap();
        let (t, v) = ds.split_validation(0.25).unwrap();
        assert_eq!(t.num_samples(), 7);
        assert_eq!(v.x().flatten_all().unwrap().to_vec1::<f32>().unwrap(), [7.0, 8.0, 9.0]);
        assert!(TensorDataset::inputs(Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap()).unwrap().split_validation(1.0).is_err());
    }
}
