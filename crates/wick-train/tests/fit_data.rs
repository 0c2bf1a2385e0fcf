//! Batching and shuffling of `TensorDataset` inside `fit`, and `steps_per_epoch`.

mod fit_support;

use fit_support::*;
use wick_data::TensorDataset;
use wick_train::FitOptions;

/// The order in which training samples were seen (first feature of each row), per
/// train-mode forward pass.
fn train_order(setup: &Setup) -> Vec<Vec<f32>> {
    setup.seen.lock().unwrap().iter().filter(|(t, _)| *t).map(|(_, v)| v.clone()).collect()
}

fn run(data: TensorDataset, shuffle: bool, epochs: usize) -> Vec<Vec<f32>> {
    let (mut trainer, setup) = trainer(0.0);
    let mut val = val_data();
    trainer
        .fit(
            &mut { data },
            FitOptions { epochs, shuffle, verbose: 0, validation_data: Some(&mut val), ..Default::default() },
        )
        .unwrap();
    // Validation is never shuffled.
    let val_seen: Vec<Vec<f32>> =
        setup.seen.lock().unwrap().iter().filter(|(t, _)| !*t).map(|(_, v)| v.clone()).collect();
    for pair in val_seen.chunks(2) {
        assert_eq!(pair, [vec![0.2, -0.5], vec![0.9]]);
    }
    train_order(&setup)
}

#[test]
fn shuffle_is_deterministic_by_seed_and_fresh_each_epoch() {
    let a = run(train_data().with_seed(7), true, 3);
    let b = run(train_data().with_seed(7), true, 3);
    let c = run(train_data().with_seed(8), true, 3);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let epochs: Vec<Vec<f32>> = a.chunks(3).map(|e| e.concat()).collect();
    assert_ne!(epochs[0], epochs[1]);
    assert_ne!(epochs[1], epochs[2]);
    for e in &epochs {
        let mut sorted = e.clone();
        sorted.sort_by(f32::total_cmp);
        let mut all: Vec<f32> = X.iter().map(|x| x[0]).collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(sorted, all, "each epoch sees every sample once");
    }
    // Batches of 4, 4, 2: the last partial batch is kept.
    assert_eq!(a[..3].iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
}

#[test]
fn no_shuffle_keeps_row_order() {
    let order = run(train_data(), false, 2);
    let rows: Vec<f32> = X.iter().map(|x| x[0]).collect();
    assert_eq!(order.concat(), [rows.clone(), rows].concat());
}

#[test]
fn steps_per_epoch_continues_the_pass_across_epochs() {
    // 3 batches per pass, 2 steps per epoch: epoch 0 takes batches 0-1, epoch 1 batch 2
    // (the pass runs out: a short epoch, as Keras), epoch 2 starts a new pass.
    let (mut t, setup) = trainer(0.0);
    let rec = recorder();
    let history = t
        .fit(
            &mut train_data(),
            FitOptions {
                epochs: 3,
                steps_per_epoch: Some(2),
                shuffle: false,
                verbose: 0,
                callbacks: vec![rec.boxed()],
                ..Default::default()
            },
        )
        .unwrap();
    let order = train_order(&setup);
    let lens: Vec<usize> = order.iter().map(Vec::len).collect();
    assert_eq!(lens, [4, 4, 2, 4, 4]);
    assert_eq!(order[3], order[0]);
    assert_eq!(history.epoch(), [0, 1, 2]);
    let batch_ends: Vec<String> = rec
        .borrow()
        .calls
        .iter()
        .filter(|c| c.starts_with("on_train_batch_end"))
        .map(|c| c[..21].to_string())
        .collect();
    assert_eq!(batch_ends.len(), 5);

    // 2 batches per pass, 2 steps per epoch: a new pass each epoch, silently.
    let (mut t, setup) = trainer(0.0);
    let x = candle_core::Tensor::new(&X, &candle_core::Device::Cpu).unwrap().narrow(0, 0, 8).unwrap();
    let y = candle_core::Tensor::new(&Y, &candle_core::Device::Cpu)
        .unwrap()
        .narrow(0, 0, 8)
        .unwrap()
        .reshape((8, 1))
        .unwrap();
    let mut data = TensorDataset::new(x, y).unwrap().with_batch_size(4).unwrap();
    t.fit(
        &mut data,
        FitOptions { epochs: 2, steps_per_epoch: Some(2), shuffle: false, verbose: 0, ..Default::default() },
    )
    .unwrap();
    assert_eq!(train_order(&setup).len(), 4);
}

#[test]
fn validation_split_takes_the_last_rows() {
    let (train, val) = train_data().split_validation(0.2).unwrap();
    assert_eq!(train.num_samples(), 8);
    assert_eq!(val.x().narrow(1, 0, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), [0.8, 0.5]);
}
