//! [`Dataset`]: the one trait `fit`, `evaluate` and `predict` read batches from.

use crate::batch::Batch;
use crate::error::Result;

/// A source of [`Batch`]es, pass after pass (Keras' data adapters: arrays, `PyDataset`,
/// generators all become one of these).
///
/// A dataset only marks where a **pass** over its data ends; the consumer decides where
/// an **epoch** ends. wick-train's `fit` begins pass `e` at the start of epoch `e`, or,
/// with `steps_per_epoch`, keeps one pass across epochs until it runs out (Keras'
/// `EpochIterator`). The protocol:
///
/// * [`begin_pass(pass, shuffle)`](Self::begin_pass) positions the dataset at the first
///   batch of pass `pass` (0-based), wherever the previous pass stopped; a dataset that
///   shuffles uses `pass` to pick that pass's order, so a run resumed at epoch `e` sees
///   the same batches as an uninterrupted one. `shuffle` is honoured or refused with an
///   error ([`Error::ShuffleUnsupported`](crate::Error::ShuffleUnsupported)), never
///   ignored. `fit` passes its `shuffle` option for training data and `false` for
///   validation, `evaluate` and `predict`;
/// * [`next_batch`](Self::next_batch) yields the pass's batches, then `Ok(None)` at its
///   end; the call after that starts pass `pass + 1` with the same `shuffle`;
/// * before any `begin_pass`, a dataset stands at the start of pass 0 in its default
///   order (documented by each implementation);
/// * an endless dataset never returns `Ok(None)`; train on it with `steps_per_epoch`.
///
/// Your own data in a few lines (the Keras generator idiom):
///
/// ```
/// use candle_core::{Device, Tensor};
/// use wick_data::{Batch, Dataset, Error, Result};
///
/// /// Four batches of 8 samples: x = i, y = 2i.
/// struct Ramp { next: usize }
///
/// impl Dataset for Ramp {
///     fn len_batches(&self) -> Option<usize> { Some(4) }
///     fn begin_pass(&mut self, _pass: usize, shuffle: bool) -> Result<()> {
///         if shuffle {
///             return Err(Error::ShuffleUnsupported { context: "Ramp", reason: "it yields a fixed order" });
///         }
///         self.next = 0;
///         Ok(())
///     }
///     fn next_batch(&mut self) -> Result<Option<Batch>> {
///         if self.next == 4 {
///             self.next = 0; // the call after the end starts the next pass
///             return Ok(None);
///         }
///         let start = (self.next * 8) as f32;
///         self.next += 1;
///         let x = Tensor::arange(start, start + 8.0, &Device::Cpu)?.reshape((8, 1))?;
///         Ok(Some(Batch::new(x.clone(), (x * 2.0)?)))
///     }
/// }
///
/// # fn main() -> Result<()> {
/// let mut ramp = Ramp { next: 0 };
/// ramp.begin_pass(0, false)?;
/// let mut n = 0;
/// while let Some(batch) = ramp.next_batch()? {
///     n += batch.len();
/// }
/// assert_eq!(n, 32);
/// # Ok(()) }
/// ```
pub trait Dataset {
    /// Batches in one pass, when known in advance (Keras' `params["steps"]`; `None`
    /// shows `n/Unknown` in the progress bar). Bad files skipped by
    /// [`OnBadFile::Skip`](crate::OnBadFile::Skip) can make a pass shorter.
    fn len_batches(&self) -> Option<usize> {
        None
    }

    /// Positions the dataset at the first batch of pass `pass`, shuffled or not (see the
    /// [trait docs](Self)).
    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()>;

    /// The next batch of the current pass, or `Ok(None)` at its end.
    fn next_batch(&mut self) -> Result<Option<Batch>>;

    /// Moves past the next batch without needing it: `true` when there was one, `false` at
    /// the end of the pass (which, as with [`next_batch`](Self::next_batch)'s `None`, starts
    /// the next). The default produces the batch and drops it; datasets that can skip
    /// cheaply override it ([`Sharded`](crate::Sharded) skips the other ranks' batches).
    fn skip_batch(&mut self) -> Result<bool> {
        Ok(self.next_batch()?.is_some())
    }
}

impl<D: Dataset + ?Sized> Dataset for &mut D {
    fn len_batches(&self) -> Option<usize> {
        (**self).len_batches()
    }
    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()> {
        (**self).begin_pass(pass, shuffle)
    }
    fn next_batch(&mut self) -> Result<Option<Batch>> {
        (**self).next_batch()
    }
    fn skip_batch(&mut self) -> Result<bool> {
        (**self).skip_batch()
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn len_batches(&self) -> Option<usize> {
        (**self).len_batches()
    }
    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()> {
        (**self).begin_pass(pass, shuffle)
    }
    fn next_batch(&mut self) -> Result<Option<Batch>> {
        (**self).next_batch()
    }
    fn skip_batch(&mut self) -> Result<bool> {
        (**self).skip_batch()
    }
}
