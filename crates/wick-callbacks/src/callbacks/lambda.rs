//! Keras' `LambdaCallback`: a callback made of closures.

use crate::{Callback, Context, Logs, Result};
use candle_core::Tensor;

type CtxFn = Box<dyn FnMut(&mut Context<'_>) -> Result<()>>;
type LogsFn = Box<dyn FnMut(&mut Logs, &mut Context<'_>) -> Result<()>>;
type IdxFn = Box<dyn FnMut(usize, &mut Context<'_>) -> Result<()>>;
type IdxLogsFn = Box<dyn FnMut(usize, &mut Logs, &mut Context<'_>) -> Result<()>>;
type PredictFn = Box<dyn FnMut(usize, &Tensor, &mut Context<'_>) -> Result<()>>;

/// Keras' `LambdaCallback(on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
/// on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs)`: each
/// closure given replaces that hook; the others do nothing. Every hook of [`Callback`] can
/// be set (Keras' `**kwargs` allow `on_test_end=...` and the like).
///
/// The builder methods are `with_<hook>` (`with_on_epoch_end`, ...), so they do not hide
/// the [`Callback`] hooks of the same name.
///
/// Closures get the hook's arguments plus the [`Context`] (to stop training, reach the
/// optimizer, ...) and return `Result` so they can fail the run.
///
/// ```
/// use wick_callbacks::LambdaCallback;
/// let cb = LambdaCallback::new()
///     .with_on_epoch_end(|epoch, logs, _ctx| {
///         println!("epoch {epoch}: loss {:?}", logs.get("loss"));
///         Ok(())
///     });
/// # let _ = cb;
/// ```
#[derive(Default)]
pub struct LambdaCallback {
    train_begin: Option<CtxFn>,
    train_end: Option<LogsFn>,
    epoch_begin: Option<IdxFn>,
    epoch_end: Option<IdxLogsFn>,
    train_batch_begin: Option<IdxFn>,
    train_batch_end: Option<IdxLogsFn>,
    test_begin: Option<CtxFn>,
    test_end: Option<LogsFn>,
    test_batch_begin: Option<IdxFn>,
    test_batch_end: Option<IdxLogsFn>,
    predict_begin: Option<CtxFn>,
    predict_end: Option<CtxFn>,
    predict_batch_begin: Option<IdxFn>,
    predict_batch_end: Option<PredictFn>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $method:ident => $field:ident: $ty:ident ($($arg:ty),*);)*) => {$(
        $(#[$doc])*
        pub fn $method(mut self, f: impl FnMut($($arg),*) -> Result<()> + 'static) -> Self {
            self.$field = Some(Box::new(f) as $ty);
            self
        }
    )*};
}

impl LambdaCallback {
    /// A callback whose hooks all do nothing until set.
    pub fn new() -> Self {
        LambdaCallback::default()
    }

    setters! {
        /// Sets the `on_train_begin(ctx)` hook.
        with_on_train_begin => train_begin: CtxFn (&mut Context<'_>);
        /// Sets the `on_train_end(logs, ctx)` hook.
        with_on_train_end => train_end: LogsFn (&mut Logs, &mut Context<'_>);
        /// Sets the `on_epoch_begin(epoch, ctx)` hook.
        with_on_epoch_begin => epoch_begin: IdxFn (usize, &mut Context<'_>);
        /// Sets the `on_epoch_end(epoch, logs, ctx)` hook.
        with_on_epoch_end => epoch_end: IdxLogsFn (usize, &mut Logs, &mut Context<'_>);
        /// Sets the `on_train_batch_begin(batch, ctx)` hook.
        with_on_train_batch_begin => train_batch_begin: IdxFn (usize, &mut Context<'_>);
        /// Sets the `on_train_batch_end(batch, logs, ctx)` hook.
        with_on_train_batch_end => train_batch_end: IdxLogsFn (usize, &mut Logs, &mut Context<'_>);
        /// Sets the `on_test_begin(ctx)` hook.
        with_on_test_begin => test_begin: CtxFn (&mut Context<'_>);
        /// Sets the `on_test_end(logs, ctx)` hook.
        with_on_test_end => test_end: LogsFn (&mut Logs, &mut Context<'_>);
        /// Sets the `on_test_batch_begin(batch, ctx)` hook.
        with_on_test_batch_begin => test_batch_begin: IdxFn (usize, &mut Context<'_>);
        /// Sets the `on_test_batch_end(batch, logs, ctx)` hook.
        with_on_test_batch_end => test_batch_end: IdxLogsFn (usize, &mut Logs, &mut Context<'_>);
        /// Sets the `on_predict_begin(ctx)` hook.
        with_on_predict_begin => predict_begin: CtxFn (&mut Context<'_>);
        /// Sets the `on_predict_end(ctx)` hook.
        with_on_predict_end => predict_end: CtxFn (&mut Context<'_>);
        /// Sets the `on_predict_batch_begin(batch, ctx)` hook.
        with_on_predict_batch_begin => predict_batch_begin: IdxFn (usize, &mut Context<'_>);
        /// Sets the `on_predict_batch_end(batch, outputs, ctx)` hook.
        with_on_predict_batch_end => predict_batch_end: PredictFn (usize, &Tensor, &mut Context<'_>);
    }
}

impl std::fmt::Debug for LambdaCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set: Vec<&str> = [
            ("on_train_begin", self.train_begin.is_some()),
            ("on_train_end", self.train_end.is_some()),
            ("on_epoch_begin", self.epoch_begin.is_some()),
            ("on_epoch_end", self.epoch_end.is_some()),
            ("on_train_batch_begin", self.train_batch_begin.is_some()),
            ("on_train_batch_end", self.train_batch_end.is_some()),
            ("on_test_begin", self.test_begin.is_some()),
            ("on_test_end", self.test_end.is_some()),
            ("on_test_batch_begin", self.test_batch_begin.is_some()),
            ("on_test_batch_end", self.test_batch_end.is_some()),
            ("on_predict_begin", self.predict_begin.is_some()),
            ("on_predict_end", self.predict_end.is_some()),
            ("on_predict_batch_begin", self.predict_batch_begin.is_some()),
            ("on_predict_batch_end", self.predict_batch_end.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, s)| s.then_some(n))
        .collect();
        f.debug_struct("LambdaCallback").field("hooks", &set).finish()
    }
}

impl Callback for LambdaCallback {
    fn needs_batch_logs(&self) -> bool {
        self.train_batch_end.is_some() || self.test_batch_end.is_some()
    }

    fn name(&self) -> &str {
        "LambdaCallback"
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.train_begin.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_train_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.train_end.as_mut().map_or(Ok(()), |f| f(logs, ctx))
    }

    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.epoch_begin.as_mut().map_or(Ok(()), |f| f(epoch, ctx))
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.epoch_end.as_mut().map_or(Ok(()), |f| f(epoch, logs, ctx))
    }

    fn on_train_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.train_batch_begin.as_mut().map_or(Ok(()), |f| f(batch, ctx))
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.train_batch_end.as_mut().map_or(Ok(()), |f| f(batch, logs, ctx))
    }

    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.test_begin.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_test_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.test_end.as_mut().map_or(Ok(()), |f| f(logs, ctx))
    }

    fn on_test_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.test_batch_begin.as_mut().map_or(Ok(()), |f| f(batch, ctx))
    }

    fn on_test_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.test_batch_end.as_mut().map_or(Ok(()), |f| f(batch, logs, ctx))
    }

    fn on_predict_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.predict_begin.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_predict_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.predict_end.as_mut().map_or(Ok(()), |f| f(ctx))
    }

    fn on_predict_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.predict_batch_begin.as_mut().map_or(Ok(()), |f| f(batch, ctx))
    }

    fn on_predict_batch_end(&mut self, batch: usize, outputs: &Tensor, ctx: &mut Context<'_>) -> Result<()> {
        self.predict_batch_end.as_mut().map_or(Ok(()), |f| f(batch, outputs, ctx))
    }
}
