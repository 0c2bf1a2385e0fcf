//! Errors: a callback's error aborts `fit` with that error; bad arguments are rejected.

mod fit_support;

use fit_support::*;
use wick_callbacks::{Callback, Context, Logs};
use wick_train::{Error, FitOptions, ValidationFreq};

/// Fails at the end of training batch 1.
struct Fails;
impl Callback for Fails {
    fn on_train_batch_end(&mut self, batch: usize, _l: &mut Logs, _c: &mut Context<'_>) -> wick_callbacks::Result<()> {
        if batch == 1 {
            return Err(wick_callbacks::Error::Other("disk full".into()));
        }
        Ok(())
    }
}

#[test]
fn a_callback_error_aborts_fit_with_that_error() {
    let (mut trainer, _) = trainer(0.1);
    let (before, after) = (recorder(), recorder());
    let err = trainer
        .fit(
            &mut train_data(),
            FitOptions {
                epochs: 3,
                verbose: 0,
                callbacks: vec![before.boxed(), Box::new(Fails), after.boxed()],
                ..Default::default()
            },
        )
        .unwrap_err();
    match &err {
        Error::Callback(wick_callbacks::Error::Other(m)) => assert_eq!(m, "disk full"),
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(err.to_string(), "disk full");
    // Aborted at once: no later callback saw that hook, nothing else ran.
    assert_eq!(before.borrow().calls.last().unwrap(), "on_train_batch_end(1) {loss, mae}");
    assert_eq!(after.borrow().calls.last().unwrap(), "on_train_batch_begin(1)");
    assert_eq!(trainer.optimizer().iterations(), 2);
}

#[test]
fn invalid_arguments_are_rejected() {
    let (mut trainer, _) = trainer(0.1);
    let bad = [
        FitOptions { steps_per_epoch: Some(0), verbose: 0, ..Default::default() },
        FitOptions { validation_freq: ValidationFreq::Every(0), verbose: 0, ..Default::default() },
    ];
    for options in bad {
        assert!(matches!(trainer.fit(&mut train_data(), options), Err(Error::InvalidArgument { .. })));
    }
    assert!(train_data().with_batch_size(0).is_err());
    let x = candle_core::Tensor::zeros((3, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let y = candle_core::Tensor::zeros((4, 1), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    assert!(wick_data::TensorDataset::new(x, y).is_err());
}

#[test]
fn a_loss_shape_error_is_reported() {
    let (mut trainer, _) = trainer(0.1);
    let x = candle_core::Tensor::new(&X, &candle_core::Device::Cpu).unwrap();
    let y = candle_core::Tensor::zeros((10, 3), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let mut data = wick_data::TensorDataset::new(x, y).unwrap();
    let err = trainer.fit(&mut data, FitOptions { verbose: 0, ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. } | Error::Candle(_)), "{err:?}");
}
