//! [`TensorDataset`]: in-memory tensors cut into batches along axis 0, as Keras'
//! `fit(x, y, batch_size=…, shuffle=…)` does with arrays.

use candle_core::Tensor;

use crate::batch::Batch;
use crate::dataset::Dataset;
use crate::error::{Error, Result};

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
    pass: PassState,
}

impl TensorDataset {
    /// Inputs `x` and targets `y` with the same number of rows (axis 0), batch size 32,
    /// seed 0.
    pub fn new(x: Tensor, y: Tensor) -> Result<Self> {
        let n = rows(&x, "x")?;
        let ny = rows(&y, "y")?;
        if n != ny {
            return Err(Error::Shape {
                what: "TensorDataset y",
                message: format!("x has {n} rows (shape {:?}) but y has {ny} (shape {:?})", x.dims(), y.dims()),
            });
        }
        Ok(TensorDataset {
            x,
            y: Some(y),
            sample_weight: None,
            batch_size: DEFAULT_BATCH_SIZE,
            seed: 0,
            pass: PassState::default(),
        })
    }

    /// Inputs only (for `predict`), batch size 32.
    pub fn inputs(x: Tensor) -> Result<Self> {
        rows(&x, "x")?;
        Ok(TensorDataset {
            x,
            y: None,
            sample_weight: None,
            batch_size: DEFAULT_BATCH_SIZE,
            seed: 0,
            pass: PassState::default(),
        })
    }

    /// Adds per-sample weights (Keras `sample_weight`), one row per sample.
    pub fn with_sample_weight(mut self, sample_weight: Tensor) -> Result<Self> {
        let n = self.num_samples();
        let nw = rows(&sample_weight, "sample_weight")?;
        if nw != n {
            return Err(Error::Shape {
                what: "TensorDataset sample_weight",
                message: format!("sample_weight has {nw} rows (shape {:?}) but x has {n}", sample_weight.dims()),
            });
        }
        self.sample_weight = Some(sample_weight);
        Ok(self)
    }

    /// Sets the batch size (Keras `batch_size`; default 32); it must be positive.
    pub fn with_batch_size(mut self, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::InvalidOption {
                context: "TensorDataset",
                name: "batch_size",
                message: "must be positive; received 0".into(),
            });
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
    pub fn split_validation(self, validation_split: f64) -> Result<(TensorDataset, TensorDataset)> {
        if !(validation_split > 0.0 && validation_split < 1.0) {
            return Err(Error::InvalidOption {
                context: "TensorDataset::split_validation",
                name: "validation_split",
                message: format!("must be in (0, 1); received {validation_split}"),
            });
        }
        let n = self.num_samples();
        let split_at = (n as f64 * (1.0 - validation_split)).floor() as usize;
        if split_at == 0 || split_at == n {
            return Err(Error::InvalidOption {
                context: "TensorDataset::split_validation",
                name: "validation_split",
                message: format!("{validation_split} of {n} samples leaves an empty training or validation set"),
            });
        }
        let part = |start: usize, len: usize| -> Result<TensorDataset> {
            Ok(TensorDataset {
                x: self.x.narrow(0, start, len)?,
                y: self.y.as_ref().map(|y| y.narrow(0, start, len)).transpose()?,
                sample_weight: self.sample_weight.as_ref().map(|w| w.narrow(0, start, len)).transpose()?,
                batch_size: self.batch_size,
                seed: self.seed,
                pass: PassState::default(),
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

fn rows(t: &Tensor, name: &str) -> Result<usize> {
    match t.dims().first() {
        Some(&n) => Ok(n),
        None => {
            Err(Error::Shape { what: "TensorDataset", message: format!("{name} is a scalar; it needs a batch axis 0") })
        }
    }
}

impl TensorDataset {
    /// Batch `start..start + len` of the current pass.
    fn batch(&self, start: usize, len: usize) -> Result<Batch> {
        let take = |t: &Tensor| -> Result<Tensor> {
            Ok(match &self.pass.order {
                Some((order, _)) => t.index_select(&order.narrow(0, start, len)?, 0)?,
                None => t.narrow(0, start, len)?,
            })
        };
        let indices = match &self.pass.order {
            Some((_, host)) => host[start..start + len].iter().map(|&i| i as usize).collect(),
            None => (start..start + len).collect(),
        };
        Ok(Batch {
            x: take(&self.x)?,
            y: self.y.as_ref().map(take).transpose()?,
            sample_weight: self.sample_weight.as_ref().map(take).transpose()?,
            indices: Some(indices),
        })
    }
}

/// Where a [`TensorDataset`] stands: its pass, that pass's row order, the next row.
#[derive(Debug, Clone, Default)]
struct PassState {
    pass: usize,
    shuffle: bool,
    /// The shuffled row order, on the tensors' device and on the host (for `indices`).
    order: Option<(Tensor, Vec<u32>)>,
    /// First row of the next batch.
    start: usize,
}

impl Dataset for TensorDataset {
    fn len_batches(&self) -> Option<usize> {
        Some(self.num_samples().div_ceil(self.batch_size))
    }

    /// Pass `pass` in row order, or with `shuffle` in the order
    /// [`permutation(pass)`](Self::permutation) (uploaded once per pass).
    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()> {
        let n = self.num_samples();
        let order = if shuffle && n > 1 {
            let perm = self.permutation(pass);
            Some((Tensor::from_slice(&perm, n, self.x.device())?, perm))
        } else {
            None
        };
        self.pass = PassState { pass, shuffle, order, start: 0 };
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<Batch>> {
        let n = self.num_samples();
        if self.pass.start >= n {
            // The end of the pass; the next call starts the following one.
            let (pass, shuffle) = (self.pass.pass + 1, self.pass.shuffle);
            self.begin_pass(pass, shuffle)?;
            return Ok(None);
        }
        let len = self.batch_size.min(n - self.pass.start);
        let batch = self.batch(self.pass.start, len)?;
        self.pass.start += len;
        Ok(Some(batch))
    }

    /// Advances past a batch without gathering its rows.
    fn skip_batch(&mut self) -> Result<bool> {
        let n = self.num_samples();
        if self.pass.start >= n {
            let (pass, shuffle) = (self.pass.pass + 1, self.pass.shuffle);
            self.begin_pass(pass, shuffle)?;
            return Ok(false);
        }
        self.pass.start += self.batch_size.min(n - self.pass.start);
        Ok(true)
    }
}

/// SplitMix64: a small, fast, well-mixed generator; enough for shuffling row order.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64: the output is the mix of the state before its golden-ratio step.
        let out = crate::rng::mix(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn firsts(ds: &mut TensorDataset) -> Vec<f32> {
        let mut out = Vec::new();
        while let Some(b) = ds.next_batch().unwrap() {
            out.push(b.x.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]);
        }
        out
    }

    #[test]
    fn batches_keep_partial_last_and_order() {
        let x = Tensor::arange(0f32, 10.0, &Device::Cpu).unwrap().reshape((10, 1)).unwrap();
        let mut ds = TensorDataset::inputs(x).unwrap().with_batch_size(4).unwrap();
        assert_eq!(ds.len_batches(), Some(3));
        let mut sizes = Vec::new();
        while let Some(b) = ds.next_batch().unwrap() {
            sizes.push(b.len());
        }
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
    fn passes_restart_anywhere_and_shuffle_by_pass() {
        let x = Tensor::arange(0f32, 10.0, &Device::Cpu).unwrap().reshape((10, 1)).unwrap();
        let mut ds = TensorDataset::inputs(x).unwrap().with_batch_size(4).unwrap();
        ds.begin_pass(3, true).unwrap();
        let first = ds.next_batch().unwrap().unwrap();
        let perm = ds.permutation(3);
        let expected: Vec<usize> = perm[..4].iter().map(|&i| i as usize).collect();
        assert_eq!(first.indices.as_deref(), Some(expected.as_slice()));
        // Left after one batch, then begun again: the same pass from its start.
        ds.begin_pass(3, true).unwrap();
        assert_eq!(ds.next_batch().unwrap().unwrap().indices, first.indices);
        ds.begin_pass(0, false).unwrap();
        assert_eq!(firsts(&mut ds), [0.0, 4.0, 8.0]);
        assert_eq!(firsts(&mut ds), [0.0, 4.0, 8.0], "the call after the end starts the next pass");
    }

    #[test]
    fn permutations_are_pinned() {
        // Values of the SplitMix64 + Fisher–Yates order (computed independently in Python):
        // a change to the generator would silently change every shuffled run.
        let x = Tensor::zeros((10, 1), DType::F32, &Device::Cpu).unwrap();
        let ds = TensorDataset::inputs(x).unwrap();
        assert_eq!(ds.permutation(0), [4, 9, 2, 5, 1, 7, 6, 0, 3, 8]);
        assert_eq!(ds.with_seed(7).permutation(3), [8, 3, 1, 6, 4, 0, 7, 9, 2, 5]);
    }

    #[test]
    fn split_takes_last_rows() {
        let x = Tensor::arange(0f32, 10.0, &Device::Cpu).unwrap().reshape((10, 1)).unwrap();
        let ds = TensorDataset::new(x.clone(), x).unwrap();
        let (t, v) = ds.split_validation(0.25).unwrap();
        assert_eq!(t.num_samples(), 7);
        assert_eq!(v.x().flatten_all().unwrap().to_vec1::<f32>().unwrap(), [7.0, 8.0, 9.0]);
        assert!(TensorDataset::inputs(Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap())
            .unwrap()
            .split_validation(1.0)
            .is_err());
    }
}
