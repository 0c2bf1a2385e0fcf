//! TensorBoard writes `epoch_loss_scale` from a `LossScaleOptimizer`, at each epoch end.

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use wick_callbacks::{CallbackList, Context, Logs, ModelVars, Params, RunState, TensorBoard};
use wick_optim::{rules::SgdRule, LossScaleOptimizer, LrControl, OptimizerConfig};
use wick_tfevents::decode::{decode_value, DecodeOptions, DecodedValue};
use wick_tfevents::proto::event::What;

/// `(step, value)` of every `tag` scalar in the run at `dir`.
fn scalars(dir: &Path, tag: &str) -> Vec<(i64, f32)> {
    let mut out = Vec::new();
    for e in wick_tfevents::reader::read_run(dir).unwrap() {
        if let Some(What::Summary(s)) = &e.event.what {
            for v in s.value.iter().filter(|v| v.tag == tag) {
                match decode_value(v, &DecodeOptions::default()) {
                    DecodedValue::Scalar { value } => out.push((e.event.step, value.0)),
                    other => panic!("{tag}: not a scalar: {other:?}"),
                }
            }
        }
    }
    out
}

#[test]
fn the_dynamic_loss_scale_is_an_epoch_scalar() {
    let dir = tempfile::tempdir().unwrap();
    let w = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let vars = ModelVars::new(vec![("w".into(), w.clone())]);
    let sgd =
        wick_optim::SGD::with_names(vec![("w".into(), w)], OptimizerConfig::new(SgdRule::default(), 0.1)).unwrap();
    let mut opt = LossScaleOptimizer::with_options(sgd, 1024.0, 2).unwrap();
    let params = Params { verbose: 0, epochs: 3, steps: Some(2) };
    let mut state = RunState::default();
    let mut cbs = CallbackList::new();
    cbs.push(Box::new(TensorBoard::new(dir.path())));
    let finite = Tensor::new(&[1f32, -1.0], &Device::Cpu).unwrap();
    let inf = Tensor::new(&[f32::INFINITY, 0.0], &Device::Cpu).unwrap();
    // Epoch 0: two finite steps (the scale doubles); epoch 1: one finite, one overflow
    // (halved); epoch 2: two overflows (halved twice).
    let plan = [[&finite, &finite], [&finite, &inf], [&inf, &inf]];
    let mut want = Vec::new();
    macro_rules! ctx {
        () => {
            &mut Context::new(&params, &mut state, Some(&vars), Some(&mut opt as &mut dyn LrControl))
        };
    }
    cbs.on_train_begin(ctx!()).unwrap();
    for (epoch, grads) in plan.iter().enumerate() {
        state.epoch = epoch;
        cbs.on_epoch_begin(epoch, ctx!()).unwrap();
        for g in grads {
            opt.apply_gradients_optional(&[Some((*g).clone())]).unwrap();
        }
        want.push((epoch as i64, opt.dynamic_scale() as f32));
        cbs.on_epoch_end(epoch, &mut Logs::sorted([("loss", 1.0)]), ctx!()).unwrap();
    }
    cbs.on_train_end(&mut Logs::new(), ctx!()).unwrap();
    assert_eq!(want, [(0, 2048.0), (1, 1024.0), (2, 256.0)]);
    assert_eq!(scalars(&dir.path().join("train"), "epoch_loss_scale"), want);
}
