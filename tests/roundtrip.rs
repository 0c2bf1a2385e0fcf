//! Round trip: every summary kind written through `SummaryWriter`, read back with our
//! reader, holds exactly the values given.

use prost::Message;
use wick_tfevents::proto::hparams::{h_params_plugin_data::Data, HParamsPluginData};
use wick_tfevents::proto::{event, summary::value, DataType, PrCurvePluginData, TensorProto};
use wick_tfevents::summary::histogram::Bucket;
use wick_tfevents::summary::hparams::{Domain, HParam, HParamValue, MetricInfo, SessionStatus};
use wick_tfevents::summary::image::Image;
use wick_tfevents::summary::pr_curve::PrCounts;
use wick_tfevents::summary::Value;
use wick_tfevents::SummaryWriter;

/// Every summary value read back from `dir`, with its step and plugin name.
fn read_values(dir: &std::path::Path) -> Vec<(i64, String, Value)> {
    let mut out = Vec::new();
    for e in wick_tfevents::reader::read_run(dir).unwrap() {
        if let Some(event::What::Summary(s)) = e.event.what {
            for v in s.value {
                let plugin = v
                    .metadata
                    .as_ref()
                    .and_then(|m| m.plugin_data.as_ref())
                    .map(|p| p.plugin_name.clone())
                    .unwrap_or_default();
                out.push((e.event.step, plugin, v));
            }
        }
    }
    out
}

fn tensor(v: &Value) -> &TensorProto {
    match &v.value {
        Some(value::Value::Tensor(t)) => t,
        other => panic!("not a tensor: {other:?}"),
    }
}

fn dims(t: &TensorProto) -> Vec<i64> {
    t.tensor_shape.as_ref().map(|s| s.dim.iter().map(|d| d.size).collect()).unwrap_or_default()
}

fn f64s(t: &TensorProto) -> Vec<f64> {
    t.tensor_content.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn f32s(t: &TensorProto) -> Vec<f32> {
    t.tensor_content.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn content(v: &Value) -> &[u8] {
    &v.metadata.as_ref().unwrap().plugin_data.as_ref().unwrap().content
}

#[test]
fn every_kind_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let w = SummaryWriter::new(dir.path()).unwrap();

    w.scalar("loss", 1, 0.25).unwrap();
    w.scalars(2, &[("loss", 0.125), ("acc", 0.75)]).unwrap();

    let rgb: Vec<u8> = (0..2 * 3 * 3).map(|i| (i * 13) as u8).collect();
    w.image("rgb", 3, &Image::from_u8_hwc(2, 3, 3, &rgb)).unwrap();
    let chw: Vec<f32> = (0..3 * 2 * 2).map(|i| i as f32 / 11.0).collect();
    let chw_a = Image::from_f32_chw(3, 2, 2, &chw);
    w.images("batch", 3, &[chw_a, chw_a, chw_a], 2).unwrap();

    let data: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin()).collect();
    w.histogram_with_buckets("w", 4, &data, 7).unwrap();
    let given = [Bucket { left: 0.0, right: 1.0, count: 3.0 }, Bucket { left: 1.0, right: 2.5, count: 1.0 }];
    w.histogram_from_buckets("pre", 4, &given).unwrap();

    w.text("note", 5, "hello **world** ✓").unwrap();
    w.text_table("table", 5, &[["a", "b"], ["c", "d"], ["e", "f"]]).unwrap();

    let labels = [true, false, true, true, false];
    let preds = [0.9f32, 0.4, 0.6, 0.2, 0.1];
    w.pr_curve("pr", 6, &labels, &preds, 5).unwrap();
    let counts = PrCounts {
        true_positives: vec![3.0, 2.0, 0.0],
        false_positives: vec![2.0, 1.0, 0.0],
        true_negatives: vec![0.0, 1.0, 2.0],
        false_negatives: vec![0.0, 1.0, 3.0],
    };
    w.pr_curve_from_counts("pr_raw", 6, &counts).unwrap();

    w.hparams_config(
        &[
            HParam::new("lr").with_domain(Domain::Interval { min: 1e-4, max: 1.0 }),
            HParam::new("opt").with_domain(Domain::Discrete(vec!["adam".into(), "sgd".into()])),
        ],
        &[MetricInfo::new("epoch_loss").in_group("validation")],
    )
    .unwrap();
    w.hparams(&[("lr", HParamValue::from(0.01)), ("opt", "adam".into()), ("nesterov", true.into())], "g1").unwrap();
    w.hparams_end(SessionStatus::Success).unwrap();
    w.close().unwrap();

    let values = read_values(dir.path());
    let tags: Vec<(&str, i64, &str)> = values.iter().map(|(s, p, v)| (v.tag.as_str(), *s, p.as_str())).collect();
    assert_eq!(
        tags,
        [
            ("loss", 1, "scalars"),
            ("loss", 2, "scalars"),
            ("acc", 2, "scalars"),
            ("rgb", 3, "images"),
            ("batch", 3, "images"),
            ("w", 4, "histograms"),
            ("pre", 4, "histograms"),
            ("note", 5, "text"),
            ("table", 5, "text"),
            ("pr", 6, "pr_curves"),
            ("pr_raw", 6, "pr_curves"),
            ("_hparams_/experiment", 0, "hparams"),
            ("_hparams_/session_start_info", 0, "hparams"),
            ("_hparams_/session_end_info", 0, "hparams"),
        ]
    );
    let v = |i: usize| &values[i].2;

    // Scalars: DT_FLOAT rank 0, exact values; every plugin content empty (version 0).
    for (i, want) in [(0, 0.25f32), (1, 0.125), (2, 0.75)] {
        let t = tensor(v(i));
        assert_eq!((t.dtype, dims(t), t.float_val.clone()), (DataType::DtFloat as i32, vec![], vec![want]));
        assert!(content(v(i)).is_empty());
    }

    // Images: [width, height, png...]; PNGs decode to the pixels given.
    let t = tensor(v(3));
    assert_eq!((t.dtype, dims(t)), (DataType::DtString as i32, vec![3]));
    assert_eq!((&t.string_val[0][..], &t.string_val[1][..]), (&b"3"[..], &b"2"[..]));
    let png = image::load_from_memory(&t.string_val[2]).unwrap().to_rgb8();
    assert_eq!((png.width(), png.height(), png.into_raw()), (3, 2, rgb));
    let t = tensor(v(4));
    assert_eq!(dims(t), vec![4], "max_outputs = 2 keeps two of three images");
    let png = image::load_from_memory(&t.string_val[3]).unwrap().to_rgb8();
    let chw = &chw;
    let expect: Vec<u8> = (0..4).flat_map(|p| (0..3).map(move |c| (chw[c * 4 + p] * 255.5) as u8)).collect();
    assert_eq!(png.into_raw(), expect, "CHW f32 -> HWC u8 as TF's convert_image_dtype");

    // Histograms: [k, 3] DT_DOUBLE rows equal to what we computed / were given.
    let t = tensor(v(5));
    assert_eq!((t.dtype, dims(t)), (DataType::DtDouble as i32, vec![7, 3]));
    let want: Vec<f64> = wick_tfevents::summary::histogram::buckets("w", &data, 7)
        .unwrap()
        .iter()
        .flat_map(|b| [b.left, b.right, b.count])
        .collect();
    assert_eq!(f64s(t), want);
    assert_eq!(f64s(t).iter().skip(2).step_by(3).sum::<f64>(), 100.0);
    assert_eq!(f64s(tensor(v(6))), vec![0.0, 1.0, 3.0, 1.0, 2.5, 1.0]);

    // Text: rank-0 markdown and a rank-2 table.
    let t = tensor(v(7));
    assert_eq!((dims(t), t.string_val.clone()), (vec![], vec!["hello **world** ✓".as_bytes().to_vec()]));
    let t = tensor(v(8));
    assert_eq!(dims(t), vec![3, 2]);
    assert_eq!(
        t.string_val.iter().map(|s| String::from_utf8(s.clone()).unwrap()).collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e", "f"]
    );

    // PR curves: [6, N] DT_FLOAT, content says N thresholds.
    let t = tensor(v(9));
    assert_eq!((t.dtype, dims(t)), (DataType::DtFloat as i32, vec![6, 5]));
    assert_eq!(PrCurvePluginData::decode(content(v(9))).unwrap(), PrCurvePluginData { version: 0, num_thresholds: 5 });
    let pc = PrCounts::from_predictions("pr", &labels, &preds, None, 5).unwrap();
    let mut want: Vec<f32> = [&pc.true_positives, &pc.false_positives, &pc.true_negatives, &pc.false_negatives]
        .iter()
        .flat_map(|r| r.iter().map(|&x| x as f32))
        .collect();
    want.extend(pc.precision().iter().map(|&x| x as f32));
    want.extend(pc.recall().iter().map(|&x| x as f32));
    assert_eq!(f32s(t), want);
    assert_eq!(&f32s(t)[..5], &[3.0, 2.0, 2.0, 1.0, 0.0], "true positives at thresholds 0, .25, .5, .75, 1");
    let raw = f32s(tensor(v(10)));
    assert_eq!(&raw[12..], &[0.6, 2.0 / 3.0, 0.0, 1.0, 2.0 / 3.0, 0.0], "precision and recall from raw counts");

    // HParams: version-0 content with the experiment, the session values and the status.
    let exp = HParamsPluginData::decode(content(v(11))).unwrap();
    assert_eq!(exp.version, 0);
    let Some(Data::Experiment(exp)) = exp.data else { panic!("experiment") };
    assert_eq!(exp.hparam_infos.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["lr", "opt"]);
    let m = exp.metric_infos[0].name.as_ref().unwrap();
    assert_eq!((m.group.as_str(), m.tag.as_str()), ("validation", "epoch_loss"));
    let start = HParamsPluginData::decode(content(v(12))).unwrap();
    let Some(Data::SessionStartInfo(start)) = start.data else { panic!("session start") };
    assert_eq!(start.group_name, "g1");
    use prost_types::value::Kind;
    assert_eq!(start.hparams["lr"].kind, Some(Kind::NumberValue(0.01)));
    assert_eq!(start.hparams["opt"].kind, Some(Kind::StringValue("adam".into())));
    assert_eq!(start.hparams["nesterov"].kind, Some(Kind::BoolValue(true)));
    let end = HParamsPluginData::decode(content(v(13))).unwrap();
    let Some(Data::SessionEndInfo(end)) = end.data else { panic!("session end") };
    assert_eq!(end.status, 1, "STATUS_SUCCESS");
}
