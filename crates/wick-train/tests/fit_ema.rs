//! `finalize_variable_values` (EMA → weights) runs before `on_train_end`.

mod fit_support;

use fit_support::*;
use wick_callbacks::EarlyStopping;
use wick_callbacks::{Callback, Context, Logs};
use wick_optim::OptimizerOptions;
use wick_train::{FitOptions, Shared};

/// The kernel as `on_train_end` sees it.
#[derive(Default)]
struct KernelAtEnd(Vec<f32>);
impl Callback for KernelAtEnd {
    fn on_train_end(&mut self, _l: &mut Logs, ctx: &mut Context<'_>) -> wick_callbacks::Result<()> {
        let vars = ctx.model("KernelAtEnd")?;
        let kernel = &vars.vars().iter().find(|(n, _)| n == "kernel").unwrap().1;
        self.0 = kernel.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        Ok(())
    }
}

#[test]
fn ema_weights_are_in_place_before_on_train_end() {
    let options = OptimizerOptions { use_ema: true, ema_momentum: 0.5, ..Default::default() };
    let (mut trainer, setup) = trainer_with(0.1, options);
    let at_end = Shared::new(KernelAtEnd::default());
    trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 2, verbose: 0, callbacks: vec![at_end.boxed()], ..Default::default() },
        )
        .unwrap();
    let i = trainer.optimizer().var_names().iter().position(|n| n == "kernel").unwrap();
    let ema = trainer.optimizer().ema_variables()[i].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let kernel = setup.kernel.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(kernel, ema);
    assert_eq!(at_end.borrow().0, ema);
}

#[test]
fn early_stopping_restores_best_weights_after_ema() {
    // lr large enough to diverge after a few epochs: val_loss gets worse, EarlyStopping
    // stops and restores the best epoch's weights, after EMA finalisation.
    let options = OptimizerOptions { use_ema: true, ema_momentum: 0.9, ..Default::default() };
    let (mut trainer, setup) = trainer_with(1.9, options);
    let mut val = val_data();
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions {
                epochs: 30,
                shuffle: false,
                verbose: 0,
                validation_data: Some(&mut val),
                callbacks: vec![Box::new(EarlyStopping::new().patience(2).restore_best_weights(true))],
                ..Default::default()
            },
        )
        .unwrap();
    let val_losses = history.get("val_loss").unwrap();
    let best = val_losses.iter().cloned().fold(f64::INFINITY, f64::min);
    let now = trainer.evaluate(&mut val_data(), wick_train::RunOptions::silent()).unwrap().get("loss").unwrap();
    assert!(close(now, best), "restored val_loss {now} vs best {best} in {val_losses:?}");
    let _ = setup;
}
