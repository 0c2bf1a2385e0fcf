//! One `apply_gradients` call, as Keras 3 does it (keras_semantics.md §3.2).

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};
use crate::optimizer::{active, cast, KerasOptimizer};
use crate::rule::UpdateRule;

impl<R: UpdateRule> KerasOptimizer<R> {
    /// One Keras `apply_gradients` call with one gradient per variable, in variable order:
    ///
    /// 1. `g ← g / loss_scale_factor`;
    /// 2. under gradient accumulation over N steps, `is_update = (k + 1) % N == 0`: if not,
    ///    `acc ← acc + g` and no variable changes; if so, `g ← (g + acc) / N` and, after
    ///    the update, `acc ← 0`;
    /// 3. clipping (`clipnorm`, `global_clipnorm` or `clipvalue`);
    /// 4. decoupled weight decay `θ ← θ − θ·wd·η` for variables not excluded;
    /// 5. the rule's `begin_step(t)` once, then its `update` for each variable, with the
    ///    learning rate η at raw step k and `t = iterations + 1`;
    /// 6. EMA: `avg ← μ·avg + (1−μ)·θ` with `μ = 0` at iterations 0, then `θ ← avg` when
    ///    `(iterations + 1) % ema_overwrite_frequency == 0`;
    /// 7. `k ← k + 1`.
    pub fn apply_gradients(&mut self, grads: &[Tensor]) -> Result<()> {
        if grads.len() != self.vars.len() {
            return Err(Error::InvalidArgument {
                context: self.rule.name(),
                message: format!("apply_gradients got {} gradients for {} variables", grads.len(), self.vars.len()),
            });
        }
        self.apply_optional(grads.iter().cloned().map(Some).collect())
    }

    /// [`apply_gradients`](Self::apply_gradients) where variables without a gradient
    /// (`None`) are left out of this step, as Keras drops `None` gradients.
    pub fn apply_gradients_optional(&mut self, grads: &[Option<Tensor>]) -> Result<()> {
        if grads.len() != self.vars.len() {
            return Err(Error::InvalidArgument {
                context: self.rule.name(),
                message: format!("apply_gradients got {} gradients for {} variables", grads.len(), self.vars.len()),
            });
        }
        self.apply_optional(grads.to_vec())
    }

    pub(crate) fn apply_optional(&mut self, mut grads: Vec<Option<Tensor>>) -> Result<()> {
        let context = self.rule.name();
        if self.vars.is_empty() {
            return Ok(());
        }
        if grads.iter().all(Option::is_none) {
            return Err(Error::InvalidArgument {
                context,
                message: "no gradients provided for any variable".to_string(),
            });
        }
        for ((g, var), name) in grads.iter().zip(&self.vars).zip(&self.names) {
            if let Some(g) = g {
                if g.shape() != var.shape() {
                    return Err(Error::InvalidArgument {
                        context,
                        message: format!(
                            "gradient of variable {name:?} has shape {:?}, the variable {:?}",
                            g.shape(),
                            var.shape()
                        ),
                    });
                }
            }
        }
        let k = self.raw_step;
        let iterations = self.iterations();
        let lr = self.current_learning_rate();

        if let Some(s) = &self.consts.loss_scale {
            for g in grads.iter_mut().flatten() {
                *g = g.broadcast_div(&cast(s, g.dtype())?)?;
            }
        }
        let is_update = match self.options.gradient_accumulation_steps {
            Some(n) => (k + 1).is_multiple_of(n),
            None => true,
        };
        if let Some(n) = &self.consts.accumulation {
            for (g, acc) in grads.iter_mut().zip(&self.accumulators) {
                if let Some(g) = g {
                    if is_update {
                        *g = (&*g + acc.as_tensor())?.broadcast_div(&cast(n, g.dtype())?)?;
                    } else {
                        acc.set(&(acc.as_tensor() + &*g)?)?;
                    }
                }
            }
        }

        if is_update {
            self.clip(&mut grads)?;
            if let Some(wd) = self.options.weight_decay {
                for ((var, g), decay) in self.vars.iter().zip(&grads).zip(&self.decays) {
                    if g.is_some() && *decay {
                        crate::decay::apply_weight_decay(var, wd, lr)?;
                    }
                }
            }
            let t = iterations + 1;
            self.rule.begin_step(t)?;
            for ((var, g), slots) in self.vars.iter().zip(&grads).zip(&self.slots) {
                if let Some(g) = g {
                    self.rule.update(var, g, slots, lr, t)?;
                }
            }
            for acc in &self.accumulators {
                acc.set(&acc.as_tensor().zeros_like()?)?;
            }
        }

        if self.options.use_ema {
            let mu = if iterations == 0 { 0.0f32 } else { self.options.ema_momentum as f32 };
            let one_minus = 1.0f32 - mu;
            let overwrite =
                self.options.ema_overwrite_frequency.is_some_and(|f| f > 0 && (iterations + 1).is_multiple_of(f));
            for (var, avg) in self.vars.iter().zip(&self.ema) {
                let new = (avg.as_tensor().affine(mu as f64, 0.0)? + var.as_tensor().affine(one_minus as f64, 0.0)?)?;
                avg.set(&new)?;
                if overwrite {
                    var.set(avg.as_tensor())?;
                }
            }
        }
        self.raw_step += 1;
        Ok(())
    }

    /// Keras `_clip_gradients`: at most one of the three clippings is active.
    fn clip(&self, grads: &mut [Option<Tensor>]) -> Result<()> {
        let opts = &self.options;
        if let (Some(c), Some(c_t)) = (active(opts.clipnorm), &self.consts.clip) {
            for g in grads.iter_mut().flatten() {
                let norm = g.sqr()?.sum_all()?.sqrt()?;
                let denom = norm.broadcast_maximum(&cast(c_t, g.dtype())?)?;
                *g = g.affine(c, 0.0)?.broadcast_div(&denom)?;
            }
        } else if let (Some(c), Some(inv_c)) = (active(opts.global_clipnorm), &self.consts.inv_clip) {
            let mut sum: Option<Tensor> = None;
            for g in grads.iter().flatten() {
                let s = g.sqr()?.sum_all()?.to_dtype(DType::F32)?;
                sum = Some(match sum {
                    None => s,
                    Some(acc) => (acc + s)?,
                });
            }
            if let Some(sum) = sum {
                let norm = sum.sqrt()?;
                // c · min(1/G, 1/c), plus G − G: NaN when G is not finite, as in Keras.
                #[allow(clippy::eq_op)]
                let nan_if_inf = (&norm - &norm)?;
                let scale = (norm.recip()?.broadcast_minimum(inv_c)?.affine(c, 0.0)? + nan_if_inf)?;
                for g in grads.iter_mut().flatten() {
                    *g = g.broadcast_mul(&cast(&scale, g.dtype())?)?;
                }
            }
        } else if let (Some(_), Some(c_t), Some(neg)) =
            (active(opts.clipvalue), &self.consts.clip, &self.consts.neg_clip)
        {
            for g in grads.iter_mut().flatten() {
                let dtype = g.dtype();
                *g = g.broadcast_maximum(&cast(neg, dtype)?)?.broadcast_minimum(&cast(c_t, dtype)?)?;
            }
        }
        Ok(())
    }
}
