//! The `schedules` section: Keras learning-rate schedules built from their class name and
//! `get_config()` dict, evaluated at the golden file's steps.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use wick_optim::schedules::{
    CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay,
};
use wick_optim::LearningRateSchedule;

/// Builds the Keras schedule `class` from its config dict (`get_config()`, or the kwargs it
/// was built with). `"name"` is ignored, and so is `"class"`, so an optimizer's
/// `learning_rate` dict `{"class": ..., config...}` can be passed whole. Missing arguments
/// take Keras' defaults; unknown arguments are errors, as in Keras.
pub fn schedule_from_json(class: &str, config: &Value) -> Result<Arc<dyn LearningRateSchedule>, String> {
    let mut a = Args::new(class, config)?;
    let schedule: Arc<dyn LearningRateSchedule> = match class {
        "ExponentialDecay" => Arc::new(
            ExponentialDecay::new(
                a.f64("initial_learning_rate")?,
                a.steps("decay_steps")?,
                a.f64("decay_rate")?,
                a.bool_or("staircase", false)?,
            )
            .map_err(|e| e.to_string())?,
        ),
        "PiecewiseConstantDecay" => Arc::new(
            PiecewiseConstantDecay::new(a.boundaries("boundaries")?, a.f64_list("values")?)
                .map_err(|e| e.to_string())?,
        ),
        "PolynomialDecay" => Arc::new(
            PolynomialDecay::new(
                a.f64("initial_learning_rate")?,
                a.steps("decay_steps")?,
                a.f64_or("end_learning_rate", PolynomialDecay::DEFAULT_END_LEARNING_RATE)?,
                a.f64_or("power", PolynomialDecay::DEFAULT_POWER)?,
                a.bool_or("cycle", false)?,
            )
            .map_err(|e| e.to_string())?,
        ),
        "InverseTimeDecay" => Arc::new(
            InverseTimeDecay::new(
                a.f64("initial_learning_rate")?,
                a.steps("decay_steps")?,
                a.f64("decay_rate")?,
                a.bool_or("staircase", false)?,
            )
            .map_err(|e| e.to_string())?,
        ),
        "CosineDecay" => Arc::new(
            CosineDecay::new(
                a.f64("initial_learning_rate")?,
                a.steps("decay_steps")?,
                a.f64_or("alpha", 0.0)?,
                a.f64_opt("warmup_target")?,
                a.steps_or("warmup_steps", 0)?,
            )
            .map_err(|e| e.to_string())?,
        ),
        "CosineDecayRestarts" => Arc::new(
            CosineDecayRestarts::new(
                a.f64("initial_learning_rate")?,
                a.steps("first_decay_steps")?,
                a.f64_or("t_mul", CosineDecayRestarts::DEFAULT_T_MUL)?,
                a.f64_or("m_mul", CosineDecayRestarts::DEFAULT_M_MUL)?,
                a.f64_or("alpha", 0.0)?,
            )
            .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unknown learning-rate schedule class {other:?}")),
    };
    a.finish()?;
    Ok(schedule)
}

/// Runs `golden["schedules"]`: for each config, the lr at every step of `steps`.
/// Returns `{"configs": {NAME: {"values": [...]}}}`; a config that cannot be built is
/// reported on stderr and left out.
pub fn run(golden: &Value) -> Value {
    let mut configs = Map::new();
    let section = &golden["schedules"];
    let steps = match parse_steps(&section["steps"]) {
        Ok(steps) => steps,
        Err(e) => {
            eprintln!("schedules: {e}");
            return serde_json::json!({ "configs": configs });
        }
    };
    let Some(cases) = section["configs"].as_object() else {
        eprintln!("schedules: `configs` is not an object");
        return serde_json::json!({ "configs": configs });
    };
    for (name, case) in cases {
        let built = case["class"]
            .as_str()
            .ok_or_else(|| "`class` is not a string".to_string())
            .and_then(|class| schedule_from_json(class, &case["config"]));
        match built {
            Ok(schedule) => {
                let values: Vec<Value> = steps.iter().map(|&s| Value::from(schedule.lr_at(s))).collect();
                configs.insert(name.clone(), serde_json::json!({ "values": values }));
            }
            Err(e) => eprintln!("schedules/{name}: {e}"),
        }
    }
    serde_json::json!({ "configs": configs })
}

/// The golden file's steps: non-negative whole numbers.
fn parse_steps(v: &Value) -> Result<Vec<u64>, String> {
    let items = v.as_array().ok_or_else(|| format!("`steps` = {v} is not an array"))?;
    items.iter().map(|s| whole(s).ok_or_else(|| format!("step {s} is not a non-negative whole number"))).collect()
}

/// 2^64 (exact as f64): every whole number below it fits in `u64`.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A JSON number that is a non-negative whole number (`10` or `10.0`), as `u64`.
fn whole(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let x = v.as_f64()?;
    ((0.0..TWO_POW_64).contains(&x) && x.fract() == 0.0).then_some(x as u64)
}

/// A schedule's config read argument by argument; `finish` rejects arguments never read.
struct Args<'a> {
    class: &'a str,
    map: &'a Map<String, Value>,
    used: BTreeSet<&'static str>,
}

impl<'a> Args<'a> {
    fn new(class: &'a str, config: &'a Value) -> Result<Self, String> {
        let map = config.as_object().ok_or_else(|| format!("{class}: config = {config} is not an object"))?;
        // `name` is only Keras' op name scope; `class` tags an optimizer's learning_rate dict.
        Ok(Args { class, map, used: BTreeSet::from(["name", "class"]) })
    }

    /// The value of `key`; `null` counts as absent (Keras' `None`).
    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.insert(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn missing(&self, key: &str) -> String {
        format!("{}: missing required argument `{key}`", self.class)
    }

    fn number(&self, key: &str, v: &Value) -> Result<f64, String> {
        v.as_f64().ok_or_else(|| format!("{}: argument `{key}` must be a number, got {key}={v}", self.class))
    }

    fn f64_opt(&mut self, key: &'static str) -> Result<Option<f64>, String> {
        self.get(key).map(|v| self.number(key, v)).transpose()
    }

    fn f64(&mut self, key: &'static str) -> Result<f64, String> {
        self.f64_opt(key)?.ok_or_else(|| self.missing(key))
    }

    fn f64_or(&mut self, key: &'static str, default: f64) -> Result<f64, String> {
        Ok(self.f64_opt(key)?.unwrap_or(default))
    }

    fn bool_or(&mut self, key: &'static str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                v.as_bool().ok_or_else(|| format!("{}: argument `{key}` must be a boolean, got {key}={v}", self.class))
            }
        }
    }

    /// A step count (`decay_steps`, ...): a whole number; 0 is left for the constructor to
    /// reject with Keras' message.
    fn steps_opt(&mut self, key: &'static str) -> Result<Option<u64>, String> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let x = self.number(key, v)?;
        if x < 0.0 {
            return Err(format!("{}: argument `{key}` must be > 0, got {key}={v}", self.class));
        }
        whole(v)
            .map(Some)
            .ok_or_else(|| format!("{}: argument `{key}` must be a whole number of steps, got {key}={v}", self.class))
    }

    fn steps(&mut self, key: &'static str) -> Result<u64, String> {
        self.steps_opt(key)?.ok_or_else(|| self.missing(key))
    }

    fn steps_or(&mut self, key: &'static str, default: u64) -> Result<u64, String> {
        Ok(self.steps_opt(key)?.unwrap_or(default))
    }

    fn list(&mut self, key: &'static str) -> Result<&'a [Value], String> {
        let v = self.get(key).ok_or_else(|| self.missing(key))?;
        v.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| format!("{}: argument `{key}` must be a list, got {key}={v}", self.class))
    }

    fn f64_list(&mut self, key: &'static str) -> Result<Vec<f64>, String> {
        self.list(key)?.iter().map(|v| self.number(key, v)).collect()
    }

    /// PiecewiseConstantDecay's boundaries. Keras casts them to the integer step type, so a
    /// fractional boundary is truncated; a negative one is an error.
    fn boundaries(&mut self, key: &'static str) -> Result<Vec<u64>, String> {
        let class = self.class;
        self.list(key)?
            .iter()
            .map(|v| {
                let x = self.number(key, v)?;
                if !(0.0..TWO_POW_64).contains(&x) {
                    return Err(format!("{class}: argument `{key}` holds {v}, not a step count"));
                }
                Ok(whole(v).unwrap_or(x.trunc() as u64))
            })
            .collect()
    }

    fn finish(self) -> Result<(), String> {
        match self.map.keys().find(|k| !self.used.contains(k.as_str())) {
            Some(k) => Err(format!("{}: unexpected argument {k:?}", self.class)),
            None => Ok(()),
        }
    }
}
