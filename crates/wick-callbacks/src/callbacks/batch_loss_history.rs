//! `BatchLossHistory`: the loss (and accuracy) after every training batch.

use crate::{Callback, Context, Logs, Result};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a [`BatchLossHistory`] has recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchRecord {
    /// `logs["loss"]` at every `on_train_batch_end` that had it (running epoch means,
    /// as Keras batch logs are).
    pub losses: Vec<f64>,
    /// `logs["accuracy"]` at every `on_train_batch_end` that had it.
    pub accuracies: Vec<f64>,
}

/// Records `logs["loss"]` and, when present, `logs["accuracy"]` at each
/// `on_train_batch_end` (the custom callback of the Keras guide, not a Keras built-in).
/// Nothing is cleared between runs.
///
/// Clones share one record: keep a clone to read it after the loop took the callback.
#[derive(Debug, Clone, Default)]
pub struct BatchLossHistory {
    record: Arc<Mutex<BatchRecord>>,
}

impl BatchLossHistory {
    /// An empty record.
    pub fn new() -> Self {
        BatchLossHistory::default()
    }

    fn lock(&self) -> MutexGuard<'_, BatchRecord> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the record.
    pub fn record(&self) -> BatchRecord {
        self.lock().clone()
    }

    /// The losses recorded so far.
    pub fn losses(&self) -> Vec<f64> {
        self.lock().losses.clone()
    }

    /// The accuracies recorded so far.
    pub fn accuracies(&self) -> Vec<f64> {
        self.lock().accuracies.clone()
    }
}

impl Callback for BatchLossHistory {
    fn name(&self) -> &str {
        "BatchLossHistory"
    }

    fn on_train_batch_end(&mut self, _batch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        let mut r = self.lock();
        if let Some(loss) = logs.get("loss") {
            r.losses.push(loss);
        }
        if let Some(acc) = logs.get("accuracy") {
            r.accuracies.push(acc);
        }
        Ok(())
    }
}
