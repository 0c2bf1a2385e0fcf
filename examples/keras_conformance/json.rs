//! Small helpers to read golden-file JSON: nested arrays as tensors, kwargs with
//! defaults, and a check that no kwarg was left unread.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A nested JSON array of numbers as (shape, row-major values).
pub fn nested(v: &Value) -> Result<(Vec<usize>, Vec<f32>), String> {
    match v {
        Value::Number(n) => Ok((vec![], vec![n.as_f64().ok_or("bad number")? as f32])),
        Value::Array(items) => {
            let mut shape = None;
            let mut data = Vec::new();
            for item in items {
                let (s, d) = nested(item)?;
                if shape.get_or_insert_with(|| s.clone()) != &s {
                    return Err(format!("ragged array: {v}"));
                }
                data.extend(d);
            }
            let mut full = vec![items.len()];
            full.extend(shape.unwrap_or_default());
            Ok((full, data))
        }
        other => Err(format!("expected a number or an array, got {other}")),
    }
}

/// Keyword arguments read one by one; `finish` fails on any argument never read.
pub struct Kwargs<'a> {
    map: &'a Map<String, Value>,
    used: BTreeSet<&'a str>,
    owner: String,
}

impl<'a> Kwargs<'a> {
    /// Wraps `value` (a JSON object) for `owner` (named in errors).
    pub fn new(value: &'a Value, owner: &str) -> Result<Self, String> {
        let map = value.as_object().ok_or_else(|| format!("{owner}: kwargs are not an object"))?;
        Ok(Kwargs { map, used: BTreeSet::new(), owner: owner.to_string() })
    }

    /// The raw value of `key`, if present and not null.
    pub fn raw(&mut self, key: &'a str) -> Option<&'a Value> {
        self.used.insert(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A number, or `default` when absent.
    pub fn f64_or(&mut self, key: &'a str, default: f64) -> Result<f64, String> {
        Ok(self.f64_opt(key)?.unwrap_or(default))
    }

    /// A number, if present.
    pub fn f64_opt(&mut self, key: &'a str) -> Result<Option<f64>, String> {
        let owner = self.owner.clone();
        self.raw(key).map(|v| v.as_f64().ok_or_else(|| format!("{owner}: {key} = {v} is not a number"))).transpose()
    }

    /// A non-negative integer, if present.
    pub fn u64_opt(&mut self, key: &'a str) -> Result<Option<u64>, String> {
        let owner = self.owner.clone();
        self.raw(key).map(|v| v.as_u64().ok_or_else(|| format!("{owner}: {key} = {v} is not a count"))).transpose()
    }

    /// A boolean, or `default` when absent.
    pub fn bool_or(&mut self, key: &'a str, default: bool) -> Result<bool, String> {
        let owner = self.owner.clone();
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| format!("{owner}: {key} = {v} is not a boolean")),
        }
    }

    /// Marks keys that carry no meaning here (e.g. `name`) as read.
    pub fn ignore(&mut self, keys: &[&'a str]) {
        self.used.extend(keys.iter().copied());
    }

    /// Fails when a kwarg was never read, as Keras rejects unknown arguments.
    pub fn finish(self) -> Result<(), String> {
        match self.map.keys().find(|k| !self.used.contains(k.as_str())) {
            Some(k) => Err(format!("{}: unsupported argument {k:?}", self.owner)),
            None => Ok(()),
        }
    }
}
