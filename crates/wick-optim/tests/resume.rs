//! Acceptance: for every optimizer, 3 steps + save_state + a fresh optimizer + load_state +
//! 2 steps gives the same weights, bit for bit, as 5 uninterrupted steps — plain, with EMA,
//! with gradient accumulation, with a schedule, and all together.

#[path = "support/golden_data.rs"]
mod golden_data;

use candle_core::{Device, Tensor, Var};
use golden_data::{GRADS, INIT};
use wick_optim::{
    rules, Error, KerasOptimizer, LearningRate, LearningRateSchedule, OptimizerConfig, OptimizerOptions, UpdateRule,
};

/// A tiny schedule: `0.05 · 0.8^step`.
#[derive(Debug)]
struct TestDecay;

impl LearningRateSchedule for TestDecay {
    fn name(&self) -> &'static str {
        "TestDecay"
    }
    fn lr_at(&self, step: u64) -> f64 {
        0.05 * 0.8f64.powi(step as i32)
    }
}

fn fresh_vars(values: Option<&[Var]>) -> Vec<(String, Var)> {
    let (w, b) = match values {
        Some(v) => (
            Var::from_tensor(&v[0].as_tensor().copy().unwrap()).unwrap(),
            Var::from_tensor(&v[1].as_tensor().copy().unwrap()).unwrap(),
        ),
        None => {
            let w: Vec<f32> = INIT[..6].iter().map(|x| *x as f32).collect();
            let b: Vec<f32> = INIT[6..].iter().map(|x| *x as f32).collect();
            (Var::from_vec(w, (2, 3), &Device::Cpu).unwrap(), Var::from_vec(b, 3, &Device::Cpu).unwrap())
        }
    };
    vec![("dense/kernel".to_string(), w), ("dense/bias".to_string(), b)]
}

fn grads(step: usize) -> Vec<Tensor> {
    let g = &GRADS[step];
    let w: Vec<f32> = g[..6].iter().map(|x| *x as f32).collect();
    let b: Vec<f32> = g[6..].iter().map(|x| *x as f32).collect();
    vec![Tensor::from_vec(w, (2, 3), &Device::Cpu).unwrap(), Tensor::from_vec(b, 3, &Device::Cpu).unwrap()]
}

fn bits(vars: &[Var]) -> Vec<u32> {
    vars.iter().flat_map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()).map(f32::to_bits).collect()
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    Plain,
    Ema,
    Accumulation,
    Schedule,
    All,
}

fn config<R: UpdateRule + Default>(variant: Variant) -> OptimizerConfig<R> {
    let lr: LearningRate = match variant {
        Variant::Schedule | Variant::All => TestDecay.into(),
        _ => 0.05.into(),
    };
    let mut c = OptimizerConfig::new(R::default(), lr);
    let o: &mut OptimizerOptions = &mut c.options;
    if matches!(variant, Variant::Ema | Variant::All) {
        o.use_ema = true;
        o.ema_momentum = 0.9;
        o.ema_overwrite_frequency = Some(4);
    }
    if matches!(variant, Variant::Accumulation | Variant::All) {
        o.gradient_accumulation_steps = Some(2);
    }
    if matches!(variant, Variant::All) {
        o.weight_decay = Some(0.01);
        o.clipnorm = Some(0.5);
    }
    c
}

fn resume_one<R: UpdateRule + Default>(variant: Variant) {
    let name = R::default().name();
    // 5 uninterrupted steps.
    let mut straight = KerasOptimizer::with_names(fresh_vars(None), config::<R>(variant)).unwrap();
    for s in 0..5 {
        straight.apply_gradients(&grads(s)).unwrap();
    }
    // 3 steps, save, a fresh optimizer on copies of the weights, load, 2 steps.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    let mut first = KerasOptimizer::with_names(fresh_vars(None), config::<R>(variant)).unwrap();
    for s in 0..3 {
        first.apply_gradients(&grads(s)).unwrap();
    }
    first.save_state(&path).unwrap();
    let mut second = KerasOptimizer::with_names(fresh_vars(Some(first.vars())), config::<R>(variant)).unwrap();
    second.load_state(&path).unwrap();
    assert_eq!(second.raw_step(), 3, "{name} {variant:?}");
    for s in 3..5 {
        second.apply_gradients(&grads(s)).unwrap();
    }
    assert_eq!(straight.iterations(), second.iterations(), "{name} {variant:?}");
    assert_eq!(bits(straight.vars()), bits(second.vars()), "{name} {variant:?}: weights differ");
    assert_ne!(
        bits(straight.vars()),
        bits(&fresh_vars(None).into_iter().map(|(_, v)| v).collect::<Vec<_>>()),
        "{name} {variant:?}: the weights did not move"
    );
    if matches!(variant, Variant::Ema | Variant::All) {
        straight.finalize_variable_values().unwrap();
        second.finalize_variable_values().unwrap();
        assert_eq!(bits(straight.vars()), bits(second.vars()), "{name} {variant:?}: EMA differs");
    }
}

fn resume_all<R: UpdateRule + Default>() {
    for v in [Variant::Plain, Variant::Ema, Variant::Accumulation, Variant::Schedule, Variant::All] {
        resume_one::<R>(v);
    }
}

macro_rules! resume_tests {
    ($($test:ident: $rule:ty,)*) => {
        $(
            #[test]
            fn $test() {
                resume_all::<$rule>();
            }
        )*
    };
}

resume_tests! {
    resume_sgd: rules::SgdRule,
    resume_adam: rules::AdamRule,
    resume_adamw: rules::AdamWRule,
    resume_adadelta: rules::AdadeltaRule,
    resume_adagrad: rules::AdagradRule,
    resume_adamax: rules::AdamaxRule,
    resume_nadam: rules::NadamRule,
    resume_ftrl: rules::FtrlRule,
    resume_rmsprop: rules::RmspropRule,
    resume_lion: rules::LionRule,
    resume_lamb: rules::LambRule,
    resume_adafactor: rules::AdafactorRule,
}

#[test]
fn resume_sgd_momentum_and_amsgrad() {
    // Rules whose defaults keep no slots / fewer slots: check the slot-carrying variants too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.safetensors");
    let make = || OptimizerConfig::new(rules::SgdRule { momentum: 0.9, nesterov: true }, 0.05);
    let mut a = KerasOptimizer::with_names(fresh_vars(None), make()).unwrap();
    let mut b = KerasOptimizer::with_names(fresh_vars(None), make()).unwrap();
    for s in 0..3 {
        a.apply_gradients(&grads(s)).unwrap();
        b.apply_gradients(&grads(s)).unwrap();
    }
    a.save_state(&path).unwrap();
    let mut c = KerasOptimizer::with_names(fresh_vars(Some(a.vars())), make()).unwrap();
    c.load_state(&path).unwrap();
    for s in 3..5 {
        b.apply_gradients(&grads(s)).unwrap();
        c.apply_gradients(&grads(s)).unwrap();
    }
    assert_eq!(bits(b.vars()), bits(c.vars()));

    let make = || OptimizerConfig::new(rules::AdamRule { amsgrad: true, ..Default::default() }, 0.05);
    let mut a = KerasOptimizer::with_names(fresh_vars(None), make()).unwrap();
    let mut b = KerasOptimizer::with_names(fresh_vars(None), make()).unwrap();
    for s in 0..3 {
        a.apply_gradients(&grads(s)).unwrap();
        b.apply_gradients(&grads(s)).unwrap();
    }
    a.save_state(&path).unwrap();
    let mut c = KerasOptimizer::with_names(fresh_vars(Some(a.vars())), make()).unwrap();
    c.load_state(&path).unwrap();
    for s in 3..5 {
        b.apply_gradients(&grads(s)).unwrap();
        c.apply_gradients(&grads(s)).unwrap();
    }
    assert_eq!(bits(b.vars()), bits(c.vars()));
}

fn state_message(e: Error) -> String {
    match e {
        Error::State { message, .. } => message,
        other => panic!("expected Error::State, got {other:?}"),
    }
}

#[test]
fn state_for_other_variables_is_an_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adam.safetensors");
    let make = || OptimizerConfig::new(rules::AdamRule::default(), 0.01);
    let mut opt = KerasOptimizer::with_names(fresh_vars(None), make()).unwrap();
    opt.apply_gradients(&grads(0)).unwrap();
    opt.save_state(&path).unwrap();

    // A variable with another name.
    let mut vars = fresh_vars(None);
    vars[1].0 = "dense_1/bias".to_string();
    let mut other = KerasOptimizer::with_names(vars, make()).unwrap();
    let msg = state_message(other.load_state(&path).unwrap_err());
    assert!(msg.contains("dense_1/bias"), "{msg}");
    assert_eq!(other.raw_step(), 0, "a failed load changes nothing");

    // One variable fewer: the extra one in the file is named.
    let mut vars = fresh_vars(None);
    vars.truncate(1);
    let mut fewer = KerasOptimizer::with_names(vars, make()).unwrap();
    let msg = state_message(fewer.load_state(&path).unwrap_err());
    assert!(msg.contains("dense/bias"), "{msg}");

    // Another shape.
    let mut vars = fresh_vars(None);
    vars[1].1 = Var::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut shaped = KerasOptimizer::with_names(vars, make()).unwrap();
    let msg = state_message(shaped.load_state(&path).unwrap_err());
    assert!(msg.contains("dense/bias") && msg.contains('4'), "{msg}");

    // Another optimizer.
    let mut sgd =
        KerasOptimizer::with_names(fresh_vars(None), OptimizerConfig::new(rules::SgdRule::default(), 0.01)).unwrap();
    let msg = state_message(sgd.load_state(&path).unwrap_err());
    assert!(msg.contains("Adam") && msg.contains("SGD"), "{msg}");

    // Same variables, but this optimizer keeps an EMA the file lacks: the slot is named.
    let mut ema = KerasOptimizer::with_names(
        fresh_vars(None),
        make().with_options(OptimizerOptions { use_ema: true, ..Default::default() }),
    )
    .unwrap();
    let msg = state_message(ema.load_state(&path).unwrap_err());
    assert!(msg.contains("dense/kernel") && msg.contains("ema"), "{msg}");

    // And the other way: the file has an amsgrad slot this optimizer does not keep.
    let ams = || OptimizerConfig::new(rules::AdamRule { amsgrad: true, ..Default::default() }, 0.01);
    let a = KerasOptimizer::with_names(fresh_vars(None), ams()).unwrap();
    a.save_state(&path).unwrap();
    let msg = state_message(opt.load_state(&path).unwrap_err());
    assert!(msg.contains("velocity_hat"), "{msg}");
}

#[test]
fn constant_learning_rate_is_restored() {
    use wick_optim::LrControl;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sgd.safetensors");
    let make = || OptimizerConfig::new(rules::SgdRule::default(), 0.01);
    let mut a = KerasOptimizer::with_names(fresh_vars(None), make()).unwrap();
    LrControl::set_learning_rate(&mut a, 0.125);
    a.apply_gradients(&grads(0)).unwrap();
    LrControl::save_state(&a, &path).unwrap();
    let mut b: Box<dyn LrControl> = Box::new(KerasOptimizer::with_names(fresh_vars(None), make()).unwrap());
    b.load_state(&path).unwrap();
    assert_eq!(b.learning_rate(), 0.125);
    assert_eq!(b.iterations(), 1);
    assert_eq!(b.name(), "SGD");
}
