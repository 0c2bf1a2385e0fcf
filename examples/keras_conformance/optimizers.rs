//! Section `optimizers`: each config's optimizer applies the golden gradients step by
//! step to the golden initial variables; the runner records the variables after each step.

use crate::json::{nested, Kwargs};
use crate::schedules::schedule_from_json;
use candle_core::{Tensor, Var};
use serde_json::{json, Map, Value};
use wick_optim::rules::{AdadeltaRule, AdafactorRule, AdagradRule, AdamRule, AdamWRule, AdamaxRule};
use wick_optim::rules::{FtrlRule, LambRule, LionRule, NadamRule, RmspropRule, SgdRule};
use wick_optim::LearningRate;
use wick_optim::UpdateRule;
use wick_optim::{KerasOptimizer, OptimizerConfig, OptimizerOptions};

/// The variables and per-step gradients shared by every config.
struct Problem {
    names: Vec<String>,
    initial: Vec<(Vec<usize>, Vec<f32>)>,
    grads: Vec<Vec<(Vec<usize>, Vec<f32>)>>,
}

impl Problem {
    fn read(section: &Value) -> Result<Self, String> {
        let order = section["variable_order"].as_array().ok_or("optimizers.variable_order missing")?;
        let names: Vec<String> = order
            .iter()
            .map(|v| {
                v.as_str().and_then(|s| s.split_whitespace().next()).map(str::to_string).ok_or("bad variable name")
            })
            .collect::<Result<_, _>>()?;
        let initial = names.iter().map(|n| nested(&section["initial"][n])).collect::<Result<Vec<_>, _>>()?;
        let grads = section["grads"]
            .as_array()
            .ok_or("optimizers.grads missing")?
            .iter()
            .map(|step| {
                step.as_array().ok_or("a step's grads are not a list".to_string())?.iter().map(nested).collect()
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Problem { names, initial, grads })
    }
}

/// Mirror of `golden["optimizers"]`: `{"configs": {NAME: {"after_step": [[w, b], ...]}}}`.
pub fn run(golden: &Value) -> Value {
    let section = &golden["optimizers"];
    let mut configs = Map::new();
    let problem = match Problem::read(section) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("optimizers: {e}");
            return json!({ "configs": configs });
        }
    };
    for (name, config) in section["configs"].as_object().into_iter().flatten() {
        match run_config(&problem, config) {
            Ok(after) => {
                configs.insert(name.clone(), json!({ "after_step": after }));
            }
            Err(e) => eprintln!("optimizers/{name}: {e}"),
        }
    }
    json!({ "configs": configs })
}

fn run_config(problem: &Problem, config: &Value) -> Result<Vec<Value>, String> {
    let class = config["class"].as_str().ok_or("config has no class")?;
    let mut kw = Kwargs::new(&config["kwargs"], class)?;
    kw.ignore(&["name"]);
    macro_rules! go {
        ($rule:expr, $lr:expr) => {{
            let rule = $rule;
            let lr = learning_rate(&mut kw, $lr)?;
            let options = options(&mut kw, class)?;
            kw.finish()?;
            steps(problem, rule, lr, options)
        }};
    }
    match class {
        "SGD" => go!(
            SgdRule { momentum: kw.f64_or("momentum", 0.0)?, nesterov: kw.bool_or("nesterov", false)? },
            SgdRule::DEFAULT_LEARNING_RATE
        ),
        "Adam" => go!(adam(&mut kw)?, AdamRule::DEFAULT_LEARNING_RATE),
        "AdamW" => {
            let rule = AdamWRule { adam: adam(&mut kw)? };
            let lr = learning_rate(&mut kw, AdamWRule::DEFAULT_LEARNING_RATE)?;
            let mut options = options(&mut kw, class)?;
            options.weight_decay.get_or_insert(0.004);
            kw.finish()?;
            steps(problem, rule, lr, options)
        }
        "Adadelta" => {
            let d = AdadeltaRule::default();
            go!(
                AdadeltaRule { rho: kw.f64_or("rho", d.rho)?, epsilon: kw.f64_or("epsilon", d.epsilon)? },
                AdadeltaRule::DEFAULT_LEARNING_RATE
            )
        }
        "Adagrad" => {
            let d = AdagradRule::default();
            go!(
                AdagradRule {
                    initial_accumulator_value: kw.f64_or("initial_accumulator_value", d.initial_accumulator_value)?,
                    epsilon: kw.f64_or("epsilon", d.epsilon)?,
                },
                AdagradRule::DEFAULT_LEARNING_RATE
            )
        }
        "Adamax" => {
            let d = AdamaxRule::default();
            go!(
                AdamaxRule {
                    beta_1: kw.f64_or("beta_1", d.beta_1)?,
                    beta_2: kw.f64_or("beta_2", d.beta_2)?,
                    epsilon: kw.f64_or("epsilon", d.epsilon)?
                },
                AdamaxRule::DEFAULT_LEARNING_RATE
            )
        }
        "Nadam" => {
            let mut rule = NadamRule::default();
            rule.beta_1 = kw.f64_or("beta_1", rule.beta_1)?;
            rule.beta_2 = kw.f64_or("beta_2", rule.beta_2)?;
            rule.epsilon = kw.f64_or("epsilon", rule.epsilon)?;
            go!(rule, NadamRule::DEFAULT_LEARNING_RATE)
        }
        "Ftrl" => {
            let d = FtrlRule::default();
            go!(
                FtrlRule {
                    learning_rate_power: kw.f64_or("learning_rate_power", d.learning_rate_power)?,
                    initial_accumulator_value: kw.f64_or("initial_accumulator_value", d.initial_accumulator_value)?,
                    l1_regularization_strength: kw
                        .f64_or("l1_regularization_strength", d.l1_regularization_strength)?,
                    l2_regularization_strength: kw
                        .f64_or("l2_regularization_strength", d.l2_regularization_strength)?,
                    l2_shrinkage_regularization_strength: kw
                        .f64_or("l2_shrinkage_regularization_strength", d.l2_shrinkage_regularization_strength)?,
                    beta: kw.f64_or("beta", d.beta)?,
                },
                FtrlRule::DEFAULT_LEARNING_RATE
            )
        }
        "RMSprop" => {
            let d = RmspropRule::default();
            go!(
                RmspropRule {
                    rho: kw.f64_or("rho", d.rho)?,
                    momentum: kw.f64_or("momentum", d.momentum)?,
                    epsilon: kw.f64_or("epsilon", d.epsilon)?,
                    centered: kw.bool_or("centered", d.centered)?,
                },
                RmspropRule::DEFAULT_LEARNING_RATE
            )
        }
        "Lion" => {
            let d = LionRule::default();
            go!(
                LionRule { beta_1: kw.f64_or("beta_1", d.beta_1)?, beta_2: kw.f64_or("beta_2", d.beta_2)? },
                LionRule::DEFAULT_LEARNING_RATE
            )
        }
        "Lamb" => {
            let d = LambRule::default();
            go!(
                LambRule {
                    beta_1: kw.f64_or("beta_1", d.beta_1)?,
                    beta_2: kw.f64_or("beta_2", d.beta_2)?,
                    epsilon: kw.f64_or("epsilon", d.epsilon)?
                },
                LambRule::DEFAULT_LEARNING_RATE
            )
        }
        "Adafactor" => {
            let d = AdafactorRule::default();
            go!(
                AdafactorRule {
                    beta_2_decay: kw.f64_or("beta_2_decay", d.beta_2_decay)?,
                    epsilon_1: kw.f64_or("epsilon_1", d.epsilon_1)?,
                    epsilon_2: kw.f64_or("epsilon_2", d.epsilon_2)?,
                    clip_threshold: kw.f64_or("clip_threshold", d.clip_threshold)?,
                    relative_step: kw.bool_or("relative_step", d.relative_step)?,
                },
                AdafactorRule::DEFAULT_LEARNING_RATE
            )
        }
        other => Err(format!("unknown optimizer class {other:?}")),
    }
}

fn adam(kw: &mut Kwargs<'_>) -> Result<AdamRule, String> {
    let d = AdamRule::default();
    Ok(AdamRule {
        beta_1: kw.f64_or("beta_1", d.beta_1)?,
        beta_2: kw.f64_or("beta_2", d.beta_2)?,
        epsilon: kw.f64_or("epsilon", d.epsilon)?,
        amsgrad: kw.bool_or("amsgrad", d.amsgrad)?,
    })
}

/// `learning_rate`: a number, or a schedule given as `{"class": ..., config...}`.
fn learning_rate(kw: &mut Kwargs<'_>, default: f64) -> Result<LearningRate, String> {
    match kw.raw("learning_rate") {
        None => Ok(LearningRate::Constant(default)),
        Some(Value::Number(n)) => Ok(LearningRate::Constant(n.as_f64().ok_or("bad learning rate")?)),
        Some(obj @ Value::Object(map)) => {
            let class = map.get("class").and_then(Value::as_str).ok_or("learning-rate schedule without a class")?;
            Ok(LearningRate::Schedule(schedule_from_json(class, obj)?))
        }
        Some(other) => Err(format!("learning_rate = {other} is neither a number nor a schedule")),
    }
}

/// The arguments every Keras optimizer takes.
fn options(kw: &mut Kwargs<'_>, class: &str) -> Result<OptimizerOptions, String> {
    let d = OptimizerOptions::default();
    let _ = class;
    Ok(OptimizerOptions {
        weight_decay: kw.f64_opt("weight_decay")?,
        clipnorm: kw.f64_opt("clipnorm")?,
        clipvalue: kw.f64_opt("clipvalue")?,
        global_clipnorm: kw.f64_opt("global_clipnorm")?,
        use_ema: kw.bool_or("use_ema", d.use_ema)?,
        ema_momentum: kw.f64_or("ema_momentum", d.ema_momentum)?,
        ema_overwrite_frequency: kw.u64_opt("ema_overwrite_frequency")?,
        loss_scale_factor: kw.f64_opt("loss_scale_factor")?,
        gradient_accumulation_steps: kw.u64_opt("gradient_accumulation_steps")?,
    })
}

fn steps<R: UpdateRule>(
    problem: &Problem,
    rule: R,
    lr: LearningRate,
    options: OptimizerOptions,
) -> Result<Vec<Value>, String> {
    let dev = crate::device::device().clone();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let vars = problem
        .names
        .iter()
        .zip(&problem.initial)
        .map(|(n, (shape, data))| {
            Ok((
                n.clone(),
                Var::from_tensor(&Tensor::from_vec(data.clone(), shape.as_slice(), &dev).map_err(|e| err(&e))?)
                    .map_err(|e| err(&e))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut opt =
        KerasOptimizer::with_names(vars, OptimizerConfig { rule, learning_rate: lr, options }).map_err(|e| err(&e))?;
    let mut after = Vec::with_capacity(problem.grads.len());
    for step in &problem.grads {
        let grads = step
            .iter()
            .map(|(shape, data)| Tensor::from_vec(data.clone(), shape.as_slice(), &dev))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| err(&e))?;
        opt.apply_gradients(&grads).map_err(|e| err(&e))?;
        let values = opt.vars().iter().map(|v| tensor_json(v.as_tensor())).collect::<Result<Vec<_>, String>>()?;
        after.push(Value::Array(values));
    }
    Ok(after)
}

/// A tensor as nested JSON arrays.
fn tensor_json(t: &Tensor) -> Result<Value, String> {
    let flat: Vec<f32> = t.flatten_all().and_then(|f| f.to_vec1()).map_err(|e| e.to_string())?;
    fn build(dims: &[usize], data: &[f32]) -> Value {
        match dims {
            [] => json!(data.first().copied().unwrap_or(f32::NAN) as f64),
            [_] => Value::Array(data.iter().map(|&v| json!(v as f64)).collect()),
            [n, rest @ ..] => {
                let chunk = rest.iter().product::<usize>();
                Value::Array((0..*n).map(|i| build(rest, &data[i * chunk..(i + 1) * chunk])).collect())
            }
        }
    }
    Ok(build(t.dims(), &flat))
}
