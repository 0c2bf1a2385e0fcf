//! `initial_epoch`, and a callback raising it in `on_train_begin` (BackupAndRestore).

mod fit_support;

use fit_support::*;
use wick_callbacks::{Callback, Context};
use wick_train::FitOptions;

#[test]
fn initial_epoch_runs_the_remaining_epochs() {
    let (mut trainer, _) = trainer(0.1);
    let rec = recorder();
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 3, initial_epoch: 1, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() },
        )
        .unwrap();
    assert_eq!(history.epoch(), [1, 2]);
    let begins: Vec<String> = rec.borrow().calls.iter().filter(|c| c.starts_with("on_epoch_begin")).cloned().collect();
    assert_eq!(begins, ["on_epoch_begin(1)", "on_epoch_begin(2)"]);
}

/// Resumes at epoch 2, as BackupAndRestore does after reading its metadata.
struct Resume;
impl Callback for Resume {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> wick_callbacks::Result<()> {
        assert_eq!(ctx.state.initial_epoch, 0);
        ctx.state.initial_epoch = 2;
        Ok(())
    }
}

#[test]
fn a_callback_can_raise_the_initial_epoch() {
    let (mut trainer, _) = trainer(0.1);
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 4, verbose: 0, callbacks: vec![Box::new(Resume)], ..Default::default() },
        )
        .unwrap();
    assert_eq!(history.epoch(), [2, 3]);
    assert_eq!(trainer.optimizer().iterations(), 6);
}

#[test]
fn nothing_to_run_still_calls_train_begin_and_end() {
    let (mut trainer, _) = trainer(0.1);
    let rec = recorder();
    let history = trainer
        .fit(
            &mut train_data(),
            FitOptions { epochs: 2, initial_epoch: 2, verbose: 0, callbacks: vec![rec.boxed()], ..Default::default() },
        )
        .unwrap();
    assert_eq!(rec.borrow().calls, ["on_train_begin", "on_train_end {}"]);
    assert!(history.epoch().is_empty());
}
