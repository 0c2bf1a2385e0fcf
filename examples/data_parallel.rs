//! Data-parallel `fit` on a small seeded problem, for checking distributed training
//! against a single process (what `tests/distributed.rs` runs).
//!
//! ```text
//! cargo build --release --features mpi --example data_parallel
//! # one process, global batch 16:
//! target/release/examples/data_parallel --batch-size 16 --out one.safetensors
//! # two ranks, 8 each (global batch 16), same data order:
//! mpirun -np 2 target/release/examples/data_parallel --distributed --batch-size 8 --out two.safetensors
//! ```
//!
//! The data (152 training and 40 validation rows of 8 features, 3 classes, from `--seed`)
//! is the same on every rank; each rank reads its [`Sharded`] part of every pass. The
//! model is a two-layer MLP with seeded weights. The chief writes the final weights to
//! `--out` and the epoch logs (`History`) as JSON beside them (`<out>.history.json`).
//! With `--logdir` the run also has TensorBoard, CSVLogger and ModelCheckpoint callbacks,
//! with `--backup-dir` a BackupAndRestore; `--step-delay-ms` slows each step down (so a
//! test can kill a rank mid-run) and `--mismatch` makes rank 1 build a wider hidden layer.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use candle_core::{Device, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use clap::Parser;
use wick::callbacks::{
    BackupAndRestore, CSVLogger, Callback, Context, LambdaCallback, ModelCheckpoint, ModelVars, TensorBoard,
};
use wick::data::rng::{rng_for, uniform, Stream};
use wick::data::{with_sources, Sharded, TensorDataset};
use wick::dist::{Communicator, SingleProcess};
use wick::optim::{rules, KerasOptimizer, OptimizerConfig, UpdateRule};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Trainer};

type Error = Box<dyn std::error::Error>;

const FEATURES: usize = 8;
const CLASSES: usize = 3;
const TRAIN_ROWS: usize = 152;
const VAL_ROWS: usize = 40;

/// Trains the MLP with `fit` (one process) or `fit_distributed` (`--distributed`).
#[derive(Parser, Debug)]
struct Args {
    /// Run on the MPI world `mpirun` started (needs `--features mpi`).
    #[arg(long)]
    distributed: bool,
    /// Batch size per rank.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// `sgd` (momentum 0.9) or `adam`.
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Final weights (safetensors), written by the chief.
    #[arg(long)]
    out: PathBuf,
    /// TensorBoard, CSV and best checkpoint under this folder.
    #[arg(long)]
    logdir: Option<PathBuf>,
    /// BackupAndRestore folder (shared by the ranks).
    #[arg(long)]
    backup_dir: Option<PathBuf>,
    /// Sleep this long after every training step.
    #[arg(long, default_value_t = 0)]
    step_delay_ms: u64,
    /// Rank 1 builds a hidden layer of 17 units instead of 16.
    #[arg(long)]
    mismatch: bool,
}

fn communicator(distributed: bool) -> Result<Box<dyn Communicator>, Error> {
    if !distributed {
        return Ok(Box::new(SingleProcess));
    }
    #[cfg(feature = "mpi")]
    return Ok(Box::new(wick::dist::Mpi::init()?));
    #[cfg(not(feature = "mpi"))]
    Err("--distributed needs a build with `--features mpi`".into())
}

/// Seeded uniform values in [-1, 1) (wick-data's seeded generator).
fn seeded(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rng_for(seed, Stream::Synthetic, &[]);
    (0..n).map(|_| uniform(&mut rng, -1.0, 1.0)).collect()
}

/// `rows` samples; the label is the argmax of a fixed projection of the features.
fn data(rows: usize, seed: u64, batch: usize) -> Result<TensorDataset, Error> {
    let x = seeded(rows * FEATURES, seed);
    let proj = seeded(FEATURES * CLASSES, 99);
    let y: Vec<u32> = x
        .chunks(FEATURES)
        .map(|row| {
            let score = |c: usize| row.iter().enumerate().map(|(i, v)| v * proj[i * CLASSES + c]).sum::<f32>();
            (0..CLASSES).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(0) as u32
        })
        .collect();
    let x = Tensor::from_vec(x, (rows, FEATURES), &Device::Cpu)?;
    let y = Tensor::from_vec(y, rows, &Device::Cpu)?;
    Ok(TensorDataset::new(x, y)?.with_batch_size(batch)?.with_seed(seed))
}

fn main() {
    let args = Args::parse();
    let comm = match communicator(args.distributed) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", with_sources(&*e));
            std::process::exit(1);
        }
    };
    if let Err(e) = run(&args, &*comm) {
        eprintln!("error: rank {}: {}", comm.rank(), with_sources(&*e));
        std::process::exit(1);
    }
}

fn run(args: &Args, comm: &dyn Communicator) -> Result<(), Error> {
    let (rank, ranks) = (comm.rank(), comm.world_size());
    if let Some(dir) = &args.logdir {
        // Where a test finds the ranks to kill.
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("pid.{rank}")), std::process::id().to_string())?;
    }
    let hidden = if args.mismatch && rank == 1 { 17 } else { 16 };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu);
    let l1 = candle_nn::linear(FEATURES, hidden, vb.pp("dense"))?;
    let l2 = candle_nn::linear(hidden, CLASSES, vb.pp("logits"))?;
    let vars = ModelVars::from_varmap(&varmap);
    // Seeded weights, different per rank on purpose: fit_distributed broadcasts rank 0's.
    for (i, (_, var)) in vars.vars().iter().enumerate() {
        let values = seeded(var.elem_count(), args.seed + 31 * i as u64 + 1000 * rank as u64);
        var.set(&(Tensor::from_vec(values, var.shape(), &Device::Cpu)? * 0.5)?)?;
    }
    let model = candle_nn::func_t(move |x, _train| l2.forward(&l1.forward(x)?.relu()?));

    let mut train = Sharded::new(data(TRAIN_ROWS, args.seed, args.batch_size)?, rank, ranks)?;
    let mut val = Sharded::new(data(VAL_ROWS, args.seed + 1, args.batch_size)?, rank, ranks)?;
    let mut callbacks: Vec<Box<dyn Callback>> = Vec::new();
    if let Some(dir) = &args.logdir {
        callbacks.push(Box::new(TensorBoard::new(dir)));
        callbacks.push(Box::new(CSVLogger::new(dir.join("training.csv"))));
        callbacks.push(Box::new(
            ModelCheckpoint::new(dir.join("best.safetensors").to_string_lossy().into_owned()).save_best_only(true),
        ));
    }
    if let Some(dir) = &args.backup_dir {
        callbacks.push(Box::new(BackupAndRestore::new(dir)));
    }
    if args.step_delay_ms > 0 {
        let delay = Duration::from_millis(args.step_delay_ms);
        callbacks.push(Box::new(LambdaCallback::new().with_on_train_batch_end(
            move |_b: usize, _l: &mut wick::callbacks::Logs, _c: &mut Context<'_>| {
                std::thread::sleep(delay);
                Ok(())
            },
        )));
    }
    let options = FitOptions {
        epochs: args.epochs,
        validation_data: Some(&mut val),
        verbose: 0,
        callbacks,
        ..Default::default()
    };
    let dist = args.distributed.then_some(comm);
    let history = match args.optimizer.as_str() {
        "sgd" => {
            fit(model, &vars, rules::SgdRule { momentum: 0.9, ..Default::default() }, 0.05, &mut train, options, dist)?
        }
        "adam" => fit(model, &vars, rules::AdamRule::default(), 0.01, &mut train, options, dist)?,
        other => return Err(format!("--optimizer {other}: expected sgd or adam").into()),
    };
    if comm.worker().is_chief() {
        vars.save(&args.out)?;
        let mut logs = serde_json::Map::new();
        for key in history.keys() {
            logs.insert(key.clone(), serde_json::json!(history.get(&key).unwrap_or_default()));
        }
        let path = PathBuf::from(format!("{}.history.json", args.out.display()));
        std::fs::File::create(&path)?.write_all(serde_json::Value::Object(logs).to_string().as_bytes())?;
    }
    Ok(())
}

fn fit<R: UpdateRule, M: candle_core::ModuleT>(
    model: M,
    vars: &ModelVars,
    rule: R,
    learning_rate: f64,
    train: &mut dyn wick::data::Dataset,
    options: FitOptions<'_>,
    comm: Option<&dyn Communicator>,
) -> Result<wick::callbacks::History, Error> {
    let optimizer = KerasOptimizer::with_names(vars.vars().to_vec(), OptimizerConfig::new(rule, learning_rate))?;
    let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
    let mut trainer =
        Trainer::new(model, vars, optimizer, loss)?.with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));
    // One process: the plain `fit`, the reference the distributed run must reproduce.
    Ok(match comm {
        Some(comm) => trainer.fit_distributed(train, options, comm)?,
        None => trainer.fit(train, options)?,
    })
}
