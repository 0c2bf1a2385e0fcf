//! The engine behind wick-data's generators: a background worker that orders samples per
//! pass, decodes and transforms them in parallel with rayon, assembles batches and hands
//! them over through a bounded queue (`std::sync::mpsc::sync_channel(prefetch)`).
//!
//! Determinism: the order of pass `p` is a seeded permutation of `(seed, p)`, and the
//! augmentation stream of the sample at position `i` of pass `p` is `(seed, p, i)`, so the
//! batches do not depend on thread scheduling or on which files were skipped before.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::generator::{EpochMode, GeneratorOptions, LastBatch};
use crate::rng::{image_rng, rng_for, Stream};
use crate::skip::{OnBadFile, SkipReport, SkippedFile};
use crate::transform::ImageTransform;

/// Where samples come from: files on disk or arrays in memory.
pub(crate) trait Source: Send + Sync + 'static {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Label of sample `index`.
    fn label(&self, index: usize) -> usize;
    /// `(channels, height, width)` of every sample.
    fn shape(&self) -> (usize, usize, usize);
    /// Writes the CHW f32 data of sample `index` into `out` (`c * h * w` values; on error
    /// its content is unspecified).
    fn load_into(&self, index: usize, out: &mut [f32]) -> Result<()>;
}

/// A batch being filled: `data` holds room for a whole batch, and the first
/// `labels.len()` image slots are the good samples so far, in order.
struct RawBatch {
    data: Vec<f32>,
    image_len: usize,
    labels: Vec<usize>,
    indices: Vec<usize>,
}

impl RawBatch {
    /// Room for `capacity` images of `image_len` values each.
    fn new(capacity: usize, image_len: usize) -> Self {
        Self {
            data: vec![0.0; capacity * image_len],
            image_len,
            labels: Vec::with_capacity(capacity),
            indices: Vec::with_capacity(capacity),
        }
    }

    /// Drops the unused slots of a short batch.
    fn finish(mut self) -> Self {
        self.data.truncate(self.labels.len() * self.image_len);
        self
    }
}

enum Msg {
    Batch(RawBatch),
    /// An epoch boundary, with the files skipped in it.
    EpochEnd(SkipReport),
    /// Skips seen at a pass end of an endless stream without epoch boundaries.
    Skipped(SkipReport),
    Failed(Error),
}

struct Worker {
    rx: Option<Receiver<Msg>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it exits.
        drop(self.rx.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Shared, immutable state of the worker.
struct Plan {
    source: Arc<dyn Source>,
    options: GeneratorOptions,
    shuffle: bool,
    transform: Option<Arc<dyn ImageTransform>>,
    pool: Option<rayon::ThreadPool>,
}

/// A generator engine over a [`Source`].
pub(crate) struct Pipeline {
    plan: Option<Plan>,
    worker: Option<Worker>,
    options: GeneratorOptions,
    len: usize,
    shape: (usize, usize, usize),
    num_classes: usize,
    stopped: Option<String>,
    epoch: usize,
    last_report: Option<SkipReport>,
}

impl Pipeline {
    pub(crate) fn new(
        source: Arc<dyn Source>,
        options: GeneratorOptions,
        shuffle: bool,
        transform: Option<Arc<dyn ImageTransform>>,
        num_classes: usize,
    ) -> Result<Self> {
        let len = source.len();
        options.validate(len)?;
        let (c, h, w) = source.shape();
        if c * h * w == 0 {
            return Err(Error::Shape { what: "samples", message: format!("{c}x{h}x{w} images have no values") });
        }
        let pool = match options.num_threads {
            Some(n) => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| Error::InvalidOption {
                name: "num_threads",
                message: format!("cannot start {n} decode threads: {e}"),
            })?),
            None => None,
        };
        let shape = source.shape();
        let plan = Plan { source, options: options.clone(), shuffle, transform, pool };
        Ok(Self { plan: Some(plan), worker: None, options, len, shape, num_classes, stopped: None, epoch: 0, last_report: None })
    }

    /// Replaces the transform; only before the first batch.
    pub(crate) fn set_transform(&mut self, transform: Option<Arc<dyn ImageTransform>>) -> Result<()> {
        match &mut self.plan {
            Some(plan) => {
                plan.transform = transform;
                Ok(())
            }
            None => Err(Error::InvalidOption { name: "transform", message: "cannot change after the first batch".into() }),
        }
    }

    pub(crate) fn has_transform(&self) -> bool {
        self.plan.as_ref().is_some_and(|p| p.transform.is_some())
    }

    pub(crate) fn steps_per_epoch(&self) -> Option<usize> {
        self.options.steps(self.len)
    }

    pub(crate) fn epoch(&self) -> usize {
        self.epoch
    }

    pub(crate) fn skip_report(&self) -> Option<&SkipReport> {
        self.last_report.as_ref()
    }

    fn start(&mut self) -> Result<&Receiver<Msg>> {
        if self.worker.is_none() {
            let plan = self.plan.take().ok_or_else(|| Error::WorkerStopped("the worker is gone".into()))?;
            let (tx, rx) = sync_channel(self.options.prefetch);
            let handle = std::thread::Builder::new()
                .name("wick-data-worker".into())
                .spawn(move || run(plan, tx))
                .map_err(|source| Error::Io { path: "<wick-data worker thread>".into(), source })?;
            self.worker = Some(Worker { rx: Some(rx), handle: Some(handle) });
        }
        self.worker
            .as_ref()
            .and_then(|w| w.rx.as_ref())
            .ok_or_else(|| Error::WorkerStopped("the worker is gone".into()))
    }

    fn record(&mut self, report: SkipReport) {
        if !report.is_empty() && !self.options.quiet_skips {
            eprintln!("{report}");
        }
        match &mut self.last_report {
            // Endless streams without epochs accumulate.
            Some(last) if last.epoch == report.epoch => last.skipped.extend(report.skipped),
            _ => self.last_report = Some(report),
        }
    }

    pub(crate) fn next_batch(&mut self) -> Result<Option<Batch>> {
        if let Some(why) = &self.stopped {
            return Err(Error::WorkerStopped(why.clone()));
        }
        loop {
            let msg = self.start()?.recv();
            match msg {
                Ok(Msg::Batch(raw)) => {
                    let batch = Batch::from_parts(
                        raw.data,
                        self.shape,
                        &raw.labels,
                        raw.indices,
                        self.options.label_mode,
                        self.num_classes,
                        &self.options.device,
                    )?;
                    return Ok(Some(batch));
                }
                Ok(Msg::EpochEnd(report)) => {
                    self.record(report);
                    self.epoch += 1;
                    return Ok(None);
                }
                Ok(Msg::Skipped(report)) => self.record(report),
                Ok(Msg::Failed(e)) => {
                    self.stopped = Some(format!("stopped after an earlier error: {e}"));
                    self.worker = None;
                    return Err(e);
                }
                Err(_) => {
                    self.stopped = Some("the worker thread ended unexpectedly (a panic in a transform?)".into());
                    self.worker = None;
                    return Err(Error::WorkerStopped("the worker thread ended unexpectedly (a panic in a transform?)".into()));
                }
            }
        }
    }
}

/// The position stream: pass number, its order and the next position.
struct Cursor {
    pass: u64,
    order: Vec<usize>,
    pos: usize,
}

impl Plan {
    fn order(&self, pass: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.source.len()).collect();
        if self.shuffle {
            order.shuffle(&mut rng_for(self.options.seed, Stream::Shuffle, &[pass]));
        }
        order
    }

    /// Loads (and transforms) the sample at `pos` of pass `pass` into its batch slot.
    fn load_one(&self, pass: u64, pos: usize, index: usize, slot: &mut [f32]) -> Result<()> {
        self.source.load_into(index, slot)?;
        if let Some(t) = &self.transform {
            let (c, h, w) = self.source.shape();
            let mut rng = image_rng(self.options.seed, pass, pos as u64);
            t.transform(slot, c, h, w, &mut rng);
        }
        Ok(())
    }

    /// Loads `(position, index)` items of pass `pass` in parallel, item `k` into the `k`-th
    /// `image_len` chunk of `slots`; results in order.
    fn load_many(&self, pass: u64, items: &[(usize, usize)], slots: &mut [f32], image_len: usize) -> Vec<Result<()>> {
        let mut work = move || {
            items
                .par_iter()
                .zip(slots.par_chunks_mut(image_len))
                .map(|(&(pos, index), slot)| self.load_one(pass, pos, index, slot))
                .collect()
        };
        match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// Fills up to `need` samples from the current pass (never crossing it), decoding each
    /// straight into its slot of `batch`. Returns the number of positions consumed.
    fn fill(&self, cursor: &mut Cursor, need: usize, batch: &mut RawBatch, report: &mut SkipReport) -> Result<usize> {
        let len = batch.image_len;
        let mut consumed = 0;
        while batch.labels.len() < need && cursor.pos < cursor.order.len() {
            let have = batch.labels.len();
            let end = (cursor.pos + need - have).min(cursor.order.len());
            let items: Vec<(usize, usize)> = (cursor.pos..end).map(|p| (p, cursor.order[p])).collect();
            let slots = &mut batch.data[have * len..(have + items.len()) * len];
            let results = self.load_many(cursor.pass, &items, slots, len);
            consumed += items.len();
            cursor.pos = end;
            for (k, (&(_, index), result)) in items.iter().zip(results).enumerate() {
                match result {
                    Ok(()) => {
                        // Close the gap left by skipped files before this one.
                        let (from, to) = (have + k, batch.labels.len());
                        if from != to {
                            batch.data.copy_within(from * len..(from + 1) * len, to * len);
                        }
                        batch.labels.push(self.source.label(index));
                        batch.indices.push(index);
                    }
                    Err(e) if self.options.on_bad_file == OnBadFile::Skip && e.is_per_file() => {
                        let path = e.path().map(|p| p.to_path_buf()).unwrap_or_default();
                        report.skipped.push(SkippedFile { path, reason: e.to_string() });
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(consumed)
    }
}

fn run(plan: Plan, tx: SyncSender<Msg>) {
    if let Err(e) = produce(&plan, &tx) {
        let _ = tx.send(Msg::Failed(e));
    }
}

/// Sends batches until the receiver is gone; returns an error to forward.
fn produce(plan: &Plan, tx: &SyncSender<Msg>) -> Result<()> {
    let o = &plan.options;
    let (c, h, w) = plan.source.shape();
    let image_len = c * h * w;
    let b = o.batch_size;
    let mut epoch = 0usize;
    let mut report = SkipReport { epoch, skipped: Vec::new() };
    let all_skipped = |pass: u64| Error::InvalidOption {
        name: "samples",
        message: format!("every file of pass {pass} was skipped as bad; nothing left to batch"),
    };
    match o.epochs {
        EpochMode::Finite => loop {
            let mut cursor = Cursor { pass: epoch as u64, order: plan.order(epoch as u64), pos: 0 };
            let mut produced = 0;
            while o.steps_per_epoch.is_none_or(|s| produced < s) && cursor.pos < cursor.order.len() {
                let mut batch = RawBatch::new(b, image_len);
                plan.fill(&mut cursor, b, &mut batch, &mut report)?;
                if batch.labels.is_empty() || (batch.labels.len() < b && o.last_batch == LastBatch::Drop) {
                    continue;
                }
                produced += 1;
                if tx.send(Msg::Batch(batch.finish())).is_err() {
                    return Ok(());
                }
            }
            if produced == 0 && !report.is_empty() {
                return Err(all_skipped(cursor.pass));
            }
            let done = std::mem::replace(&mut report, SkipReport { epoch: epoch + 1, skipped: Vec::new() });
            if tx.send(Msg::EpochEnd(done)).is_err() {
                return Ok(());
            }
            epoch += 1;
        },
        EpochMode::Endless => {
            let mut cursor = Cursor { pass: 0, order: plan.order(0), pos: 0 };
            let mut produced = 0usize;
            let mut ok_in_pass = 0usize;
            loop {
                let mut batch = RawBatch::new(b, image_len);
                while batch.labels.len() < b {
                    if cursor.pos == cursor.order.len() {
                        if ok_in_pass == 0 {
                            return Err(all_skipped(cursor.pass));
                        }
                        ok_in_pass = 0;
                        if o.steps_per_epoch.is_none() && !report.is_empty() {
                            let done = std::mem::replace(&mut report, SkipReport { epoch, skipped: Vec::new() });
                            if tx.send(Msg::Skipped(done)).is_err() {
                                return Ok(());
                            }
                        }
                        cursor = Cursor { pass: cursor.pass + 1, order: plan.order(cursor.pass + 1), pos: 0 };
                    }
                    let before = batch.labels.len();
                    plan.fill(&mut cursor, b, &mut batch, &mut report)?;
                    ok_in_pass += batch.labels.len() - before;
                }
                if tx.send(Msg::Batch(batch.finish())).is_err() {
                    return Ok(());
                }
                produced += 1;
                if o.steps_per_epoch == Some(produced) {
                    produced = 0;
                    let done = std::mem::replace(&mut report, SkipReport { epoch: epoch + 1, skipped: Vec::new() });
                    if tx.send(Msg::EpochEnd(done)).is_err() {
                        return Ok(());
                    }
                    epoch += 1;
                }
            }
        }
    }
}
