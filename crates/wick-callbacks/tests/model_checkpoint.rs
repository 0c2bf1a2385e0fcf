//! ModelCheckpoint: file names, decisions, what is written, and start-of-run checks.

mod common;

use common::{Harness, SEQ_ACC, SEQ_LOSS};
use std::path::Path;
use wick_callbacks::{
    Callback, Error, Logs, Mode, ModelCheckpoint, SaveFreq, CHECKPOINT_MANIFEST_SUFFIX, OPTIMIZER_STATE_SUFFIX,
};

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Drives `cb` over `seq` and returns the epochs (0-based) at which a model file appeared.
fn saved_epochs(cb: ModelCheckpoint, key: &str, seq: &[f64], dir: &Path) -> Vec<usize> {
    let mut h = Harness::new(seq.len(), 0.1);
    let mut cb = cb.monitor(key);
    let mut before = files(dir);
    let (_, new) = h.drive(&mut cb, key, seq, |_, _| {
        let now = files(dir);
        let added = now
            .iter()
            .filter(|f| {
                !before.contains(f) && !f.ends_with(OPTIMIZER_STATE_SUFFIX) && !f.ends_with(CHECKPOINT_MANIFEST_SUFFIX)
            })
            .count();
        before = now;
        added
    });
    new.iter().enumerate().filter(|(_, &n)| n > 0).map(|(e, _)| e).collect()
}

#[test]
fn save_best_only_decisions_match_keras() {
    let dir = tempfile::tempdir().unwrap();
    let t = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    assert_eq!(
        saved_epochs(
            ModelCheckpoint::new(t("a-{epoch:02d}.ckpt")).save_best_only(true),
            "val_loss",
            &SEQ_LOSS,
            dir.path()
        ),
        [0, 1, 3, 4, 8]
    );
    assert_eq!(
        saved_epochs(
            ModelCheckpoint::new(t("b-{epoch:02d}.ckpt")).save_best_only(true).initial_value_threshold(Some(0.75)),
            "val_loss",
            &SEQ_LOSS,
            dir.path()
        ),
        [4, 8]
    );
    assert_eq!(
        saved_epochs(
            ModelCheckpoint::new(t("c-{epoch:02d}.ckpt")).save_best_only(true).mode(Mode::Max),
            "val_accuracy",
            &SEQ_ACC,
            dir.path()
        ),
        [0, 1, 3, 6]
    );
    assert_eq!(
        saved_epochs(ModelCheckpoint::new(t("d-{epoch:02d}.ckpt")), "val_loss", &SEQ_LOSS[..4], dir.path()),
        [0, 1, 2, 3]
    );
}

#[test]
fn file_names_use_python_format_and_one_based_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("m-{epoch:02d}-{val_loss:.2f}-{loss:.1e}-{epoch}.safetensors");
    let mut h = Harness::new(3, 0.1);
    let mut cb = ModelCheckpoint::new(template.to_string_lossy()).save_weights_only(true);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    for (e, v) in [0.74132, 0.5, 12.345].into_iter().enumerate() {
        h.set_tag(e as f32 * 10.0);
        cb.on_epoch_begin(e, &mut h.ctx()).unwrap();
        cb.on_epoch_end(e, &mut Logs::sorted([("val_loss", v), ("loss", 0.000123)]), &mut h.ctx()).unwrap();
    }
    assert_eq!(
        files(dir.path()),
        [
            "m-01-0.74-1.2e-04-1.safetensors",
            "m-01-0.74-1.2e-04-1.safetensors.manifest.json",
            "m-02-0.50-1.2e-04-2.safetensors",
            "m-02-0.50-1.2e-04-2.safetensors.manifest.json",
            "m-03-12.35-1.2e-04-3.safetensors",
            "m-03-12.35-1.2e-04-3.safetensors.manifest.json"
        ]
    );
    assert_eq!(cb.last_saved(), Some(dir.path().join("m-03-12.35-1.2e-04-3.safetensors").as_path()));
    // The file holds the weights of its epoch and loads back.
    h.model.load(dir.path().join("m-02-0.50-1.2e-04-2.safetensors")).unwrap();
    assert_eq!(h.tag(), 10.0);
}

#[test]
fn optimizer_state_is_saved_unless_weights_only_and_no_temp_files_remain() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(1, 0.25);
    let full = dir.path().join("full.ckpt");
    let mut cb = ModelCheckpoint::new(full.to_string_lossy());
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_end(0, &mut Logs::sorted([("val_loss", 1.0)]), &mut h.ctx()).unwrap();
    let mut cb = ModelCheckpoint::new(dir.path().join("weights.ckpt").to_string_lossy()).save_weights_only(true);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_end(0, &mut Logs::sorted([("val_loss", 1.0)]), &mut h.ctx()).unwrap();
    assert_eq!(
        files(dir.path()),
        [
            "full.ckpt",
            "full.ckpt.manifest.json",
            "full.ckpt.optimizer.safetensors",
            "weights.ckpt",
            "weights.ckpt.manifest.json"
        ]
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("full.ckpt.optimizer.safetensors")).unwrap(), "0.25");
    // Overwriting in place works (rename over the old file).
    let mut cb = ModelCheckpoint::new(full.to_string_lossy());
    cb.on_train_begin(&mut h.ctx()).unwrap();
    h.set_tag(42.0);
    cb.on_epoch_end(1, &mut Logs::sorted([("val_loss", 1.0)]), &mut h.ctx()).unwrap();
    h.set_tag(0.0);
    h.model.load(&full).unwrap();
    assert_eq!(h.tag(), 42.0);
    assert_eq!(files(dir.path()).len(), 5);
    // Without an optimizer in the loop only the weights are written.
    let mut h = Harness::new(1, 0.25);
    h.with_optimizer = false;
    let mut cb = ModelCheckpoint::new(dir.path().join("noopt.ckpt").to_string_lossy());
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_end(0, &mut Logs::new(), &mut h.ctx()).unwrap();
    assert!(dir.path().join("noopt.ckpt").is_file());
    assert!(!dir.path().join(format!("noopt.ckpt{OPTIMIZER_STATE_SUFFIX}")).exists());
}

#[test]
fn batch_level_saving_counts_across_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("e{epoch}-b{batch}.ckpt");
    let mut h = Harness::new(2, 0.1);
    let mut cb =
        ModelCheckpoint::new(template.to_string_lossy()).save_freq(SaveFreq::Batches(2)).save_weights_only(true);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    for e in 0..2 {
        cb.on_epoch_begin(e, &mut h.ctx()).unwrap();
        for b in 0..3 {
            cb.on_train_batch_end(b, &mut Logs::sorted([("loss", 1.0)]), &mut h.ctx()).unwrap();
        }
        cb.on_epoch_end(e, &mut Logs::sorted([("loss", 1.0)]), &mut h.ctx()).unwrap();
    }
    // Batches 1..6 overall; saves after the 2nd, 4th and 6th: (epoch 1, batch 2), (2, 1), (2, 3).
    assert_eq!(
        files(dir.path()),
        [
            "e1-b2.ckpt",
            "e1-b2.ckpt.manifest.json",
            "e2-b1.ckpt",
            "e2-b1.ckpt.manifest.json",
            "e2-b3.ckpt",
            "e2-b3.ckpt.manifest.json"
        ]
    );
    let info = ModelCheckpoint::read_checkpoint(dir.path().join("e2-b1.ckpt")).unwrap();
    assert_eq!((info.epoch, info.batch, info.optimizer), (2, Some(1), None));

    let err = ModelCheckpoint::new(template.to_string_lossy())
        .save_freq(SaveFreq::Batches(0))
        .on_train_begin(&mut h.ctx())
        .unwrap_err();
    assert!(err.to_string().contains("save_freq"), "{err}");
}

#[test]
fn missing_monitor_saves_anyway_and_missing_template_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(1, 0.1);
    let mut cb = ModelCheckpoint::new(dir.path().join("x{epoch}.ckpt").to_string_lossy()).save_best_only(true);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_end(0, &mut Logs::sorted([("loss", 1.0)]), &mut h.ctx()).unwrap();
    assert_eq!(
        files(dir.path()),
        [
            "x1.ckpt",
            format!("x1.ckpt{CHECKPOINT_MANIFEST_SUFFIX}").as_str(),
            format!("x1.ckpt{OPTIMIZER_STATE_SUFFIX}").as_str()
        ]
    );

    let mut cb = ModelCheckpoint::new(dir.path().join("y{val_auc:.3f}.ckpt").to_string_lossy());
    cb.on_train_begin(&mut h.ctx()).unwrap();
    let err = cb.on_epoch_end(0, &mut Logs::sorted([("loss", 1.0)]), &mut h.ctx()).unwrap_err().to_string();
    assert!(err.contains("val_auc") && err.contains("y{val_auc:.3f}.ckpt"), "{err}");

    // A path that is an existing folder is refused.
    std::fs::create_dir(dir.path().join("z1")).unwrap();
    let mut cb = ModelCheckpoint::new(dir.path().join("z{epoch}").to_string_lossy());
    cb.on_train_begin(&mut h.ctx()).unwrap();
    let err = cb.on_epoch_end(0, &mut Logs::new(), &mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { context: "ModelCheckpoint", .. }), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("z1") && err.contains("directory"), "{err}");
}

#[test]
fn folder_is_created_at_train_begin_or_the_run_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(1, 0.1);
    // Created up to the first templated component.
    let mut cb = ModelCheckpoint::new(dir.path().join("a/b/run-{epoch}/w.ckpt").to_string_lossy());
    cb.on_train_begin(&mut h.ctx()).unwrap();
    assert!(dir.path().join("a/b").is_dir());
    cb.on_epoch_end(0, &mut Logs::new(), &mut h.ctx()).unwrap();
    assert!(dir.path().join("a/b/run-1/w.ckpt").is_file());
    assert_eq!(files(&dir.path().join("a/b")), ["run-1"], "no write-test file left behind");

    // A regular file where a folder should be: fails at on_train_begin, naming the path.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let mut cb = ModelCheckpoint::new(blocker.join("ckpts/w-{epoch}.ckpt").to_string_lossy());
    let err = cb.on_train_begin(&mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("blocker/ckpts"), "{err}");

    // The model's variables are required.
    h.with_model = false;
    let err =
        ModelCheckpoint::new(dir.path().join("w.ckpt").to_string_lossy()).on_train_begin(&mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::Missing { context: "ModelCheckpoint", .. }));
}

#[test]
fn static_dir_stops_at_the_first_template_component() {
    assert_eq!(ModelCheckpoint::new("w-{epoch}.ckpt").static_dir(), Path::new("."));
    assert_eq!(ModelCheckpoint::new("/tmp/x/{epoch}/w.ckpt").static_dir(), Path::new("/tmp/x"));
    assert_eq!(ModelCheckpoint::new("runs/a/w.ckpt").static_dir(), Path::new("runs/a"));
}
