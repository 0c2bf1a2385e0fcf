//! Section `callbacks`: the real wick callbacks (EarlyStopping, ReduceLROnPlateau,
//! ModelCheckpoint, LearningRateScheduler) driven epoch by epoch through the `Callback`
//! trait, as `gen_keras_golden.py`'s `drive()` drives Keras': `on_train_begin`, then per
//! epoch `on_epoch_begin(e)` / `on_epoch_end(e, {monitor: seq[e], "loss": 0.0})`, stopping
//! when the callback asks to, then `on_train_end`.
//!
//! The stand-in model is one scalar variable holding the epoch index (set before each
//! epoch), so a restore shows which epoch's weights came back; the optimizer is a fake
//! `LrControl` that stores its learning rate as float32, as a Keras optimizer does.
//! Checkpoints are written for real into a temporary folder and listed after each epoch.

use crate::json::Kwargs;
use candle_core::{Tensor, Var};
use serde_json::{json, Map, Value};
use std::path::Path;
use wick_callbacks::{Callback, Context, Logs, ModelVars, Params, RunState};
use wick_callbacks::{EarlyStopping, LearningRateScheduler, Mode, ModelCheckpoint, ReduceLROnPlateau, SaveFreq};
use wick_callbacks::{CHECKPOINT_MANIFEST_SUFFIX, OPTIMIZER_STATE_SUFFIX};
use wick_optim::LrControl;

/// Learning rate of the stand-in optimizer when the golden file gives none (`drive`'s default).
const DEFAULT_LR: f64 = 0.1;

/// A fake optimizer: a float32 learning rate and nothing else.
struct FakeOptimizer {
    lr: f32,
}

impl LrControl for FakeOptimizer {
    fn learning_rate(&self) -> f64 {
        self.lr as f64
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr as f32;
    }
    fn iterations(&self) -> u64 {
        0
    }
    fn raw_step(&self) -> u64 {
        0
    }
    fn name(&self) -> &'static str {
        "SGD"
    }
    fn use_ema(&self) -> bool {
        false
    }
    fn loss_scale_factor(&self) -> Option<f64> {
        None
    }
    fn finalize_variable_values(&self) -> wick_optim::Result<()> {
        Ok(())
    }
    fn save_state(&self, path: &Path) -> wick_optim::Result<()> {
        std::fs::write(path, self.lr.to_string())
            .map_err(|e| wick_optim::Error::State { path: path.to_path_buf(), message: e.to_string() })
    }
    fn load_state(&mut self, _path: &Path) -> wick_optim::Result<()> {
        Ok(())
    }
}

/// What one drive records.
#[derive(Default)]
struct Trace {
    epochs_run: usize,
    lr_after_epoch: Vec<f64>,
    restored_from: Option<i64>,
    /// Files written during each epoch (checkpoint runs only).
    saved: Vec<(usize, Vec<String>)>,
}

/// Inspects the callback after each epoch (wait, best).
type Probe<'a, C> = &'a mut dyn FnMut(&C);

/// `gen_keras_golden.py`'s `drive(cb, seq, key, lr)`.
fn drive<C: Callback>(
    cb: &mut C,
    seq: &[f64],
    key: &str,
    lr: f64,
    ckpt_dir: Option<&Path>,
    probe: Probe<'_, C>,
) -> Result<Trace, String> {
    let dev = crate::device::device().clone();
    let err = |e: candle_core::Error| e.to_string();
    let tag = Var::from_tensor(&Tensor::new(-1f32, &dev).map_err(err)?).map_err(err)?;
    let model = ModelVars::new(vec![("epoch_tag".to_string(), tag.clone())]);
    let mut opt = FakeOptimizer { lr: lr as f32 };
    let params = Params { verbose: 0, epochs: seq.len(), steps: Some(1) };
    let mut state = RunState::default();
    macro_rules! ctx {
        () => {
            &mut Context::new(&params, &mut state, Some(&model), Some(&mut opt as &mut dyn LrControl))
        };
    }
    let mut trace = Trace::default();
    cb.on_train_begin(ctx!()).map_err(|e| e.to_string())?;
    for (e, &v) in seq.iter().enumerate() {
        tag.set(&Tensor::new(e as f32, &dev).map_err(err)?).map_err(err)?;
        if let Some(dir) = ckpt_dir {
            clear_dir(dir)?;
        }
        cb.on_epoch_begin(e, ctx!()).map_err(|e| e.to_string())?;
        let mut logs = Logs::sorted([(key, v), ("loss", 0.0)]);
        cb.on_epoch_end(e, &mut logs, ctx!()).map_err(|e| e.to_string())?;
        trace.epochs_run = e + 1;
        trace.lr_after_epoch.push(opt.learning_rate());
        probe(cb);
        if let Some(dir) = ckpt_dir {
            trace.saved.push((e, list_saved(dir)?));
        }
        if state.stop_training {
            break;
        }
    }
    // A sentinel: any other value after on_train_end was put back by a restore.
    tag.set(&Tensor::new(-1f32, &dev).map_err(err)?).map_err(err)?;
    cb.on_train_end(&mut Logs::new(), ctx!()).map_err(|e| e.to_string())?;
    let after = tag.as_tensor().to_scalar::<f32>().map_err(err)?;
    trace.restored_from = (after != -1.0).then_some(after as i64);
    Ok(trace)
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn clear_dir(dir: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    for path in files {
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Base names of the checkpoint files under `dir` (not the optimizer-state files beside
/// them), sorted; the golden file records `os.path.basename` of each saved path.
fn list_saved(dir: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| {
            !n.ends_with(OPTIMIZER_STATE_SUFFIX) && !n.ends_with(CHECKPOINT_MANIFEST_SUFFIX) && !n.starts_with(".wick-")
        })
        .collect();
    names.sort();
    Ok(names)
}

fn mode(kw: &mut Kwargs<'_>, owner: &str) -> Result<Mode, String> {
    match kw.raw("mode") {
        None => Ok(Mode::Auto),
        Some(v) => {
            Ok(Mode::from_keras(v.as_str().ok_or_else(|| format!("{owner}: mode = {v} is not a string"))?, owner))
        }
    }
}

fn count(kw: &mut Kwargs<'_>, key: &'static str, default: usize) -> Result<usize, String> {
    Ok(kw.u64_opt(key)?.map_or(default, |v| v as usize))
}

fn verbose(kw: &mut Kwargs<'_>) -> Result<u8, String> {
    Ok(kw.u64_opt("verbose")?.map_or(0, |v| v.min(u8::MAX as u64) as u8))
}

/// The monitored sequence of a case: `sequences[monitor]`.
fn sequence(section: &Value, monitor: &str) -> Result<Vec<f64>, String> {
    section["sequences"][monitor]
        .as_array()
        .ok_or_else(|| format!("no sequence for {monitor:?}"))?
        .iter()
        .map(|v| v.as_f64().ok_or_else(|| format!("sequence {monitor:?} holds {v}")))
        .collect()
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

fn early_stopping(section: &Value, case: &Value) -> Result<Value, String> {
    let monitor = case["monitor"].as_str().ok_or("no monitor")?;
    let seq = sequence(section, monitor)?;
    let mut kw = Kwargs::new(&case["kwargs"], "EarlyStopping")?;
    let mut cb = EarlyStopping::new()
        .monitor(monitor)
        .min_delta(kw.f64_or("min_delta", 0.0)?)
        .patience(count(&mut kw, "patience", 0)?)
        .verbose(verbose(&mut kw)?)
        .mode(mode(&mut kw, "EarlyStopping")?)
        .baseline(kw.f64_opt("baseline")?)
        .restore_best_weights(kw.bool_or("restore_best_weights", false)?)
        .start_from_epoch(count(&mut kw, "start_from_epoch", 0)?);
    kw.finish()?;
    let lr = case["initial_lr"].as_f64().unwrap_or(DEFAULT_LR);
    let (mut waits, mut bests) = (Vec::new(), Vec::new());
    let trace = drive(&mut cb, &seq, monitor, lr, None, &mut |cb: &EarlyStopping| {
        waits.push(cb.wait());
        bests.push(opt_f64(cb.best()));
    })?;
    Ok(json!({
        "epochs_run": trace.epochs_run,
        "stopped_epoch": cb.stopped_epoch(),
        "best_epoch": cb.best_epoch(),
        "restored_weights_from_epoch": trace.restored_from,
        "wait_after_epoch": waits,
        "best_after_epoch": bests,
    }))
}

fn reduce_lr(section: &Value, case: &Value) -> Result<Value, String> {
    let monitor = case["monitor"].as_str().ok_or("no monitor")?;
    let seq = sequence(section, monitor)?;
    let mut kw = Kwargs::new(&case["kwargs"], "ReduceLROnPlateau")?;
    let defaults = ReduceLROnPlateau::new();
    let mut cb = ReduceLROnPlateau::new()
        .monitor(monitor)
        .factor(kw.f64_or("factor", defaults.factor)?)
        .patience(count(&mut kw, "patience", defaults.patience)?)
        .verbose(verbose(&mut kw)?)
        .mode(mode(&mut kw, "ReduceLROnPlateau")?)
        .min_delta(kw.f64_or("min_delta", defaults.min_delta)?)
        .cooldown(count(&mut kw, "cooldown", defaults.cooldown)?)
        .min_lr(kw.f64_or("min_lr", defaults.min_lr)?);
    kw.finish()?;
    let lr = case["initial_lr"].as_f64().unwrap_or(DEFAULT_LR);
    let mut waits = Vec::new();
    let trace = drive(&mut cb, &seq, monitor, lr, None, &mut |cb: &ReduceLROnPlateau| waits.push(cb.wait()))?;
    Ok(json!({ "lr_after_epoch": trace.lr_after_epoch, "wait_after_epoch": waits }))
}

fn model_checkpoint(section: &Value, case: &Value) -> Result<Value, String> {
    let monitor = case["monitor"].as_str().ok_or("no monitor")?;
    let filepath = case["filepath"].as_str().ok_or("no filepath")?;
    let seq = sequence(section, monitor)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut kw = Kwargs::new(&case["kwargs"], "ModelCheckpoint")?;
    let save_freq = match kw.raw("save_freq") {
        None => SaveFreq::Epoch,
        Some(Value::String(s)) if s == "epoch" => SaveFreq::Epoch,
        Some(v) => {
            SaveFreq::Batches(v.as_u64().ok_or_else(|| format!("ModelCheckpoint: unrecognized save_freq {v}"))? as usize)
        }
    };
    let mut cb = ModelCheckpoint::new(dir.path().join(filepath).to_string_lossy().into_owned())
        .monitor(monitor)
        .verbose(verbose(&mut kw)?)
        .save_best_only(kw.bool_or("save_best_only", false)?)
        .save_weights_only(kw.bool_or("save_weights_only", false)?)
        .mode(mode(&mut kw, "ModelCheckpoint")?)
        .save_freq(save_freq)
        .initial_value_threshold(kw.f64_opt("initial_value_threshold")?);
    kw.finish()?;
    let lr = case["initial_lr"].as_f64().unwrap_or(DEFAULT_LR);
    let trace = drive(&mut cb, &seq, monitor, lr, Some(dir.path()), &mut |_: &ModelCheckpoint| {})?;
    let mut files = Vec::new();
    let mut epochs = Vec::new();
    for (e, names) in trace.saved {
        for n in names {
            files.push(n);
            epochs.push(e);
        }
    }
    Ok(json!({ "saved_files": files, "saved_epochs_0based": epochs }))
}

fn learning_rate_scheduler(case: &Value) -> Result<Value, String> {
    let text = case["schedule"].as_str().ok_or("no schedule")?;
    let schedule = lambda::Lambda::parse(text)?;
    let lr = case["initial_lr"].as_f64().unwrap_or(DEFAULT_LR);
    // The golden file states no epoch count for this case other than the length of the
    // recorded list; `drive` monitors a constant val_loss of 1.0 that the callback ignores.
    let epochs = case["lr_during_epoch"].as_array().map_or(0, Vec::len);
    let failure = std::rc::Rc::new(std::cell::RefCell::new(None::<String>));
    let fail = failure.clone();
    let mut cb = LearningRateScheduler::new(move |epoch, lr| match schedule.call(epoch as f64, lr) {
        Ok(v) => v,
        Err(e) => {
            fail.borrow_mut().get_or_insert(e);
            f64::NAN
        }
    });
    let result = drive(&mut cb, &vec![1.0; epochs], "val_loss", lr, None, &mut |_: &LearningRateScheduler| {});
    if let Some(e) = failure.borrow_mut().take() {
        return Err(e);
    }
    Ok(json!({ "lr_during_epoch": result?.lr_after_epoch }))
}

/// Mirror of `golden["callbacks"]`.
pub fn run(golden: &Value) -> Value {
    let section = &golden["callbacks"];
    let mut out = Map::new();
    type Case = fn(&Value, &Value) -> Result<Value, String>;
    let groups: [(&str, Case); 4] = [
        ("early_stopping", early_stopping),
        ("reduce_lr_on_plateau", reduce_lr),
        ("model_checkpoint", model_checkpoint),
        ("learning_rate_scheduler", |_, case| learning_rate_scheduler(case)),
    ];
    for (group, run_case) in groups {
        let Some(cases) = section[group].as_object() else { continue };
        let mut results = Map::new();
        for (name, case) in cases {
            match run_case(section, case) {
                Ok(v) => {
                    results.insert(name.clone(), v);
                }
                Err(e) => eprintln!("callbacks/{group}/{name}: {e}"),
            }
        }
        out.insert(group.to_string(), Value::Object(results));
    }
    Value::Object(out)
}

/// A tiny evaluator for the golden file's schedule text, a Python lambda such as
/// `lambda epoch, lr: lr*0.5 if epoch >= 2 else lr` (a trailing parenthesised remark is
/// ignored): numbers, the lambda's parameters, `+ - * / // % **`, comparisons, `and`,
/// `or`, `not` and `A if C else B`.
mod lambda {
    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Num(f64),
        Name(String),
        Op(String),
    }

    fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
        let c: Vec<char> = s.chars().collect();
        let mut i = 0;
        let mut out = Vec::new();
        while i < c.len() {
            let ch = c[i];
            if ch.is_whitespace() {
                i += 1;
            } else if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
                let start = i;
                while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.' || c[i] == '_') {
                    i += 1;
                }
                if i < c.len() && (c[i] == 'e' || c[i] == 'E') {
                    i += 1;
                    if i < c.len() && (c[i] == '+' || c[i] == '-') {
                        i += 1;
                    }
                    while i < c.len() && c[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let text: String = c[start..i].iter().filter(|&&d| d != '_').collect();
                out.push(Tok::Num(text.parse().map_err(|_| format!("bad number {text:?}"))?));
            } else if ch.is_alphabetic() || ch == '_' {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Name(c[start..i].iter().collect()));
            } else {
                let two: String = c[i..(i + 2).min(c.len())].iter().collect();
                if ["**", "//", ">=", "<=", "==", "!="].contains(&two.as_str()) {
                    out.push(Tok::Op(two));
                    i += 2;
                } else if "+-*/%<>():,".contains(ch) {
                    out.push(Tok::Op(ch.to_string()));
                    i += 1;
                } else {
                    return Err(format!("unexpected character {ch:?} in {s:?}"));
                }
            }
        }
        Ok(out)
    }

    /// A parsed `lambda epoch[, lr]: expr`.
    pub struct Lambda {
        params: Vec<String>,
        body: Vec<Tok>,
    }

    struct Eval<'a> {
        toks: &'a [Tok],
        pos: usize,
        vars: &'a [(String, f64)],
    }

    impl Eval<'_> {
        fn peek_op(&self, op: &str) -> bool {
            matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if o == op)
        }
        fn peek_name(&self, name: &str) -> bool {
            matches!(self.toks.get(self.pos), Some(Tok::Name(n)) if n == name)
        }
        fn expr(&mut self) -> Result<f64, String> {
            let a = self.or()?;
            if self.peek_name("if") {
                self.pos += 1;
                let cond = self.or()?;
                if !self.peek_name("else") {
                    return Err("expected 'else'".into());
                }
                self.pos += 1;
                let b = self.expr()?;
                return Ok(if cond != 0.0 { a } else { b });
            }
            Ok(a)
        }
        fn or(&mut self) -> Result<f64, String> {
            let mut a = self.and()?;
            while self.peek_name("or") {
                self.pos += 1;
                let b = self.and()?;
                a = if a != 0.0 { a } else { b };
            }
            Ok(a)
        }
        fn and(&mut self) -> Result<f64, String> {
            let mut a = self.not()?;
            while self.peek_name("and") {
                self.pos += 1;
                let b = self.not()?;
                a = if a == 0.0 { a } else { b };
            }
            Ok(a)
        }
        fn not(&mut self) -> Result<f64, String> {
            if self.peek_name("not") {
                self.pos += 1;
                return Ok(if self.not()? == 0.0 { 1.0 } else { 0.0 });
            }
            self.cmp()
        }
        fn cmp(&mut self) -> Result<f64, String> {
            let a = self.arith()?;
            for op in [">=", "<=", "==", "!=", ">", "<"] {
                if self.peek_op(op) {
                    self.pos += 1;
                    let b = self.arith()?;
                    let r = match op {
                        ">=" => a >= b,
                        "<=" => a <= b,
                        "==" => a == b,
                        "!=" => a != b,
                        ">" => a > b,
                        _ => a < b,
                    };
                    return Ok(if r { 1.0 } else { 0.0 });
                }
            }
            Ok(a)
        }
        fn arith(&mut self) -> Result<f64, String> {
            let mut a = self.term()?;
            loop {
                if self.peek_op("+") {
                    self.pos += 1;
                    a += self.term()?;
                } else if self.peek_op("-") {
                    self.pos += 1;
                    a -= self.term()?;
                } else {
                    return Ok(a);
                }
            }
        }
        fn term(&mut self) -> Result<f64, String> {
            let mut a = self.unary()?;
            loop {
                if self.peek_op("*") {
                    self.pos += 1;
                    a *= self.unary()?;
                } else if self.peek_op("/") {
                    self.pos += 1;
                    a /= self.unary()?;
                } else if self.peek_op("//") {
                    self.pos += 1;
                    a = (a / self.unary()?).floor();
                } else if self.peek_op("%") {
                    self.pos += 1;
                    let b = self.unary()?;
                    a -= b * (a / b).floor();
                } else {
                    return Ok(a);
                }
            }
        }
        fn unary(&mut self) -> Result<f64, String> {
            if self.peek_op("-") {
                self.pos += 1;
                return Ok(-self.unary()?);
            }
            if self.peek_op("+") {
                self.pos += 1;
                return self.unary();
            }
            let base = self.atom()?;
            if self.peek_op("**") {
                self.pos += 1;
                return Ok(base.powf(self.unary()?));
            }
            Ok(base)
        }
        fn atom(&mut self) -> Result<f64, String> {
            let tok = self.toks.get(self.pos).cloned().ok_or("unexpected end of expression")?;
            self.pos += 1;
            match tok {
                Tok::Num(v) => Ok(v),
                Tok::Name(n) => self
                    .vars
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| format!("unknown name {n:?}")),
                Tok::Op(o) if o == "(" => {
                    let v = self.expr()?;
                    if !self.peek_op(")") {
                        return Err("expected ')'".into());
                    }
                    self.pos += 1;
                    Ok(v)
                }
                Tok::Op(o) => Err(format!("unexpected {o:?}")),
            }
        }
    }

    impl Lambda {
        /// Parses `lambda p1[, p2]: body [(remark)]`.
        pub fn parse(text: &str) -> Result<Lambda, String> {
            let toks = tokenize(text)?;
            if toks.first() != Some(&Tok::Name("lambda".into())) {
                return Err(format!("not a lambda: {text:?}"));
            }
            let colon = toks.iter().position(|t| *t == Tok::Op(":".into())).ok_or("lambda without ':'")?;
            let params: Vec<String> = toks[1..colon]
                .iter()
                .filter_map(|t| match t {
                    Tok::Name(n) => Some(Ok(n.clone())),
                    Tok::Op(o) if o == "," => None,
                    other => Some(Err(format!("bad lambda parameter {other:?}"))),
                })
                .collect::<Result<_, _>>()?;
            if params.is_empty() || params.len() > 2 {
                return Err(format!("a schedule takes (epoch) or (epoch, lr), got {params:?}"));
            }
            let lambda = Lambda { params, body: toks[colon + 1..].to_vec() };
            // Check the syntax once (values do not matter).
            lambda.call(0.0, 0.1)?;
            Ok(lambda)
        }

        /// Evaluates the body at `epoch` and `lr`.
        pub fn call(&self, epoch: f64, lr: f64) -> Result<f64, String> {
            let vars: Vec<(String, f64)> = self.params.iter().cloned().zip([epoch, lr]).collect();
            let mut e = Eval { toks: &self.body, pos: 0, vars: &vars };
            let v = e.expr()?;
            // Whatever follows must be a parenthesised remark.
            let rest = &self.body[e.pos..];
            let remark = rest.is_empty()
                || (rest.first() == Some(&Tok::Op("(".into())) && rest.last() == Some(&Tok::Op(")".into())));
            if !remark {
                return Err(format!("unexpected {:?} after the expression", rest[0]));
            }
            Ok(v)
        }
    }
}
