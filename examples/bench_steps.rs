//! Training steps per second of the demo CNN (the `train` example's model) on random batches
//! already on the device, through `Trainer::fit`: the wick side of the device check's
//! comparison with PyTorch eager (`scripts/bench_steps_torch.py`: the same model, batch,
//! loss and optimizer).
//!
//! ```text
//! cargo run --release --example bench_steps -- --device cpu --batch-size 32 --steps 50
//! ```
//!
//! `fit` runs `--warmup` epochs, then `--epochs` timed ones, each of `--steps` batches over
//! the same random images (shuffled by `fit`); no callback reads batch logs, so nothing is
//! read back from the device inside an epoch, and the epoch end reads the loss and accuracy
//! totals, which waits for the queued steps (the timing includes it). Prints one JSON line:
//! `{"impl": "wick", "device": …, "batch": …, "precision": …, "steps_per_s": …}`.

use std::time::Instant;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use clap::Parser;
use wick::callbacks::{Callback, Context, Logs, ModelVars};
use wick::data::rng::{rng_for, uniform, Stream};
use wick::data::TensorDataset;
use wick::optim::LossScaleOptimizer;
use wick::optim::{rules::AdamRule, Adam, OptimizerConfig};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Shared, Trainer};
use wick_demo::{build_cnn, init_seeded, CnnConfig, DeviceName, Precision};

#[derive(Parser, Debug)]
#[command(about = "Training steps/s of the demo CNN on random data (the device check's wick side)")]
struct Args {
    /// Where the model and the batches live.
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    device: DeviceName,
    /// Images per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Steps per epoch.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Untimed epochs first (kernel loading, allocator warm-up).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed epochs; the reported rate is over all of them.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Image height and width (the train example's default is 32).
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    /// Classes (the shapes dataset has 4).
    #[arg(long, default_value_t = 4)]
    classes: usize,
    /// Seed of the weights and the random images.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keras dtype policy of the layers (`mixed_bfloat16`: bf16 compute, f32 variables and
    /// loss; `mixed_float16` also wraps Adam in a `LossScaleOptimizer`).
    #[arg(long, value_enum, default_value_t = Precision::Float32)]
    precision: Precision,
}

/// Seeded uniform values in `[0, 255)`, like raw pixels (wick-data's synthetic-data stream).
fn pixels(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rng_for(seed, Stream::Synthetic, &[]);
    (0..n).map(|_| uniform(&mut rng, 0.0, 255.0)).collect()
}

/// Epoch start and end times (the timed epochs are those after the warm-up).
#[derive(Default)]
struct EpochTimes {
    starts: Vec<Instant>,
    ends: Vec<Instant>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.batch_size == 0 || args.steps == 0 || args.epochs == 0 {
        return Err("--batch-size, --steps and --epochs must be at least 1".into());
    }
    let device = wick_demo::device(args.device, cfg!(feature = "cuda"))?;
    let config = CnnConfig::new(args.image_size, args.classes);
    let varmap = candle_nn::VarMap::new();
    let policy = args.precision.policy();
    let model = build_cnn(VarBuilder::from_varmap(&varmap, DType::F32, &device), &config)?;
    let model = if policy.is_mixed() { model.with_policy(policy) } else { model };
    let vars = ModelVars::from_varmap(&varmap);
    init_seeded(vars.vars(), args.seed)?;

    let n = args.batch_size * args.steps;
    let (c, s) = (config.channels, args.image_size);
    let x = Tensor::from_vec(pixels(n * c * s * s, args.seed), (n, c, s, s), &device)?;
    let labels: Vec<u32> = (0..n).map(|i| (i % args.classes) as u32).collect();
    let y = Tensor::from_vec(labels, n, &device)?;
    let mut data = TensorDataset::new(x, y)?.with_batch_size(args.batch_size)?.with_seed(args.seed);

    let optimizer = Adam::with_names(
        vars.vars().to_vec(),
        OptimizerConfig::new(AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE),
    )?;
    let times = Shared::new(EpochTimesCallback::default());
    let options = FitOptions {
        epochs: args.warmup + args.epochs,
        verbose: 0,
        callbacks: vec![times.boxed()],
        ..Default::default()
    };
    match args.precision {
        Precision::MixedFloat16 => fit(model, &vars, LossScaleOptimizer::new(optimizer), &mut data, options)?,
        Precision::Float32 | Precision::MixedBfloat16 => fit(model, &vars, optimizer, &mut data, options)?,
    }

    let t = &times.borrow().0;
    let (Some(start), Some(end)) = (t.starts.get(args.warmup), t.ends.last()) else {
        return Err("fit ended before the timed epochs".into());
    };
    let seconds = end.duration_since(*start).as_secs_f64();
    let steps_per_s = (args.steps * args.epochs) as f64 / seconds;
    println!(
        "{{\"impl\": \"wick\", \"device\": \"{}\", \"batch\": {}, \"precision\": \"{}\", \"steps\": {}, \"seconds\": {seconds:.4}, \"steps_per_s\": {steps_per_s:.2}}}",
        format!("{:?}", args.device).to_lowercase(),
        args.batch_size,
        args.precision.as_str(),
        args.steps * args.epochs
    );
    Ok(())
}

/// `Trainer::fit` of the model with `optimizer`, sparse categorical cross-entropy from
/// logits and accuracy (the train example's compile).
fn fit<O: candle_nn::Optimizer + wick::optim::LrControl>(
    model: wick_demo::Cnn,
    vars: &ModelVars,
    optimizer: O,
    data: &mut TensorDataset,
    options: FitOptions<'_>,
) -> Result<(), Box<dyn std::error::Error>> {
    let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
    let mut trainer =
        Trainer::new(model, vars, optimizer, loss)?.with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));
    trainer.fit(data, options)?;
    Ok(())
}

/// Records when each epoch begins and ends; reads no batch logs.
#[derive(Default)]
struct EpochTimesCallback(EpochTimes);

impl Callback for EpochTimesCallback {
    fn name(&self) -> &str {
        "EpochTimes"
    }
    fn needs_batch_logs(&self) -> bool {
        false
    }
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut Context<'_>) -> wick::callbacks::Result<()> {
        self.0.starts.push(Instant::now());
        Ok(())
    }
    fn on_epoch_end(&mut self, _epoch: usize, _logs: &mut Logs, _ctx: &mut Context<'_>) -> wick::callbacks::Result<()> {
        // The epoch-end logs were read back (a device sync) before this hook.
        self.0.ends.push(Instant::now());
        Ok(())
    }
}
