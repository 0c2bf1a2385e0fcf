//! Train the demo CNN on an image folder, the Keras way, and watch it in TensorBoard.
//!
//! ```text
//! cargo run --release --example train                      # generates data/shapes on first use
//! cargo run --release --example train -- --data my_images --epochs 30 --image-size 96
//! tensorboard --logdir logs/fit
//! cargo run --release --example evaluate                   # the newest run under logs/fit
//! # resumable: started again with the same arguments after a crash, it continues
//! cargo run --release --example train -- --logdir logs/fit/run1 --backup-dir logs/fit/run1/backup
//! ```
//!
//! What a run does:
//!
//! * data: `--data DIR` holds one sub-folder per class (default `data/shapes`, written by
//!   `wick::data::synthetic::write_shapes` when absent; a `--data` folder that does not
//!   exist is an error unless `--generate` asks for the synthetic dataset there); a
//!   seeded split keeps
//!   `--validation-split` of it for validation; training images are augmented
//!   (`--augment`) and reshuffled every epoch;
//! * model: `wick_demo::build_cnn` (`crates/wick-demo`, shared with `evaluate`: conv 32 →
//!   pool → conv 64 → pool → dense 128 → logits), weights drawn from `--seed`, input
//!   standardised inside the model;
//! * precision: `--precision` picks the Keras dtype policy (`float32`, `mixed_bfloat16`:
//!   layers in bf16, variables and loss in f32, or `mixed_float16`: the same in f16 with the
//!   optimizer wrapped in a `LossScaleOptimizer`, as Keras' `compile` does);
//! * loss and metric: sparse categorical cross-entropy from logits, accuracy;
//! * summary: the model's layers, output shapes and parameter counts (Keras'
//!   `model.summary()`), printed unless `--verbose 0` and written to TensorBoard (the
//!   conceptual graph in the Graphs tab, the table as text);
//! * callbacks: `TensorBoard` (epoch and batch scalars, hyper-parameters, the model graph,
//!   weight histograms every `--histogram-freq` epochs),
//!   `ModelCheckpoint` (best `val_loss` → `<logdir>/checkpoints/best.safetensors`, with
//!   `config.json` beside it), `EarlyStopping` (patience `--patience`, best weights
//!   restored), `ReduceLROnPlateau` (with a constant learning rate), `CSVLogger`
//!   (`<logdir>/training.csv`), `BatchLossHistory` (`<logdir>/batch_loss.json`), with
//!   `--backup-dir` `BackupAndRestore` (a killed run started again with the same
//!   arguments resumes from the last completed epoch), and the progress bar.
//!
//! A resumed run continues the same log directory: `training.csv` keeps the rows of the
//! epochs done before the kill, ModelCheckpoint replaces the checkpoint only with a better
//! `val_loss` than theirs, and `config.json`'s best epoch covers all epochs. As in Keras,
//! EarlyStopping's and ReduceLROnPlateau's patience counts start afresh, and
//! `batch_loss.json` holds the batches of the last process only.
//!
//! Output goes through `wick_demo::stdout`: a closed stdout (`train | head`) ends the run
//! quietly (status 0) instead of panicking.
//!
//! The log directory is one TensorBoard run: `<logdir>/train`, `<logdir>/validation`
//! (and `<logdir>/eval`, written by `evaluate`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use candle_nn::{VarBuilder, VarMap};
use clap::Parser;
use wick::callbacks::{
    BackupAndRestore, BatchLossHistory, CSVLogger, EarlyStopping, ModelCheckpoint, ProgressBar, ReduceLROnPlateau,
    TensorBoard,
};
use wick::callbacks::{Callback, History, ModelVars, UpdateFreq};
use wick::data::synthetic::ShapesOptions;
use wick::data::{with_sources, Dataset, Sharded};
use wick::dist::{Communicator, SingleProcess};
use wick::optim::schedules::{CosineDecay, ExponentialDecay};
use wick::optim::{rules, KerasOptimizer, LearningRate, LossScaleOptimizer, OptimizerConfig, UpdateRule};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Trainer};
use wick_demo::{
    build_cnn, init_seeded, Augment, BestEpoch, Cnn, CnnConfig, DeviceName, OptimizerName, Pooling, Precision,
    RunConfig, Schedule,
};
use wick_demo::{resume_csv, PathError, BEST_CHECKPOINT, CONFIG_FILE, CSV_TMP_PREFIX, CSV_TMP_SUFFIX};

type Error = wick_demo::Error;

/// The dataset folder without `--data`: generated there when it does not exist.
const DEFAULT_DATA: &str = "data/shapes";

/// Train the demo CNN on an image folder, with TensorBoard logs, checkpoints and early
/// stopping.
#[derive(Debug, Parser)]
#[command(name = "train", version)]
struct Args {
    /// Image folder with one sub-folder per class [default: data/shapes, generated (synthetic
    /// shapes) when it does not exist]. A folder given here must exist, unless --generate.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Generate the synthetic shapes dataset into --data when that folder does not exist.
    #[arg(long)]
    generate: bool,
    /// Images per class when the dataset is generated.
    #[arg(long, default_value_t = 1000)]
    shapes_per_class: usize,
    /// Image size (pixels) when the dataset is generated.
    #[arg(long, default_value_t = 64)]
    shapes_size: u32,
    /// Run directory for TensorBoard logs, checkpoints and CSV [default: logs/fit/<%Y%m%d-%H%M%S>]
    #[arg(long)]
    logdir: Option<PathBuf>,
    /// Epochs (early stopping may end the run sooner).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Images are resized to SIZE × SIZE.
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    /// How the last feature map feeds the dense layers.
    #[arg(long, value_enum, default_value_t = Pooling::GlobalMax)]
    pooling: Pooling,
    #[arg(long, value_enum, default_value_t = OptimizerName::Adam)]
    optimizer: OptimizerName,
    /// Initial learning rate [default: 0.001, 0.01 for sgd]
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, value_enum, default_value_t = Schedule::Constant)]
    schedule: Schedule,
    /// Epochs without a better val_loss before early stopping (ReduceLROnPlateau waits
    /// half as long).
    #[arg(long, default_value_t = 6)]
    patience: usize,
    #[arg(long, value_enum, default_value_t = Augment::Light)]
    augment: Augment,
    /// Fraction of the images held out for validation.
    #[arg(long, default_value_t = 0.2)]
    validation_split: f64,
    /// Seed of the split, shuffles, augmentation and initial weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    device: DeviceName,
    /// Keras dtype policy: mixed_* compute in bf16 / f16 with f32 variables (mixed_float16
    /// adds dynamic loss scaling).
    #[arg(long, value_enum, default_value_t = Precision::Float32)]
    precision: Precision,
    /// 0 silent, 1 progress bar, 2 one line per epoch; 1 and 2 also print the model summary.
    #[arg(long, default_value_t = 1)]
    verbose: u8,
    /// Histograms of every weight in TensorBoard every N epochs (Keras' `histogram_freq`;
    /// 0, the default, writes none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    histogram_freq: usize,
    /// Write batch-level scalars to TensorBoard every N batches.
    #[arg(long, default_value_t = 1)]
    batch_log_every: usize,
    /// Back the run up into DIR at every epoch end (BackupAndRestore): a killed run started
    /// again with the same arguments resumes from its last completed epoch. The backup is
    /// deleted when the run completes. Needs --logdir (the resumed run continues that run).
    #[arg(long, value_name = "DIR", requires = "logdir")]
    backup_dir: Option<PathBuf>,
    /// Data-parallel training over the MPI processes that `mpirun -np N` or `srun`
    /// started (needs a build with `--features mpi`); `--batch-size` is the global batch.
    #[arg(long)]
    distributed: bool,
}

impl Args {
    fn learning_rate(&self) -> f64 {
        self.lr.unwrap_or(match self.optimizer {
            OptimizerName::Sgd => 0.01,
            _ => 0.001,
        })
    }
}

fn main() {
    // What this process may clean up: leftovers last modified before it started.
    let started = SystemTime::now();
    // Keep freed memory for reuse: Candle allocates every op's output (wick-nn docs).
    wick::nn::tune_cpu_allocator();
    // Candle reads its thread count and spin limit from the environment (wick-nn docs).
    wick::nn::tune_cpu_threads();
    match run(Args::parse(), started) {
        Ok(()) => {}
        // stdout's reader went away (`| head`): nothing left to say.
        Err(e) if wick_demo::is_broken_pipe(&*e) => {}
        Err(e) => {
            // The whole chain: a bad image names its file and what is wrong with it.
            let _ = writeln!(std::io::stderr(), "error: {}", with_sources(&*e));
            std::process::exit(1);
        }
    }
}

/// The MPI world with `--distributed`, else `None`.
fn communicator(distributed: bool) -> Result<Option<Box<dyn Communicator>>, Error> {
    if !distributed {
        return Ok(None);
    }
    #[cfg(feature = "mpi")]
    return Ok(Some(Box::new(wick::dist::Mpi::init()?)));
    #[cfg(not(feature = "mpi"))]
    Err("--distributed: this binary was built without MPI; build it with `cargo build --release --features mpi --example train`".into())
}

fn run(args: Args, started: SystemTime) -> Result<(), Error> {
    if args.epochs == 0 || args.batch_size == 0 || args.batch_log_every == 0 {
        return Err("--epochs, --batch-size and --batch-log-every must be positive".into());
    }
    let world = communicator(args.distributed)?;
    let comm: &dyn Communicator = world.as_deref().unwrap_or(&SingleProcess);
    match train(args, comm, world.is_some(), started) {
        // A rank that fails on its own ends the whole job (the others would wait for it).
        Err(e) if comm.world_size() > 1 && !wick_demo::is_broken_pipe(&*e) => {
            let _ = writeln!(std::io::stderr(), "error: rank {}: {}", comm.rank(), with_sources(&*e));
            comm.abort(1)
        }
        other => other,
    }
}

/// The run, on one process or on every rank of `comm` (`distributed`: `--distributed`).
fn train(args: Args, comm: &dyn Communicator, distributed: bool, started: SystemTime) -> Result<(), Error> {
    wick_demo::threads_per_rank(comm);
    let (rank, ranks, chief) = (comm.rank(), comm.world_size(), comm.worker().is_chief());
    let rank_batch = wick_demo::per_rank_batch(args.batch_size, ranks)?;
    let device = wick_demo::device(args.device, cfg!(feature = "cuda"))?;
    let logdir = args
        .logdir
        .clone()
        .unwrap_or_else(|| Path::new("logs/fit").join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()));
    let logdir = wick_demo::agree_path(comm, logdir)?;
    let checkpoint_dir = logdir.join("checkpoints");
    let checkpoint = checkpoint_dir.join(BEST_CHECKPOINT);
    let csv_path = logdir.join("training.csv");
    // Only the chief prints (and writes files); the other ranks train silently.
    let mut out = wick_demo::Stdout::quiet_unless(chief);

    // Data: one seeded split; augmentation on the training part only. The synthetic
    // dataset is written only where asked for: the default folder, or with --generate (a
    // mistyped --data is an error, not a new dataset).
    let data = args.data.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let generate = args.generate || data == Path::new(DEFAULT_DATA);
    if generate && chief {
        let options = ShapesOptions {
            per_class: args.shapes_per_class,
            height: args.shapes_size,
            width: args.shapes_size,
            seed: args.seed,
            ..Default::default()
        };
        let (generated, removed) = wick_demo::ensure_shapes(&data, &options, started)?;
        for leftover in removed {
            writeln!(out, "Removed {}, left by an interrupted dataset generation", leftover.display())?;
        }
        if generated {
            writeln!(
                out,
                "Generated the synthetic shapes dataset in {} ({} images per class, {}x{})",
                data.display(),
                args.shapes_per_class,
                args.shapes_size,
                args.shapes_size
            )?;
        }
    }
    // The other ranks open the dataset once the chief has written it.
    comm.barrier()?;
    if !data.exists() {
        return Err(format!(
            "the image folder {} does not exist (check --data; pass --generate to write the synthetic shapes dataset there)",
            data.display()
        )
        .into());
    }
    let (class_names, train_subset, val_subset) = wick_demo::split(&data, args.validation_split, args.seed)?;
    // Each rank reads its shard (the whole data when not distributed) in batches of its
    // share of the global batch.
    let train = wick_demo::dataset(
        &train_subset,
        args.image_size,
        rank_batch,
        args.seed,
        &device,
        wick_demo::augmentation(args.augment)?,
    )?;
    let mut train = Sharded::new(train, rank, ranks)?;
    let val = wick_demo::dataset(&val_subset, args.image_size, rank_batch, args.seed, &device, None)?;
    let mut val = Sharded::new(val, rank, ranks)?;
    let steps_per_epoch = train_subset.len().div_ceil(args.batch_size);
    writeln!(
        out,
        "Data: {} ({} classes: {}), {} training and {} validation images, {}x{} px, batches of {}",
        data.display(),
        class_names.len(),
        class_names.join(", "),
        train_subset.len(),
        val_subset.len(),
        args.image_size,
        args.image_size,
        args.batch_size
    )?;

    // Model, with seeded weights.
    let model_config = CnnConfig { pooling: args.pooling, ..CnnConfig::new(args.image_size, class_names.len()) };
    let varmap = VarMap::new();
    let policy = args.precision.policy();
    let model = build_cnn(VarBuilder::from_varmap(&varmap, policy.variable_dtype(), &device), &model_config)?;
    let model = if policy.is_mixed() { model.with_policy(policy) } else { model };
    let vars = ModelVars::from_varmap(&varmap);
    init_seeded(vars.vars(), args.seed)?;
    // Keras' `model.summary()`; TensorBoard's Graphs tab draws the same layers.
    let summary = model.summary([model_config.channels, model_config.height, model_config.width]);
    if args.verbose > 0 {
        write!(out, "{}", summary.table())?;
    }

    // What `evaluate` needs to rebuild the model and the validation split, beside the
    // checkpoint; the best epoch is added when training ends.
    let mut config = RunConfig {
        model: model_config,
        class_names,
        // Absolute, so `evaluate` finds them from any working directory.
        data_dir: absolute(&data)?,
        validation_split: args.validation_split,
        seed: args.seed,
        batch_size: args.batch_size,
        optimizer: args.optimizer,
        precision: args.precision,
        learning_rate: args.learning_rate(),
        schedule: args.schedule,
        augment: args.augment,
        epochs: args.epochs,
        logdir: absolute(&logdir)?,
        checkpoint: absolute(&checkpoint)?,
        best: None,
    };
    let config_path = checkpoint_dir.join(CONFIG_FILE);
    if chief {
        config.save(&config_path)?;
        // A save killed before its rename leaves its temporary file.
        wick_demo::remove_stale_temps(&checkpoint_dir, RunConfig::TEMP_PREFIX, RunConfig::TEMP_SUFFIX, false, started)?;
        wick_demo::remove_stale_temps(&logdir, CSV_TMP_PREFIX, CSV_TMP_SUFFIX, false, started)?;
    }

    // Resuming (--backup-dir): the epochs the backup says are done keep their CSV rows
    // (a row written after the backup, by an epoch that is run again, is dropped) and their
    // best val_loss, which the resumed ModelCheckpoint must beat to replace the checkpoint.
    let resume = match &args.backup_dir {
        Some(dir) => BackupAndRestore::latest(dir)
            .map_err(|e| format!("cannot read the backup in {}: {}", dir.display(), with_sources(&e)))?,
        None => None,
    };
    let start_epoch = resume.as_ref().map_or(0, |state| state.epoch);
    let previous_best = match &resume {
        Some(_) if chief => resume_csv(&csv_path, start_epoch)?,
        _ => None,
    };
    if let (Some(dir), Some(state)) = (&args.backup_dir, &resume) {
        writeln!(
            out,
            "Resuming from the backup in {}: {} of {} epoch(s) done, continuing at epoch {}",
            dir.display(),
            state.epoch,
            args.epochs,
            state.epoch + 1
        )?;
    }

    // Callbacks.
    let batch_losses = BatchLossHistory::new();
    let tensorboard = TensorBoard::new(&config.logdir)
        .update_freq(UpdateFreq::Batches(args.batch_log_every))
        .histogram_freq(args.histogram_freq)
        .model_summary(summary)
        .hparams([
            ("optimizer", args.optimizer.as_str().into()),
            ("learning_rate", args.learning_rate().into()),
            ("schedule", args.schedule.as_str().into()),
            ("batch_size", (args.batch_size as f64).into()),
            ("image_size", (args.image_size as f64).into()),
            ("augment", args.augment.as_str().into()),
            ("seed", (args.seed as f64).into()),
            ("precision", args.precision.as_str().into()),
        ]);
    let verbose = u8::from(args.verbose > 0 && chief);
    // ModelCheckpoint's path is a Python format string: escape braces in the folder names.
    let template = config.checkpoint.to_string_lossy().replace('{', "{{").replace('}', "}}");
    let mut callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(tensorboard),
        Box::new(
            ModelCheckpoint::new(template)
                .monitor("val_loss")
                .save_best_only(true)
                .initial_value_threshold(previous_best.as_ref().map(|b| b.val_loss))
                .verbose(verbose),
        ),
        Box::new(
            EarlyStopping::new()
                .monitor("val_loss")
                .patience(args.patience)
                .restore_best_weights(true)
                .verbose(verbose),
        ),
    ];
    if args.schedule == Schedule::Constant {
        // With a schedule the rate belongs to the schedule (Keras refuses to set it).
        callbacks.push(Box::new(
            ReduceLROnPlateau::new()
                .monitor("val_loss")
                .factor(0.5)
                .patience((args.patience / 2).max(1))
                .min_lr(1e-5)
                .verbose(verbose),
        ));
    }
    callbacks.push(Box::new(CSVLogger::new(absolute(&csv_path)?).append(resume.is_some())));
    callbacks.push(Box::new(batch_losses.clone()));
    if let Some(dir) = &args.backup_dir {
        // After the callbacks that write an epoch's results: a backup that names epoch e
        // as done is taken only once its checkpoint and CSV row are written.
        callbacks.push(Box::new(BackupAndRestore::new(dir)));
    }
    if args.verbose > 0 {
        callbacks.push(Box::new(ProgressBar::new().verbose(args.verbose)));
    }

    // Optimizer, loss and metric; fit.
    let lr = args.learning_rate();
    let learning_rate: LearningRate = match args.schedule {
        Schedule::Constant => lr.into(),
        Schedule::Cosine => CosineDecay::new(lr, (args.epochs * steps_per_epoch) as u64, 0.0, None, 0)?.into(),
        Schedule::Exponential => ExponentialDecay::new(lr, steps_per_epoch as u64, 0.9, false)?.into(),
    };
    let options = FitOptions {
        epochs: args.epochs,
        validation_data: Some(&mut val),
        verbose: args.verbose,
        callbacks,
        ..Default::default()
    };
    let fit_started = Instant::now();
    let compile = Compile { learning_rate, precision: args.precision };
    let comm = distributed.then_some(comm);
    let history = match args.optimizer {
        OptimizerName::Adam => {
            compile_and_fit(model, vars, rules::AdamRule::default(), compile, &mut train, options, comm)?
        }
        OptimizerName::Adamw => {
            compile_and_fit(model, vars, rules::AdamWRule::default(), compile, &mut train, options, comm)?
        }
        OptimizerName::Nadam => {
            compile_and_fit(model, vars, rules::NadamRule::default(), compile, &mut train, options, comm)?
        }
        OptimizerName::Rmsprop => {
            compile_and_fit(model, vars, rules::RmspropRule::default(), compile, &mut train, options, comm)?
        }
        OptimizerName::Sgd => {
            let sgd = rules::SgdRule { momentum: 0.9, ..Default::default() };
            compile_and_fit(model, vars, sgd, compile, &mut train, options, comm)?
        }
    };
    if !chief {
        return Ok(());
    }
    let elapsed = fit_started.elapsed().as_secs_f64();
    let batch_loss_path = config.logdir.join("batch_loss.json");
    std::fs::write(&batch_loss_path, serde_json::to_string(&batch_losses.record().losses)? + "\n")
        .map_err(PathError::at("write the batch losses", &batch_loss_path))?;

    // The best checkpoint, and its epoch in the run configuration (over the epochs done
    // before a resume too: the checkpoint holds the best of all of them).
    config.best = match (previous_best, best_epoch(&history)) {
        (Some(before), Some(now)) if now.val_loss < before.val_loss => Some(now),
        (Some(before), Some(now)) => Some(BestEpoch { epochs_run: now.epochs_run, ..before }),
        (before, now) => now.or(before),
    };
    config.save(&config_path)?;
    let epochs_run = history.epoch().len();
    writeln!(out)?;
    let resumed = if start_epoch > 0 { format!(", resumed at epoch {}", start_epoch + 1) } else { String::new() };
    writeln!(
        out,
        "Trained {epochs_run} epoch(s) in {elapsed:.1} s ({:.2} s per epoch{resumed}).",
        elapsed / epochs_run.max(1) as f64
    )?;
    match (&config.best, checkpoint.is_file()) {
        (Some(best), true) => writeln!(
            out,
            "Best checkpoint: {} (epoch {}: val_loss {:.4}, val_accuracy {:.4})",
            checkpoint.display(),
            best.epoch + 1,
            best.val_loss,
            best.val_accuracy
        )?,
        _ => writeln!(out, "No checkpoint was written (val_loss was never available).")?,
    }
    writeln!(out, "Configuration:   {}", config_path.display())?;
    writeln!(out, "Evaluate it:     cargo run --release --example evaluate -- --run {}", logdir.display())?;
    let root = logdir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    writeln!(out, "See the run:     tensorboard --logdir {}", root.display())?;
    out.flush()?;
    Ok(())
}

/// `path` made absolute (so `evaluate` finds it from any working directory).
fn absolute(path: &Path) -> Result<PathBuf, PathError> {
    std::path::absolute(path).map_err(PathError::at("make an absolute path of", path))
}

/// What Keras' `compile` gets besides the update rule.
struct Compile {
    learning_rate: LearningRate,
    precision: Precision,
}

/// Keras' `compile` + `fit`: the optimizer (`rule` with the learning rate) over the model's
/// variables — wrapped in a `LossScaleOptimizer` under `mixed_float16`, as Keras' `compile`
/// does — sparse categorical cross-entropy from logits and accuracy. Generic because every
/// update rule makes its own optimizer type.
fn compile_and_fit<R: UpdateRule>(
    model: Cnn,
    vars: ModelVars,
    rule: R,
    compile: Compile,
    train: &mut dyn Dataset,
    options: FitOptions<'_>,
    comm: Option<&dyn Communicator>,
) -> Result<History, Error> {
    let config = OptimizerConfig::new(rule, compile.learning_rate);
    let optimizer = KerasOptimizer::with_names(vars.vars().to_vec(), config)?;
    match compile.precision {
        Precision::MixedFloat16 => fit_with(model, vars, LossScaleOptimizer::new(optimizer), train, options, comm),
        Precision::Float32 | Precision::MixedBfloat16 => fit_with(model, vars, optimizer, train, options, comm),
    }
}

/// `Trainer::fit` with `optimizer`, the loss and the metric.
fn fit_with<O: candle_nn::Optimizer + wick::optim::LrControl>(
    model: Cnn,
    vars: ModelVars,
    optimizer: O,
    train: &mut dyn Dataset,
    options: FitOptions<'_>,
    comm: Option<&dyn Communicator>,
) -> Result<History, Error> {
    let mut trainer =
        Trainer::new(model, vars, optimizer, SparseCategoricalCrossentropy::new().with_from_logits(true))?
            .with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));
    Ok(match comm {
        Some(comm) => trainer.fit_distributed(train, options, comm)?,
        None => trainer.fit(train, options)?,
    })
}

/// The best epoch as ModelCheckpoint chose it: the first strict minimum of `val_loss`
/// (none without finite validation results).
fn best_epoch(history: &History) -> Option<BestEpoch> {
    let val_loss = history.get("val_loss").unwrap_or_default();
    let val_accuracy = history.get("val_accuracy").unwrap_or_default();
    let epochs = history.epoch();
    let best_i = (0..val_loss.len()).fold(None, |best: Option<usize>, i| match best {
        // Keep `b` unless `i` is strictly smaller (NaN never is).
        Some(b) if val_loss[i].partial_cmp(&val_loss[b]) != Some(std::cmp::Ordering::Less) => Some(b),
        _ => Some(i),
    });
    best_i.filter(|&i| val_loss[i].is_finite() && i < val_accuracy.len()).map(|i| BestEpoch {
        epoch: epochs[i],
        val_loss: val_loss[i],
        val_accuracy: val_accuracy[i],
        // Also after a resume, where the history holds only this process's epochs.
        epochs_run: epochs.last().map_or(0, |e| e + 1),
    })
}
