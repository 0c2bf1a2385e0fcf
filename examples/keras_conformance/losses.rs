//! Section `losses`: every case's loss, built from its Keras `class` and `config`, is applied
//! to the named golden inputs under each reduction key present (`none`, `sum`,
//! `sum_over_batch_size`, `mean_with_sample_weight`, each also `+sample_weight`).

use candle_core::{DType, Tensor};
use serde_json::{Map, Value};
use wick_train::losses::{
    BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, CosineSimilarity, Hinge, Huber, KLDivergence,
    LogCosh, Loss, MeanAbsoluteError, MeanSquaredError, Poisson, Reduction, SparseCategoricalCrossentropy,
    SquaredHinge,
};

const KEYS: [&str; 8] = [
    "none",
    "none+sample_weight",
    "sum_over_batch_size",
    "sum_over_batch_size+sample_weight",
    "sum",
    "sum+sample_weight",
    "mean_with_sample_weight",
    "mean_with_sample_weight+sample_weight",
];

/// A nested JSON array as a tensor: `i64` when every number is an integer literal, else `f32`.
fn tensor(v: &Value) -> Result<Tensor, String> {
    fn walk(v: &Value, dims: &mut Vec<usize>, depth: usize, out: &mut Vec<f64>, ints: &mut bool) -> Result<(), String> {
        match v {
            Value::Number(n) => {
                if depth != dims.len() {
                    return Err(format!("ragged array near {v}"));
                }
                *ints &= n.is_i64() || n.is_u64();
                out.push(n.as_f64().ok_or("bad number")?);
                Ok(())
            }
            Value::Array(items) => {
                if depth == dims.len() {
                    if !out.is_empty() {
                        return Err(format!("ragged array near {v}"));
                    }
                    dims.push(items.len());
                } else if dims.get(depth) != Some(&items.len()) {
                    return Err(format!("ragged array near {v}"));
                }
                items.iter().try_for_each(|i| walk(i, dims, depth + 1, out, ints))
            }
            other => Err(format!("expected a number or an array, got {other}")),
        }
    }
    let (mut dims, mut data, mut ints) = (Vec::new(), Vec::new(), true);
    walk(v, &mut dims, 0, &mut data, &mut ints)?;
    let t = if ints {
        Tensor::from_vec(data.iter().map(|&x| x as i64).collect::<Vec<_>>(), dims, crate::device::device())
    } else {
        Tensor::from_vec(data.iter().map(|&x| x as f32).collect::<Vec<_>>(), dims, crate::device::device())
    };
    t.map_err(|e| e.to_string())
}

/// A tensor as JSON: a number for a scalar, nested lists otherwise.
fn to_json(t: &Tensor) -> Result<Value, String> {
    let dims = t.dims().to_vec();
    let data: Vec<f64> = t
        .to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .map_err(|e| e.to_string())?;
    fn build(dims: &[usize], data: &[f64]) -> Value {
        match dims.split_first() {
            None => Value::from(data.first().copied().unwrap_or(f64::NAN)),
            Some((&n, rest)) => {
                let step: usize = rest.iter().product();
                Value::Array((0..n).map(|i| build(rest, &data[i * step..(i + 1) * step])).collect())
            }
        }
    }
    Ok(build(&dims, &data))
}

fn get_f64(cfg: &Value, key: &str, default: f64) -> Result<f64, String> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| format!("config {key} = {v} is not a number")),
    }
}

fn get_bool(cfg: &Value, key: &str, default: bool) -> Result<bool, String> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| format!("config {key} = {v} is not a bool")),
    }
}

fn get_axis(cfg: &Value) -> Result<i64, String> {
    match cfg.get("axis") {
        None | Some(Value::Null) => Ok(-1),
        Some(v) => v.as_i64().ok_or_else(|| format!("config axis = {v} is not an integer")),
    }
}

/// Builds the loss named by Keras `class` with its `get_config()` and a given reduction.
fn build(class: &str, cfg: &Value, reduction: Reduction) -> Result<Box<dyn Loss>, String> {
    const KNOWN: [&str; 8] =
        ["name", "reduction", "dtype", "from_logits", "label_smoothing", "axis", "delta", "ignore_class"];
    if let Some(map) = cfg.as_object() {
        if let Some(k) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("{class}: unsupported config key {k:?}"));
        }
    }
    let loss: Box<dyn Loss> = match class {
        "MeanSquaredError" => Box::new(MeanSquaredError::new().with_reduction(reduction)),
        "MeanAbsoluteError" => Box::new(MeanAbsoluteError::new().with_reduction(reduction)),
        "Huber" => Box::new(Huber::new().with_delta(get_f64(cfg, "delta", 1.0)?).with_reduction(reduction)),
        "LogCosh" => Box::new(LogCosh::new().with_reduction(reduction)),
        "Hinge" => Box::new(Hinge::new().with_reduction(reduction)),
        "SquaredHinge" => Box::new(SquaredHinge::new().with_reduction(reduction)),
        "CategoricalHinge" => Box::new(CategoricalHinge::new().with_reduction(reduction)),
        "Poisson" => Box::new(Poisson::new().with_reduction(reduction)),
        "KLDivergence" => Box::new(KLDivergence::new().with_reduction(reduction)),
        "CosineSimilarity" => Box::new(CosineSimilarity::new().with_axis(get_axis(cfg)?).with_reduction(reduction)),
        "CategoricalCrossentropy" => Box::new(
            CategoricalCrossentropy::new()
                .with_from_logits(get_bool(cfg, "from_logits", false)?)
                .with_label_smoothing(get_f64(cfg, "label_smoothing", 0.0)?)
                .with_axis(get_axis(cfg)?)
                .with_reduction(reduction),
        ),
        "SparseCategoricalCrossentropy" => {
            if get_axis(cfg)? != -1 {
                return Err("SparseCategoricalCrossentropy: only axis=-1 is supported".into());
            }
            let ignore = match cfg.get("ignore_class") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().ok_or_else(|| format!("ignore_class = {v} is not an integer"))?),
            };
            Box::new(
                SparseCategoricalCrossentropy::new()
                    .with_from_logits(get_bool(cfg, "from_logits", false)?)
                    .with_ignore_class(ignore)
                    .with_reduction(reduction),
            )
        }
        "BinaryCrossentropy" => Box::new(
            BinaryCrossentropy::new()
                .with_from_logits(get_bool(cfg, "from_logits", false)?)
                .with_label_smoothing(get_f64(cfg, "label_smoothing", 0.0)?)
                .with_axis(get_axis(cfg)?)
                .with_reduction(reduction),
        ),
        other => return Err(format!("unsupported loss class {other:?}")),
    };
    Ok(loss)
}

/// Looks up an input: a string names an entry of `losses.inputs`, an array is used as is.
fn input(inputs: &Value, v: &Value) -> Result<Tensor, String> {
    match v {
        Value::String(name) => tensor(inputs.get(name).ok_or_else(|| format!("no input named {name:?}"))?),
        other => tensor(other),
    }
}

fn run_case(inputs: &Value, case: &Value) -> Result<Map<String, Value>, String> {
    let y_true = input(inputs, case.get("y_true").ok_or("case has no y_true")?)?;
    let y_pred = input(inputs, case.get("y_pred").ok_or("case has no y_pred")?)?;
    let class = case.get("class").and_then(Value::as_str).ok_or("case has no class")?;
    let cfg = case.get("config").cloned().unwrap_or(Value::Null);
    let sw_src = case.get("sample_weight").cloned().unwrap_or_else(|| Value::String("SAMPLE_WEIGHT".into()));
    let mut out = Map::new();
    for key in KEYS {
        if case.get(key).is_none() {
            continue;
        }
        let (red, weighted) = match key.strip_suffix("+sample_weight") {
            Some(r) => (r, true),
            None => (key, false),
        };
        let reduction: Reduction = red.parse().map_err(|e: wick_train::Error| e.to_string())?;
        let loss = build(class, &cfg, reduction)?;
        let sw = if weighted { Some(input(inputs, &sw_src)?) } else { None };
        match loss.call(&y_true, &y_pred, sw.as_ref()) {
            Ok(v) => {
                out.insert(key.to_string(), to_json(&v)?);
            }
            Err(e) => eprintln!("losses: {class} {key}: {e}"),
        }
    }
    Ok(out)
}

/// The `losses` mirror tree: `{"cases": {CASE: {KEY: value}}}`.
pub fn run(golden: &Value) -> Value {
    let section = &golden["losses"];
    let inputs = &section["inputs"];
    let mut cases = Map::new();
    if let Some(all) = section.get("cases").and_then(Value::as_object) {
        for (name, case) in all {
            match run_case(inputs, case) {
                Ok(v) => {
                    cases.insert(name.clone(), Value::Object(v));
                }
                Err(e) => eprintln!("losses: case {name}: {e}"),
            }
        }
    }
    let mut out = Map::new();
    out.insert("cases".into(), Value::Object(cases));
    Value::Object(out)
}
