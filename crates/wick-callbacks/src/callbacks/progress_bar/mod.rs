//! `ProgressBar`: Keras' `ProgbarLogger` (the `verbose` output of `fit`, `evaluate` and
//! `predict`), byte for byte.
//!
//! The line formatting is done by pure functions (`format.rs`) so it can be checked
//! against Keras' strings; the callback adds timing, throttling and in-place rewriting.
//!
//! ```text
//! Epoch 3/10
//! 12/100 ━━━━━━━━━━━━━━━━━━━━ 3s 25ms/step - accuracy: 0.5100 - loss: 0.7000      (verbose 1, rewritten in place)
//! 100/100 ━━━━━━━━━━━━━━━━━━━━ 3s 25ms/step - accuracy: 0.5300 - loss: 0.6900 - val_accuracy: 0.5000 - val_loss: 0.7100
//! 100/100 - 3s - 25ms/step - accuracy: 0.5300 - loss: 0.6900                   (verbose 2)
//! ```

mod format;

use crate::callback::Callback;
use crate::context::Context;
use crate::logs::Logs;
use crate::{Error, Result};
use candle_core::Tensor;
use format::{format_epoch_line, format_progress_line, ProgressLine, UPDATE_INTERVAL};
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// State of one bar (Keras' `Progbar`), created at each epoch (or evaluate/predict) start.
struct Bar {
    target: Option<usize>,
    start: f64,
    last_update: Option<f64>,
    last_plain: Option<f64>,
    time_after_first_step: Option<f64>,
    seen_so_far: usize,
    /// Per key in first-seen order: (weighted sum, weight), as Keras averages
    /// intermediate values.
    values: Vec<(String, f64, f64)>,
    prev_total_width: usize,
}

impl Bar {
    fn new(target: Option<usize>, now: f64) -> Self {
        Bar {
            target,
            start: now,
            last_update: None,
            last_plain: None,
            time_after_first_step: None,
            seen_so_far: 0,
            values: Vec::new(),
            prev_total_width: 0,
        }
    }

    /// Keras' `_estimate_step_duration`.
    fn step_duration(&mut self, current: usize, now: f64) -> f64 {
        if current == 0 {
            return 0.0;
        }
        let t = match self.time_after_first_step {
            Some(t1) if current > 1 => (now - t1) / (current - 1) as f64,
            _ => (now - self.start) / current as f64,
        };
        if current == 1 {
            self.time_after_first_step = Some(now);
        }
        t
    }

    /// Keras' value bookkeeping: intermediate values are averaged over the steps they
    /// stood for; the final update shows the values as given.
    fn record(&mut self, current: usize, logs: &Logs, finalize: bool) {
        let base = current.saturating_sub(self.seen_so_far).max(1) as f64;
        for (k, v) in logs.iter() {
            match self.values.iter_mut().find(|(name, _, _)| name == k) {
                Some(entry) if finalize => {
                    entry.1 = v;
                    entry.2 = 1.0;
                }
                Some(entry) => {
                    entry.1 += v * base;
                    entry.2 += base;
                }
                None if finalize => self.values.push((k.to_string(), v, 1.0)),
                None => self.values.push((k.to_string(), v * base, base)),
            }
        }
        self.seen_so_far = current;
    }

    fn shown(&self) -> Vec<(String, f64)> {
        self.values.iter().map(|(k, sum, count)| (k.clone(), sum / count.max(1.0))).collect()
    }
}

/// Keras' `ProgbarLogger`: prints `Epoch e/E`, a progress bar per epoch and the epoch's
/// metrics (see the module docs). `fit` appends it last, after `History`.
///
/// * verbose (from `ctx.params.verbose`, or [`verbose`](Self::verbose)): 0 prints
///   nothing, 1 a bar updated after each batch (at most every 0.05 s) and a final line
///   per epoch with the elapsed time and the `val_*` metrics, 2 one line per epoch.
/// * When the output is a terminal, the bar is redrawn in place with Keras' ANSI colours
///   and `"\b…\r"`. Otherwise (a pipe or file: CI logs) no ANSI codes or `\r` are
///   written: only the final line of each epoch, plus, with
///   [`plain_update_interval`](Self::plain_update_interval), an intermediate line at
///   most that often, each on its own line.
/// * Validation batches inside `fit` are silent; a standalone evaluate or predict
///   (hooks without `on_train_begin`) gets its own bar.
/// * Intermediate values are Keras' display averages (each shown value is the mean of the
///   logged running values, weighted by the steps each stood for); the final line shows
///   the epoch's logs as they are.
///
/// Drawing is done by hand (`std::io::IsTerminal` + pure line-formatting functions) rather than
/// with `indicatif`, whose templates and ETA estimate cannot reproduce Keras' output.
pub struct ProgressBar {
    verbose: Option<u8>,
    out: Box<dyn Write + Send>,
    dynamic: bool,
    clock: Box<dyn FnMut() -> f64 + Send>,
    plain_interval: Option<f64>,
    called_in_fit: bool,
    epochs: usize,
    verbose_now: u8,
    target: Option<usize>,
    seen: usize,
    bar: Option<Bar>,
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ProgressBar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressBar")
            .field("verbose", &self.verbose)
            .field("dynamic", &self.dynamic)
            .finish_non_exhaustive()
    }
}

impl ProgressBar {
    /// Prints to standard output; redraws in place when it is a terminal.
    pub fn new() -> Self {
        let dynamic = std::io::stdout().is_terminal();
        Self::with_writer(std::io::stdout(), dynamic)
    }

    /// Prints to `out`; `terminal` selects in-place redrawing with ANSI colours (`true`)
    /// or plain lines (`false`).
    pub fn with_writer(out: impl Write + Send + 'static, terminal: bool) -> Self {
        let origin = Instant::now();
        ProgressBar {
            verbose: None,
            out: Box::new(out),
            dynamic: terminal,
            clock: Box::new(move || origin.elapsed().as_secs_f64()),
            plain_interval: None,
            called_in_fit: false,
            epochs: 1,
            verbose_now: 1,
            target: None,
            seen: 0,
            bar: None,
        }
    }

    /// Overrides the verbosity the loop passes in `ctx.params.verbose` (0, 1 or 2).
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = Some(verbose);
        self
    }

    /// When the output is not a terminal, also print an intermediate line at most every
    /// `seconds` (default: only the final line of each epoch).
    pub fn plain_update_interval(mut self, seconds: f64) -> Self {
        self.plain_interval = Some(seconds);
        self
    }

    /// Replaces the clock (seconds, non-decreasing), e.g. to test the exact output.
    pub fn with_clock(mut self, clock: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    fn set_params(&mut self, ctx: &Context<'_>) {
        self.verbose_now = self.verbose.unwrap_or(ctx.params.verbose);
        self.epochs = ctx.params.epochs;
        self.target = ctx.params.steps;
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.bar = None;
    }

    fn init_bar(&mut self) {
        if self.bar.is_none() {
            let now = (self.clock)();
            self.bar = Some(Bar::new(self.target, now));
        }
    }

    fn write(&mut self, s: &str) -> Result<()> {
        self.out
            .write_all(s.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|source| Error::Output { context: "ProgbarLogger", source })
    }

    fn update(&mut self, batch: usize, logs: &Logs) -> Result<()> {
        self.init_bar();
        self.seen = batch + 1;
        if self.verbose_now == 1 {
            self.draw(self.seen, logs, false)?;
        }
        Ok(())
    }

    fn finalize(&mut self, logs: &Logs) -> Result<()> {
        self.init_bar();
        if self.target.is_none() {
            self.target = Some(self.seen);
            if let Some(bar) = self.bar.as_mut() {
                bar.target = Some(self.seen);
            }
        }
        let current = self.target.unwrap_or(self.seen);
        self.draw(current, logs, true)
    }

    /// Keras' `Progbar.update(current, values, finalize)`.
    fn draw(&mut self, current: usize, logs: &Logs, finalize: bool) -> Result<()> {
        let now = (self.clock)();
        let (dynamic, plain_interval, verbose) = (self.dynamic, self.plain_interval, self.verbose_now);
        let Some(bar) = self.bar.as_mut() else { return Ok(()) };
        bar.record(current, logs, finalize);
        let time_per_step = bar.step_duration(current, now);
        let mut message = String::new();
        match verbose {
            1 => {
                if !finalize && bar.last_update.is_some_and(|last| now - last < UPDATE_INTERVAL) {
                    return Ok(());
                }
                let metrics = bar.shown();
                let line = ProgressLine {
                    current,
                    target: bar.target,
                    finalize,
                    elapsed: now - bar.start,
                    time_per_step,
                    metrics: &metrics,
                };
                if dynamic {
                    let width = format_progress_line(&line, false).chars().count();
                    message.push_str(&"\x08".repeat(bar.prev_total_width));
                    message.push('\r');
                    message.push_str(&format_progress_line(&line, true));
                    if bar.prev_total_width > width {
                        message.push_str(&" ".repeat(bar.prev_total_width - width));
                    }
                    if finalize {
                        message.push('\n');
                    }
                    bar.prev_total_width = width;
                } else {
                    let due = match plain_interval {
                        _ if finalize => true,
                        Some(every) => bar.last_plain.is_none_or(|last| now - last >= every),
                        None => false,
                    };
                    if due {
                        message.push_str(&format_progress_line(&line, false));
                        message.push('\n');
                        bar.last_plain = Some(now);
                    }
                }
            }
            2 => {
                if let (true, Some(target)) = (finalize, bar.target.filter(|t| *t > 0)) {
                    message = format_epoch_line(current, target, now - bar.start, time_per_step, &bar.shown());
                    message.push('\n');
                }
            }
            _ => {}
        }
        bar.last_update = Some(now);
        if message.is_empty() {
            Ok(())
        } else {
            self.write(&message)
        }
    }
}

impl Callback for ProgressBar {
    fn chief_only(&self) -> bool {
        true
    }

    fn needs_batch_logs(&self) -> bool {
        // Verbose 1 redraws the bar with the running values after every batch.
        self.verbose_now == 1
    }

    fn name(&self) -> &str {
        "ProgbarLogger"
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.called_in_fit = true;
        self.set_params(ctx);
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        self.called_in_fit = false;
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut Context<'_>) -> Result<()> {
        self.reset();
        self.init_bar();
        if self.verbose_now > 0 && self.epochs > 1 {
            let header = format!("Epoch {}/{}\n", epoch + 1, self.epochs);
            self.write(&header)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        self.finalize(logs)
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        self.update(batch, logs)
    }

    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if !self.called_in_fit {
            self.set_params(ctx);
            self.reset();
            self.init_bar();
        }
        Ok(())
    }

    fn on_test_batch_end(&mut self, batch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        if self.called_in_fit {
            return Ok(());
        }
        self.update(batch, logs)
    }

    fn on_test_end(&mut self, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        if self.called_in_fit {
            return Ok(());
        }
        self.finalize(logs)
    }

    fn on_predict_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.set_params(ctx);
        self.reset();
        self.init_bar();
        Ok(())
    }

    fn on_predict_batch_end(&mut self, batch: usize, _outputs: &Tensor, _ctx: &mut Context<'_>) -> Result<()> {
        self.update(batch, &Logs::new())
    }

    fn on_predict_end(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        self.finalize(&Logs::new())
    }
}
