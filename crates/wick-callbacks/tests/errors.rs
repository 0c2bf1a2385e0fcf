//! The typed errors of the built-in callbacks: variants, paths named, sources kept.

use candle_core::{Device, Tensor, Var};
use std::error::Error as _;
use std::io::Write;
use wick_callbacks::{CSVLogger, Callback, Context, Error, Logs, ModelVars, Params, ProgressBar, RunState};

fn model(shape: &[usize]) -> ModelVars {
    let w = Var::from_tensor(&Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
    ModelVars::new(vec![("w".to_string(), w)])
}

#[test]
fn mismatched_weights_file_is_a_variable_mismatch_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    model(&[2]).save(&path).unwrap();
    let err = model(&[3]).load(&path).unwrap_err();
    match &err {
        Error::VariableMismatch { path: Some(p), message } => {
            assert_eq!(p, &path);
            assert!(message.contains("\"w\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("w.safetensors"), "{err}");
    let snapshot = model(&[2]).snapshot().unwrap();
    let err = model(&[3]).restore(&snapshot).unwrap_err();
    assert!(matches!(err, Error::VariableMismatch { path: None, .. }), "{err:?}");
}

#[test]
fn io_errors_name_the_path_and_keep_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.safetensors");
    let err = model(&[2]).load(&missing).unwrap_err();
    assert!(matches!(&err, Error::Io { path, .. } if path == &missing), "{err:?}");
    let source = err.source().expect("keeps the io::Error");
    // Display names the path, and does not repeat what source() returns.
    assert!(err.to_string().contains("nothing.safetensors"), "{err}");
    assert!(!err.to_string().contains(&source.to_string()), "{err}");

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"garbage").unwrap();
    let err = model(&[2]).load(&garbage).unwrap_err();
    assert!(matches!(&err, Error::WeightsFile { path, .. } if path == &garbage), "{err:?}");
    assert!(err.source().is_some());
}

struct Broken;
impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("pipe closed"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn progress_output_failure_is_an_output_error_with_source() {
    let params = Params { verbose: 1, epochs: 2, steps: Some(1) };
    let mut state = RunState::default();
    let mut ctx = Context::new(&params, &mut state, None, None);
    let mut pb = ProgressBar::with_writer(Broken, false);
    pb.on_train_begin(&mut ctx).unwrap();
    let err = pb.on_epoch_begin(0, &mut ctx).unwrap_err();
    assert!(matches!(err, Error::Output { context: "ProgbarLogger", .. }), "{err:?}");
    assert_eq!(err.source().map(|s| s.to_string()).as_deref(), Some("pipe closed"));
    assert!(!err.to_string().contains("pipe closed"), "{err}");
}

#[test]
fn csv_logger_before_train_begin_is_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let params = Params { verbose: 0, epochs: 1, steps: None };
    let mut state = RunState::default();
    let mut ctx = Context::new(&params, &mut state, None, None);
    let err = CSVLogger::new(dir.path().join("log.csv"))
        .on_epoch_end(0, &mut Logs::sorted([("loss", 1.0)]), &mut ctx)
        .unwrap_err();
    assert!(matches!(err, Error::NotStarted { context: "CSVLogger", .. }), "{err:?}");
}
