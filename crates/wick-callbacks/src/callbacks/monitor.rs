//! Keras' `MonitorCallback` logic, shared by `ModelCheckpoint`, `EarlyStopping` and
//! `ReduceLROnPlateau`: the comparison direction (`mode`) and the improvement test with
//! `min_delta`.

use crate::{Error, Result};

/// Keras' `mode` argument: which way the monitored quantity should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Work the direction out from the monitored name (see [`metric_direction`]); an
    /// unknown name is an error at the first epoch end, as Keras' `ValueError`.
    #[default]
    Auto,
    /// Lower is better (`<`).
    Min,
    /// Higher is better (`>`).
    Max,
}

impl Mode {
    /// Parses Keras' spelling `"auto"`, `"min"`, `"max"`. Any other value prints Keras'
    /// warning (`"{callback} mode {mode} is unknown, fallback to auto mode."`) and gives
    /// [`Mode::Auto`], as Keras does.
    pub fn from_keras(mode: &str, callback: &str) -> Mode {
        match mode {
            "auto" => Mode::Auto,
            "min" => Mode::Min,
            "max" => Mode::Max,
            other => {
                eprintln!("WARNING: {callback} mode {other} is unknown, fallback to auto mode.");
                Mode::Auto
            }
        }
    }
}

/// The resolved comparison direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Improvement means smaller (`cur < ref - |min_delta|`).
    Min,
    /// Improvement means larger (`cur > ref + |min_delta|`).
    Max,
}

/// The direction Keras' metric objects declare (`_direction`) for a metric name as it
/// appears in logs (after one `val_` prefix is stripped): `"loss"` and loss-like or
/// regression metrics go down; accuracy, AUC, precision, recall, F-scores, IoU, R²,
/// cosine similarity and true positive/negative counts go up. `None` for names Keras
/// would not know (then `mode="auto"` is an error).
pub fn metric_direction(name: &str) -> Option<Direction> {
    const UP: &[&str] = &[
        "accuracy",
        "acc",
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "auc",
        "prc",
        "precision",
        "recall",
        "precision_at_recall",
        "recall_at_precision",
        "sensitivity_at_specificity",
        "specificity_at_sensitivity",
        "f1_score",
        "fbeta_score",
        "iou",
        "binary_iou",
        "mean_iou",
        "one_hot_iou",
        "one_hot_mean_iou",
        "r2_score",
        "cosine_similarity",
        "true_positives",
        "true_negatives",
    ];
    const DOWN: &[&str] = &[
        "loss",
        "mean_squared_error",
        "mse",
        "mean_absolute_error",
        "mae",
        "mean_absolute_percentage_error",
        "mape",
        "mean_squared_logarithmic_error",
        "msle",
        "root_mean_squared_error",
        "log_cosh_error",
        "logcosh",
        "log_cosh",
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "sparse_categorical_crossentropy",
        "kl_divergence",
        "kld",
        "kullback_leibler_divergence",
        "poisson",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "huber",
        "false_positives",
        "false_negatives",
    ];
    if UP.contains(&name) {
        Some(Direction::Max)
    } else if DOWN.contains(&name) {
        Some(Direction::Min)
    } else {
        None
    }
}

/// Keras' `MonitorCallback` state: the monitored key, the mode, `|min_delta|`, and the
/// direction once resolved.
///
/// The improvement test is Keras' `_is_improvement(cur, ref)`: true when `ref` is `None`,
/// else `cur < ref - |min_delta|` in min mode and `cur > ref + |min_delta|` in max mode
/// (both strict; the sign of `min_delta` is ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// The log key watched, e.g. `"val_loss"`.
    pub monitor: String,
    /// The mode given.
    pub mode: Mode,
    /// `|min_delta|` (Keras stores `abs(min_delta)`).
    pub min_delta: f64,
    context: &'static str,
    direction: Option<Direction>,
}

impl Monitor {
    /// A monitor for the callback `context` (its Keras class name, used in errors).
    pub fn new(context: &'static str, monitor: impl Into<String>, mode: Mode, min_delta: f64) -> Self {
        Monitor { monitor: monitor.into(), mode, min_delta: min_delta.abs(), context, direction: None }
    }

    /// The direction: `min`/`max` as given; for `auto`, strip one leading `val_`, then
    /// `"loss"` is min and a known metric takes its declared direction
    /// ([`metric_direction`]); anything else is an [`Error::InvalidArgument`] like Keras'
    /// `ValueError`. Resolved once and remembered.
    pub fn direction(&mut self) -> Result<Direction> {
        if let Some(d) = self.direction {
            return Ok(d);
        }
        let d = match self.mode {
            Mode::Min => Direction::Min,
            Mode::Max => Direction::Max,
            Mode::Auto => {
                let name = self.monitor.strip_prefix("val_").unwrap_or(&self.monitor);
                metric_direction(name).ok_or_else(|| Error::InvalidArgument {
                    context: self.context,
                    message: format!(
                        "monitor={:?}: cannot determine automatically whether this metric should be maximized or \
                         minimized. Pass mode=Max to monitor based on the highest value, or mode=Min to use the \
                         lowest value.",
                        self.monitor
                    ),
                })?
            }
        };
        self.direction = Some(d);
        Ok(d)
    }

    /// Forgets the resolved direction (after `monitor` or `mode` changed).
    pub fn reset_direction(&mut self) {
        self.direction = None;
    }

    /// Keras' `_is_improvement(cur, reference)` (see the type's docs). Like Keras'
    /// `ops.less`/`ops.greater` on Python floats, the two sides (`cur ∓ |min_delta|`
    /// computed in float64, and `reference`) are compared as float32.
    pub fn is_improvement(&mut self, current: f64, reference: Option<f64>) -> Result<bool> {
        let direction = self.direction()?;
        let Some(reference) = reference else { return Ok(true) };
        Ok(match direction {
            Direction::Min => ((current + self.min_delta) as f32) < reference as f32,
            Direction::Max => ((current - self.min_delta) as f32) > reference as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_mode_directions() {
        let dir = |m: &str| Monitor::new("T", m, Mode::Auto, 0.0).direction().ok();
        assert_eq!(dir("loss"), Some(Direction::Min));
        assert_eq!(dir("val_loss"), Some(Direction::Min));
        assert_eq!(dir("val_accuracy"), Some(Direction::Max));
        assert_eq!(dir("auc"), Some(Direction::Max));
        assert_eq!(dir("val_mae"), Some(Direction::Min));
        assert_eq!(dir("cosine_similarity"), Some(Direction::Max));
        // Only one `val_` is stripped.
        assert_eq!(dir("val_val_loss"), None);
        let err = Monitor::new("EarlyStopping", "my_score", Mode::Auto, 0.0).direction().unwrap_err().to_string();
        assert!(err.contains("EarlyStopping") && err.contains("my_score"), "{err}");
        assert_eq!(Monitor::new("T", "my_score", Mode::Max, 0.0).direction().ok(), Some(Direction::Max));
        assert_eq!(Mode::from_keras("bogus", "T"), Mode::Auto);
    }

    #[test]
    fn strict_improvement_with_min_delta() {
        let mut m = Monitor::new("T", "val_loss", Mode::Auto, -0.05);
        assert_eq!(m.min_delta, 0.05);
        assert!(m.is_improvement(5.0, None).unwrap());
        assert!(m.is_improvement(0.74, Some(0.8)).unwrap());
        assert!(!m.is_improvement(0.76, Some(0.8)).unwrap());
        let mut m = Monitor::new("T", "val_loss", Mode::Min, 0.0);
        assert!(!m.is_improvement(0.8, Some(0.8)).unwrap());
        assert!(m.is_improvement(0.79995, Some(0.8)).unwrap());
        let mut m = Monitor::new("T", "val_accuracy", Mode::Auto, 0.1);
        assert!(m.is_improvement(0.71, Some(0.6)).unwrap());
        assert!(!m.is_improvement(0.7, Some(0.6)).unwrap());
        // Compared as float32, as Keras' ops do with Python floats.
        let mut m = Monitor::new("T", "loss", Mode::Auto, 0.0);
        assert!(!m.is_improvement(0.799_999_999, Some(0.8)).unwrap());
        assert!(!m.is_improvement(0.6, Some(0.6)).unwrap());
    }
}
