//! Stopping (keras_semantics.md §1.1): `stop_training` is checked after every batch and
//! after `on_epoch_end`; a mid-epoch stop still runs validation and `on_epoch_end`.

mod fit_support;

use fit_support::*;
use wick_train::FitOptions;

#[test]
fn stop_mid_epoch_still_validates_and_ends_the_epoch() {
    let (mut trainer, _) = trainer(0.1);
    let rec = Shared::new(Recorder::stopping_at("on_train_batch_end(1)"));
    let mut val = val_data();
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions {
                epochs: 5,
                shuffle: false,
                verbose: 0,
                validation_data: Some(&mut val),
                callbacks: vec![rec.boxed()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        rec.borrow().calls,
        [
            "on_train_begin",
            "on_epoch_begin(0)",
            "on_train_batch_begin(0)",
            "on_train_batch_end(0) {loss, mae}",
            "on_train_batch_begin(1)",
            "on_train_batch_end(1) {loss, mae}",
            "on_test_begin",
            "on_test_batch_begin(0)",
            "on_test_batch_end(0) {loss, mae}",
            "on_test_batch_begin(1)",
            "on_test_batch_end(1) {loss, mae}",
            "on_test_end {loss, mae}",
            "on_epoch_end(0) {loss, mae, val_loss, val_mae}",
            "on_train_end {loss, mae, val_loss, val_mae}",
        ]
    );
    assert_eq!(history.epoch(), [0]);
    assert_eq!(trainer.optimizer().iterations(), 2);
}

#[test]
fn stop_at_epoch_end_stops_after_that_epoch() {
    let (mut trainer, _) = trainer(0.1);
    let rec = Shared::new(Recorder::stopping_at("on_epoch_end(1)"));
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 5, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() },
        )
        .unwrap();
    assert_eq!(history.epoch(), [0, 1]);
    assert_eq!(rec.borrow().calls.last().unwrap(), "on_train_end {loss, mae}");
    assert_eq!(trainer.optimizer().iterations(), 6);
}

#[test]
fn a_new_fit_clears_the_stop_flag() {
    let (mut trainer, _) = trainer(0.1);
    let rec = Shared::new(Recorder::stopping_at("on_train_batch_end(0)"));
    trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 3, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() },
        )
        .unwrap();
    let history = trainer.fit(&mut train_data(), FitOptions { epochs: 3, verbose: 0, ..Default::default() }).unwrap();
    assert_eq!(history.epoch(), [0, 1, 2]);
}

use wick_train::Shared;
