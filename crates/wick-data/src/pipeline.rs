//! The engine behind wick-data's generators: a background worker per pass that orders
//! the samples, decodes and transforms them in parallel with rayon, assembles batches and
//! hands them over through a bounded queue (`std::sync::mpsc::sync_channel(prefetch)`).
//!
//! Determinism: the order of pass `p` is a seeded permutation of `(seed, p)`, and the
//! augmentation stream of the sample at position `i` of pass `p` is `(seed, p, i)`, so the
//! batches do not depend on thread scheduling or on which files were skipped before.

use std::mem::MaybeUninit;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::batch::Batch;
use crate::decode::fill_room;
use crate::error::with_sources;
use crate::error::{Error, Result};
use crate::generator_options::{GeneratorOptions, LastBatch};
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
    /// [`Source::load_into`] into uninitialised room; returns the room itself, initialised
    /// (the caller checks that it is the same memory). The default zero-fills it first;
    /// a source that writes every value anyway skips that pass.
    fn load_into_room<'a>(&self, index: usize, room: &'a mut [MaybeUninit<f32>]) -> Result<&'a mut [f32]> {
        let out = fill_room(room, 0.0);
        self.load_into(index, out)?;
        Ok(out)
    }
}

/// A batch being filled: `data` has room for a whole batch, and holds (as its length)
/// the good samples so far, `labels.len()` images, in order. The rest of the room is
/// left uninitialised: each image's slot is initialised by the decode thread that fills
/// it — written once by the conversion for a JPEG already at the target size, zeroed
/// right before (cache-hot) otherwise — instead of the whole batch being zeroed up front
/// on the producer thread while the decode threads wait.
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
            data: Vec::with_capacity(capacity * image_len),
            image_len,
            labels: Vec::with_capacity(capacity),
            indices: Vec::with_capacity(capacity),
        }
    }

    /// The batch, its buffer holding exactly the good images.
    fn finish(self) -> Self {
        debug_assert_eq!(self.data.len(), self.labels.len() * self.image_len);
        self
    }
}

enum Msg {
    /// A batch, already on the generator's device (created by the producer thread, so the
    /// host → device copy overlaps the consumer's training step).
    Batch(Batch),
    /// The end of the pass, with the files skipped in it.
    PassEnd(SkipReport),
    /// Skips seen at a pass end of a repeating stream (which has no pass ends to report).
    Skipped(SkipReport),
    Failed(Error),
}

/// The producer thread of one pass (or, repeating, of the stream from that pass on).
struct Worker {
    pass: usize,
    shuffle: bool,
    /// Batches received from it so far.
    taken: usize,
    rx: Option<Receiver<Msg>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it exits after the
        // batch in progress.
        drop(self.rx.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Shared, immutable state of the workers.
struct Plan {
    source: Arc<dyn Source>,
    options: GeneratorOptions,
    transform: Option<Arc<dyn ImageTransform>>,
    pool: Option<rayon::ThreadPool>,
    /// The generator's type name, for errors.
    context: &'static str,
    /// Classes, for the label tensor.
    num_classes: usize,
}

impl Plan {
    /// The tensors of a finished batch, on the generator's device.
    fn upload(&self, raw: RawBatch) -> Result<Batch> {
        Batch::from_images(
            raw.data,
            self.source.shape(),
            &raw.labels,
            raw.indices,
            self.options.label_mode,
            self.num_classes,
            &self.options.device,
        )
    }
}

/// A generator engine over a [`Source`]: the [`Dataset`](crate::Dataset) protocol, one
/// producer thread per pass.
///
/// Batches cross from the producer to the consumer through a bounded channel (no lock
/// per batch). When a pass ends, the next pass (same shuffle) starts decoding at once,
/// so the consumer finds it prefetched; `begin_pass` keeps that worker when it asks for
/// the same pass, and otherwise replaces it.
///
/// The producer also creates each batch's tensors on [`GeneratorOptions::device`], so on a
/// GPU the host → device copy (from ordinary pageable memory; no pinned buffers) runs on
/// that thread, overlapped with the consumer's training step, up to `prefetch` batches
/// ahead.
pub(crate) struct Pipeline {
    plan: Arc<Plan>,
    worker: Option<Worker>,
    options: GeneratorOptions,
    len: usize,
    /// Why the pipeline stopped (after an error): every later call reports it.
    stopped: Option<String>,
    /// The pass being read (or begun next) and whether it is shuffled.
    pass: usize,
    shuffle: bool,
    /// The type name in errors (`"ImageFolderGenerator"`), and why it cannot shuffle.
    context: &'static str,
    no_shuffle: Option<&'static str>,
    last_report: Option<SkipReport>,
}

impl Pipeline {
    /// `no_shuffle`: why this data keeps its order (a validation subset), if it does;
    /// otherwise passes are shuffled until `begin_pass` says otherwise.
    pub(crate) fn new(
        source: Arc<dyn Source>,
        options: GeneratorOptions,
        context: &'static str,
        no_shuffle: Option<&'static str>,
        num_classes: usize,
    ) -> Result<Self> {
        let len = source.len();
        options.validate(len)?;
        let (c, h, w) = source.shape();
        if c * h * w == 0 {
            return Err(Error::Shape { what: "samples", message: format!("{c}x{h}x{w} images have no values") });
        }
        let pool = match options.num_threads {
            Some(n) => {
                Some(rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| Error::InvalidOption {
                    context,
                    name: "num_threads",
                    message: format!("cannot start {n} decode threads: {e}"),
                })?)
            }
            None => None,
        };
        let plan = Arc::new(Plan { source, options: options.clone(), transform: None, pool, context, num_classes });
        Ok(Self {
            plan,
            worker: None,
            options,
            len,
            stopped: None,
            pass: 0,
            shuffle: no_shuffle.is_none(),
            context,
            no_shuffle,
            last_report: None,
        })
    }

    /// Replaces the transform; only before the first batch.
    pub(crate) fn set_transform(&mut self, transform: Option<Arc<dyn ImageTransform>>) -> Result<()> {
        let context = self.context;
        match Arc::get_mut(&mut self.plan) {
            Some(plan) if self.worker.is_none() => {
                plan.transform = transform;
                Ok(())
            }
            _ => Err(Error::InvalidOption {
                context,
                name: "transform",
                message: "cannot change after the first batch".into(),
            }),
        }
    }

    pub(crate) fn has_transform(&self) -> bool {
        self.plan.transform.is_some()
    }

    pub(crate) fn len_batches(&self) -> Option<usize> {
        self.options.len_batches(self.len)
    }

    /// The pass the next batch belongs to (0-based).
    pub(crate) fn pass(&self) -> usize {
        self.pass
    }

    pub(crate) fn skip_report(&self) -> Option<&SkipReport> {
        self.last_report.as_ref()
    }

    /// What makes two passes yield the same batches: the pass number matters only when
    /// it picks an order or augmentation streams.
    fn same_batches(&self, (a, a_shuffle): (usize, bool), (b, b_shuffle): (usize, bool)) -> bool {
        a_shuffle == b_shuffle && (a == b || (!a_shuffle && self.plan.transform.is_none()))
    }

    pub(crate) fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()> {
        if let Some(why) = &self.stopped {
            return Err(Error::WorkerStopped(why.clone()));
        }
        if shuffle {
            if let Some(reason) = self.no_shuffle {
                return Err(Error::ShuffleUnsupported { context: self.context, reason });
            }
        }
        let keep = self
            .worker
            .as_ref()
            .is_some_and(|w| w.taken == 0 && self.same_batches((w.pass, w.shuffle), (pass, shuffle)));
        if !keep {
            self.worker = None;
        }
        self.pass = pass;
        self.shuffle = shuffle;
        Ok(())
    }

    fn spawn(&self, pass: usize, shuffle: bool) -> Result<Worker> {
        let (tx, rx) = sync_channel(self.options.prefetch);
        let plan = Arc::clone(&self.plan);
        let handle = std::thread::Builder::new()
            .name("wick-data-worker".into())
            .spawn(move || run(&plan, pass, shuffle, tx))
            .map_err(|source| Error::Io { path: "<wick-data worker thread>".into(), source })?;
        Ok(Worker { pass, shuffle, taken: 0, rx: Some(rx), handle: Some(handle) })
    }

    fn record(&mut self, report: SkipReport) {
        if !report.is_empty() && !self.options.quiet_skips {
            eprintln!("{report}");
        }
        match &mut self.last_report {
            // Repeating streams accumulate.
            Some(last) if last.pass == report.pass => last.skipped.extend(report.skipped),
            _ => self.last_report = Some(report),
        }
    }

    fn stop(&mut self, why: String) -> Error {
        self.stopped = Some(why.clone());
        self.worker = None;
        Error::WorkerStopped(why)
    }

    pub(crate) fn next_batch(&mut self) -> Result<Option<Batch>> {
        if let Some(why) = &self.stopped {
            return Err(Error::WorkerStopped(why.clone()));
        }
        if self.worker.is_none() {
            self.worker = Some(self.spawn(self.pass, self.shuffle)?);
        }
        loop {
            let msg = match self.worker.as_ref().and_then(|w| w.rx.as_ref()) {
                Some(rx) => rx.recv(),
                None => return Err(self.stop("the worker is gone".into())),
            };
            match msg {
                Ok(Msg::Batch(batch)) => {
                    if let Some(w) = self.worker.as_mut() {
                        w.taken += 1;
                    }
                    return Ok(Some(batch));
                }
                Ok(Msg::PassEnd(report)) => {
                    self.record(report);
                    // Start decoding the next pass now, while the consumer finishes this one.
                    self.pass += 1;
                    self.worker = None;
                    self.worker = Some(self.spawn(self.pass, self.shuffle)?);
                    return Ok(None);
                }
                Ok(Msg::Skipped(report)) => self.record(report),
                Ok(Msg::Failed(e)) => {
                    self.stop(format!("stopped after an earlier error: {}", with_sources(&e)));
                    return Err(e);
                }
                Err(_) => {
                    return Err(self.stop("the worker thread ended unexpectedly (a panic in a transform?)".into()))
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
    fn order(&self, pass: u64, shuffle: bool) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.source.len()).collect();
        if shuffle {
            order.shuffle(&mut rng_for(self.options.seed, Stream::Shuffle, &[pass]));
        }
        order
    }

    /// Loads (and transforms) the sample at `pos` of pass `pass` into its batch slot,
    /// which is initialised on return whatever the result (zeroed when loading failed).
    fn load_one(&self, pass: u64, pos: usize, index: usize, slot: &mut [MaybeUninit<f32>]) -> Result<()> {
        let (at, len) = (slot.as_ptr().cast::<f32>(), slot.len());
        let loaded = match self.source.load_into_room(index, slot) {
            Ok(out) if std::ptr::eq(out.as_ptr(), at) && out.len() == len => Ok(Some(out)),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        let slot = match loaded {
            Ok(Some(out)) => out,
            // A source that returned other memory (none in this crate): load it again
            // into the zeroed slot.
            Ok(None) => {
                let out = fill_room(slot, 0.0);
                self.source.load_into(index, out)?;
                out
            }
            Err(e) => {
                fill_room(slot, 0.0);
                return Err(e);
            }
        };
        if let Some(t) = &self.transform {
            let (c, h, w) = self.source.shape();
            let mut rng = image_rng(self.options.seed, pass, pos as u64);
            t.transform(slot, c, h, w, &mut rng);
        }
        Ok(())
    }

    /// Loads `(position, index)` items of pass `pass` in parallel, item `k` into the `k`-th
    /// `image_len` chunk of `slots` (all of `slots` is initialised on return, whatever the
    /// results: see [`Pipeline::load_one`]); results in order.
    fn load_many(
        &self,
        pass: u64,
        items: &[(usize, usize)],
        slots: &mut [MaybeUninit<f32>],
        image_len: usize,
    ) -> Vec<Result<()>> {
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
            debug_assert_eq!(batch.data.len(), have * len);
            batch.data.reserve(items.len() * len);
            let slots = &mut batch.data.spare_capacity_mut()[..items.len() * len];
            let results = self.load_many(cursor.pass, &items, slots, len);
            // SAFETY: `load_many` returned normally (a panic would have unwound past this),
            // so `load_one` initialised every chunk of `slots`: through the `&mut [f32]` the
            // source returned for exactly that chunk (checked there; such a reference is
            // only valid over initialised memory), or by zero-filling it. So the
            // `items.len() * len` values after the first `have * len` are initialised, and
            // the reserve above made room for them.
            unsafe { batch.data.set_len((have + items.len()) * len) };
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
                        report.skipped.push(SkippedFile { path, reason: with_sources(&e) });
                    }
                    Err(e) => return Err(e),
                }
            }
            // Drop the slots of this round's skipped files (the good ones moved up).
            batch.data.truncate(batch.labels.len() * len);
        }
        Ok(consumed)
    }
}

fn run(plan: &Plan, pass: usize, shuffle: bool, tx: SyncSender<Msg>) {
    let result = if plan.options.repeat {
        produce_repeating(plan, pass as u64, shuffle, &tx)
    } else {
        produce_pass(plan, pass, shuffle, &tx)
    };
    if let Err(e) = result {
        let _ = tx.send(Msg::Failed(e));
    }
}

fn all_skipped(context: &'static str, pass: u64) -> Error {
    Error::InvalidOption {
        context,
        name: "samples",
        message: format!("every file of pass {pass} was skipped as bad; nothing left to batch"),
    }
}

/// Sends the batches of pass `pass`, then its end; stops early when the receiver is gone.
fn produce_pass(plan: &Plan, pass: usize, shuffle: bool, tx: &SyncSender<Msg>) -> Result<()> {
    let o = &plan.options;
    let (c, h, w) = plan.source.shape();
    let image_len = c * h * w;
    let b = o.batch_size;
    let mut report = SkipReport { pass, skipped: Vec::new() };
    let mut cursor = Cursor { pass: pass as u64, order: plan.order(pass as u64, shuffle), pos: 0 };
    let mut produced = 0;
    while cursor.pos < cursor.order.len() {
        let mut batch = RawBatch::new(b, image_len);
        plan.fill(&mut cursor, b, &mut batch, &mut report)?;
        if batch.labels.is_empty() || (batch.labels.len() < b && o.last_batch == LastBatch::Drop) {
            continue;
        }
        produced += 1;
        if tx.send(Msg::Batch(plan.upload(batch.finish())?)).is_err() {
            return Ok(());
        }
    }
    if produced == 0 && !report.is_empty() {
        return Err(all_skipped(plan.context, cursor.pass));
    }
    let _ = tx.send(Msg::PassEnd(report));
    Ok(())
}

/// Sends full batches forever, from pass `pass` on, crossing pass boundaries; stops
/// when the receiver is gone.
fn produce_repeating(plan: &Plan, pass: u64, shuffle: bool, tx: &SyncSender<Msg>) -> Result<()> {
    let o = &plan.options;
    let (c, h, w) = plan.source.shape();
    let image_len = c * h * w;
    let b = o.batch_size;
    let mut report = SkipReport { pass: pass as usize, skipped: Vec::new() };
    let mut cursor = Cursor { pass, order: plan.order(pass, shuffle), pos: 0 };
    let mut ok_in_pass = 0usize;
    loop {
        let mut batch = RawBatch::new(b, image_len);
        while batch.labels.len() < b {
            if cursor.pos == cursor.order.len() {
                if ok_in_pass == 0 {
                    return Err(all_skipped(plan.context, cursor.pass));
                }
                ok_in_pass = 0;
                if !report.is_empty() {
                    let done = std::mem::replace(
                        &mut report,
                        SkipReport { pass: cursor.pass as usize + 1, skipped: Vec::new() },
                    );
                    if tx.send(Msg::Skipped(done)).is_err() {
                        return Ok(());
                    }
                }
                cursor = Cursor { pass: cursor.pass + 1, order: plan.order(cursor.pass + 1, shuffle), pos: 0 };
            }
            let before = batch.labels.len();
            plan.fill(&mut cursor, b, &mut batch, &mut report)?;
            ok_in_pass += batch.labels.len() - before;
        }
        if tx.send(Msg::Batch(plan.upload(batch.finish())?)).is_err() {
            return Ok(());
        }
    }
}
