//! Evaluate the best checkpoint of a `train` run on its validation split.
//!
//! ```text
//! cargo run --release --example evaluate                          # newest run under logs/fit
//! cargo run --release --example evaluate -- --run logs/fit/20250101-120000
//! ```
//!
//! Loads `<run>/checkpoints/best.safetensors` and the `config.json` beside it, rebuilds
//! the model (under the run's `--precision` policy) and the validation split (same folder, fraction and seed, so the very images
//! the run validated on, in the same batches), and prints the loss, the accuracy,
//! per-class precision / recall / F1 and the confusion matrix. The same results go to
//! TensorBoard, in the run's `eval` folder:
//!
//! * scalars `epoch_loss` and `epoch_accuracy` at the best epoch's step (they appear as an
//!   `eval` point on the training charts);
//! * text `evaluation/per_class` (a table) and `evaluation/confusion_matrix` (a table);
//! * image `evaluation/confusion_matrix_image` (a tag has one plugin, so not the table's
//!   tag): true classes down, predicted classes across, in label order, each cell showing
//!   its count on its share of the row (white 0 to blue 1), the class names beside the
//!   rows and above the columns, and the axis titles (`wick_demo::confusion_image`).
//!
//! A closed stdout (`evaluate | head -n 1`) only stops the report: the results are still
//! written to TensorBoard, and the exit status is 0.

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_nn::{VarBuilder, VarMap};
use clap::Parser;
use wick::callbacks::ModelVars;
use wick::data::with_sources;
use wick::optim::{rules::SgdRule, OptimizerConfig, SGD};
use wick::tfevents::summary::image::Image;
use wick::tfevents::SummaryWriter;
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{RunOptions, Trainer};

use wick_demo::{build_cnn, DeviceName, PathError, RunConfig, BEST_CHECKPOINT, CONFIG_FILE};

type Error = wick_demo::Error;

/// Evaluate a `train` run's best checkpoint on its validation split.
#[derive(Debug, Parser)]
#[command(name = "evaluate", version)]
struct Args {
    /// The run directory written by `train` [default: the newest run under logs/fit]
    #[arg(long)]
    run: Option<PathBuf>,
    /// Checkpoint to load [default: <run>/checkpoints/best.safetensors]
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Run configuration [default: config.json beside the checkpoint]
    #[arg(long)]
    config: Option<PathBuf>,
    /// Image folder [default: the one the run trained on]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Batch size [default: the run's]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    device: DeviceName,
}

fn main() {
    // Keep freed memory for reuse: Candle allocates every op's output (wick-nn docs).
    wick::nn::tune_cpu_allocator();
    // Candle reads its thread count and spin limit from the environment (wick-nn docs).
    wick::nn::tune_cpu_threads();
    match run(Args::parse()) {
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

/// The newest directory under `root` holding `checkpoints/config.json`.
fn newest_run(root: &Path) -> Result<PathBuf, Error> {
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(root)
        .map_err(PathError::at("find the newest run (no --run given): cannot list", root))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("checkpoints").join(CONFIG_FILE).is_file())
        .filter_map(|p| Some((p.join("checkpoints").join(CONFIG_FILE).metadata().ok()?.modified().ok()?, p)))
        .collect();
    runs.sort();
    runs.pop().map(|(_, p)| p).ok_or_else(|| {
        format!("no run with checkpoints/{CONFIG_FILE} under {}; train one first", root.display()).into()
    })
}

fn run(args: Args) -> Result<(), Error> {
    let run_dir = match (&args.run, &args.checkpoint) {
        (Some(run), _) => Some(run.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(newest_run(Path::new("logs/fit"))?),
    };
    let checkpoint = match (&args.checkpoint, &run_dir) {
        (Some(c), _) => c.clone(),
        (None, Some(run)) => run.join("checkpoints").join(BEST_CHECKPOINT),
        (None, None) => unreachable!("a run directory is chosen when no checkpoint is given"),
    };
    let config_path = args.config.clone().unwrap_or_else(|| checkpoint.with_file_name(CONFIG_FILE));
    let config = RunConfig::load(&config_path)?;
    let run_dir = run_dir.unwrap_or_else(|| config.logdir.clone());
    if !checkpoint.is_file() {
        return Err(format!("no checkpoint at {}", checkpoint.display()).into());
    }
    let device = wick_demo::device(args.device, cfg!(feature = "cuda"))?;
    let batch_size = args.batch_size.unwrap_or(config.batch_size);

    // The model, with the checkpoint's weights, under the dtype policy it was trained with.
    let varmap = VarMap::new();
    let policy = config.precision.policy();
    let model = build_cnn(VarBuilder::from_varmap(&varmap, policy.variable_dtype(), &device), &config.model)?;
    let model = if policy.is_mixed() { model.with_policy(policy) } else { model };
    let mut varmap = varmap;
    varmap.load(&checkpoint).map_err(|e| format!("cannot load {}: {}", checkpoint.display(), with_sources(&e)))?;

    // The validation split, exactly as the run made it.
    let data_dir = args.data.clone().unwrap_or_else(|| config.data_dir.clone());
    let (class_names, _, val_subset) = wick_demo::split(&data_dir, config.validation_split, config.seed)?;
    if class_names != config.class_names {
        return Err(format!(
            "{} has classes {class_names:?}, but the model was trained on {:?}",
            data_dir.display(),
            config.class_names
        )
        .into());
    }
    let labels: Vec<usize> = val_subset.samples().iter().map(|s| s.label).collect();
    let mut val = wick_demo::dataset(&val_subset, config.model.height, batch_size, config.seed, &device, None)?;

    // Loss and accuracy as fit's validation computes them; then the predictions.
    // (The trainer needs an optimizer; evaluate and predict never step it.)
    let vars = ModelVars::from_varmap(&varmap);
    let optimizer = SGD::with_names(vars.vars().to_vec(), OptimizerConfig::new(SgdRule::default(), 0.0))?;
    let mut trainer =
        Trainer::new(model, vars, optimizer, SparseCategoricalCrossentropy::new().with_from_logits(true))?
            .with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));
    let logs = trainer.evaluate(&mut val, RunOptions::silent())?;
    let loss = logs.get("loss").ok_or("evaluate returned no loss")?;
    let accuracy = logs.get("accuracy").ok_or("evaluate returned no accuracy")?;
    let logits = trainer.predict(&mut val, RunOptions::silent())?;
    let predicted: Vec<usize> = logits.argmax(1)?.to_vec1::<u32>()?.into_iter().map(|p| p as usize).collect();
    if predicted.len() != labels.len() {
        return Err(format!("{} predictions for {} validation images", predicted.len(), labels.len()).into());
    }

    let k = class_names.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in labels.iter().zip(&predicted) {
        confusion[t][p] += 1;
    }
    let per_class: Vec<ClassScores> = (0..k).map(|c| ClassScores::of(&confusion, c)).collect();

    // Report. A closed stdout stops it, not the TensorBoard results below.
    let mut out = wick_demo::stdout();
    let report = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(out, "Checkpoint: {}", checkpoint.display())?;
        if let Some(best) = &config.best {
            writeln!(
                out,
                "  saved at epoch {} (logged val_loss {:.6}, val_accuracy {:.6})",
                best.epoch + 1,
                best.val_loss,
                best.val_accuracy
            )?;
        }
        writeln!(
            out,
            "Validation split: {} images of {} ({:.0} %, seed {})",
            labels.len(),
            data_dir.display(),
            config.validation_split * 100.0,
            config.seed
        )?;
        writeln!(out, "loss: {loss:.6}")?;
        writeln!(out, "accuracy: {accuracy:.6}")?;
        writeln!(out)?;
        let name_w = class_names.iter().map(|n| n.len()).max().unwrap_or(5).max(5);
        writeln!(out, "{:<name_w$}  {:>9}  {:>6}  {:>6}  {:>7}", "class", "precision", "recall", "f1", "support")?;
        for (name, s) in class_names.iter().zip(&per_class) {
            writeln!(
                out,
                "{:<name_w$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                name, s.precision, s.recall, s.f1, s.support
            )?;
        }
        writeln!(out)?;
        writeln!(out, "Confusion matrix (rows: true class, columns: predicted class)")?;
        let cell_w = class_names.iter().map(|n| n.len()).max().unwrap_or(1).max(5);
        write!(out, "{:<name_w$}", "")?;
        for name in &class_names {
            write!(out, "  {name:>cell_w$}")?;
        }
        writeln!(out)?;
        for (name, row) in class_names.iter().zip(&confusion) {
            write!(out, "{name:<name_w$}")?;
            for n in row {
                write!(out, "  {n:>cell_w$}")?;
            }
            writeln!(out)?;
        }
        Ok(())
    };
    let stdout_closed = match report(&mut out) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => true,
        Err(e) => return Err(e.into()),
    };

    // TensorBoard: the run's `eval` folder.
    let eval_dir = run_dir.join("eval");
    let step = config.best.as_ref().map_or(0, |b| b.epoch) as i64;
    let writer = SummaryWriter::new(&eval_dir)?;
    writer.scalar("epoch_loss", step, loss as f32)?;
    writer.scalar("epoch_accuracy", step, accuracy as f32)?;
    let mut table = vec![vec!["class".to_string(), "precision".into(), "recall".into(), "f1".into(), "support".into()]];
    for (name, s) in class_names.iter().zip(&per_class) {
        table.push(vec![
            name.clone(),
            format!("{:.4}", s.precision),
            format!("{:.4}", s.recall),
            format!("{:.4}", s.f1),
            s.support.to_string(),
        ]);
    }
    table.push(vec![
        "**all**".into(),
        String::new(),
        format!("accuracy {accuracy:.4}"),
        format!("loss {loss:.4}"),
        labels.len().to_string(),
    ]);
    writer.text_table("evaluation/per_class", step, &table)?;
    let mut matrix =
        vec![std::iter::once("true \\ predicted".to_string()).chain(class_names.iter().cloned()).collect::<Vec<_>>()];
    for (name, row) in class_names.iter().zip(&confusion) {
        matrix.push(std::iter::once(name.clone()).chain(row.iter().map(|n| n.to_string())).collect());
    }
    writer.text_table("evaluation/confusion_matrix", step, &matrix)?;
    let img = wick_demo::confusion_image(&confusion, &class_names);
    writer.image(
        "evaluation/confusion_matrix_image",
        step,
        &Image::from_u8_hwc(img.height, img.width, 3, &img.pixels),
    )?;
    writer.close()?;
    if !stdout_closed {
        writeln!(out)?;
        writeln!(
            out,
            "Wrote the results to TensorBoard: {} (tensorboard --logdir {})",
            eval_dir.display(),
            run_dir.display()
        )?;
        out.flush()?;
    }
    Ok(())
}

/// Precision, recall, F1 and support of one class.
struct ClassScores {
    precision: f64,
    recall: f64,
    f1: f64,
    support: usize,
}

impl ClassScores {
    /// From the confusion matrix (rows true, columns predicted); 0 where undefined, as
    /// scikit-learn's `zero_division=0`.
    fn of(confusion: &[Vec<usize>], c: usize) -> Self {
        let tp = confusion[c][c] as f64;
        let predicted: usize = confusion.iter().map(|row| row[c]).sum();
        let support: usize = confusion[c].iter().sum();
        let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        ClassScores { precision, recall, f1, support }
    }
}
