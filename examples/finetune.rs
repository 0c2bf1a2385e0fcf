//! Transfer learning with the demo CNN: reuse a trained backbone on a new task.
//!
//! ```text
//! cargo run --release --example finetune                       # trains its own backbone first
//! cargo run --release --example finetune -- --checkpoint logs/fit/<run>/checkpoints/best.safetensors
//! tensorboard --logdir logs/finetune
//! ```
//!
//! Three phases, Keras' transfer-learning recipe:
//!
//! 1. **Backbone.** With `--checkpoint`, the backbone comes from `train`'s checkpoint (its
//!    `config.json`, in the same folder, gives the architecture). Without, a backbone is
//!    trained here on task A, the synthetic shapes `{circle, square}` (TensorBoard run
//!    `<logdir>/backbone`; its weights go to `<out>/backbone.safetensors`).
//! 2. **Head.** A new model for task B, `{cross, star, triangle}`, gets the backbone's
//!    variables (`conv1`, `conv2`, `fc1`: everything but the classifier `fc2`) and a fresh
//!    `fc2` with 3 outputs. The backbone is **frozen**: the optimizer is built over the
//!    head's variables only — the `(name, Var)` pairs whose name does not start with one of
//!    the `--freeze` prefixes — so no step ever writes to a frozen variable (candle computes
//!    their gradients, but nothing applies them). Run `<logdir>/head`.
//! 3. **Fine-tuning.** Everything is unfrozen: a new optimizer over all variables, with a
//!    learning rate 10× lower, continues from where the head phase ended
//!    (`initial_epoch` = the head's epochs, so both phases share the x axis in
//!    TensorBoard). Run `<logdir>/finetune`.
//!
//! The weights are written after each phase, to `<out>/start.safetensors` (the task-B
//! model before training: the copied backbone and the fresh head),
//! `<out>/after_head.safetensors` and `<out>/after_finetune.safetensors`; the frozen
//! variable names go to `<out>/frozen.txt`. The example checks itself that the frozen
//! variables are bit-for-bit unchanged by the head phase and changed by fine-tuning
//! (`tests/finetune.rs` checks the files too).
//!
//! The synthetic tasks are written once to `--data-dir` (default `data/finetune/task_a`
//! and `task_b`) and reused; each is split per class (stratified), so the small validation
//! sets stay balanced. With the defaults the three phases take about 15 s on two CPU
//! cores. `--device cuda` needs a build with `--features cuda` (and so the CUDA toolkit;
//! see `docs/cuda.md`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use clap::Parser;
use wick::callbacks::ModelVars;
use wick::callbacks::TensorBoard;
use wick::data::synthetic::{write_shapes, Shape, ShapesOptions};
use wick::data::Dataset;
use wick::data::{with_sources, ImageFolder, SplitOptions};
use wick::optim::{rules::AdamRule, OptimizerConfig};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Trainer};

use wick_demo::{build_cnn, init_seeded, Cnn, CnnConfig, DeviceName, RunConfig, CONFIG_FILE};

type Error = wick_demo::Error;
type NamedVar = (String, Var);

/// Transfer learning: train a new head on a frozen backbone, then fine-tune everything.
#[derive(Debug, Parser)]
#[command(name = "finetune")]
struct Args {
    /// Backbone checkpoint written by `train` (e.g. `logs/fit/<run>/checkpoints/best.safetensors`;
    /// `config.json` must be beside it). Without it, a backbone is trained on task A first.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// TensorBoard log directory: runs `backbone/`, `head/` and `finetune/` go under it.
    #[arg(long, default_value = "logs/finetune")]
    logdir: PathBuf,
    /// Where the weights after each phase and `frozen.txt` go (default: the log directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the synthetic task datasets are written (`task_a/`, `task_b/`); existing
    /// folders are reused as they are.
    #[arg(long, default_value = "data/finetune")]
    data_dir: PathBuf,
    /// Images per class of the synthetic tasks.
    #[arg(long, default_value_t = 60)]
    per_class: usize,
    /// Image size (pixels) when no checkpoint is given.
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Epochs of the backbone on task A (when no checkpoint is given).
    #[arg(long, default_value_t = 4)]
    backbone_epochs: usize,
    /// Epochs of the new head with the backbone frozen.
    #[arg(long, default_value_t = 4)]
    head_epochs: usize,
    /// Epochs of fine-tuning everything.
    #[arg(long, default_value_t = 4)]
    finetune_epochs: usize,
    /// Adam learning rate of the backbone and head phases.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Adam learning rate of fine-tuning (default: `lr / 10`).
    #[arg(long)]
    finetune_lr: Option<f64>,
    /// Variable-name prefixes to freeze in the head phase (comma-separated; a prefix
    /// matches a name equal to it or starting with it followed by `.`).
    #[arg(long, value_delimiter = ',', default_value = "conv1,conv2,fc1")]
    freeze: Vec<String>,
    /// Fraction of each task's images held out for validation.
    #[arg(long, default_value_t = 0.25)]
    validation_split: f64,
    /// Seed of the data, the split, the shuffles and the initial weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the models run (`cuda` needs a build with `--features cuda`).
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    device: DeviceName,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    #[arg(long, default_value_t = 2)]
    verbose: u8,
}

/// Task A (the backbone's, when trained here) and task B (the new head's).
const TASK_A: [Shape; 2] = [Shape::Circle, Shape::Square];
const TASK_B: [Shape; 3] = [Shape::Triangle, Shape::Star, Shape::Cross];

fn main() -> ExitCode {
    // Keep freed memory for reuse: Candle allocates every op's output (wick-nn docs).
    wick::nn::tune_cpu_allocator();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finetune: {}", with_sources(&*e));
            ExitCode::FAILURE
        }
    }
}

/// Whether `name` is under one of `prefixes` (`conv1` matches `conv1.weight`, not `conv10.weight`).
fn is_frozen(name: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        let p = p.trim_end_matches('.');
        !p.is_empty() && (name == p || name.strip_prefix(p).is_some_and(|rest| rest.starts_with('.')))
    })
}

/// Writes a synthetic task (`shapes`, `per_class` images each) into `dir` unless it exists.
fn ensure_task(dir: &Path, shapes: &[Shape], per_class: usize, size: usize, seed: u64) -> Result<(), Error> {
    if dir.exists() {
        return Ok(());
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    // Written beside `dir` and renamed, so an interrupted run leaves no half dataset.
    let tmp = tempfile::Builder::new().prefix(".shapes-").tempdir_in(parent)?;
    let options = ShapesOptions {
        shapes: shapes.to_vec(),
        per_class,
        height: size as u32,
        width: size as u32,
        seed,
        ..Default::default()
    };
    write_shapes(tmp.path(), &options)?;
    std::fs::rename(tmp.path(), dir)
        .map_err(|e| format!("cannot move the generated dataset to {}: {e}", dir.display()))?;
    let _ = tmp.keep();
    Ok(())
}

/// Training and validation datasets of the image folder `dir`, and its class names.
type Split = (Vec<String>, Box<dyn Dataset>, Box<dyn Dataset>);

fn task_data(dir: &Path, args: &Args, size: usize, device: &Device) -> Result<Split, Error> {
    // Stratified: with a few dozen images per class, Keras' global split can leave the
    // validation set lopsided (e.g. 21 circles and 9 squares).
    let folder = ImageFolder::open(dir)
        .map_err(|e| format!("cannot open the image folder {}: {}", dir.display(), with_sources(&e)))?;
    let (train, val) =
        folder.split_with(&SplitOptions { stratified: true, ..SplitOptions::new(args.validation_split, args.seed) })?;
    let classes = folder.class_names().to_vec();
    let train = wick_demo::dataset(&train, size, args.batch_size, args.seed, device, None)?;
    let val = wick_demo::dataset(&val, size, args.batch_size, args.seed, device, None)?;
    Ok((classes, Box::new(train), Box::new(val)))
}

/// A fresh CNN for `config` with seeded initial weights.
fn new_model(config: &CnnConfig, seed: u64, device: &Device) -> Result<(Cnn, VarMap, ModelVars), Error> {
    let varmap = VarMap::new();
    let model = build_cnn(VarBuilder::from_varmap(&varmap, DType::F32, device), config)?;
    let vars = ModelVars::from_varmap(&varmap);
    init_seeded(vars.vars(), seed)?;
    Ok((model, varmap, vars))
}

/// Adam over the named variables.
fn adam(vars: Vec<(String, Var)>, lr: f64) -> Result<wick::optim::Adam, Error> {
    Ok(wick::optim::Adam::with_names(vars, OptimizerConfig::new(AdamRule::default(), lr))?)
}

/// `fit` with validation and a TensorBoard run in `logdir`; returns the last epoch's logs line.
#[allow(clippy::too_many_arguments)]
fn fit(
    trainer: &mut Trainer<Cnn, wick::optim::Adam>,
    train: &mut dyn Dataset,
    val: &mut dyn Dataset,
    initial_epoch: usize,
    epochs: usize,
    logdir: &Path,
    verbose: u8,
) -> Result<String, Error> {
    let history = trainer.fit(
        train,
        FitOptions {
            epochs: initial_epoch + epochs,
            initial_epoch,
            validation_data: Some(val),
            verbose,
            callbacks: vec![Box::new(TensorBoard::new(logdir))],
            ..Default::default()
        },
    )?;
    let last = |key: &str| history.get(key).and_then(|v| v.last().copied()).unwrap_or(f64::NAN);
    Ok(format!(
        "loss {:.4}, accuracy {:.3}, val_loss {:.4}, val_accuracy {:.3}",
        last("loss"),
        last("accuracy"),
        last("val_loss"),
        last("val_accuracy")
    ))
}

fn trainer(
    model: Cnn,
    vars: &ModelVars,
    optimizer: wick::optim::Adam,
) -> Result<Trainer<Cnn, wick::optim::Adam>, Error> {
    let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
    Ok(Trainer::new(model, vars, optimizer, loss)?.with_metric(SparseCategoricalAccuracy::new().with_name("accuracy")))
}

/// The values of the variables `names`, bit for bit.
fn bits(vars: &ModelVars, names: &[String]) -> Result<HashMap<String, Vec<u32>>, Error> {
    let mut out = HashMap::new();
    for (name, var) in vars.vars() {
        if names.contains(name) {
            let v = var.as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            out.insert(name.clone(), v.into_iter().map(f32::to_bits).collect());
        }
    }
    Ok(out)
}

fn run(args: &Args) -> Result<(), Error> {
    if args.batch_size == 0 || args.per_class == 0 {
        return Err("--batch-size and --per-class must be positive".into());
    }
    let device = wick_demo::device(args.device, cfg!(feature = "cuda"))?;
    let out = args.out.clone().unwrap_or_else(|| args.logdir.clone());
    let data_dir = &args.data_dir;
    std::fs::create_dir_all(&out)?;

    // Phase 1: the backbone, from train's checkpoint or trained here on task A.
    let (backbone_config, backbone): (CnnConfig, HashMap<String, Tensor>) = match &args.checkpoint {
        Some(path) => {
            let config_path = path.parent().unwrap_or(Path::new(".")).join(CONFIG_FILE);
            let run = RunConfig::load(&config_path)?;
            let tensors = candle_core::safetensors::load(path, &device)
                .map_err(|e| format!("cannot load {}: {}", path.display(), with_sources(&e)))?;
            println!(
                "phase 1/3: backbone from {} (trained on {:?}, {}x{} images)",
                path.display(),
                run.class_names,
                run.model.height,
                run.model.width
            );
            (run.model, tensors.into_iter().collect())
        }
        None => {
            let dir = data_dir.join("task_a");
            ensure_task(&dir, &TASK_A, args.per_class, args.image_size, args.seed)?;
            let (classes, mut train, mut val) = task_data(&dir, args, args.image_size, &device)?;
            let config = CnnConfig::new(args.image_size, classes.len());
            println!("phase 1/3: backbone on task A {classes:?} ({} epochs, lr {})", args.backbone_epochs, args.lr);
            let (model, _varmap, vars) = new_model(&config, args.seed, &device)?;
            let mut t = trainer(model, &vars, adam(vars.vars().to_vec(), args.lr)?)?;
            let logs = fit(
                &mut t,
                &mut *train,
                &mut *val,
                0,
                args.backbone_epochs,
                &args.logdir.join("backbone"),
                args.verbose,
            )?;
            println!("  backbone: {logs}");
            vars.save(out.join("backbone.safetensors"))?;
            let tensors =
                vars.vars().iter().map(|(n, v)| (n.clone(), v.as_tensor().copy())).map(|(n, t)| t.map(|t| (n, t)));
            (config, tensors.collect::<candle_core::Result<_>>()?)
        }
    };

    // Phase 2: a new head for task B on the frozen backbone.
    let size = backbone_config.height;
    if backbone_config.width != size {
        return Err(format!(
            "the backbone takes {}x{} images; this example uses square ones",
            backbone_config.height, backbone_config.width
        )
        .into());
    }
    let dir = data_dir.join("task_b");
    ensure_task(&dir, &TASK_B, args.per_class, size, args.seed + 1)?;
    let (classes, mut train, mut val) = task_data(&dir, args, size, &device)?;
    let config = CnnConfig { num_classes: classes.len(), ..backbone_config.clone() };
    let (model, _varmap, vars) = new_model(&config, args.seed + 1, &device)?;
    let (frozen, head): (Vec<NamedVar>, Vec<NamedVar>) =
        vars.vars().iter().cloned().partition(|(name, _)| is_frozen(name, &args.freeze));
    if frozen.is_empty() || head.is_empty() {
        return Err(
            format!("--freeze {:?} must select some but not all of the variables {:?}", args.freeze, vars).into()
        );
    }
    for (name, var) in &frozen {
        let value = backbone.get(name).ok_or_else(|| format!("the backbone has no variable {name:?}"))?;
        if value.dims() != var.dims() {
            return Err(format!(
                "backbone variable {name:?} has shape {:?}; the task-B model needs {:?}",
                value.dims(),
                var.dims()
            )
            .into());
        }
        var.set(&value.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    let frozen_names: Vec<String> = frozen.iter().map(|(n, _)| n.clone()).collect();
    let head_names: Vec<String> = head.iter().map(|(n, _)| n.clone()).collect();
    std::fs::write(out.join("frozen.txt"), frozen_names.iter().map(|n| format!("{n}\n")).collect::<String>())?;
    vars.save(out.join("start.safetensors"))?;
    let before = bits(&vars, &frozen_names)?;
    let head_before = bits(&vars, &head_names)?;

    println!(
        "phase 2/3: new head {head_names:?} on task B {classes:?}, frozen {frozen_names:?} ({} epochs, lr {})",
        args.head_epochs, args.lr
    );
    // Freezing = the optimizer only sees the head's variables.
    let mut t = trainer(model, &vars, adam(head, args.lr)?)?;
    let logs = fit(&mut t, &mut *train, &mut *val, 0, args.head_epochs, &args.logdir.join("head"), args.verbose)?;
    println!("  head: {logs}");
    vars.save(out.join("after_head.safetensors"))?;
    if bits(&vars, &frozen_names)? != before {
        return Err("a frozen variable changed during the head phase".into());
    }
    if args.head_epochs > 0 && bits(&vars, &head_names)? == head_before {
        return Err("the head did not change during the head phase".into());
    }
    println!("  the {} frozen variables are bit-for-bit unchanged", frozen_names.len());

    // Phase 3: unfreeze everything, lower learning rate, continue the epoch count.
    let finetune_lr = args.finetune_lr.unwrap_or(args.lr / 10.0);
    println!("phase 3/3: fine-tuning all variables ({} epochs, lr {finetune_lr})", args.finetune_epochs);
    let (model, vars, _) = t.into_parts();
    let mut t = trainer(model, &vars, adam(vars.vars().to_vec(), finetune_lr)?)?;
    let logs = fit(
        &mut t,
        &mut *train,
        &mut *val,
        args.head_epochs,
        args.finetune_epochs,
        &args.logdir.join("finetune"),
        args.verbose,
    )?;
    println!("  finetune: {logs}");
    vars.save(out.join("after_finetune.safetensors"))?;
    let after = bits(&vars, &frozen_names)?;
    let changed = frozen_names.iter().filter(|n| after.get(*n) != before.get(*n)).count();
    println!("  fine-tuning changed {changed} of the {} formerly frozen variables", frozen_names.len());
    if args.finetune_epochs > 0 && changed == 0 {
        return Err("fine-tuning left the backbone unchanged".into());
    }

    println!("weights: {}/{{start,after_head,after_finetune}}.safetensors", out.display());
    println!("view the phases with:\n  tensorboard --logdir {}", args.logdir.display());
    Ok(())
}
