//! Runs every section the project implements over a golden file and returns the mirror
//! tree that `compare.py` checks.

use serde_json::{Map, Value};

/// Computes one section's mirror tree from the whole golden file.
type Section = fn(&Value) -> Value;

/// The mirror tree for `golden`: one entry per implemented section present in it.
pub fn run_all(golden: &Value) -> Value {
    let sections: [(&str, Section); 6] = [
        ("optimizers", crate::optimizers::run),
        ("schedules", crate::schedules::run),
        ("losses", crate::losses::run),
        ("metrics", crate::metrics::run),
        ("callbacks", crate::callbacks::run),
        ("fit_trace", crate::fit_trace::run),
    ];
    let mut out = Map::new();
    for (name, run) in sections {
        if golden.get(name).is_some() {
            out.insert(name.to_string(), run(golden));
        }
    }
    Value::Object(out)
}
