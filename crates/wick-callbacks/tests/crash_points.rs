//! Crash points: a child process (this test binary, re-invoked with the ignored test
//! `crash_child` as entry point) trains with ModelCheckpoint and BackupAndRestore and is
//! SIGKILLed, through the test-only hook `WICK_TEST_CRASH_AT=<checkpoint|backup>:<n>`,
//! right after each step (write, fsync, rename, removal) of every checkpoint save and of
//! every backup save. After each kill:
//! * the checkpoint loads as one complete set (the weights and optimizer state of the same
//!   epoch, equal to an uninterrupted run's at that epoch), or, before its first commit,
//!   loading it is an error;
//! * the backup names the expected epoch;
//! * a restarted child resumes from the backup and ends with exactly (bit for bit) the
//!   weights of an uninterrupted run, and leaves no temporary file behind.
#![cfg(unix)]

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use wick_callbacks::{
    BackupAndRestore, CallbackList, Context, Error, Logs, ModelCheckpoint, ModelVars, Params, RunState, TEMP_PREFIX,
};
use wick_optim::{rules::AdamRule, LrControl, OptimizerConfig};

const N: usize = 24;
const BATCH: usize = 4;
const STEPS: usize = N / BATCH;
const EPOCHS: usize = 3;
/// Crash points per save (see ModelCheckpoint's and BackupAndRestore's save sequences).
const CHECKPOINT_STEPS: usize = 6;
const BACKUP_STEPS: usize = 8;
/// The checkpoint save's step that commits it (the manifest's rename).
const CHECKPOINT_COMMIT: usize = 4;
/// The backup save's step that commits it (the manifest's rename).
const BACKUP_COMMIT: usize = 7;
const ROOT_ENV: &str = "WICK_CRASH_TEST_ROOT";

type Weights = Vec<(String, Vec<u32>)>;

fn lcg(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n).map(|_| (lcg(&mut s) % 2000) as f32 / 1000.0 - 1.0).collect()
}

fn permutation(epoch: usize) -> Vec<u32> {
    let mut p: Vec<u32> = (0..N as u32).collect();
    let mut s = 42 ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in (1..N).rev() {
        let j = (lcg(&mut s) % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

fn bits(vars: &ModelVars) -> Weights {
    vars.vars()
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|f| f.to_bits()).collect(),
            )
        })
        .collect()
}

/// A Linear(3 → 2) model (its initial weights from `init_seed`) and its Adam optimizer.
fn model(init_seed: u64) -> (ModelVars, wick_optim::Adam, Var, Var) {
    let dev = Device::Cpu;
    let w = Var::from_tensor(&Tensor::from_vec(values(init_seed, 6), (2, 3), &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::from_vec(values(init_seed + 1, 2), 2, &dev).unwrap()).unwrap();
    let named = vec![("linear.weight".to_string(), w.clone()), ("linear.bias".to_string(), b.clone())];
    let opt = wick_optim::Adam::with_names(named.clone(), OptimizerConfig::new(AdamRule::default(), 0.01)).unwrap();
    (ModelVars::new(named), opt, w, b)
}

fn checkpoint_path(root: &Path) -> PathBuf {
    root.join("ckpt").join("model.safetensors")
}

/// One process's training in `root`: ModelCheckpoint (every epoch) then BackupAndRestore.
/// Returns the weights after every epoch run (epoch index, weights) and the final ones.
fn train(root: &Path, init_seed: u64) -> (Vec<(usize, Weights)>, Weights) {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(values(7, N * 3), (N, 3), &dev).unwrap();
    let y = Tensor::from_vec(values(8, N * 2), (N, 2), &dev).unwrap();
    let (vars, mut opt, w, b) = model(init_seed);
    let params = Params { verbose: 0, epochs: EPOCHS, steps: Some(STEPS) };
    let mut state = RunState::default();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(ModelCheckpoint::new(checkpoint_path(root).to_string_lossy())));
    cbs.push(Box::new(BackupAndRestore::new(root.join("backup"))));
    macro_rules! ctx {
        () => {
            &mut Context::new(&params, &mut state, Some(&vars), Some(&mut opt as &mut dyn LrControl))
        };
    }
    cbs.on_train_begin(ctx!()).unwrap();
    let first = state.initial_epoch;
    let mut per_epoch = Vec::new();
    let mut last = Logs::new();
    for epoch in first..EPOCHS {
        state.epoch = epoch;
        cbs.on_epoch_begin(epoch, ctx!()).unwrap();
        let perm = permutation(epoch);
        let mut logs = Logs::new();
        for batch in 0..STEPS {
            cbs.on_train_batch_begin(batch, ctx!()).unwrap();
            let idx = Tensor::from_slice(&perm[batch * BATCH..(batch + 1) * BATCH], BATCH, &dev).unwrap();
            let pred = x.index_select(&idx, 0).unwrap().matmul(&w.as_tensor().t().unwrap()).unwrap();
            let pred = pred.broadcast_add(b.as_tensor()).unwrap();
            let loss = (pred - y.index_select(&idx, 0).unwrap()).unwrap().sqr().unwrap().mean_all().unwrap();
            opt.backward_step(&loss).unwrap();
            state.global_step += 1;
            logs = Logs::sorted([("loss", loss.to_scalar::<f32>().unwrap() as f64)]);
            cbs.on_train_batch_end(batch, &mut logs, ctx!()).unwrap();
        }
        per_epoch.push((epoch, bits(&vars)));
        cbs.on_epoch_end(epoch, &mut logs, ctx!()).unwrap();
        last = logs;
    }
    cbs.on_train_end(&mut last, ctx!()).unwrap();
    (per_epoch, bits(&vars))
}

/// The child's entry point: trains in `$WICK_CRASH_TEST_ROOT` and writes the final weights
/// there (a crash hook may kill it first).
#[test]
#[ignore = "entry point of the child processes of crash_points_of_checkpoint_and_backup_saves"]
fn crash_child() {
    let Ok(root) = std::env::var(ROOT_ENV) else { return };
    let root = PathBuf::from(root);
    let (_, last) = train(&root, 1);
    let text: Vec<String> = last.iter().map(|(n, v)| format!("{n} {v:?}")).collect();
    std::fs::write(root.join("final.txt"), text.join("\n")).unwrap();
}

fn child(root: &Path, crash_at: Option<&str>) -> std::process::ExitStatus {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["crash_child", "--exact", "--ignored", "--test-threads=1", "--nocapture"]).env(ROOT_ENV, root);
    match crash_at {
        Some(c) => cmd.env("WICK_TEST_CRASH_AT", c),
        None => cmd.env_remove("WICK_TEST_CRASH_AT"),
    };
    cmd.output().map(|o| o.status).unwrap()
}

/// Every file and folder under `dir` whose name starts with wick's temporary prefix.
fn temps_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            out.push(p.clone());
        }
        if p.is_dir() {
            out.extend(temps_under(&p));
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn crash_points_of_checkpoint_and_backup_saves() {
    // The uninterrupted run.
    let reference_dir = tempfile::tempdir().unwrap();
    let (per_epoch, final_weights) = train(reference_dir.path(), 1);
    assert_eq!(per_epoch.len(), EPOCHS);
    let final_text: Vec<String> = final_weights.iter().map(|(n, v)| format!("{n} {v:?}")).collect();
    let final_text = final_text.join("\n");

    let mut table = Vec::new();
    let trials = (1..=EPOCHS * CHECKPOINT_STEPS)
        .map(|n| ("checkpoint", n, CHECKPOINT_STEPS))
        .chain((1..=EPOCHS * BACKUP_STEPS).map(|n| ("backup", n, BACKUP_STEPS)));
    for (sequence, n, per_save) in trials {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let at = format!("{sequence}:{n}");
        let status = child(root, Some(&at));
        assert_eq!(status.signal(), Some(9), "{at}: the child was not killed: {status:?}");
        let (save, step) = ((n - 1) / per_save, (n - 1) % per_save + 1);
        let leftovers = temps_under(root).len();

        // The checkpoint: one complete set, or (before the first commit) an error.
        let ckpt = checkpoint_path(root);
        let checkpoint_epoch = match sequence {
            "checkpoint" if step < CHECKPOINT_COMMIT => save,
            "checkpoint" => save + 1,
            _ => save + 1,
        };
        let (vars, mut opt, _, _) = model(5);
        let loaded = ModelCheckpoint::load_checkpoint(&ckpt, &vars, Some(&mut opt as &mut dyn LrControl));
        let checkpoint_result = match loaded {
            Ok(info) => {
                assert_eq!(info.epoch, checkpoint_epoch, "{at}: checkpoint epoch");
                assert_eq!(bits(&vars), per_epoch[info.epoch - 1].1, "{at}: weights of epoch {}", info.epoch);
                assert_eq!(opt.iterations(), (info.epoch * STEPS) as u64, "{at}: optimizer state of another epoch");
                let staged = info.weights != ckpt
                    || info.optimizer.as_deref()
                        != Some(&*PathBuf::from(format!("{}.optimizer.safetensors", ckpt.display())));
                format!("loads epoch {}{}", info.epoch, if staged { " (from the staged files)" } else { "" })
            }
            Err(e) => {
                assert_eq!(checkpoint_epoch, 0, "{at}: a committed checkpoint does not load: {e}");
                assert!(matches!(e, Error::Io { .. } | Error::CheckpointMismatch { .. }), "{at}: {e:?}");
                assert!(e.to_string().contains("model.safetensors"), "{at}: {e}");
                "none yet (load: error naming it)".to_string()
            }
        };

        // The backup: the last committed one.
        let backup_epoch = match sequence {
            "backup" if step >= BACKUP_COMMIT => save + 1,
            _ => save,
        };
        let latest = BackupAndRestore::latest(root.join("backup")).unwrap().map(|s| s.epoch);
        assert_eq!(latest, (backup_epoch > 0).then_some(backup_epoch), "{at}: backup");

        // The restart: resumes and ends as the uninterrupted run, without leftovers. (The
        // pause puts the leftovers clearly before the restarted process's start.)
        std::thread::sleep(std::time::Duration::from_millis(120));
        let status = child(root, None);
        assert!(status.success(), "{at}: the restarted run failed: {status:?}");
        assert_eq!(std::fs::read_to_string(root.join("final.txt")).unwrap(), final_text, "{at}: final weights");
        assert_eq!(temps_under(root), Vec::<PathBuf>::new(), "{at}: temporary files left behind");
        assert_eq!(
            names(&root.join("ckpt")),
            ["model.safetensors", "model.safetensors.manifest.json", "model.safetensors.optimizer.safetensors"]
        );
        assert!(!root.join("backup").exists(), "{at}: the backup is deleted after the completed run");
        let info = ModelCheckpoint::read_checkpoint(&ckpt).unwrap();
        assert_eq!((info.epoch, info.weights), (EPOCHS, ckpt.clone()));
        table.push(format!(
            "| {sequence} save {} step {step} | temp files left: {leftovers} | checkpoint: {checkpoint_result} | backup: {} | \
             resumed: bit-identical, no temp files |",
            save + 1,
            latest.map_or("none".into(), |e| format!("next epoch {e}"))
        ));
    }
    println!("{}", table.join("\n"));
}
