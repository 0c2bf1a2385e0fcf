//! `Linear`: candle-nn's dense layer and variable names, with one gemm custom op for the
//! CPU forward pass and its gradients.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Module, Result, Shape, Tensor};

use crate::policy::DTypePolicy;
use crate::sgemm::{sgemm, sgemm_new, MatRef, Par};
use crate::util::{contiguous_f32, is_cpu_op_tensor, storage_of, tensor_of, with_f32};

/// A dense layer `y = x·wᵀ + b`, a drop-in replacement for [`candle_nn::Linear`].
///
/// The weight is `[out, in]` and the optional bias `[out]`, under the variable names
/// `weight` and `bias`, as candle-nn stores them.
///
/// On the CPU with f32 (or bf16 / f16, see [`with_policy`](Self::with_policy)) tensors of
/// one dtype and a `[N, in]` input, the product, the bias add and the backward pass run as one
/// custom op, so Candle's graph holds no transposed weight or broadcast bias node, and the
/// input gradient is skipped when the input is not tracked. Any other device, dtype or input
/// rank (e.g. `[B, T, in]`) calls candle-nn's `Linear`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    policy: Option<DTypePolicy>,
}

impl Linear {
    /// A layer from its weight `[out, in]` and optional bias `[out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias, policy: None }
    }

    /// The same layer under `policy` (Keras' `Dense(..., dtype=policy)`): a floating input,
    /// the weight and the bias are cast to `policy.compute_dtype()` at each call, so the
    /// output is in that dtype, while the variables keep their dtype; the casts are graph
    /// nodes, so the gradients arrive in the variables' dtype. Without a policy the layer
    /// computes in its arguments' dtype.
    ///
    /// On the CPU, bf16 / f16 run the f32 gemm op on the widened values and round each result
    /// (output, gradients) once to the compute dtype, as tensor cores accumulate in f32; on
    /// CUDA candle-nn's bf16 / f16 matmul runs (cuBLAS).
    pub fn with_policy(mut self, policy: DTypePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The policy this layer runs under, if any.
    pub fn policy(&self) -> Option<DTypePolicy> {
        self.policy
    }

    /// The weight, `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl From<candle_nn::Linear> for Linear {
    fn from(l: candle_nn::Linear) -> Self {
        Self::new(l.weight().clone(), l.bias().cloned())
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let Some(p) = self.policy else { return linear_forward(x, &self.weight, self.bias.as_ref()) };
        let dtype = p.compute_dtype();
        let bias = self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?;
        linear_forward(&p.convert_input(x)?, &self.weight.to_dtype(dtype)?, bias.as_ref())
    }
}

/// `x·wᵀ + b` in the arguments' dtype: the custom op on the CPU, candle-nn's `Linear` elsewhere.
fn linear_forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let same = |t: &Tensor| t.device().is_cpu() && t.dtype() == x.dtype();
    let fast = x.rank() == 2 && is_cpu_op_tensor(x) && same(w) && b.is_none_or(same);
    if !fast {
        return candle_nn::Linear::new(w.clone(), b.cloned()).forward(x);
    }
    // Validate here so that errors name the layer's arguments.
    let (_, _, o) = dims(x.shape(), w.shape())?;
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    match b {
        None => x.apply_op2(&w, LinearOp),
        Some(b) => {
            if b.dims() != [o] {
                bail!("linear: bias has shape {:?}, weight has {o} outputs", b.dims())
            }
            x.apply_op3(&w, &b.contiguous()?, LinearOp)
        }
    }
}

/// A [`Linear`] with a bias, created through `vb` with candle-nn's names (`weight`, `bias`),
/// shapes and initialisers (Kaiming-normal weight, uniform ±1/√in bias).
pub fn linear(in_dim: usize, out_dim: usize, vb: candle_nn::VarBuilder<'_>) -> Result<Linear> {
    candle_nn::linear(in_dim, out_dim, vb).map(Linear::from)
}

/// A [`Linear`] without bias, created through `vb` as [`candle_nn::linear_no_bias`] does.
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: candle_nn::VarBuilder<'_>) -> Result<Linear> {
    candle_nn::linear_no_bias(in_dim, out_dim, vb).map(Linear::from)
}

/// `(N, in, out)` after checking that `x` is `[N, in]` and `w` is `[out, in]`.
fn dims(x: &Shape, w: &Shape) -> Result<(usize, usize, usize)> {
    let (n, i) = x.dims2()?;
    let (o, wi) = match w.dims() {
        &[o, wi] => (o, wi),
        d => bail!("linear: weight has shape {d:?}, expected [out, in]"),
    };
    if i != wi {
        bail!("linear: input has {i} features, weight expects {wi}")
    }
    Ok((n, i, o))
}

/// Gemm parallelism: Candle's thread count, as its own matmul uses.
fn par() -> Par {
    Par::Threads(candle_core::utils::get_num_threads().max(1))
}

/// The linear custom op: arguments `(x, weight)` or `(x, weight, bias)`.
struct LinearOp;

impl LinearOp {
    fn fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, i, o) = dims(l1.shape(), l2.shape())?;
        let dtype = s1.dtype();
        if s2.dtype() != dtype || bias.is_some_and(|(s, _)| s.dtype() != dtype) {
            bail!("linear: input, weight and bias must have one dtype")
        }
        let x = contiguous_f32(s1, l1, "linear input")?;
        let w = contiguous_f32(s2, l2, "linear weight")?;
        let mut y = vec![0f32; n * o];
        let accumulate = match bias {
            Some((s, l)) => {
                let b = contiguous_f32(s, l, "linear bias")?;
                if b.len() != o {
                    bail!("linear: bias has {} elements, weight has {o} outputs", b.len())
                }
                if o > 0 {
                    y.chunks_exact_mut(o).for_each(|row| row.copy_from_slice(&b));
                }
                true
            }
            None => false,
        };
        // y [N, out] (+)= x [N, in] · wᵀ [in, out]
        sgemm(n, o, i, MatRef::row_major(&x, i), MatRef::transposed(&w, i), &mut y, accumulate, par());
        Ok((storage_of(y, dtype)?, Shape::from((n, o))))
    }

    fn bwd_impl(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let need_dx = x.track_op();
        let need_dw = w.track_op();
        let need_db = bias.is_some_and(|b| b.track_op());
        if !(need_dx || need_dw || need_db) {
            return Ok((None, None, None));
        }
        let (n, i, o) = dims(x.shape(), w.shape())?;
        if grad.dims() != [n, o] {
            bail!("linear: output gradient has shape {:?}, expected [{n}, {o}]", grad.dims())
        }
        let grad = grad.contiguous()?;
        let (dev, dtype) = (x.device(), x.dtype());
        with_f32(x, "linear input", |xs| {
            with_f32(w, "linear weight", |ws| {
                with_f32(&grad, "linear output gradient", |dy| {
                    let dx = if need_dx {
                        // dx [N, in] = dy [N, out] · w [out, in]
                        let (a, b) = (MatRef::row_major(dy, o), MatRef::row_major(ws, i));
                        let dx = sgemm_new(n, i, o, a, b, par());
                        Some(tensor_of(dx, (n, i), dtype, dev)?)
                    } else {
                        None
                    };
                    let dw = if need_dw {
                        // dw [out, in] = dyᵀ [out, N] · x [N, in]
                        let (a, b) = (MatRef::transposed(dy, o), MatRef::row_major(xs, i));
                        let dw = sgemm_new(o, i, n, a, b, par());
                        Some(tensor_of(dw, (o, i), dtype, dev)?)
                    } else {
                        None
                    };
                    let db = if need_db {
                        // db [out] = column sums of dy
                        let mut db = vec![0f32; o];
                        if o > 0 {
                            for row in dy.chunks_exact(o) {
                                db.iter_mut().zip(row).for_each(|(a, g)| *a += g);
                            }
                        }
                        Some(tensor_of(db, o, dtype, dev)?)
                    } else {
                        None
                    };
                    Ok((dx, dw, db))
                })
            })
        })
    }
}

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "wick-linear"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, None)
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.bwd_impl(x, w, None, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "wick-linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.bwd_impl(x, w, Some(b), grad)
    }
}
