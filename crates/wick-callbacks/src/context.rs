//! `Context`: what a callback can see and change of the run that drives it.

use crate::model_vars::ModelVars;
use crate::{Error, Result};
use wick_dist::Worker;
use wick_optim::LrControl;

/// Keras' `callback.params`.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    pub verbose: u8,
    /// Total epochs of the run.
    pub epochs: usize,
    /// Batches per epoch, when known.
    pub steps: Option<usize>,
}

/// Mutable run state shared by the loop and the callbacks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    /// Set by a callback to stop training; the loop checks it after every batch and after
    /// `on_epoch_end` (Keras' `model.stop_training`).
    pub stop_training: bool,
    /// First epoch of the run; `BackupAndRestore` raises it in `on_train_begin` to resume.
    pub initial_epoch: usize,
    /// Batch within the epoch to resume from (set by `BackupAndRestore` with step-wise
    /// saving); 0 normally.
    pub initial_step: usize,
    /// Epoch being run (0-based).
    pub epoch: usize,
    /// Training batches run since `fit` started (all epochs).
    pub global_step: u64,
}

/// Handed to every hook: the run's parameters and state, the model's variables and the
/// optimizer, as far as the loop provides them.
pub struct Context<'a> {
    /// Keras' `callback.params`.
    pub params: &'a Params,
    /// Stop flag, initial epoch, counters.
    pub state: &'a mut RunState,
    model: Option<&'a ModelVars>,
    optimizer: Option<&'a mut dyn LrControl>,
    worker: Worker,
}

impl<'a> Context<'a> {
    /// A context; `model` and `optimizer` are optional (a loop without them still drives
    /// callbacks that do not need them).
    pub fn new(
        params: &'a Params,
        state: &'a mut RunState,
        model: Option<&'a ModelVars>,
        optimizer: Option<&'a mut dyn LrControl>,
    ) -> Self {
        Context { params, state, model, optimizer, worker: Worker::SINGLE }
    }

    /// Sets which process of a distributed run this is (the default is
    /// [`Worker::SINGLE`], rank 0 of 1).
    pub fn with_worker(mut self, worker: Worker) -> Self {
        self.worker = worker;
        self
    }

    /// This process's rank and the world size: rank 0 of 1 outside a distributed run. A
    /// callback with side effects checks [`Worker::is_chief`].
    pub fn worker(&self) -> Worker {
        self.worker
    }

    /// Asks the loop to stop after the current batch (validation and `on_epoch_end` still
    /// run for the current epoch, as in Keras).
    pub fn stop_training(&mut self) {
        self.state.stop_training = true;
    }

    /// The model's variables; an [`Error::Missing`] naming `context` (the callback's
    /// Keras class name) when the loop gave none.
    pub fn model(&self, context: &'static str) -> Result<&'a ModelVars> {
        self.model.ok_or(Error::Missing { context, what: "the model's variables" })
    }

    /// True when the loop provides the model's variables.
    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// The optimizer; an [`Error::Missing`] naming `context` (the callback's Keras class
    /// name) when the loop gave none.
    pub fn optimizer(&mut self, context: &'static str) -> Result<&mut (dyn LrControl + 'a)> {
        match self.optimizer.as_deref_mut() {
            Some(o) => Ok(o),
            None => Err(Error::Missing { context, what: "an optimizer" }),
        }
    }

    /// True when the loop provides the optimizer.
    pub fn has_optimizer(&self) -> bool {
        self.optimizer.is_some()
    }
}
