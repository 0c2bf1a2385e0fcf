//! Accuracy metrics (Keras `MeanMetricWrapper`s): per-sample match values averaged with
//! [`Mean`]'s running semantics.

use candle_core::Tensor;

use super::device::{self, binary_matches, categorical_matches, sample_weight_1d, sparse_matches};
use super::{align, Host, Mean, Metric};
use crate::{Error, Result};

/// Index of the largest value in each row of the last axis; ties go to the **first** index.
fn argmax_rows(h: &Host) -> (Vec<usize>, Vec<f64>) {
    let c = h.dims.last().copied().unwrap_or(1).max(1);
    let out = h
        .data
        .chunks(c)
        .map(|row| {
            let mut best = 0usize;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                    best = i;
                }
            }
            best as f64
        })
        .collect();
    (h.dims[..h.dims.len().saturating_sub(1)].to_vec(), out)
}

/// `tf.math.in_top_k`: the target is inside the top k when fewer than k classes score
/// strictly higher (classes tied with the k-th score count as inside). Non-finite rows and
/// out-of-range targets give false.
fn in_top_k(row: &[f64], target: f64, k: usize) -> bool {
    if target < 0.0 || target.fract() != 0.0 || target as usize >= row.len() {
        return false;
    }
    if row.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let t = row[target as usize];
    row.iter().filter(|&&v| v > t).count() < k
}

fn shape_err(ctx: &'static str, y_true: &Tensor, y_pred: &Tensor, expected: &'static str) -> Error {
    Error::shape(ctx, "y_true", y_true.dims(), "y_pred", y_pred.dims(), expected)
}

fn weights(sw: Option<&Tensor>) -> Result<Option<Host>> {
    sw.map(Host::from_tensor).transpose()
}

/// Rounds a threshold to f32, as Keras compares in float32.
fn f32_round(x: f64) -> f64 {
    f64::from(x as f32)
}

macro_rules! mean_metric_common {
    ($ty:ty) => {
        impl $ty {
            /// Renames the metric.
            pub fn with_name(mut self, name: impl Into<String>) -> Self {
                self.mean.name = name.into();
                self
            }
        }
        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }
        impl Metric for $ty {
            fn name(&self) -> &str {
                &self.mean.name
            }
            fn update_state(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
                if device::off_host(y_pred) {
                    if let Some(values) = self.device_values(y_true, y_pred)? {
                        if let Some(w) = sample_weight_1d(sample_weight, values.elem_count())? {
                            return self.mean.update_device(&values, w.as_ref());
                        }
                    }
                }
                let values = self.values(y_true, y_pred)?;
                self.mean.update_host(values, weights(sample_weight)?, stringify!($ty))
            }
            fn result(&self) -> f64 {
                self.mean.result()
            }
            fn sync(&mut self) -> Result<()> {
                self.mean.sync()
            }
            fn reset_state(&mut self) {
                self.mean.reset_state()
            }
            fn state(&self) -> Option<Vec<f64>> {
                self.mean.state()
            }
            fn set_state(&mut self, state: &[f64]) -> Result<()> {
                self.mean.set_state(state)
            }
        }
    };
}

/// Keras `BinaryAccuracy` (name `"binary_accuracy"`): `1[(ŷ > threshold) == y]`, strict, so a
/// prediction exactly at the threshold counts as negative.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryAccuracy {
    /// The decision threshold (default 0.5).
    pub threshold: f64,
    pub(super) mean: Mean,
}

impl BinaryAccuracy {
    /// Keras defaults (`threshold = 0.5`).
    pub fn new() -> Self {
        BinaryAccuracy { threshold: 0.5, mean: Mean::named("binary_accuracy") }
    }
    /// Sets the threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Host> {
        let (t, p) = align(Host::from_tensor(y_true)?, Host::from_tensor(y_pred)?);
        if t.dims != p.dims {
            return Err(shape_err("BinaryAccuracy", y_true, y_pred, "expected equal shapes"));
        }
        let thr = f32_round(self.threshold);
        let data =
            t.data.iter().zip(&p.data).map(|(&y, &q)| f64::from(u8::from(y == f64::from(u8::from(q > thr))))).collect();
        Ok(Host { dims: p.dims, data })
    }
    /// Per-sample matches computed on the device (`None`: shapes left to the host path).
    pub(crate) fn device_values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Option<Tensor>> {
        binary_matches(y_true, y_pred, f32_round(self.threshold))
    }
}
mean_metric_common!(BinaryAccuracy);

/// Keras `CategoricalAccuracy` (name `"categorical_accuracy"`): `argmax y == argmax ŷ`
/// (one-hot `y`); ties in argmax go to the first index.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalAccuracy {
    pub(super) mean: Mean,
}

impl CategoricalAccuracy {
    /// Keras defaults.
    pub fn new() -> Self {
        CategoricalAccuracy { mean: Mean::named("categorical_accuracy") }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Host> {
        let ctx = "CategoricalAccuracy";
        let (t, p) = (Host::from_tensor(y_true)?, Host::from_tensor(y_pred)?);
        if t.rank() == 0 || p.rank() == 0 || t.dims != p.dims {
            return Err(shape_err(ctx, y_true, y_pred, "expected equal shapes with a class axis"));
        }
        let (dims, ti) = argmax_rows(&t);
        let (_, pi) = argmax_rows(&p);
        let data = ti.iter().zip(&pi).map(|(a, b)| f64::from(u8::from(a == b))).collect();
        Ok(Host { dims, data })
    }
    /// Per-sample matches computed on the device (`None`: shapes left to the host path).
    pub(crate) fn device_values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Option<Tensor>> {
        categorical_matches(y_true, y_pred)
    }
}
mean_metric_common!(CategoricalAccuracy);

/// Keras `SparseCategoricalAccuracy` (name `"sparse_categorical_accuracy"`):
/// `y == argmax ŷ` for integer labels `y` (a trailing axis of size 1 is squeezed); ties in
/// argmax go to the first index.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseCategoricalAccuracy {
    pub(super) mean: Mean,
}

impl SparseCategoricalAccuracy {
    /// Keras defaults.
    pub fn new() -> Self {
        SparseCategoricalAccuracy { mean: Mean::named("sparse_categorical_accuracy") }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Host> {
        let ctx = "SparseCategoricalAccuracy";
        let (mut t, p) = (Host::from_tensor(y_true)?, Host::from_tensor(y_pred)?);
        if p.rank() == 0 {
            return Err(shape_err(ctx, y_true, y_pred, "y_pred needs a class axis"));
        }
        if t.rank() == p.rank() && t.last_dim() == Some(1) {
            t = t.squeeze_last();
        }
        let (dims, pi) = argmax_rows(&p);
        if t.dims != dims {
            return Err(shape_err(ctx, y_true, y_pred, "expected y_true.shape == y_pred.shape[:-1]"));
        }
        let data = t.data.iter().zip(&pi).map(|(a, b)| f64::from(u8::from(a == b))).collect();
        Ok(Host { dims, data })
    }
    /// Per-sample matches computed on the device (`None`: shapes left to the host path).
    pub(crate) fn device_values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Option<Tensor>> {
        sparse_matches(y_true, y_pred)
    }
}
mean_metric_common!(SparseCategoricalAccuracy);

fn top_k_values(ctx: &'static str, labels: Host, p: &Host, k: usize, y_true: &Tensor, y_pred: &Tensor) -> Result<Host> {
    let c = p.dims.last().copied().unwrap_or(0);
    let rows = p.data.len().checked_div(c).unwrap_or(0);
    if p.rank() == 0 || labels.data.len() != rows {
        return Err(shape_err(ctx, y_true, y_pred, "expected one label per row of y_pred"));
    }
    let data = labels
        .data
        .iter()
        .zip(p.data.chunks(c.max(1)))
        .map(|(&t, row)| f64::from(u8::from(in_top_k(row, t, k))))
        .collect();
    Ok(Host { dims: labels.dims, data })
}

/// Keras `TopKCategoricalAccuracy` (name `"top_k_categorical_accuracy"`): whether
/// `argmax y` is among the k highest scores of `ŷ` (`tf.math.in_top_k`: classes tied with
/// the k-th score count as inside the top k).
#[derive(Debug, Clone, PartialEq)]
pub struct TopKCategoricalAccuracy {
    /// How many top scores count (default 5).
    pub k: usize,
    pub(super) mean: Mean,
}

impl TopKCategoricalAccuracy {
    /// Keras defaults (`k = 5`).
    pub fn new() -> Self {
        TopKCategoricalAccuracy { k: 5, mean: Mean::named("top_k_categorical_accuracy") }
    }
    /// Sets `k`.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Host> {
        let ctx = "TopKCategoricalAccuracy";
        let (t, p) = (Host::from_tensor(y_true)?, Host::from_tensor(y_pred)?);
        if t.rank() == 0 || t.dims != p.dims {
            return Err(shape_err(ctx, y_true, y_pred, "expected equal shapes with a class axis"));
        }
        let (dims, labels) = argmax_rows(&t);
        top_k_values(ctx, Host { dims, data: labels }, &p, self.k, y_true, y_pred)
    }
    /// The top-k test runs on the host (`tf.math.in_top_k`'s tie rule): never on the device.
    pub(crate) fn device_values(&self, _y_true: &Tensor, _y_pred: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }
}
mean_metric_common!(TopKCategoricalAccuracy);

/// Keras `SparseTopKCategoricalAccuracy` (name `"sparse_top_k_categorical_accuracy"`):
/// whether the integer label `y` is among the k highest scores of `ŷ`
/// (`tf.math.in_top_k`: classes tied with the k-th score count as inside the top k).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseTopKCategoricalAccuracy {
    /// How many top scores count (default 5).
    pub k: usize,
    pub(super) mean: Mean,
}

impl SparseTopKCategoricalAccuracy {
    /// Keras defaults (`k = 5`).
    pub fn new() -> Self {
        SparseTopKCategoricalAccuracy { k: 5, mean: Mean::named("sparse_top_k_categorical_accuracy") }
    }
    /// Sets `k`.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Host> {
        let ctx = "SparseTopKCategoricalAccuracy";
        let (t, p) = (Host::from_tensor(y_true)?, Host::from_tensor(y_pred)?);
        top_k_values(ctx, t, &p, self.k, y_true, y_pred)
    }
    /// The top-k test runs on the host (`tf.math.in_top_k`'s tie rule): never on the device.
    pub(crate) fn device_values(&self, _y_true: &Tensor, _y_pred: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }
}
mean_metric_common!(SparseTopKCategoricalAccuracy);

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 + 1e-5 * b.abs()
    }

    #[test]
    fn binary_accuracy_is_strict() {
        // golden metrics.binary_accuracy_threshold_strict → 0.6
        let t = Tensor::new(&[[1.0f32], [0.0], [1.0], [1.0], [0.0]], &Device::Cpu).unwrap();
        let p = Tensor::new(&[[0.5f32], [0.49], [0.51], [0.9], [0.6]], &Device::Cpu).unwrap();
        let mut m = BinaryAccuracy::new();
        m.update_state(&t, &p, None).unwrap();
        assert!(close(m.result(), 0.6000000238418579));
        assert_eq!(m.name(), "binary_accuracy");
    }

    #[test]
    fn sparse_categorical_accuracy_runs_over_the_epoch() {
        // golden metrics.sparse_cat_acc_running: 0.75 then (3 + 1) / 6
        let mut m = SparseCategoricalAccuracy::new();
        let t1 = Tensor::new(&[0i64, 1, 2, 1], &Device::Cpu).unwrap();
        let p1 = Tensor::new(&[[0.9f32, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]], &Device::Cpu)
            .unwrap();
        m.update_state(&t1, &p1, None).unwrap();
        assert!(close(m.result(), 0.75));
        let t2 = Tensor::new(&[2i64, 2], &Device::Cpu).unwrap();
        let p2 = Tensor::new(&[[0.1f32, 0.1, 0.8], [0.4, 0.5, 0.1]], &Device::Cpu).unwrap();
        m.update_state(&t2, &p2, None).unwrap();
        assert!(close(m.result(), 0.6666666865348816));
        m.reset_state();
        assert_eq!(m.result(), 0.0);
    }

    #[test]
    fn categorical_accuracy_tie_goes_to_first_index() {
        // golden metrics.categorical_accuracy_tie_first_index → 0.0
        let t = Tensor::new(&[[0.0f32, 1.0, 0.0]], &Device::Cpu).unwrap();
        let p = Tensor::new(&[[0.4f32, 0.4, 0.2]], &Device::Cpu).unwrap();
        let mut m = CategoricalAccuracy::new();
        m.update_state(&t, &p, None).unwrap();
        assert_eq!(m.result(), 0.0);
    }

    #[test]
    fn sparse_top2_with_tie() {
        // golden metrics.sparse_top2_with_tie → 0.6666667
        let t = Tensor::new(&[0i64, 2, 1], &Device::Cpu).unwrap();
        let p = Tensor::new(&[[0.5f32, 0.3, 0.2], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]], &Device::Cpu).unwrap();
        let mut m = SparseTopKCategoricalAccuracy::new().with_k(2);
        m.update_state(&t, &p, None).unwrap();
        assert!(close(m.result(), 0.6666666865348816));
        // One-hot version gives the same.
        let oh = Tensor::new(&[[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], &Device::Cpu).unwrap();
        let mut m = TopKCategoricalAccuracy::new().with_k(2);
        m.update_state(&oh, &p, None).unwrap();
        assert!(close(m.result(), 0.6666666865348816));
    }

    #[test]
    fn sample_weights_weight_the_running_mean() {
        let t = Tensor::new(&[[1.0f32], [0.0]], &Device::Cpu).unwrap();
        let p = Tensor::new(&[[0.9f32], [0.9]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[3.0f32, 1.0], &Device::Cpu).unwrap();
        let mut m = BinaryAccuracy::new();
        m.update_state(&t, &p, Some(&w)).unwrap();
        assert!(close(m.result(), 0.75));
    }

    #[test]
    fn shape_mismatch_names_both_shapes() {
        let t = Tensor::new(&[0i64, 1, 2], &Device::Cpu).unwrap();
        let p = Tensor::new(&[[0.5f32, 0.3, 0.2], [0.6, 0.3, 0.1]], &Device::Cpu).unwrap();
        let msg = SparseCategoricalAccuracy::new().update_state(&t, &p, None).unwrap_err().to_string();
        assert!(msg.contains("[3]") && msg.contains("[2, 3]"), "{msg}");
    }
}
