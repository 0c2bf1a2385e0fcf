//! BackupAndRestore: a run killed and restarted with the same arguments continues where
//! it stopped, and its final weights equal an uninterrupted run's bit for bit (CPU).

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use std::path::Path;
use wick_callbacks::{
    BackupAndRestore, BackupState, Callback, CallbackList, Context, Error, Logs, ModelVars, Params, RunState, SaveFreq,
};
use wick_optim::{rules::AdamRule, LrControl, OptimizerConfig};

const N: usize = 24;
const BATCH: usize = 4;
const STEPS: usize = N / BATCH;
const SEED: u64 = 42;

fn lcg(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n).map(|_| (lcg(&mut s) % 2000) as f32 / 1000.0 - 1.0).collect()
}

/// The epoch's shuffle, a function of (seed, epoch) only: what makes epoch + batch enough
/// to resume.
fn permutation(epoch: usize) -> Vec<u32> {
    let mut p: Vec<u32> = (0..N as u32).collect();
    let mut s = SEED ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in (1..N).rev() {
        let j = (lcg(&mut s) % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Stop {
    Never,
    /// Simulated kill right after `on_epoch_end(e)`.
    AfterEpoch(usize),
    /// Simulated kill right after `on_train_batch_end(b)` of epoch `e`.
    AfterBatch(usize, usize),
}

/// A callback failing at the end of one epoch (the run ends with an error).
struct FailAt(usize);
impl Callback for FailAt {
    fn on_epoch_end(&mut self, epoch: usize, _: &mut Logs, _: &mut Context<'_>) -> wick_callbacks::Result<()> {
        if epoch == self.0 {
            return Err(Error::Other("boom".into()));
        }
        Ok(())
    }
}

struct Outcome {
    /// Final weights (None when killed).
    weights: Option<Vec<(String, Vec<u32>)>>,
    /// (epoch, batch) of every batch run.
    batches: Vec<(usize, usize)>,
    iterations: u64,
}

/// One process's worth of training: a Linear(3 → 2) layer, Adam, MSE, 6 batches of 4 per
/// epoch; everything is dropped on return (as a killed process loses it).
fn run(
    backup: BackupAndRestore,
    epochs: usize,
    stop: Stop,
    init_seed: u64,
    fail_at: Option<usize>,
) -> Result<Outcome, Error> {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(values(7, N * 3), (N, 3), &dev)?;
    let y = Tensor::from_vec(values(8, N * 2), (N, 2), &dev)?;
    // A restarted run may start from other weights: the backup replaces them.
    let w = Var::from_tensor(&Tensor::from_vec(values(init_seed, 6), (2, 3), &dev)?)?;
    let b = Var::from_tensor(&Tensor::from_vec(values(init_seed + 1, 2), 2, &dev)?)?;
    let named = vec![("linear.weight".to_string(), w.clone()), ("linear.bias".to_string(), b.clone())];
    let vars = ModelVars::new(named.clone());
    let config = OptimizerConfig::new(AdamRule::default(), 0.01);
    let mut opt = wick_optim::Adam::with_names(named, config)?;
    let params = Params { verbose: 0, epochs, steps: Some(STEPS) };
    let mut state = RunState::default();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(backup));
    if let Some(e) = fail_at {
        cbs.push(Box::new(FailAt(e)));
    }
    let mut batches = Vec::new();
    macro_rules! ctx {
        () => {
            &mut Context::new(&params, &mut state, Some(&vars), Some(&mut opt as &mut dyn LrControl))
        };
    }
    cbs.on_train_begin(ctx!())?;
    let (first_epoch, first_step) = (state.initial_epoch, state.initial_step);
    let mut last = Logs::new();
    for epoch in first_epoch..epochs {
        state.epoch = epoch;
        cbs.on_epoch_begin(epoch, ctx!())?;
        let perm = permutation(epoch);
        let start = if epoch == first_epoch { first_step } else { 0 };
        let mut logs = Logs::new();
        for batch in start..STEPS {
            cbs.on_train_batch_begin(batch, ctx!())?;
            let idx = Tensor::from_slice(&perm[batch * BATCH..(batch + 1) * BATCH], BATCH, &dev)?;
            let xb = x.index_select(&idx, 0)?;
            let yb = y.index_select(&idx, 0)?;
            let pred = xb.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
            let loss = (pred - yb)?.sqr()?.mean_all()?;
            opt.backward_step(&loss)?;
            state.global_step += 1;
            batches.push((epoch, batch));
            logs = Logs::sorted([("loss", loss.to_scalar::<f32>()? as f64)]);
            cbs.on_train_batch_end(batch, &mut logs, ctx!())?;
            if stop == Stop::AfterBatch(epoch, batch) {
                return Ok(Outcome { weights: None, batches, iterations: opt.iterations() });
            }
            if state.stop_training {
                break;
            }
        }
        cbs.on_epoch_end(epoch, &mut logs, ctx!())?;
        last = logs;
        if stop == Stop::AfterEpoch(epoch) {
            return Ok(Outcome { weights: None, batches, iterations: opt.iterations() });
        }
        if state.stop_training {
            break;
        }
    }
    cbs.on_train_end(&mut last, ctx!())?;
    let weights = vars
        .vars()
        .iter()
        .map(|(n, v)| {
            Ok((n.clone(), v.as_tensor().flatten_all()?.to_vec1::<f32>()?.iter().map(|f| f.to_bits()).collect()))
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Outcome { weights: Some(weights), batches, iterations: opt.iterations() })
}

fn backup(dir: &Path, freq: SaveFreq) -> BackupAndRestore {
    BackupAndRestore::new(dir).save_freq(freq)
}

fn reference(epochs: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let out = run(backup(&dir.path().join("b"), SaveFreq::Epoch), epochs, Stop::Never, 1, None).unwrap();
    assert!(!dir.path().join("b").exists(), "the backup is deleted after a completed run");
    out
}

#[test]
fn epoch_backup_resumes_bit_for_bit() {
    let full = reference(5);
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("backup");

    let killed = run(backup(&bdir, SaveFreq::Epoch), 5, Stop::AfterEpoch(1), 1, None).unwrap();
    assert!(killed.weights.is_none());
    assert_eq!(
        BackupAndRestore::latest(&bdir).unwrap(),
        Some(BackupState { epoch: 2, step: 0, global_step: 2 * STEPS as u64, has_optimizer: true })
    );

    // Restarted with the same arguments (and other initial weights).
    let resumed = run(backup(&bdir, SaveFreq::Epoch), 5, Stop::Never, 99, None).unwrap();
    assert_eq!(resumed.batches.first(), Some(&(2, 0)));
    assert_eq!(resumed.batches.len(), 3 * STEPS);
    assert_eq!(resumed.iterations, full.iterations);
    assert_eq!(resumed.weights, full.weights);
    assert!(!bdir.exists(), "deleted at the end of the completed run");
}

#[test]
fn step_backup_resumes_mid_epoch_bit_for_bit() {
    let full = reference(4);
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("backup");
    let freq = SaveFreq::Batches(4);

    // Saves after global batches 4, 8, 12, 16, … Killed after global batch 15 (epoch 2,
    // batch 2): the last backup is from global batch 12, the end of epoch 1's batches
    // (its epoch end has not run yet), so batches 13–15 are run again.
    let killed = run(backup(&bdir, freq), 4, Stop::AfterBatch(2, 2), 1, None).unwrap();
    assert_eq!(killed.batches.len(), 15);
    assert_eq!(
        BackupAndRestore::latest(&bdir).unwrap(),
        Some(BackupState { epoch: 1, step: STEPS, global_step: 12, has_optimizer: true })
    );
    // Restarted, then killed again after global batch 19 (epoch 3, batch 0): the last
    // backup is from global batch 16 (epoch 2, next batch 4).
    let killed = run(backup(&bdir, freq), 4, Stop::AfterBatch(3, 0), 5, None).unwrap();
    assert_eq!(killed.batches.first(), Some(&(2, 0)));
    assert_eq!(
        BackupAndRestore::latest(&bdir).unwrap(),
        Some(BackupState { epoch: 2, step: 4, global_step: 16, has_optimizer: true })
    );

    let resumed = run(backup(&bdir, freq), 4, Stop::Never, 6, None).unwrap();
    assert_eq!(resumed.batches.first(), Some(&(2, 4)));
    assert_eq!(resumed.batches.len(), 4 * STEPS - 16);
    assert_eq!(resumed.iterations, full.iterations);
    assert_eq!(resumed.weights, full.weights);
}

#[test]
fn a_failed_run_keeps_its_backup_and_resumes() {
    let full = reference(4);
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("backup");
    // FailAt runs after BackupAndRestore in on_epoch_end: the backup of epoch 2 is written.
    let err = run(backup(&bdir, SaveFreq::Epoch), 4, Stop::Never, 1, Some(2)).err().expect("fails");
    assert!(err.to_string().contains("boom"));
    assert_eq!(BackupAndRestore::latest(&bdir).unwrap().map(|s| s.epoch), Some(3));
    let resumed = run(backup(&bdir, SaveFreq::Epoch), 4, Stop::Never, 3, None).unwrap();
    assert_eq!(resumed.weights, full.weights);
}

#[test]
fn double_checkpoint_falls_back_to_the_previous_backup() {
    let full = reference(4);
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("backup");
    let make = || backup(&bdir, SaveFreq::Epoch).double_checkpoint(true);
    run(make(), 4, Stop::AfterEpoch(2), 1, None).unwrap();
    let manifest = std::fs::read_to_string(bdir.join("checkpoint")).unwrap();
    assert_eq!(manifest, "wick-backup 1\nlatest ckpt-00000003\nprevious ckpt-00000002\n");
    // The latest backup is damaged: the previous one (after epoch 1) is used.
    std::fs::write(bdir.join("ckpt-00000003/model.safetensors"), b"garbage").unwrap();
    let resumed = run(make(), 4, Stop::Never, 3, None).unwrap();
    assert_eq!(resumed.batches.first(), Some(&(2, 0)));
    assert_eq!(resumed.weights, full.weights);
}

#[test]
fn keep_backup_and_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = dir.path().join("backup");
    // Leftovers of a killed run: older than this process (wick's prefix, and an older
    // wick's); one of this process's own (newer) is not touched.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600 * 24);
    for name in [".wick-tmp-stale", ".tmp-ckpt-stale"] {
        std::fs::create_dir_all(bdir.join(name).join("sub")).unwrap();
        std::fs::File::open(bdir.join(name)).unwrap().set_modified(old).unwrap();
    }
    std::fs::write(bdir.join(".wick-tmp-file"), b"x").unwrap();
    std::fs::File::options().write(true).open(bdir.join(".wick-tmp-file")).unwrap().set_modified(old).unwrap();
    std::fs::write(bdir.join(".wick-tmp-fresh"), b"in use").unwrap();
    std::fs::write(bdir.join("notes.txt"), b"mine").unwrap();
    // Without delete_checkpoint, the last backup stays; leftovers are removed, other files kept.
    run(backup(&bdir, SaveFreq::Epoch).delete_checkpoint(false), 2, Stop::Never, 1, None).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&bdir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, [".wick-tmp-fresh", "checkpoint", "ckpt-00000002", "notes.txt"]);
    std::fs::remove_file(bdir.join(".wick-tmp-fresh")).unwrap();
    assert_eq!(BackupAndRestore::latest(&bdir).unwrap().map(|s| s.epoch), Some(2));
    // A completed run's backup resumes at the end: nothing left to run.
    let again = run(backup(&bdir, SaveFreq::Epoch), 2, Stop::Never, 1, None).unwrap();
    assert!(again.batches.is_empty());
    let names: Vec<String> =
        std::fs::read_dir(&bdir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["notes.txt"]);
}

#[test]
fn bad_manifest_and_missing_model_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkpoint"), b"something else").unwrap();
    let err = run(backup(dir.path(), SaveFreq::Epoch), 1, Stop::Never, 1, None).err().expect("fails");
    assert!(err.to_string().contains("checkpoint"), "{err}");
    assert!(matches!(err, Error::Corrupt { context: "BackupAndRestore", .. }), "{err:?}");

    let params = Params { verbose: 0, epochs: 1, steps: None };
    let mut state = RunState::default();
    let mut b = BackupAndRestore::new(dir.path());
    let err = b.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err}");
    let mut b = BackupAndRestore::new(dir.path()).save_freq(SaveFreq::Batches(0));
    let err = b.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}
