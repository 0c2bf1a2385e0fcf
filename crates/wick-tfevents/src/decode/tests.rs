use super::*;
use crate::proto::summary::{Audio, Image as LegacyImage};
use crate::proto::summary_metadata::PluginData;
use crate::proto::tensor_shape_proto::Dim;
use crate::proto::{DataType, PrCurvePluginData, SummaryMetadata, TensorShapeProto};
use crate::summary::hparams::{HParam, HParamValue, MetricInfo, SessionStatus};
use crate::summary::{histogram, hparams as hp, image, pr_curve, scalar, text};
use proptest::prelude::*;
use prost::Message;
use serde_json::json;

fn dec(v: &Value) -> DecodedValue {
    decode_value(v, &DecodeOptions::default())
}

fn legacy(tag: &str, kind: Kind) -> Value {
    Value { tag: tag.into(), value: Some(kind), ..Default::default() }
}

fn with_plugin(plugin: &str, content: Vec<u8>, tensor: Option<TensorProto>) -> Value {
    Value {
        tag: "t".into(),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData { plugin_name: plugin.into(), content }),
            ..Default::default()
        }),
        value: tensor.map(Kind::Tensor),
        ..Default::default()
    }
}

fn tensor(dtype: DataType, dims: &[i64]) -> TensorProto {
    TensorProto {
        dtype: dtype as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(),
            unknown_rank: false,
        }),
        ..Default::default()
    }
}

#[test]
fn legacy_histogram_drops_empty_outer_buckets() {
    // tensorboardX style: a leading empty bucket whose limit is below min, and a trailing
    // empty bucket up to DBL_MAX.
    let h = HistogramProto {
        min: 0.95,
        max: 3.0,
        bucket_limit: vec![0.917, 1.0, 2.0, 3.0, f64::MAX],
        bucket: vec![0.0, 1.0, 2.0, 1.0, 0.0],
        ..Default::default()
    };
    assert_eq!(legacy_histogram_buckets(&h).unwrap(), vec![[0.95, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 1.0]]);
    let one = HistogramProto {
        min: 2.0,
        max: 2.0,
        bucket_limit: vec![1.0, 2.5, 9.0],
        bucket: vec![0.0, 4.0, 0.0],
        ..Default::default()
    };
    assert_eq!(legacy_histogram_buckets(&one).unwrap(), vec![[2.0, 2.0, 4.0]]);
    let empty = HistogramProto { bucket_limit: vec![1.0, 2.0], bucket: vec![0.0, 0.0], ..Default::default() };
    assert_eq!(legacy_histogram_buckets(&empty).unwrap(), Vec::<[f64; 3]>::new());
    let bad = HistogramProto { bucket_limit: vec![1.0], bucket: vec![], ..Default::default() };
    assert!(legacy_histogram_buckets(&bad).is_err());
    assert!(dec(&legacy("h", Kind::Histo(bad))).invalid_reason().is_some());
    let v = serde_json::to_value(dec(&legacy("h", Kind::Histo(h)))).unwrap();
    assert_eq!(v, json!({"kind": "histogram", "buckets": [[0.95, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 1.0]]}));
}

#[test]
fn scalars_tensor_and_legacy() {
    assert_eq!(dec(&scalar::scalar("s", 0.25).unwrap()), DecodedValue::Scalar { value: JsonF32(0.25) });
    assert_eq!(dec(&legacy("s", Kind::SimpleValue(2.0))), DecodedValue::Scalar { value: JsonF32(2.0) });
    let nan = serde_json::to_value(dec(&scalar::scalar("s", f32::NAN).unwrap())).unwrap();
    assert_eq!(nan, json!({"kind": "scalar", "value": "NaN"}));
    let mut content_form = tensor(DataType::DtFloat, &[]);
    content_form.tensor_content = 1.5f32.to_le_bytes().to_vec();
    assert_eq!(dec(&with_plugin("scalars", vec![], Some(content_form))), DecodedValue::Scalar { value: JsonF32(1.5) });
    let mut two = tensor(DataType::DtFloat, &[2]);
    two.float_val = vec![1.0, 2.0];
    assert!(dec(&with_plugin("scalars", vec![], Some(two))).invalid_reason().unwrap().contains("2 elements"));
}

#[test]
fn histogram_tensor() {
    let v = histogram::histogram("h", &[1.0f64, 2.0, 3.0, 3.0], 3).unwrap();
    let json = serde_json::to_value(dec(&v)).unwrap();
    assert_eq!(
        json,
        json!({"kind": "histogram", "buckets": [[1.0, 1.6666666666666665, 1.0], [1.6666666666666665, 2.333333333333333, 1.0], [2.333333333333333, 3.0, 2.0]]})
    );
    let mut bad = tensor(DataType::DtDouble, &[4]);
    bad.double_val = vec![0.0; 4];
    assert!(dec(&with_plugin("histograms", vec![], Some(bad))).invalid_reason().unwrap().contains("[k, 3]"));
}

#[test]
fn images_tensor_and_legacy() {
    let px = [255u8, 0, 0, 0, 255, 0];
    let v = image::image("img", &image::Image::from_u8_hwc(1, 2, 3, &px)).unwrap();
    match dec(&v) {
        DecodedValue::Image { width: 2, height: 1, count: 1, images } => {
            assert_eq!(images[0].format, "png");
            assert!(images[0].bytes > 8 && images[0].base64.is_none());
        }
        other => panic!("{other:?}"),
    }
    let with_bytes = decode_value(&v, &DecodeOptions { blobs_base64: true });
    let DecodedValue::Image { images, .. } = with_bytes else { panic!() };
    let b64 = images[0].base64.as_deref().unwrap();
    assert!(b64.starts_with("iVBORw0KGgo"), "{b64}");
    let old = legacy(
        "i",
        Kind::Image(LegacyImage {
            height: 4,
            width: 5,
            colorspace: 3,
            encoded_image_string: vec![0xff, 0xd8, 0xff, 0],
        }),
    );
    let json = serde_json::to_value(dec(&old)).unwrap();
    assert_eq!(
        json,
        json!({"kind": "image", "width": 5, "height": 4, "count": 1, "images": [{"format": "jpeg", "bytes": 4}]})
    );
    let mut nonstring = tensor(DataType::DtFloat, &[3]);
    nonstring.float_val = vec![1.0; 3];
    assert!(dec(&with_plugin("images", vec![], Some(nonstring))).invalid_reason().unwrap().contains("DT_STRING"));
}

#[test]
fn audio_tensor_and_legacy() {
    let wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    let mut t = tensor(DataType::DtString, &[1, 2]);
    t.string_val = vec![wav.clone(), b"label".to_vec()];
    let json = serde_json::to_value(dec(&with_plugin("audio", vec![0x10, 0x0b], Some(t)))).unwrap();
    assert_eq!(json, json!({"kind": "audio", "count": 1, "clips": [{"format": "wav", "bytes": 16, "label": "label"}]}));
    let old = legacy("a", Kind::Audio(Audio { sample_rate: 8000.0, encoded_audio_string: wav, ..Default::default() }));
    let json = serde_json::to_value(dec(&old)).unwrap();
    assert_eq!(
        json,
        json!({"kind": "audio", "count": 1, "clips": [{"format": "wav", "bytes": 16}], "sample_rate": 8000.0})
    );
}

#[test]
fn text_and_tables() {
    let json = serde_json::to_value(dec(&text::text("t", "**hi**").unwrap())).unwrap();
    assert_eq!(json, json!({"kind": "text", "shape": [], "strings": ["**hi**"]}));
    let json = serde_json::to_value(dec(&text::text_table("t", &[["a", "b"], ["c", "d"]]).unwrap())).unwrap();
    assert_eq!(json, json!({"kind": "text", "shape": [2, 2], "strings": ["a", "b", "c", "d"]}));
}

#[test]
fn hparams_three_kinds() {
    let exp = hp::experiment(
        &[HParam::new("lr").with_domain(hp::Domain::Interval { min: 0.0, max: 1.0 }), HParam::new("opt")],
        &[MetricInfo::new("acc").in_group("validation")],
        5.0,
    )
    .unwrap();
    let json = serde_json::to_value(dec(&exp)).unwrap();
    assert_eq!(json["kind"], "hparams_experiment");
    assert_eq!(json["hparams"][0]["domain"], json!({"interval": {"min": 0.0, "max": 1.0}}));
    assert_eq!(json["hparams"][0]["type"], "DATA_TYPE_FLOAT64");
    assert_eq!(json["metrics"][0]["tag"], "acc");
    assert_eq!(json["metrics"][0]["group"], "validation");
    let start =
        hp::session_start(&[("lr", HParamValue::from(0.1)), ("opt", "adam".into()), ("aug", true.into())], "g", 7.0)
            .unwrap();
    let json = serde_json::to_value(dec(&start)).unwrap();
    assert_eq!(json["kind"], "hparams_session_start");
    assert_eq!(json["hparams"], json!({"lr": 0.1, "opt": "adam", "aug": true}));
    assert_eq!(json["group_name"], "g");
    let end = serde_json::to_value(dec(&hp::session_end(SessionStatus::Failure, 9.0))).unwrap();
    assert_eq!(end, json!({"kind": "hparams_session_end", "status": "STATUS_FAILURE", "end_time_secs": 9.0}));
    // tensorboardX writes no tensor; garbage content is invalid, not a panic.
    let no_tensor = with_plugin("hparams", vec![0x22, 0x02, 0x08, 0x01], None);
    assert_eq!(serde_json::to_value(dec(&no_tensor)).unwrap()["status"], "STATUS_SUCCESS");
    assert!(dec(&with_plugin("hparams", vec![0xff], None)).invalid_reason().is_some());
}

#[test]
fn pr_curves() {
    let v = pr_curve::pr_curve("pr", &[true, false, true, false], &[0.9, 0.8, 0.3, 0.1], 3).unwrap();
    let json = serde_json::to_value(dec(&v)).unwrap();
    assert_eq!(json["kind"], "pr_curve");
    assert_eq!(json["num_thresholds"], 3);
    assert_eq!(json["true_positives"], json!([2.0, 1.0, 0.0]));
    assert_eq!(json["precision"], json!([0.5, 0.5, 0.0]));
    assert_eq!(json["recall"], json!([1.0, 0.5, 0.0]));
}

#[test]
fn other_tensors_and_missing_data() {
    let mut t = tensor(DataType::DtInt64, &[2]);
    t.int64_val = vec![-1, 7];
    let json = serde_json::to_value(dec(&with_plugin("custom", vec![], Some(t)))).unwrap();
    assert_eq!(json, json!({"kind": "tensor", "dtype": "DT_INT64", "shape": [2], "values": [-1, 7]}));
    let json = serde_json::to_value(dec(&with_plugin(
        "custom",
        vec![],
        Some(TensorProto { dtype: 20, ..Default::default() }),
    )))
    .unwrap();
    assert_eq!(json, json!({"kind": "tensor", "dtype": "DT_UNKNOWN(20)", "shape": []}));
    assert!(dec(&with_plugin("scalars", vec![], None)).invalid_reason().unwrap().contains("no tensor"));
    assert!(dec(&legacy("x", Kind::ObsoleteOldStyleHistogram(vec![1]))).invalid_reason().is_some());
}

#[test]
fn plugin_names() {
    assert_eq!(plugin_name(&legacy("s", Kind::SimpleValue(1.0))), "scalars");
    assert_eq!(plugin_name(&legacy("h", Kind::Histo(HistogramProto::default()))), "histograms");
    assert_eq!(plugin_name(&with_plugin("text", vec![], None)), "text");
    assert_eq!(plugin_name(&Value::default()), "");
}

#[test]
fn content_versions() {
    assert_eq!(plugin_content_version(&[]), Ok(0));
    assert_eq!(plugin_content_version(&[0x08, 0x01]), Ok(1));
    assert_eq!(plugin_content_version(&[0x10, 0x0b]), Ok(0));
    assert_eq!(plugin_content_version(&PrCurvePluginData { version: 0, num_thresholds: 5 }.encode_to_vec()), Ok(0));
    let neg = PrCurvePluginData { version: -1, num_thresholds: 5 }.encode_to_vec();
    assert_eq!(plugin_content_version(&neg), Ok(-1));
    assert!(plugin_content_version(&[0x0a, 0x05, 0x00]).is_err());
    assert!(plugin_content_version(&[0x08]).is_err());
    assert!(plugin_content_version(&[0x0b]).is_err());
}

#[test]
fn sniffing() {
    assert_eq!(sniff_format(b"GIF89a..."), "gif");
    assert_eq!(sniff_format(b"BM.."), "bmp");
    assert_eq!(sniff_format(b"RIFF\0\0\0\0WEBPVP8 "), "webp");
    assert_eq!(sniff_format(b""), "unknown");
}

fn arb_tensor() -> impl Strategy<Value = TensorProto> {
    (
        prop_oneof![0i32..25, Just(7), Just(1), Just(2)],
        proptest::option::of((proptest::collection::vec(-2i64..5, 0..4), any::<bool>())),
        proptest::collection::vec(any::<u8>(), 0..48),
        proptest::collection::vec(any::<f32>(), 0..6),
        proptest::collection::vec(any::<i32>(), 0..6),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..6),
        proptest::collection::vec(any::<f64>(), 0..6),
        proptest::collection::vec(any::<i64>(), 0..3),
    )
        .prop_map(|(dtype, shape, content, floats, ints, strings, doubles, i64s)| TensorProto {
            dtype,
            tensor_shape: shape.map(|(dims, unknown_rank)| TensorShapeProto {
                dim: dims.into_iter().map(|size| Dim { size, name: String::new() }).collect(),
                unknown_rank,
            }),
            tensor_content: content,
            float_val: floats,
            int_val: ints.clone(),
            half_val: ints,
            string_val: strings,
            double_val: doubles.clone(),
            dcomplex_val: doubles,
            int64_val: i64s,
            ..Default::default()
        })
}

proptest! {
    #[test]
    fn random_values_never_panic(
        plugin in prop_oneof![
            Just(""), Just("scalars"), Just("histograms"), Just("images"), Just("audio"),
            Just("text"), Just("pr_curves"), Just("hparams"), Just("other"),
        ],
        content in proptest::collection::vec(any::<u8>(), 0..24),
        t in proptest::option::of(arb_tensor()),
        b64 in any::<bool>(),
    ) {
        let v = with_plugin(plugin, content, t);
        let d = decode_value(&v, &DecodeOptions { blobs_base64: b64 });
        prop_assert!(serde_json::to_string(&d).is_ok());
    }
}
