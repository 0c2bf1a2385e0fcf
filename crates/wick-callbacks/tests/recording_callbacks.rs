//! History, BatchLossHistory, LambdaCallback, TerminateOnNaN and CSVLogger.

mod common;

use common::Harness;
use std::cell::RefCell;
use std::rc::Rc;
use wick_callbacks::{
    BatchLossHistory, CSVLogger, Callback, CallbackList, Error, History, LambdaCallback, Logs, TerminateOnNaN,
};

#[test]
fn history_records_epochs_and_keys_and_keeps_values_across_runs() {
    let mut h = Harness::new(2, 0.1);
    let history = History::new();
    let mut cb = history.clone();
    for run in 0..2 {
        cb.on_train_begin(&mut h.ctx()).unwrap();
        for e in 0..2 {
            let mut logs = Logs::sorted([("loss", (run * 2 + e) as f64), ("accuracy", 0.5)]);
            if e == 1 {
                logs.set("learning_rate", 0.1);
            }
            cb.on_epoch_end(e, &mut logs, &mut h.ctx()).unwrap();
        }
    }
    assert_eq!(history.epoch(), [0, 1], "epoch list cleared at on_train_begin");
    assert_eq!(history.get("loss").unwrap(), [0.0, 1.0, 2.0, 3.0], "value lists kept across runs");
    assert_eq!(history.get("learning_rate").unwrap(), [0.1, 0.1]);
    assert_eq!(history.keys(), ["accuracy", "loss", "learning_rate"]);
    assert_eq!(history.record().get("accuracy").map(<[f64]>::len), Some(4));
    assert!(history.get("val_loss").is_none());
}

#[test]
fn batch_loss_history_records_each_train_batch() {
    let mut h = Harness::new(1, 0.1);
    let rec = BatchLossHistory::new();
    let mut list = CallbackList::from(vec![Box::new(rec.clone()) as Box<dyn Callback>]);
    list.on_train_batch_end(0, &mut Logs::sorted([("loss", 1.0), ("accuracy", 0.25)]), &mut h.ctx()).unwrap();
    list.on_train_batch_end(1, &mut Logs::sorted([("loss", 0.75)]), &mut h.ctx()).unwrap();
    list.on_test_batch_end(0, &mut Logs::sorted([("loss", 9.0)]), &mut h.ctx()).unwrap();
    assert_eq!(rec.losses(), [1.0, 0.75]);
    assert_eq!(rec.accuracies(), [0.25]);
}

#[test]
fn lambda_callback_calls_the_closures_given() {
    let mut h = Harness::new(3, 0.1);
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    let mut cb = LambdaCallback::new()
        .with_on_train_begin(move |_| {
            s1.borrow_mut().push("train_begin".into());
            Ok(())
        })
        .with_on_epoch_end(move |e, logs, ctx| {
            s2.borrow_mut().push(format!("epoch_end {e} {:?}", logs.get("loss")));
            logs.set("extra", 1.0);
            if e == 1 {
                ctx.stop_training();
            }
            Ok(())
        })
        .with_on_test_end(move |_, _| {
            s3.borrow_mut().push("test_end".into());
            Err(Error::Other("boom".into()))
        });
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_begin(0, &mut h.ctx()).unwrap();
    let mut logs = Logs::sorted([("loss", 0.5)]);
    cb.on_epoch_end(0, &mut logs, &mut h.ctx()).unwrap();
    assert_eq!(logs.get("extra"), Some(1.0));
    assert!(!h.state.stop_training);
    cb.on_epoch_end(1, &mut Logs::new(), &mut h.ctx()).unwrap();
    assert!(h.state.stop_training);
    assert_eq!(cb.on_test_end(&mut Logs::new(), &mut h.ctx()).unwrap_err().to_string(), "boom");
    assert_eq!(*seen.borrow(), ["train_begin", "epoch_end 0 Some(0.5)", "epoch_end 1 None", "test_end"]);
    assert!(format!("{cb:?}").contains("on_epoch_end"));
}

#[test]
fn terminate_on_nan_stops_or_fails() {
    let mut h = Harness::new(1, 0.1);
    let mut cb = TerminateOnNaN::new();
    cb.on_train_batch_end(0, &mut Logs::sorted([("loss", 1.0)]), &mut h.ctx()).unwrap();
    cb.on_train_batch_end(1, &mut Logs::sorted([("accuracy", f64::NAN)]), &mut h.ctx()).unwrap();
    assert!(!h.state.stop_training);
    cb.on_train_batch_end(2, &mut Logs::sorted([("loss", f64::INFINITY)]), &mut h.ctx()).unwrap();
    assert!(h.state.stop_training);

    let mut h = Harness::new(1, 0.1);
    let err = TerminateOnNaN::new()
        .raise_error(true)
        .on_train_batch_end(7, &mut Logs::sorted([("loss", f64::NAN)]), &mut h.ctx())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "NaN or Inf loss encountered at batch 7. Loss value: nan. Terminating training immediately."
    );
    assert!(matches!(err, Error::NonFiniteLoss { context: "TerminateOnNaN", batch: 7, .. }), "{err:?}");
    assert!(!h.state.stop_training);
}

fn csv_run(cb: &mut CSVLogger, epochs: &[Logs]) {
    let mut h = Harness::new(epochs.len(), 0.1);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    for (e, logs) in epochs.iter().enumerate() {
        cb.on_epoch_end(e, &mut logs.clone(), &mut h.ctx()).unwrap();
    }
    cb.on_train_end(&mut Logs::new(), &mut h.ctx()).unwrap();
}

#[test]
fn csv_logger_keras_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    let mut e0 = Logs::sorted([("loss", 0.7f32 as f64), ("accuracy", 0.5), ("val_loss", 1e-5), ("val_accuracy", 0.25)]);
    e0.set("learning_rate", 0.1f32 as f64);
    let mut e1 = Logs::sorted([("loss", 2.0), ("accuracy", 1.0), ("new_key", 3.0)]);
    e1.set("learning_rate", 1e16);
    csv_run(&mut CSVLogger::new(&path), &[e0, e1]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\r\n\
         0,0.5,0.10000000149011612,0.699999988079071,0.25,1e-05\r\n\
         1,1.0,1e+16,2.0,NA,NA\r\n"
    );
}

#[test]
fn csv_logger_adds_val_columns_without_validation_and_honours_separator() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/log.csv");
    csv_run(&mut CSVLogger::new(&path).separator(";"), &[Logs::sorted([("loss", 0.5), ("mae", f64::NAN)])]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch;loss;mae;val_loss;val_mae\r\n0;0.5;nan;NA;NA\r\n");
    // A field holding the separator is quoted.
    let path2 = dir.path().join("q.csv");
    csv_run(&mut CSVLogger::new(&path2).separator("s"), &[Logs::sorted([("loss", 0.5)])]);
    assert_eq!(std::fs::read_to_string(&path2).unwrap(), "epochs\"loss\"s\"val_loss\"\r\n0s0.5sNA\r\n");
}

#[test]
fn csv_logger_append_keeps_one_header_and_overwrite_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    let logs = [Logs::sorted([("loss", 0.5), ("val_loss", 0.25)])];
    csv_run(&mut CSVLogger::new(&path).append(true), &logs);
    csv_run(&mut CSVLogger::new(&path).append(true), &logs);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch,loss,val_loss\r\n0,0.5,0.25\r\n0,0.5,0.25\r\n");
    // An existing but empty file gets the header in append mode.
    std::fs::write(&path, "").unwrap();
    csv_run(&mut CSVLogger::new(&path).append(true), &logs);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch,loss,val_loss\r\n0,0.5,0.25\r\n");
    // Without append the file starts over.
    csv_run(&mut CSVLogger::new(&path), &logs);
    csv_run(&mut CSVLogger::new(&path), &logs);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch,loss,val_loss\r\n0,0.5,0.25\r\n");
}

#[test]
fn csv_logger_flushes_each_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    let mut h = Harness::new(2, 0.1);
    let mut cb = CSVLogger::new(&path);
    cb.on_train_begin(&mut h.ctx()).unwrap();
    cb.on_epoch_end(0, &mut Logs::sorted([("loss", 0.5)]), &mut h.ctx()).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch,loss,val_loss\r\n0,0.5,NA\r\n");
}

#[test]
fn csv_logger_unwritable_folder_fails_at_train_begin_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not_a_dir");
    std::fs::write(&blocker, "x").unwrap();
    let path = blocker.join("logs/log.csv");
    let mut h = Harness::new(1, 0.1);
    let err = CSVLogger::new(&path).on_train_begin(&mut h.ctx()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("not_a_dir"), "{err}");
}
