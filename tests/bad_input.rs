//! Bad input: every case gets a clear error naming what is wrong, or is written and shown
//! exactly as TensorBoard shows it.

mod support;

use std::time::Duration;
use support::tensorboard::{Loader, TensorBoard};
use wick_tfevents::proto::{event, summary::value};
use wick_tfevents::summary::image::Image;
use wick_tfevents::summary::pr_curve::PrCounts;
use wick_tfevents::{Error, SummaryWriter};

fn scalars_read_back(dir: &std::path::Path) -> Vec<(i64, f32)> {
    let mut out = Vec::new();
    for e in wick_tfevents::reader::read_run(dir).unwrap() {
        if let Some(event::What::Summary(s)) = e.event.what {
            for v in s.value {
                if let Some(value::Value::Tensor(t)) = v.value {
                    out.push((e.event.step, t.float_val[0]));
                }
            }
        }
    }
    out
}

#[test]
fn non_finite_scalars_are_written_and_shown_as_tensorboard_shows_them() {
    let logdir = tempfile::tempdir().unwrap();
    let run = logdir.path().join("run");
    let w = SummaryWriter::new(&run).unwrap();
    for (step, v) in [(0, f32::NAN), (1, f32::INFINITY), (2, f32::NEG_INFINITY), (3, 1.5)] {
        w.scalar("odd", step, v).unwrap();
    }
    w.close().unwrap();

    let back = scalars_read_back(&run);
    assert_eq!(back.len(), 4);
    assert!(back[0].1.is_nan());
    assert_eq!(&back[1..], &[(1, f32::INFINITY), (2, f32::NEG_INFINITY), (3, 1.5)]);

    for loader in [Loader::Rust, Loader::Python] {
        let Some(tb) = TensorBoard::start(logdir.path(), loader) else { return };
        let pts = tb
            .wait_for(Duration::from_secs(60), |tb| {
                let v = tb.try_get("/data/plugin/scalars/scalars?run=run&tag=odd")?;
                (v.as_array()?.len() == 4).then_some(v)
            })
            .unwrap_or_else(|| panic!("{loader:?}: scalars not shown"));
        let shown: Vec<String> = pts.as_array().unwrap().iter().map(|p| p[2].to_string()).collect();
        assert_eq!(shown, ["\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "1.5"], "{loader:?}");
    }
}

#[test]
fn empty_tag_is_an_error_for_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let w = SummaryWriter::new(dir.path()).unwrap();
    let px = [0u8; 3];
    let results = [
        w.scalar("", 0, 1.0),
        w.scalars(0, &[("ok", 1.0), ("", 2.0)]),
        w.image("", 0, &Image::from_u8_hwc(1, 1, 3, &px)),
        w.histogram("", 0, &[1.0f32]),
        w.text("", 0, "x"),
        w.text_table("", 0, &[["a"]]),
        w.pr_curve("", 0, &[true], &[0.5], 3),
        w.pr_curve_from_counts("", 0, &PrCounts::default()),
    ];
    for r in results {
        match r {
            Err(Error::InvalidTag { tag, reason }) => {
                assert_eq!(tag, "");
                assert!(reason.contains("empty"));
            }
            other => panic!("expected InvalidTag, got {other:?}"),
        }
    }
    w.close().unwrap();
    // Nothing but the file-version record was written.
    assert_eq!(wick_tfevents::reader::read_run(dir.path()).unwrap().len(), 1);
}

#[test]
fn image_with_wrong_buffer_length_names_expected_and_given_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let w = SummaryWriter::new(dir.path()).unwrap();
    let err = w.image("pic", 0, &Image::from_u8_hwc(4, 5, 3, &[0u8; 59])).unwrap_err().to_string();
    assert!(err.contains("\"pic\"") && err.contains("59 bytes") && err.contains("expected 60"), "{err}");
    let err = w.image("pic", 0, &Image::from_f32_chw(3, 2, 2, &[0.5f32; 11])).unwrap_err().to_string();
    assert!(err.contains("11 f32 values") && err.contains("expected 12"), "{err}");
    let err = w.image("pic", 0, &Image::from_u8_hwc(1, 1, 5, &[0u8; 5])).unwrap_err().to_string();
    assert!(err.contains("5 channels"), "{err}");
}

#[test]
fn unwritable_log_dir_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory should be: no run directory can be created under
    // it, even for root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let logdir = blocker.join("train");
    let err = SummaryWriter::new(&logdir).unwrap_err();
    assert!(matches!(err, Error::Write { .. }));
    assert!(err.to_string().contains(&logdir.display().to_string()), "{err}");
}

#[test]
fn non_finite_wall_time_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = SummaryWriter::new(dir.path()).unwrap();
    let err = w.scalar_at("loss", 0, 1.0, f64::NAN).unwrap_err().to_string();
    assert!(err.contains("\"loss\"") && err.contains("wall time NaN"), "{err}");
}

/// Documented behaviour: wick writes non-increasing steps as given; TensorBoard's default
/// (Rust) loader then drops every earlier point whose step is >= the new one, and the
/// Python loader keeps them all.
#[test]
fn non_increasing_steps_are_written_as_given() {
    let logdir = tempfile::tempdir().unwrap();
    let run = logdir.path().join("run");
    let w = SummaryWriter::new(&run).unwrap();
    for (step, v) in [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (1, 10.0)] {
        w.scalar("loss", step, v).unwrap();
    }
    w.close().unwrap();
    assert_eq!(scalars_read_back(&run), vec![(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (1, 10.0)]);

    let Some(tb) = TensorBoard::start(logdir.path(), Loader::Rust) else { return };
    let shown = tb
        .wait_for(Duration::from_secs(60), |tb| {
            let v = tb.try_get("/data/plugin/scalars/scalars?run=run&tag=loss")?;
            let pts: Vec<(i64, f64)> =
                v.as_array()?.iter().map(|p| (p[1].as_i64().unwrap(), p[2].as_f64().unwrap())).collect();
            // Wait for the last point written, then look at everything shown.
            (pts.last() == Some(&(1, 10.0))).then_some(pts)
        })
        .expect("scalars shown");
    assert_eq!(shown, vec![(0, 0.0), (1, 10.0)]);
}
