//! ProgbarLogger output against Keras' strings (keras_semantics.md §1.6).

use std::io::Write;
use std::sync::{Arc, Mutex};
use wick_callbacks::{Callback, Context, Logs, Params, ProgressBar, RunState};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);
impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl Shared {
    fn take(&self) -> String {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8(std::mem::take(&mut *g)).unwrap_or_default()
    }
}

/// A progress bar on a shared buffer with a clock the test sets.
fn bar(terminal: bool) -> (ProgressBar, Shared, Arc<Mutex<f64>>) {
    let out = Shared::default();
    let now = Arc::new(Mutex::new(0.0f64));
    let clock = now.clone();
    let pb = ProgressBar::with_writer(out.clone(), terminal)
        .with_clock(move || *clock.lock().unwrap_or_else(|p| p.into_inner()));
    (pb, out, now)
}

fn set(now: &Arc<Mutex<f64>>, t: f64) {
    *now.lock().unwrap_or_else(|p| p.into_inner()) = t;
}

/// Drives one epoch of 3 batches with a silent validation in between.
fn one_epoch(pb: &mut ProgressBar, now: &Arc<Mutex<f64>>, params: &Params, epoch: usize) {
    let mut state = RunState::default();
    let mut ctx = Context::new(params, &mut state, None, None);
    let t0 = epoch as f64 * 10.0;
    set(now, t0);
    pb.on_epoch_begin(epoch, &mut ctx).unwrap();
    for (b, (t, loss)) in [(0.1, 1.0), (0.12, 0.5), (0.3, 0.25)].into_iter().enumerate() {
        set(now, t0 + t);
        pb.on_train_batch_begin(b, &mut ctx).unwrap();
        pb.on_train_batch_end(b, &mut Logs::sorted([("loss", loss)]), &mut ctx).unwrap();
    }
    // Validation inside fit prints nothing.
    pb.on_test_begin(&mut ctx).unwrap();
    pb.on_test_batch_end(0, &mut Logs::sorted([("loss", 9.0)]), &mut ctx).unwrap();
    pb.on_test_end(&mut Logs::sorted([("loss", 9.0)]), &mut ctx).unwrap();
    let mut logs = Logs::sorted([("loss", 0.25), ("val_loss", 9.0)]);
    pb.on_epoch_end(epoch, &mut logs, &mut ctx).unwrap();
}

#[test]
fn callback_terminal_output_is_keras_bytes() {
    let (mut pb, out, now) = bar(true);
    let params = Params { verbose: 1, epochs: 2, steps: Some(3) };
    let mut state = RunState::default();
    pb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap();
    one_epoch(&mut pb, &now, &params, 0);
    let first = "\x1b[1m1/3\x1b[0m \x1b[32m━━━━━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━\x1b[0m \x1b[1m0s\x1b[0m 100ms/step - loss: 1.0000";
    let first_width = "1/3 ━━━━━━━━━━━━━━━━━━━━ 0s 100ms/step - loss: 1.0000".chars().count();
    // Batch 2 (t=0.12) is throttled; batch 3 (t=0.3) shows Keras' display average of the
    // running values (1.0 + 0.5 + 0.25) / 3; the final update shows the epoch logs as they are.
    let mid = "\x1b[1m3/3\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m \x1b[1m0s\x1b[0m 100ms/step - loss: 0.5833";
    let last = "\x1b[1m3/3\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m \x1b[1m0s\x1b[0m 100ms/step - loss: 0.2500 - val_loss: 9.0000";
    let back = "\x08".repeat(first_width);
    let expected = format!("Epoch 1/2\n\r{first}{back}\r{mid}{back}\r{last}\n");
    assert_eq!(out.take(), expected);
}

#[test]
fn intermediate_values_are_keras_display_averages() {
    let (pb, out, now) = bar(false);
    let mut pb_plain = pb.plain_update_interval(0.0);
    let params = Params { verbose: 1, epochs: 1, steps: Some(4) };
    let mut state = RunState::default();
    let mut ctx = Context::new(&params, &mut state, None, None);
    pb_plain.on_train_begin(&mut ctx).unwrap();
    pb_plain.on_epoch_begin(0, &mut ctx).unwrap();
    set(&now, 1.0);
    pb_plain.on_train_batch_end(0, &mut Logs::sorted([("loss", 1.0)]), &mut ctx).unwrap();
    set(&now, 2.0);
    pb_plain.on_train_batch_end(1, &mut Logs::sorted([("loss", 0.5)]), &mut ctx).unwrap();
    let text = out.take();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        ["1/4 ━━━━━━━━━━━━━━━━━━━━ 3s 1s/step - loss: 1.0000", "2/4 ━━━━━━━━━━━━━━━━━━━━ 2s 1s/step - loss: 0.7500"]
    );
}

#[test]
fn callback_plain_output_when_not_a_terminal() {
    let (mut pb, out, now) = bar(false);
    let params = Params { verbose: 1, epochs: 2, steps: Some(3) };
    let mut state = RunState::default();
    pb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap();
    one_epoch(&mut pb, &now, &params, 0);
    one_epoch(&mut pb, &now, &params, 1);
    assert_eq!(
        out.take(),
        "Epoch 1/2\n3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 100ms/step - loss: 0.2500 - val_loss: 9.0000\n\
         Epoch 2/2\n3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 100ms/step - loss: 0.2500 - val_loss: 9.0000\n"
    );
}

#[test]
fn callback_verbose2_and_silent() {
    let (mut pb, out, now) = bar(true);
    let params = Params { verbose: 2, epochs: 3, steps: Some(3) };
    let mut state = RunState::default();
    pb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap();
    one_epoch(&mut pb, &now, &params, 2);
    assert_eq!(out.take(), "Epoch 3/3\n3/3 - 0s - 100ms/step - loss: 0.2500 - val_loss: 9.0000\n");

    let (mut pb, out, now) = bar(true);
    let params = Params { verbose: 0, epochs: 3, steps: Some(3) };
    pb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap();
    one_epoch(&mut pb, &now, &params, 0);
    assert_eq!(out.take(), "");
}

#[test]
fn unknown_steps_become_known_after_the_first_epoch() {
    let (mut pb, out, now) = bar(false);
    let params = Params { verbose: 1, epochs: 2, steps: None };
    let mut state = RunState::default();
    pb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap();
    one_epoch(&mut pb, &now, &params, 0);
    one_epoch(&mut pb, &now, &params, 1);
    let text = out.take();
    assert!(text.contains("Epoch 1/2\n3/3 ━━━━"), "{text}");
    assert!(text.contains("Epoch 2/2\n3/3 ━━━━"), "{text}");
}

#[test]
fn standalone_evaluate_shows_its_own_bar() {
    let (mut pb, out, now) = bar(false);
    let params = Params { verbose: 1, epochs: 1, steps: Some(2) };
    let mut state = RunState::default();
    let mut ctx = Context::new(&params, &mut state, None, None);
    pb.on_test_begin(&mut ctx).unwrap();
    set(&now, 0.198);
    pb.on_test_batch_end(0, &mut Logs::sorted([("loss", 0.5)]), &mut ctx).unwrap();
    set(&now, 0.396);
    pb.on_test_batch_end(1, &mut Logs::sorted([("loss", 0.25)]), &mut ctx).unwrap();
    pb.on_test_end(&mut Logs::sorted([("loss", 0.25), ("accuracy", 0.5)]), &mut ctx).unwrap();
    assert_eq!(out.take(), "2/2 ━━━━━━━━━━━━━━━━━━━━ 0s 198ms/step - loss: 0.2500 - accuracy: 0.5000\n");
}
