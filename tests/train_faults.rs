//! The `train` and `evaluate` scripts under faults: a mistyped `--data`, the leftovers of
//! a dataset generation that was killed, a run configuration that cannot be written, a
//! closed stdout, and a run killed with SIGKILL and resumed from `--backup-dir`.
//!
//! Every run is tiny (a generated dataset of a few 16×16 images per class, a few epochs),
//! in its own temporary folder. The example binaries are the ones `cargo test --release`
//! builds next to this test (`target/release/examples/`).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use support::examples::example;
use wick::callbacks::BackupAndRestore;

/// A tiny training run's flags (data generation, model, epochs), before the caller's.
fn tiny(epochs: usize) -> Vec<String> {
    let flags = [
        "--shapes-per-class",
        "10",
        "--shapes-size",
        "16",
        "--image-size",
        "16",
        "--batch-size",
        "8",
        "--epochs",
        &epochs.to_string(),
        "--patience",
        "100",
        "--seed",
        "3",
    ];
    flags.iter().map(|s| s.to_string()).collect()
}

fn s(path: &Path) -> String {
    path.to_str().expect("UTF-8 temporary path").to_string()
}

/// Runs `name` in `cwd` to completion and returns its output.
fn output(name: &str, args: &[String], cwd: &Path) -> Output {
    Command::new(example(name)).args(args).current_dir(cwd).output().unwrap_or_else(|e| panic!("start {name}: {e}"))
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `name`; panics with its output unless it succeeds. Returns stdout.
fn run_ok(name: &str, args: &[String], cwd: &Path) -> String {
    let out = output(name, args, cwd);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// A trained tiny run in `root/run` on a dataset generated in `root/shapes`.
fn trained_run(root: &Path) -> PathBuf {
    let run = root.join("run");
    let mut args = tiny(1);
    args.extend(["--generate".into(), "--data".into(), s(&root.join("shapes"))]);
    args.extend(["--logdir".into(), s(&run), "--verbose".into(), "0".into()]);
    run_ok("train", &args, root);
    run
}

#[test]
fn mistyped_data_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let typo = root.join("missing").join("typo");
    let mut args = tiny(1);
    args.extend(["--data".into(), s(&typo), "--logdir".into(), s(&root.join("run"))]);
    let out = output("train", &args, root);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "train on a missing --data folder:\n{stdout}\n{stderr}");
    assert!(stderr.contains(&s(&typo)), "the error names the folder: {stderr}");
    assert!(stderr.contains("--generate"), "the error says how to generate it: {stderr}");
    assert!(!root.join("missing").exists(), "nothing was created for the mistyped path");
    assert!(!root.join("run").exists(), "no run was started");

    // With --generate the same folder is written, and used.
    args.extend(["--generate".into(), "--verbose".into(), "0".into()]);
    let stdout = run_ok("train", &args, root);
    assert!(stdout.contains("Generated the synthetic shapes dataset"), "{stdout}");
    assert!(typo.join("circle").is_dir(), "--generate wrote the dataset into --data");
}

#[test]
fn default_dataset_is_generated_and_leftovers_of_a_killed_generation_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let parent = root.join("data");
    let old = SystemTime::now() - Duration::from_secs(3600);
    let folder = |name: &str, time: SystemTime| {
        let p = parent.join(name);
        std::fs::create_dir_all(p.join("circle")).unwrap();
        std::fs::write(p.join("circle").join("0.png"), b"half written").unwrap();
        for q in [p.join("circle"), p.clone()] {
            std::fs::File::open(&q).unwrap().set_modified(time).unwrap();
        }
        p
    };
    // What a generation killed an hour ago leaves; a name that is not train's; one that a
    // run started after this one is writing.
    let leftover = folder(".shapes-Ab12Cd", old);
    let not_ours = folder(".shapes-mine", old);
    let in_use = folder(".shapes-Zz98Yy", SystemTime::now() + Duration::from_secs(3600));

    let mut args = tiny(1);
    args.extend(["--logdir".into(), s(&root.join("run")), "--verbose".into(), "0".into()]);
    let stdout = run_ok("train", &args, root);
    assert!(stdout.contains("Generated the synthetic shapes dataset in data/shapes"), "{stdout}");
    assert!(parent.join("shapes").join("circle").is_dir(), "the default dataset was generated");
    assert!(!leftover.exists(), "the stale temporary dataset was removed; train printed:\n{stdout}");
    assert!(stdout.contains("Removed") && stdout.contains(".shapes-Ab12Cd"), "{stdout}");
    assert!(not_ours.exists() && in_use.exists(), "only stale `.shapes-XXXXXX` folders are removed");
    let names: Vec<String> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".shapes-"))
        .collect();
    assert_eq!(names.len(), 2, "this run left no temporary folder: {names:?}");
}

#[test]
fn run_configuration_that_cannot_be_written_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A regular file where a folder is needed: no run directory under it, even for root.
    let blocker = root.join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let logdir = blocker.join("run");
    let mut args = tiny(1);
    args.extend(["--generate".into(), "--data".into(), s(&root.join("shapes"))]);
    args.extend(["--logdir".into(), s(&logdir), "--verbose".into(), "0".into()]);
    let out = output("train", &args, root);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let config = logdir.join("checkpoints").join("config.json");
    assert!(stderr.contains(&s(&config)), "the error names the run configuration: {stderr}");
    assert!(stderr.contains(&s(&logdir.join("checkpoints"))), "and the folder it cannot create: {stderr}");
    assert!(stderr.contains("os error"), "with the OS error as the source: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Spawns `name` with its stdout a pipe whose reader is closed at once, and waits.
fn with_closed_stdout(name: &str, args: &[String], cwd: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(example(name))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    drop(child.stdout.take()); // the reader goes away before the first line
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn closed_stdout_is_a_quiet_exit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let run = trained_run(root);

    // `evaluate --run R | head -n 1`: no panic (status 101), no error; the TensorBoard
    // results are still written.
    let (code, stderr) = with_closed_stdout("evaluate", &["--run".into(), s(&run)], root);
    assert!(!stderr.contains("panicked"), "evaluate panicked on a closed stdout: {stderr}");
    assert_eq!(code, Some(0), "evaluate on a closed stdout: {stderr}");
    assert!(stderr.is_empty(), "a closed stdout is not an error: {stderr}");
    let eval_files = std::fs::read_dir(run.join("eval")).map(|d| d.count()).unwrap_or(0);
    assert!(eval_files > 0, "evaluate still wrote its TensorBoard results");

    // `train | head -n 1` ends quietly too. (`--verbose 0`: what train itself prints; the
    // callbacks' own verbose messages are theirs.)
    let mut args = tiny(1);
    args.extend(["--data".into(), s(&root.join("shapes")), "--logdir".into(), s(&root.join("run2"))]);
    args.extend(["--verbose".into(), "0".into()]);
    let (code, stderr) = with_closed_stdout("train", &args, root);
    assert!(!stderr.contains("panicked"), "train panicked on a closed stdout: {stderr}");
    assert_eq!(code, Some(0), "train on a closed stdout: {stderr}");
}

/// The weights in a safetensors file, by name, as bit patterns.
fn weights(path: &Path) -> Vec<(String, Vec<u32>)> {
    let tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
    let mut out: Vec<(String, Vec<u32>)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let bits = t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect();
            (name, bits)
        })
        .collect();
    out.sort();
    out
}

/// The first epoch a `--verbose 2` run printed a header for (`Epoch k/E`), 1-based.
fn first_epoch(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Epoch ").and_then(|r| r.split('/').next()).and_then(|k| k.parse().ok()))
        .unwrap_or_else(|| panic!("no `Epoch k/E` line in:\n{stdout}"))
}

#[test]
fn killed_run_resumes_from_its_backup_dir() {
    const EPOCHS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = root.join("shapes");
    let args_for = |run: &Path| {
        let mut args = tiny(EPOCHS);
        args.extend(["--generate".into(), "--data".into(), s(&data), "--logdir".into(), s(run)]);
        args.extend(["--backup-dir".into(), s(&run.join("backup")), "--verbose".into(), "2".into()]);
        args
    };

    // The uninterrupted run.
    let reference = root.join("reference");
    run_ok("train", &args_for(&reference), root);
    assert!(!reference.join("backup").exists(), "the backup is deleted when the run completes");

    // The same run, SIGKILLed once epoch 3 has begun (epochs 1 and 2 are backed up).
    let run = root.join("killed");
    let args = args_for(&run);
    let mut child = Command::new(example("train"))
        .args(&args)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let stop = line.starts_with(&format!("Epoch 3/{EPOCHS}"));
        printed.push(line);
        if stop {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "train was killed before it finished:\n{}", printed.join("\n"));
    let state = BackupAndRestore::latest(run.join("backup"))
        .unwrap()
        .unwrap_or_else(|| panic!("no backup after the kill; train printed:\n{}", printed.join("\n")));
    assert!((2..EPOCHS).contains(&state.epoch), "backup after the kill: {state:?}");
    // A row written after that backup, by an epoch the resumed run runs again, must not
    // stay twice in the CSV (as if the kill had come between the row and the backup).
    let csv = run.join("training.csv");
    let mut rows = std::fs::read_to_string(&csv).unwrap();
    let done = format!("{},", state.epoch - 1);
    let last_done = rows.lines().find(|l| l.starts_with(&done)).expect("the CSV row of the last backed-up epoch");
    let fake = format!("{},{}", state.epoch, &last_done[done.len()..]);
    rows.push_str(&(fake + "\r\n"));
    std::fs::write(&csv, rows).unwrap();

    // Started again with the same arguments: it continues at the backup's epoch and ends
    // as the uninterrupted run did.
    let stdout = run_ok("train", &args, root);
    assert!(stdout.contains(&format!("continuing at epoch {}", state.epoch + 1)), "train says it resumes:\n{stdout}");
    assert_eq!(first_epoch(&stdout), state.epoch + 1, "the resumed run skips the done epochs:\n{stdout}");
    assert!(!run.join("backup").exists(), "the backup is deleted when the resumed run completes");
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        std::fs::read_to_string(reference.join("training.csv")).unwrap(),
        "training.csv: each epoch once, with the uninterrupted run's values"
    );
    let best = |r: &Path| r.join("checkpoints").join("best.safetensors");
    assert_eq!(weights(&best(&run)), weights(&best(&reference)), "the best checkpoint is the uninterrupted run's");
    let config = |r: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(r.join("checkpoints").join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(config(&run)["best"], config(&reference)["best"], "config.json's best epoch");
}
