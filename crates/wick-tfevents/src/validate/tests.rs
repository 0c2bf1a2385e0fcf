use super::*;
use crate::proto::summary::{value::Value as Kind, Value};
use crate::proto::summary_metadata::PluginData;
use crate::proto::{event::What, DataType, Event, HistogramProto, SessionLog, Summary, SummaryMetadata, TensorProto};
use crate::record::{append_record, HEADER_LENGTH};
use crate::summary::{hparams, scalar::scalar};
use prost::Message;

fn file_version() -> Event {
    Event { wall_time: 1.0, what: Some(What::FileVersion("brain.Event:2".into())), ..Default::default() }
}

fn summary(step: i64, values: Vec<Value>) -> Event {
    Event { wall_time: 2.0, step, what: Some(What::Summary(Summary { value: values })), ..Default::default() }
}

fn bytes_of(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        append_record(&mut out, &e.encode_to_vec());
    }
    out
}

/// Writes `bytes` as an event file in a new directory and validates the directory.
fn validate_bytes(bytes: &[u8]) -> (tempfile::TempDir, Report) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.out.tfevents.1.test"), bytes).unwrap();
    let report = validate_path(dir.path()).unwrap();
    (dir, report)
}

fn validate_events(events: &[Event]) -> Report {
    validate_bytes(&bytes_of(events)).1
}

fn messages(r: &Report) -> Vec<String> {
    r.problems.iter().map(ToString::to_string).collect()
}

fn with_plugin(tag: &str, plugin: &str, content: Vec<u8>, tensor: Option<TensorProto>) -> Value {
    Value {
        tag: tag.into(),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData { plugin_name: plugin.into(), content }),
            ..Default::default()
        }),
        value: tensor.map(Kind::Tensor),
        ..Default::default()
    }
}

#[test]
fn clean_file_has_no_problems() {
    let r = validate_events(&[
        file_version(),
        summary(0, vec![scalar("loss", 1.0).unwrap()]),
        summary(1, vec![scalar("loss", f32::NAN).unwrap()]),
    ]);
    assert!(r.problems.is_empty(), "{:?}", messages(&r));
    assert_eq!((r.runs, r.files, r.events), (1, 1, 3));
    assert_eq!(r.summary(), "validated 1 file, 3 events: 0 errors, 0 warnings");
}

#[test]
fn keras_graph_has_no_problems() {
    // Content b"1" (not a version-0 protobuf) is what the Graphs plugin requires.
    let graph = crate::summary::graph::keras_model("keras", r#"{"class_name": "Sequential"}"#).unwrap();
    let r = validate_events(&[file_version(), summary(0, vec![graph])]);
    assert!(r.problems.is_empty(), "{:?}", messages(&r));
}

#[test]
fn missing_file_version_is_a_warning() {
    let r = validate_events(&[summary(0, vec![scalar("loss", 1.0).unwrap()])]);
    assert!(r.is_ok());
    assert_eq!(r.warning_count(), 1);
    assert!(messages(&r)[0].contains("offset 0: first event has no file_version"), "{:?}", messages(&r));
}

#[test]
fn first_tensor_value_needs_a_plugin_name() {
    let mut bare = scalar("loss", 1.0).unwrap();
    bare.metadata = None;
    let r = validate_events(&[file_version(), summary(0, vec![bare]), summary(1, vec![scalar("loss", 2.0).unwrap()])]);
    assert_eq!(r.error_count(), 1, "{:?}", messages(&r));
    assert!(messages(&r)[0].contains("tag \"loss\": first value of this tag has no metadata.plugin_data.plugin_name"));
    // Legacy values need none.
    let legacy = Value { tag: "x".into(), value: Some(Kind::SimpleValue(1.0)), ..Default::default() };
    assert!(validate_events(&[file_version(), summary(0, vec![legacy])]).problems.is_empty());
}

#[test]
fn content_version_must_be_zero() {
    let v = with_plugin("h", "histograms", vec![0x08, 0x01], Some(crate::summary::string_tensor(&[0, 3], vec![])));
    let r = validate_events(&[file_version(), summary(0, vec![v])]);
    assert!(messages(&r).iter().any(|m| m.contains("content has version 1")), "{:?}", messages(&r));
    // Later values' metadata is not what TensorBoard uses: checked once per tag.
    let ok = hparams::session_end(hparams::SessionStatus::Success, 1.0);
    assert!(validate_events(&[file_version(), summary(0, vec![ok])]).problems.is_empty());
}

#[test]
fn double_scalars_are_errors_reported_once() {
    let double = |v: f64| {
        with_plugin(
            "acc",
            "scalars",
            vec![],
            Some(TensorProto {
                dtype: DataType::DtDouble as i32,
                double_val: vec![v],
                tensor_shape: Some(Default::default()),
                ..Default::default()
            }),
        )
    };
    let r = validate_events(&[
        file_version(),
        summary(0, vec![double(0.1)]),
        summary(1, vec![double(0.2)]),
        summary(2, vec![double(0.3)]),
    ]);
    assert_eq!(r.error_count(), 1, "{:?}", messages(&r));
    let m = &messages(&r)[0];
    assert!(m.contains("DT_DOUBLE") && m.contains("(2 later values of this tag too)"), "{m}");
}

#[test]
fn steps_must_increase_per_tag() {
    let events = [
        file_version(),
        summary(0, vec![scalar("loss", 1.0).unwrap(), scalar("acc", 1.0).unwrap()]),
        summary(5, vec![scalar("loss", 1.0).unwrap()]),
        summary(3, vec![scalar("loss", 1.0).unwrap()]),
        summary(4, vec![scalar("acc", 1.0).unwrap()]),
    ];
    let bytes = bytes_of(&events);
    let (dir, r) = validate_bytes(&bytes);
    assert_eq!(r.error_count(), 1, "{:?}", messages(&r));
    let p = &r.problems[0];
    assert_eq!(p.tag.as_deref(), Some("loss"));
    let offset = bytes_of(&events[..3]).len() as u64;
    assert_eq!(p.offset, Some(offset));
    assert_eq!(p.file, dir.path().join("events.out.tfevents.1.test"));
    assert!(p.message.contains("step 3 is not greater than the previous step 5"), "{}", p.message);
    // hparams tags are exempt.
    let hp = || hparams::session_end(hparams::SessionStatus::Success, 1.0);
    assert!(validate_events(&[file_version(), summary(0, vec![hp()]), summary(0, vec![hp()])]).is_ok());
}

#[test]
fn session_start_purges_and_restarts_steps() {
    let start = Event {
        wall_time: 3.0,
        step: 2,
        what: Some(What::SessionLog(SessionLog { status: 1, ..Default::default() })),
        ..Default::default()
    };
    let r = validate_events(&[
        file_version(),
        summary(1, vec![scalar("loss", 1.0).unwrap()]),
        summary(2, vec![scalar("loss", 1.0).unwrap()]),
        summary(3, vec![scalar("loss", 1.0).unwrap()]),
        start,
        summary(2, vec![scalar("loss", 1.0).unwrap()]),
    ]);
    assert!(r.problems.is_empty(), "{:?}", messages(&r));
}

#[test]
fn nan_wall_time_is_an_error() {
    let mut e = summary(0, vec![scalar("loss", 1.0).unwrap()]);
    e.wall_time = f64::NAN;
    let r = validate_events(&[file_version(), e]);
    assert_eq!(r.error_count(), 1);
    assert!(messages(&r)[0].contains("wall_time is NaN"));
}

#[test]
fn truncated_tail_is_a_warning() {
    let mut bytes = bytes_of(&[file_version(), summary(0, vec![scalar("loss", 1.0).unwrap()])]);
    let whole = bytes.len();
    bytes.extend_from_slice(&bytes_of(&[summary(1, vec![scalar("loss", 1.0).unwrap()])])[..20]);
    let (_dir, r) = validate_bytes(&bytes);
    assert!(r.is_ok());
    assert_eq!(r.warning_count(), 1);
    assert_eq!(r.problems[0].offset, Some(whole as u64));
    assert!(r.problems[0].message.contains("incomplete last record (20 bytes)"));
}

#[test]
fn corrupt_records_name_their_offsets() {
    let events =
        [file_version(), summary(0, vec![scalar("a", 1.0).unwrap()]), summary(1, vec![scalar("a", 1.0).unwrap()])];
    let second = bytes_of(&events[..1]).len();
    // Payload byte: data CRC error, and reading goes on with the third record.
    let mut bytes = bytes_of(&events);
    bytes[second + HEADER_LENGTH + 2] ^= 0x01;
    let (_dir, r) = validate_bytes(&bytes);
    assert_eq!(r.error_count(), 1, "{:?}", messages(&r));
    assert_eq!(r.problems[0].offset, Some(second as u64));
    assert!(r.problems[0].message.contains("data CRC mismatch"));
    assert_eq!(r.events, 2);
    // Length byte: length CRC error, nothing after it is read.
    let mut bytes = bytes_of(&events);
    bytes[second + 1] ^= 0x40;
    let (_dir, r) = validate_bytes(&bytes);
    assert_eq!(r.error_count(), 1);
    assert_eq!(r.problems[0].offset, Some(second as u64));
    assert!(r.problems[0].message.contains("length CRC mismatch"));
    assert_eq!(r.events, 1);
    // A zero-filled tail gets a hint.
    let mut bytes = bytes_of(&events);
    bytes.extend_from_slice(&[0; 16]);
    let (_dir, r) = validate_bytes(&bytes);
    assert!(r.problems[0].message.contains("zero-filled tail"), "{:?}", messages(&r));
}

#[test]
fn undecodable_payload_is_an_error() {
    let mut bytes = bytes_of(&[file_version()]);
    let offset = bytes.len() as u64;
    append_record(&mut bytes, &[0x0a, 0x05, 0xff]); // field 1 as a truncated string
    append_record(&mut bytes, &summary(0, vec![scalar("a", 1.0).unwrap()]).encode_to_vec());
    let (_dir, r) = validate_bytes(&bytes);
    assert_eq!(r.error_count(), 1);
    assert_eq!(r.problems[0].offset, Some(offset));
    assert!(r.problems[0].message.contains("not a valid Event"));
}

#[test]
fn unreadable_plugin_values_are_errors() {
    let bad_image =
        with_plugin("img", "images", vec![], Some(crate::summary::string_tensor(&[1], vec![b"x".to_vec()])));
    let r = validate_events(&[file_version(), summary(0, vec![bad_image])]);
    assert_eq!(r.error_count(), 1, "{:?}", messages(&r));
    assert!(messages(&r)[0].contains("plugin \"images\" cannot read this value"));
    let custom = with_plugin("c", "my_plugin", vec![], Some(crate::summary::string_tensor(&[], vec![b"x".to_vec()])));
    let r = validate_events(&[file_version(), summary(0, vec![custom])]);
    assert!(r.is_ok());
    assert!(messages(&r)[0].contains("not built into TensorBoard"));
}

#[test]
fn legacy_histogram_with_backwards_bucket_is_a_warning() {
    let h = HistogramProto {
        min: 0.95,
        max: 3.0,
        bucket_limit: vec![0.917, 1.0, 3.0],
        bucket: vec![0.0, 1.0, 1.0],
        ..Default::default()
    };
    let v = Value { tag: "w".into(), value: Some(Kind::Histo(h)), ..Default::default() };
    let r = validate_events(&[file_version(), summary(0, vec![v])]);
    assert!(r.is_ok());
    assert_eq!(r.warning_count(), 1);
    assert!(messages(&r)[0].contains("backwards bucket"));
}

#[test]
fn plugin_change_within_a_tag_is_a_warning() {
    let text = crate::summary::text::text("x", "hi").unwrap();
    let r = validate_events(&[file_version(), summary(0, vec![scalar("x", 1.0).unwrap()]), summary(1, vec![text])]);
    assert!(r.is_ok());
    assert!(messages(&r)[0].contains("under a tag whose first value is \"scalars\""), "{:?}", messages(&r));
}

#[test]
fn empty_directory_and_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let r = validate_path(dir.path()).unwrap();
    assert!(!r.is_ok());
    assert!(messages(&r)[0].contains("no event files"));
    assert!(matches!(validate_path(dir.path().join("missing")), Err(Error::Read { .. })));
    std::fs::write(dir.path().join("x.tfevents.empty"), b"").unwrap();
    let r = validate_path(dir.path()).unwrap();
    assert!(r.is_ok());
    assert!(messages(&r)[0].contains("no records"));
}

proptest::proptest! {
    #[test]
    fn random_payloads_never_panic(payloads in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 1..6)) {
        let mut run = checks::RunChecker::default();
        for (i, p) in payloads.iter().enumerate() {
            if let Ok(event) = LazyEvent::decode(p.clone()) {
                run.event(Path::new("fuzz"), i as u64, &event, i == 0);
            }
        }
        let _ = run.finish();
    }
}

#[test]
fn a_later_file_going_back_in_steps_is_a_resumed_run_warning() {
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<Event> = [file_version()]
        .into_iter()
        .chain((0..4).map(|s| summary(s, vec![scalar("epoch_loss", 1.0).unwrap()])))
        .collect();
    let resumed: Vec<Event> = [file_version()]
        .into_iter()
        .chain((2..5).map(|s| summary(s, vec![scalar("epoch_loss", 0.5).unwrap()])))
        .collect();
    std::fs::write(dir.path().join("events.out.tfevents.1.a"), bytes_of(&first)).unwrap();
    std::fs::write(dir.path().join("events.out.tfevents.2.b"), bytes_of(&resumed)).unwrap();
    let report = validate_path(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", messages(&report));
    assert_eq!(report.warning_count(), 1, "{:?}", messages(&report));
    assert!(messages(&report)[0].contains("restarts the tag at step 2 after step 3"), "{:?}", messages(&report));
}
