//! Layers under a mixed `DTypePolicy`: outputs in the compute dtype, values as f32 arithmetic on
//! rounded operands, gradients in f32 on the f32 variables.

mod common;

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use common::{assert_close, Rng};
use wick_nn::{Conv2d, Conv2dConfig, DTypePolicy, Linear, MaxPool2d};

/// `t` rounded to `dtype` and back to f32.
fn rounded(t: &Tensor, dtype: DType) -> Tensor {
    t.to_dtype(dtype).unwrap().to_dtype(DType::F32).unwrap()
}

fn f32_of(t: &Tensor) -> Tensor {
    t.to_dtype(DType::F32).unwrap()
}

/// The reference of a fused conv under `dtype`: Candle's f32 ops on rounded operands, the
/// conv output rounded before ReLU + pool, the result rounded.
fn reference_conv(x: &Tensor, w: &Tensor, b: &Tensor, dtype: DType) -> Result<Tensor> {
    let (x, w, b) = (rounded(x, dtype), rounded(w, dtype), rounded(b, dtype));
    let y = x.conv2d(&w, 0, 1, 1, 1)?.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)?;
    let y = rounded(&y, dtype).relu()?.max_pool2d(2)?;
    Ok(rounded(&y, dtype))
}

#[test]
fn conv_under_mixed_bfloat16_computes_in_bf16_and_trains_f32_variables() -> Result<()> {
    let mut rng = Rng::new(7);
    let x = Var::from_tensor(&rng.tensor(&[3, 4, 10, 10])?)?;
    let w = Var::from_tensor(&(rng.tensor(&[6, 4, 3, 3])? * 0.3)?)?;
    let b = Var::from_tensor(&(rng.tensor(&[6])? * 0.1)?)?;
    let conv = Conv2d::new(w.as_tensor().clone(), Some(b.as_tensor().clone()), Conv2dConfig::default())
        .with_relu()
        .with_max_pool(MaxPool2d::new(2));
    let mixed = conv.clone().with_policy(DTypePolicy::MIXED_BFLOAT16);
    assert_eq!(mixed.policy(), Some(DTypePolicy::MIXED_BFLOAT16));

    let y = mixed.forward(x.as_tensor())?;
    assert_eq!(y.dtype(), DType::BF16);
    assert_eq!(y.dims(), &[3, 6, 4, 4]);
    let want = reference_conv(x.as_tensor(), w.as_tensor(), b.as_tensor(), DType::BF16)?;
    // The same rounded operands, summed in another order in f32: at most a bf16 ulp apart.
    assert_close("bf16 conv output", &f32_of(&y), &want, 1.0 / 128.0);
    // And genuinely rounded: not the f32 output.
    let y32 = conv.forward(x.as_tensor())?;
    assert_eq!(y32.dtype(), DType::F32);
    assert_ne!(y32.flatten_all()?.to_vec1::<f32>()?, f32_of(&y).flatten_all()?.to_vec1::<f32>()?);

    // Gradients reach the f32 variables in f32, close to the f32 layer's.
    let grads = f32_of(&y).sqr()?.sum_all()?.backward()?;
    let grads32 = y32.sqr()?.sum_all()?.backward()?;
    for (name, v) in [("x", &x), ("weight", &w), ("bias", &b)] {
        let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.dtype(), DType::F32, "{name} gradient");
        let g32 = grads32.get(v.as_tensor()).unwrap();
        assert_close(&format!("{name} gradient"), g, g32, 0.05);
    }
    assert_eq!((w.dtype(), b.dtype()), (DType::F32, DType::F32));
    Ok(())
}

#[test]
fn conv_under_mixed_float16_matches_rounded_f32_arithmetic() -> Result<()> {
    let mut rng = Rng::new(11);
    let x = rng.tensor(&[2, 3, 9, 9])?;
    let w = (rng.tensor(&[5, 3, 3, 3])? * 0.4)?;
    let b = (rng.tensor(&[5])? * 0.1)?;
    let conv = Conv2d::new(w.clone(), Some(b.clone()), Conv2dConfig::default())
        .with_relu()
        .with_max_pool(MaxPool2d::new(2))
        .with_policy(DTypePolicy::MIXED_FLOAT16);
    let y = conv.forward(&x)?;
    assert_eq!(y.dtype(), DType::F16);
    assert_close("f16 conv output", &f32_of(&y), &reference_conv(&x, &w, &b, DType::F16)?, 1.0 / 1024.0);
    Ok(())
}

#[test]
fn linear_under_mixed_policies_keeps_f32_variables() -> Result<()> {
    let mut rng = Rng::new(3);
    let x = rng.tensor(&[8, 20])?;
    let w = Var::from_tensor(&(rng.tensor(&[5, 20])? * 0.3)?)?;
    let b = Var::from_tensor(&rng.tensor(&[5])?)?;
    let plain = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
    let y32 = plain.forward(&x)?;
    let grads32 = y32.sum_all()?.backward()?;
    for (policy, dtype, tol) in [
        (DTypePolicy::MIXED_BFLOAT16, DType::BF16, 1.0 / 128.0),
        (DTypePolicy::MIXED_FLOAT16, DType::F16, 1.0 / 1024.0),
    ] {
        let y = plain.clone().with_policy(policy).forward(&x)?;
        assert_eq!(y.dtype(), dtype, "{policy}");
        let want = rounded(
            &rounded(&x, dtype)
                .matmul(&rounded(w.as_tensor(), dtype).t()?)?
                .broadcast_add(&rounded(b.as_tensor(), dtype))?,
            dtype,
        );
        assert_close(&format!("{policy} output"), &f32_of(&y), &want, tol);
        let grads = f32_of(&y).sum_all()?.backward()?;
        for (name, v) in [("weight", &w), ("bias", &b)] {
            let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{policy}: no gradient for {name}"));
            assert_eq!(g.dtype(), DType::F32, "{policy}: {name} gradient");
            assert_close(&format!("{policy}: {name} gradient"), g, grads32.get(v.as_tensor()).unwrap(), 4.0 * tol);
        }
    }
    Ok(())
}

#[test]
fn float32_policy_casts_other_float_inputs_and_leaves_f32_alone() -> Result<()> {
    let mut rng = Rng::new(5);
    let x = rng.tensor(&[4, 6])?;
    let layer = Linear::new((rng.tensor(&[3, 6])? * 0.5)?, None);
    let plain = layer.forward(&x)?;
    let with = layer.clone().with_policy(DTypePolicy::FLOAT32);
    assert_eq!(with.forward(&x)?.to_vec2::<f32>()?, plain.to_vec2::<f32>()?);
    // Keras casts a floating input to the compute dtype: a bf16 input computes in f32.
    let y = with.forward(&x.to_dtype(DType::BF16)?)?;
    assert_eq!(y.dtype(), DType::F32);
    Ok(())
}

#[test]
fn pools_and_relu_run_in_their_input_dtype() -> Result<()> {
    let mut rng = Rng::new(9);
    let x = rng.tensor(&[2, 3, 8, 8])?;
    for dtype in [DType::BF16, DType::F16] {
        let xh = Var::from_tensor(&x.to_dtype(dtype)?)?;
        let xr = f32_of(xh.as_tensor());
        let cases: [(&str, Tensor, Tensor); 4] = [
            ("max_pool2d", wick_nn::max_pool2d(&xh, (2, 2), (2, 2))?, wick_nn::max_pool2d(&xr, (2, 2), (2, 2))?),
            ("avg_pool2d", wick_nn::avg_pool2d(&xh, (3, 3), (2, 2))?, wick_nn::avg_pool2d(&xr, (3, 3), (2, 2))?),
            ("global_avg_pool2d", wick_nn::global_avg_pool2d(&xh)?, wick_nn::global_avg_pool2d(&xr)?),
            ("relu", wick_nn::relu(&xh)?, wick_nn::relu(&xr)?),
        ];
        for (name, got, f32_result) in cases {
            assert_eq!(got.dtype(), dtype, "{name}");
            // The f32 op on the same values, rounded once: identical.
            let want = rounded(&f32_result, dtype).flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(f32_of(&got).flatten_all()?.to_vec1::<f32>()?, want, "{name} {dtype:?}");
            let grads = got.sum_all()?.backward()?;
            let g = grads.get(xh.as_tensor()).unwrap_or_else(|| panic!("{name}: no input gradient"));
            assert_eq!(g.dtype(), dtype, "{name} gradient");
        }
    }
    Ok(())
}

#[test]
fn f16_overflows_to_infinity_as_float16_does() -> Result<()> {
    // 300 · 300 = 90 000 > 65 504, the largest f16: the loss-scale optimizer's trigger.
    let layer = Linear::new(Tensor::full(300f32, (1, 1), &Device::Cpu)?, None).with_policy(DTypePolicy::MIXED_FLOAT16);
    let y = layer.forward(&Tensor::full(300f32, (1, 1), &Device::Cpu)?)?;
    assert!(f32_of(&y).to_vec2::<f32>()?[0][0].is_infinite());
    let bf =
        layer.clone().with_policy(DTypePolicy::MIXED_BFLOAT16).forward(&Tensor::full(300f32, (1, 1), &Device::Cpu)?)?;
    assert_eq!(f32_of(&bf).to_vec2::<f32>()?[0][0], 90112.0, "bf16 keeps f32's range (90 000 rounds to 90 112)");
    Ok(())
}
