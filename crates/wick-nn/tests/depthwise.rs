//! `wick_nn::depthwise_conv2d_op` against Candle's `conv2d(groups = c)` on the zero-padded
//! input, in f64: the output and all three gradients; bad shapes; bitwise determinism.

mod common;

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use common::{assert_close, Rng};
use wick_nn::{depthwise_conv2d_op, DTypePolicy, DepthwiseConv2d, DepthwiseConv2dConfig, DepthwisePadding};

const TOL: f32 = 2e-5;

#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: DepthwisePadding,
    bias: bool,
}

fn case(n: usize, c: usize, hw: (usize, usize), k: usize, stride: usize, padding: DepthwisePadding) -> Case {
    Case { n, c, h: hw.0, w: hw.1, kh: k, kw: k, stride, padding, bias: true }
}

fn explicit(top: usize, bottom: usize, left: usize, right: usize) -> DepthwisePadding {
    DepthwisePadding::Explicit { top, bottom, left, right }
}

/// Output and gradients `(y, dx, dw, db)` of `sum(conv(x) * dy)`.
type Results = (Tensor, Tensor, Tensor, Option<Tensor>);

/// Candle's grouped conv on the padded input, in f64.
fn reference(c: &Case, x: &Tensor, w: &Tensor, b: &Tensor, dy: &Tensor) -> Result<Results> {
    let f64v = |t: &Tensor| Var::from_tensor(&t.to_dtype(DType::F64)?);
    let (x, w, b) = (f64v(x)?, f64v(w)?, f64v(b)?);
    let [pt, pb, pl, pr] = c.padding.resolve(c.h, c.w, c.kh, c.kw, c.stride);
    let xp = x.as_tensor().pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)?;
    let mut y = xp.conv2d(w.as_tensor(), 0, c.stride, 1, c.c)?;
    if c.bias {
        y = y.broadcast_add(&b.as_tensor().reshape((1, c.c, 1, 1))?)?;
    }
    let grads = (&y * dy.to_dtype(DType::F64)?)?.sum_all()?.backward()?;
    let f32v = |t: Option<&Tensor>| -> Result<Tensor> {
        match t {
            Some(t) => t.to_dtype(DType::F32),
            None => candle_core::bail!("reference: missing gradient"),
        }
    };
    let db = if c.bias { Some(f32v(grads.get(&b))?) } else { None };
    Ok((y.to_dtype(DType::F32)?, f32v(grads.get(&x))?, f32v(grads.get(&w))?, db))
}

/// A direct-loop f64 reference, for shapes whose gradient Candle's conv2d backward cannot
/// take (height and width leaving different remainders under the stride).
fn naive(c: &Case, x: &[f32], w: &[f32], b: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let [pt, pb, pl, pr] = c.padding.resolve(c.h, c.w, c.kh, c.kw, c.stride);
    let oh = (c.h + pt + pb - c.kh) / c.stride + 1;
    let ow = (c.w + pl + pr - c.kw) / c.stride + 1;
    let mut y = vec![0f64; c.n * c.c * oh * ow];
    let (mut dx, mut dw, mut db) = (vec![0f64; x.len()], vec![0f64; w.len()], vec![0f64; c.c]);
    for n in 0..c.n {
        for ch in 0..c.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((n * c.c + ch) * oh + oy) * ow + ox;
                    let g = dy[yi] as f64;
                    let mut acc = if c.bias { b[ch] as f64 } else { 0.0 };
                    db[ch] += g;
                    for ky in 0..c.kh {
                        for kx in 0..c.kw {
                            let iy = (oy * c.stride + ky) as isize - pt as isize;
                            let ix = (ox * c.stride + kx) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= c.h as isize || ix >= c.w as isize {
                                continue;
                            }
                            let xi = ((n * c.c + ch) * c.h + iy as usize) * c.w + ix as usize;
                            let wi = (ch * c.kh + ky) * c.kw + kx;
                            acc += x[xi] as f64 * w[wi] as f64;
                            dx[xi] += g * w[wi] as f64;
                            dw[wi] += g * x[xi] as f64;
                        }
                    }
                    y[yi] = acc;
                }
            }
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
    (f(y), f(dx), f(dw), f(db))
}

/// wick's op on f32 `Var`s: output and gradients of `sum(y * dy)`.
fn wick(c: &Case, x: &Tensor, w: &Tensor, b: &Tensor, dy: &Tensor) -> Result<Results> {
    let (x, w, b) = (Var::from_tensor(x)?, Var::from_tensor(w)?, Var::from_tensor(b)?);
    let cfg = DepthwiseConv2dConfig { padding: c.padding, stride: c.stride };
    let y = depthwise_conv2d_op(x.as_tensor(), w.as_tensor(), c.bias.then_some(b.as_tensor()), &cfg)?;
    let grads = (&y * dy)?.sum_all()?.backward()?;
    let get = |v: &Var, what: &str| -> Result<Tensor> {
        grads.get(v).cloned().ok_or_else(|| candle_core::Error::Msg(format!("wick: no {what} gradient")))
    };
    let db = if c.bias { Some(get(&b, "bias")?) } else { None };
    Ok((y, get(&x, "input")?, get(&w, "weight")?, db))
}

fn check(c: Case, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed);
    let x = rng.tensor(&[c.n, c.c, c.h, c.w])?;
    let w = rng.tensor(&[c.c, 1, c.kh, c.kw])?;
    let b = rng.tensor(&[c.c])?;
    let [pt, pb, pl, pr] = c.padding.resolve(c.h, c.w, c.kh, c.kw, c.stride);
    let (rh, rw) = ((c.h + pt + pb - c.kh) % c.stride, (c.w + pl + pr - c.kw) % c.stride);
    let oh = (c.h + pt + pb - c.kh) / c.stride + 1;
    let ow = (c.w + pl + pr - c.kw) / c.stride + 1;
    let dy = rng.tensor(&[c.n, c.c, oh, ow])?;
    let got = wick(&c, &x, &w, &b, &dy)?;
    let want = if rh == rw {
        reference(&c, &x, &w, &b, &dy)?
    } else {
        let v = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let (y, dx, dw, db) = naive(&c, &v(&x)?, &v(&w)?, &v(&b)?, &v(&dy)?);
        let dev = Device::Cpu;
        let db = if c.bias { Some(Tensor::from_vec(db, c.c, &dev)?) } else { None };
        (
            Tensor::from_vec(y, dy.shape(), &dev)?,
            Tensor::from_vec(dx, x.shape(), &dev)?,
            Tensor::from_vec(dw, w.shape(), &dev)?,
            db,
        )
    };
    let what = |s: &str| format!("{s} of {c:?}");
    assert_close(&what("output"), &got.0, &want.0, TOL);
    assert_close(&what("input gradient"), &got.1, &want.1, TOL);
    assert_close(&what("weight gradient"), &got.2, &want.2, TOL);
    match (&got.3, &want.3) {
        (Some(g), Some(w)) => assert_close(&what("bias gradient"), g, w, TOL),
        (None, None) => {}
        _ => panic!("{}: bias gradient presence differs", what("bias")),
    }
    Ok(())
}

#[test]
fn same_padding_k3_k5_strides_1_2() -> Result<()> {
    let same = DepthwisePadding::Same;
    let mut seed = 1;
    for k in [3, 5] {
        for stride in [1, 2] {
            for hw in [(8, 8), (9, 9), (7, 10), (16, 13), (4, 4)] {
                check(case(2, 5, hw, k, stride, same), seed)?;
                seed += 1;
            }
        }
    }
    Ok(())
}

#[test]
fn valid_and_explicit_padding() -> Result<()> {
    let valid = DepthwisePadding::Valid;
    check(case(3, 4, (9, 9), 3, 1, valid), 10)?;
    check(case(3, 4, (10, 11), 3, 2, valid), 11)?;
    check(case(2, 3, (12, 12), 5, 2, valid), 12)?;
    check(case(2, 3, (5, 5), 5, 1, valid), 13)?;
    check(case(2, 6, (8, 8), 3, 1, explicit(1, 1, 1, 1)), 14)?;
    check(case(2, 6, (8, 9), 3, 2, explicit(0, 1, 2, 0)), 15)?;
    check(case(2, 6, (11, 7), 5, 2, explicit(3, 0, 1, 4)), 16)?;
    check(case(1, 2, (6, 6), 5, 1, explicit(4, 4, 4, 4)), 17)?;
    // Non-square kernel and a stride larger than the kernel (rows and columns skipped).
    check(Case { kh: 3, kw: 5, ..case(2, 3, (9, 12), 3, 1, DepthwisePadding::Same) }, 18)?;
    check(case(2, 3, (9, 9), 1, 2, valid), 19)?;
    check(case(2, 3, (10, 10), 2, 3, explicit(1, 0, 0, 1)), 20)?;
    Ok(())
}

#[test]
fn wide_planes_take_the_per_plane_kernels() -> Result<()> {
    // Output rows wider than 16 columns run the per-plane kernels (narrower ones the
    // channel-blocked kernels, which the cases above cover).
    let mut seed = 100;
    for padding in [DepthwisePadding::Same, DepthwisePadding::Valid, explicit(2, 0, 1, 3)] {
        for (k, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
            for hw in [(33, 40), (21, 36)] {
                check(Case { bias: seed % 2 == 0, ..case(2, 3, hw, k, stride, padding) }, seed)?;
                seed += 1;
            }
        }
    }
    Ok(())
}

#[test]
fn without_bias_and_the_efficientnet_shapes_at_small_batch() -> Result<()> {
    let same = DepthwisePadding::Same;
    let shapes =
        [(32, 64, 3, 1), (16, 32, 3, 2), (24, 32, 5, 2), (40, 16, 5, 1), (80, 8, 3, 1), (112, 8, 5, 2), (96, 4, 5, 1)];
    for (i, &(c, hw, k, s)) in shapes.iter().enumerate() {
        check(Case { bias: false, ..case(2, c, (hw, hw), k, s, same) }, 30 + i as u64)?;
    }
    Ok(())
}

#[test]
fn untracked_input_gets_no_gradient_and_weights_still_do() -> Result<()> {
    let mut rng = Rng::new(40);
    let x = rng.tensor(&[2, 4, 9, 9])?;
    let w = Var::from_tensor(&rng.tensor(&[4, 1, 3, 3])?)?;
    let y = depthwise_conv2d_op(&x, w.as_tensor(), None, &DepthwiseConv2dConfig::same(2))?;
    assert_eq!(y.dims(), &[2, 4, 5, 5]);
    let grads = y.sum_all()?.backward()?;
    assert!(grads.get(&x).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
    Ok(())
}

#[test]
fn gradients_are_the_same_bits_on_every_run() -> Result<()> {
    // A channel-blocked geometry (9x9 output) and a per-plane one (40x40 output).
    for (shape, k, stride, seed) in [([16, 24, 17, 17], 5, 2, 50), ([4, 8, 40, 40], 3, 1, 51)] {
        let mut rng = Rng::new(seed);
        let x = Var::from_tensor(&rng.tensor(&shape)?)?;
        let w = Var::from_tensor(&rng.tensor(&[shape[1], 1, k, k])?)?;
        let b = Var::from_tensor(&rng.tensor(&[shape[1]])?)?;
        let cfg = DepthwiseConv2dConfig::same(stride);
        let run = || -> Result<Vec<Vec<f32>>> {
            let y = depthwise_conv2d_op(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), &cfg)?;
            let dy = Rng::new(seed + 10).tensor(y.dims())?;
            let grads = (&y * &dy)?.sum_all()?.backward()?;
            let mut out = vec![y.flatten_all()?.to_vec1()?];
            for v in [x.as_tensor(), w.as_tensor(), b.as_tensor()] {
                let g = grads.get(v).ok_or_else(|| candle_core::Error::Msg("missing gradient".into()))?;
                out.push(g.flatten_all()?.to_vec1()?);
            }
            Ok(out)
        };
        let first = run()?;
        for _ in 0..4 {
            let again = run()?;
            for (a, b) in first.iter().zip(&again) {
                assert!(a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()), "results differ between runs");
            }
        }
    }
    Ok(())
}

#[test]
fn bad_shapes_are_errors_naming_them() -> Result<()> {
    let dev = Device::Cpu;
    let cfg = DepthwiseConv2dConfig::same(1);
    let w = Tensor::zeros((4, 1, 3, 3), DType::F32, &dev)?;
    let msg = |r: Result<Tensor>| match r {
        Ok(t) => panic!("expected an error, got a tensor {:?}", t.dims()),
        Err(e) => e.to_string(),
    };
    let e = msg(depthwise_conv2d_op(&Tensor::zeros((4, 8, 8), DType::F32, &dev)?, &w, None, &cfg));
    assert!(e.contains("[4, 8, 8]") && e.contains("rank 4"), "{e}");
    let e = msg(depthwise_conv2d_op(&Tensor::zeros((2, 5, 8, 8), DType::F32, &dev)?, &w, None, &cfg));
    assert!(e.contains("[4, 1, 3, 3]") && e.contains("[2, 5, 8, 8]"), "{e}");
    let x = Tensor::zeros((2, 4, 8, 8), DType::F32, &dev)?;
    let e = msg(depthwise_conv2d_op(&x, &Tensor::zeros((4, 2, 3, 3), DType::F32, &dev)?, None, &cfg));
    assert!(e.contains("[4, 2, 3, 3]"), "{e}");
    let e = msg(depthwise_conv2d_op(&x, &w, Some(&Tensor::zeros(5, DType::F32, &dev)?), &cfg));
    assert!(e.contains("[5]") && e.contains("[4]"), "{e}");
    let e = msg(depthwise_conv2d_op(&x, &w, None, &DepthwiseConv2dConfig::same(0)));
    assert!(e.contains("stride"), "{e}");
    let small = Tensor::zeros((1, 4, 2, 2), DType::F32, &dev)?;
    let e = msg(depthwise_conv2d_op(&small, &w, None, &DepthwiseConv2dConfig::valid(1)));
    assert!(e.contains("[1, 4, 2, 2]") && e.contains("smaller than the kernel"), "{e}");
    // The fallback (an f64 input) validates the same way.
    let e = msg(depthwise_conv2d_op(&Tensor::zeros((2, 5, 8, 8), DType::F64, &dev)?, &w, None, &cfg));
    assert!(e.contains("[2, 5, 8, 8]"), "{e}");
    Ok(())
}

#[test]
fn layer_builds_candle_nn_variables_and_matches_the_fallback() -> Result<()> {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let layer = wick_nn::depthwise_conv2d(6, 5, DepthwiseConv2dConfig::same(2), vb.pp("dw"))?;
    assert_eq!(layer.weight().dims(), &[6, 1, 5, 5]);
    assert_eq!(layer.bias().map(|b| b.dims().to_vec()), Some(vec![6]));
    let names: Vec<String> =
        varmap.data().lock().map_err(|_| candle_core::Error::Msg("lock".into()))?.keys().cloned().collect();
    assert!(names.contains(&"dw.weight".to_string()) && names.contains(&"dw.bias".to_string()), "{names:?}");
    let x = Rng::new(60).tensor(&[2, 6, 11, 11])?;
    let y = layer.forward(&x)?;
    assert_eq!(y.dims(), &[2, 6, 6, 6]);
    // The same computation through the f64 fallback path.
    let b64 = layer.bias().map(|b| b.to_dtype(DType::F64)).transpose()?;
    let y64 = depthwise_conv2d_op(
        &x.to_dtype(DType::F64)?,
        &layer.weight().to_dtype(DType::F64)?,
        b64.as_ref(),
        layer.config(),
    )?;
    assert_close("layer vs fallback", &y, &y64.to_dtype(DType::F32)?, TOL);
    let nb = wick_nn::depthwise_conv2d_no_bias(6, 3, DepthwiseConv2dConfig::valid(1), vb.pp("nb"))?;
    assert!(nb.bias().is_none());
    Ok(())
}

#[test]
fn bf16_runs_the_cpu_op_and_rounds_once() -> Result<()> {
    let mut rng = Rng::new(70);
    let x = rng.tensor(&[2, 8, 10, 10])?.to_dtype(DType::BF16)?;
    let w = rng.tensor(&[8, 1, 3, 3])?.to_dtype(DType::BF16)?;
    let cfg = DepthwiseConv2dConfig::same(1);
    let y = depthwise_conv2d_op(&x, &w, None, &cfg)?;
    assert_eq!(y.dtype(), DType::BF16);
    // f32 on the widened values, rounded once to bf16.
    let want = depthwise_conv2d_op(&x.to_dtype(DType::F32)?, &w.to_dtype(DType::F32)?, None, &cfg)?;
    let (a, b): (Vec<f32>, Vec<f32>) = (
        y.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
        want.to_dtype(DType::BF16)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
    );
    assert_eq!(a, b);
    Ok(())
}

#[test]
fn mixed_bfloat16_policy_computes_in_bf16_and_trains_f32_variables() -> Result<()> {
    let mut rng = Rng::new(80);
    let x = Var::from_tensor(&rng.tensor(&[2, 20, 9, 9])?)?;
    let w = Var::from_tensor(&rng.tensor(&[20, 1, 3, 3])?)?;
    let b = Var::from_tensor(&rng.tensor(&[20])?)?;
    let layer =
        DepthwiseConv2d::new(w.as_tensor().clone(), Some(b.as_tensor().clone()), DepthwiseConv2dConfig::same(2));
    let mixed = layer.clone().with_policy(DTypePolicy::MIXED_BFLOAT16);
    assert_eq!(mixed.policy(), Some(DTypePolicy::MIXED_BFLOAT16));
    let y = mixed.forward(x.as_tensor())?;
    assert_eq!((y.dtype(), y.dims()), (DType::BF16, &[2, 20, 5, 5][..]));
    let y32 = layer.forward(x.as_tensor())?;
    assert_close("bf16 output", &y.to_dtype(DType::F32)?, &y32, 1.0 / 64.0);
    let grads = y.to_dtype(DType::F32)?.sum_all()?.backward()?;
    let grads32 = y32.sum_all()?.backward()?;
    for (name, v) in [("x", &x), ("weight", &w), ("bias", &b)] {
        let (Some(g), Some(g32)) = (grads.get(v.as_tensor()), grads32.get(v.as_tensor())) else {
            panic!("no {name} gradient")
        };
        assert_eq!(g.dtype(), DType::F32, "{name} gradient");
        assert_close(&format!("{name} gradient"), g, g32, 0.02);
    }
    Ok(())
}
