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
//! * model: `examples/demo/model.rs` (conv 32 → pool → conv 64 → pool → dense 128 →
//!   logits), weights drawn from `--seed`, input scaled by 1/255 inside the model;
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

#[path = "demo/config.rs"]
mod config;
#[path = "demo/data.rs"]
mod data;
#[path = "demo/model.rs"]
mod model;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::DType;
use candle_nn::{VarBuilder, VarMap};
use clap::{Parser, ValueEnum};
use wick::callbacks::UpdateFreq;
use wick::callbacks::{BatchLossHistory, CSVLogger, EarlyStopping, ModelCheckpoint, ProgressBar, ReduceLROnPlateau, TensorBoard};
use wick::callbacks::{Callback, ModelVars};
use wick::optim::schedules::{CosineDecay, ExponentialDecay};
use wick::optim::{rules, KerasOptimizer, LearningRate, OptimizerConfig, UpdateRule};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Trainer};

use config::{BestEpoch, RunConfig, BEST_CHECKPOINT, CONFIG_FILE};
use model::{build_cnn, init_seeded, CnnConfig, Pooling};

type Error = Box<dyn std::error::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OptimizerName {
    Adam,
    Adamw,
    Nadam,
    Rmsprop,
    Sgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Schedule {
    /// `--lr` throughout (lowered by ReduceLROnPlateau on a plateau).
    Constant,
    /// Cosine decay from `--lr` to 0 over all the training steps.
    Cosine,
    /// ×0.9 every epoch.
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Augment {
    /// No augmentation.
    None,
    /// Horizontal flips and ±5 % translations.
    Light,
    /// Flips, ±18° rotations, ±10 % zoom and translations, ±20 % contrast.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PoolingName {
    /// Keras' Flatten: every position of the last feature map has its own weights.
    Flatten,
    /// Keras' GlobalMaxPooling2D: each filter's strongest response anywhere.
    GlobalMax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DeviceName {
    Cpu,
    Cuda,
}

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
    #[arg(long, value_enum, default_value_t = PoolingName::GlobalMax)]
    pooling: PoolingName,
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
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Error> {
    if args.epochs == 0 || args.batch_size == 0 || args.batch_log_every == 0 {
        return Err("--epochs, --batch-size and --batch-log-every must be positive".into());
    }
    let device = data::device(match args.device {
        DeviceName::Cpu => "cpu",
        DeviceName::Cuda => "cuda",
    })?;
    if data::ensure_shapes(&args.data, args.shapes_per_class, args.shapes_size, args.seed)? {
        println!(
            "Generated the synthetic shapes dataset in {} ({} images per class, {}x{})",
            args.data.display(),
            args.shapes_per_class,
            args.shapes_size,
            args.shapes_size
        );
    }
    let logdir = args.logdir.clone().unwrap_or_else(|| Path::new("logs/fit").join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()));
    let checkpoint_dir = logdir.join("checkpoints");
    let checkpoint = checkpoint_dir.join(BEST_CHECKPOINT);

    // Data: one seeded split; augmentation on the training part only.
    let (class_names, train_subset, val_subset) = data::split(&args.data, args.validation_split, args.seed)?;
    let augment = data::augmentation(&format!("{:?}", args.augment).to_lowercase())?;
    let mut train = data::dataset(&train_subset, args.image_size, args.batch_size, args.seed, &device, augment)?;
    let mut val = data::dataset(&val_subset, args.image_size, args.batch_size, args.seed, &device, None)?;
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
    let model_config = CnnConfig {
        pooling: match args.pooling {
            PoolingName::Flatten => Pooling::Flatten,
            PoolingName::GlobalMax => Pooling::GlobalMax,
        },
        ..CnnConfig::new(args.image_size, class_names.len())
    };
    let varmap = VarMap::new();
    let model = build_cnn(VarBuilder::from_varmap(&varmap, DType::F32, &device), &model_config)?;
    let vars = ModelVars::from_varmap(&varmap);
    init_seeded(vars.vars(), args.seed)?;

    let mut config = RunConfig {
        model: model_config,
        class_names,
        // Absolute, so `evaluate` finds them from any working directory.
        data_dir: std::path::absolute(&args.data)?,
        validation_split: args.validation_split,
        seed: args.seed,
        batch_size: args.batch_size,
        optimizer: format!("{:?}", args.optimizer).to_lowercase(),
        learning_rate: args.learning_rate(),
        schedule: format!("{:?}", args.schedule).to_lowercase(),
        augment: format!("{:?}", args.augment).to_lowercase(),
        epochs: args.epochs,
        logdir: std::path::absolute(&logdir)?,
        checkpoint: std::path::absolute(&checkpoint)?,
        best: None,
    };
    let config_path = checkpoint_dir.join(CONFIG_FILE);
    config.save(&config_path)?;

    let lr = args.learning_rate();
    let schedule: LearningRate = match args.schedule {
        Schedule::Constant => lr.into(),
        Schedule::Cosine => CosineDecay::new(lr, (args.epochs * steps_per_epoch) as u64, 0.0, None, 0)?.into(),
        Schedule::Exponential => ExponentialDecay::new(lr, steps_per_epoch as u64, 0.9, false)?.into(),
    };
    let started = Instant::now();
    let outcome = match args.optimizer {
        OptimizerName::Adam => fit(&args, &config, model, vars, rules::AdamRule::default(), schedule, &mut train, &mut val)?,
        OptimizerName::Adamw => fit(&args, &config, model, vars, rules::AdamWRule::default(), schedule, &mut train, &mut val)?,
        OptimizerName::Nadam => fit(&args, &config, model, vars, rules::NadamRule::default(), schedule, &mut train, &mut val)?,
        OptimizerName::Rmsprop => fit(&args, &config, model, vars, rules::RmspropRule::default(), schedule, &mut train, &mut val)?,
        OptimizerName::Sgd => {
            let sgd = rules::SgdRule { momentum: 0.9, ..Default::default() };
            fit(&args, &config, model, vars, sgd, schedule, &mut train, &mut val)?
        }
    };
    let elapsed = started.elapsed().as_secs_f64();

    config.best = outcome.best.clone();
    config.save(&config_path)?;
    println!();
    println!(
        "Trained {} epoch(s) in {:.1} s ({:.2} s per epoch).",
        outcome.epochs_run,
        elapsed,
        elapsed / outcome.epochs_run.max(1) as f64
    );
    match (&outcome.best, checkpoint.is_file()) {
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

/// What `fit` ended with.
struct Outcome {
    /// The best epoch by `val_loss` (none without validation results).
    best: Option<BestEpoch>,
    /// Epochs run (early stopping may end the run before `--epochs`).
    epochs_run: usize,
}

#[allow(clippy::too_many_arguments)]
fn fit<R: UpdateRule>(
    args: &Args,
    config: &RunConfig,
    model: model::Cnn,
    vars: ModelVars,
    rule: R,
    learning_rate: LearningRate,
    train: &mut dyn wick::data::Dataset,
    val: &mut dyn wick::data::Dataset,
) -> Result<Outcome, Error> {
    let optimizer = KerasOptimizer::with_names(vars.vars().to_vec(), OptimizerConfig::new(rule, learning_rate))?;
    let mut trainer = Trainer::new(model, vars, optimizer, SparseCategoricalCrossentropy::new().with_from_logits(true))?
        .with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));

    let logdir = &config.logdir;
    let batch_losses = BatchLossHistory::new();
    let tensorboard = TensorBoard::new(logdir).update_freq(UpdateFreq::Batches(args.batch_log_every)).hparams([
        ("optimizer", config.optimizer.clone().into()),
        ("learning_rate", config.learning_rate.into()),
        ("schedule", config.schedule.clone().into()),
        ("batch_size", (config.batch_size as f64).into()),
        ("image_size", (args.image_size as f64).into()),
        ("augment", config.augment.clone().into()),
        ("seed", (config.seed as f64).into()),
    ]);
    let verbose = u8::from(args.verbose > 0);
    // ModelCheckpoint's path is a Python format string: escape braces in the folder names.
    let template = config.checkpoint.to_string_lossy().replace('{', "{{").replace('}', "}}");
    let mut callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(tensorboard),
        Box::new(ModelCheckpoint::new(template).monitor("val_loss").save_best_only(true).verbose(verbose)),
        Box::new(EarlyStopping::new().monitor("val_loss").patience(args.patience).restore_best_weights(true).verbose(verbose)),
    ];
    if args.schedule == Schedule::Constant {
        // With a schedule the rate belongs to the schedule (Keras refuses to set it).
        callbacks.push(Box::new(
            ReduceLROnPlateau::new().monitor("val_loss").factor(0.5).patience((args.patience / 2).max(1)).min_lr(1e-5).verbose(verbose),
        ));
    }
    callbacks.push(Box::new(CSVLogger::new(logdir.join("training.csv"))));
    callbacks.push(Box::new(batch_losses.clone()));
    if args.verbose > 0 {
        callbacks.push(Box::new(ProgressBar::new().verbose(args.verbose)));
    }

    let history = trainer.fit(
        train,
        FitOptions { epochs: args.epochs, validation_data: Some(val), verbose: args.verbose, callbacks, ..Default::default() },
    )?;

    std::fs::write(logdir.join("batch_loss.json"), serde_json::to_string(&batch_losses.record().losses)? + "\n")?;

    // The best epoch as ModelCheckpoint chose it: the first strict minimum of val_loss.
    let val_loss = history.get("val_loss").unwrap_or_default();
    let val_accuracy = history.get("val_accuracy").unwrap_or_default();
    let epochs = history.epoch();
    let best_i = (0..val_loss.len()).fold(None, |best: Option<usize>, i| match best {
        // Keep `b` unless `i` is strictly smaller (NaN never is).
        Some(b) if val_loss[i].partial_cmp(&val_loss[b]) != Some(std::cmp::Ordering::Less) => Some(b),
        _ => Some(i),
    });
    let best = best_i.filter(|&i| val_loss[i].is_finite() && i < val_accuracy.len()).map(|i| BestEpoch {
        epoch: epochs[i],
        val_loss: val_loss[i],
        val_accuracy: val_accuracy[i],
        epochs_run: epochs.len(),
    });
    Ok(Outcome { best, epochs_run: epochs.len() })
}
