//! Stock TensorBoard 2.21 shows everything wick writes: the `summaries` example's showcase
//! (every summary kind, Keras layout, HParams) is written into a temporary log directory,
//! served by the real `tensorboard` (both loaders) and read back over its HTTP API; the same
//! files are also read with TensorBoard's Python `EventAccumulator`. Every answer is compared
//! with the showcase's [`showcase::Expected`].
//!
//! A run whose `TensorBoard` callback has a [`ModelSummary`] shows its layers and edges in
//! the Graphs tab (the conceptual graph, parsed by TensorBoard's own `keras_util.py`) and
//! the summary table in the Text tab, with both loaders.
//!
//! Needs the venv made by `scripts/ensure_venv.sh`: skipped without it, failing under
//! `CI=true`.

mod support;

#[path = "../examples/summaries/showcase.rs"]
mod showcase;

use serde_json::{json, Value};
use showcase::{Expected, HParamKind, ImagePoint, RunExpected};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::path::Path;
use std::time::{Duration, Instant};
use support::tensorboard::{conceptual_graph, GraphNode, Loader, TensorBoard};
use wick::callbacks::{Callback, Context, LayerSummary, Logs, ModelSummary, Params, RunState};
use wick_tfevents::summary::hparams::{Domain, HParamValue, SessionStatus};

/// How long TensorBoard may take to load the showcase (it reloads every second).
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Tolerance for PR-curve precision and recall.
const PR_TOLERANCE: f64 = 1e-6;
/// Every HParams session status; the session-groups request must list the ones it wants.
const ALL_STATUSES: [&str; 4] = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"];

#[test]
fn rust_loader_serves_the_showcase() {
    serves_the_showcase(Loader::Rust);
}

#[test]
fn python_loader_serves_the_showcase() {
    serves_the_showcase(Loader::Python);
}

#[test]
fn event_accumulator_reads_the_showcase() {
    let Some(python) = support::python::venv_program("python") else { return };
    let dir = tempfile::tempdir().unwrap();
    let expected = showcase::write_showcase(dir.path()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tb/read_event_accumulator.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("run read_event_accumulator.py");
    assert!(out.status.success(), "read_event_accumulator.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).expect("read_event_accumulator.py prints JSON");
    let mut m = Mismatches::default();
    check_event_accumulator(&mut m, &read["runs"], &expected);
    m.finish("EventAccumulator");
}

#[test]
fn rust_loader_shows_the_keras_graph() {
    shows_the_keras_graph(Loader::Rust);
}

#[test]
fn python_loader_shows_the_keras_graph() {
    shows_the_keras_graph(Loader::Python);
}

#[test]
fn showcase_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = showcase::write_showcase(a.path()).unwrap();
    let second = showcase::write_showcase(b.path()).unwrap();
    assert_eq!(format!("{first:?}"), format!("{second:?}"));
}

/// Writes the showcase, serves it with `loader` and checks every kind over HTTP.
fn serves_the_showcase(loader: Loader) {
    let dir = tempfile::tempdir().unwrap();
    let expected = showcase::write_showcase(dir.path()).unwrap();
    let started = Instant::now();
    let Some(tb) = TensorBoard::start(dir.path(), loader) else { return };

    let mut last = String::from("no answer yet");
    let loaded = tb.wait_for(LOAD_TIMEOUT, |tb| match still_missing(tb, &expected) {
        None => Some(()),
        Some(what) => {
            last = what;
            None
        }
    });
    assert!(loaded.is_some(), "{loader:?} loader: not fully loaded after {LOAD_TIMEOUT:?}; still missing: {last}");
    eprintln!("{loader:?} loader: showcase loaded {:.1} s after start", started.elapsed().as_secs_f64());

    let mut m = Mismatches::default();
    check_plugins_and_runs(&mut m, &tb, &expected);
    check_scalars(&mut m, &tb, &expected);
    check_histograms(&mut m, &tb, &expected);
    check_images(&mut m, &tb, &expected);
    check_text(&mut m, &tb, &expected);
    check_pr_curves(&mut m, &tb, &expected);
    check_hparams(&mut m, &tb, &expected);
    drop(tb);
    eprintln!("{loader:?} loader: checked in {:.1} s in all", started.elapsed().as_secs_f64());
    m.finish(&format!("{loader:?} loader"));
}

// ---------------------------------------------------------------------------------------
// Comparison helpers

/// Collects every difference, so that one run of the test reports all of them.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    /// Records a difference between what TensorBoard serves (`got`) and what was written.
    fn eq<T: PartialEq + Debug>(&mut self, what: impl Display, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: served {got:?}, written {want:?}"));
        }
    }

    /// Records `message` unless `ok`.
    fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }

    /// Fails the test listing every difference.
    fn finish(self, context: &str) {
        assert!(self.0.is_empty(), "{context}: {} mismatch(es):\n  {}", self.0.len(), self.0.join("\n  "));
    }
}

/// An `f32` compared bit for bit, except that all NaNs are equal.
#[derive(Clone, Copy)]
struct F32(f32);

impl PartialEq for F32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits() || (self.0.is_nan() && other.0.is_nan())
    }
}

impl Debug for F32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A JSON number, or TensorBoard's strings for non-finite values, as the `f32` it encodes.
fn json_f32(v: &Value) -> Option<F32> {
    match v {
        Value::Number(n) => n.as_f64().map(|x| F32(x as f32)),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(F32(f32::NAN)),
            "Infinity" => Some(F32(f32::INFINITY)),
            "-Infinity" => Some(F32(f32::NEG_INFINITY)),
            _ => None,
        },
        _ => None,
    }
}

fn f32_points(points: &[(i64, f32)]) -> Vec<(i64, F32)> {
    points.iter().map(|&(s, v)| (s, F32(v))).collect()
}

fn q(s: &str) -> String {
    TensorBoard::q(s)
}

fn len_of(v: Option<Value>) -> Option<usize> {
    v.and_then(|v| v.as_array().map(Vec::len))
}

/// Every run TensorBoard should list.
fn expected_runs(exp: &Expected) -> BTreeSet<String> {
    let mut runs: BTreeSet<String> = exp.runs.keys().cloned().collect();
    runs.insert(exp.hparams.experiment_run.clone());
    runs
}

/// The runs that hold at least one series of a kind, with their tags.
fn tags_of<T>(
    exp: &Expected,
    kind: impl Fn(&RunExpected) -> &BTreeMap<String, T>,
) -> BTreeMap<String, BTreeSet<String>> {
    exp.runs
        .iter()
        .filter(|(_, data)| !kind(data).is_empty())
        .map(|(run, data)| (run.clone(), kind(data).keys().cloned().collect()))
        .collect()
}

/// `{run: {tag: …}}` (or `{run: [tag, …]}`) as run → tag set, leaving out runs without tags.
fn served_tags(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (run, tags) in v.as_object().into_iter().flatten() {
        let tags: BTreeSet<String> = match tags {
            Value::Object(o) => o.keys().cloned().collect(),
            Value::Array(a) => a.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
            _ => BTreeSet::new(),
        };
        if !tags.is_empty() {
            out.insert(run.clone(), tags);
        }
    }
    out
}

/// The highest sample count of an image series.
fn max_samples(points: &[ImagePoint]) -> usize {
    points.iter().map(|p| p.samples).max().unwrap_or(0)
}

fn session_groups(tb: &TensorBoard) -> Value {
    tb.post(
        "/data/plugin/hparams/session_groups",
        &json!({"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": [], "startIndex": 0, "sliceSize": 1000}),
    )
}

// ---------------------------------------------------------------------------------------
// Waiting until TensorBoard has loaded everything

/// `None` once every run, tag and point of the showcase is served; else what is missing.
fn still_missing(tb: &TensorBoard, exp: &Expected) -> Option<String> {
    let Some(Value::Array(runs)) = tb.try_get("/data/runs") else { return Some("no answer to /data/runs".into()) };
    let listed: BTreeSet<String> = runs.iter().filter_map(|r| r.as_str().map(String::from)).collect();
    if let Some(run) = expected_runs(exp).into_iter().find(|r| !listed.contains(r)) {
        return Some(format!("run {run:?} (listed: {listed:?})"));
    }
    for (run, data) in &exp.runs {
        let (r, missing) = (q(run), |kind: &str, tag: &str, got: Option<usize>, want: usize| {
            (got != Some(want)).then(|| format!("{kind} {run}/{tag}: {got:?} of {want} points"))
        });
        for (tag, points) in &data.scalars {
            let got = len_of(tb.try_get(&format!("/data/plugin/scalars/scalars?run={r}&tag={}", q(tag))));
            if let Some(m) = missing("scalars", tag, got, points.len()) {
                return Some(m);
            }
        }
        for (tag, points) in &data.histograms {
            let got = len_of(tb.try_get(&format!("/data/plugin/histograms/histograms?run={r}&tag={}", q(tag))));
            if let Some(m) = missing("histograms", tag, got, points.len()) {
                return Some(m);
            }
        }
        for (tag, points) in &data.images {
            for sample in 0..max_samples(points) {
                let want = points.iter().filter(|p| p.samples > sample).count();
                let got =
                    len_of(tb.try_get(&format!("/data/plugin/images/images?run={r}&tag={}&sample={sample}", q(tag))));
                if let Some(m) = missing("images", &format!("{tag} sample {sample}"), got, want) {
                    return Some(m);
                }
            }
        }
        for (tag, points) in &data.text {
            let got = len_of(tb.try_get(&format!("/data/plugin/text/text?run={r}&tag={}&markdown=false", q(tag))));
            if let Some(m) = missing("text", tag, got, points.len()) {
                return Some(m);
            }
        }
        for (tag, points) in &data.pr_curves {
            let got = tb.try_get(&format!("/data/plugin/pr_curves/pr_curves?run={r}&tag={}", q(tag)));
            if let Some(m) = missing("pr_curves", tag, len_of(got.map(|v| v[run.as_str()].clone())), points.len()) {
                return Some(m);
            }
        }
    }
    let groups = session_groups(tb);
    let Some(groups) = groups["sessionGroups"].as_array() else {
        return Some(format!("hparams: session groups answer {groups}"));
    };
    let want = &exp.hparams;
    let complete = groups.len() == want.sessions.len()
        && groups.iter().all(|g| g["metricValues"].as_array().map(Vec::len) == Some(want.metrics.len()));
    (!complete)
        .then(|| format!("hparams: {} session groups of {} (or metrics missing)", groups.len(), want.sessions.len()))
}

// ---------------------------------------------------------------------------------------
// HTTP checks, one per kind

fn check_plugins_and_runs(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    let listing = tb.get("/data/plugins_listing");
    for plugin in ["scalars", "images", "histograms", "distributions", "text", "hparams", "pr_curves"] {
        m.eq(format!("plugins_listing {plugin}.enabled"), listing[plugin]["enabled"].as_bool(), Some(true));
    }
    let runs: BTreeSet<String> =
        tb.get("/data/runs").as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect();
    m.eq("runs", runs, expected_runs(exp));
}

fn check_scalars(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    m.eq("scalar tags", served_tags(&tb.get("/data/plugin/scalars/tags")), tags_of(exp, |r| &r.scalars));
    for (run, data) in &exp.runs {
        for (tag, points) in &data.scalars {
            let served = tb.get(&format!("/data/plugin/scalars/scalars?run={}&tag={}", q(run), q(tag)));
            let got: Vec<(i64, Option<F32>)> = served
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (p[1].as_i64().unwrap_or(-1), json_f32(&p[2])))
                .collect();
            let want: Vec<(i64, Option<F32>)> = f32_points(points).into_iter().map(|(s, v)| (s, Some(v))).collect();
            m.eq(format!("scalars {run}/{tag}"), got, want);
        }
    }
}

fn check_histograms(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    let want_tags = tags_of(exp, |r| &r.histograms);
    m.eq("histogram tags", served_tags(&tb.get("/data/plugin/histograms/tags")), want_tags.clone());
    m.eq("distribution tags", served_tags(&tb.get("/data/plugin/distributions/tags")), want_tags);
    for (run, data) in &exp.runs {
        for (tag, points) in &data.histograms {
            let what = format!("histogram {run}/{tag}");
            let served = tb.get(&format!("/data/plugin/histograms/histograms?run={}&tag={}", q(run), q(tag)));
            let served = served.as_array().cloned().unwrap_or_default();
            m.eq(
                format!("{what}: steps"),
                served.iter().map(|p| p[1].as_i64()).collect(),
                points.iter().map(|p| Some(p.step)).collect::<Vec<_>>(),
            );
            for (p, want) in served.iter().zip(points) {
                let rows: Vec<Vec<f64>> = p[2]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|row| row.as_array().into_iter().flatten().filter_map(Value::as_f64).collect())
                    .collect();
                let at = format!("{what} step {}", want.step);
                m.eq(format!("{at}: bucket count"), rows.len(), want.bucket_count);
                m.eq(
                    format!("{at}: total count"),
                    rows.iter().map(|r| r.get(2).copied().unwrap_or(f64::NAN)).sum::<f64>(),
                    want.total_count,
                );
                let want_rows: Vec<Vec<f64>> = want.buckets.iter().map(|b| vec![b.left, b.right, b.count]).collect();
                m.eq(format!("{at}: buckets"), rows, want_rows);
            }
            let dist = tb.get(&format!("/data/plugin/distributions/distributions?run={}&tag={}", q(run), q(tag)));
            m.eq(
                format!("distribution {run}/{tag}: steps"),
                dist.as_array().into_iter().flatten().map(|p| p[1].as_i64()).collect(),
                points.iter().map(|p| Some(p.step)).collect::<Vec<_>>(),
            );
        }
    }
}

fn check_images(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    let tags = tb.get("/data/plugin/images/tags");
    m.eq("image tags", served_tags(&tags), tags_of(exp, |r| &r.images));
    for (run, data) in &exp.runs {
        for (tag, points) in &data.images {
            let what = format!("images {run}/{tag}");
            m.eq(
                format!("{what}: samples"),
                tags[run.as_str()][tag.as_str()]["samples"].as_u64(),
                Some(max_samples(points) as u64),
            );
            for sample in 0..max_samples(points) {
                let want: Vec<&ImagePoint> = points.iter().filter(|p| p.samples > sample).collect();
                let served =
                    tb.get(&format!("/data/plugin/images/images?run={}&tag={}&sample={sample}", q(run), q(tag)));
                let served = served.as_array().cloned().unwrap_or_default();
                m.eq(
                    format!("{what} sample {sample}: steps"),
                    served.iter().map(|e| e["step"].as_i64()).collect(),
                    want.iter().map(|p| Some(p.step)).collect::<Vec<_>>(),
                );
                for (entry, want) in served.iter().zip(want) {
                    let at = format!("{what} step {} sample {sample}", want.step);
                    let Some(query) = entry["query"].as_str() else {
                        m.0.push(format!("{at}: no blob query in {entry}"));
                        continue;
                    };
                    let png = tb.get_bytes(&format!("/data/plugin/images/individualImage?{query}"));
                    match image::load_from_memory_with_format(&png, image::ImageFormat::Png) {
                        Err(e) => m.0.push(format!("{at}: the served blob is not a PNG: {e}")),
                        Ok(img) => {
                            m.eq(
                                format!("{at}: width x height"),
                                (img.width() as usize, img.height() as usize),
                                (want.width, want.height),
                            );
                            m.eq(format!("{at}: channels"), img.color().channel_count() as usize, want.channels);
                            m.check(img.as_bytes() == want.pixels[sample].as_slice(), || {
                                format!("{at}: pixels differ")
                            });
                        }
                    }
                }
            }
        }
    }
}

fn check_text(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    m.eq("text tags", served_tags(&tb.get("/data/plugin/text/tags")), tags_of(exp, |r| &r.text));
    for (run, data) in &exp.runs {
        for (tag, points) in &data.text {
            let what = format!("text {run}/{tag}");
            let served = tb.get(&format!("/data/plugin/text/text?run={}&tag={}&markdown=false", q(run), q(tag)));
            let served = served.as_array().cloned().unwrap_or_default();
            m.eq(
                format!("{what}: steps"),
                served.iter().map(|e| e["step"].as_i64()).collect(),
                points.iter().map(|p| Some(p.step)).collect::<Vec<_>>(),
            );
            for (entry, want) in served.iter().zip(points) {
                let at = format!("{what} step {}", want.step);
                let text = entry["text"].as_str().unwrap_or_default();
                if want.shape.is_empty() {
                    m.eq(format!("{at}: text"), text, want.strings[0].as_str());
                } else {
                    m.eq(format!("{at}: table rows"), text.matches("<tr>").count(), want.shape[0]);
                    m.eq(format!("{at}: table cells"), text.matches("<td>").count(), want.strings.len());
                    for cell in &want.strings {
                        m.check(text.contains(&format!("<td>{cell}</td>")), || {
                            format!("{at}: cell {cell:?} missing from {text:?}")
                        });
                    }
                }
            }
        }
    }
    // Markdown rendering is on by default.
    let rendered = tb.get(&format!("/data/plugin/text/text?run=train&tag={}", q("notes")));
    let first = rendered[0]["text"].as_str().unwrap_or_default();
    m.check(first.contains("<strong>wick</strong>") && first.contains("<li>"), || {
        format!("text train/notes rendered as {first:?}")
    });
}

fn check_pr_curves(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    m.eq("pr_curve tags", served_tags(&tb.get("/data/plugin/pr_curves/tags")), tags_of(exp, |r| &r.pr_curves));
    for (run, data) in &exp.runs {
        for (tag, points) in &data.pr_curves {
            let what = format!("pr_curve {run}/{tag}");
            let served = tb.get(&format!("/data/plugin/pr_curves/pr_curves?run={}&tag={}", q(run), q(tag)));
            let served = served[run.as_str()].as_array().cloned().unwrap_or_default();
            m.eq(
                format!("{what}: steps"),
                served.iter().map(|e| e["step"].as_i64()).collect(),
                points.iter().map(|p| Some(p.step)).collect::<Vec<_>>(),
            );
            for (entry, want) in served.iter().zip(points) {
                let at = format!("{what} step {}", want.step);
                let n = want.served_len();
                let floats = |key: &str| -> Vec<f64> {
                    entry[key].as_array().into_iter().flatten().filter_map(Value::as_f64).collect()
                };
                for (key, want_values) in [("precision", &want.precision), ("recall", &want.recall)] {
                    let got = floats(key);
                    let close = got.len() == n
                        && got.iter().zip(want_values).all(|(g, w)| (g - *w as f64).abs() <= PR_TOLERANCE);
                    m.check(close, || format!("{at}: {key} served {got:?}, written {:?} (TensorBoard drops trailing thresholds with TP+FP = 0: {n} kept)", want_values));
                }
                for (key, want_counts) in [
                    ("true_positives", &want.true_positives),
                    ("false_positives", &want.false_positives),
                    ("true_negatives", &want.true_negatives),
                    ("false_negatives", &want.false_negatives),
                ] {
                    m.eq(format!("{at}: {key}"), floats(key), want_counts[..n].to_vec());
                }
                let thresholds: Vec<f64> = (0..n).map(|i| i as f64 / (want.num_thresholds - 1) as f64).collect();
                let got = floats("thresholds");
                m.check(got.len() == n && got.iter().zip(&thresholds).all(|(g, w)| (g - w).abs() < 1e-12), || {
                    format!("{at}: thresholds {got:?}, expected {thresholds:?}")
                });
            }
        }
    }
}

fn hparam_json(v: &HParamValue) -> Value {
    match v {
        HParamValue::Number(n) => json!(n),
        HParamValue::Text(s) => json!(s),
        HParamValue::Bool(b) => json!(b),
    }
}

fn kind_name(kind: HParamKind) -> &'static str {
    match kind {
        HParamKind::Unset => "DATA_TYPE_UNSET",
        HParamKind::Number => "DATA_TYPE_FLOAT64",
        HParamKind::Text => "DATA_TYPE_STRING",
        HParamKind::Bool => "DATA_TYPE_BOOL",
    }
}

fn status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Unknown => "STATUS_UNKNOWN",
        SessionStatus::Success => "STATUS_SUCCESS",
        SessionStatus::Failure => "STATUS_FAILURE",
        SessionStatus::Running => "STATUS_RUNNING",
    }
}

/// A metric name `{group, tag}` from JSON (an absent group is `""`).
fn metric_key(name: &Value) -> (String, String) {
    (name["group"].as_str().unwrap_or_default().to_string(), name["tag"].as_str().unwrap_or_default().to_string())
}

/// What the experiment declares for one hparam, in the served JSON's terms:
/// `(type, interval, discrete values, description)`.
type HParamInfo = (String, Option<(f64, f64)>, Option<Vec<Value>>, String);

fn check_hparams(m: &mut Mismatches, tb: &TensorBoard, exp: &Expected) {
    let want = &exp.hparams;
    let experiment = tb.post("/data/plugin/hparams/experiment", &json!({"experimentName": ""}));
    let served_infos: BTreeMap<String, HParamInfo> = experiment["hparamInfos"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let interval = h
                .get("domainInterval")
                .map(|d| (d["minValue"].as_f64().unwrap_or(f64::NAN), d["maxValue"].as_f64().unwrap_or(f64::NAN)));
            let discrete = h.get("domainDiscrete").and_then(|d| d.as_array().cloned());
            let ty = h["type"].as_str().unwrap_or("DATA_TYPE_UNSET").to_string();
            (
                h["name"].as_str().unwrap_or_default().to_string(),
                (ty, interval, discrete, h["description"].as_str().unwrap_or_default().to_string()),
            )
        })
        .collect();
    let want_infos: BTreeMap<String, HParamInfo> = want
        .hparams
        .iter()
        .map(|c| {
            let (interval, discrete) = match &c.domain {
                None => (None, None),
                Some(Domain::Interval { min, max }) => (Some((*min, *max)), None),
                Some(Domain::Discrete(values)) => (None, Some(values.iter().map(hparam_json).collect())),
            };
            (c.name.clone(), (kind_name(c.kind).to_string(), interval, discrete, c.description.clone()))
        })
        .collect();
    m.eq("hparams experiment: hparam columns", served_infos, want_infos);
    let served_metrics: BTreeSet<(String, String, String)> = experiment["metricInfos"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|mi| {
            let (group, tag) = metric_key(&mi["name"]);
            (group, tag, mi["displayName"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let want_metrics: BTreeSet<(String, String, String)> =
        want.metrics.iter().map(|c| (c.group.clone(), c.tag.clone(), c.display_name.clone())).collect();
    m.eq("hparams experiment: metric columns", served_metrics, want_metrics);

    let groups = session_groups(tb);
    let groups: BTreeMap<String, Value> = groups["sessionGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| (g["name"].as_str().unwrap_or_default().to_string(), g.clone()))
        .collect();
    m.eq(
        "hparams session groups",
        groups.keys().cloned().collect::<BTreeSet<_>>(),
        want.sessions.iter().map(|s| s.group.clone()).collect(),
    );
    for session in &want.sessions {
        let Some(group) = groups.get(&session.group) else { continue };
        let at = format!("hparams group {:?}", session.group);
        let served_values: BTreeMap<String, Value> =
            group["hparams"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
        let want_values: BTreeMap<String, Value> =
            session.hparams.iter().map(|(k, v)| (k.clone(), hparam_json(v))).collect();
        m.eq(format!("{at}: hparam values"), served_values, want_values);

        let served_metrics: BTreeMap<(String, String), (Option<i64>, Option<F32>)> = group["metricValues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|mv| (metric_key(&mv["name"]), (mv["trainingStep"].as_i64(), json_f32(&mv["value"]))))
            .collect();
        let want_metrics: BTreeMap<(String, String), (Option<i64>, Option<F32>)> = session
            .metrics
            .iter()
            .map(|mv| ((mv.group.clone(), mv.tag.clone()), (Some(mv.step), Some(F32(mv.value)))))
            .collect();
        m.eq(format!("{at}: metric values (step, value)"), served_metrics, want_metrics);

        let sessions: Vec<(String, String)> = group["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or_default().to_string(),
                    s["status"].as_str().unwrap_or("STATUS_UNKNOWN").to_string(),
                )
            })
            .collect();
        m.eq(
            format!("{at}: sessions (name, status)"),
            sessions,
            vec![(session.run.clone(), status_name(session.status).to_string())],
        );
    }
}

// ---------------------------------------------------------------------------------------
// EventAccumulator checks

/// One scalar point as the EventAccumulator reads it: `(step, dtype, shape, value)`.
type EaScalar = (Option<i64>, Option<String>, Value, Option<F32>);

/// The points of one tensor series as `read_event_accumulator.py` prints them.
fn ea_points(series: &Value) -> Vec<Value> {
    series["points"].as_array().cloned().unwrap_or_default()
}

fn check_event_accumulator(m: &mut Mismatches, runs: &Value, exp: &Expected) {
    let served_runs: BTreeSet<String> = runs.as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    m.eq("EventAccumulator runs", served_runs, expected_runs(exp));
    for run in expected_runs(exp) {
        let other = &runs[run.as_str()]["other"];
        m.check(other.as_object().is_none_or(|o| o.is_empty()), || format!("{run}: legacy (non-tensor) tags {other}"));
    }

    for (run, data) in &exp.runs {
        let tensors = &runs[run.as_str()]["tensors"];
        let mut want_tags: BTreeSet<String> = data
            .scalars
            .keys()
            .chain(data.histograms.keys())
            .chain(data.images.keys())
            .chain(data.text.keys())
            .chain(data.pr_curves.keys())
            .cloned()
            .collect();
        if exp.hparams.sessions.iter().any(|s| &s.run == run) {
            want_tags.insert("_hparams_/session_start_info".into());
            want_tags.insert("_hparams_/session_end_info".into());
        }
        let got_tags: BTreeSet<String> = tensors.as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
        m.eq(format!("{run}: tensor tags"), got_tags, want_tags);

        for (tag, points) in &data.scalars {
            let series = &tensors[tag.as_str()];
            let at = format!("EventAccumulator scalars {run}/{tag}");
            m.eq(format!("{at}: plugin"), series["plugin"].as_str(), Some("scalars"));
            let got: Vec<EaScalar> = ea_points(series)
                .iter()
                .map(|p| {
                    (
                        p["step"].as_i64(),
                        p["dtype"].as_str().map(String::from),
                        p["shape"].clone(),
                        json_f32(&p["value"]),
                    )
                })
                .collect();
            let want: Vec<EaScalar> =
                points.iter().map(|&(s, v)| (Some(s), Some("float32".to_string()), json!([]), Some(F32(v)))).collect();
            m.eq(format!("{at}: (step, dtype, shape, value)"), got, want);
        }
        for (tag, points) in &data.histograms {
            let series = &tensors[tag.as_str()];
            let at = format!("EventAccumulator histogram {run}/{tag}");
            m.eq(format!("{at}: plugin"), series["plugin"].as_str(), Some("histograms"));
            let got: Vec<(Option<i64>, Value, Value)> = ea_points(series)
                .iter()
                .map(|p| (p["step"].as_i64(), p["shape"].clone(), p["value"].clone()))
                .collect();
            let want: Vec<(Option<i64>, Value, Value)> = points
                .iter()
                .map(|p| {
                    let rows: Vec<Value> = p.buckets.iter().map(|b| json!([b.left, b.right, b.count])).collect();
                    (Some(p.step), json!([p.bucket_count, 3]), Value::Array(rows))
                })
                .collect();
            m.eq(format!("{at}: (step, shape, rows)"), got, want);
        }
        for (tag, points) in &data.images {
            let series = &tensors[tag.as_str()];
            let at = format!("EventAccumulator images {run}/{tag}");
            m.eq(format!("{at}: plugin"), series["plugin"].as_str(), Some("images"));
            let got: Vec<(Option<i64>, Value, Value)> = ea_points(series)
                .iter()
                .map(|p| (p["step"].as_i64(), p["shape"].clone(), p["value"].clone()))
                .collect();
            let want: Vec<(Option<i64>, Value, Value)> = points
                .iter()
                .map(|p| {
                    let mut value = vec![json!(p.width.to_string()), json!(p.height.to_string())];
                    value.extend((0..p.samples).map(|_| json!({"png": [p.width, p.height]})));
                    (Some(p.step), json!([2 + p.samples]), Value::Array(value))
                })
                .collect();
            m.eq(format!("{at}: (step, shape, [width, height, png...])"), got, want);
        }
        for (tag, points) in &data.text {
            let series = &tensors[tag.as_str()];
            let at = format!("EventAccumulator text {run}/{tag}");
            m.eq(format!("{at}: plugin"), series["plugin"].as_str(), Some("text"));
            let got: Vec<(Option<i64>, Value, Value)> = ea_points(series)
                .iter()
                .map(|p| (p["step"].as_i64(), p["shape"].clone(), p["value"].clone()))
                .collect();
            let want: Vec<(Option<i64>, Value, Value)> = points
                .iter()
                .map(|p| {
                    let value = match p.shape.as_slice() {
                        [] => json!(p.strings[0]),
                        [_, cols] => Value::Array(p.strings.chunks(*cols).map(|row| json!(row)).collect()),
                        _ => json!(p.strings),
                    };
                    (Some(p.step), json!(p.shape), value)
                })
                .collect();
            m.eq(format!("{at}: (step, shape, strings)"), got, want);
        }
        for (tag, points) in &data.pr_curves {
            let series = &tensors[tag.as_str()];
            let at = format!("EventAccumulator pr_curve {run}/{tag}");
            m.eq(format!("{at}: plugin"), series["plugin"].as_str(), Some("pr_curves"));
            let got_points = ea_points(series);
            m.eq(
                format!("{at}: steps"),
                got_points.iter().map(|p| p["step"].as_i64()).collect(),
                points.iter().map(|p| Some(p.step)).collect::<Vec<_>>(),
            );
            for (p, want) in got_points.iter().zip(points) {
                let at = format!("{at} step {}", want.step);
                m.eq(
                    format!("{at}: num_thresholds"),
                    series["content"]["num_thresholds"].as_u64(),
                    Some(want.num_thresholds as u64),
                );
                m.eq(format!("{at}: shape"), p["shape"].clone(), json!([6, want.num_thresholds]));
                let row = |i: usize| -> Vec<f64> {
                    p["value"][i].as_array().into_iter().flatten().filter_map(Value::as_f64).collect()
                };
                let counts = [&want.true_positives, &want.false_positives, &want.true_negatives, &want.false_negatives];
                for (i, (name, want_row)) in ["TP", "FP", "TN", "FN"].iter().zip(counts).enumerate() {
                    m.eq(format!("{at}: {name}"), row(i), want_row.clone());
                }
                for (i, name, want_row) in [(4, "precision", &want.precision), (5, "recall", &want.recall)] {
                    let got = row(i);
                    let close = got.len() == want_row.len()
                        && got.iter().zip(want_row).all(|(g, w)| (g - *w as f64).abs() <= PR_TOLERANCE);
                    m.check(close, || format!("{at}: {name} read {got:?}, written {want_row:?}"));
                }
            }
        }
    }

    // HParams: the experiment and each session's start and end, decoded from the plugin content.
    let hp = &exp.hparams;
    let experiment = &runs[hp.experiment_run.as_str()]["tensors"]["_hparams_/experiment"];
    m.eq("EventAccumulator experiment: plugin", experiment["plugin"].as_str(), Some("hparams"));
    let infos = &experiment["content"]["experiment"];
    let names: Vec<Option<&str>> =
        infos["hparam_infos"].as_array().into_iter().flatten().map(|h| h["name"].as_str()).collect();
    m.eq(
        "EventAccumulator experiment: hparam names",
        names,
        hp.hparams.iter().map(|c| Some(c.name.as_str())).collect(),
    );
    let metrics: Vec<(String, String)> =
        infos["metric_infos"].as_array().into_iter().flatten().map(|mi| metric_key(&mi["name"])).collect();
    m.eq(
        "EventAccumulator experiment: metrics",
        metrics,
        hp.metrics.iter().map(|c| (c.group.clone(), c.tag.clone())).collect(),
    );
    for session in &hp.sessions {
        let tensors = &runs[session.run.as_str()]["tensors"];
        let start = &tensors["_hparams_/session_start_info"]["content"]["session_start_info"];
        let values: BTreeMap<String, Value> =
            start["hparams"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
        let want_values: BTreeMap<String, Value> =
            session.hparams.iter().map(|(k, v)| (k.clone(), hparam_json(v))).collect();
        m.eq(format!("EventAccumulator session {}: hparams", session.run), values, want_values);
        let group = start["group_name"].as_str().filter(|g| !g.is_empty()).unwrap_or(session.run.as_str());
        m.eq(format!("EventAccumulator session {}: group", session.run), group, session.group.as_str());
        let status = tensors["_hparams_/session_end_info"]["content"]["session_end_info"]["status"].as_str();
        m.eq(
            format!("EventAccumulator session {}: status", session.run),
            status.unwrap_or("STATUS_UNKNOWN"),
            status_name(session.status),
        );
    }
}

// ---------------------------------------------------------------------------------------
// The Keras conceptual graph (Graphs tab) and the summary table (Text tab)

/// A residual CNN (the `add` layer joins two branches, so the graph is a `Functional` one
/// with a fork) and a chained MLP (a `Sequential`), each logged by the `TensorBoard`
/// callback of its own run.
fn graph_models() -> [(&'static str, ModelSummary); 2] {
    let residual = ModelSummary::new("residual_cnn", vec![3, 16, 16])
        .with_layer(LayerSummary::new("stem", "Conv2D", vec![8, 16, 16]).with_params(224, 224))
        .with_layer(
            LayerSummary::new("blocks.0", "DepthwiseConv2D", vec![8, 16, 16])
                .with_params(80, 80)
                .with_inbound(["stem"]),
        )
        .with_layer(
            LayerSummary::new("bn", "BatchNormalization", vec![8, 16, 16])
                .with_params(32, 16)
                .with_inbound(["blocks.0"]),
        )
        .with_layer(LayerSummary::new("add", "Add", vec![8, 16, 16]).with_inbound(["bn", "stem"]))
        .with_layer(LayerSummary::new("pool", "GlobalAveragePooling2D", vec![8]).with_inbound(["add"]))
        .with_layer(LayerSummary::new("logits", "Dense", vec![4]).with_params(36, 36).with_inbound(["pool"]));
    let mlp = ModelSummary::new("mlp", vec![4])
        .with_layer(LayerSummary::new("fc1", "Dense", vec![8]).with_params(40, 40))
        .with_layer(LayerSummary::new("fc2", "Dense", vec![2]).with_params(18, 18).with_inbound(["fc1"]));
    [("residual", residual), ("mlp", mlp)]
}

/// The nodes the Graphs tab should draw for `summary`: its `InputLayer`, then one per layer,
/// named `<model>/<layer>`, with an input per inbound layer (the first layer's: the input).
fn expected_graph(summary: &ModelSummary) -> Vec<GraphNode> {
    let scoped = |name: &str| format!("{}/{name}", summary.name);
    let mut nodes = vec![(scoped("input_layer"), vec![], "InputLayer".to_string())];
    for layer in &summary.layers {
        let inputs = match layer.inbound.is_empty() {
            true => vec![scoped("input_layer")],
            false => layer.inbound.iter().map(|s| scoped(s)).collect(),
        };
        nodes.push((scoped(&layer.name), inputs, layer.class_name.clone()));
    }
    nodes
}

/// Runs the callback's train begin and end (all it needs to write the graph) for each model.
fn write_graph_runs(root: &Path) -> Vec<(String, ModelSummary)> {
    let params = Params { verbose: 0, epochs: 1, steps: Some(1) };
    let mut runs = Vec::new();
    for (run, summary) in graph_models() {
        let mut state = RunState::default();
        let mut tb = wick::callbacks::TensorBoard::new(root.join(run)).model_summary(summary.clone());
        tb.on_train_begin(&mut Context::new(&params, &mut state, None, None)).unwrap();
        tb.on_train_end(&mut Logs::new(), &mut Context::new(&params, &mut state, None, None)).unwrap();
        runs.push((format!("{run}/train"), summary));
    }
    runs
}

fn shows_the_keras_graph(loader: Loader) {
    let dir = tempfile::tempdir().unwrap();
    let runs = write_graph_runs(dir.path());
    let Some(tb) = TensorBoard::start(dir.path(), loader) else { return };
    let mut m = Mismatches::default();
    for (run, summary) in &runs {
        let served = tb.wait_for(LOAD_TIMEOUT, |tb| conceptual_graph(tb, run, "keras"));
        let Some(served) = served else {
            let info = tb.try_get("/data/plugin/graphs/info");
            m.0.push(format!("{run}: no conceptual graph `keras` after {LOAD_TIMEOUT:?}; graphs info: {info:?}"));
            continue;
        };
        m.eq(format!("{run}: graph nodes (name, inputs, keras_class)"), served, expected_graph(summary));

        let text = tb.wait_for(LOAD_TIMEOUT, |tb| {
            let v = tb.try_get(&format!("/data/plugin/text/text?run={}&tag=model_summary", q(run)))?;
            v[0]["text"].as_str().map(String::from)
        });
        let text = text.unwrap_or_default();
        // Markdown rendering: a code block, so the box table keeps its columns.
        m.check(text.contains("<pre><code>") && text.contains(&format!("Model: &quot;{}&quot;", summary.name)), || {
            format!("{run}: model_summary is not a code block with the title: {text:?}")
        });
        let total = format!("Total params: {}", summary.total_params());
        m.check(text.contains(&total) && text.contains("┃ Layer (type)"), || {
            format!("{run}: model_summary lacks {total:?} or the table header: {text:?}")
        });
        for layer in &summary.layers {
            m.check(text.contains(&format!("│ {} ({})", layer.name, layer.class_name)), || {
                format!("{run}: model_summary lacks the row of {}: {text:?}", layer.name)
            });
        }
    }
    let listing = tb.get("/data/plugins_listing");
    m.eq("plugins_listing graphs.enabled", listing["graphs"]["enabled"].as_bool(), Some(true));
    drop(tb);
    m.finish(&format!("{loader:?} loader, Keras graph"));
}
