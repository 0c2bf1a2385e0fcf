//! [`Shared`]: a callback the caller keeps a handle on, to read its results after `fit`.

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use candle_core::Tensor;
use wick_callbacks::{Callback, Context, Logs, Result};

/// A callback shared between the training loop and the caller: `fit` takes its callbacks
/// by value (`Box<dyn Callback>`), so to read what a callback recorded afterwards, wrap it
/// in `Shared`, pass a clone to `fit` and keep the other:
///
/// ```
/// use wick_callbacks::{Callback, Context, Logs};
/// use wick_train::Shared;
///
/// #[derive(Default)]
/// struct Losses(Vec<f64>);
/// impl Callback for Losses {
///     fn on_train_batch_end(&mut self, _b: usize, logs: &mut Logs, _c: &mut Context<'_>) -> wick_callbacks::Result<()> {
///         self.0.extend(logs.get("loss"));
///         Ok(())
///     }
/// }
///
/// let losses = Shared::new(Losses::default());
/// let callbacks: Vec<Box<dyn Callback>> = vec![losses.boxed()];
/// // trainer.fit(&mut data, FitOptions { callbacks, ..Default::default() })?;
/// # drop(callbacks);
/// println!("{:?}", losses.borrow().0);
/// ```
///
/// Every hook is forwarded to the wrapped callback (a hook must not borrow the same
/// `Shared` again: that would panic like any `RefCell` double borrow).
pub struct Shared<C> {
    inner: Rc<RefCell<C>>,
    /// The wrapped callback's name, read once at construction.
    name: Rc<str>,
}

impl<C: Callback> Shared<C> {
    /// Wraps `callback` (its [`Callback::name`] is read now and reported by the wrapper).
    pub fn new(callback: C) -> Self {
        let name: Rc<str> = Rc::from(callback.name());
        Shared { inner: Rc::new(RefCell::new(callback)), name }
    }
}

impl<C> Shared<C> {
    /// The callback, read-only.
    pub fn borrow(&self) -> Ref<'_, C> {
        self.inner.borrow()
    }

    /// The callback, mutably.
    pub fn borrow_mut(&self) -> RefMut<'_, C> {
        self.inner.borrow_mut()
    }

    /// The callback itself when this is the last handle, else `self` back.
    pub fn try_into_inner(self) -> std::result::Result<C, Self> {
        let Shared { inner, name } = self;
        Rc::try_unwrap(inner).map(RefCell::into_inner).map_err(|inner| Shared { inner, name })
    }
}

impl<C: Callback + 'static> Shared<C> {
    /// A boxed handle for a callback list (`Vec<Box<dyn Callback>>`).
    pub fn boxed(&self) -> Box<dyn Callback> {
        Box::new(self.clone())
    }
}

impl<C> Clone for Shared<C> {
    fn clone(&self) -> Self {
        Shared { inner: Rc::clone(&self.inner), name: Rc::clone(&self.name) }
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shared").field(&self.inner).finish()
    }
}

impl<C: Callback> Callback for Shared<C> {
    fn name(&self) -> &str {
        &self.name
    }
    fn chief_only(&self) -> bool {
        self.inner.borrow().chief_only()
    }
    fn needs_batch_logs(&self) -> bool {
        self.inner.borrow().needs_batch_logs()
    }
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_train_begin(ctx)
    }
    fn on_train_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_train_end(logs, ctx)
    }
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_epoch_begin(epoch, ctx)
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_epoch_end(epoch, logs, ctx)
    }
    fn on_train_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_train_batch_begin(batch, ctx)
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_train_batch_end(batch, logs, ctx)
    }
    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_test_begin(ctx)
    }
    fn on_test_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_test_end(logs, ctx)
    }
    fn on_test_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_test_batch_begin(batch, ctx)
    }
    fn on_test_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_test_batch_end(batch, logs, ctx)
    }
    fn on_predict_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_predict_begin(ctx)
    }
    fn on_predict_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_predict_end(ctx)
    }
    fn on_predict_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_predict_batch_begin(batch, ctx)
    }
    fn on_predict_batch_end(&mut self, batch: usize, outputs: &Tensor, ctx: &mut Context<'_>) -> Result<()> {
        self.inner.borrow_mut().on_predict_batch_end(batch, outputs, ctx)
    }
}
