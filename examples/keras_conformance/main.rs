//! Keras conformance runner: reads a golden file of Keras-computed values (its inputs,
//! kwargs and sequences) and writes what wick computes for the same inputs, as the mirror
//! tree `tests/data/compare.py` checks.
//!
//! ```text
//! cargo run --release --example keras_conformance -- GOLDEN.json OUT.json
//! python3 tests/data/compare.py GOLDEN.json OUT.json
//! ```
//!
//! `WICK_TEST_DEVICE=cuda` computes on GPU 0 (a `--features cuda` build); the default is the
//! CPU.
//!
//! Sections: `optimizers`, `schedules`, `losses`, `metrics`. A case that cannot be
//! computed is reported on stderr and left out (compare.py counts it as failed).

mod callbacks;
mod device;
mod fit_trace;
mod json;
mod losses;
mod metrics;
mod optimizers;
mod runner;
mod schedules;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [golden_path, out_path] = args.as_slice() else {
        eprintln!("usage: keras_conformance GOLDEN.json OUT.json");
        return ExitCode::from(2);
    };
    let golden: serde_json::Value = match std::fs::read_to_string(golden_path)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: cannot read {golden_path}: {e}");
            return ExitCode::from(2);
        }
    };
    let out = runner::run_all(&golden);
    if let Err(e) = std::fs::write(out_path, out.to_string()) {
        eprintln!("error: cannot write {out_path}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
