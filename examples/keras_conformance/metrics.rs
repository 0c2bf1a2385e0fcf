//! Section `metrics`: binary accuracy (strict threshold), sparse categorical accuracy
//! running over uneven batches, the argmax tie rule, top-k with ties, the loss-tracker
//! `Mean`, and Precision / Recall / AUC (ROC and PR).
//!
//! Inputs stored in the golden file are read from it. Three entries are bare numbers in the
//! golden schema (`categorical_accuracy_tie_first_index`, `sparse_top2_with_tie`) or carry no
//! inputs (`sparse_cat_acc_running`); for those the fixed inputs of `gen_keras_golden.py`
//! are used unless the entry carries `batches` / `y_true` / `y_pred` itself.

use candle_core::Tensor;
use serde_json::{Map, Value};
use wick_train::metrics::{
    AucCurve, BinaryAccuracy, CategoricalAccuracy, Mean, Metric, Precision, Recall, SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, AUC,
};

/// A nested JSON array as an `f32` tensor.
fn tensor(v: &Value) -> Result<Tensor, String> {
    fn walk(v: &Value, dims: &mut Vec<usize>, depth: usize, out: &mut Vec<f32>) -> Result<(), String> {
        match v {
            Value::Number(n) => {
                if depth != dims.len() {
                    return Err(format!("ragged array near {v}"));
                }
                out.push(n.as_f64().ok_or("bad number")? as f32);
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
                items.iter().try_for_each(|i| walk(i, dims, depth + 1, out))
            }
            other => Err(format!("expected a number or an array, got {other}")),
        }
    }
    let (mut dims, mut data) = (Vec::new(), Vec::new());
    walk(v, &mut dims, 0, &mut data)?;
    Tensor::from_vec(data, dims, crate::device::device()).map_err(|e| e.to_string())
}

fn t2(rows: &[&[f32]]) -> Result<Tensor, String> {
    let cols = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), cols), crate::device::device()).map_err(|e| e.to_string())
}

fn t1(v: &[f32]) -> Result<Tensor, String> {
    Tensor::from_slice(v, v.len(), crate::device::device()).map_err(|e| e.to_string())
}

fn s(e: wick_train::Error) -> String {
    e.to_string()
}

/// `(y_true, y_pred)` pairs from `entry["batches"]`, or from `entry["y_true"/"y_pred"]`
/// (one batch), or the given fallback.
fn batches(
    entry: &Value,
    fallback: impl FnOnce() -> Result<Vec<(Tensor, Tensor)>, String>,
) -> Result<Vec<(Tensor, Tensor)>, String> {
    if let Some(bs) = entry.get("batches").and_then(Value::as_array) {
        return bs
            .iter()
            .map(|b| {
                let (t, p) = match b {
                    Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    Value::Object(_) => (&b["y_true"], &b["y_pred"]),
                    other => return Err(format!("bad batch {other}")),
                };
                Ok((tensor(t)?, tensor(p)?))
            })
            .collect();
    }
    if let (Some(t), Some(p)) = (entry.get("y_true"), entry.get("y_pred")) {
        return Ok(vec![(tensor(t)?, tensor(p)?)]);
    }
    fallback()
}

fn binary_accuracy(m: &Value) -> Result<Value, String> {
    let mut acc = BinaryAccuracy::new();
    if let Some(th) = m.get("threshold").and_then(Value::as_f64) {
        acc = acc.with_threshold(th);
    }
    for (t, p) in batches(m, || Err("no inputs".into()))? {
        acc.update_state(&t, &p, None).map_err(s)?;
    }
    let mut out = Map::new();
    out.insert("value".into(), acc.result().into());
    Ok(Value::Object(out))
}

fn sparse_running(m: &Value) -> Result<Value, String> {
    let data = batches(m, || {
        Ok(vec![
            (
                t1(&[0.0, 1.0, 2.0, 1.0])?,
                t2(&[&[0.9, 0.1, 0.0], &[0.2, 0.7, 0.1], &[0.3, 0.3, 0.4], &[0.5, 0.4, 0.1]])?,
            ),
            (t1(&[2.0, 2.0])?, t2(&[&[0.1, 0.1, 0.8], &[0.4, 0.5, 0.1]])?),
        ])
    })?;
    let mut acc = SparseCategoricalAccuracy::new();
    let mut out = Map::new();
    for (i, (t, p)) in data.iter().enumerate() {
        acc.update_state(t, p, None).map_err(s)?;
        out.insert(format!("after_batch{}", i + 1), acc.result().into());
    }
    Ok(Value::Object(out))
}

fn categorical_tie(m: &Value) -> Result<Value, String> {
    let data = batches(m, || Ok(vec![(t2(&[&[0.0, 1.0, 0.0]])?, t2(&[&[0.4, 0.4, 0.2]])?)]))?;
    let mut acc = CategoricalAccuracy::new();
    for (t, p) in &data {
        acc.update_state(t, p, None).map_err(s)?;
    }
    Ok(acc.result().into())
}

/// `k` from a name like `sparse_top2_with_tie` (default 5).
fn k_from_name(name: &str) -> usize {
    name.split("top")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse().ok())
        .unwrap_or(5)
}

fn sparse_top_k(name: &str, m: &Value) -> Result<Value, String> {
    let k = m.get("k").and_then(Value::as_u64).map_or_else(|| k_from_name(name), |k| k as usize);
    let data =
        batches(m, || Ok(vec![(t1(&[0.0, 2.0, 1.0])?, t2(&[&[0.5, 0.3, 0.2], &[0.6, 0.3, 0.1], &[0.3, 0.3, 0.4]])?)]))?;
    let mut acc = SparseTopKCategoricalAccuracy::new().with_k(k);
    for (t, p) in &data {
        acc.update_state(t, p, None).map_err(s)?;
    }
    Ok(acc.result().into())
}

fn loss_tracker(m: &Value) -> Result<Value, String> {
    let mut mean = Mean::named("loss");
    for b in m.get("batches").and_then(Value::as_array).ok_or("loss_tracker_mean has no batches")? {
        let pair = b.as_array().filter(|p| p.len() == 2).ok_or_else(|| format!("bad batch {b}"))?;
        let v = pair[0].as_f64().ok_or("bad value")?;
        let w = pair[1].as_f64().ok_or("bad weight")?;
        mean.update(v, w);
    }
    let mut out = Map::new();
    out.insert("value".into(), mean.result().into());
    Ok(Value::Object(out))
}

fn confusion(m: &Value) -> Result<Value, String> {
    let data = batches(m, || Err("no inputs".into()))?;
    let obj = m.as_object().ok_or("prec_recall_auc is not an object")?;
    let mut out = Map::new();
    for key in obj.keys() {
        if ["y_true", "y_pred", "batches", "note"].contains(&key.as_str()) {
            continue;
        }
        let mut metric: Box<dyn Metric> = if key == "precision" {
            Box::new(Precision::new())
        } else if key == "recall" {
            Box::new(Recall::new())
        } else if let Some(rest) = key.strip_prefix("auc_") {
            let (curve, n) = rest.split_once('_').unwrap_or((rest, "200"));
            let curve = match curve {
                "roc" => AucCurve::Roc,
                "pr" => AucCurve::Pr,
                other => return Err(format!("unknown AUC curve {other:?}")),
            };
            let n: usize = n.parse().map_err(|_| format!("bad num_thresholds in {key}"))?;
            Box::new(AUC::new().with_curve(curve).with_num_thresholds(n).map_err(s)?)
        } else {
            eprintln!("metrics: prec_recall_auc: unknown key {key:?}");
            continue;
        };
        for (t, p) in &data {
            metric.update_state(t, p, None).map_err(s)?;
        }
        out.insert(key.clone(), metric.result().into());
    }
    Ok(Value::Object(out))
}

/// The `metrics` mirror tree: every non-input value under `golden["metrics"]`.
pub fn run(golden: &Value) -> Value {
    let mut out = Map::new();
    let Some(section) = golden.get("metrics").and_then(Value::as_object) else {
        return Value::Object(out);
    };
    for (name, m) in section {
        let r = match name.as_str() {
            "binary_accuracy_threshold_strict" => binary_accuracy(m),
            "sparse_cat_acc_running" => sparse_running(m),
            "categorical_accuracy_tie_first_index" => categorical_tie(m),
            "loss_tracker_mean" => loss_tracker(m),
            "prec_recall_auc" => confusion(m),
            n if n.starts_with("sparse_top") => sparse_top_k(n, m),
            other => Err(format!("unknown metrics entry {other:?}")),
        };
        match r {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => eprintln!("metrics: {name}: {e}"),
        }
    }
    Value::Object(out)
}
