//! The generic optimizer: candle_nn::Optimizer, validation, weight-decay exclusions,
//! schedules under gradient accumulation, the object-safe handle.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use wick_optim::rules::{AdamRule, AdamWRule, SgdRule};
use wick_optim::{
    Error, KerasOptimizer, LearningRateSchedule, LrControl, OptimizerConfig, OptimizerOptions, UpdateRule,
};

fn var(v: &[f32]) -> Var {
    Var::new(v, &Device::Cpu).unwrap()
}

fn vals(v: &Var) -> Vec<f32> {
    v.as_tensor().to_vec1().unwrap()
}

fn sgd(lr: f64) -> OptimizerConfig<SgdRule> {
    OptimizerConfig::new(SgdRule::default(), lr)
}

/// `with_names` with default names, returning this crate's error.
fn build<R: UpdateRule>(vars: Vec<Var>, cfg: OptimizerConfig<R>) -> wick_optim::Result<KerasOptimizer<R>> {
    KerasOptimizer::with_names(vars.into_iter().enumerate().map(|(i, v)| (format!("var{i}"), v)).collect(), cfg)
}

fn invalid(e: Error) -> String {
    match e {
        Error::InvalidArgument { context, message } => format!("{context}: {message}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn candle_optimizer_step_skips_variables_without_gradient() {
    let a = var(&[1.0, 2.0]);
    let b = var(&[3.0]);
    let mut opt = KerasOptimizer::<SgdRule>::new(vec![a.clone(), b.clone()], sgd(0.5)).unwrap();
    // loss = sum(a²): grad 2a; b has no gradient.
    let loss = a.as_tensor().sqr().unwrap().sum_all().unwrap();
    opt.backward_step(&loss).unwrap();
    assert_eq!(vals(&a), [0.0, 0.0]);
    assert_eq!(vals(&b), [3.0]);
    assert_eq!(opt.iterations(), 1);
    assert_eq!(Optimizer::learning_rate(&opt), 0.5);
    Optimizer::set_learning_rate(&mut opt, 0.25);
    assert_eq!(Optimizer::learning_rate(&opt), 0.25);

    // Only b takes part in this loss: a has no gradient but b does.
    let loss = b.as_tensor().sum_all().unwrap();
    opt.backward_step(&loss).unwrap();
    assert_eq!(vals(&b), [2.75]);

    // No gradient at all is an error, and nothing changes.
    let c = var(&[1.0]);
    let loss = c.as_tensor().sum_all().unwrap();
    assert!(opt.backward_step(&loss).is_err());
    assert_eq!(opt.raw_step(), 2);
}

#[test]
fn default_names_and_state_keys() {
    let a = var(&[1.0, 2.0]);
    let opt = KerasOptimizer::<SgdRule>::new(vec![a.clone(), var(&[0.0])], sgd(0.1)).unwrap();
    assert_eq!(opt.var_names(), ["var0", "var1"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.safetensors");
    let cfg = OptimizerConfig::new(AdamRule::default(), 0.1).with_options(OptimizerOptions {
        use_ema: true,
        gradient_accumulation_steps: Some(3),
        ..Default::default()
    });
    let opt = KerasOptimizer::new(vec![a], cfg).unwrap();
    opt.save_state(&path).unwrap();
    let mut keys: Vec<String> = candle_core::safetensors::load(&path, &Device::Cpu).unwrap().into_keys().collect();
    keys.sort();
    assert_eq!(keys, ["var0/ema", "var0/gradient_accumulator", "var0/momentum", "var0/velocity"]);
}

#[test]
fn save_state_creates_missing_folders() {
    let opt = KerasOptimizer::new(vec![var(&[1.0])], OptimizerConfig::new(AdamRule::default(), 0.1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints/run1/optimizer.safetensors");
    opt.save_state(&path).unwrap();
    let mut fresh = KerasOptimizer::new(vec![var(&[1.0])], OptimizerConfig::new(AdamRule::default(), 0.1)).unwrap();
    fresh.load_state(&path).unwrap();
}

#[test]
fn validation_follows_keras() {
    let make = |o: OptimizerOptions| build(vec![var(&[1.0])], sgd(0.1).with_options(o));
    let two_clips = OptimizerOptions { clipnorm: Some(1.0), clipvalue: Some(1.0), ..Default::default() };
    assert!(invalid(make(two_clips).err().unwrap()).contains("only one"));
    let bad_ema = OptimizerOptions { use_ema: true, ema_momentum: 1.5, ..Default::default() };
    assert!(invalid(make(bad_ema).err().unwrap()).contains("ema_momentum"));
    // Keras checks ema_momentum only with use_ema.
    assert!(make(OptimizerOptions { ema_momentum: 1.5, ..Default::default() }).is_ok());
    let bad_freq = OptimizerOptions { use_ema: true, ema_overwrite_frequency: Some(0), ..Default::default() };
    assert!(make(bad_freq).is_err());
    for n in [0, 1] {
        let o = OptimizerOptions { gradient_accumulation_steps: Some(n), ..Default::default() };
        assert!(invalid(make(o).err().unwrap()).contains("gradient_accumulation_steps"));
    }
    let o = OptimizerOptions { gradient_accumulation_steps: Some(2), ..Default::default() };
    assert!(make(o).is_ok());
    // SGD momentum out of [0, 1].
    let e = build(vec![var(&[1.0])], OptimizerConfig::new(SgdRule { momentum: 2.0, nesterov: false }, 0.1));
    assert!(invalid(e.err().unwrap()).starts_with("SGD"));
    // AdamW requires weight_decay; `new` gives it Keras' 0.004.
    let cfg = OptimizerConfig::new(AdamWRule::default(), 0.001);
    assert_eq!(cfg.options.weight_decay, Some(0.004));
    let cfg = cfg.with_options(OptimizerOptions::default());
    let e = build(vec![var(&[1.0])], cfg);
    assert!(invalid(e.err().unwrap()).starts_with("AdamW"));
    assert_eq!(OptimizerConfig::new(AdamRule::default(), 0.001).options.weight_decay, None);
    // Duplicate names.
    let e = KerasOptimizer::with_names(vec![("x".into(), var(&[1.0])), ("x".into(), var(&[2.0]))], sgd(0.1));
    assert!(invalid(e.err().unwrap()).contains("\"x\""));
    // Wrong number of gradients.
    let mut opt = build(vec![var(&[1.0])], sgd(0.1)).unwrap();
    assert!(opt.apply_gradients(&[]).is_err());
}

#[test]
fn weight_decay_exclusions() {
    let k = var(&[1.0]);
    let b = var(&[1.0]);
    let o = OptimizerOptions { weight_decay: Some(0.5), ..Default::default() };
    let mut opt = KerasOptimizer::with_names(
        vec![("dense/kernel".into(), k.clone()), ("dense/bias".into(), b.clone())],
        sgd(0.1).with_options(o),
    )
    .unwrap();
    opt.exclude_from_weight_decay(&["bias"]);
    let zero = Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap();
    opt.apply_gradients(&[zero.clone(), zero]).unwrap();
    // θ − θ·wd·η = 1 − 0.05
    assert_eq!(vals(&k), [0.95]);
    assert_eq!(vals(&b), [1.0]);
}

/// Keras `ExponentialDecay(0.1, 1, 0.5)`.
#[derive(Debug)]
struct Halving;

impl LearningRateSchedule for Halving {
    fn name(&self) -> &'static str {
        "ExponentialDecay"
    }
    fn lr_at(&self, step: u64) -> f64 {
        0.1 * 0.5f64.powi(step as i32)
    }
}

#[test]
fn schedule_under_accumulation_sees_raw_steps() {
    // Keras: ExponentialDecay(0.1, 1, 0.5) with N=2 updates with lr 0.05, then 0.0125.
    let w = var(&[0.0]);
    let o = OptimizerOptions { gradient_accumulation_steps: Some(2), ..Default::default() };
    let mut opt =
        KerasOptimizer::new(vec![w.clone()], OptimizerConfig::new(SgdRule::default(), Halving).with_options(o))
            .unwrap();
    let one = Tensor::ones(1, DType::F32, &Device::Cpu).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(LrControl::learning_rate(&opt));
        opt.apply_gradients(std::slice::from_ref(&one)).unwrap();
    }
    assert_eq!(seen, [0.1, 0.05, 0.025, 0.0125].map(|x: f64| x as f32 as f64));
    assert!((vals(&w)[0] - (-0.05 - 0.0125)).abs() < 1e-7, "{:?}", vals(&w));
    assert_eq!(opt.iterations(), 2);
    assert_eq!(opt.raw_step(), 4);
}

#[test]
fn lr_control_is_object_safe() {
    let mut opts: Vec<Box<dyn LrControl>> = vec![
        Box::new(KerasOptimizer::new(vec![var(&[1.0])], sgd(0.1)).unwrap()),
        Box::new(KerasOptimizer::new(vec![var(&[1.0])], OptimizerConfig::new(AdamRule::default(), Halving)).unwrap()),
    ];
    for o in opts.iter_mut() {
        o.set_learning_rate(0.5);
        assert_eq!(o.learning_rate(), 0.5);
        assert_eq!(o.iterations(), 0);
    }
    assert_eq!(opts[1].name(), "Adam");
    let loss = Tensor::new(2.0f32, &Device::Cpu).unwrap();
    let ls = KerasOptimizer::new(
        vec![var(&[1.0])],
        sgd(0.1).with_options(OptimizerOptions { loss_scale_factor: Some(4.0), ..Default::default() }),
    )
    .unwrap();
    assert_eq!(ls.scale_loss(&loss).unwrap().to_scalar::<f32>().unwrap(), 8.0);
}

#[test]
fn global_clipnorm_of_non_finite_gradients_is_nan() {
    let w = var(&[1.0, 1.0]);
    let o = OptimizerOptions { global_clipnorm: Some(1.0), ..Default::default() };
    let mut opt = KerasOptimizer::new(vec![w.clone()], sgd(0.1).with_options(o)).unwrap();
    let g = Tensor::new(&[f32::INFINITY, 0.0], &Device::Cpu).unwrap();
    opt.apply_gradients(&[g]).unwrap();
    assert!(vals(&w).iter().all(|x| x.is_nan()));
}
