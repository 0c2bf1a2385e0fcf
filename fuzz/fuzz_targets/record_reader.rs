//! The TFRecord framing over arbitrary bytes: `RecordReader` must return records, end,
//! truncation or errors naming an offset, never panic, loop or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wick_tfevents::{Error, ReadOutcome, RecordReader};

fuzz_target!(|data: &[u8]| {
    let mut reader = RecordReader::new(data, "fuzz");
    // Each call consumes at least one header or stops, so this bound is never reached
    // by a correct reader.
    for _ in 0..=data.len() / wick_tfevents::record::HEADER_LENGTH + 1 {
        match reader.read_record() {
            Ok(ReadOutcome::Record { offset, data: payload }) => {
                assert!(offset as usize + payload.len() <= data.len());
                // Every complete record is also handed to the lazy event decoder.
                let _ = wick_tfevents::lazy::LazyEvent::decode(payload);
            }
            Err(Error::BadDataCrc { offset, .. }) => assert!((offset as usize) < data.len()),
            Ok(ReadOutcome::End | ReadOutcome::Truncated { .. }) | Err(_) => return,
        }
    }
    panic!("read_record did not stop");
});
