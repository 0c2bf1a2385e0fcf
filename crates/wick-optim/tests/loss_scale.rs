//! `LossScaleOptimizer` against Keras 3: the loss scale, its counter, the inner optimizer's
//! iterations and the variables after every step of scripted finite / non-finite gradient
//! sequences (tests/data/loss_scale_golden.json, written by tests/data/gen_loss_scale_golden.py
//! with Keras 3.15.1), the default 2**15 / 2000 rule, state files, and real f16 overflow.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use serde_json::Value;
use wick_optim::rules::{AdamRule, SgdRule};
use wick_optim::{
    Error, InnerOptimizer, KerasOptimizer, LossScaleConfig, LossScaleOptimizer, LrControl, OptimizerConfig,
    OptimizerOptions, UpdateRule,
};

const GOLDEN: &str = include_str!("../../../tests/data/loss_scale_golden.json");

fn golden() -> Value {
    serde_json::from_str(GOLDEN).expect("loss_scale_golden.json is JSON")
}

/// A JSON number, or one of the strings "inf", "-inf", "nan".
fn float(v: &Value) -> f32 {
    match v {
        Value::String(s) if s == "inf" => f32::INFINITY,
        Value::String(s) if s == "-inf" => f32::NEG_INFINITY,
        Value::String(s) if s == "nan" => f32::NAN,
        v => v.as_f64().unwrap_or_else(|| panic!("not a float: {v}")) as f32,
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("an array").iter().map(float).collect()
}

/// The kernel `[2, 3]` and bias `[3]` from 9 values.
fn vars(values: &[f32]) -> Vec<(String, Var)> {
    let w = Var::from_vec(values[..6].to_vec(), (2, 3), &Device::Cpu).unwrap();
    let b = Var::from_vec(values[6..9].to_vec(), 3, &Device::Cpu).unwrap();
    vec![("kernel".to_string(), w), ("bias".to_string(), b)]
}

fn values(opt: &impl InnerOptimizer) -> Vec<f32> {
    opt.variables().iter().flat_map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
}

/// The 9 gradient values as a GradStore for the two variables (the `candle_nn::Optimizer`
/// path `Trainer` takes).
fn grad_store(vars: &[Var], g: &[f32]) -> GradStore {
    let mut store = GradStore::default();
    store.insert(vars[0].as_tensor(), Tensor::from_vec(g[..6].to_vec(), (2, 3), &Device::Cpu).unwrap());
    store.insert(vars[1].as_tensor(), Tensor::from_vec(g[6..9].to_vec(), 3, &Device::Cpu).unwrap());
    store
}

fn replay<R: UpdateRule>(scenario: &Value, config: OptimizerConfig<R>) {
    let name = scenario["name"].as_str().unwrap();
    let inner = KerasOptimizer::with_names(vars(&floats(&scenario["init"])), config).unwrap();
    let initial_scale = scenario["initial_scale"].as_f64().unwrap();
    let growth = scenario["dynamic_growth_steps"].as_u64().unwrap();
    let mut opt = LossScaleOptimizer::with_options(inner, initial_scale, growth).unwrap();
    assert_eq!(opt.inner().options().loss_scale_factor, None, "{name}: Keras clears the inner loss_scale_factor");
    assert_eq!(scenario["inner_loss_scale_factor_after_wrap"], Value::Null);
    assert_eq!(opt.loss_scale(), Some(initial_scale));
    let vars: Vec<Var> = opt.inner().vars().to_vec();
    for (i, step) in scenario["steps"].as_array().unwrap().iter().enumerate() {
        let kind = step["kind"].as_str().unwrap();
        let before = values(opt.inner());
        opt.step(&grad_store(&vars, &floats(&step["grads"]))).unwrap();
        let at = format!("{name} step {i} ({kind})");
        assert_eq!(opt.dynamic_scale(), step["dynamic_scale"].as_f64().unwrap(), "{at}: dynamic_scale");
        assert_eq!(LrControl::loss_scale(&opt), Some(opt.dynamic_scale()), "{at}: loss_scale");
        assert_eq!(opt.step_counter(), step["step_counter"].as_u64().unwrap(), "{at}: step_counter");
        assert_eq!(LrControl::iterations(&opt), step["iterations"].as_u64().unwrap(), "{at}: iterations");
        let scaled = opt.scale_loss(&Tensor::new(1.5f32, &Device::Cpu).unwrap()).unwrap();
        assert_eq!(scaled.to_scalar::<f32>().unwrap() as f64, step["scale_loss_1_5"].as_f64().unwrap(), "{at}");
        let got = values(opt.inner());
        if kind != "F" {
            assert_eq!(got, before, "{at}: a non-finite step changes no variable");
        }
        for (j, (g, w)) in got.iter().zip(floats(&step["variables"])).enumerate() {
            assert!((g - w).abs() <= 1e-6 + 1e-5 * w.abs(), "{at}: variable element {j}: got {g}, Keras {w}");
        }
    }
}

#[test]
fn scripted_sequences_match_keras_step_by_step() {
    let data = golden();
    let scenarios = data["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 4);
    for s in scenarios {
        let inner = &s["inner"];
        let lr = inner["learning_rate"].as_f64().unwrap();
        match inner["kind"].as_str().unwrap() {
            "Adam" => replay(s, OptimizerConfig::new(AdamRule::default(), lr)),
            "SGD" => {
                let rule = SgdRule { momentum: inner["momentum"].as_f64().unwrap_or(0.0), ..Default::default() };
                let options =
                    OptimizerOptions { loss_scale_factor: inner["loss_scale_factor"].as_f64(), ..Default::default() };
                replay(s, OptimizerConfig::new(rule, lr).with_options(options))
            }
            other => panic!("unknown inner optimizer {other}"),
        }
    }
}

/// Keras' defaults: ×2 after exactly 2000 finite steps, ÷2 (and a reset counter) on a
/// non-finite one, replayed over the 4005 steps of the golden run.
#[test]
fn default_scale_and_growth_steps_match_keras() {
    let data = golden();
    let dg = &data["default_growth"];
    let w = Var::zeros(1, DType::F32, &Device::Cpu).unwrap();
    let sgd = KerasOptimizer::with_names(vec![("w".into(), w.clone())], OptimizerConfig::new(SgdRule::default(), 0.0))
        .unwrap();
    let mut opt = LossScaleOptimizer::new(sgd);
    assert_eq!((opt.initial_scale(), opt.dynamic_growth_steps()), (32768.0, 2000));
    let mut plan = Vec::new();
    for run in dg["plan_runs"].as_array().unwrap() {
        let kind = run[0].as_str().unwrap().to_string();
        plan.extend(std::iter::repeat_n(kind, run[1].as_u64().unwrap() as usize));
    }
    let records = dg["records"].as_array().unwrap();
    let mut next = records.iter().peekable();
    let one = Tensor::ones(1, DType::F32, &Device::Cpu).unwrap();
    let bad = |kind: &str| Tensor::new(&[if kind == "N" { f32::NAN } else { f32::INFINITY }], &Device::Cpu).unwrap();
    for (i, kind) in plan.iter().enumerate() {
        let g = if kind == "F" { one.clone() } else { bad(kind) };
        opt.apply_gradients_optional(&[Some(g)]).unwrap();
        if let Some(r) = next.next_if(|r| r["step"].as_u64() == Some(i as u64)) {
            assert_eq!(r["kind"].as_str(), Some(kind.as_str()));
            let got = (opt.dynamic_scale(), opt.step_counter(), LrControl::iterations(&opt));
            let want = (
                r["dynamic_scale"].as_f64().unwrap(),
                r["step_counter"].as_u64().unwrap(),
                r["iterations"].as_u64().unwrap(),
            );
            assert_eq!(got, want, "step {i} ({kind})");
        }
    }
    assert!(next.next().is_none(), "every golden record was checked");
}

fn adam_wrapped(values: &[f32]) -> LossScaleOptimizer<KerasOptimizer<AdamRule>> {
    let inner = KerasOptimizer::with_names(vars(values), OptimizerConfig::new(AdamRule::default(), 0.01)).unwrap();
    LossScaleOptimizer::with_options(inner, 64.0, 3).unwrap()
}

const INIT: [f32; 9] = [0.5, -0.3, 0.8, -1.2, 0.05, 0.0, 0.1, -0.2, 0.3];

fn grads(step: usize, bad: bool) -> Vec<Option<Tensor>> {
    let mut g: Vec<f32> = (0..9).map(|i| ((i * 7 + step * 3) % 11) as f32 - 5.0).collect();
    if bad {
        g[step % 9] = f32::INFINITY;
    }
    vec![
        Some(Tensor::from_vec(g[..6].to_vec(), (2, 3), &Device::Cpu).unwrap()),
        Some(Tensor::from_vec(g[6..].to_vec(), 3, &Device::Cpu).unwrap()),
    ]
}

#[test]
fn state_round_trips_scale_counter_and_slots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    let mut a = adam_wrapped(&INIT);
    // Scale 64 → 128 after 3 finite steps, → 64 on the non-finite one, then counter 2.
    for (s, bad) in [false, false, false, true, false, false].into_iter().enumerate() {
        a.apply_gradients_optional(&grads(s, bad)).unwrap();
    }
    assert_eq!((a.dynamic_scale(), a.step_counter(), LrControl::iterations(&a)), (64.0, 2, 5));
    let extra = [("epoch".to_string(), "7".to_string())];
    a.save_state_with_metadata(&path, &extra).unwrap();

    // A fresh optimizer over copies of the variables, loaded from the file.
    let mut b = adam_wrapped(&values(a.inner()));
    assert_eq!((b.dynamic_scale(), b.step_counter()), (64.0, 0));
    b.load_state(&path).unwrap();
    assert_eq!((b.dynamic_scale(), b.step_counter(), LrControl::iterations(&b)), (64.0, 2, 5));
    // Both continue identically, through the scale's next growth (step 8) and a skip.
    for (s, bad) in [false, false, true, false].into_iter().enumerate() {
        a.apply_gradients_optional(&grads(10 + s, bad)).unwrap();
        b.apply_gradients_optional(&grads(10 + s, bad)).unwrap();
        assert_eq!(values(a.inner()), values(b.inner()), "step {s} after resume");
        assert_eq!((a.dynamic_scale(), a.step_counter()), (b.dynamic_scale(), b.step_counter()));
    }
    assert_eq!(a.dynamic_scale(), 64.0, "grew to 128 at the first step, halved at the third");
    assert_eq!(a.step_counter(), 1);
}

#[test]
fn a_state_without_the_loss_scale_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.safetensors");
    let plain = KerasOptimizer::with_names(vars(&INIT), OptimizerConfig::new(AdamRule::default(), 0.01)).unwrap();
    plain.save_state(&path).unwrap();
    let mut opt = adam_wrapped(&INIT);
    opt.apply_gradients_optional(&grads(0, true)).unwrap();
    let err = opt.load_state(&path).unwrap_err();
    assert!(matches!(err, Error::State { .. }), "{err:?}");
    assert!(err.to_string().contains("loss_scale_optimizer.dynamic_scale"), "{err}");
    assert_eq!((opt.dynamic_scale(), opt.step_counter(), LrControl::iterations(&opt)), (32.0, 0, 0));
    // The other way round works: a plain optimizer ignores the extra entries.
    let wrapped_path = dir.path().join("wrapped.safetensors");
    opt.save_state(&wrapped_path).unwrap();
    let mut plain = KerasOptimizer::with_names(vars(&INIT), OptimizerConfig::new(AdamRule::default(), 0.01)).unwrap();
    plain.load_state(&wrapped_path).unwrap();
}

#[test]
fn invalid_arguments_are_typed_errors() {
    let inner = || KerasOptimizer::with_names(vars(&INIT), OptimizerConfig::new(SgdRule::default(), 0.1)).unwrap();
    for (scale, steps) in [(0.0, 10), (-1.0, 10), (f64::INFINITY, 10), (1e39, 10), (f64::NAN, 10), (8.0, 0)] {
        let err = LossScaleOptimizer::with_options(inner(), scale, steps).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { context: "LossScaleOptimizer", .. }), "{scale} {steps}: {err}");
    }
    let mut opt = LossScaleOptimizer::new(inner());
    let err = opt.apply_gradients_optional(&grads(0, false)[..1]).unwrap_err();
    assert!(err.to_string().contains("1 gradients for 2 variables"), "{err}");
}

/// Through `candle_nn::Optimizer` as `Trainer` drives it: a loss computed through f16 whose
/// scaled gradient overflows f16 is skipped, halving the scale, until the gradient fits.
#[test]
fn f16_overflow_halves_the_scale_until_the_gradient_fits() {
    let w = Var::ones(4, DType::F32, &Device::Cpu).unwrap();
    let config = LossScaleConfig::new(OptimizerConfig::new(SgdRule::default(), 0.5));
    let mut opt = <LossScaleOptimizer<KerasOptimizer<SgdRule>> as Optimizer>::new(vec![w.clone()], config).unwrap();
    // loss = Σ 1000·w computed in f16: dloss/dw = 1000, and S·1000 > 65504 overflows f16
    // while S > 65.5, so 32768 → 64 takes 9 skipped steps.
    let loss = || (w.as_tensor().to_dtype(DType::F16).unwrap() * 1000.0).unwrap().sum_all().unwrap();
    let mut skipped = 0;
    while w.to_vec1::<f32>().unwrap() == [1.0; 4] {
        assert!(skipped < 20, "never applied");
        let scaled = opt.scale_loss(&loss()).unwrap();
        opt.backward_step(&scaled).unwrap();
        skipped += usize::from(w.to_vec1::<f32>().unwrap() == [1.0; 4]);
    }
    assert_eq!(skipped, 9);
    assert_eq!((opt.dynamic_scale(), opt.step_counter(), LrControl::iterations(&opt)), (64.0, 1, 1));
    // The applied gradient is the true one, 1000 (64 000 / 64): w = 1 − 0.5 · 1000.
    assert_eq!(w.to_vec1::<f32>().unwrap(), [-499.0; 4]);
    assert_eq!(w.dtype(), DType::F32);
}
