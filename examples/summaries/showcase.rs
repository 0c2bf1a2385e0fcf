//! A deterministic log directory holding every summary kind wick writes, laid out as
//! Keras' `TensorBoard` callback does, plus an HParams experiment with three trials.
//!
//! [`write_showcase`] writes it and returns an [`Expected`] that says exactly what was
//! written, so that tests can compare what TensorBoard serves against it. Everything is
//! computed from a fixed seed: two calls write the same data (only wall times differ).
//!
//! Layout (run names are paths relative to the log directory):
//!
//! | run | content |
//! |---|---|
//! | `train` | scalars `epoch_loss`, `epoch_accuracy` (epochs 0..9), `batch_loss` (steps 1..=50), `grad_norm` (NaN, +Inf, -Inf at steps 2, 4, 5); histograms; images; text; PR curves |
//! | `validation` | scalars `epoch_loss`, `epoch_accuracy` (epochs 0..9) |
//! | `hparams` | the HParams experiment (hyper-parameter and metric columns) |
//! | `hparams/trial-N` | one HParams session (start values, end status) and scalar `epoch_accuracy` |
//! | `hparams/trial-N/validation` | scalar `epoch_loss` |

use std::collections::BTreeMap;
use std::path::Path;
use wick_tfevents::summary::histogram::{self, Bucket};
use wick_tfevents::summary::hparams::{Domain, HParam, HParamValue, MetricInfo, SessionStatus};
use wick_tfevents::summary::image::Image;
use wick_tfevents::summary::pr_curve::PrCounts;
use wick_tfevents::{Error, SummaryWriter};

/// Number of epochs of the `train` and `validation` runs.
pub const EPOCHS: i64 = 10;
/// Batches per epoch; `batch_loss` runs from step 1 to `EPOCHS * BATCHES_PER_EPOCH`.
pub const BATCHES_PER_EPOCH: i64 = 5;
/// Epochs of each HParams trial.
pub const TRIAL_EPOCHS: i64 = 5;
/// Seed of every pseudo-random value in the showcase.
pub const SEED: u64 = 0x5EED_0F57_A71C_5EED;

#[path = "expected.rs"]
mod expected;
pub use expected::*;

/// A tiny deterministic generator (xorshift64*): no dependency, same numbers everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (Irwin–Hall sum of 12 uniforms; only `+` and `-`,
    /// so bit-identical on every platform).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }

    /// A byte.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

/// `f32` intensity to the byte the PNG holds, as `wick_tfevents` documents it.
fn f32_to_u8(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.5).min(255.0) as u8
    }
}

/// Writes the showcase under `logdir` (created if missing) and returns what it wrote.
///
/// Existing runs with the same names get additional event files; write into an empty
/// directory to compare against the returned [`Expected`].
pub fn write_showcase(logdir: &Path) -> Result<Expected, Error> {
    let mut rng = Rng::new(SEED);
    let mut runs = BTreeMap::new();
    runs.insert("train".to_string(), write_train(logdir, &mut rng)?);
    runs.insert("validation".to_string(), write_validation(logdir, &mut rng)?);
    let hparams = write_hparams(logdir, &mut rng, &mut runs)?;
    Ok(Expected { runs, hparams })
}

/// Loss and accuracy curves that improve with the epoch, with a little noise.
fn epoch_metrics(rng: &mut Rng, epoch: i64, offset: f64) -> (f32, f32) {
    let e = epoch as f64;
    let loss = 1.25 / (1.0 + 0.6 * e) + offset + 0.02 * rng.normal();
    let accuracy = 0.97 - 0.55 / (1.0 + 0.5 * e) - offset + 0.01 * rng.normal();
    (loss as f32, accuracy.clamp(0.0, 1.0) as f32)
}

fn write_train(logdir: &Path, rng: &mut Rng) -> Result<RunExpected, Error> {
    let writer = SummaryWriter::new(logdir.join("train"))?;
    let mut run = RunExpected::default();

    // Scalars: per batch (Keras' global batch counter starts at 1) and per epoch.
    for epoch in 0..EPOCHS {
        for batch in 1..=BATCHES_PER_EPOCH {
            let step = epoch * BATCHES_PER_EPOCH + batch;
            let loss = (1.3 / (1.0 + 0.12 * step as f64) + 0.05 * rng.normal()).abs() as f32;
            writer.scalar("batch_loss", step, loss)?;
            push(&mut run.scalars, "batch_loss", (step, loss));
        }
        let (loss, accuracy) = epoch_metrics(rng, epoch, 0.0);
        writer.scalars(epoch, &[("epoch_loss", loss), ("epoch_accuracy", accuracy)])?;
        push(&mut run.scalars, "epoch_loss", (epoch, loss));
        push(&mut run.scalars, "epoch_accuracy", (epoch, accuracy));
    }
    // A diverging gradient norm: non-finite values are stored and served as they are.
    let grad_norm = [1.5f32, 1.25, f32::NAN, 0.875, f32::INFINITY, f32::NEG_INFINITY, 0.75];
    for (step, &v) in grad_norm.iter().enumerate() {
        writer.scalar("grad_norm", step as i64, v)?;
        push(&mut run.scalars, "grad_norm", (step as i64, v));
    }

    // Histograms at a few epochs: raw weights (default 30 buckets and 8 buckets) and
    // pre-computed buckets.
    for epoch in [0i64, 3, 6, 9] {
        let spread = 0.6 / (1.0 + 0.3 * epoch as f64);
        let kernel: Vec<f32> = (0..512).map(|_| (spread * rng.normal() + 0.02 * epoch as f64) as f32).collect();
        writer.histogram("dense/kernel/histogram", epoch, &kernel)?;
        let rows = histogram::buckets("dense/kernel/histogram", &kernel, histogram::DEFAULT_BUCKET_COUNT)?;
        push(&mut run.histograms, "dense/kernel/histogram", histogram_point(epoch, rows));

        let bias: Vec<f64> = (0..16).map(|i| 0.01 * epoch as f64 * (i as f64 - 7.5) + 0.05 * rng.normal()).collect();
        writer.histogram_with_buckets("dense/bias/histogram", epoch, &bias, 8)?;
        let rows = histogram::buckets("dense/bias/histogram", &bias, 8)?;
        push(&mut run.histograms, "dense/bias/histogram", histogram_point(epoch, rows));

        let rows: Vec<Bucket> = (0..5)
            .map(|i| Bucket {
                left: i as f64 * 0.5,
                right: (i + 1) as f64 * 0.5,
                count: (rng.next_u64() % 40) as f64 + epoch as f64,
            })
            .collect();
        writer.histogram_from_buckets("dense/activations/histogram", epoch, &rows)?;
        push(&mut run.histograms, "dense/activations/histogram", histogram_point(epoch, rows));
    }

    write_images(&writer, rng, &mut run)?;

    // Text: a markdown block at two steps, and a 2-D table.
    for (step, note) in [
        (0i64, "# Showcase\n\nWritten by **wick** with `SummaryWriter::text`.\n\n- epochs: 10\n- optimizer: adam"),
        (9, "Training *finished*: final `epoch_loss` logged at epoch 9."),
    ] {
        writer.text("notes", step, note)?;
        push(&mut run.text, "notes", TextPoint { step, shape: vec![], strings: vec![note.to_string()] });
    }
    let table = [["layer", "units"], ["dense", "64"], ["dense_1", "10"]];
    writer.text_table("model/summary", 0, &table)?;
    push(
        &mut run.text,
        "model/summary",
        TextPoint { step: 0, shape: vec![3, 2], strings: table.iter().flatten().map(|s| s.to_string()).collect() },
    );

    write_pr_curves(&writer, rng, &mut run)?;
    writer.close()?;
    Ok(run)
}

fn histogram_point(step: i64, buckets: Vec<Bucket>) -> HistogramPoint {
    HistogramPoint { step, bucket_count: buckets.len(), total_count: buckets.iter().map(|b| b.count).sum(), buckets }
}

fn write_images(writer: &SummaryWriter, rng: &mut Rng, run: &mut RunExpected) -> Result<(), Error> {
    // 8x6 RGB gradient at the first and last epoch.
    for step in [0i64, 9] {
        let (h, w) = (6usize, 8usize);
        let mut px = Vec::with_capacity(h * w * 3);
        for y in 0..h {
            for x in 0..w {
                px.extend_from_slice(&[(x * 32) as u8, (y * 40) as u8, ((x + y) * 16 + step as usize * 10) as u8]);
            }
        }
        writer.image("images/rgb_u8", step, &Image::from_u8_hwc(h, w, 3, &px))?;
        push(
            &mut run.images,
            "images/rgb_u8",
            ImagePoint { step, samples: 1, width: w, height: h, channels: 3, pixels: vec![px] },
        );
    }

    // 10x4 gray ramp.
    let (h, w) = (4usize, 10usize);
    let gray: Vec<u8> = (0..h * w).map(|i| ((i % w) * 25 + i / w) as u8).collect();
    writer.image("images/gray_u8", 0, &Image::from_u8_hwc(h, w, 1, &gray))?;
    push(
        &mut run.images,
        "images/gray_u8",
        ImagePoint { step: 0, samples: 1, width: w, height: h, channels: 1, pixels: vec![gray] },
    );

    // 5x5 RGBA with an alpha gradient.
    let (h, w) = (5usize, 5usize);
    let mut rgba = Vec::with_capacity(h * w * 4);
    for y in 0..h {
        for x in 0..w {
            rgba.extend_from_slice(&[255, (x * 60) as u8, (y * 60) as u8, (255 - (x + y) * 20) as u8]);
        }
    }
    writer.image("images/rgba_u8", 0, &Image::from_u8_hwc(h, w, 4, &rgba))?;
    push(
        &mut run.images,
        "images/rgba_u8",
        ImagePoint { step: 0, samples: 1, width: w, height: h, channels: 4, pixels: vec![rgba] },
    );

    // 7x6 f32 image in channels-first order (a Candle NCHW slice), with two values out of
    // range that saturate.
    let (c, h, w) = (3usize, 6usize, 7usize);
    let mut chw: Vec<f32> = (0..c * h * w).map(|_| rng.uniform() as f32).collect();
    chw[0] = -0.5;
    chw[c * h * w - 1] = 1.5;
    writer.image("images/chw_f32", 0, &Image::from_f32_chw(c, h, w, &chw))?;
    let mut hwc = vec![0u8; c * h * w];
    for ch in 0..c {
        for i in 0..h * w {
            hwc[i * c + ch] = f32_to_u8(chw[ch * h * w + i]);
        }
    }
    push(
        &mut run.images,
        "images/chw_f32",
        ImagePoint { step: 0, samples: 1, width: w, height: h, channels: 3, pixels: vec![hwc] },
    );

    // 9x3 f32 gray image in height-width-channels order.
    let (h, w) = (3usize, 9usize);
    let f: Vec<f32> = (0..h * w).map(|i| i as f32 / (h * w - 1) as f32).collect();
    writer.image("images/hwc_f32", 0, &Image::from_f32_hwc(h, w, 1, &f))?;
    let bytes = f.iter().map(|&v| f32_to_u8(v)).collect();
    push(
        &mut run.images,
        "images/hwc_f32",
        ImagePoint { step: 0, samples: 1, width: w, height: h, channels: 1, pixels: vec![bytes] },
    );

    // Four random 6x6 RGB samples under one tag; max_outputs keeps three.
    let (h, w) = (6usize, 6usize);
    let samples: Vec<Vec<u8>> = (0..4).map(|_| (0..h * w * 3).map(|_| rng.byte()).collect()).collect();
    let images: Vec<Image<'_>> = samples.iter().map(|s| Image::from_u8_hwc(h, w, 3, s)).collect();
    writer.images("images/samples", 0, &images, 3)?;
    push(
        &mut run.images,
        "images/samples",
        ImagePoint { step: 0, samples: 3, width: w, height: h, channels: 3, pixels: samples[..3].to_vec() },
    );
    Ok(())
}

fn write_pr_curves(writer: &SummaryWriter, rng: &mut Rng, run: &mut RunExpected) -> Result<(), Error> {
    // From labels and predictions: the classifier separates the classes better each time.
    const TAG: &str = "pr/from_predictions";
    const THRESHOLDS: usize = 11;
    for (step, separation) in [(0i64, 0.1f64), (5, 0.25), (9, 0.4)] {
        let labels: Vec<bool> = (0..120).map(|_| rng.uniform() < 0.4).collect();
        let predictions: Vec<f32> = labels
            .iter()
            .map(|&l| (0.5 + if l { separation } else { -separation } + 0.2 * rng.normal()).clamp(0.0, 0.999) as f32)
            .collect();
        writer.pr_curve(TAG, step, &labels, &predictions, THRESHOLDS)?;
        let counts = PrCounts::from_predictions(TAG, &labels, &predictions, None, THRESHOLDS)?;
        push(&mut run.pr_curves, TAG, pr_point(step, &counts));
    }

    // From raw confusion counts (100 examples, 40 positive), 5 thresholds; nothing is
    // predicted positive at threshold 1.0.
    let tables: [(i64, [[f64; 5]; 2]); 2] = [
        (0, [[40.0, 34.0, 22.0, 9.0, 0.0], [60.0, 25.0, 11.0, 3.0, 0.0]]),
        (1, [[40.0, 37.0, 30.0, 15.0, 0.0], [60.0, 18.0, 6.0, 1.0, 0.0]]),
    ];
    for (step, [tp, fp]) in tables {
        let counts = PrCounts {
            true_positives: tp.to_vec(),
            false_positives: fp.to_vec(),
            true_negatives: fp.iter().map(|v| 60.0 - v).collect(),
            false_negatives: tp.iter().map(|v| 40.0 - v).collect(),
        };
        writer.pr_curve_from_counts("pr/from_counts", step, &counts)?;
        push(&mut run.pr_curves, "pr/from_counts", pr_point(step, &counts));
    }
    Ok(())
}

fn pr_point(step: i64, c: &PrCounts) -> PrCurvePoint {
    PrCurvePoint {
        step,
        num_thresholds: c.len(),
        true_positives: c.true_positives.clone(),
        false_positives: c.false_positives.clone(),
        true_negatives: c.true_negatives.clone(),
        false_negatives: c.false_negatives.clone(),
        precision: c.precision().into_iter().map(|v| v as f32).collect(),
        recall: c.recall().into_iter().map(|v| v as f32).collect(),
    }
}

fn write_validation(logdir: &Path, rng: &mut Rng) -> Result<RunExpected, Error> {
    let writer = SummaryWriter::new(logdir.join("validation"))?;
    let mut run = RunExpected::default();
    for epoch in 0..EPOCHS {
        let (loss, accuracy) = epoch_metrics(rng, epoch, 0.04);
        writer.scalars(epoch, &[("epoch_loss", loss), ("epoch_accuracy", accuracy)])?;
        push(&mut run.scalars, "epoch_loss", (epoch, loss));
        push(&mut run.scalars, "epoch_accuracy", (epoch, accuracy));
    }
    writer.close()?;
    Ok(run)
}

/// One trial's hyper-parameters.
struct Trial {
    learning_rate: f64,
    optimizer: &'static str,
    dropout: bool,
    units: i64,
    group: &'static str,
    status: SessionStatus,
}

fn write_hparams(
    logdir: &Path,
    rng: &mut Rng,
    runs: &mut BTreeMap<String, RunExpected>,
) -> Result<HParamsExpected, Error> {
    let experiment_run = "hparams";
    let columns = vec![
        HParamColumn {
            name: "learning_rate".into(),
            kind: HParamKind::Number,
            domain: Some(Domain::Interval { min: 1e-4, max: 1.0 }),
            description: "Step size of the optimizer.".into(),
        },
        HParamColumn {
            name: "optimizer".into(),
            kind: HParamKind::Text,
            domain: Some(Domain::Discrete(vec!["adam".into(), "sgd".into()])),
            description: String::new(),
        },
        HParamColumn {
            name: "dropout".into(),
            kind: HParamKind::Bool,
            domain: Some(Domain::Discrete(vec![true.into(), false.into()])),
            description: String::new(),
        },
        HParamColumn { name: "units".into(), kind: HParamKind::Unset, domain: None, description: String::new() },
    ];
    let metrics = vec![
        MetricColumn { group: String::new(), tag: "epoch_accuracy".into(), display_name: "train accuracy".into() },
        MetricColumn { group: "validation".into(), tag: "epoch_loss".into(), display_name: "validation loss".into() },
    ];

    let experiment = SummaryWriter::new(logdir.join(experiment_run))?;
    let hparam_infos: Vec<HParam> = columns
        .iter()
        .map(|c| {
            let h = HParam::new(c.name.clone()).with_description(c.description.clone());
            match &c.domain {
                Some(d) => h.with_domain(d.clone()),
                None => h,
            }
        })
        .collect();
    let metric_infos: Vec<MetricInfo> = metrics
        .iter()
        .map(|m| MetricInfo::new(m.tag.clone()).in_group(m.group.clone()).with_display_name(m.display_name.clone()))
        .collect();
    experiment.hparams_config(&hparam_infos, &metric_infos)?;
    experiment.close()?;

    let trials = [
        Trial {
            learning_rate: 0.001,
            optimizer: "adam",
            dropout: true,
            units: 64,
            group: "",
            status: SessionStatus::Success,
        },
        Trial {
            learning_rate: 0.01,
            optimizer: "sgd",
            dropout: false,
            units: 128,
            group: "",
            status: SessionStatus::Success,
        },
        Trial {
            learning_rate: 0.1,
            optimizer: "adam",
            dropout: false,
            units: 32,
            group: "high-lr",
            status: SessionStatus::Failure,
        },
    ];
    let mut sessions = Vec::with_capacity(trials.len());
    for (i, t) in trials.iter().enumerate() {
        let run_name = format!("{experiment_run}/trial-{i}");
        let values: Vec<(&str, HParamValue)> = vec![
            ("learning_rate", t.learning_rate.into()),
            ("optimizer", t.optimizer.into()),
            ("dropout", t.dropout.into()),
            ("units", t.units.into()),
        ];
        let trial = SummaryWriter::new(logdir.join(&run_name))?;
        let validation = SummaryWriter::new(logdir.join(&run_name).join("validation"))?;
        trial.hparams(&values, t.group)?;
        let (mut train_run, mut val_run) = (RunExpected::default(), RunExpected::default());
        // Higher learning rates converge to worse values in this made-up experiment.
        let offset = 0.3 * t.learning_rate.sqrt();
        for epoch in 0..TRIAL_EPOCHS {
            let (loss, accuracy) = epoch_metrics(rng, epoch, offset);
            trial.scalar("epoch_accuracy", epoch, accuracy)?;
            validation.scalar("epoch_loss", epoch, loss)?;
            push(&mut train_run.scalars, "epoch_accuracy", (epoch, accuracy));
            push(&mut val_run.scalars, "epoch_loss", (epoch, loss));
        }
        trial.hparams_end(t.status)?;
        trial.close()?;
        validation.close()?;

        let last = |run: &RunExpected, tag: &str| {
            run.scalars.get(tag).and_then(|v| v.last().copied()).unwrap_or((0, f32::NAN))
        };
        let (acc_step, acc) = last(&train_run, "epoch_accuracy");
        let (loss_step, loss) = last(&val_run, "epoch_loss");
        sessions.push(SessionExpected {
            run: run_name.clone(),
            group: if t.group.is_empty() { run_name.clone() } else { t.group.to_string() },
            hparams: values.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            status: t.status,
            metrics: vec![
                MetricValue { group: String::new(), tag: "epoch_accuracy".into(), step: acc_step, value: acc },
                MetricValue { group: "validation".into(), tag: "epoch_loss".into(), step: loss_step, value: loss },
            ],
        });
        runs.insert(format!("{run_name}/validation"), val_run);
        runs.insert(run_name, train_run);
    }
    Ok(HParamsExpected { experiment_run: experiment_run.to_string(), hparams: columns, metrics, sessions })
}

fn push<T>(map: &mut BTreeMap<String, Vec<T>>, tag: &str, point: T) {
    map.entry(tag.to_string()).or_default().push(point);
}
