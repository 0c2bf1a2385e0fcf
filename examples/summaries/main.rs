//! Writes every summary kind wick supports into a Keras-style log directory and prints
//! the command that shows it in TensorBoard.
//!
//! ```text
//! cargo run --release --example summaries -- [--logdir DIR]
//! ```
//!
//! `DIR` defaults to `logs/fit/<YYYYmmdd-HHMMSS>` (local time), the TensorFlow tutorial
//! layout. The data are deterministic (seeded); see `showcase.rs` for the layout.

mod showcase;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Writes scalars, histograms, images, text, PR curves and HParams into a TensorBoard log directory.

usage: summaries [--logdir DIR]

  --logdir DIR   log directory to write (default: logs/fit/<YYYYmmdd-HHMMSS>, local time)
  -h, --help     print this help";

/// What the command line asks for.
enum Command {
    Help,
    Write { logdir: PathBuf },
}

/// Parses `--logdir DIR`, `--logdir=DIR` and `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut logdir = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--logdir" => match args.next() {
                Some(dir) if !dir.is_empty() => logdir = Some(PathBuf::from(dir)),
                _ => return Err("--logdir needs a directory".into()),
            },
            s if s.starts_with("--logdir=") => {
                let dir = &s["--logdir=".len()..];
                if dir.is_empty() {
                    return Err("--logdir needs a directory".into());
                }
                logdir = Some(PathBuf::from(dir));
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let logdir = logdir.unwrap_or_else(|| {
        PathBuf::from("logs").join("fit").join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string())
    });
    Ok(Command::Write { logdir })
}

/// Quotes `s` for a POSIX shell when it holds anything but safe characters.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=+@%,".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn main() -> ExitCode {
    let logdir = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Write { logdir }) => logdir,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let expected = match showcase::write_showcase(&logdir) {
        Ok(expected) => expected,
        Err(e) => {
            eprintln!("error: cannot write the showcase into {}: {e}", logdir.display());
            return ExitCode::FAILURE;
        }
    };

    println!("Wrote the showcase into {}:", logdir.display());
    // The Keras-style runs first, then the HParams trials.
    let trial_prefix = format!("{}/", expected.hparams.experiment_run);
    let mut runs: Vec<_> = expected.runs.iter().collect();
    runs.sort_by_key(|(run, _)| run.starts_with(&trial_prefix));
    for (run, data) in runs {
        let kinds: [(&str, Vec<(&String, usize)>); 5] = [
            ("scalars", data.scalars.iter().map(|(t, v)| (t, v.len())).collect()),
            ("histograms", data.histograms.iter().map(|(t, v)| (t, v.len())).collect()),
            ("images", data.images.iter().map(|(t, v)| (t, v.len())).collect()),
            ("text", data.text.iter().map(|(t, v)| (t, v.len())).collect()),
            ("pr_curves", data.pr_curves.iter().map(|(t, v)| (t, v.len())).collect()),
        ];
        println!("  {run}");
        for (kind, tags) in kinds.iter().filter(|(_, tags)| !tags.is_empty()) {
            let list: Vec<String> = tags.iter().map(|(tag, n)| format!("{tag} ({n})")).collect();
            println!("    {kind:<11} {}", list.join(", "));
        }
    }
    let hp = &expected.hparams;
    let columns: Vec<&str> = hp.hparams.iter().map(|c| c.name.as_str()).collect();
    let metrics: Vec<String> = hp
        .metrics
        .iter()
        .map(|m| if m.group.is_empty() { m.tag.clone() } else { format!("{}/{}", m.group, m.tag) })
        .collect();
    println!("  {}  (HParams experiment: {}; metrics: {})", hp.experiment_run, columns.join(", "), metrics.join(", "));
    for s in &hp.sessions {
        let values: Vec<String> = s.hparams.iter().map(|(k, v)| format!("{k}={}", hparam_text(v))).collect();
        let finals: Vec<String> = s.metrics.iter().map(|m| format!("{}={:.4}", m.tag, m.value)).collect();
        println!(
            "    session {} [{:?}, group {}]: {}; {}",
            s.run,
            s.status,
            s.group,
            values.join(" "),
            finals.join(" ")
        );
    }
    println!();
    println!("View it with:");
    println!("  tensorboard --logdir {}", shell_quote(&logdir.to_string_lossy()));
    println!("then open http://localhost:6006/");
    ExitCode::SUCCESS
}

fn hparam_text(v: &wick_tfevents::summary::hparams::HParamValue) -> String {
    use wick_tfevents::summary::hparams::HParamValue;
    match v {
        HParamValue::Number(n) => n.to_string(),
        HParamValue::Text(s) => s.clone(),
        HParamValue::Bool(b) => b.to_string(),
    }
}
