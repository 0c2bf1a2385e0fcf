//! [`EpochIterator`]: where epochs begin and end over a [`Dataset`]'s passes (Keras'
//! `EpochIterator`) — the one place that decides it.

use wick_data::{Batch, Dataset};

use crate::error::{Error, Result};

/// Keras' warning when `steps_per_epoch` asks for more batches than a pass holds.
const RAN_OUT: &str = "WARNING: Your input ran out of data; interrupting training. Make sure that your \
dataset or generator can generate at least `steps_per_epoch * epochs` batches.";

/// Hands out the batches of each epoch. Without `steps_per_epoch`, epoch `e` is pass `e`
/// of the dataset, whole. With it, epoch `e` takes the next `steps_per_epoch` batches of
/// the pass in progress, and a new pass (numbered by the epoch) begins only when that one
/// has run out: exactly at an epoch boundary, or mid-epoch, which ends the epoch early
/// with Keras' warning.
pub(crate) struct EpochIterator {
    steps_per_epoch: Option<usize>,
    /// Batches in a pass, when known (learnt when an unknown-length pass runs out).
    num_batches: Option<usize>,
    /// A pass is in progress: begun and not yet run out.
    active: bool,
    /// A batch read ahead to learn whether the pass continues into the next epoch.
    peeked: Option<Batch>,
    /// Batches taken from the current pass.
    steps_seen: usize,
    shuffle: bool,
    /// `"fit"`, `"evaluate"` or `"predict"`, and which data (`"training"`, …), for errors.
    context: &'static str,
    what: &'static str,
}

impl EpochIterator {
    pub(crate) fn new(
        data: &dyn Dataset,
        steps_per_epoch: Option<usize>,
        shuffle: bool,
        context: &'static str,
        what: &'static str,
    ) -> Self {
        EpochIterator {
            steps_per_epoch,
            num_batches: data.len_batches(),
            active: false,
            peeked: None,
            steps_seen: 0,
            shuffle,
            context,
            what,
        }
    }

    /// Keras' `epoch_iterator.num_batches` (`params["steps"]`).
    pub(crate) fn steps(&self) -> Option<usize> {
        self.steps_per_epoch.or(self.num_batches)
    }

    /// Prepares epoch `epoch`: pass `epoch` begins unless the pass in progress continues
    /// (with `steps_per_epoch`) and still has batches. An error when a new pass has no
    /// batch at all.
    pub(crate) fn begin_epoch(&mut self, data: &mut dyn Dataset, epoch: usize) -> Result<()> {
        if self.active && self.steps_per_epoch.is_some() {
            if self.peeked.is_none() {
                self.peeked = data.next_batch()?;
            }
            if self.peeked.is_some() {
                return Ok(());
            }
            // The pass ended exactly at the epoch boundary.
            self.active = false;
        }
        data.begin_pass(epoch, self.shuffle)?;
        let first = data.next_batch()?;
        if first.is_none() {
            self.active = false;
            return Err(Error::NoBatches { context: self.context, what: self.what, epoch });
        }
        self.peeked = first;
        self.active = true;
        self.steps_seen = 0;
        Ok(())
    }

    /// Batch `step` of the epoch, or `None` when the epoch is over.
    pub(crate) fn next(&mut self, data: &mut dyn Dataset, step: usize) -> Result<Option<Batch>> {
        if self.steps().is_some_and(|s| step >= s) || !self.active {
            return Ok(None);
        }
        let batch = match self.peeked.take() {
            Some(b) => Some(b),
            None => data.next_batch()?,
        };
        match batch {
            Some(batch) => {
                self.steps_seen += 1;
                Ok(Some(batch))
            }
            None => {
                // The pass ran out before the epoch's steps were done.
                if self.num_batches.is_none() {
                    self.num_batches = Some(self.steps_seen);
                }
                if self.steps_per_epoch.is_some() {
                    eprintln!("{RAN_OUT}");
                }
                self.active = false;
                Ok(None)
            }
        }
    }

    /// Ends the epoch: the pass ends with it unless it continues into the next epoch.
    pub(crate) fn end_epoch(&mut self) {
        let exhausted = self.num_batches.is_some_and(|n| self.steps_seen >= n);
        if self.steps_per_epoch.is_none() || exhausted {
            self.active = false;
            self.peeked = None;
        }
    }
}
