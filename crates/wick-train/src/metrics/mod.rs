//! Keras 3 metrics with running-over-the-epoch state.
//!
//! State is accumulated over every [`Metric::update_state`] call until
//! [`Metric::reset_state`] (Keras resets at the start of each epoch and in `evaluate`):
//!
//! * mean-type metrics ([`Mean`] and the accuracy variants) keep `total += Σ w·v` and
//!   `count += Σ w` (or the number of samples), and report `total / count` (0 when the count
//!   is 0): an average over all samples seen, **not** an average of batch averages;
//! * confusion-matrix metrics ([`Precision`], [`Recall`], [`AUC`]) count weighted TP/FP/TN/FN
//!   over the epoch, with the strict test `ŷ > threshold`.
//!
//! Metrics are not differentiable. On the CPU `update_state` reads the tensors back at once
//! (the Keras-exact host code). On another device (a GPU) the loss tracker, [`Mean`], loss
//! metrics and the accuracy metrics below keep their running sums on that device ([`Metric::sync`] reads them), for
//! the common shapes (`[n, c]` scores, `[n]`/`[n, 1]` labels and per-sample weights); other
//! shapes, and the confusion-matrix metrics ([`Precision`], [`Recall`], [`AUC`]) and top-k
//! accuracies, still read their inputs back in every `update_state` — a device → host copy
//! that waits for the step to finish.

use candle_core::{DType, Tensor};

use crate::{Error, Result};

mod accuracy;
mod confusion;
mod device;

use device::DeviceTotals;

pub use accuracy::{
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
};
pub use confusion::{AucCurve, Precision, Recall, SummationMethod, AUC};

/// A Keras metric with running state.
pub trait Metric: Send {
    /// The metric's name (the Keras default, e.g. `"binary_accuracy"`, unless renamed).
    fn name(&self) -> &str;
    /// Accumulates one batch.
    fn update_state(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<()>;
    /// The value over everything accumulated since the last reset and read back by the
    /// last [`sync`](Self::sync) (totals kept on a GPU are not seen before it; the training
    /// loop syncs before every log it builds).
    fn result(&self) -> f64;
    /// Reads running totals still on the device back to the host (one small copy each; a
    /// no-op on the CPU and for metrics that keep no device state).
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
    /// Clears the state (start of an epoch, `evaluate`).
    fn reset_state(&mut self);
    /// The running state as numbers that add up across processes (Keras' metric variables,
    /// aggregated with `SUM` under a distribution strategy): e.g. `[total, count]` for a
    /// mean. A distributed `fit` sums every rank's state and sets the sum back with
    /// [`set_state`](Self::set_state), so each rank's result is the global one. Read after
    /// [`sync`](Self::sync). `None` (the default) means the metric cannot be reduced, and a
    /// distributed `fit` refuses it before the first step.
    fn state(&self) -> Option<Vec<f64>> {
        None
    }
    /// Replaces the running state with `state` (what [`state`](Self::state) returned,
    /// summed over the ranks). An error when the length does not match.
    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        let _ = state;
        Err(Error::invalid("Metric::set_state", format!("the metric {} keeps no reducible state", self.name())))
    }
}

/// Checks a state's length for [`Metric::set_state`].
pub(crate) fn state_len(name: &str, state: &[f64], expected: usize) -> Result<()> {
    if state.len() == expected {
        Ok(())
    } else {
        Err(Error::invalid(
            "Metric::set_state",
            format!("the metric {name} keeps {expected} state values; received {}", state.len()),
        ))
    }
}

/// A tensor read back to the host: shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Host {
    pub dims: Vec<usize>,
    pub data: Vec<f64>,
}

impl Host {
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        let dims = t.dims().to_vec();
        let flat = t.flatten_all()?;
        let data = match flat.dtype() {
            DType::F64 => flat.to_vec1::<f64>()?,
            DType::F32 => flat.to_vec1::<f32>()?.into_iter().map(f64::from).collect(),
            _ => flat.to_dtype(DType::F32)?.to_vec1::<f32>()?.into_iter().map(f64::from).collect(),
        };
        Ok(Host { dims, data })
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    fn last_dim(&self) -> Option<usize> {
        self.dims.last().copied()
    }

    /// Drops the last axis (which must exist).
    fn squeeze_last(mut self) -> Self {
        self.dims.pop();
        self
    }

    fn expand_last(mut self) -> Self {
        self.dims.push(1);
        self
    }

    /// Means over the trailing axes, keeping the first `keep` axes.
    fn mean_trailing(&self, keep: usize) -> Self {
        let dims = self.dims[..keep].to_vec();
        let chunk: usize = self.dims[keep..].iter().product();
        let data = if chunk == 0 {
            vec![f64::NAN; dims.iter().product()]
        } else {
            self.data.chunks(chunk).map(|c| c.iter().sum::<f64>() / chunk as f64).collect()
        };
        Host { dims, data }
    }

    /// NumPy broadcast to `target`, or `None` when impossible.
    fn broadcast_to(&self, target: &[usize]) -> Option<Self> {
        if self.dims == target {
            return Some(self.clone());
        }
        if self.rank() > target.len() {
            return None;
        }
        let off = target.len() - self.rank();
        for (i, &d) in self.dims.iter().enumerate() {
            if d != 1 && d != target[off + i] {
                return None;
            }
        }
        // Source strides over the target's axes (0 for broadcast axes).
        let mut strides = vec![0usize; target.len()];
        let mut s = 1usize;
        for i in (0..self.rank()).rev() {
            strides[off + i] = if self.dims[i] == 1 { 0 } else { s };
            s *= self.dims[i];
        }
        let n: usize = target.iter().product();
        let mut data = Vec::with_capacity(n);
        let mut idx = vec![0usize; target.len()];
        for _ in 0..n {
            let src: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
            data.push(self.data[src]);
            for ax in (0..target.len()).rev() {
                idx[ax] += 1;
                if idx[ax] < target[ax] {
                    break;
                }
                idx[ax] = 0;
            }
        }
        Some(Host { dims: target.to_vec(), data })
    }
}

/// Keras' `squeeze_or_expand_to_same_rank` on host tensors.
pub(crate) fn align(x1: Host, x2: Host) -> (Host, Host) {
    let (r1, r2) = (x1.rank(), x2.rank());
    if r1 == r2 + 1 && x1.last_dim() == Some(1) {
        if r2 == 1 {
            return (x1, x2.expand_last());
        }
        return (x1.squeeze_last(), x2);
    }
    if r2 == r1 + 1 && x2.last_dim() == Some(1) {
        if r1 == 1 {
            return (x1.expand_last(), x2);
        }
        return (x1, x2.squeeze_last());
    }
    (x1, x2)
}

/// Keras `Mean` (name `"mean"`): the weighted mean of all values seen,
/// `total / count` with `total += Σ w·v`, `count += Σ w` (or the number of samples).
///
/// As a [`Metric`], `update_state` takes the values from `y_pred` and ignores `y_true`; the
/// loss tracker of `fit` uses [`Mean::update`] with the batch loss and the batch size.
#[derive(Debug, Clone, PartialEq)]
pub struct Mean {
    /// The metric name (default `"mean"`).
    pub name: String,
    total: f64,
    count: f64,
    /// Sums from tensors on a GPU, not yet read back.
    device: DeviceTotals,
}

impl Mean {
    /// An empty `Mean` named `"mean"`.
    pub fn new() -> Self {
        Self::named("mean")
    }
    /// An empty `Mean` with the given name.
    pub fn named(name: impl Into<String>) -> Self {
        Mean { name: name.into(), total: 0.0, count: 0.0, device: DeviceTotals::default() }
    }
    /// Accumulates one value with a weight (Keras `update_state(value, sample_weight=weight)`).
    pub fn update(&mut self, value: f64, weight: f64) {
        self.total += value * weight;
        self.count += weight;
    }
    /// [`update`](Self::update) with the value as a scalar tensor (the loss tracker of
    /// `fit`): read at once on the CPU; on another device `value · weight` is added to a
    /// device-side total that [`Metric::sync`] reads, so the step does not wait for it.
    pub fn update_tensor(&mut self, value: &Tensor, weight: f64) -> Result<()> {
        if device::off_host(value) {
            self.device.add_total(value, weight)?;
            self.count += weight;
        } else {
            self.update(value.to_dtype(DType::F64)?.to_scalar::<f64>()?, weight);
        }
        Ok(())
    }
    /// Accumulates per-sample values (`[n]`) kept on the device, weighted by per-sample
    /// weights (`[n]`) when given.
    pub(crate) fn update_device(&mut self, values: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        self.count += self.device.add_values(values, sample_weight)?;
        Ok(())
    }
    /// Keras `Mean.update_state(values, sample_weight)`: values are averaged per sample over
    /// the non-batch axes (after reducing to the weights' rank), weighted and accumulated.
    ///
    /// Per-sample values (`[n]`) on a GPU, unweighted or with per-sample weights, are
    /// accumulated on the device (see [`Metric::sync`]); other shapes are read back.
    pub fn update_values(&mut self, values: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        if device::off_host(values) && values.rank() == 1 {
            if let Some(w) = device::sample_weight_1d(sample_weight, values.elem_count())? {
                return self.update_device(values, w.as_ref());
            }
        }
        let v = Host::from_tensor(values)?;
        let w = sample_weight.map(Host::from_tensor).transpose()?;
        self.update_host(v, w, "Mean")
    }
    /// The accumulated weighted total.
    pub fn total(&self) -> f64 {
        self.total
    }
    /// The accumulated weight (sample count without weights).
    pub fn count(&self) -> f64 {
        self.count
    }

    /// `reduce_to_samplewise_values` + accumulation.
    pub(crate) fn update_host(&mut self, values: Host, sw: Option<Host>, ctx: &'static str) -> Result<()> {
        let mut values = values;
        let mut weight_sum = None;
        if let Some(w) = sw {
            let (v, w) = align(values, w);
            let wnd = w.rank();
            let v = if v.rank() > wnd { v.mean_trailing(wnd) } else { v };
            let wb = w.broadcast_to(&v.dims).ok_or_else(|| {
                Error::shape(
                    ctx,
                    "sample_weight",
                    &w.dims,
                    "values",
                    &v.dims,
                    "expected sample_weight broadcastable to the per-sample values",
                )
            })?;
            let data = v.data.iter().zip(&wb.data).map(|(a, b)| a * b).collect();
            values = Host { dims: v.dims, data };
            let wr = if wnd > 1 { wb.mean_trailing(1) } else { wb };
            weight_sum = Some(wr.data.iter().sum::<f64>());
        }
        let values = if values.rank() > 1 { values.mean_trailing(1) } else { values };
        self.total += values.data.iter().sum::<f64>();
        self.count += match weight_sum {
            Some(s) => s,
            None if values.rank() >= 1 => values.dims[0] as f64,
            None => 1.0,
        };
        Ok(())
    }
}

impl Default for Mean {
    fn default() -> Self {
        Self::new()
    }
}

impl Metric for Mean {
    fn name(&self) -> &str {
        &self.name
    }
    fn update_state(&mut self, _y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        self.update_values(y_pred, sample_weight)
    }
    fn result(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.total / self.count
        }
    }
    fn sync(&mut self) -> Result<()> {
        if !self.device.is_empty() {
            let (total, count) = self.device.take()?;
            self.total += total;
            self.count += count;
        }
        Ok(())
    }
    fn reset_state(&mut self) {
        self.total = 0.0;
        self.count = 0.0;
        self.device.clear();
    }
    fn state(&self) -> Option<Vec<f64>> {
        Some(vec![self.total, self.count])
    }
    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        state_len(&self.name, state, 2)?;
        self.device.clear();
        self.total = state[0];
        self.count = state[1];
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn loss_tracker_mean_golden() {
        // golden metrics.loss_tracker_mean: batches [[0.5, 4], [1.0, 2]] → 0.6666667
        let mut m = Mean::new();
        m.update(0.5, 4.0);
        m.update(1.0, 2.0);
        assert!((m.result() - 0.6666666865348816).abs() < 1e-6);
        m.reset_state();
        assert_eq!(m.result(), 0.0);
    }

    #[test]
    fn mean_of_tensor_values_with_weights() {
        let v = Tensor::new(&[[1.0f32, 3.0], [5.0, 7.0]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[1.0f32, 3.0], &Device::Cpu).unwrap();
        let mut m = Mean::new();
        m.update_values(&v, Some(&w)).unwrap();
        // per-sample means 2 and 6, weighted: (2 + 18) / 4
        assert!((m.result() - 5.0).abs() < 1e-12);
        m.update_values(&v, None).unwrap();
        // + (2 + 6) over 2 more samples
        assert!((m.result() - 28.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn host_broadcast() {
        let h = Host { dims: vec![2, 1], data: vec![1.0, 2.0] };
        let b = h.broadcast_to(&[2, 3]).unwrap();
        assert_eq!(b.data, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert!(h.broadcast_to(&[3, 3]).is_none());
    }
}
