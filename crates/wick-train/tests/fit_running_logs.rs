//! Running batch logs (keras_semantics.md §1.4): the loss tracker is the sample-count
//! weighted mean of the batch losses; metrics average over all samples seen.

mod fit_support;

use fit_support::*;
use wick_optim::OptimizerOptions;
use wick_train::{FitOptions, Shared};

/// Per-sample squared and absolute errors of the initial Dense(1).
fn errors() -> Vec<(f64, f64)> {
    X.iter()
        .zip(Y)
        .map(|(x, y)| {
            let p = 0.3 * x[0] as f64 - 0.2 * x[1] as f64 + 0.05;
            ((p - y as f64).powi(2), (p - y as f64).abs())
        })
        .collect()
}

#[test]
fn batch_logs_are_sample_weighted_running_means() {
    // lr = 0: the weights never change, so every batch's loss is known in advance.
    let (mut trainer, _) = trainer(0.0);
    let rec = recorder();
    trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 2, shuffle: false, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() },
        )
        .unwrap();
    let e = errors();
    let batch_loss = |r: std::ops::Range<usize>| e[r.clone()].iter().map(|v| v.0).sum::<f64>() / r.len() as f64;
    let (l0, l1, l2) = (batch_loss(0..4), batch_loss(4..8), batch_loss(8..10));
    let want_loss = [4.0 * l0 / 4.0, (4.0 * l0 + 4.0 * l1) / 8.0, (4.0 * l0 + 4.0 * l1 + 2.0 * l2) / 10.0];
    let abs_sum = |n: usize| e[..n].iter().map(|v| v.1).sum::<f64>() / n as f64;
    let want_mae = [abs_sum(4), abs_sum(8), abs_sum(10)];
    let r = rec.borrow();
    let batches: Vec<_> = r.logs.iter().filter(|(h, _)| h.starts_with("on_train_batch_end")).collect();
    assert_eq!(batches.len(), 6);
    for (i, (_, logs)) in batches.iter().enumerate() {
        // Reset at every epoch: epoch 1 repeats epoch 0.
        assert!(close(logs.get("loss").unwrap(), want_loss[i % 3]), "batch {i}: {logs:?}");
        assert!(close(logs.get("mae").unwrap(), want_mae[i % 3]), "batch {i}: {logs:?}");
    }
    let epoch_end = &r.logs.iter().find(|(h, _)| h == "on_epoch_end(0)").unwrap().1;
    assert_eq!(epoch_end, &batches[2].1);
}

#[test]
fn batch_logs_are_empty_when_no_callback_reads_them_and_epoch_logs_do_not_change() {
    let run = |epoch_only: bool| {
        let (mut trainer, _) = trainer(0.1);
        let rec = Shared::new(Recorder { epoch_only, ..Default::default() });
        let options =
            FitOptions { epochs: 2, shuffle: false, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() };
        let history = trainer.fit(&mut train_data(), options).unwrap();
        let logs = rec.borrow().logs.clone();
        (logs, history)
    };
    let (full, h_full) = run(false);
    let (lazy, h_lazy) = run(true);
    let batch_ends = |logs: &[(String, wick_callbacks::Logs)]| {
        logs.iter().filter(|(h, _)| h.starts_with("on_train_batch_end")).map(|(_, l)| l.clone()).collect::<Vec<_>>()
    };
    assert!(batch_ends(&full).iter().all(|l| l.get("loss").is_some()), "{full:?}");
    let lazy_batches = batch_ends(&lazy);
    assert_eq!(lazy_batches.len(), 6);
    assert!(lazy_batches.iter().all(|l| l.is_empty()), "{lazy_batches:?}");
    let epoch_ends = |logs: &[(String, wick_callbacks::Logs)]| {
        logs.iter().filter(|(h, _)| h.starts_with("on_epoch_end")).map(|(_, l)| l.clone()).collect::<Vec<_>>()
    };
    assert_eq!(epoch_ends(&full), epoch_ends(&lazy));
    assert_eq!(h_full.get("loss"), h_lazy.get("loss"));
    assert!(h_full.get("loss").is_some());
}

#[test]
fn sgd_steps_once_per_batch_and_loss_scaling_cancels_out() {
    let (mut plain, a) = trainer(0.1);
    plain.fit(&mut train_data(), FitOptions { epochs: 2, shuffle: false, verbose: 0, ..Default::default() }).unwrap();
    assert_eq!(plain.optimizer().iterations(), 6);
    let options = OptimizerOptions { loss_scale_factor: Some(128.0), ..Default::default() };
    let (mut scaled, b) = trainer_with(0.1, options);
    let h = scaled
        .fit(&mut train_data(), FitOptions { epochs: 2, shuffle: false, verbose: 0, ..Default::default() })
        .unwrap();
    let ka = a.kernel.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let kb = b.kernel.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (x, y) in ka.iter().zip(&kb) {
        assert!((x - y).abs() < 1e-6, "{ka:?} vs {kb:?}");
    }
    // The logged loss is the unscaled one.
    assert!(h.get("loss").unwrap()[0] < 1.0);
}

#[test]
fn sample_weights_weight_the_metrics() {
    use candle_core::{Device, Tensor};
    let (mut trainer, _) = trainer(0.0);
    let w = Tensor::new(&[1f32, 0., 2., 1., 1., 0., 3., 1., 1., 1.], &Device::Cpu).unwrap();
    let mut data = train_data().with_sample_weight(w).unwrap();
    let logs = trainer.evaluate(&mut data, wick_train::RunOptions::silent()).unwrap();
    let e = errors();
    let ws = [1.0, 0., 2., 1., 1., 0., 3., 1., 1., 1.];
    let mae = e.iter().zip(ws).map(|(v, w)| v.1 * w).sum::<f64>() / ws.iter().sum::<f64>();
    assert!(close(logs.get("mae").unwrap(), mae), "{logs:?} vs {mae}");
    // The loss divides by the batch size (sum_over_batch_size), then by sample counts.
    let batch = |r: std::ops::Range<usize>| {
        e[r.clone()].iter().zip(&ws[r.clone()]).map(|(v, w)| v.0 * w).sum::<f64>() / r.len() as f64
    };
    let loss = (4.0 * batch(0..4) + 4.0 * batch(4..8) + 2.0 * batch(8..10)) / 10.0;
    assert!(close(logs.get("loss").unwrap(), loss), "{logs:?} vs {loss}");
}
