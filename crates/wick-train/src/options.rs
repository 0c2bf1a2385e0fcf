//! The arguments of `fit`, `evaluate` and `predict` (Keras' keyword arguments).

use wick_callbacks::Callback;
use wick_data::Dataset;

/// When validation runs (Keras `validation_freq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationFreq {
    /// After every `n`-th epoch: when `(epoch + 1) % n == 0` (Keras `validation_freq=n`;
    /// the default is `Every(1)`). `n` must be positive.
    Every(usize),
    /// After the listed **1-based** epochs (Keras `validation_freq=[1, 5, 10]`).
    Epochs(Vec<usize>),
}

impl Default for ValidationFreq {
    fn default() -> Self {
        ValidationFreq::Every(1)
    }
}

impl ValidationFreq {
    /// Whether validation runs after 0-based epoch `epoch`.
    pub fn should_eval(&self, epoch: usize) -> bool {
        match self {
            ValidationFreq::Every(n) => *n > 0 && (epoch + 1).is_multiple_of(*n),
            ValidationFreq::Epochs(list) => list.contains(&(epoch + 1)),
        }
    }
}

/// Arguments of [`Trainer::fit`](crate::Trainer::fit) (Keras' `fit` keyword arguments). Defaults are Keras':
/// 1 epoch, `shuffle = true`, `verbose = 1`, validation after every epoch.
///
/// ```text
/// let history = trainer.fit(&mut train, FitOptions {
///     epochs: 10,
///     validation_data: Some(&mut val),
///     callbacks: vec![Box::new(EarlyStopping::new())],
///     ..Default::default()
/// })?;
/// ```
pub struct FitOptions<'a> {
    /// Index of the epoch at which to stop (exclusive): the run covers epochs
    /// `initial_epoch..epochs`.
    pub epochs: usize,
    /// Batches per epoch; `None` runs each epoch over the whole dataset. When set, a pass
    /// over the data continues across epochs until it runs out (Keras).
    pub steps_per_epoch: Option<usize>,
    /// Validation data, evaluated at the end of the epochs selected by `validation_freq`
    /// (never shuffled). Keras' `validation_split` is
    /// [`TensorDataset::split_validation`](wick_data::TensorDataset::split_validation).
    pub validation_data: Option<&'a mut dyn Dataset>,
    /// Batches per validation run; `None` runs over the whole validation set.
    pub validation_steps: Option<usize>,
    /// Which epochs are followed by validation.
    pub validation_freq: ValidationFreq,
    /// First epoch (0-based) of the run, to resume an earlier one. A callback may raise it
    /// in `on_train_begin` through `ctx.state.initial_epoch` (`BackupAndRestore`).
    pub initial_epoch: usize,
    /// Shuffle the training data: passed to the training dataset's
    /// [`Dataset::begin_pass`] with the epoch number (a new permutation each epoch).
    /// A dataset that keeps a fixed order refuses `true` with an error, so set `false`
    /// for one; validation, `evaluate` and `predict` are never shuffled.
    pub shuffle: bool,
    /// 0 silent, 1 progress bar, 2 one line per epoch (Keras `verbose`).
    pub verbose: u8,
    /// The user's callbacks, called in this order, before `History` and the progress bar.
    pub callbacks: Vec<Box<dyn Callback>>,
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            steps_per_epoch: None,
            validation_data: None,
            validation_steps: None,
            validation_freq: ValidationFreq::default(),
            initial_epoch: 0,
            shuffle: true,
            verbose: 1,
            callbacks: Vec::new(),
        }
    }
}

impl std::fmt::Debug for FitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitOptions")
            .field("epochs", &self.epochs)
            .field("steps_per_epoch", &self.steps_per_epoch)
            .field("validation_data", &self.validation_data.is_some())
            .field("validation_steps", &self.validation_steps)
            .field("validation_freq", &self.validation_freq)
            .field("initial_epoch", &self.initial_epoch)
            .field("shuffle", &self.shuffle)
            .field("verbose", &self.verbose)
            .field("callbacks", &self.callbacks.iter().map(|c| c.name().to_string()).collect::<Vec<_>>())
            .finish()
    }
}

/// Arguments of [`Trainer::evaluate`](crate::Trainer::evaluate) and [`Trainer::predict`](crate::Trainer::predict) (Keras' `steps`,
/// `verbose`, `callbacks`). Default: the whole dataset, `verbose = 1`, no callbacks.
pub struct RunOptions {
    /// Batches to run; `None` runs over the whole dataset.
    pub steps: Option<usize>,
    /// 0 silent, 1 progress bar, 2 one line at the end.
    pub verbose: u8,
    /// Callbacks, called in this order, before the progress bar.
    pub callbacks: Vec<Box<dyn Callback>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { steps: None, verbose: 1, callbacks: Vec::new() }
    }
}

impl RunOptions {
    /// No progress bar, no callbacks.
    pub fn silent() -> Self {
        RunOptions { verbose: 0, ..Default::default() }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("steps", &self.steps)
            .field("verbose", &self.verbose)
            .field("callbacks", &self.callbacks.iter().map(|c| c.name().to_string()).collect::<Vec<_>>())
            .finish()
    }
}

/// Arguments of [`Trainer::evaluate`](crate::Trainer::evaluate).
pub type EvaluateOptions = RunOptions;
/// Arguments of [`Trainer::predict`](crate::Trainer::predict).
pub type PredictOptions = RunOptions;
