//! `CallbackList`: calls every callback's hook, in order.

use crate::callback::Callback;
use crate::context::Context;
use crate::logs::Logs;
use crate::Result;
use candle_core::Tensor;

/// The callbacks of one run, called in the order given. A training loop appends
/// `History` and the progress bar after the user's callbacks, as Keras does.
#[derive(Default)]
pub struct CallbackList {
    callbacks: Vec<Box<dyn Callback>>,
}

macro_rules! dispatch {
    ($(#[$doc:meta] $name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[$doc]
        pub fn $name(&mut self, $($arg: $ty,)* ctx: &mut Context<'_>) -> Result<()> {
            for cb in &mut self.callbacks {
                cb.$name($($arg,)* ctx)?;
            }
            Ok(())
        }
    )*};
}

impl CallbackList {
    /// An empty list.
    pub fn new() -> Self {
        CallbackList::default()
    }

    /// Appends a callback.
    pub fn push(&mut self, callback: Box<dyn Callback>) {
        self.callbacks.push(callback);
    }

    /// The callbacks, in calling order.
    pub fn callbacks(&self) -> &[Box<dyn Callback>] {
        &self.callbacks
    }

    /// Mutable access to the callbacks, e.g. to read a `History` back after the run.
    pub fn callbacks_mut(&mut self) -> &mut [Box<dyn Callback>] {
        &mut self.callbacks
    }

    /// Number of callbacks.
    pub fn len(&self) -> usize {
        self.callbacks.len()
    }

    /// True when there is no callback.
    pub fn is_empty(&self) -> bool {
        self.callbacks.is_empty()
    }

    dispatch! {
        /// Calls `on_train_begin` on every callback.
        on_train_begin();
        /// Calls `on_train_end` on every callback.
        on_train_end(logs: &mut Logs);
        /// Calls `on_epoch_begin` on every callback.
        on_epoch_begin(epoch: usize);
        /// Calls `on_epoch_end` on every callback.
        on_epoch_end(epoch: usize, logs: &mut Logs);
        /// Calls `on_train_batch_begin` on every callback.
        on_train_batch_begin(batch: usize);
        /// Calls `on_train_batch_end` on every callback.
        on_train_batch_end(batch: usize, logs: &mut Logs);
        /// Calls `on_test_begin` on every callback.
        on_test_begin();
        /// Calls `on_test_end` on every callback.
        on_test_end(logs: &mut Logs);
        /// Calls `on_test_batch_begin` on every callback.
        on_test_batch_begin(batch: usize);
        /// Calls `on_test_batch_end` on every callback.
        on_test_batch_end(batch: usize, logs: &mut Logs);
        /// Calls `on_predict_begin` on every callback.
        on_predict_begin();
        /// Calls `on_predict_end` on every callback.
        on_predict_end();
        /// Calls `on_predict_batch_begin` on every callback.
        on_predict_batch_begin(batch: usize);
        /// Calls `on_predict_batch_end` on every callback.
        on_predict_batch_end(batch: usize, outputs: &Tensor);
    }
}

impl CallbackList {
    /// Whether any callback of the list reads batch logs ([`Callback::needs_batch_logs`]).
    pub fn needs_batch_logs(&self) -> bool {
        self.callbacks.iter().any(|c| c.needs_batch_logs())
    }
}

impl From<Vec<Box<dyn Callback>>> for CallbackList {
    fn from(callbacks: Vec<Box<dyn Callback>>) -> Self {
        CallbackList { callbacks }
    }
}
