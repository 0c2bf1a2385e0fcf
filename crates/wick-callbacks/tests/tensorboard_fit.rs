//! TensorBoard callback: a hand-written 3-epoch loop, event files read back.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use std::collections::BTreeMap;
use std::path::Path;
use wick_callbacks::{
    Callback, CallbackList, Context, Error, LayerSummary, Logs, ModelSummary, ModelVars, Params, RunState, TensorBoard,
    UpdateFreq,
};
use wick_optim::{rules::SgdRule, LrControl, OptimizerConfig};
use wick_tfevents::decode::{decode_value, DecodeOptions, DecodedValue};
use wick_tfevents::proto::event::What;

const STEPS: usize = 5;
const BATCH: usize = 4;

/// Every summary of a run: tag → [(step, decoded value)].
fn read(dir: &Path) -> BTreeMap<String, Vec<(i64, DecodedValue)>> {
    let mut out: BTreeMap<String, Vec<(i64, DecodedValue)>> = BTreeMap::new();
    for e in wick_tfevents::reader::read_run(dir).unwrap() {
        if let Some(What::Summary(s)) = &e.event.what {
            for v in &s.value {
                out.entry(v.tag.clone()).or_default().push((e.event.step, decode_value(v, &DecodeOptions::default())));
            }
        }
    }
    out
}

fn scalars(run: &BTreeMap<String, Vec<(i64, DecodedValue)>>, tag: &str) -> Vec<(i64, f32)> {
    run.get(tag)
        .unwrap_or_else(|| panic!("no tag {tag}; tags: {:?}", run.keys().collect::<Vec<_>>()))
        .iter()
        .map(|(s, v)| match v {
            DecodedValue::Scalar { value } => (*s, value.0),
            other => panic!("{tag}: not a scalar: {other:?}"),
        })
        .collect()
}

fn steps(run: &BTreeMap<String, Vec<(i64, DecodedValue)>>, tag: &str) -> Vec<i64> {
    run.get(tag).unwrap_or_else(|| panic!("no tag {tag}")).iter().map(|(s, _)| *s).collect()
}

struct Recorded {
    epoch_logs: Vec<Logs>,
    batch_logs: Vec<Logs>,
    test_logs: Vec<Logs>,
}

/// y = x·Wᵀ + b on fixed data, SGD(lr=0.1), 5 batches of 4 per epoch, 2 validation batches.
fn fit(cbs: &mut CallbackList, epochs: usize, validation: bool) -> Result<Recorded, Error> {
    let dev = Device::Cpu;
    let xs: Vec<f32> = (0..STEPS * BATCH * 3).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
    let x = Tensor::from_vec(xs, (STEPS * BATCH, 3), &dev)?;
    let y = (x.sum_keepdim(1)? * 0.5)?;
    let w = Var::from_tensor(&Tensor::new(&[[0.1f32, -0.2, 0.3], [0.0, 0.1, 0.2]], &dev)?)?;
    let b = Var::zeros(2, DType::F32, &dev)?;
    let vars = ModelVars::new(vec![("linear.weight".into(), w.clone()), ("linear.bias".into(), b.clone())]);
    let config = OptimizerConfig::new(SgdRule::default(), 0.1);
    let mut opt = wick_optim::SGD::with_names(
        vec![("linear.weight".into(), w.clone()), ("linear.bias".into(), b.clone())],
        config,
    )?;
    let params = Params { verbose: 0, epochs, steps: Some(STEPS) };
    let mut state = RunState::default();
    let forward = |xb: &Tensor| -> candle_core::Result<Tensor> {
        xb.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?.sum_keepdim(1)
    };
    let mut rec = Recorded { epoch_logs: vec![], batch_logs: vec![], test_logs: vec![] };
    macro_rules! ctx {
        () => {
            &mut Context::new(&params, &mut state, Some(&vars), Some(&mut opt as &mut dyn LrControl))
        };
    }
    cbs.on_train_begin(ctx!())?;
    let mut last = Logs::new();
    for epoch in 0..epochs {
        state.epoch = epoch;
        cbs.on_epoch_begin(epoch, ctx!())?;
        let mut total = 0.0;
        for batch in 0..STEPS {
            cbs.on_train_batch_begin(batch, ctx!())?;
            let xb = x.narrow(0, batch * BATCH, BATCH)?;
            let yb = y.narrow(0, batch * BATCH, BATCH)?;
            let loss = (forward(&xb)? - yb)?.sqr()?.mean_all()?;
            opt.backward_step(&loss)?;
            state.global_step += 1;
            total += loss.to_scalar::<f32>()? as f64;
            let mut logs = Logs::sorted([("loss", total / (batch + 1) as f64), ("mae", 0.5 / (batch + 1) as f64)]);
            cbs.on_train_batch_end(batch, &mut logs, ctx!())?;
            rec.batch_logs.push(logs);
        }
        let mut logs = rec.batch_logs.last().cloned().unwrap_or_default();
        if validation {
            cbs.on_test_begin(ctx!())?;
            let mut vt = 0.0;
            for batch in 0..2 {
                cbs.on_test_batch_begin(batch, ctx!())?;
                let xb = x.narrow(0, batch * BATCH, BATCH)?;
                let yb = y.narrow(0, batch * BATCH, BATCH)?;
                vt += (forward(&xb)? - yb)?.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
                cbs.on_test_batch_end(
                    batch,
                    &mut Logs::sorted([("loss", vt / (batch + 1) as f64), ("mae", 0.25)]),
                    ctx!(),
                )?;
            }
            let mut test = Logs::sorted([("loss", vt / 2.0), ("mae", 0.25)]);
            cbs.on_test_end(&mut test, ctx!())?;
            logs.merge_prefixed("val_", &test);
            rec.test_logs.push(test);
        }
        cbs.on_epoch_end(epoch, &mut logs, ctx!())?;
        rec.epoch_logs.push(logs.clone());
        last = logs;
    }
    cbs.on_train_end(&mut last, ctx!())?;
    Ok(rec)
}

#[test]
fn keras_layout_tags_steps_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("logs/fit/run1");
    let tb = TensorBoard::new(&log_dir)
        .update_freq(UpdateFreq::Batches(2))
        .histogram_freq(2)
        .write_images(true)
        .write_steps_per_second(true)
        .hparams([("lr", 0.1.into()), ("optimizer", "sgd".into()), ("nesterov", false.into())]);
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(tb));
    let rec = fit(&mut cbs, 3, true).unwrap();

    let runs = wick_tfevents::reader::find_runs(&log_dir).unwrap();
    assert_eq!(runs.keys().collect::<Vec<_>>(), [".", "train", "validation"]);

    let train = read(&log_dir.join("train"));
    for key in ["loss", "mae"] {
        let want: Vec<(i64, f32)> =
            rec.epoch_logs.iter().enumerate().map(|(e, l)| (e as i64, l.get(key).unwrap() as f32)).collect();
        assert_eq!(scalars(&train, &format!("epoch_{key}")), want);
        // batch_* every 2 batches of the global, 1-based counter: 2, 4, …, 14.
        let want: Vec<(i64, f32)> = rec
            .batch_logs
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % 2 == 0)
            .map(|(i, l)| (i as i64 + 1, l.get(key).unwrap() as f32))
            .collect();
        assert_eq!(scalars(&train, &format!("batch_{key}")), want);
    }
    assert_eq!(scalars(&train, "epoch_learning_rate"), vec![(0, 0.1f32), (1, 0.1), (2, 0.1)]);
    assert_eq!(steps(&train, "epoch_steps_per_second"), [0, 1, 2]);
    assert_eq!(steps(&train, "batch_steps_per_second"), [2, 4, 6, 8, 10, 12, 14]);
    assert!(scalars(&train, "epoch_steps_per_second").iter().all(|(_, v)| *v > 0.0));
    // Histograms and images every 2 epochs: epochs 0 and 2.
    for tag in ["linear/weight/histogram", "linear/bias/histogram"] {
        assert_eq!(steps(&train, tag), [0, 2]);
        assert!(matches!(train[tag][0].1, DecodedValue::Histogram { .. }));
    }
    match &train["linear/weight/image"][0].1 {
        DecodedValue::Image { width, height, count, .. } => assert_eq!((*width, *height, *count), (3, 2, 1)),
        other => panic!("not an image: {other:?}"),
    }
    assert_eq!(steps(&train, "linear/bias/image"), [0, 2]);
    assert!(!train.keys().any(|k| k.contains("val_")));

    let val = read(&log_dir.join("validation"));
    for key in ["loss", "mae"] {
        let want: Vec<(i64, f32)> =
            rec.test_logs.iter().enumerate().map(|(e, l)| (e as i64, l.get(key).unwrap() as f32)).collect();
        assert_eq!(scalars(&val, &format!("epoch_{key}")), want);
        // At optimizer.iterations: 5, 10, 15.
        let want: Vec<(i64, f32)> =
            rec.test_logs.iter().enumerate().map(|(e, l)| (5 * (e as i64 + 1), l.get(key).unwrap() as f32)).collect();
        assert_eq!(scalars(&val, &format!("evaluation_{key}_vs_iterations")), want);
    }
    assert_eq!(val.len(), 4, "{:?}", val.keys().collect::<Vec<_>>());

    // HParams session in LOG_DIR itself, ended with SUCCESS.
    let root = read(&log_dir);
    match &root["_hparams_/session_start_info"][0].1 {
        DecodedValue::HparamsSessionStart { hparams, .. } => assert_eq!(hparams.len(), 3),
        other => panic!("{other:?}"),
    }
    match &root["_hparams_/session_end_info"][0].1 {
        DecodedValue::HparamsSessionEnd { status, .. } => assert_eq!(status, "STATUS_SUCCESS"),
        other => panic!("{other:?}"),
    }
    let report = wick_tfevents::validate::validate_path(&log_dir).unwrap();
    assert!(report.is_ok(), "{}", report.summary());
}

#[test]
fn epoch_frequency_without_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(dir.path())));
    fit(&mut cbs, 2, false).unwrap();
    let train = read(&dir.path().join("train"));
    assert_eq!(train.keys().collect::<Vec<_>>(), ["epoch_learning_rate", "epoch_loss", "epoch_mae"]);
    assert_eq!(steps(&train, "epoch_loss"), [0, 1]);
    // No validation data: no validation run.
    let runs = wick_tfevents::reader::find_runs(dir.path()).unwrap();
    assert_eq!(runs.keys().collect::<Vec<_>>(), ["train"]);
}

#[test]
fn unusable_log_dir_fails_at_train_begin_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not_a_dir");
    std::fs::write(&file, b"x").unwrap();
    let log_dir = file.join("logs");
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(&log_dir)));
    let err = fit(&mut cbs, 1, false).err().expect("must fail");
    assert!(err.to_string().contains(&log_dir.display().to_string()), "{err}");
}

#[test]
fn invalid_arguments_and_missing_model() {
    let params = Params { verbose: 0, epochs: 1, steps: None };
    let mut state = RunState::default();
    let dir = tempfile::tempdir().unwrap();
    let mut tb = TensorBoard::new(dir.path()).update_freq(UpdateFreq::Batches(0));
    let err = tb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let mut tb = TensorBoard::new(dir.path()).histogram_freq(1);
    let err = tb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err}");
}

#[test]
fn a_run_ending_in_error_records_a_failed_session() {
    struct FailAt(usize);
    impl Callback for FailAt {
        fn on_epoch_end(&mut self, epoch: usize, _: &mut Logs, _: &mut Context<'_>) -> wick_callbacks::Result<()> {
            if epoch == self.0 {
                return Err(Error::Other("disk full".into()));
            }
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(dir.path()).hparams([("units", 2.into())])));
    cbs.push(Box::new(FailAt(1)));
    assert!(fit(&mut cbs, 3, true).is_err());
    drop(cbs);
    let root = read(dir.path());
    match &root["_hparams_/session_end_info"][0].1 {
        DecodedValue::HparamsSessionEnd { status, .. } => assert_eq!(status, "STATUS_FAILURE"),
        other => panic!("{other:?}"),
    }
    // What was written before the error is all there.
    assert_eq!(steps(&read(&dir.path().join("train")), "epoch_loss"), [0, 1]);
}

#[test]
fn standalone_evaluate_writes_evaluation_scalars() {
    let dir = tempfile::tempdir().unwrap();
    let params = Params { verbose: 0, epochs: 1, steps: Some(2) };
    let mut state = RunState { global_step: 0, ..RunState::default() };
    let mut tb = TensorBoard::new(dir.path());
    let mut ctx = Context::new(&params, &mut state, None, None);
    tb.on_test_begin(&mut ctx).unwrap();
    tb.on_test_end(&mut Logs::sorted([("loss", 0.5)]), &mut ctx).unwrap();
    let val = read(&dir.path().join("validation"));
    assert_eq!(scalars(&val, "evaluation_loss_vs_iterations"), [(0, 0.5)]);
}

/// The summary of `fit`'s model: one Dense layer, `linear`.
fn linear_summary() -> ModelSummary {
    ModelSummary::new("linear_model", vec![3])
        .with_layer(LayerSummary::new("linear", "Dense", vec![2]).with_params(8, 8))
}

#[test]
fn model_summary_writes_graph_and_table_at_step_0() {
    let dir = tempfile::tempdir().unwrap();
    let summary = linear_summary();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(dir.path()).model_summary(summary.clone())));
    fit(&mut cbs, 2, true).unwrap();
    let train = read(&dir.path().join("train"));
    // The graph: Keras' `keras` tag, the model JSON as a rank-0 string.
    assert_eq!(steps(&train, "keras"), [0]);
    match &train["keras"][0].1 {
        DecodedValue::Tensor { dtype, shape, .. } => assert_eq!((dtype.as_str(), shape.len()), ("DT_STRING", 0)),
        other => panic!("keras: {other:?}"),
    }
    let event = wick_tfevents::reader::read_run(dir.path().join("train")).unwrap();
    let value = event
        .iter()
        .filter_map(|e| match &e.event.what {
            Some(What::Summary(s)) => s.value.iter().find(|v| v.tag == "keras").cloned(),
            _ => None,
        })
        .next()
        .unwrap();
    let plugin = value.metadata.and_then(|m| m.plugin_data).unwrap();
    assert_eq!((plugin.plugin_name.as_str(), plugin.content.as_slice()), ("graph_keras_model", &b"1"[..]));
    let Some(wick_tfevents::proto::summary::value::Value::Tensor(t)) = value.value else { panic!("no tensor") };
    assert_eq!(t.string_val, vec![summary.keras_model_json().into_bytes()]);
    // The table, as a markdown code block.
    assert_eq!(steps(&train, wick_callbacks::MODEL_SUMMARY_TAG), [0]);
    match &train["model_summary"][0].1 {
        DecodedValue::Text { strings, .. } => assert_eq!(strings[0], format!("```\n{}```", summary.table())),
        other => panic!("model_summary: {other:?}"),
    }
    // Nothing of it in the validation run; the files stay valid.
    assert!(!read(&dir.path().join("validation")).contains_key("keras"));
    let report = wick_tfevents::validate::validate_path(dir.path()).unwrap();
    assert!(report.is_ok(), "{}", report.summary());
}

#[test]
fn write_graph_false_keeps_only_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(dir.path()).model_summary(linear_summary()).write_graph(false)));
    fit(&mut cbs, 1, false).unwrap();
    let train = read(&dir.path().join("train"));
    assert!(!train.contains_key("keras"));
    assert_eq!(steps(&train, "model_summary"), [0]);
}

#[test]
fn invalid_model_summary_fails_train_begin_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let bad = linear_summary().with_layer(LayerSummary::new("head", "Dense", vec![1]).with_inbound(["missing"]));
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(dir.path()).model_summary(bad)));
    let err = fit(&mut cbs, 1, false).err().expect("must fail");
    assert!(matches!(err, Error::InvalidModelSummary { .. }), "{err}");
    assert!(err.to_string().contains("\"head\" is fed by \"missing\""), "{err}");
}
