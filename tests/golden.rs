//! Byte-exact: given the same wall times, step and value, our writer reproduces the
//! golden file that both TensorBoard loaders accept (see tests/data/README.md).

use prost::Message;
use wick_tfevents::proto::{event, Event};
use wick_tfevents::record::append_record;
use wick_tfevents::SummaryWriter;

const GOLDEN: &[u8] = include_bytes!("data/golden.tfevents");

#[test]
fn summary_writer_reproduces_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let writer = SummaryWriter::new(dir.path()).unwrap();
    writer.scalar_at("loss", 1, 0.5, 1_700_000_001.0).unwrap();
    let path = writer.path().to_path_buf();
    writer.close().unwrap();
    let written = std::fs::read(&path).unwrap();

    // The file-version record carries the wall time of the file's creation; rebuild it
    // with the golden time and compare everything after it byte for byte.
    let mut expected_first = Vec::new();
    let version = Event {
        wall_time: 1_700_000_000.0,
        what: Some(event::What::FileVersion("brain.Event:2".into())),
        ..Default::default()
    };
    append_record(&mut expected_first, &version.encode_to_vec());
    assert_eq!(&GOLDEN[..expected_first.len()], &expected_first[..], "file-version record");

    let first_len = expected_first.len();
    let ours_first_len = 12 + u64::from_le_bytes(written[..8].try_into().unwrap()) as usize + 4;
    assert_eq!(ours_first_len, first_len, "our file-version record has the golden layout");
    assert_eq!(&written[first_len..], &GOLDEN[first_len..], "scalar record");
    assert_eq!(written.len(), GOLDEN.len());
}

#[test]
fn fast_scalar_path_matches_golden_record() {
    // The allocation-free path `SummaryWriter::scalar` uses: same bytes as prost.
    let dir = tempfile::tempdir().unwrap();
    let writer = SummaryWriter::new(dir.path()).unwrap();
    writer.scalar("loss", 1, 0.5).unwrap();
    let path = writer.path().to_path_buf();
    writer.close().unwrap();
    let written = std::fs::read(&path).unwrap();
    let events = wick_tfevents::reader::read_file(&path).unwrap();
    assert_eq!(events.len(), 2);
    let mut ev = events[1].event.clone();
    let wall = ev.wall_time;
    ev.wall_time = 1_700_000_001.0;
    let mut rec = Vec::new();
    append_record(&mut rec, &ev.encode_to_vec());
    assert_eq!(&rec[..], &GOLDEN[40..], "re-encoded with the golden time");
    assert!(wall > 1.7e9);
    assert_eq!(written.len(), GOLDEN.len());
}
