//! [`GeneratorDataset`]: a wick-data [`Generator`] (image folders, in-memory arrays, your
//! own) as a [`Dataset`] for `fit` / `evaluate` / `predict`.
//!
//! A generator is a stream with epoch boundaries (`next_batch` returns `Ok(None)` at the
//! end of each epoch); a [`Dataset`] hands out one pass per [`Dataset::batches`] call. The
//! adapter maps one onto the other:
//!
//! * each `batches` call continues the generator where it stands, so the generator's own
//!   per-pass shuffling and augmentation seeds apply (the `epoch` and `shuffle` arguments
//!   are ignored, as Keras ignores `shuffle` for generators). A fresh generator trained
//!   from epoch 0 sees pass `e` in epoch `e`; a run resumed at `initial_epoch > 0` starts
//!   the generator at its pass 0;
//! * when the loop left the previous pass before its end (`fit` stops after
//!   `steps_per_epoch` batches, so it never asks for the boundary; or `stop_training`
//!   ended an epoch early), the rest of that pass is drained first, so every pass starts
//!   at an epoch boundary. A generator that reports no `steps_per_epoch` (an endless
//!   stream) is never drained: there is no boundary to reach, and passes simply continue;
//! * batches become [`Batch`]es: `images` → `x`, `labels` → `y` (`None` for unlabelled
//!   data, which only `predict` accepts), on the device the generator was configured for.
//!
//! **Scaling is the model's job.** wick-data yields images in `0..=255`, as Keras does;
//! divide by 255 (Keras' `Rescaling(1/255)`) as the model's first operation, so that the
//! saved model works on raw images wherever it is used.
//!
//! ```no_run
//! use wick_data::{GeneratorOptions, ImageFolder, ImageFolderGenerator, ImageOptions};
//! use wick_train::GeneratorDataset;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let folder = ImageFolder::open("data/shapes")?;
//! let (train, val) = folder.split(0.2, 42)?;
//! let options = GeneratorOptions::new(32, 42);
//! let mut train = GeneratorDataset::new(ImageFolderGenerator::new(&train, ImageOptions::new(64, 64), options.clone())?);
//! let mut val = GeneratorDataset::new(ImageFolderGenerator::new(&val, ImageOptions::new(64, 64), options)?);
//! // trainer.fit(&mut train, FitOptions { validation_data: Some(&mut val), ..Default::default() })?;
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use wick_data::Generator;

use crate::data::{Batch, BatchIter, Dataset};
use crate::train_error::{TrainError, TrainResult};

/// A wick-data [`Generator`] used as a [`Dataset`] (see the [module docs](self)).
///
/// Clones share the generator (and its position in the stream).
pub struct GeneratorDataset<G> {
    state: Arc<Mutex<State<G>>>,
}

struct State<G> {
    generator: G,
    /// A pass has yielded batches but not yet its end-of-epoch marker.
    mid_epoch: bool,
}

impl<G> Clone for GeneratorDataset<G> {
    fn clone(&self) -> Self {
        GeneratorDataset { state: self.state.clone() }
    }
}

impl<G> std::fmt::Debug for GeneratorDataset<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorDataset").finish_non_exhaustive()
    }
}

impl<G: Generator + 'static> GeneratorDataset<G> {
    /// Wraps `generator`, which should stand at an epoch boundary (e.g. be fresh).
    pub fn new(generator: G) -> Self {
        GeneratorDataset { state: Arc::new(Mutex::new(State { generator, mid_epoch: false })) }
    }

    fn lock(&self) -> MutexGuard<'_, State<G>> {
        lock(&self.state)
    }

    /// Runs `f` on the generator (e.g. to read its class names or skip report).
    pub fn with_generator<T>(&self, f: impl FnOnce(&mut G) -> T) -> T {
        f(&mut self.lock().generator)
    }

    /// The generator back, when no clone or unfinished pass still holds it.
    pub fn into_inner(self) -> Result<G, Self> {
        match Arc::try_unwrap(self.state) {
            Ok(m) => Ok(m.into_inner().unwrap_or_else(|p| p.into_inner()).generator),
            Err(state) => Err(GeneratorDataset { state }),
        }
    }
}

fn lock<G>(state: &Mutex<State<G>>) -> MutexGuard<'_, State<G>> {
    // A panic while holding the lock leaves the generator itself usable.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn data_error(e: wick_data::Error) -> TrainError {
    TrainError::Data(e.to_string())
}

impl<G: Generator + 'static> Dataset for GeneratorDataset<G> {
    fn len_batches(&self) -> Option<usize> {
        self.lock().generator.steps_per_epoch()
    }

    fn batches(&mut self, _epoch: usize, _shuffle: bool) -> TrainResult<BatchIter> {
        {
            let mut s = self.lock();
            if s.mid_epoch && s.generator.steps_per_epoch().is_some() {
                while s.generator.next_batch().map_err(data_error)?.is_some() {}
            }
            s.mid_epoch = false;
        }
        Ok(Box::new(GeneratorBatches { state: self.state.clone(), done: false }))
    }
}

/// One pass: batches until the generator's end-of-epoch marker (or an error).
struct GeneratorBatches<G> {
    state: Arc<Mutex<State<G>>>,
    done: bool,
}

impl<G: Generator> Iterator for GeneratorBatches<G> {
    type Item = TrainResult<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut s = lock(&self.state);
        match s.generator.next_batch() {
            Ok(Some(b)) => {
                s.mid_epoch = true;
                Some(Ok(Batch { x: b.images, y: b.labels, sample_weight: None }))
            }
            Ok(None) => {
                s.mid_epoch = false;
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(data_error(e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_data::{GeneratorOptions, ImageArray, InMemoryGenerator, SubsetKind};

    /// 10 one-pixel images whose value is their index, batches of 4 (4, 4, 2), in order.
    fn dataset() -> GeneratorDataset<InMemoryGenerator> {
        let array = ImageArray::new((0..10).map(|i| i as f32).collect(), (0..10).map(|i| i % 2).collect(), (1, 1, 1), 2).unwrap();
        let options = GeneratorOptions { shuffle: false, ..GeneratorOptions::new(4, 0) };
        GeneratorDataset::new(InMemoryGenerator::new(array, SubsetKind::All, options).unwrap())
    }

    fn firsts(iter: BatchIter) -> Vec<f32> {
        iter.map(|b| b.unwrap().x.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]).collect()
    }

    #[test]
    fn one_pass_per_call_with_labels() {
        let mut ds = dataset();
        assert_eq!(ds.len_batches(), Some(3));
        let mut pass = ds.batches(0, true).unwrap();
        let b = pass.next().unwrap().unwrap();
        assert_eq!(b.x.dims(), [4, 1, 1, 1]);
        assert_eq!(b.y.unwrap().to_vec1::<u32>().unwrap(), [0, 1, 0, 1]);
        assert_eq!(firsts(pass), [4.0, 8.0]);
        assert_eq!(firsts(ds.batches(1, true).unwrap()), [0.0, 4.0, 8.0]);
    }

    #[test]
    fn an_unfinished_pass_is_drained_before_the_next() {
        let mut ds = dataset();
        // What fit does with known steps: take exactly 3 batches, never ask for the end.
        let mut pass = ds.batches(0, false).unwrap();
        for _ in 0..3 {
            pass.next().unwrap().unwrap();
        }
        drop(pass);
        assert_eq!(firsts(ds.batches(1, false).unwrap()), [0.0, 4.0, 8.0]);
        // A pass left after one batch (stop_training): the next starts at a boundary too.
        let mut pass = ds.batches(2, false).unwrap();
        pass.next().unwrap().unwrap();
        drop(pass);
        assert_eq!(firsts(ds.batches(3, false).unwrap()), [0.0, 4.0, 8.0]);
        assert!(ds.into_inner().is_ok());
    }
}
