//! BatchNorm: the CPU ops against the Candle-op path (f64), Keras' moving-average rule, the
//! frozen layer's inference mode, and the fused ReLU6's gradient.

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use wick_nn::{batch_norm, BatchNorm, BatchNormConfig};

fn input(dims: (usize, usize, usize, usize), seed: u64) -> Vec<f32> {
    let n = dims.0 * dims.1 * dims.2 * dims.3;
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) * 8.0 - 3.0 + (i % 7) as f32 * 0.1
        })
        .collect()
}

/// A layer with γ, β and moving statistics set to non-trivial values, in `dtype`.
fn layer(c: usize, dtype: DType, relu6: bool) -> (BatchNorm, VarMap) {
    let varmap = VarMap::new();
    let bn = batch_norm(c, BatchNormConfig::default(), VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu)).unwrap();
    let set = |name: &str, f: &dyn Fn(usize) -> f32| {
        let data = varmap.data().lock().unwrap();
        let v = &data[name];
        v.set(&Tensor::from_vec((0..c).map(f).collect::<Vec<_>>(), c, &Device::Cpu).unwrap().to_dtype(dtype).unwrap())
            .unwrap();
    };
    set("weight", &|i| 0.5 + 0.25 * i as f32);
    set("bias", &|i| 0.1 * i as f32 - 0.2);
    set("running_mean", &|i| 0.3 * i as f32);
    set("running_var", &|i| 1.0 + 0.5 * i as f32);
    (if relu6 { bn.with_relu6() } else { bn }, varmap)
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

/// Output and gradients (input, γ, β) of `bn` on `x` with upstream gradient `w`.
fn run(bn: &BatchNorm, x: &Var, w: &Tensor, train: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let y = bn.forward_t(x.as_tensor(), train).unwrap();
    let g = (y.to_dtype(DType::F64).unwrap() * w).unwrap().sum_all().unwrap().backward().unwrap();
    let get = |t: &Tensor| vals(g.get(t).unwrap());
    (vals(&y), get(x.as_tensor()), get(bn.gamma()), get(bn.beta()))
}

#[test]
fn cpu_ops_match_the_candle_op_path_in_both_modes() {
    let dims = (3, 4, 5, 6);
    let x32 = input(dims, 7);
    let w =
        Tensor::from_vec(input(dims, 9).iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), dims, &Device::Cpu).unwrap();
    for relu6 in [false, true] {
        for train in [true, false] {
            let (fast, fast_map) = layer(4, DType::F32, relu6);
            let (slow, slow_map) = layer(4, DType::F64, relu6);
            let xf = Var::from_vec(x32.clone(), dims, &Device::Cpu).unwrap();
            let xs = Var::from_tensor(&xf.as_tensor().to_dtype(DType::F64).unwrap()).unwrap();
            let a = run(&fast, &xf, &w, train);
            let b = run(&slow, &xs, &w, train);
            let what = format!("relu6={relu6} train={train}");
            close(&a.0, &b.0, 1e-5, &format!("{what} output"));
            close(&a.1, &b.1, 1e-4, &format!("{what} dx"));
            close(&a.2, &b.2, 1e-4, &format!("{what} dgamma"));
            close(&a.3, &b.3, 1e-4, &format!("{what} dbeta"));
            for name in ["running_mean", "running_var"] {
                let f = vals(fast_map.data().lock().unwrap()[name].as_tensor());
                let s = vals(slow_map.data().lock().unwrap()[name].as_tensor());
                close(&f, &s, 1e-5, &format!("{what} {name}"));
            }
        }
    }
}

#[test]
fn training_steps_follow_keras_moving_average_and_biased_variance() {
    let (bn, varmap) = layer(2, DType::F32, false);
    let x = Tensor::from_vec(vec![1f32, 2., 3., 4., 10., 20., 30., 40.], (2, 2, 2, 1), &Device::Cpu).unwrap();
    bn.forward_t(&x, true).unwrap();
    // Channel 0 holds 1, 2, 10, 20; channel 1 holds 3, 4, 30, 40.
    let stats = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64)
    };
    let (m0, v0) = stats(&[1., 2., 10., 20.]);
    let (m1, v1) = stats(&[3., 4., 30., 40.]);
    let data = varmap.data().lock().unwrap();
    close(&vals(data["running_mean"].as_tensor()), &[0.99 * 0.0 + 0.01 * m0, 0.99 * 0.3 + 0.01 * m1], 1e-6, "mean");
    close(&vals(data["running_var"].as_tensor()), &[0.99 * 1.0 + 0.01 * v0, 0.99 * 1.5 + 0.01 * v1], 1e-6, "var");
}

#[test]
fn a_frozen_layer_runs_in_inference_mode_in_training_steps_and_changes_nothing() {
    let (bn, varmap) = layer(4, DType::F32, true);
    let dims = (2, 4, 3, 3);
    let x = Tensor::from_vec(input(dims, 3), dims, &Device::Cpu).unwrap();
    let before: Vec<Vec<f64>> =
        ["running_mean", "running_var"].iter().map(|n| vals(varmap.data().lock().unwrap()[*n].as_tensor())).collect();
    let inference = vals(&bn.forward_t(&x, false).unwrap());
    bn.set_trainable(false);
    let frozen = vals(&bn.forward_t(&x, true).unwrap());
    assert_eq!(inference, frozen);
    let after: Vec<Vec<f64>> =
        ["running_mean", "running_var"].iter().map(|n| vals(varmap.data().lock().unwrap()[*n].as_tensor())).collect();
    assert_eq!(before, after, "a frozen batch norm must not move its statistics");
    // Inference is γ·(x − mean)/√(var + ε) + β, clamped to [0, 6].
    let xs = vals(&x);
    for (i, y) in frozen.iter().enumerate() {
        let c = (i / 9) % 4;
        let want = (0.5 + 0.25 * c as f64) * (xs[i] - 0.3 * c as f64) / (1.0 + 0.5 * c as f64 + 1e-3).sqrt()
            + 0.1 * c as f64
            - 0.2;
        assert!((y - want.clamp(0.0, 6.0)).abs() < 1e-5, "{i}: {y} vs {want}");
    }
    bn.set_trainable(true);
    bn.forward_t(&x, true).unwrap();
    let moved = vals(varmap.data().lock().unwrap()["running_mean"].as_tensor());
    assert_ne!(moved, before[0], "a trainable batch norm updates its statistics in training steps");
}

#[test]
fn bad_input_is_an_error_naming_the_shapes() {
    let (bn, _) = layer(4, DType::F32, false);
    let x = Tensor::zeros((2, 3, 2, 2), DType::F32, &Device::Cpu).unwrap();
    let e = bn.forward_t(&x, true).unwrap_err().to_string();
    assert!(e.contains('4') && e.contains('3'), "{e}");
    let v = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
    let e = bn.forward_t(&v, false).unwrap_err().to_string();
    assert!(e.contains("rank"), "{e}");
}
