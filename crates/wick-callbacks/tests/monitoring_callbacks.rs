//! EarlyStopping, ReduceLROnPlateau and LearningRateScheduler decision rules, driven
//! epoch by epoch through the `Callback` trait (Keras' golden sequences and more).

mod common;

use common::{Harness, SEQ_ACC, SEQ_LOSS};
use wick_callbacks::{Callback, EarlyStopping, Error, LearningRateScheduler, Logs, Mode, ReduceLROnPlateau};

/// (epochs run, stopped_epoch, best_epoch, weights value after on_train_end (-1: none restored)).
fn es(cb: EarlyStopping, key: &str, seq: &[f64]) -> (usize, usize, usize, f32, Vec<usize>) {
    let mut h = Harness::new(seq.len(), 0.1);
    let mut cb = cb.monitor(key);
    let (ran, waits) = h.drive(&mut cb, key, seq, |cb, _| cb.wait());
    (ran, cb.stopped_epoch(), cb.best_epoch(), h.tag(), waits)
}

#[test]
fn early_stopping_keras_table() {
    // §2.2 table: epochs run, stopped_epoch, best_epoch.
    let (ran, stop, best, _, waits) = es(EarlyStopping::new(), "val_loss", &SEQ_LOSS);
    assert_eq!((ran, stop, best), (3, 2, 1));
    assert_eq!(waits, [0, 0, 1]);
    let (ran, stop, best, _, _) = es(EarlyStopping::new().patience(2), "val_loss", &SEQ_LOSS);
    assert_eq!((ran, stop, best), (7, 6, 4));
    for d in [0.05, -0.05] {
        let (ran, stop, best, _, _) = es(EarlyStopping::new().patience(2).min_delta(d), "val_loss", &SEQ_LOSS);
        assert_eq!((ran, stop, best), (4, 3, 1), "min_delta {d}");
    }
    let (ran, stop, best, _, waits) = es(EarlyStopping::new().patience(2).baseline(Some(0.75)), "val_loss", &SEQ_LOSS);
    assert_eq!((ran, stop, best), (3, 2, 1));
    assert_eq!(waits, [1, 2, 3], "a baseline never beaten never resets wait");
    let (ran, stop, best, _, _) = es(EarlyStopping::new().patience(1).start_from_epoch(3), "val_loss", &SEQ_LOSS);
    assert_eq!((ran, stop, best), (6, 5, 4));
    let (ran, stop, best, _, _) = es(EarlyStopping::new().patience(2).mode(Mode::Max), "val_accuracy", &SEQ_ACC);
    assert_eq!((ran, stop, best), (6, 5, 3));
    // Auto mode knows accuracy goes up.
    let (ran, stop, best, _, _) = es(EarlyStopping::new().patience(2), "val_accuracy", &SEQ_ACC);
    assert_eq!((ran, stop, best), (6, 5, 3));
}

#[test]
fn early_stopping_restores_best_weights_with_and_without_stop() {
    let (ran, stop, best, restored, _) =
        es(EarlyStopping::new().patience(3).restore_best_weights(true), "val_loss", &SEQ_LOSS);
    assert_eq!((ran, stop, best, restored), (8, 7, 4, 4.0));
    // Keras 3 restores even when training runs to the end.
    let (ran, stop, best, restored, _) =
        es(EarlyStopping::new().patience(100).restore_best_weights(true), "val_loss", &SEQ_LOSS);
    assert_eq!((ran, stop, best, restored), (15, 0, 8, 8.0));
    // Without restore_best_weights the weights are left alone.
    let (_, _, _, restored, _) = es(EarlyStopping::new().patience(3), "val_loss", &SEQ_LOSS);
    assert_eq!(restored, -1.0);
    // The first counted epoch is the provisional best (start_from_epoch).
    let (_, _, best, restored, _) = es(
        EarlyStopping::new().patience(100).start_from_epoch(10).restore_best_weights(true),
        "val_loss",
        &SEQ_LOSS[..12],
    );
    assert_eq!((best, restored), (10, 10.0));
}

#[test]
fn early_stopping_never_stops_at_epoch_zero_and_not_on_improvement() {
    let (ran, ..) = es(EarlyStopping::new(), "val_loss", &[1.0]);
    assert_eq!(ran, 1);
    let (ran, stop, ..) = es(EarlyStopping::new(), "val_loss", &[1.0, 0.9, 0.8, 0.7]);
    assert_eq!((ran, stop), (4, 0));
}

#[test]
fn early_stopping_restore_needs_the_model_at_start() {
    let mut h = Harness::new(3, 0.1);
    h.with_model = false;
    let mut cb = EarlyStopping::new().restore_best_weights(true);
    let err = cb.on_train_begin(&mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::Missing { context: "EarlyStopping", .. }), "{err}");
    // Without restore it does not need it.
    EarlyStopping::new().on_train_begin(&mut h.ctx()).unwrap();
}

#[test]
fn early_stopping_missing_key_warns_and_unknown_metric_errors() {
    let mut h = Harness::new(5, 0.1);
    let mut cb = EarlyStopping::new().monitor("val_loss");
    cb.on_train_begin(&mut h.ctx()).unwrap();
    for e in 0..5 {
        cb.on_epoch_end(e, &mut Logs::sorted([("loss", 1.0)]), &mut h.ctx()).unwrap();
    }
    assert!(!h.state.stop_training);
    let mut cb = EarlyStopping::new().monitor("val_my_score");
    cb.on_train_begin(&mut h.ctx()).unwrap();
    let err = cb.on_epoch_end(0, &mut Logs::sorted([("val_my_score", 1.0)]), &mut h.ctx()).unwrap_err();
    assert!(err.to_string().contains("val_my_score") && err.to_string().contains("EarlyStopping"), "{err}");
    let mut cb = EarlyStopping::new().monitor("val_my_score").mode(Mode::Min);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_end(0, &mut Logs::sorted([("val_my_score", 1.0)]), &mut h.ctx()).unwrap();
}

#[test]
fn early_stopping_state_resets_per_run() {
    let mut h = Harness::new(15, 0.1);
    let mut cb = EarlyStopping::new();
    h.drive(&mut cb, "val_loss", &SEQ_LOSS, |_, _| ());
    assert_eq!(cb.stopped_epoch(), 2);
    h.state.stop_training = false;
    let (ran, _) = h.drive(&mut cb, "val_loss", &[5.0, 4.0, 3.0], |_, _| ());
    assert_eq!((ran, cb.stopped_epoch(), cb.best()), (3, 0, Some(3.0)));
}

fn rlrop(cb: ReduceLROnPlateau, key: &str, seq: &[f64]) -> (Vec<f64>, Vec<usize>, Vec<f64>) {
    let mut h = Harness::new(seq.len(), 0.1);
    let mut cb = cb.monitor(key);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    let (mut lrs, mut waits, mut logged) = (vec![], vec![], vec![]);
    for (e, &v) in seq.iter().enumerate() {
        let mut logs = Logs::sorted([(key, v), ("loss", 0.0)]);
        cb.on_epoch_end(e, &mut logs, &mut h.ctx()).unwrap();
        logged.push(logs.get("learning_rate").unwrap());
        assert_eq!(logs.keys().last(), Some("learning_rate"));
        lrs.push(h.lr());
        waits.push(cb.wait());
    }
    (lrs, waits, logged)
}

fn f32s(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| x as f32 as f64).collect()
}

#[test]
fn reduce_lr_on_plateau_sequences() {
    let (lrs, waits, logged) = rlrop(ReduceLROnPlateau::new().patience(2).factor(0.5), "val_loss", &SEQ_LOSS);
    assert_eq!(
        lrs,
        f32s(&[
            0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.00625, 0.00625, 0.003125
        ])
    );
    assert_eq!(waits, [0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    // The logged value is the lr before that epoch's reduction.
    assert_eq!(logged[3], lrs[2]);
    assert_eq!(logged[0], 0.1f32 as f64);

    // Cooldown c blocks c-1 epochs; min_lr floors the rate and stops reductions.
    let (lrs, waits, _) =
        rlrop(ReduceLROnPlateau::new().patience(1).factor(0.5).cooldown(2).min_lr(0.02), "val_loss", &SEQ_LOSS);
    assert_eq!(lrs, f32s(&[0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02]));
    assert_eq!(waits, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6]);

    // patience=0 reduces at every non-improving epoch; default min_delta=1e-4 makes
    // 0.79995 (vs 0.8) no improvement.
    let (lrs, _, _) = rlrop(ReduceLROnPlateau::new().patience(0).factor(0.5), "val_loss", &SEQ_LOSS[..4]);
    assert_eq!(lrs, f32s(&[0.1, 0.1, 0.05, 0.025]));

    let (lrs, _, _) =
        rlrop(ReduceLROnPlateau::new().patience(1).factor(0.2).mode(Mode::Max), "val_accuracy", &SEQ_ACC[..5]);
    assert_eq!(lrs[..3], f32s(&[0.1, 0.1, 0.1 * 0.2])[..]);
}

#[test]
fn reduce_lr_on_plateau_arguments() {
    let mut h = Harness::new(1, 0.1);
    for factor in [1.0, 1.5, f64::NAN] {
        let err = ReduceLROnPlateau::new().factor(factor).on_train_begin(&mut h.ctx()).unwrap_err();
        assert!(err.to_string().contains("factor"), "{err}");
    }
    h.with_optimizer = false;
    let err = ReduceLROnPlateau::new().on_train_begin(&mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::Missing { context: "ReduceLROnPlateau", .. }));
    // A missing monitor only warns; the learning rate is still logged.
    let mut h = Harness::new(1, 0.1);
    let mut cb = ReduceLROnPlateau::new().patience(0);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    let mut logs = Logs::sorted([("loss", 1.0)]);
    cb.on_epoch_end(0, &mut logs, &mut h.ctx()).unwrap();
    assert_eq!(logs.get("learning_rate"), Some(0.1f32 as f64));
}

#[test]
fn learning_rate_scheduler_sets_lr_at_epoch_begin_and_logs_it() {
    let mut h = Harness::new(5, 0.1);
    let mut cb = LearningRateScheduler::new(|epoch, lr| if epoch >= 2 { lr * 0.5 } else { lr });
    cb.on_train_begin(&mut h.ctx()).unwrap();
    let mut during = vec![];
    for e in 0..5 {
        cb.on_epoch_begin(e, &mut h.ctx()).unwrap();
        during.push(h.lr());
        let mut logs = Logs::sorted([("loss", 1.0)]);
        cb.on_epoch_end(e, &mut logs, &mut h.ctx()).unwrap();
        assert_eq!(logs.get("learning_rate"), Some(h.lr()));
    }
    assert_eq!(during, f32s(&[0.1, 0.1, 0.05, 0.025, 0.0125]));

    let mut cb = LearningRateScheduler::from_epoch(|e| 0.01 * (e + 1) as f64);
    cb.on_epoch_begin(2, &mut h.ctx()).unwrap();
    assert_eq!(h.lr(), 0.03f32 as f64);

    let err = LearningRateScheduler::new(|_, _| f64::NAN).on_epoch_begin(0, &mut h.ctx()).unwrap_err();
    assert!(err.to_string().contains("nan"), "{err}");
    h.with_optimizer = false;
    let err = LearningRateScheduler::new(|_, lr| lr).on_epoch_begin(0, &mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::Missing { context: "LearningRateScheduler", .. }));
}
