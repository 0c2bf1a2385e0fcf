//! [`LossMetric`]: a loss function used as a metric (Keras' `MeanMetricWrapper`, what
//! `metrics=["mae"]` or `metrics=["mse"]` compile to).

use candle_core::Tensor;

use crate::losses::{Loss, Reduction};
use crate::metrics::{Mean, Metric};
use crate::{Error, Result};

/// A loss as a running metric: per-sample loss values `v` (the last axis reduced),
/// accumulated as `total += Σ w·v`, `count += Σ w` (or the number of samples), result
/// `total / count`: the mean over every sample seen since the last reset, as Keras'
/// `MeanMetricWrapper` computes it.
///
/// ```
/// use wick_train::losses::{MeanAbsoluteError, Reduction};
/// use wick_train::LossMetric;
/// // Keras `metrics=["mae"]`: the key in the logs is "mae".
/// let mae = LossMetric::new("mae", MeanAbsoluteError::new().with_reduction(Reduction::None))?;
/// # Ok::<(), wick_train::Error>(())
/// ```
pub struct LossMetric {
    name: String,
    loss: Box<dyn Loss>,
    mean: Mean,
}

impl LossMetric {
    /// Wraps `loss`, which must use [`Reduction::None`] (per-sample values); the metric's
    /// name (its key in the logs) is `name`.
    pub fn new(name: impl Into<String>, loss: impl Loss + 'static) -> Result<Self> {
        Self::from_boxed(name, Box::new(loss))
    }

    /// [`new`](Self::new) for a boxed loss.
    pub fn from_boxed(name: impl Into<String>, loss: Box<dyn Loss>) -> Result<Self> {
        let name = name.into();
        if loss.reduction() != Reduction::None {
            return Err(Error::InvalidArgument {
                context: "LossMetric",
                message: format!(
                    "metric {name:?}: the loss {} must use reduction `none` (per-sample values); it uses `{}`",
                    loss.name(),
                    loss.reduction()
                ),
            });
        }
        Ok(LossMetric { mean: Mean::named(name.clone()), name, loss })
    }
}

impl std::fmt::Debug for LossMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossMetric")
            .field("name", &self.name)
            .field("loss", &self.loss.name())
            .field("mean", &self.mean)
            .finish()
    }
}

impl Metric for LossMetric {
    fn name(&self) -> &str {
        &self.name
    }

    fn update_state(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        let values = self.loss.call(y_true, y_pred, None)?;
        self.mean.update_values(&values, sample_weight)
    }

    fn result(&self) -> f64 {
        self.mean.result()
    }

    fn sync(&mut self) -> Result<()> {
        self.mean.sync()
    }

    fn reset_state(&mut self) {
        self.mean.reset_state();
    }

    fn state(&self) -> Option<Vec<f64>> {
        self.mean.state()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        self.mean.set_state(state)
    }
}
