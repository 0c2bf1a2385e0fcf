//! Keras' `History`: every epoch's logs, kept per key.

use crate::{Callback, Context, Logs, Result};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a [`History`] has recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryRecord {
    /// The 0-based epochs seen since the last `on_train_begin` (Keras `history.epoch`).
    pub epoch: Vec<usize>,
    /// Each log key with its value at every epoch end, keys in the order first seen
    /// (Keras `history.history`). Not cleared by `on_train_begin`, so reusing one
    /// `History` across runs keeps appending, as in Keras.
    pub history: Vec<(String, Vec<f64>)>,
}

impl HistoryRecord {
    /// The values of `key`, one per epoch end at which it was logged.
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
}

/// Keras' `History` callback: `on_train_begin` clears the epoch list; `on_epoch_end`
/// appends the epoch and each log value under its key. The key lists are **not** cleared
/// between runs (Keras behaviour).
///
/// Clones share one record: keep a clone to read the history after the training loop
/// took the callback (`let h = History::new(); callbacks.push(Box::new(h.clone()));`).
#[derive(Debug, Clone, Default)]
pub struct History {
    record: Arc<Mutex<HistoryRecord>>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    fn lock(&self) -> MutexGuard<'_, HistoryRecord> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of everything recorded so far.
    pub fn record(&self) -> HistoryRecord {
        self.lock().clone()
    }

    /// The epochs of the last run (Keras `history.epoch`).
    pub fn epoch(&self) -> Vec<usize> {
        self.lock().epoch.clone()
    }

    /// The values of `key` (Keras `history.history[key]`).
    pub fn get(&self, key: &str) -> Option<Vec<f64>> {
        self.lock().get(key).map(<[f64]>::to_vec)
    }

    /// The recorded keys, in the order first seen.
    pub fn keys(&self) -> Vec<String> {
        self.lock().history.iter().map(|(k, _)| k.clone()).collect()
    }
}

impl Callback for History {
    fn needs_batch_logs(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "History"
    }

    fn on_train_begin(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        self.lock().epoch.clear();
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        let mut r = self.lock();
        r.epoch.push(epoch);
        for (k, v) in logs.iter() {
            match r.history.iter_mut().find(|(key, _)| key == k) {
                Some((_, values)) => values.push(v),
                None => r.history.push((k.to_string(), vec![v])),
            }
        }
        Ok(())
    }
}
