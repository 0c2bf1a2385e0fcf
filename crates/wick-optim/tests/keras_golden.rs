//! SGD, Adam and AdamW (with every common option the golden file exercises) against
//! Keras 3's own results.

#[path = "support/golden_data.rs"]
mod golden_data;

use candle_core::{Device, Tensor, Var};
use golden_data::{Golden, CONFIGS, GRADS, INIT};
use wick_optim::rules::{AdamRule, AdamWRule, SgdRule};
use wick_optim::{KerasOptimizer, LearningRateSchedule, LrControl, OptimizerConfig, OptimizerOptions, UpdateRule};

/// Keras `ExponentialDecay(0.1, 2, 0.5)` (not staircase), in float32 as Keras computes it.
#[derive(Debug)]
struct ExpDecay;

impl LearningRateSchedule for ExpDecay {
    fn name(&self) -> &'static str {
        "ExponentialDecay"
    }
    fn lr_at(&self, step: u64) -> f64 {
        let p = step as f32 / 2.0f32;
        (0.1f32 * 0.5f32.powf(p)) as f64
    }
}

fn vars() -> (Var, Var) {
    let w: Vec<f32> = INIT[..6].iter().map(|x| *x as f32).collect();
    let b: Vec<f32> = INIT[6..].iter().map(|x| *x as f32).collect();
    (Var::from_vec(w, (2, 3), &Device::Cpu).unwrap(), Var::from_vec(b, 3, &Device::Cpu).unwrap())
}

fn grads(step: usize) -> Vec<Tensor> {
    let g = &GRADS[step];
    let w: Vec<f32> = g[..6].iter().map(|x| *x as f32).collect();
    let b: Vec<f32> = g[6..].iter().map(|x| *x as f32).collect();
    vec![Tensor::from_vec(w, (2, 3), &Device::Cpu).unwrap(), Tensor::from_vec(b, 3, &Device::Cpu).unwrap()]
}

fn values(vars: &[Var]) -> Vec<f32> {
    let mut out = vars[0].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    out.extend(vars[1].as_tensor().to_vec1::<f32>().unwrap());
    out
}

fn check(name: &str, what: &str, got: &[f32], want: &[f64]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (*g as f64, *w);
        assert!(
            (g - w).abs() <= 1e-6 + 1e-5 * w.abs(),
            "{name} {what}: element {i}: got {g}, Keras {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

fn run<R: UpdateRule>(golden: &Golden, config: OptimizerConfig<R>) {
    let (w, b) = vars();
    let named = vec![("kernel".to_string(), w), ("bias".to_string(), b)];
    let mut opt = KerasOptimizer::with_names(named, config).unwrap();
    for step in 0..5 {
        let lr = LrControl::learning_rate(&opt);
        assert!(
            (lr - golden.lr_before_each_step[step]).abs() <= 1e-7 * lr.abs(),
            "{}: lr before step {step}: {lr} vs {}",
            golden.name,
            golden.lr_before_each_step[step]
        );
        opt.apply_gradients(&grads(step)).unwrap();
        check(golden.name, &format!("step {step}"), &values(opt.vars()), &golden.after_step[step]);
    }
    assert_eq!(opt.iterations(), golden.iterations_after, "{}", golden.name);
    assert_eq!(opt.raw_step(), 5);
    if let Some(fin) = &golden.after_finalize {
        opt.finalize_variable_values().unwrap();
        check(golden.name, "finalize", &values(opt.vars()), fin);
    }
}

fn opts(f: impl FnOnce(&mut OptimizerOptions)) -> OptimizerOptions {
    let mut o = OptimizerOptions::default();
    f(&mut o);
    o
}

#[test]
fn keras_golden_sgd_adam_adamw() {
    let mut seen = 0;
    for g in CONFIGS {
        let sgd = |momentum: f64, nesterov: bool| SgdRule { momentum, nesterov };
        match g.name {
            "sgd_plain" => run(g, OptimizerConfig::new(SgdRule::default(), 0.1)),
            "sgd_momentum" => run(g, OptimizerConfig::new(sgd(0.9, false), 0.1)),
            "sgd_nesterov" => run(g, OptimizerConfig::new(sgd(0.9, true), 0.1)),
            "sgd_weight_decay" => {
                run(g, OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| o.weight_decay = Some(0.1))))
            }
            "sgd_clipnorm" => {
                run(g, OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| o.clipnorm = Some(0.5))))
            }
            "sgd_global_clipnorm" => run(
                g,
                OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| o.global_clipnorm = Some(0.5))),
            ),
            "sgd_clipvalue" => {
                run(g, OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| o.clipvalue = Some(0.3))))
            }
            "sgd_loss_scale_factor" => run(
                g,
                OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| o.loss_scale_factor = Some(4.0))),
            ),
            "sgd_grad_accum_2" => run(
                g,
                OptimizerConfig::new(sgd(0.5, false), 0.1)
                    .with_options(opts(|o| o.gradient_accumulation_steps = Some(2))),
            ),
            "sgd_ema" => run(
                g,
                OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| {
                    o.use_ema = true;
                    o.ema_momentum = 0.9;
                })),
            ),
            "sgd_ema_overwrite2" => run(
                g,
                OptimizerConfig::new(SgdRule::default(), 0.1).with_options(opts(|o| {
                    o.use_ema = true;
                    o.ema_momentum = 0.9;
                    o.ema_overwrite_frequency = Some(2);
                })),
            ),
            "sgd_exponential_decay" => run(g, OptimizerConfig::new(SgdRule::default(), ExpDecay)),
            "adam_default" => run(g, OptimizerConfig::new(AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE)),
            "adam_lr0.1" => run(g, OptimizerConfig::new(AdamRule::default(), 0.1)),
            "adam_amsgrad" => run(g, OptimizerConfig::new(AdamRule { amsgrad: true, ..AdamRule::default() }, 0.1)),
            "adam_eps1e-3" => run(g, OptimizerConfig::new(AdamRule { epsilon: 1e-3, ..AdamRule::default() }, 0.1)),
            "adam_grad_accum_2" => run(
                g,
                OptimizerConfig::new(AdamRule::default(), 0.1)
                    .with_options(opts(|o| o.gradient_accumulation_steps = Some(2))),
            ),
            "adamw_default" => run(g, OptimizerConfig::new(AdamWRule::default(), AdamWRule::DEFAULT_LEARNING_RATE)),
            "adamw_lr0.1_wd0.1" => run(
                g,
                OptimizerConfig::new(AdamWRule::default(), 0.1).with_options(opts(|o| o.weight_decay = Some(0.1))),
            ),
            other => panic!("no Rust config for golden {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 19);
}
