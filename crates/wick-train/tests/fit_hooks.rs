//! Hook order and logs of fit / evaluate / predict (keras_semantics.md §1.2, §1.3).

mod fit_support;

use fit_support::*;
use wick_callbacks::{Callback, Context, Logs};
use wick_data::TensorDataset;
use wick_train::{FitOptions, RunOptions, Shared};

fn fit_calls(epochs: usize) -> Vec<String> {
    let mut want = vec!["on_train_begin".to_string()];
    for e in 0..epochs {
        want.push(format!("on_epoch_begin({e})"));
        for b in 0..3 {
            want.push(format!("on_train_batch_begin({b})"));
            want.push(format!("on_train_batch_end({b}) {{loss, mae}}"));
        }
        want.push("on_test_begin".into());
        for b in 0..2 {
            want.push(format!("on_test_batch_begin({b})"));
            want.push(format!("on_test_batch_end({b}) {{loss, mae}}"));
        }
        want.push("on_test_end {loss, mae}".into());
        want.push(format!("on_epoch_end({e}) {{loss, mae, val_loss, val_mae}}"));
    }
    want.push("on_train_end {loss, mae, val_loss, val_mae}".into());
    want
}

#[test]
fn fit_with_validation_calls_hooks_in_keras_order() {
    let (mut trainer, setup) = trainer(0.1);
    let rec = recorder();
    let mut train = train_data();
    let mut val = val_data();
    let history = trainer
        .fit(
            &mut train,
            FitOptions {
                epochs: 2,
                shuffle: false,
                verbose: 0,
                validation_data: Some(&mut val),
                callbacks: vec![rec.boxed()],
                ..Default::default()
            },
        )
        .unwrap();
    let r = rec.borrow();
    assert_eq!(r.calls, fit_calls(2));
    // Global step counts training batches, including the one just run.
    assert_eq!(r.global_steps, [1, 2, 3, 4, 5, 6]);
    // on_train_end gets the last epoch's logs; the History has both epochs.
    let last_epoch = r.logs.iter().rev().find(|(h, _)| h == "on_epoch_end(1)").unwrap().1.clone();
    let end = r.logs.last().unwrap();
    assert_eq!(end.0, "on_train_end");
    assert_eq!(end.1, last_epoch);
    assert_eq!(history.epoch(), [0, 1]);
    assert_eq!(history.keys(), ["loss", "mae", "val_loss", "val_mae"]);
    assert_eq!(history.get("val_loss").unwrap()[1], last_epoch.get("val_loss").unwrap());
    // Validation ran in inference mode, training in training mode.
    let seen = setup.seen.lock().unwrap();
    let modes: Vec<bool> = seen.iter().map(|(t, _)| *t).collect();
    assert_eq!(modes, [true, true, true, false, false, true, true, true, false, false]);
}

#[test]
fn test_end_logs_are_the_validation_results() {
    let (mut trainer, _) = trainer(0.1);
    let rec = recorder();
    let (mut train, mut val) = (train_data(), val_data());
    trainer
        .fit(
            &mut train,
            FitOptions {
                epochs: 1,
                shuffle: false,
                verbose: 0,
                validation_data: Some(&mut val),
                callbacks: vec![rec.boxed()],
                ..Default::default()
            },
        )
        .unwrap();
    let r = rec.borrow();
    let test_end = &r.logs.iter().find(|(h, _)| h == "on_test_end").unwrap().1;
    let last_test_batch = &r.logs.iter().find(|(h, _)| h == "on_test_batch_end(1)").unwrap().1;
    let epoch_end = &r.logs.iter().find(|(h, _)| h == "on_epoch_end(0)").unwrap().1;
    let last_train_batch = &r.logs.iter().find(|(h, _)| h == "on_train_batch_end(2)").unwrap().1;
    assert_eq!(test_end, last_test_batch);
    assert_eq!(epoch_end.get("val_loss"), test_end.get("loss"));
    assert_eq!(epoch_end.get("val_mae"), test_end.get("mae"));
    // Epoch results are the training results (the last batch logs), not the validation's.
    assert_eq!(epoch_end.get("loss"), last_train_batch.get("loss"));
    assert_eq!(epoch_end.get("mae"), last_train_batch.get("mae"));
    // And equal a standalone evaluate of the final weights.
    let logs = trainer.evaluate(&mut val_data(), RunOptions::silent()).unwrap();
    assert!(close(logs.get("loss").unwrap(), test_end.get("loss").unwrap()));
}

/// Writes `learning_rate` into the epoch logs, as ReduceLROnPlateau does.
struct AddsKey;
impl Callback for AddsKey {
    fn on_epoch_end(&mut self, _e: usize, logs: &mut Logs, _c: &mut Context<'_>) -> wick_callbacks::Result<()> {
        logs.set("learning_rate", 0.5);
        Ok(())
    }
}

#[test]
fn user_callbacks_run_in_order_before_history() {
    let (mut trainer, _) = trainer(0.1);
    let (first, second) = (recorder(), recorder());
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions {
                epochs: 1,
                verbose: 0,
                callbacks: vec![first.boxed(), Box::new(AddsKey), second.boxed()],
                ..Default::default()
            },
        )
        .unwrap();
    let epoch_keys =
        |r: &Shared<Recorder>| r.borrow().calls.iter().find(|c| c.starts_with("on_epoch_end")).cloned().unwrap();
    assert_eq!(epoch_keys(&first), "on_epoch_end(0) {loss, mae}");
    assert_eq!(epoch_keys(&second), "on_epoch_end(0) {loss, mae, learning_rate}");
    assert_eq!(history.keys(), ["loss", "mae", "learning_rate"]);
}

#[test]
fn no_validation_no_test_hooks_and_validation_freq() {
    let (mut trainer, _) = trainer(0.1);
    let rec = recorder();
    trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 1, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() },
        )
        .unwrap();
    assert!(rec.borrow().calls.iter().all(|c| !c.starts_with("on_test")));

    let rec = recorder();
    let mut val = val_data();
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions {
                epochs: 4,
                verbose: 0,
                validation_data: Some(&mut val),
                validation_freq: wick_train::ValidationFreq::Every(2),
                callbacks: vec![rec.boxed()],
                ..Default::default()
            },
        )
        .unwrap();
    let ends: Vec<String> = rec.borrow().calls.iter().filter(|c| c.starts_with("on_epoch_end")).cloned().collect();
    assert_eq!(
        ends,
        [
            "on_epoch_end(0) {loss, mae}",
            "on_epoch_end(1) {loss, mae, val_loss, val_mae}",
            "on_epoch_end(2) {loss, mae}",
            "on_epoch_end(3) {loss, mae, val_loss, val_mae}"
        ]
    );
    assert_eq!(history.get("val_loss").unwrap().len(), 2);
    assert_eq!(history.get("loss").unwrap().len(), 4);
}

#[test]
fn evaluate_calls_test_hooks() {
    let (mut trainer, setup) = trainer(0.1);
    let rec = recorder();
    let logs = trainer
        .evaluate(&mut val_data(), RunOptions { verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() })
        .unwrap();
    let r = rec.borrow();
    assert_eq!(
        r.calls,
        [
            "on_test_begin",
            "on_test_batch_begin(0)",
            "on_test_batch_end(0) {loss, mae}",
            "on_test_batch_begin(1)",
            "on_test_batch_end(1) {loss, mae}",
            "on_test_end {loss, mae}"
        ]
    );
    assert_eq!(r.logs.last().unwrap().1, logs);
    // Keras' value: mean squared error of Dense(1) over the 3 validation rows.
    let pred = |x: [f32; 2]| 0.3 * x[0] as f64 - 0.2 * x[1] as f64 + 0.05;
    let mse: f64 = X_VAL.iter().zip(Y_VAL).map(|(x, y)| (pred(*x) - y as f64).powi(2)).sum::<f64>() / 3.0;
    assert!(close(logs.get("loss").unwrap(), mse), "{logs:?} vs {mse}");
    assert!(setup.seen.lock().unwrap().iter().all(|(train, _)| !train));
    // evaluate with steps stops early.
    let rec = recorder();
    trainer.evaluate(&mut val_data(), RunOptions { steps: Some(1), verbose: 0, callbacks: vec![rec.boxed()] }).unwrap();
    assert_eq!(rec.borrow().calls.len(), 4);
}

#[test]
fn predict_calls_predict_hooks_and_concatenates() {
    let (mut trainer, setup) = trainer(0.1);
    let rec = recorder();
    let x = candle_core::Tensor::new(&X_VAL, &candle_core::Device::Cpu).unwrap();
    let mut data = TensorDataset::inputs(x).unwrap().with_batch_size(2).unwrap();
    let out = trainer
        .predict(&mut data, RunOptions { verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() })
        .unwrap();
    assert_eq!(
        rec.borrow().calls,
        [
            "on_predict_begin",
            "on_predict_batch_begin(0)",
            "on_predict_batch_end(0) [2, 1]",
            "on_predict_batch_begin(1)",
            "on_predict_batch_end(1) [1, 1]",
            "on_predict_end"
        ]
    );
    assert_eq!(out.dims(), [3, 1]);
    let got = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (g, x) in got.iter().zip(X_VAL) {
        assert!((*g - (0.3 * x[0] - 0.2 * x[1] + 0.05)).abs() < 1e-6);
    }
    assert!(setup.seen.lock().unwrap().iter().all(|(train, _)| !train));
    // predict ignores targets; fit rejects inputs-only data.
    let x = candle_core::Tensor::new(&X_VAL, &candle_core::Device::Cpu).unwrap();
    let mut inputs_only = TensorDataset::inputs(x).unwrap();
    let err = trainer.fit(&mut inputs_only, FitOptions { verbose: 0, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("no targets"), "{err}");
}
