//! The two scripts end to end: `examples/train` for 2 epochs on a small generated shapes
//! dataset into a temporary run directory, then `examples/evaluate` on its best
//! checkpoint.
//!
//! Checked: the best checkpoint and its `config.json` exist; stock TensorBoard 2.21 (both
//! loaders, over HTTP) shows the `train` and `validation` runs with `epoch_loss` and
//! `epoch_accuracy` at steps 0 and 1 and `batch_loss` at every training batch, and the
//! `eval` run with evaluate's results (scalars, the two text tables, the confusion-matrix
//! image); `evaluate` prints the validation accuracy and loss the run logged at its best
//! epoch (the one with the lowest `val_loss`, which the checkpoint holds). `train` prints
//! the model summary, and TensorBoard shows it: the layers and edges in the Graphs tab,
//! the table as text, weight histograms (`--histogram-freq 1`). The confusion-matrix image
//! TensorBoard serves is, pixel for pixel, the labelled one drawn from the matrix
//! `evaluate` printed, with text in every cell.
//!
//! The example binaries are the ones `cargo test --release` builds next to this test
//! (`target/release/examples/`). The TensorBoard part needs the venv made by
//! `scripts/ensure_venv.sh`: skipped without it, failing under `CI=true`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::examples::{printed, run};
use support::tensorboard::scalars;
use support::tensorboard::{conceptual_graph, Loader, TensorBoard};

const EPOCHS: usize = 2;
/// 4 classes × 20 images, 20 % for validation: 64 training images, 16 validation ones.
const PER_CLASS: usize = 20;
const BATCH_SIZE: usize = 16;
const LOAD_TIMEOUT: Duration = Duration::from_secs(90);
const CLASSES: [&str; 4] = ["circle", "square", "star", "triangle"];
/// The demo CNN's layers as `train`'s summary lists them (the default global max pool).
const LAYERS: [(&str, &str); 8] = [
    ("standardize", "PerImageStandardization"),
    ("conv1", "Conv2D"),
    ("pool1", "MaxPooling2D"),
    ("conv2", "Conv2D"),
    ("pool2", "MaxPooling2D"),
    ("global_max_pool", "GlobalMaxPooling2D"),
    ("fc1", "Dense"),
    ("fc2", "Dense"),
];

/// What the two scripts produced.
struct Outcome {
    run_dir: PathBuf,
    /// The best epoch (lowest validation loss; the first one on a tie).
    best_epoch: i64,
    /// evaluate's printed loss and accuracy.
    eval_loss: f64,
    eval_accuracy: f64,
    /// Training batches per epoch.
    steps: usize,
    /// The confusion matrix evaluate printed (rows true, columns predicted).
    confusion: Vec<Vec<usize>>,
}

/// The confusion matrix in evaluate's report: the rows after its title and header line.
fn printed_confusion(stdout: &str) -> Vec<Vec<usize>> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("Confusion matrix")).skip(2);
    let rows: Vec<Vec<usize>> = CLASSES
        .iter()
        .map(|class| {
            let line = lines.next().unwrap_or_default();
            assert!(line.starts_with(class), "confusion row {class}: {line:?} in\n{stdout}");
            line.split_whitespace().skip(1).map(|n| n.parse().expect("a count")).collect()
        })
        .collect();
    assert!(rows.iter().all(|r| r.len() == CLASSES.len()), "confusion matrix {rows:?} in\n{stdout}");
    rows
}

fn train_and_evaluate(root: &Path) -> Outcome {
    let data = root.join("shapes");
    let run_dir = root.join("logs").join("run");
    let (per_class, batch, epochs) = (PER_CLASS.to_string(), BATCH_SIZE.to_string(), EPOCHS.to_string());
    let stdout = run(
        "train",
        &[
            "--generate",
            "--data",
            data.to_str().unwrap(),
            "--shapes-per-class",
            &per_class,
            "--shapes-size",
            "32",
            "--image-size",
            "32",
            "--epochs",
            &epochs,
            "--batch-size",
            &batch,
            "--patience",
            "5",
            "--seed",
            "7",
            "--logdir",
            run_dir.to_str().unwrap(),
            "--verbose",
            "2",
            "--histogram-freq",
            "1",
        ],
        root,
    );
    // Keras' model.summary(), before training.
    let summary_at = stdout.find("Model: \"demo_cnn\"").unwrap_or_else(|| panic!("no model summary:\n{stdout}"));
    assert!(summary_at < stdout.find("Epoch 1").unwrap_or(usize::MAX), "summary after training:\n{stdout}");
    for (name, class) in LAYERS {
        assert!(stdout.contains(&format!("│ {name} ({class}) ")), "summary lacks {name} ({class}):\n{stdout}");
    }
    // conv1 3·32·9 + 32, conv2 32·64·9 + 64, fc1 64·128 + 128, fc2 128·4 + 4.
    assert!(stdout.contains(" Total params: 28,228 (110.27 KB)"), "summary totals:\n{stdout}");
    let checkpoint = run_dir.join("checkpoints").join("best.safetensors");
    assert!(checkpoint.is_file(), "no best checkpoint at {}; train printed:\n{stdout}", checkpoint.display());
    assert!(run_dir.join("checkpoints").join("config.json").is_file(), "no config.json beside the checkpoint");
    assert!(
        stdout.contains(&format!("Best checkpoint: {}", checkpoint.display())),
        "train does not say where the best checkpoint is:\n{stdout}"
    );
    assert!(stdout.contains("tensorboard --logdir"), "train does not print the tensorboard command:\n{stdout}");
    assert!(run_dir.join("training.csv").is_file(), "CSVLogger wrote no training.csv");
    assert!(run_dir.join("batch_loss.json").is_file(), "no batch_loss.json");

    // The validation curve as the run logged it; the best epoch by val_loss.
    let val_loss = scalars(&run_dir.join("validation"), "epoch_loss");
    let val_accuracy = scalars(&run_dir.join("validation"), "epoch_accuracy");
    assert_eq!(val_loss.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1], "validation epoch_loss steps");
    assert_eq!(val_accuracy.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1], "validation epoch_accuracy steps");
    let best = if val_loss[1].1 < val_loss[0].1 { 1 } else { 0 };

    let eval_out = run("evaluate", &["--run", run_dir.to_str().unwrap()], root);
    let eval_loss = printed(&eval_out, "loss");
    let eval_accuracy = printed(&eval_out, "accuracy");
    assert!(
        (eval_accuracy - val_accuracy[best].1 as f64).abs() < 1e-5,
        "evaluate printed accuracy {eval_accuracy}, but the run logged val_accuracy {} at its best epoch {best} (val_loss {:?}); evaluate printed:\n{eval_out}",
        val_accuracy[best].1,
        val_loss
    );
    assert!(
        (eval_loss - val_loss[best].1 as f64).abs() < 1e-4 * (1.0 + eval_loss.abs()),
        "evaluate printed loss {eval_loss}, the run logged val_loss {} at epoch {best}",
        val_loss[best].1
    );
    assert!(eval_out.contains("Confusion matrix"), "no confusion matrix printed:\n{eval_out}");
    for class in CLASSES {
        assert!(eval_out.lines().any(|l| l.starts_with(class)), "no per-class line for {class}:\n{eval_out}");
    }
    // "Data: …, 64 training and 16 validation images, …"
    let train_images: usize = stdout
        .split(" training and ")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("train does not print the split sizes:\n{stdout}"));
    assert_eq!(
        train_images,
        4 * PER_CLASS - 4 * PER_CLASS / 5,
        "training images (Keras' split: the validation part is floor(0.2·N))"
    );
    let steps = train_images.div_ceil(BATCH_SIZE);
    let confusion = printed_confusion(&eval_out);
    Outcome { run_dir, best_epoch: best as i64, eval_loss, eval_accuracy, steps, confusion }
}

/// `(step, value)` points TensorBoard serves for `run`/`tag`; `None` while it has none.
fn served(tb: &TensorBoard, run: &str, tag: &str) -> Option<Vec<(i64, f64)>> {
    let v =
        tb.try_get(&format!("/data/plugin/scalars/scalars?run={}&tag={}", TensorBoard::q(run), TensorBoard::q(tag)))?;
    Some(
        v.as_array()?
            .iter()
            .map(|p| (p[1].as_i64().expect("integer step"), p[2].as_f64().unwrap_or(f64::NAN)))
            .collect(),
    )
}

fn shown_by(o: &Outcome, loader: Loader) {
    let Some(tb) = TensorBoard::start(&o.run_dir, loader) else { return };
    let total = (EPOCHS * o.steps) as i64;
    let wanted_steps: Vec<(&str, &str, Vec<i64>)> = vec![
        ("train", "epoch_loss", vec![0, 1]),
        ("train", "epoch_accuracy", vec![0, 1]),
        ("validation", "epoch_loss", vec![0, 1]),
        ("validation", "epoch_accuracy", vec![0, 1]),
        ("train", "batch_loss", (1..=total).collect()),
        ("eval", "epoch_accuracy", vec![o.best_epoch]),
        ("eval", "epoch_loss", vec![o.best_epoch]),
    ];
    let mut last = String::from("no answer yet");
    let loaded = tb.wait_for(LOAD_TIMEOUT, |tb| {
        for (run, tag, steps) in &wanted_steps {
            let got = served(tb, run, tag).map_or(0, |p| p.len());
            if got < steps.len() {
                last = format!("{run}/{tag}: {got} of {} points", steps.len());
                return None;
            }
        }
        // The image and the text of the eval run (loaded separately from scalars).
        let image = format!(
            "/data/plugin/images/images?run=eval&tag={}&sample=0",
            TensorBoard::q("evaluation/confusion_matrix_image")
        );
        if tb.try_get(&image).and_then(|v| v.as_array().map(|a| a.len())).unwrap_or(0) == 0 {
            last = "eval: no confusion-matrix image yet".into();
            return None;
        }
        let text = tb.try_get("/data/plugin/text/tags")?;
        if text["eval"].as_array().map_or(0, |a| a.len()) < 2 || text["train"].as_array().is_none() {
            last = format!("eval, train: text tags {text}");
            return None;
        }
        let histograms = tb.try_get("/data/plugin/histograms/tags")?;
        if !histograms["train"]["conv1/weight/histogram"].is_object() {
            last = format!("train: histogram tags {histograms}");
            return None;
        }
        Some(())
    });
    assert!(loaded.is_some(), "{loader:?} loader: not loaded after {LOAD_TIMEOUT:?}; {last}");

    let runs: Vec<String> =
        tb.get("/data/runs").as_array().expect("runs").iter().map(|r| r.as_str().unwrap().to_string()).collect();
    for run in ["train", "validation", "eval"] {
        assert!(runs.iter().any(|r| r == run), "{loader:?}: no {run} run in {runs:?}");
    }
    for (run, tag, steps) in &wanted_steps {
        let got: Vec<i64> = served(&tb, run, tag).unwrap_or_default().iter().map(|p| p.0).collect();
        assert_eq!(&got, steps, "{loader:?}: steps of {run}/{tag}");
    }
    let eval_acc = served(&tb, "eval", "epoch_accuracy").unwrap()[0].1;
    assert!(
        (eval_acc - o.eval_accuracy).abs() < 1e-5,
        "{loader:?}: eval/epoch_accuracy {eval_acc} vs printed {}",
        o.eval_accuracy
    );
    let eval_loss = served(&tb, "eval", "epoch_loss").unwrap()[0].1;
    assert!(
        (eval_loss - o.eval_loss).abs() < 1e-5 * (1.0 + o.eval_loss.abs()),
        "{loader:?}: eval/epoch_loss {eval_loss} vs printed {}",
        o.eval_loss
    );

    // The text tables and the confusion-matrix image of the eval run.
    let text_tags = tb.get("/data/plugin/text/tags");
    let eval_text: Vec<&str> = text_tags["eval"]
        .as_array()
        .unwrap_or_else(|| panic!("{loader:?}: no text in eval: {text_tags}"))
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for tag in ["evaluation/per_class", "evaluation/confusion_matrix"] {
        assert!(eval_text.contains(&tag), "{loader:?}: eval lacks text {tag}; has {eval_text:?}");
    }
    let table = tb.get(&format!("/data/plugin/text/text?run=eval&tag={}", TensorBoard::q("evaluation/per_class")));
    let html = table.to_string();
    for class in ["circle", "square", "star", "triangle", "precision", "recall"] {
        assert!(html.contains(class), "{loader:?}: the per-class table lacks {class}: {html}");
    }
    let image_tags = tb.get("/data/plugin/images/tags");
    assert!(
        image_tags["eval"]["evaluation/confusion_matrix_image"].is_object(),
        "{loader:?}: no confusion-matrix image in eval: {image_tags}"
    );
    let images = tb.get(&format!(
        "/data/plugin/images/images?run=eval&tag={}&sample=0",
        TensorBoard::q("evaluation/confusion_matrix_image")
    ));
    let first = &images.as_array().expect("image list")[0];
    assert_eq!(first["step"].as_i64(), Some(o.best_epoch), "{loader:?}: image step");
    let query = first["query"].as_str().expect("image query");
    let png = tb.get_bytes(&format!("/data/plugin/images/individualImage?{query}"));
    let served = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{loader:?}: the confusion-matrix image is not a PNG: {e}"))
        .to_rgb8();
    // Labelled: larger than the bare grid of 4 cells, and exactly what evaluate draws.
    let names: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
    let want = wick_demo::confusion_image(&o.confusion, &names);
    assert!(
        served.width() as usize > 4 * want.cell_rect(0, 0).2 + 100,
        "{loader:?}: {}x{}",
        served.width(),
        served.height()
    );
    assert_eq!(
        (served.width() as usize, served.height() as usize),
        (want.width, want.height),
        "{loader:?}: image size"
    );
    assert!(served.as_raw() == &want.pixels, "{loader:?}: the served image differs from the labelled confusion matrix");
    for (t, row) in o.confusion.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            let (x, y, w, h) = want.cell_rect(t, p);
            let fill = served.get_pixel(x as u32, y as u32);
            let text = (y..y + h).flat_map(|r| (x..x + w).map(move |c| (c, r)));
            let text = text.filter(|&(c, r)| served.get_pixel(c as u32, r as u32) != fill).count();
            assert!(text > 0, "{loader:?}: cell ({t}, {p}) of count {n} shows no digits");
        }
    }

    // The model: its conceptual graph (Graphs tab), its summary (Text tab), histograms.
    let graph =
        conceptual_graph(&tb, "train", "keras").unwrap_or_else(|| panic!("{loader:?}: no Keras graph in train"));
    let nodes: Vec<(String, String)> = graph.iter().map(|(name, _, class)| (name.clone(), class.clone())).collect();
    let mut want_nodes = vec![("demo_cnn/input_layer".to_string(), "InputLayer".to_string())];
    want_nodes.extend(LAYERS.iter().map(|(n, c)| (format!("demo_cnn/{n}"), c.to_string())));
    assert_eq!(nodes, want_nodes, "{loader:?}: graph nodes");
    for pair in graph.windows(2) {
        assert_eq!(pair[1].1, vec![pair[0].0.clone()], "{loader:?}: {} is fed by the layer before it", pair[1].0);
    }
    let text = tb.get("/data/plugin/text/text?run=train&tag=model_summary");
    let text = text[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("<pre><code>") && text.contains("Total params: 28,228"),
        "{loader:?}: model_summary {text:?}"
    );
    let histograms =
        tb.get(&format!("/data/plugin/histograms/histograms?run=train&tag={}", TensorBoard::q("fc2/weight/histogram")));
    let steps: Vec<i64> = histograms.as_array().into_iter().flatten().filter_map(|p| p[1].as_i64()).collect();
    assert_eq!(steps, [0, 1], "{loader:?}: histogram steps with --histogram-freq 1");
}

#[test]
fn train_then_evaluate_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = train_and_evaluate(dir.path());
    shown_by(&outcome, Loader::Rust);
    shown_by(&outcome, Loader::Python);
}
