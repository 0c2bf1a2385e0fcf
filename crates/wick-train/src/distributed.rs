//! [`Dist`]: the collectives a data-parallel `fit` runs between its steps — the start-up
//! check of the model, the weight broadcast, gradient and metric-state reduction, and the
//! flags every rank must agree on.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use wick_callbacks::ModelVars;
use wick_dist::{Communicator, Worker};

use crate::error::{Error, Result};
use crate::metrics::Metric;

/// A distributed run's communicator, and this process's place in it.
pub(crate) struct Dist<'c> {
    pub comm: &'c dyn Communicator,
    pub worker: Worker,
}

impl<'c> Dist<'c> {
    pub fn new(comm: &'c dyn Communicator) -> Self {
        Dist { comm, worker: comm.worker() }
    }

    fn mismatch(&self, detail: impl Into<String>) -> Error {
        Error::RankMismatch { rank: self.worker.rank, world_size: self.worker.world_size, detail: detail.into() }
    }

    /// Before the first step: every rank must have the chief's variables (names, dtypes,
    /// shapes, in order) and metrics (names, state sizes), and every metric must be
    /// reducible. All ranks return the same verdict (the flags are all-reduced), so no rank
    /// trains while another has stopped; the rank that differs names what.
    pub fn check(&self, vars: &ModelVars, metrics: &[&dyn Metric]) -> Result<()> {
        let mut local = Vec::new();
        for m in metrics {
            if m.state().is_none() {
                local.push(format!(
                    "the metric {} keeps no reducible state (Metric::state); it cannot be used in a distributed fit",
                    m.name()
                ));
            }
        }
        let lines = describe(vars, metrics);
        let mut chief = lines.join("\n").into_bytes();
        self.comm.broadcast_bytes(&mut chief, 0)?;
        let chief = String::from_utf8_lossy(&chief).into_owned();
        let chief_lines: Vec<&str> = if chief.is_empty() { Vec::new() } else { chief.split('\n').collect() };
        if let Some(detail) = first_difference(&chief_lines, &lines) {
            local.push(detail);
        }
        let mut flags = vec![0.0; self.worker.world_size];
        flags[self.worker.rank] = if local.is_empty() { 0.0 } else { 1.0 };
        self.comm.all_reduce_sum_f64(&mut flags)?;
        if !local.is_empty() {
            return Err(self.mismatch(local.join("; ")));
        }
        let bad: Vec<usize> = flags.iter().enumerate().filter(|(_, &f)| f > 0.0).map(|(r, _)| r).collect();
        if !bad.is_empty() {
            return Err(self.mismatch(format!(
                "rank(s) {bad:?} built a different model or metrics than rank 0 (their error names the difference); \
                 nothing was trained"
            )));
        }
        Ok(())
    }

    /// Keras / DDP: every rank starts from the chief's weights.
    pub fn broadcast_vars(&self, vars: &ModelVars) -> Result<()> {
        if self.worker.world_size == 1 {
            return Ok(());
        }
        let tensors: Vec<Tensor> = vars.vars().iter().map(|(_, v)| v.as_tensor().clone()).collect();
        let values = self.comm.broadcast_tensors(&tensors, 0)?;
        for ((_, var), value) in vars.vars().iter().zip(values) {
            var.set(&value)?;
        }
        Ok(())
    }

    /// Keras' non-trainable weights (batch-norm moving statistics, frozen variables) are
    /// updated by each rank from its own shard; after each epoch every rank takes the
    /// chief's, so that validation, checkpoints and the next epoch see one model.
    pub fn broadcast_non_trainable(&self, vars: &ModelVars) -> Result<()> {
        let fixed = vars.non_trainable_vars();
        if self.worker.world_size == 1 || fixed.is_empty() {
            return Ok(());
        }
        let tensors: Vec<Tensor> = fixed.iter().map(|(_, v)| v.as_tensor().clone()).collect();
        let values = self.comm.broadcast_tensors(&tensors, 0)?;
        for ((_, var), value) in fixed.iter().zip(values) {
            var.set(&value)?;
        }
        Ok(())
    }

    /// Element-wise sums over the ranks of small flag/count vectors.
    pub fn agree(&self, values: &mut [f64]) -> Result<()> {
        Ok(self.comm.all_reduce_sum_f64(values)?)
    }

    /// The gradients of this step, summed over the ranks: each rank contributes its own
    /// gradients times `weight` (its share of the global batch), or zeros when it had no
    /// batch this step. Returns a store holding the reduced gradient of every variable.
    pub fn reduce_grads(&self, vars: &ModelVars, local: Option<GradStore>, weight: f64) -> Result<GradStore> {
        let mut store = match local {
            Some(g) => g,
            // An empty store to fill (a constant's backward holds no variable's gradient).
            None => Tensor::zeros((), DType::F32, &candle_core::Device::Cpu)?.backward()?,
        };
        let trainable = vars.trainable_vars();
        let mut grads = Vec::with_capacity(trainable.len());
        for (_, var) in &trainable {
            let g = match store.get(var.as_tensor()) {
                Some(g) if weight != 1.0 => (g * weight)?,
                Some(g) => g.clone(),
                None => var.as_tensor().zeros_like()?,
            };
            grads.push(g);
        }
        let reduced = self.comm.all_reduce_sum_tensors(&grads)?;
        for ((_, var), g) in trainable.iter().zip(reduced) {
            store.insert(var.as_tensor(), g);
        }
        Ok(store)
    }

    /// Sums every metric's state over the ranks and sets the sums; returns the local
    /// states, to put back with [`restore`](Self::restore) (running totals keep counting
    /// this rank's own batches).
    pub fn reduce_states(&self, metrics: &mut [&mut dyn Metric]) -> Result<Vec<Vec<f64>>> {
        let local: Vec<Vec<f64>> = metrics.iter().map(|m| m.state().unwrap_or_default()).collect();
        let mut flat: Vec<f64> = local.iter().flatten().copied().collect();
        self.comm.all_reduce_sum_f64(&mut flat)?;
        let mut offset = 0;
        for (m, l) in metrics.iter_mut().zip(&local) {
            m.set_state(&flat[offset..offset + l.len()])?;
            offset += l.len();
        }
        Ok(local)
    }

    /// Puts back what [`reduce_states`](Self::reduce_states) returned.
    pub fn restore(metrics: &mut [&mut dyn Metric], local: &[Vec<f64>]) -> Result<()> {
        for (m, l) in metrics.iter_mut().zip(local) {
            m.set_state(l)?;
        }
        Ok(())
    }
}

/// One line per variable (`var <name> <dtype> <shape>`) and per metric.
fn describe(vars: &ModelVars, metrics: &[&dyn Metric]) -> Vec<String> {
    let mut lines: Vec<String> =
        vars.vars().iter().map(|(name, v)| format!("variable `{name}` {:?} {:?}", v.dtype(), v.dims())).collect();
    lines.extend(
        metrics.iter().map(|m| format!("metric `{}` with {} state values", m.name(), m.state().map_or(0, |s| s.len()))),
    );
    lines
}

/// The first line where this rank's model differs from the chief's, in words.
fn first_difference(chief: &[&str], mine: &[String]) -> Option<String> {
    for (i, line) in mine.iter().enumerate() {
        match chief.get(i) {
            Some(c) if *c == line => {}
            Some(c) => return Some(format!("this rank has {line} where rank 0 has {c}")),
            None => return Some(format!("this rank has {line}, which rank 0 does not have")),
        }
    }
    chief.get(mine.len()).map(|c| format!("rank 0 has {c}, which this rank does not have"))
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn differences_name_both_sides() {
        let chief = ["variable `w` F32 [4, 4]", "variable `b` F32 [4]"];
        let same: Vec<String> = chief.iter().map(|s| s.to_string()).collect();
        assert_eq!(first_difference(&chief, &same), None);
        let other = vec!["variable `w` F32 [3, 4]".to_string(), "variable `b` F32 [4]".to_string()];
        let d = first_difference(&chief, &other).unwrap();
        assert!(d.contains("[3, 4]") && d.contains("[4, 4]"), "{d}");
        assert!(first_difference(&chief, &same[..1]).unwrap().contains("`b`"));
    }
}
