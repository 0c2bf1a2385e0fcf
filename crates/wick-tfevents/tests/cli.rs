//! Runs the `wick-events` binary: on a log directory written by `SummaryWriter` with every
//! plugin, on copies with one corrupted byte, on out-of-order steps, and on a log
//! directory written by tensorboardX.

#[path = "../../../tests/support/python.rs"]
mod python;

use serde_json::{json, Value as Json};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wick_tfevents::summary::hparams::{Domain, HParam, HParamValue, MetricInfo, SessionStatus};
use wick_tfevents::summary::image::Image;
use wick_tfevents::SummaryWriter;

fn wick_events<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wick-events")).args(args).output().expect("run wick-events")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

/// A log directory with an experiment in the root run and every plugin in `train`;
/// returns the path of `train`'s event file.
fn write_logdir(logs: &Path) -> PathBuf {
    let root = SummaryWriter::new(logs).unwrap();
    root.hparams_config(
        &[HParam::new("lr").with_domain(Domain::Interval { min: 0.0, max: 1.0 }), HParam::new("opt")],
        &[MetricInfo::new("loss")],
    )
    .unwrap();
    root.close().unwrap();

    let w = SummaryWriter::new(logs.join("train")).unwrap();
    for (step, v) in [1.0f32, 0.5, 0.25].into_iter().enumerate() {
        w.scalar("loss", step as i64, v).unwrap();
    }
    w.scalar("odd", 0, f32::NAN).unwrap();
    w.scalar("odd", 1, f32::INFINITY).unwrap();
    w.scalar("odd", 2, 1.0).unwrap();
    w.image("img", 0, &Image::from_u8_hwc(1, 2, 3, &[255, 0, 0, 0, 255, 0])).unwrap();
    w.histogram_with_buckets("hist", 0, &[1.0f64, 2.0, 3.0, 3.0], 3).unwrap();
    w.text("note", 0, "hello **md**").unwrap();
    w.text_table("table", 0, &[["a", "b"], ["c", "d"]]).unwrap();
    w.hparams(&[("lr", HParamValue::from(0.1)), ("opt", "adam".into())], "g1").unwrap();
    w.hparams_end(SessionStatus::Success).unwrap();
    w.pr_curve("pr", 0, &[true, false, true, false], &[0.9, 0.8, 0.3, 0.1], 3).unwrap();
    let path = w.path().to_path_buf();
    w.close().unwrap();
    path
}

/// `dump`'s output, and its lines parsed.
fn dump_text(args: &[&OsStr]) -> (String, Vec<Json>) {
    let out = wick_events(&[&[OsStr::new("dump")], args].concat());
    assert!(out.status.success(), "{}", all_output(&out));
    let text = stdout(&out);
    let lines = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    (text, lines)
}

fn dump(args: &[&OsStr]) -> Vec<Json> {
    dump_text(args).1
}

/// The summary values of `tag` in `run`, with their steps.
fn values(lines: &[Json], run: &str, tag: &str) -> Vec<(i64, Json)> {
    lines
        .iter()
        .filter(|l| l["run"] == run)
        .flat_map(|l| {
            let step = l["step"].as_i64().unwrap();
            l["summary"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|v| v["tag"] == tag)
                .map(move |v| (step, v))
        })
        .collect()
}

#[test]
fn validates_dumps_and_lists_a_summary_writer_logdir() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let train_file = write_logdir(&logs);

    let out = wick_events(&[OsStr::new("validate"), logs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(stdout(&out).contains("validated 2 files, 16 events: 0 errors, 0 warnings"), "{}", stdout(&out));

    let (text, lines) = dump_text(&[logs.as_os_str()]);
    assert_eq!(lines.len(), 16);
    for l in &lines {
        assert!(l["file"].is_string() && l["offset"].is_u64() && l["wall_time"].is_f64(), "{l}");
    }
    let first_train = lines.iter().find(|l| l["run"] == "train").unwrap();
    assert_eq!(first_train["file"], train_file.display().to_string());
    assert_eq!(first_train["offset"], 0);
    assert_eq!(first_train["file_version"], "brain.Event:2");

    let loss = values(&lines, "train", "loss");
    assert_eq!(
        loss.iter().map(|(s, v)| (*s, v["value"].as_f64().unwrap())).collect::<Vec<_>>(),
        vec![(0, 1.0), (1, 0.5), (2, 0.25)]
    );
    assert_eq!(loss[0].1["plugin"], "scalars");
    let odd: Vec<Json> = values(&lines, "train", "odd").into_iter().map(|(_, v)| v["value"].clone()).collect();
    assert_eq!(odd, vec![json!("NaN"), json!("Infinity"), json!(1.0)]);

    let img = &values(&lines, "train", "img")[0].1;
    assert_eq!(
        (img["kind"].as_str(), img["width"].as_u64(), img["height"].as_u64(), img["count"].as_u64()),
        (Some("image"), Some(2), Some(1), Some(1))
    );
    assert_eq!(img["images"][0]["format"], "png");
    assert!(img["images"][0].get("base64").is_none());

    let hist = &values(&lines, "train", "hist")[0].1;
    assert_eq!(hist["plugin"], "histograms");
    // Exact digits as written (serde_json's default parser may be one ulp off on reading).
    assert!(
        text.contains(r#""buckets":[[1.0,1.6666666666666665,1.0],[1.6666666666666665,2.333333333333333,1.0],[2.333333333333333,3.0,2.0]]"#),
        "{hist}"
    );

    let note = &values(&lines, "train", "note")[0].1;
    assert_eq!(
        (note["kind"].clone(), note["shape"].clone(), note["strings"].clone()),
        (json!("text"), json!([]), json!(["hello **md**"]))
    );
    let table = &values(&lines, "train", "table")[0].1;
    assert_eq!((table["shape"].clone(), table["strings"].clone()), (json!([2, 2]), json!(["a", "b", "c", "d"])));

    let exp = &values(&lines, ".", "_hparams_/experiment")[0].1;
    assert_eq!(exp["kind"], "hparams_experiment");
    assert_eq!(exp["hparams"][0]["domain"], json!({"interval": {"min": 0.0, "max": 1.0}}));
    assert_eq!(exp["metrics"][0]["tag"], "loss");
    let start = &values(&lines, "train", "_hparams_/session_start_info")[0].1;
    assert_eq!(start["hparams"], json!({"lr": 0.1, "opt": "adam"}));
    assert_eq!(start["group_name"], "g1");
    let end = &values(&lines, "train", "_hparams_/session_end_info")[0].1;
    assert_eq!(end["status"], "STATUS_SUCCESS");

    let pr = &values(&lines, "train", "pr")[0].1;
    assert_eq!(pr["kind"], "pr_curve");
    assert_eq!(pr["num_thresholds"], 3);
    assert_eq!(pr["true_positives"], json!([2.0, 1.0, 0.0]));
    assert_eq!(pr["precision"], json!([0.5, 0.5, 0.0]));
    assert_eq!(pr["recall"], json!([1.0, 0.5, 0.0]));

    // With --images-base64 the PNG bytes come along; a single file works as PATH too.
    let lines = dump(&[OsStr::new("--images-base64"), train_file.as_os_str()]);
    let img = &values(&lines, ".", "img")[0].1;
    assert!(img["images"][0]["base64"].as_str().unwrap().starts_with("iVBORw0KGgo"), "{img}");

    let out = wick_events(&[OsStr::new("tags"), OsStr::new("--json"), logs.as_os_str()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let rows: Vec<Json> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let row = |tag: &str| {
        rows.iter().find(|r| r["tag"] == tag).cloned().unwrap_or_else(|| panic!("no row for {tag}: {rows:?}"))
    };
    assert_eq!(
        row("loss"),
        json!({"run": "train", "tag": "loss", "plugin": "scalars", "count": 3, "first_step": 0, "last_step": 2})
    );
    assert_eq!(row("odd")["count"], 3);
    assert_eq!(row("pr")["plugin"], "pr_curves");
    assert_eq!(row("_hparams_/experiment")["run"], ".");
    assert_eq!(rows.len(), 10);

    let out = wick_events(&[OsStr::new("tags"), logs.as_os_str()]);
    let table = stdout(&out);
    assert!(table.starts_with("RUN"), "{table}");
    assert!(
        table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["train", "loss", "scalars", "3", "0", "2"]),
        "{table}"
    );
}

/// Copies `file` into a new directory `dir/name`, flipping the byte at `at`.
fn corrupt_copy(file: &Path, dir: &Path, name: &str, at: usize) -> PathBuf {
    let target_dir = dir.join(name);
    std::fs::create_dir_all(&target_dir).unwrap();
    let target = target_dir.join(file.file_name().unwrap());
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&target, bytes).unwrap();
    target
}

#[test]
fn one_flipped_byte_is_reported_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let train_file = write_logdir(&dir.path().join("logs"));
    let events = wick_tfevents::reader::read_file(&train_file).unwrap();
    let offset = events[3].offset;

    for (name, at, what) in [
        ("payload", offset as usize + 12 + 5, "data CRC mismatch"),
        ("length", offset as usize + 1, "length CRC mismatch"),
    ] {
        let bad = corrupt_copy(&train_file, dir.path(), name, at);
        let out = wick_events(&[OsStr::new("validate"), bad.as_os_str()]);
        assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
        let expected = format!("error: {}: offset {offset}: record {what}", bad.display());
        assert!(stdout(&out).contains(&expected), "expected {expected:?} in:\n{}", stdout(&out));
        // dump reports the same problem on stderr and fails too.
        let out = wick_events(&[OsStr::new("dump"), bad.as_os_str()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&expected));
    }
}

#[test]
fn non_increasing_steps_fail_naming_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let w = SummaryWriter::new(dir.path()).unwrap();
    for step in [0, 2, 1] {
        w.scalar("loss", step, 1.0).unwrap();
    }
    w.scalar("acc", 0, 1.0).unwrap();
    w.close().unwrap();
    let out = wick_events(&[OsStr::new("validate"), dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let text = stdout(&out);
    assert!(text.contains("tag \"loss\": step 1 is not greater than the previous step 2"), "{text}");
    assert!(!text.contains("\"acc\""), "{text}");
    assert!(text.contains(": 1 error, 0 warnings"), "{text}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = wick_events(&["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    for cmd in ["validate", "dump", "tags"] {
        let out = wick_events(&[OsStr::new(cmd), missing.as_os_str()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", all_output(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&missing.display().to_string()),
            "{cmd}: {}",
            all_output(&out)
        );
    }
}

#[test]
fn tensorboardx_logdir_validates() {
    let Some(py) = python::venv_program("python") else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tb/write_tensorboardx.py");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("tbx");
    let out = Command::new(py).arg(&script).arg(&logs).output().expect("run python");
    assert!(out.status.success(), "{}", all_output(&out));

    let out = wick_events(&[OsStr::new("validate"), logs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(stdout(&out).contains("validated 2 files"), "{}", stdout(&out));

    let lines = dump(&[logs.as_os_str()]);
    // Legacy simple_value scalars, read back as the f32 values tensorboardX wrote.
    let loss: Vec<(i64, f32)> =
        values(&lines, ".", "loss").iter().map(|(s, v)| (*s, v["value"].as_f64().unwrap() as f32)).collect();
    assert_eq!(loss, vec![(0, 1.0), (1, 0.5), (2, 1.0 / 3.0), (3, 0.25), (4, 0.2)]);
    assert_eq!(values(&lines, ".", "nan_test")[0].1["value"], "NaN");
    let hist = &values(&lines, ".", "weights")[0].1;
    assert_eq!(hist["kind"], "histogram");
    let buckets = hist["buckets"].as_array().unwrap();
    let left = buckets[0][0].as_f64().unwrap();
    let right = buckets[0][1].as_f64().unwrap();
    assert!(left <= right, "data_compat conversion leaves no backwards first bucket: {hist}");
    assert_eq!(values(&lines, ".", "sample")[0].1["images"][0]["format"], "png");
    assert_eq!(values(&lines, ".", "note/text_summary")[0].1["strings"], json!(["hello **markdown**"]));
    assert_eq!(values(&lines, ".", "pr")[0].1["num_thresholds"], 11);
    assert_eq!(values(&lines, "hp", "_hparams_/session_start_info")[0].1["hparams"]["opt"], "adam");
}

/// `wick-events dump FILE | head -n 1`: the reader goes away after one line; the command
/// ends quietly with status 0 instead of panicking on the broken pipe.
#[test]
fn closed_stdout_ends_dump_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let w = SummaryWriter::new(dir.path()).unwrap();
    for step in 0..20_000 {
        w.scalar("loss", step, step as f32).unwrap(); // ~2 MB of JSON: far more than a pipe holds
    }
    w.close().unwrap();
    for args in [&["dump"][..], &["tags"][..], &["validate"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wick-events"))
            .args(args)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?}");
        // The read end is closed here, before the command has written everything.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
