//! Train the demo CNN on an image folder, the Keras way, and watch it in TensorBoard.
//!
//! ```text
//! cargo run --release --example train                      # generates data/shapes on first use
//! cargo run --release --example train -- --data my_images --epochs 30 --image-size 96
//! tensorboard --logdir logs/fit
//! cargo run --release --example evaluate                   # the newest run under logs/fit
//! ```
//!
//! What a run does:
//!
//! * data: `--data DIR` holds one sub-folder per class (default `data/shapes`, written by
//!   `wick::data::synthetic::write_shapes` when absent); a seeded split keeps
//!   `--validation-split` of it for validation; training images are augmented
//!   (`--augment`) and reshuffled every epoch;
//! * model: `wick_demo::build_cnn` (`crates/wick-demo`, shared with `evaluate`: conv 32 →
//!   pool → conv 64 → pool → dense 128 → logits), weights drawn from `--seed`, input
//!   standardised inside the model;
//! * loss and metric: sparse categorical cross-entropy from logits, accuracy;
//! * callbacks: `TensorBoard` (epoch and batch scalars, hyper-parameters),
//!   `ModelCheckpoint` (best `val_loss` → `<logdir>/checkpoints/best.safetensors`, with
//!   `config.json` beside it), `EarlyStopping` (patience `--patience`, best weights
//!   restored), `ReduceLROnPlateau` (with a constant learning rate), `CSVLogger`
//!   (`<logdir>/training.csv`), `BatchLossHistory` (`<logdir>/batch_loss.json`) and the
//!   progress bar.
//!
//! The log directory is one TensorBoard run: `<logdir>/train`, `<logdir>/validation`
//! (and `<logdir>/eval`, written by `evaluate`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::DType;
use candle_nn::{VarBuilder, VarMap};
use clap::Parser;
use wick::callbacks::{
    BatchLossHistory, CSVLogger, EarlyStopping, ModelCheckpoint, ProgressBar, ReduceLROnPlateau, TensorBoard,
};
use wick::callbacks::{Callback, History, ModelVars, UpdateFreq};
use wick::data::augment::{Augmentation, FillMode, FlipMode};
use wick::data::synthetic::{write_shapes, ShapesOptions};
use wick::data::{with_sources, Dataset};
use wick::optim::schedules::{CosineDecay, ExponentialDecay};
use wick::optim::{rules, KerasOptimizer, LearningRate, OptimizerConfig, UpdateRule};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Trainer};
use wick_demo::{
    build_cnn, init_seeded, Augment, BestEpoch, Cnn, CnnConfig, DeviceName, OptimizerName, Pooling, RunConfig, Schedule,
};
use wick_demo::{BEST_CHECKPOINT, CONFIG_FILE};

type Error = wick_demo::Error;

/// Train the demo CNN on an image folder, with TensorBoard logs, checkpoints and early
/// stopping.
#[derive(Debug, Parser)]
#[command(name = "train", version)]
struct Args {
    /// Image folder with one sub-folder per class. The default is generated (synthetic
    /// shapes) when it does not exist.
    #[arg(long, default_value = "data/shapes")]
    data: PathBuf,
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
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    #[arg(long, default_value_t = 1)]
    verbose: u8,
    /// Write batch-level scalars to TensorBoard every N batches.
    #[arg(long, default_value_t = 1)]
    batch_log_every: usize,
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
    // Keep freed memory for reuse: Candle allocates every op's output (wick-nn docs).
    wick::nn::tune_cpu_allocator();
    if let Err(e) = run(Args::parse()) {
        // The whole chain: a bad image names its file and what is wrong with it.
        eprintln!("error: {}", with_sources(&*e));
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Error> {
    if args.epochs == 0 || args.batch_size == 0 || args.batch_log_every == 0 {
        return Err("--epochs, --batch-size and --batch-log-every must be positive".into());
    }
    let device = wick_demo::device(args.device, cfg!(feature = "cuda"))?;
    let logdir = args
        .logdir
        .clone()
        .unwrap_or_else(|| Path::new("logs/fit").join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()));
    let checkpoint_dir = logdir.join("checkpoints");
    let checkpoint = checkpoint_dir.join(BEST_CHECKPOINT);

    // Data: one seeded split; augmentation on the training part only.
    if ensure_shapes(&args.data, args.shapes_per_class, args.shapes_size, args.seed)? {
        println!(
            "Generated the synthetic shapes dataset in {} ({} images per class, {}x{})",
            args.data.display(),
            args.shapes_per_class,
            args.shapes_size,
            args.shapes_size
        );
    }
    let (class_names, train_subset, val_subset) = wick_demo::split(&args.data, args.validation_split, args.seed)?;
    let mut train = wick_demo::dataset(
        &train_subset,
        args.image_size,
        args.batch_size,
        args.seed,
        &device,
        augmentation(args.augment)?,
    )?;
    let mut val = wick_demo::dataset(&val_subset, args.image_size, args.batch_size, args.seed, &device, None)?;
    let steps_per_epoch = train_subset.len().div_ceil(args.batch_size);
    println!(
        "Data: {} ({} classes: {}), {} training and {} validation images, {}x{} px, batches of {}",
        args.data.display(),
        class_names.len(),
        class_names.join(", "),
        train_subset.len(),
        val_subset.len(),
        args.image_size,
        args.image_size,
        args.batch_size
    );

    // Model, with seeded weights.
    let model_config = CnnConfig { pooling: args.pooling, ..CnnConfig::new(args.image_size, class_names.len()) };
    let varmap = VarMap::new();
    let model = build_cnn(VarBuilder::from_varmap(&varmap, DType::F32, &device), &model_config)?;
    let vars = ModelVars::from_varmap(&varmap);
    init_seeded(vars.vars(), args.seed)?;

    // What `evaluate` needs to rebuild the model and the validation split, beside the
    // checkpoint; the best epoch is added when training ends.
    let mut config = RunConfig {
        model: model_config,
        class_names,
        // Absolute, so `evaluate` finds them from any working directory.
        data_dir: std::path::absolute(&args.data)?,
        validation_split: args.validation_split,
        seed: args.seed,
        batch_size: args.batch_size,
        optimizer: args.optimizer,
        learning_rate: args.learning_rate(),
        schedule: args.schedule,
        augment: args.augment,
        epochs: args.epochs,
        logdir: std::path::absolute(&logdir)?,
        checkpoint: std::path::absolute(&checkpoint)?,
        best: None,
    };
    let config_path = checkpoint_dir.join(CONFIG_FILE);
    config.save(&config_path)?;

    // Callbacks.
    let batch_losses = BatchLossHistory::new();
    let tensorboard =
        TensorBoard::new(&config.logdir).update_freq(UpdateFreq::Batches(args.batch_log_every)).hparams([
            ("optimizer", args.optimizer.as_str().into()),
            ("learning_rate", args.learning_rate().into()),
            ("schedule", args.schedule.as_str().into()),
            ("batch_size", (args.batch_size as f64).into()),
            ("image_size", (args.image_size as f64).into()),
            ("augment", args.augment.as_str().into()),
            ("seed", (args.seed as f64).into()),
        ]);
    let verbose = u8::from(args.verbose > 0);
    // ModelCheckpoint's path is a Python format string: escape braces in the folder names.
    let template = config.checkpoint.to_string_lossy().replace('{', "{{").replace('}', "}}");
    let mut callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(tensorboard),
        Box::new(ModelCheckpoint::new(template).monitor("val_loss").save_best_only(true).verbose(verbose)),
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
    callbacks.push(Box::new(CSVLogger::new(config.logdir.join("training.csv"))));
    callbacks.push(Box::new(batch_losses.clone()));
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
    let started = Instant::now();
    let history = match args.optimizer {
        OptimizerName::Adam => {
            compile_and_fit(model, vars, rules::AdamRule::default(), learning_rate, &mut train, options)?
        }
        OptimizerName::Adamw => {
            compile_and_fit(model, vars, rules::AdamWRule::default(), learning_rate, &mut train, options)?
        }
        OptimizerName::Nadam => {
            compile_and_fit(model, vars, rules::NadamRule::default(), learning_rate, &mut train, options)?
        }
        OptimizerName::Rmsprop => {
            compile_and_fit(model, vars, rules::RmspropRule::default(), learning_rate, &mut train, options)?
        }
        OptimizerName::Sgd => {
            let sgd = rules::SgdRule { momentum: 0.9, ..Default::default() };
            compile_and_fit(model, vars, sgd, learning_rate, &mut train, options)?
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    std::fs::write(
        config.logdir.join("batch_loss.json"),
        serde_json::to_string(&batch_losses.record().losses)? + "\n",
    )?;

    // The best checkpoint, and its epoch in the run configuration.
    config.best = best_epoch(&history);
    config.save(&config_path)?;
    let epochs_run = history.epoch().len();
    println!();
    println!(
        "Trained {epochs_run} epoch(s) in {elapsed:.1} s ({:.2} s per epoch).",
        elapsed / epochs_run.max(1) as f64
    );
    match (&config.best, checkpoint.is_file()) {
        (Some(best), true) => println!(
            "Best checkpoint: {} (epoch {}: val_loss {:.4}, val_accuracy {:.4})",
            checkpoint.display(),
            best.epoch + 1,
            best.val_loss,
            best.val_accuracy
        ),
        _ => println!("No checkpoint was written (val_loss was never available)."),
    }
    println!("Configuration:   {}", config_path.display());
    println!("Evaluate it:     cargo run --release --example evaluate -- --run {}", logdir.display());
    let root = logdir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    println!("See the run:     tensorboard --logdir {}", root.display());
    Ok(())
}

/// Writes the synthetic shapes dataset (4 classes of `size × size` PNGs, `per_class`
/// each) into `dir` unless `dir` exists. Returns whether it wrote it.
fn ensure_shapes(dir: &Path, per_class: usize, size: u32, seed: u64) -> Result<bool, Error> {
    if dir.exists() {
        return Ok(false);
    }
    let options = ShapesOptions { per_class, height: size, width: size, seed, ..Default::default() };
    // Written next to `dir` and renamed, so an interrupted run leaves no half dataset.
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new().prefix(".shapes-").tempdir_in(parent)?;
    write_shapes(tmp.path(), &options)?;
    std::fs::rename(tmp.path(), dir)
        .map_err(|e| format!("cannot move the generated dataset to {}: {e}", dir.display()))?;
    let _ = tmp.keep();
    Ok(true)
}

/// The training images' augmentation at `level`.
fn augmentation(level: Augment) -> Result<Option<Augmentation>, Error> {
    let aug = match level {
        Augment::None => return Ok(None),
        Augment::Light => Augmentation::new().random_flip(FlipMode::Horizontal).random_translation(0.05, 0.05),
        Augment::Full => Augmentation::new()
            .random_flip(FlipMode::Horizontal)
            .random_rotation(0.05)
            .random_zoom(0.1)
            .random_translation(0.1, 0.1)
            .random_contrast(0.2)
            .fill_mode(FillMode::Reflect),
    };
    Ok(Some(aug.checked()?))
}

/// Keras' `compile` + `fit`: the optimizer (`rule` with `learning_rate`) over the model's
/// variables, sparse categorical cross-entropy from logits and accuracy. Generic because
/// every update rule makes its own optimizer type.
fn compile_and_fit<R: UpdateRule>(
    model: Cnn,
    vars: ModelVars,
    rule: R,
    learning_rate: LearningRate,
    train: &mut dyn Dataset,
    options: FitOptions<'_>,
) -> Result<History, Error> {
    let optimizer = KerasOptimizer::with_names(vars.vars().to_vec(), OptimizerConfig::new(rule, learning_rate))?;
    let mut trainer =
        Trainer::new(model, vars, optimizer, SparseCategoricalCrossentropy::new().with_from_logits(true))?
            .with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));
    Ok(trainer.fit(train, options)?)
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
        epochs_run: epochs.len(),
    })
}
