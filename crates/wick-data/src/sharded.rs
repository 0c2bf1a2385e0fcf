//! [`Sharded`]: one rank's share of every pass of a dataset, for data-parallel training.

use crate::batch::Batch;
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// Rank `rank`'s shard of `inner` among `world_size` ranks: of each pass's batches
/// `0, 1, 2, …` it yields `rank, rank + W, rank + 2W, …` (PyTorch's `DistributedSampler`
/// at batch granularity). Every rank wraps the same dataset, with the same seed and the
/// per-rank batch size, so the passes are the same permutation everywhere; global step
/// `k` is then batches `kW … kW + W − 1` of that pass, the samples a single process with
/// batch `W × per_rank_batch` would take at step `k` — which is what makes a distributed
/// `fit` on `W` ranks reproduce the single-process run (up to float summation order).
///
/// The batches of other ranks are passed over with [`Dataset::skip_batch`]: free for a
/// [`TensorDataset`](crate::TensorDataset); datasets without a cheaper way (the image
/// pipelines) load and drop them. When a pass's batch count is not a multiple of `W`, the
/// last global step has fewer ranks with a batch; `fit_distributed` lets those without one
/// contribute nothing to it.
#[derive(Debug)]
pub struct Sharded<D> {
    inner: D,
    rank: usize,
    world_size: usize,
    /// The next batch of the inner pass is batch `position` of that pass.
    position: usize,
}

impl<D: Dataset> Sharded<D> {
    /// Rank `rank`'s shard among `world_size`; an error unless `rank < world_size`.
    pub fn new(inner: D, rank: usize, world_size: usize) -> Result<Self> {
        if world_size == 0 || rank >= world_size {
            return Err(Error::InvalidOption {
                context: "Sharded",
                name: "rank",
                message: format!("rank {rank} is outside a world of {world_size} processes"),
            });
        }
        Ok(Sharded { inner, rank, world_size, position: 0 })
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped dataset, back.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: Dataset> Dataset for Sharded<D> {
    /// This rank's batches of a pass: `⌈(N − rank) / W⌉` of the inner `N`.
    fn len_batches(&self) -> Option<usize> {
        self.inner.len_batches().map(|n| n.saturating_sub(self.rank).div_ceil(self.world_size))
    }

    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()> {
        self.position = 0;
        self.inner.begin_pass(pass, shuffle)
    }

    fn next_batch(&mut self) -> Result<Option<Batch>> {
        // Pass over the other ranks' batches up to this rank's next one.
        while self.position % self.world_size != self.rank {
            if !self.inner.skip_batch()? {
                self.position = 0;
                return Ok(None);
            }
            self.position += 1;
        }
        let batch = self.inner.next_batch()?;
        match batch {
            Some(b) => {
                self.position += 1;
                Ok(Some(b))
            }
            None => {
                self.position = 0;
                Ok(None)
            }
        }
    }
}
