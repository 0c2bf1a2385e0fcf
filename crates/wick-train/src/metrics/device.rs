//! Running totals kept on the tensors' device (a GPU): [`DeviceTotals`], and the accuracy
//! match values computed there, so a training step does not wait for a device → host copy.
//!
//! On the CPU the metrics read their inputs back at once (the copy costs nothing and the
//! host code is the Keras-exact reference); on any other device the mean-type metrics add
//! each batch's weighted total (and, with weights, the weight sum) to `f64` scalars on that
//! device, and [`Metric::sync`](super::Metric::sync) reads them back. The sums are the same
//! products as on the host; only their association differs (the device reduces a batch in
//! parallel, and a sync in the middle of an epoch starts a new partial sum), so the results
//! agree with the CPU to `f64` rounding.

use candle_core::{DType, Tensor, D};

use crate::Result;

/// Whether `t` lives on a device whose results are better left there until needed.
pub(crate) fn off_host(t: &Tensor) -> bool {
    !t.device().is_cpu()
}

/// A weighted total and a weight (count) still on the device, as `f64` scalars.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceTotals {
    total: Option<Tensor>,
    count: Option<Tensor>,
}

/// Pending device sums cannot be compared without reading them: two states are equal only
/// when neither holds any.
impl PartialEq for DeviceTotals {
    fn eq(&self, other: &Self) -> bool {
        self.is_empty() && other.is_empty()
    }
}

fn add(acc: &mut Option<Tensor>, x: Tensor) -> Result<()> {
    *acc = Some(match acc.take() {
        Some(a) => (a + x)?,
        None => x,
    });
    Ok(())
}

impl DeviceTotals {
    /// Adds a batch's total (any float scalar tensor), times `weight`.
    pub fn add_total(&mut self, value: &Tensor, weight: f64) -> Result<()> {
        add(&mut self.total, value.to_dtype(DType::F64)?.affine(weight, 0.0)?)
    }

    /// Adds per-sample values `v` (`[n]`), weighted by `w` (`[n]`) when given: the total
    /// grows by `Σ w·v` and, with weights, the device-side count by `Σ w`. Returns the
    /// count to add on the host (`n` without weights, 0 with).
    pub fn add_values(&mut self, v: &Tensor, w: Option<&Tensor>) -> Result<f64> {
        let v = v.to_dtype(DType::F64)?;
        match w {
            Some(w) => {
                let w = w.to_dtype(DType::F64)?.to_device(v.device())?;
                add(&mut self.total, (&v * &w)?.sum_all()?)?;
                add(&mut self.count, w.sum_all()?)?;
                Ok(0.0)
            }
            None => {
                add(&mut self.total, v.sum_all()?)?;
                Ok(v.elem_count() as f64)
            }
        }
    }

    /// Reads the pending sums back (one device → host copy each) and clears them:
    /// `(total, count)` to add to the host totals.
    pub fn take(&mut self) -> Result<(f64, f64)> {
        let read =
            |t: Option<Tensor>| -> Result<f64> { Ok(t.map(|t| t.to_scalar::<f64>()).transpose()?.unwrap_or(0.0)) };
        Ok((read(self.total.take())?, read(self.count.take())?))
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.total.is_none() && self.count.is_none()
    }

    /// Drops the pending sums (a metric reset).
    pub fn clear(&mut self) {
        self.total = None;
        self.count = None;
    }
}

/// A per-sample weight the device path can use: `[n]`, or `[n, 1]` squeezed; anything else
/// (weights per element of a multi-output target) is left to the host path.
pub(crate) fn sample_weight_1d(w: Option<&Tensor>, n: usize) -> Result<Option<Option<Tensor>>> {
    Ok(match w {
        None => Some(None),
        Some(w) if w.dims() == [n] => Some(Some(w.clone())),
        Some(w) if w.dims() == [n, 1] => Some(Some(w.squeeze(1)?)),
        Some(_) => None,
    })
}

/// `y == argmax ŷ` per row for integer labels `y` (`[n]` or `[n, 1]`) and scores `ŷ`
/// (`[n, c]`), as `0/1` on the device; `None` for shapes the host path handles.
/// Ties follow the device's argmax kernel (the host takes the first index).
pub(crate) fn sparse_matches(y_true: &Tensor, y_pred: &Tensor) -> Result<Option<Tensor>> {
    let (n, _c) = match y_pred.dims() {
        [n, c] if *c > 0 => (*n, *c),
        _ => return Ok(None),
    };
    let t = match y_true.dims() {
        [m] if *m == n => y_true.clone(),
        [m, 1] if *m == n => y_true.squeeze(1)?,
        _ => return Ok(None),
    };
    let predicted = y_pred.argmax(D::Minus1)?.to_dtype(DType::F64)?;
    Ok(Some(predicted.eq(&t.to_dtype(DType::F64)?)?))
}

/// `argmax y == argmax ŷ` per row for one-hot `y` and scores `ŷ` (both `[n, c]`), as `0/1`
/// on the device; `None` for other shapes.
pub(crate) fn categorical_matches(y_true: &Tensor, y_pred: &Tensor) -> Result<Option<Tensor>> {
    match (y_true.dims(), y_pred.dims()) {
        ([n, c], [m, d]) if n == m && c == d && *c > 0 => {}
        _ => return Ok(None),
    }
    let t = y_true.to_dtype(DType::F64)?.argmax(D::Minus1)?;
    let p = y_pred.argmax(D::Minus1)?;
    Ok(Some(t.eq(&p)?))
}

/// `mean over the last axis of 1[(ŷ > threshold) == y]` per sample, for equal shapes `[n]`
/// or `[n, k]`, as `f64` on the device; `None` for other shapes. `threshold` is already
/// rounded to `f32` (Keras compares in float32).
pub(crate) fn binary_matches(y_true: &Tensor, y_pred: &Tensor, threshold: f64) -> Result<Option<Tensor>> {
    if y_true.dims() != y_pred.dims() || !matches!(y_pred.rank(), 1 | 2) {
        return Ok(None);
    }
    let p = if y_pred.dtype() == DType::F64 { y_pred.clone() } else { y_pred.to_dtype(DType::F32)? };
    let decided = p.gt(threshold)?.to_dtype(DType::F64)?;
    let hits = decided.eq(&y_true.to_dtype(DType::F64)?)?.to_dtype(DType::F64)?;
    Ok(Some(if hits.rank() == 2 { hits.mean(1)? } else { hits }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{BinaryAccuracy, CategoricalAccuracy, Metric, SparseCategoricalAccuracy};
    use candle_core::Device;

    /// A metric fed through the device path (as on a GPU) on CPU tensors: the same values
    /// as the host path.
    fn via_device<M: Metric>(
        metric: &mut M,
        values: impl Fn(&Tensor, &Tensor) -> Result<Option<Tensor>>,
        batches: &[(Tensor, Tensor, Option<Tensor>)],
        mean: impl Fn(&mut M) -> &mut crate::metrics::Mean,
    ) -> f64 {
        for (t, p, w) in batches {
            let v = values(t, p).unwrap().expect("shape supported on the device");
            let w = sample_weight_1d(w.as_ref(), v.elem_count()).unwrap().expect("weights supported");
            mean(metric).update_device(&v, w.as_ref()).unwrap();
        }
        metric.sync().unwrap();
        metric.result()
    }

    fn via_host<M: Metric>(metric: &mut M, batches: &[(Tensor, Tensor, Option<Tensor>)]) -> f64 {
        for (t, p, w) in batches {
            metric.update_state(t, p, w.as_ref()).unwrap();
        }
        metric.result()
    }

    fn scores(seed: u64, n: usize, c: usize) -> Tensor {
        // Coarse values so that ties occur; candle's CPU argmax keeps the first maximum,
        // like the host path.
        let data: Vec<f32> = (0..n * c).map(|i| ((i as u64 * 7919 + seed * 104729) % 5) as f32 / 4.0).collect();
        Tensor::from_vec(data, (n, c), &Device::Cpu).unwrap()
    }

    fn batches_sparse() -> Vec<(Tensor, Tensor, Option<Tensor>)> {
        let dev = Device::Cpu;
        vec![
            (Tensor::new(&[0u32, 1, 2, 3, 1, 0], &dev).unwrap(), scores(1, 6, 4), None),
            (
                Tensor::new(&[[2i64], [3], [0], [1], [1]], &dev).unwrap(),
                scores(2, 5, 4),
                Some(Tensor::new(&[0.5f32, 2.0, 1.0, 0.0, 3.25], &dev).unwrap()),
            ),
            (Tensor::new(&[1u32, 1, 3], &dev).unwrap(), scores(3, 3, 4), None),
        ]
    }

    #[test]
    fn sparse_categorical_accuracy_device_equals_host() {
        let b = batches_sparse();
        let host = via_host(&mut SparseCategoricalAccuracy::new(), &b);
        let dev = via_device(&mut SparseCategoricalAccuracy::new(), sparse_matches, &b, |m| &mut m.mean);
        assert!(host > 0.0 && host < 1.0, "a test that can fail needs hits and misses: {host}");
        assert!((host - dev).abs() < 1e-15, "host {host} device {dev}");
    }

    #[test]
    fn categorical_accuracy_device_equals_host() {
        let dev = Device::Cpu;
        let one_hot = |labels: &[usize], c: usize| {
            let mut v = vec![0f32; labels.len() * c];
            for (i, &l) in labels.iter().enumerate() {
                v[i * c + l] = 1.0;
            }
            Tensor::from_vec(v, (labels.len(), c), &dev).unwrap()
        };
        let b = vec![
            (one_hot(&[0, 1, 2, 3, 1, 0], 4), scores(4, 6, 4), None),
            (one_hot(&[3, 3, 0], 4), scores(5, 3, 4), Some(Tensor::new(&[[1.0f32], [0.25], [4.0]], &dev).unwrap())),
        ];
        let host = via_host(&mut CategoricalAccuracy::new(), &b);
        let devv = via_device(&mut CategoricalAccuracy::new(), categorical_matches, &b, |m| &mut m.mean);
        assert!(host > 0.0 && host < 1.0, "{host}");
        assert!((host - devv).abs() < 1e-15, "host {host} device {devv}");
    }

    #[test]
    fn binary_accuracy_device_equals_host() {
        let dev = Device::Cpu;
        // 0.5 exactly is a negative (strict test), as on the host.
        let b = [
            (
                Tensor::new(&[[1.0f32], [0.0], [1.0], [1.0]], &dev).unwrap(),
                Tensor::new(&[[0.5f32], [0.49], [0.51], [0.9]], &dev).unwrap(),
                None,
            ),
            (
                Tensor::new(&[[1.0f32, 0.0], [0.0, 0.0]], &dev).unwrap(),
                Tensor::new(&[[0.7f32, 0.7], [0.2, 0.6]], &dev).unwrap(),
                Some(Tensor::new(&[2.0f32, 1.0], &dev).unwrap()),
            ),
        ];
        let metric = BinaryAccuracy::new();
        let thr = f64::from(metric.threshold as f32);
        let host = via_host(&mut BinaryAccuracy::new(), &b[..1]);
        let devv = via_device(&mut BinaryAccuracy::new(), |t, p| binary_matches(t, p, thr), &b[..1], |m| &mut m.mean);
        assert_eq!(host, 0.75);
        assert_eq!(host, devv);
        let host2 = via_host(&mut BinaryAccuracy::new(), &b[1..]);
        let dev2 = via_device(&mut BinaryAccuracy::new(), |t, p| binary_matches(t, p, thr), &b[1..], |m| &mut m.mean);
        assert!((host2 - dev2).abs() < 1e-15, "host {host2} device {dev2}");
    }

    #[test]
    fn loss_totals_add_like_the_host_and_reset_clears_them() {
        let mut totals = DeviceTotals::default();
        for (v, w) in [(0.5f32, 4.0), (1.0, 2.0)] {
            totals.add_total(&Tensor::new(v, &Device::Cpu).unwrap(), w).unwrap();
        }
        assert_eq!(totals.take().unwrap(), (4.0, 0.0));
        assert!(totals.is_empty());
        totals.add_total(&Tensor::new(1f32, &Device::Cpu).unwrap(), 1.0).unwrap();
        totals.clear();
        assert_eq!(totals.take().unwrap(), (0.0, 0.0));
    }

    #[test]
    fn mean_of_per_sample_values_device_equals_host() {
        use crate::metrics::Mean;
        let dev = Device::Cpu;
        let v = Tensor::new(&[0.25f32, 1.5, -2.0, 4.0], &dev).unwrap();
        let w = Tensor::new(&[1.0f32, 0.5, 2.0, 0.0], &dev).unwrap();
        let (mut host, mut on_dev) = (Mean::new(), Mean::new());
        for weights in [None, Some(&w)] {
            host.update_values(&v, weights).unwrap();
            on_dev.update_device(&v, weights).unwrap();
        }
        on_dev.sync().unwrap();
        assert_eq!(host.result(), on_dev.result());
        assert_eq!((host.total(), host.count()), (on_dev.total(), on_dev.count()));
        assert!((host.result() - (3.75 - 3.0) / 7.5).abs() < 1e-12, "{}", host.result());
    }

    #[test]
    fn unsupported_shapes_fall_back_to_the_host() {
        let dev = Device::Cpu;
        let p = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
        let t = Tensor::zeros((2, 3), DType::U32, &dev).unwrap();
        assert!(sparse_matches(&t, &p).unwrap().is_none());
        let w = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        assert!(sample_weight_1d(Some(&w), 2).unwrap().is_none());
    }
}
