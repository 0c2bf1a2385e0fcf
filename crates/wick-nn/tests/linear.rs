//! `wick_nn::Linear` against `candle_nn::Linear`: outputs, all gradients, errors, names.

mod common;

use candle_core::{DType, Device, Module, Result, Var};
use candle_nn::{VarBuilder, VarMap};
use common::{assert_close, Rng};

const TOL: f32 = 1e-5;

/// Runs both layers on the same data and compares the output and every gradient.
fn check(n: usize, i: usize, o: usize, bias: bool, x_is_var: bool, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed);
    let x = rng.tensor(&[n, i])?;
    let xv = Var::from_tensor(&x)?;
    let wv = Var::from_tensor(&rng.tensor(&[o, i])?)?;
    let bv = Var::from_tensor(&rng.tensor(&[o])?)?;
    let xin = if x_is_var { xv.as_tensor().clone() } else { x.clone() };
    let b = bias.then(|| bv.as_tensor().clone());
    let ours = wick_nn::Linear::new(wv.as_tensor().clone(), b.clone()).forward(&xin)?;
    let theirs = candle_nn::Linear::new(wv.as_tensor().clone(), b).forward(&xin)?;
    let what = format!("n{n} in{i} out{o} bias{bias} xvar{x_is_var}");
    assert_eq!(ours.dims(), &[n, o], "{what}");
    assert_close(&format!("forward {what}"), &ours, &theirs, TOL);

    // A random projection of the output, so every gradient element is exercised.
    let r = rng.tensor(&[n, o])?;
    let g_ours = (&ours * &r)?.sum_all()?.backward()?;
    let g_theirs = (&theirs * &r)?.sum_all()?.backward()?;
    assert_close(
        &format!("dW {what}"),
        g_ours.get(wv.as_tensor()).expect("dW"),
        g_theirs.get(wv.as_tensor()).expect("dW"),
        TOL,
    );
    if bias {
        assert_close(
            &format!("dB {what}"),
            g_ours.get(bv.as_tensor()).expect("dB"),
            g_theirs.get(bv.as_tensor()).expect("dB"),
            TOL,
        );
    } else {
        assert!(g_ours.get(bv.as_tensor()).is_none(), "{what}");
    }
    if x_is_var {
        assert_close(
            &format!("dX {what}"),
            g_ours.get(xv.as_tensor()).expect("dX"),
            g_theirs.get(xv.as_tensor()).expect("dX"),
            TOL,
        );
    } else {
        assert!(g_ours.get(&x).is_none(), "{what}: untracked input got a gradient");
    }
    Ok(())
}

fn check_all(n: usize, i: usize, o: usize, seed: u64) -> Result<()> {
    for bias in [true, false] {
        for x_is_var in [true, false] {
            check(n, i, o, bias, x_is_var, seed)?;
        }
    }
    Ok(())
}

#[test]
fn degenerate_sizes() -> Result<()> {
    check_all(1, 1, 1, 1)?;
    check_all(1, 7, 3, 2)?;
    check_all(5, 1, 4, 3)?;
    check_all(6, 9, 1, 4)
}

#[test]
fn odd_sizes() -> Result<()> {
    check_all(3, 17, 11, 5)?;
    check_all(13, 33, 29, 6)?;
    check_all(64, 100, 10, 7)
}

#[test]
fn wide_outputs_split_over_threads() -> Result<()> {
    // >= 64 outputs on a multi-core machine: the forward product is split into column
    // blocks, one per thread (the last one shorter here).
    check_all(4, 50, 130, 8)?;
    check_all(2, 300, 64, 9)
}

#[test]
fn random_sizes() -> Result<()> {
    let mut rng = Rng::new(42);
    for seed in 0..12 {
        let (n, i, o) = (rng.range(1, 40), rng.range(1, 300), rng.range(1, 70));
        check_all(n, i, o, 100 + seed)?;
    }
    Ok(())
}

#[test]
fn cnn_dense_layer_size() -> Result<()> {
    check_all(32, 12544, 128, 8)
}

#[test]
fn non_contiguous_input_matches_its_copy() -> Result<()> {
    let mut rng = Rng::new(9);
    let xt = rng.tensor(&[23, 6])?; // transposed below into a strided [6, 23]
    let w = rng.tensor(&[5, 23])?;
    let b = rng.tensor(&[5])?;
    let layer = wick_nn::Linear::new(w, Some(b));
    let x = xt.t()?;
    assert!(!x.is_contiguous());
    let strided = layer.forward(&x)?;
    let copied = layer.forward(&x.contiguous()?)?;
    assert_close("strided input", &strided, &copied, 0.0);

    // And the gradient flows back through the transpose of a tracked input.
    let xv = Var::from_tensor(&xt)?;
    let y = layer.forward(&xv.as_tensor().t()?)?;
    let r = rng.tensor(y.dims())?;
    let g = (&y * &r)?.sum_all()?.backward()?;
    let want = r.matmul(layer.weight())?.t()?;
    assert_close("strided dX", g.get(xv.as_tensor()).expect("dX"), &want, TOL);
    Ok(())
}

#[test]
fn other_ranks_and_dtypes_fall_back_to_candle_nn() -> Result<()> {
    let mut rng = Rng::new(10);
    let w = rng.tensor(&[4, 6])?;
    let b = rng.tensor(&[4])?;
    let ours = wick_nn::Linear::new(w.clone(), Some(b.clone()));
    let theirs = candle_nn::Linear::new(w.clone(), Some(b.clone()));
    let x3 = rng.tensor(&[2, 3, 6])?;
    assert_close("rank 3", &ours.forward(&x3)?, &theirs.forward(&x3)?, 0.0);
    let x64 = rng.tensor(&[3, 6])?.to_dtype(DType::F64)?;
    let ours64 = wick_nn::Linear::new(w.to_dtype(DType::F64)?, Some(b.to_dtype(DType::F64)?));
    let y = ours64.forward(&x64)?;
    assert_eq!(y.dtype(), DType::F64);
    let want = theirs.forward(&x64.to_dtype(DType::F32)?)?;
    assert_close("f64", &y.to_dtype(DType::F32)?, &want, TOL);
    Ok(())
}

#[test]
fn shape_errors_name_the_sizes() -> Result<()> {
    let mut rng = Rng::new(11);
    let layer = wick_nn::Linear::new(rng.tensor(&[3, 10])?, Some(rng.tensor(&[3])?));
    let err = layer.forward(&rng.tensor(&[2, 12])?).unwrap_err().to_string();
    assert!(err.contains("input has 12 features, weight expects 10"), "{err}");

    let bad_bias = wick_nn::Linear::new(rng.tensor(&[3, 10])?, Some(rng.tensor(&[4])?));
    let err = bad_bias.forward(&rng.tensor(&[2, 10])?).unwrap_err().to_string();
    assert!(err.contains("bias") && err.contains('4') && err.contains('3'), "{err}");

    let bad_weight = wick_nn::Linear::new(rng.tensor(&[3, 10, 1])?, None);
    assert!(bad_weight.forward(&rng.tensor(&[2, 10])?).is_err());
    Ok(())
}

#[test]
fn var_builder_names_and_shapes_match_candle_nn() -> Result<()> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let fc = wick_nn::linear(10, 3, vb.pp("fc"))?;
    let head = wick_nn::linear_no_bias(3, 2, vb.pp("head"))?;
    let vars = varmap.data().lock().unwrap();
    let mut names: Vec<_> = vars.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["fc.bias", "fc.weight", "head.weight"]);
    assert_eq!(vars["fc.weight"].dims(), &[3, 10]);
    assert_eq!(vars["fc.bias"].dims(), &[3]);
    assert_eq!(vars["head.weight"].dims(), &[2, 3]);
    assert_eq!(fc.weight().dims(), &[3, 10]);
    assert!(head.bias().is_none());

    // Bias init: uniform within ±1/√in, as candle-nn.
    let bound = 1.0 / 10f32.sqrt();
    let bias: Vec<f32> = vars["fc.bias"].as_tensor().to_vec1()?;
    assert!(bias.iter().all(|v| v.abs() <= bound), "{bias:?}");
    Ok(())
}
